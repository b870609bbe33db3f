//! IPC: send and receive in both orders, Call and ReplyRecv, queue order,
//! non-blocking forms, badges, message length without IPC buffers, rights and
//! capability faults, and threads leaving IPC when objects or threads go.
//! Transferring caps is `ipc_caps`; where Keel once differed from seL4,
//! `ipc_sel4`.

use super::retype::make;
use crate::support::{slot, step};
use crate::thread::{
    count, endpoint_of, give_reply, reply_of, shared, spawn, spawn_with_handler, yield_times,
};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::{CapRights, MessageInfo, ObjectType};
use keel_sys::cap::{init_thread::DEBUG, Endpoint, Tcb};
use keel_sys::{CPtr, Cap};

pub(super) fn stop_self(i: u64) -> ! {
    let me: Cap<Tcb> = Cap::from_cptr(CPtr::from_bits(shared(i).tcb.load(Ordering::SeqCst)));
    let _ = me.tcb_suspend();
    keel_rt::halt(92)
}

/// Receives once, records MR0, the badge and the length, then stops.
pub(super) extern "C" fn receive_once(i: u64) -> ! {
    let r = endpoint_of(i).recv(reply_of(i));
    let s = shared(i);
    s.value.store(
        r.mrs[0] | (r.badge << 32) | ((r.info.length() as u64) << 56),
        Ordering::SeqCst,
    );
    s.counter.fetch_add(1, Ordering::SeqCst);
    stop_self(i)
}

/// Sends its index as MR0, ten words long (four fit without an IPC buffer), then stops.
extern "C" fn send_once(i: u64) -> ! {
    endpoint_of(i).send(MessageInfo::new(5, 0, 0, 10), [100 + i, 2, 3, 4]);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    stop_self(i)
}

/// Answers every Call with label + 1, MR0 + 1 and the caller's badge in MR1.
pub(super) extern "C" fn echo_server(i: u64) -> ! {
    let ep = endpoint_of(i);
    let Some(reply) = reply_of(i) else {
        stop_self(i)
    };
    let mut r = ep.recv(Some(reply));
    loop {
        shared(i).counter.fetch_add(1, Ordering::SeqCst);
        let info = MessageInfo::new(r.info.label() + 1, 0, 0, 2);
        r = ep.reply_recv(info, [r.mrs[0] + 1, r.badge, 0, 0], reply);
    }
}

/// Calls the endpoint `shared(i).cap` once with MR0 = 41; if the answer
/// comes, stores it and counts, then stops.
pub(super) extern "C" fn call_and_count(i: u64) -> ! {
    let r = endpoint_of(i).call(MessageInfo::new(1, 0, 0, 1), [41, 0, 0, 0]);
    shared(i).value.store(r.mrs[0], Ordering::SeqCst);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    stop_self(i)
}

/// A badged copy of the endpoint in root slot `ep`, with `rights`.
pub(super) fn mint(
    env: &Env,
    ep: u64,
    badge: u64,
    rights: CapRights,
) -> Result<Cap<Endpoint>, alloc::string::String> {
    let s = env.slots(1)?;
    step(slot(s).mint(&slot(ep), rights, badge), "mint")?;
    Ok(Cap::from_cptr(CPtr::from_bits(s)))
}

pub(super) fn server(
    env: &Env,
    entry: extern "C" fn(u64) -> !,
    i: u64,
    cap: u64,
) -> Result<Cap<Tcb>, alloc::string::String> {
    server_with(env, entry, i, cap, true)
}

/// As [`server`]; without `buffer`, the kernel knows no IPC buffer of the
/// thread (test threads are given one), so its messages stop at four words.
fn server_with(
    env: &Env,
    entry: extern "C" fn(u64) -> !,
    i: u64,
    cap: u64,
    buffer: bool,
) -> Result<Cap<Tcb>, alloc::string::String> {
    let t = spawn(env, entry, i as usize, i, 255)?;
    if !buffer {
        step(
            t.tcb_set_ipc_buffer(0, keel_sys::cap::init_thread::IPC_BUFFER),
            "remove the IPC buffer",
        )?;
    }
    shared(i).cap.store(cap, Ordering::SeqCst);
    give_reply(env, i)?;
    step(t.tcb_resume(), "resume")?;
    Ok(t)
}

pub fn send_to_waiting_receiver(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    server(env, receive_once, 0, ep)?;
    yield_times(1)?;
    ensure!(count(0) == 0, "the receiver did not block");
    let badged = mint(env, ep, 0x55, CapRights::ALL)?;
    badged.send(MessageInfo::new(1, 0, 0, 1), [77, 0, 0, 0]);
    yield_times(1)?;
    let v = shared(0).value.load(Ordering::SeqCst);
    ensure!(count(0) == 1, "the receiver did not run");
    ensure!(
        v & 0xffff_ffff == 77 && (v >> 32) & 0xff_ffff == 0x55,
        "received {v:#x}"
    );
    Ok(())
}

pub fn receive_from_waiting_sender(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let badged = mint(env, ep, 0x66, CapRights::ALL)?;
    server_with(env, send_once, 0, badged.cptr().bits(), false)?;
    yield_times(1)?;
    ensure!(count(0) == 0, "the sender did not block");
    let r = Cap::<Endpoint>::from_cptr(CPtr::from_bits(ep)).recv(None);
    ensure!(
        r.mrs[0] == 100 && r.badge == 0x66 && r.info.label() == 5,
        "received {r:?}"
    );
    ensure!(
        r.info.length() == 4,
        "a sender without IPC buffer delivered {} words",
        r.info.length()
    );
    yield_times(1)?;
    ensure!(count(0) == 1, "the sender was not released");
    Ok(())
}

pub fn call_and_reply(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    server(env, echo_server, 0, ep)?;
    yield_times(1)?;
    let badged = mint(env, ep, 0x77, CapRights::ALL)?;
    for k in 0..10 {
        let r = badged.call(MessageInfo::new(3, 0, 0, 1), [k, 0, 0, 0]);
        ensure!(r.info.label() == 4 && r.mrs[0] == k + 1, "reply {k}: {r:?}");
        ensure!(r.mrs[1] == 0x77, "the server saw badge {:#x}", r.mrs[1]);
        ensure!(r.badge == 0, "a reply carries badge {:#x}", r.badge);
    }
    ensure!(count(0) == 10, "the server answered {} calls", count(0));
    Ok(())
}

pub fn senders_in_fifo_order(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    server(env, send_once, 0, ep)?;
    yield_times(1)?;
    server(env, send_once, 1, ep)?;
    yield_times(1)?;
    let e: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(ep));
    let (first, second) = (e.recv(None).mrs[0], e.recv(None).mrs[0]);
    ensure!(
        (first, second) == (100, 101),
        "received {first} then {second}"
    );
    Ok(())
}

pub fn non_blocking(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let e: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(ep));
    e.nb_send(MessageInfo::new(1, 0, 0, 1), [5, 0, 0, 0]);
    let r = e.nb_recv(None);
    ensure!(
        r.badge == 0 && r.info.length() == 0 && r.info.label() == 0,
        "a dropped message arrived: {r:?}"
    );
    server(env, receive_once, 0, ep)?;
    yield_times(1)?;
    e.nb_send(MessageInfo::new(1, 0, 0, 1), [9, 0, 0, 0]);
    yield_times(1)?;
    ensure!(
        shared(0).value.load(Ordering::SeqCst) & 0xffff == 9,
        "NBSend to a waiting receiver was lost"
    );
    Ok(())
}

pub fn badges_tell_senders_apart(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    server(env, echo_server, 0, ep)?;
    yield_times(1)?;
    for badge in [1u64, 2, 0xdead_beef] {
        let cap = mint(env, ep, badge, CapRights::ALL)?;
        let r = cap.call(MessageInfo::new(0, 0, 0, 1), [0; 4]);
        ensure!(
            r.mrs[1] == badge,
            "badge {badge:#x} arrived as {:#x}",
            r.mrs[1]
        );
    }
    let plain: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(ep));
    ensure!(
        plain.call(MessageInfo::new(0, 0, 0, 1), [0; 4]).mrs[1] == 0,
        "the unbadged cap had a badge"
    );
    Ok(())
}

pub fn truncated_without_buffer(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    server_with(env, receive_once, 0, ep, false)?;
    yield_times(1)?;
    keel_sys::ipc::set_mr(7, 0xabc).map_err(|e| alloc::format!("set_mr: {e}"))?;
    Cap::<Endpoint>::from_cptr(CPtr::from_bits(ep))
        .send(MessageInfo::new(1, 0, 0, 8), [1, 2, 3, 4]);
    yield_times(1)?;
    let length = shared(0).value.load(Ordering::SeqCst) >> 56;
    ensure!(
        length == 4,
        "a receiver without IPC buffer got {length} words"
    );
    Ok(())
}

pub fn rights_are_checked(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let write_only = mint(env, ep, 0, CapRights::WRITE)?;
    // A thread that receives through a cap without the read right takes a
    // capability fault and stops (seL4's `handleRecv`); the rest of the
    // system carries on, and a send finds no receiver.
    server(env, receive_once, 0, write_only.cptr().bits())?;
    yield_times(2)?;
    Cap::<Endpoint>::from_cptr(CPtr::from_bits(ep)).nb_send(MessageInfo::new(0, 0, 0, 1), [1; 4]);
    yield_times(1)?;
    ensure!(
        count(0) == 0,
        "a receive without the read right went through"
    );
    let back = step(
        Cap::<Tcb>::from_cptr(CPtr::from_bits(shared(0).tcb.load(Ordering::SeqCst)))
            .tcb_read_all_registers(false),
        "read",
    )?;
    ensure!(back.pc() != 0, "no registers");
    Ok(())
}

/// Deleting an endpoint a receiver waits on takes the receiver off it and
/// restarts its Recv (seL4's cancelAllIPC): the Recv finds the cap gone and
/// the thread takes a cap fault for that slot. Once its handler puts a new
/// endpoint in the slot and replies, the Recv runs again and takes a
/// message from the new endpoint.
pub fn object_deleted_under_receiver(env: &Env) -> TestResult {
    use keel_abi::fault::{self as layout, FaultType};
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let h = super::fault_handler::Handler::new(env)?;
    let handler = Cap::<Endpoint>::from_cptr(CPtr::from_bits(h.ep));
    let t = spawn_with_handler(env, receive_once, 0, 0, 255, h.ep)?;
    shared(0).cap.store(ep, Ordering::SeqCst);
    give_reply(env, 0)?;
    step(t.tcb_resume(), "resume")?;
    yield_times(1)?;
    step(slot(ep).delete(), "delete the endpoint")?;
    yield_times(2)?;
    ensure!(count(0) == 0, "the receiver returned from its receive");
    let r = handler.nb_recv(Some(h.reply));
    ensure!(
        r.info.label() == FaultType::CapFault as u64 && r.mrs[layout::CAP_FAULT_ADDR] == ep,
        "the receiver's Recv was not restarted onto the empty slot: {r:?}"
    );
    let fresh = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    step(slot(ep).move_(&slot(fresh)), "a new endpoint in the slot")?;
    h.reply(0, &[])?;
    yield_times(1)?;
    Cap::<Endpoint>::from_cptr(CPtr::from_bits(ep))
        .nb_send(MessageInfo::new(0, 0, 0, 1), [77, 0, 0, 0]);
    yield_times(1)?;
    ensure!(
        count(0) == 1 && shared(0).value.load(Ordering::SeqCst) & 0xffff_ffff == 77,
        "the restarted Recv took no message from the new endpoint (count {})",
        count(0)
    );
    Ok(())
}

/// A receiver whose saved PC was written just above x86_64's non-canonical
/// gap runs its receive again when the endpoint goes. Stepping back onto
/// the system call lands in the gap, and the kernel must return it to a
/// canonical address, 0 (as seL4 does), not fault itself: the thread's
/// handler gets a VM fault at 0. (QEMU's TCG does not fault on an `iretq`
/// into the gap; the fetch there would then raise a general-protection
/// fault, not a VM fault at 0.) aarch64 has no gap: the thread takes a VM
/// fault at the restarted address itself (in the kernel's half, which user
/// mode cannot fetch from).
pub fn restart_from_written_pc(env: &Env) -> TestResult {
    use keel_abi::fault::{self as layout, FaultType};
    const WRITTEN: u64 = 0xffff_8000_0000_0001;
    let expected_ip = match env.boot_info.arch() {
        Some(keel_abi::Arch::X86_64) => 0,
        Some(keel_abi::Arch::Aarch64) => WRITTEN - 4,
        None => return Err("BootInfo names no architecture".into()),
    };
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let h = super::fault_handler::Handler::new(env)?;
    let t = spawn_with_handler(env, receive_once, 0, 0, 255, h.ep)?;
    shared(0).cap.store(ep, Ordering::SeqCst);
    give_reply(env, 0)?;
    step(t.tcb_resume(), "resume")?;
    yield_times(1)?;
    let mut regs = step(t.tcb_read_all_registers(false), "read")?;
    regs.set_pc(WRITTEN);
    step(t.tcb_write_all_registers(false, &regs), "write the PC")?;
    step(slot(ep).delete(), "delete the endpoint")?;
    yield_times(2)?;
    ensure!(count(0) == 0, "the receiver returned from its receive");
    let r = Cap::<Endpoint>::from_cptr(CPtr::from_bits(h.ep)).nb_recv(Some(h.reply));
    ensure!(
        r.info.label() == FaultType::VmFault as u64 && r.mrs[layout::VM_FAULT_IP] == expected_ip,
        "the restarted receiver's fault has label {} at {:#x}, expected a VM fault at {expected_ip:#x}",
        r.info.label(),
        r.mrs[layout::VM_FAULT_IP]
    );
    step(t.tcb_suspend(), "stop the receiver")
}

/// Ten Calls to the echo server with varied labels, words and badges, and what came back.
fn call_series(ep: u64, badged: Cap<Endpoint>) -> [(u64, u64, [u64; 4], usize); 10] {
    let plain: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(ep));
    core::array::from_fn(|k| {
        let k = k as u64;
        let cap = if k.is_multiple_of(2) { plain } else { badged };
        let r = cap.call(
            MessageInfo::new(k, 0, 0, k % 5),
            [k, k * 3, k * 7, u64::MAX - k],
        );
        (r.info.label(), r.badge, r.mrs, r.info.length())
    })
}

pub fn fast_and_slow_paths_agree(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    server(env, echo_server, 0, ep)?;
    yield_times(1)?;
    let badged = mint(env, ep, 0x1234, CapRights::ALL)?;
    let was_on = step(DEBUG.debug_set_fastpath(true), "fast path on")?;
    let fast = call_series(ep, badged);
    step(DEBUG.debug_set_fastpath(false), "fast path off")?;
    let slow = call_series(ep, badged);
    step(DEBUG.debug_set_fastpath(was_on), "restore the setting")?;
    ensure!(fast == slow, "fast path {fast:?} but slow path {slow:?}");
    ensure!(count(0) == 20, "the server answered {} calls", count(0));
    Ok(())
}

pub fn cancel_badged_sends(env: &Env) -> TestResult {
    // Thread 0 sends through badge 5, thread 1 through badge 6; both queue.
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let five = mint(env, ep, 5, CapRights::ALL)?;
    let six = mint(env, ep, 6, CapRights::ALL)?;
    let also_five = mint(env, ep, 5, CapRights::ALL)?;
    server(env, send_once, 0, five.cptr().bits())?;
    server(env, send_once, 1, six.cptr().bits())?;
    yield_times(1)?;
    // Revoke badge 5: delete its cap, then cancel its queued send. Thread 0
    // re-runs its Send, finds the slot empty, and the Send is dropped (seL4:
    // InvalidCapability, heard only by a Call).
    step(slot(five.cptr().bits()).delete(), "delete the badge-5 cap")?;
    step(
        slot(also_five.cptr().bits()).cancel_badged_sends(),
        "cancel badge 5",
    )?;
    yield_times(1)?;
    let r = Cap::<Endpoint>::from_cptr(CPtr::from_bits(ep)).nb_recv(None);
    ensure!(r.badge == 6 && r.mrs[0] == 101, "received {r:?}");
    let r = Cap::<Endpoint>::from_cptr(CPtr::from_bits(ep)).nb_recv(None);
    ensure!(
        r.badge == 0 && r.info.length() == 0,
        "a cancelled send arrived: {r:?}"
    );
    ensure!(
        count(0) == 1,
        "the cancelled sender's Send, made again on its deleted cap, was not dropped"
    );
    Ok(())
}

/// Receives on `shared(i).cap` and sends MR0 + 1 on the endpoint `shared(i).value`, forever.
extern "C" fn forward_to_endpoint(i: u64) -> ! {
    let out: Cap<Endpoint> =
        Cap::from_cptr(CPtr::from_bits(shared(i).value.load(Ordering::SeqCst)));
    loop {
        let r = endpoint_of(i).recv(reply_of(i));
        out.send(MessageInfo::new(0, 0, 0, 1), [r.mrs[0] + 1, 0, 0, 0]);
    }
}

/// Receives on `shared(i).cap` and signals the notification `shared(i).value`, forever.
extern "C" fn forward_to_notification(i: u64) -> ! {
    let out: Cap<keel_sys::cap::Notification> =
        Cap::from_cptr(CPtr::from_bits(shared(i).value.load(Ordering::SeqCst)));
    loop {
        endpoint_of(i).recv(reply_of(i));
        out.signal();
    }
}

pub fn send_then_receive_in_one_call(env: &Env) -> TestResult {
    let (ep_in, ep_out) = (
        make(env, 12, ObjectType::Endpoint, 0, 1)?,
        make(env, 12, ObjectType::Endpoint, 0, 1)?,
    );
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    let badged = env.slots(1)?;
    step(slot(badged).mint(&slot(ntfn), CapRights::ALL, 0x40), "mint")?;
    // `spawn` clears the shared words; set them before the thread first runs.
    server(env, forward_to_endpoint, 0, ep_in)?;
    shared(0).value.store(ep_out, Ordering::SeqCst);
    yield_times(1)?;
    let into: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(ep_in));
    let r = into.nb_send_recv(
        MessageInfo::new(0, 0, 0, 1),
        [5, 0, 0, 0],
        Cap::from_cptr(CPtr::from_bits(ep_out)),
        None,
    );
    ensure!(r.mrs[0] == 6, "NBSendRecv received {r:?}");
    step(
        Cap::<Tcb>::from_cptr(CPtr::from_bits(shared(0).tcb.load(Ordering::SeqCst))).tcb_suspend(),
        "stop the forwarder",
    )?;
    server(env, forward_to_notification, 1, ep_in)?;
    shared(1).value.store(badged, Ordering::SeqCst);
    yield_times(1)?;
    let r = into.nb_send_wait(
        MessageInfo::new(0, 0, 0, 1),
        [1, 0, 0, 0],
        Cap::<keel_sys::cap::Notification>::from_cptr(CPtr::from_bits(ntfn)),
    );
    ensure!(r.badge == 0x40, "NBSendWait woke with {r:?}");
    Ok(())
}

/// seL4's rule for Call: the caller waits for its reply only through a cap
/// with the grant or the grant-reply right; through one with neither, the
/// message is delivered and the caller is left inactive (fast path on and
/// off: the fast path leaves such a Call to the slow path).
pub fn call_needs_grant_or_grant_reply(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    server(env, echo_server, 0, ep)?;
    yield_times(1)?;
    let write = CapRights::WRITE;
    for rights in [
        write.union(CapRights::GRANT_REPLY),
        write.union(CapRights::GRANT),
    ] {
        let c = mint(env, ep, 0x21, rights)?;
        let r = c.call(MessageInfo::new(3, 0, 0, 1), [8, 0, 0, 0]);
        ensure!(r.mrs[0] == 9, "through {rights:?} the answer was {r:?}");
    }
    let write_only = mint(env, ep, 0x22, write)?;
    let was_on = step(DEBUG.debug_set_fastpath(true), "fast path on")?;
    for (i, fast) in [(1, true), (2, false)] {
        step(DEBUG.debug_set_fastpath(fast), "fast path setting")?;
        let served = count(0);
        let caller = spawn(env, call_and_count, i as usize, i, 255)?;
        shared(i)
            .cap
            .store(write_only.cptr().bits(), Ordering::SeqCst);
        step(caller.tcb_resume(), "resume the caller")?;
        yield_times(3)?;
        ensure!(
            count(0) == served + 1,
            "fast={fast}: the server took {} calls, not one",
            count(0) - served
        );
        ensure!(
            count(i) == 0,
            "fast={fast}: a Call through a write-only cap got the answer {}",
            shared(i).value.load(Ordering::SeqCst)
        );
        step(caller.tcb_suspend(), "stop the caller")?;
    }
    step(DEBUG.debug_set_fastpath(was_on), "restore the setting")?;
    Ok(())
}
