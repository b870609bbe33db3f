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
use keel_sys::cap::{Endpoint, Tcb};
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
fn message_words(r: &Received) -> Result<[u64; 7], alloc::string::String> {
    let mut w = [0u64; 7];
    w[..4].copy_from_slice(&r.mrs);
    let len = r.info.length().min(7);
    if len > 4 {
        keel_sys::ipc::read_mrs(4, &mut w[4..len]).map_err(|e| alloc::format!("read_mrs: {e}"))?;
    }
    Ok(w)
}

/// Checks that `r` is the cap fault `e` describes.
fn expect_cap_fault(r: &Received, e: &Expected) -> TestResult {
    let Expected {
        cptr,
        in_receive,
        failure,
        detail,
        words,
    } = *e;
    let detail = &detail[..words];
    ensure!(
        r.info.label() == FaultType::CapFault as u64,
        "not a cap fault: {r:?}"
    );
    let w = message_words(r)?;
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

/// Starts `entry` as test thread `i` at priority 255 with the handler's
/// endpoint as its fault endpoint and `cap`, `value` and `reply` in its
/// shared words, and resumes it.
fn start(
    env: &Env,
    h: &Handler,
    entry: extern "C" fn(u64) -> !,
    i: u64,
    [cap, value, reply]: [u64; 3],
) -> Result<Cap<Tcb>, alloc::string::String> {
    let t = spawn_with_handler(env, entry, i as usize, i, 255, h.ep)?;
    let s = shared(i);
    s.cap.store(cap, Ordering::SeqCst);
    s.value.store(value, Ordering::SeqCst);
    s.reply.store(reply, Ordering::SeqCst);
    step(t.tcb_resume(), "resume")?;
    Ok(t)
}

/// A cap fault as a test expects it: the CPtr, whether in a receive, the
/// lookup failure and the first `words` of `detail` after it.
#[derive(Clone, Copy)]
struct Expected {
    cptr: u64,
    in_receive: bool,
    failure: LookupFailure,
    detail: [u64; 3],
    words: usize,
}

/// Receives the fault of test thread `i` (`t`) and checks it is `expected`
/// and that the thread did not go on; leaves it suspended.
fn faults(h: &Handler, t: Cap<Tcb>, i: u64, what: &str, expected: &Expected) -> TestResult {
    let r = endpoint_at(h.ep).recv(Some(h.reply));
    expect_cap_fault(&r, expected).map_err(|e| alloc::format!("{what}: {e}"))?;
    ensure!(count(i) == 0, "{what} went on past its fault");
    step(t.tcb_suspend(), "suspend")
}

/// Lets test thread `i` run, and checks that it got past its system calls
/// and that no fault reached the handler.
fn runs_without_fault(h: &Handler, i: u64, what: &str) -> TestResult {
    yield_times(1)?;
    ensure!(count(i) == 1, "{what} did not return");
    let r = endpoint_at(h.ep).nb_recv(Some(h.reply));
    ensure!(
        r.info.label() == 0 && r.info.length() == 0,
        "{what} faulted: {r:?}"
    );
    Ok(())
}

/// The guard mismatch of [`BAD_GUARD`] in the root CNode: 64 bits left,
/// its guard 0 of all the bits above its radix.
fn bad_guard(env: &Env, in_receive: bool) -> Expected {
    Expected {
        cptr: BAD_GUARD,
        in_receive,
        failure: LookupFailure::GuardMismatch,
        detail: [64, 0, 64 - env.boot_info.root_cnode_size_bits],
        words: 3,
    }
}

/// seL4's `handleInvocation`: a Send or NBSend to an empty slot decodes to
/// InvalidCapability, which only a Call is told; an NBSend whose lookup
/// fails is not blocking and raises no fault.
pub fn sends_to_nothing_dropped(env: &Env) -> TestResult {
    let h = Handler::new(env)?;
    let empty = env.slots(1)?;
    start(env, &h, send_to_nothing, 0, [empty, 0, 0])?;
    runs_without_fault(&h, 0, "the sender")
}

/// A Send or a Call through a CPtr whose lookup fails (the root CNode's
/// guard does not match) cap-faults: not in a receive phase, with the
/// guard mismatch's words (bits left, the guard found and its size).
pub fn send_lookup_failure_faults(env: &Env) -> TestResult {
    let h = Handler::new(env)?;
    let expected = bad_guard(env, false);
    for (i, what) in [(0u64, "Send"), (1, "Call")] {
        let t = start(env, &h, send_bad_guard, i, [0, i, 0])?;
        faults(&h, t, i, what, &expected)?;
    }
    Ok(())
}

/// A receive on an empty slot cap-faults in the receive phase, as a
/// missing capability with no bits left; once the handler puts an endpoint
/// there and replies, the receive runs again and returns.
pub fn receive_fault_fixed_and_retried(env: &Env) -> TestResult {
    let h = Handler::new(env)?;
    let empty = env.slots(1)?;
    start(env, &h, nb_recv_on, 0, [empty, 0, 0])?;
    let r = endpoint_at(h.ep).recv(Some(h.reply));
    expect_cap_fault(&r, &missing(empty))?;
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

/// A receive's fault on `cptr`, found but unusable: a missing capability
/// with no bits left.
fn missing(cptr: u64) -> Expected {
    Expected {
        cptr,
        in_receive: true,
        failure: LookupFailure::MissingCapability,
        detail: [0; 3],
        words: 1,
    }
}

/// A receive whose lookup fails cap-faults in the receive phase with the
/// lookup's words; so does one whose Reply argument is not a Reply cap
/// (reported for the Reply CPtr, as a missing capability).
pub fn receive_lookup_and_reply_faults(env: &Env) -> TestResult {
    let h = Handler::new(env)?;
    let t = start(env, &h, nb_recv_on, 0, [BAD_GUARD, 0, 0])?;
    faults(&h, t, 0, "a receive", &bad_guard(env, true))?;
    // The Reply argument names the endpoint itself.
    let t = start(env, &h, nb_recv_on, 1, [h.ep, 0, h.ep])?;
    faults(&h, t, 1, "a receive with no Reply object", &missing(h.ep))
}

/// A cap a message names that cannot be looked up is a cap fault for that
/// CPtr when the message is sent by a Send through an endpoint or by a Call
/// of a kernel object (seL4 looks the caps up before it decodes), and
/// drops an NBSend without a fault.
pub fn message_cap_lookup_failure(env: &Env) -> TestResult {
    let h = Handler::new(env)?;
    let ep = super::retype::make(env, 12, keel_abi::ObjectType::Endpoint, 0, 1)?;
    let expected = bad_guard(env, false);
    for (i, what) in [(0u64, "Send"), (2, "Call of an invocation")] {
        let t = start(env, &h, send_naming_bad_cap, i, [ep, i, 0])?;
        faults(&h, t, i, what, &expected)?;
    }
    start(env, &h, send_naming_bad_cap, 1, [ep, 1, 0])?;
    runs_without_fault(&h, 1, "the NBSend")
}
