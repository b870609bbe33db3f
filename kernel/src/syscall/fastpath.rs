//! The IPC fast path: Call and ReplyRecv with a short message (at most four
//! words, no caps) to a thread that is already waiting (with a Reply object)
//! and will run next take this short path instead of the general one; the
//! Reply-object links and any donation are the slow path's own functions. Its effects are exactly those
//! of the slow path for the same call (tests compare the two); anything out of
//! the ordinary falls back to the slow path.

use crate::arch::UserRegisters;
use crate::ipc::queue::tcb;
use crate::object::memory::KernelMemory;
use crate::object::tcb::{tcb_slot, ThreadState, CSPACE_ROOT_SLOT};
use crate::object::{endpoint, reply};
use crate::{ipc, sched};
use core::sync::atomic::{AtomicBool, Ordering};
use keel_abi::invocation::MESSAGE_REGISTERS_IN_REGS;
use keel_abi::{CapRights, CapType, MessageInfo};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::cspace::{lookup_cap, read_cap};

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns the fast path on or off; returns the previous setting.
pub fn set_enabled(on: bool) -> bool {
    ENABLED.swap(on, Ordering::Relaxed)
}

/// The message `thread` sends, if it fits the fast path: (info, MRs 0-3).
fn short_message(thread: u64) -> Option<(MessageInfo, [u64; MESSAGE_REGISTERS_IN_REGS])> {
    let t = tcb(thread);
    let info = MessageInfo::from_word(t.context.syscall_arg(1));
    if info.extra_caps() != 0 || info.length() > MESSAGE_REGISTERS_IN_REGS || t.fault_label != 0 {
        return None;
    }
    let mut mrs = [0; MESSAGE_REGISTERS_IN_REGS];
    for (i, mr) in mrs.iter_mut().enumerate().take(info.length()) {
        *mr = t.context.syscall_arg(2 + i);
    }
    Some((
        MessageInfo::new(info.label(), 0, 0, info.length() as u64),
        mrs,
    ))
}

/// The cap `thread`'s system-call argument `n` names.
fn cap_at(thread: u64, n: usize) -> Option<Cap> {
    let mem = KernelMemory;
    let root = read_cap(&mem, tcb_slot(thread, CSPACE_ROOT_SLOT));
    let (_, cap) = lookup_cap(&mem, root, tcb(thread).context.syscall_arg(n)).ok()?;
    Some(cap)
}

/// The endpoint cap `thread`'s first argument names, with `right`.
fn endpoint_cap(thread: u64, right: CapRights) -> Option<Cap> {
    cap_at(thread, 0).filter(|cap| cap.kind() == CapType::Endpoint && cap.rights().contains(right))
}

fn deliver(to: u64, info: MessageInfo, badge: u64, mrs: [u64; MESSAGE_REGISTERS_IN_REGS]) {
    tcb(to)
        .context
        .set_syscall_result([info.word(), badge, mrs[0], mrs[1], mrs[2], mrs[3]]);
}

/// Call to a waiting receiver; true when done.
pub fn call(caller: u64) -> bool {
    if !ENABLED.load(Ordering::Relaxed) {
        return false;
    }
    let Some((info, mrs)) = short_message(caller) else {
        return false;
    };
    let Some(cap) = endpoint_cap(caller, CapRights::WRITE) else {
        return false;
    };
    let Some(receiver) = endpoint::waiting_receiver(cap.paddr()) else {
        return false;
    };
    if tcb(receiver).reply == 0 || !sched::would_run_next(tcb(receiver).priority, caller) {
        return false;
    }
    endpoint::take_off(cap.paddr(), receiver);
    deliver(receiver, info, cap.badge(), mrs);
    sched::make_runnable(receiver);
    ipc::wait_for_reply(caller, receiver);
    true
}

/// ReplyRecv answering a caller waiting on the Reply object it names, then
/// waiting on an endpoint with no sender; true when done.
pub fn reply_recv(server: u64) -> bool {
    if !ENABLED.load(Ordering::Relaxed) {
        return false;
    }
    let Some((info, mrs)) = short_message(server) else {
        return false;
    };
    if tcb(server).bound_notification != 0 {
        return false;
    }
    let Some(reply_cap) = cap_at(server, 6).filter(|c| c.kind() == CapType::Reply) else {
        return false;
    };
    let caller = reply::thread(reply_cap.paddr());
    if caller == 0 {
        return false;
    }
    let c = tcb(caller);
    if c.state != ThreadState::BlockedOnReply || c.fault_label != 0 {
        return false;
    }
    let Some(cap) = endpoint_cap(server, CapRights::READ) else {
        return false;
    };
    if endpoint::has_senders(cap.paddr()) || !sched::would_run_next(c.priority, server) {
        return false;
    }
    reply::pop(reply_cap.paddr());
    deliver(caller, info, 0, mrs);
    sched::make_runnable(caller);
    tcb(server).receive_can_grant = cap.rights().contains(CapRights::GRANT);
    sched::dequeue(server);
    reply::start_receive(reply_cap.paddr(), server);
    endpoint::block_receiver(cap.paddr(), server);
    true
}
