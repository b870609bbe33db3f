//! FAULT: capability faults as seL4 raises them. A system call's own cap
//! lookup that fails is a cap fault for a Call or Send and for every
//! receive, and drops an NBSend; a send to an empty slot is an
//! InvalidCapability error that only a Call hears; a receive through a cap
//! it cannot use is a cap fault reported as a missing capability. The
//! message carries seL4's InRecvPhase word and the lookup failure's words.
//! So does a cap a message names that cannot be looked up (seL4's
//! `lookupExtraCaps`), for IPC and for an invocation alike.

use super::fault_handler::Handler;
use crate::support::{slot, step};
use crate::thread::{count, report_and_stop, shared, spawn_with_handler, yield_times};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::fault::{self as layout, FaultType};
use keel_abi::{CapRights, LookupFailure, MessageInfo};
use keel_sys::cap::Endpoint;
use keel_sys::ipc::Received;
use keel_sys::{CPtr, Cap};

/// A CPtr whose top bit the root CNode's guard (all zeros) does not match.
const BAD_GUARD: u64 = 1 << 63;

fn endpoint_at(cptr: u64) -> Cap<Endpoint> {
    Cap::from_cptr(CPtr::from_bits(cptr))
}

/// Sends to the empty slot in `shared(i).cap` (Send, then NBSend), then
/// NBSends through a CPtr whose lookup fails; counts once all three are done.
extern "C" fn send_to_nothing(i: u64) -> ! {
    let empty = endpoint_at(shared(i).cap.load(Ordering::SeqCst));
    empty.send(MessageInfo::new(0, 0, 0, 0), [0; 4]);
    empty.nb_send(MessageInfo::new(0, 0, 0, 0), [0; 4]);
    endpoint_at(BAD_GUARD).nb_send(MessageInfo::new(0, 0, 0, 0), [0; 4]);
    report_and_stop(i, 0)
}

/// Sends (`value` 0) or Calls (`value` 1) through a CPtr whose lookup fails.
extern "C" fn send_bad_guard(i: u64) -> ! {
    let ep = endpoint_at(BAD_GUARD);
    if shared(i).value.load(Ordering::SeqCst) == 0 {
        ep.send(MessageInfo::new(0, 0, 0, 0), [0; 4]);
    } else {
        ep.call(MessageInfo::new(0, 0, 0, 0), [0; 4]);
    }
    report_and_stop(i, 0)
}

/// NBRecvs on the CPtr in `shared(i).cap`, with the Reply CPtr in
/// `shared(i).reply`; counts once the receive returns.
extern "C" fn nb_recv_on(i: u64) -> ! {
    let reply = shared(i).reply.load(Ordering::SeqCst);
    let reply = (reply != 0).then(|| Cap::from_cptr(CPtr::from_bits(reply)));
    endpoint_at(shared(i).cap.load(Ordering::SeqCst)).nb_recv(reply);
    report_and_stop(i, 0)
}

/// Sends a message naming one cap whose lookup fails: `value` 0 a Send and
/// 1 an NBSend through the endpoint in `shared(i).cap`, 2 a Call of its own
/// TCB (BindNotification, an invocation); counts once past it.
extern "C" fn send_naming_bad_cap(i: u64) -> ! {
    let _ = keel_sys::ipc::set_cap(0, CPtr::from_bits(BAD_GUARD));
    let ep = endpoint_at(shared(i).cap.load(Ordering::SeqCst));
    match shared(i).value.load(Ordering::SeqCst) {
        0 => ep.send(MessageInfo::new(0, 0, 1, 0), [0; 4]),
        1 => ep.nb_send(MessageInfo::new(0, 0, 1, 0), [0; 4]),
        _ => {
            let own = endpoint_at(shared(i).tcb.load(Ordering::SeqCst));
            let bind = keel_abi::Label::TcbBindNotification as u64;
            own.call(MessageInfo::new(bind, 0, 1, 0), [0; 4]);
        }
    }
    report_and_stop(i, 0)
}

/// The whole cap fault message `r` started: its words 0..length.
fn words(r: &Received) -> Result<[u64; 7], alloc::string::String> {
    let mut w = [0u64; 7];
    w[..4].copy_from_slice(&r.mrs);
    let len = r.info.length().min(7);
    if len > 4 {
        keel_sys::ipc::read_mrs(4, &mut w[4..len]).map_err(|e| alloc::format!("read_mrs: {e}"))?;
    }
    Ok(w)
}

/// Checks that `r` is a cap fault for `cptr` with `in_receive`, and that
/// its lookup failure words are `failure` and then `detail`.
fn expect_cap_fault(
    r: &Received,
    cptr: u64,
    in_receive: bool,
    failure: LookupFailure,
    detail: &[u64],
) -> TestResult {
    ensure!(
        r.info.label() == FaultType::CapFault as u64,
        "not a cap fault: {r:?}"
    );
    let w = words(r)?;
    let length = layout::CAP_FAULT_LOOKUP_FAILURE + 1 + detail.len();
    ensure!(
        r.info.length() == length,
        "length {} for {failure:?}, not {length}: {w:x?}",
        r.info.length()
    );
    ensure!(w[layout::CAP_FAULT_ADDR] == cptr, "CPtr: {w:x?}");
    ensure!(
        w[layout::CAP_FAULT_IN_RECV_PHASE] == u64::from(in_receive),
        "InRecvPhase {} (in a receive: {in_receive})",
        w[layout::CAP_FAULT_IN_RECV_PHASE]
    );
    ensure!(
        w[layout::CAP_FAULT_LOOKUP_FAILURE] == failure as u64,
        "lookup failure {} for {failure:?}",
        w[layout::CAP_FAULT_LOOKUP_FAILURE]
    );
    ensure!(
        w[layout::CAP_FAULT_BITS_LEFT..length] == *detail,
        "lookup failure words {:x?}, not {detail:x?}",
        &w[layout::CAP_FAULT_BITS_LEFT..length]
    );
    Ok(())
}

/// seL4's `handleInvocation`: a Send or NBSend to an empty slot decodes to
/// InvalidCapability, which only a Call is told; an NBSend whose lookup
/// fails is not blocking and raises no fault.
pub fn sends_to_nothing_dropped(env: &Env) -> TestResult {
    let h = Handler::new(env)?;
    let empty = env.slots(1)?;
    shared(0).cap.store(empty, Ordering::SeqCst);
    let t = spawn_with_handler(env, send_to_nothing, 0, 0, 255, h.ep)?;
    step(t.tcb_resume(), "resume")?;
    yield_times(1)?;
    ensure!(count(0) == 1, "the sender did not get past its sends");
    let r = endpoint_at(h.ep).nb_recv(Some(h.reply));
    ensure!(
        r.info.label() == 0 && r.info.length() == 0,
        "a fault reached the handler: {r:?}"
    );
    Ok(())
}

/// A Send or a Call through a CPtr whose lookup fails (the root CNode's
/// guard does not match) cap-faults: not in a receive phase, with the
/// guard mismatch's words (bits left, the guard found and its size).
pub fn send_lookup_failure_faults(env: &Env) -> TestResult {
    let radix = env.boot_info.root_cnode_size_bits;
    let h = Handler::new(env)?;
    for (i, what) in [(0u64, "Send"), (1, "Call")] {
        let t = spawn_with_handler(env, send_bad_guard, i as usize, i, 255, h.ep)?;
        shared(i).value.store(i, Ordering::SeqCst);
        step(t.tcb_resume(), "resume")?;
        let r = endpoint_at(h.ep).recv(Some(h.reply));
        expect_cap_fault(
            &r,
            BAD_GUARD,
            false,
            LookupFailure::GuardMismatch,
            &[64, 0, 64 - radix],
        )
        .map_err(|e| alloc::format!("{what}: {e}"))?;
        ensure!(count(i) == 0, "{what} went on past its fault");
        step(t.tcb_suspend(), "suspend")?;
    }
    Ok(())
}

/// A receive on an empty slot cap-faults in the receive phase, as a
/// missing capability with no bits left; once the handler puts an endpoint
/// there and replies, the receive runs again and returns.
pub fn receive_fault_fixed_and_retried(env: &Env) -> TestResult {
    let h = Handler::new(env)?;
    let empty = env.slots(1)?;
    let t = spawn_with_handler(env, nb_recv_on, 0, 0, 255, h.ep)?;
    shared(0).cap.store(empty, Ordering::SeqCst);
    step(t.tcb_resume(), "resume")?;
    let r = endpoint_at(h.ep).recv(Some(h.reply));
    expect_cap_fault(&r, empty, true, LookupFailure::MissingCapability, &[0])?;
    ensure!(count(0) == 0, "the receive returned");
    step(
        slot(empty).copy(&slot(h.ep), CapRights::ALL),
        "install the missing cap",
    )?;
    h.reply(0, &[])?;
    yield_times(1)?;
    ensure!(count(0) == 1, "the retried receive did not return");
    Ok(())
}

/// A receive whose lookup fails cap-faults in the receive phase with the
/// lookup's words; so does one whose Reply argument is not a Reply cap
/// (reported for the Reply CPtr, as a missing capability).
pub fn receive_lookup_and_reply_faults(env: &Env) -> TestResult {
    let radix = env.boot_info.root_cnode_size_bits;
    let h = Handler::new(env)?;
    let t = spawn_with_handler(env, nb_recv_on, 0, 0, 255, h.ep)?;
    shared(0).cap.store(BAD_GUARD, Ordering::SeqCst);
    step(t.tcb_resume(), "resume")?;
    let r = endpoint_at(h.ep).recv(Some(h.reply));
    expect_cap_fault(
        &r,
        BAD_GUARD,
        true,
        LookupFailure::GuardMismatch,
        &[64, 0, 64 - radix],
    )?;
    step(t.tcb_suspend(), "suspend")?;
    // The Reply argument names the endpoint itself.
    let t = spawn_with_handler(env, nb_recv_on, 1, 1, 255, h.ep)?;
    shared(1).cap.store(h.ep, Ordering::SeqCst);
    shared(1).reply.store(h.ep, Ordering::SeqCst);
    step(t.tcb_resume(), "resume")?;
    let r = endpoint_at(h.ep).recv(Some(h.reply));
    expect_cap_fault(&r, h.ep, true, LookupFailure::MissingCapability, &[0])?;
    ensure!(count(1) == 0, "the receive returned");
    step(t.tcb_suspend(), "suspend")
}

/// A cap a message names that cannot be looked up is a cap fault for that
/// CPtr when the message is sent by a Send through an endpoint or by a Call
/// of a kernel object (seL4 looks the caps up before it decodes), and
/// drops an NBSend without a fault.
pub fn message_cap_lookup_failure(env: &Env) -> TestResult {
    let radix = env.boot_info.root_cnode_size_bits;
    let h = Handler::new(env)?;
    let ep = super::retype::make(env, 12, keel_abi::ObjectType::Endpoint, 0, 1)?;
    let guard_words = [64, 0, 64 - radix];
    for (i, what) in [(0u64, "Send"), (2, "Call of an invocation")] {
        let t = spawn_with_handler(env, send_naming_bad_cap, i as usize, i, 255, h.ep)?;
        shared(i).cap.store(ep, Ordering::SeqCst);
        shared(i).value.store(i, Ordering::SeqCst);
        step(t.tcb_resume(), "resume")?;
        let r = endpoint_at(h.ep).recv(Some(h.reply));
        expect_cap_fault(
            &r,
            BAD_GUARD,
            false,
            LookupFailure::GuardMismatch,
            &guard_words,
        )
        .map_err(|e| alloc::format!("{what}: {e}"))?;
        ensure!(count(i) == 0, "{what} went on past its fault");
        step(t.tcb_suspend(), "suspend")?;
    }
    let t = spawn_with_handler(env, send_naming_bad_cap, 1, 1, 255, h.ep)?;
    shared(1).cap.store(ep, Ordering::SeqCst);
    shared(1).value.store(1, Ordering::SeqCst);
    step(t.tcb_resume(), "resume")?;
    yield_times(1)?;
    ensure!(count(1) == 1, "the NBSend did not return");
    let r = endpoint_at(h.ep).nb_recv(Some(h.reply));
    ensure!(
        r.info.label() == 0 && r.info.length() == 0,
        "the NBSend faulted: {r:?}"
    );
    Ok(())
}
