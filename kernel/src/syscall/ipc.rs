//! The IPC system calls: Send, NBSend, Call on endpoints and notifications
//! (and Send on a Reply object, which replies), Recv, NBRecv, ReplyRecv,
//! Wait and NBWait. Each looks up its cap in the caller's CSpace; a missing
//! cap or right is a capability fault, as in seL4. A receive on an endpoint
//! names the Reply object a Call it takes will wait on (MCS): argument 6,
//! or argument 7 for NBSendRecv; CPtr 0 names none.

use crate::object::handle::EndpointRef;
use crate::object::memory::KernelMemory;
use crate::object::tcb::ThreadState;
use crate::object::tcb::{tcb_slot, CSPACE_ROOT_SLOT};
use crate::object::{endpoint, notification, reply};
use crate::syscall::invocation::Outcome;
use crate::{ipc, sched};
use keel_abi::{CapRights, CapType, Syscall};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::cspace::{lookup_cap, read_cap};

/// Which argument names the cap a receive uses: the first, or for
/// NBSendRecv and NBSendWait the seventh (the first names the send's cap).
fn receive_cptr(thread: u64, syscall: Syscall) -> u64 {
    let n = if matches!(syscall, Syscall::NBSendRecv | Syscall::NBSendWait) {
        6
    } else {
        0
    };
    ipc::queue::tcb(thread).syscall_arg(n)
}

/// The endpoint or notification cap at `cptr` in `thread`'s CSpace, if it
/// has `right`; for a send, a Reply cap too.
fn cap_with(thread: u64, cptr: u64, right: CapRights) -> Option<Cap> {
    let cap = lookup(thread, cptr)?;
    match cap.kind() {
        CapType::Endpoint | CapType::Notification if cap.rights().contains(right) => Some(cap),
        CapType::Reply if right == CapRights::WRITE => Some(cap),
        _ => None,
    }
}

fn lookup(thread: u64, cptr: u64) -> Option<Cap> {
    let mem = KernelMemory;
    let root = read_cap(&mem, tcb_slot(thread, CSPACE_ROOT_SLOT));
    lookup_cap(&mem, root, cptr).ok().map(|(_, cap)| cap)
}

/// The Reply object a receive names (`Ok(None)` for CPtr 0), or the CPtr
/// that is not a Reply cap.
fn reply_object(thread: u64, syscall: Syscall) -> Result<Option<u64>, u64> {
    let n = match syscall {
        Syscall::Recv | Syscall::NBRecv | Syscall::ReplyRecv => 6,
        Syscall::NBSendRecv => 7,
        _ => return Ok(None),
    };
    let cptr = ipc::queue::tcb(thread).syscall_arg(n);
    if cptr == 0 {
        return Ok(None);
    }
    match lookup(thread, cptr) {
        Some(cap) if cap.kind() == CapType::Reply => Ok(Some(cap.paddr())),
        _ => Err(cptr),
    }
}

fn cap_fault(cptr: u64) -> Outcome {
    Outcome::Fault(crate::fault::UserFaultKind::CapFault, cptr)
}

/// Sends (Send, NBSend, the IPC half of Call, the send half of NBSendRecv
/// and NBSendWait) from `thread`, through the cap its first argument names.
pub fn send(thread: u64, syscall: Syscall) -> Outcome {
    let cptr = ipc::queue::tcb(thread).syscall_arg(0);
    let Some(cap) = cap_with(thread, cptr, CapRights::WRITE) else {
        return cap_fault(cptr);
    };
    match cap.kind() {
        CapType::Endpoint => {
            let how = endpoint::Sending {
                blocking: matches!(syscall, Syscall::Send | Syscall::Call),
                is_call: syscall == Syscall::Call,
            };
            endpoint::send(ipc::queue::tcb(thread), &cap, how);
        }
        CapType::Reply => ipc::reply(ipc::queue::tcb(thread), cap.paddr()),
        _ => notification::signal(cap.paddr(), cap.badge()),
    }
    Outcome::Handled
}

/// Receives (Recv, NBRecv, ReplyRecv, Wait, NBWait, the receive half of
/// NBSendRecv and NBSendWait) into `thread`.
pub fn receive(thread: u64, syscall: Syscall) -> Outcome {
    let reply = match reply_object(thread, syscall) {
        Ok(reply) => reply,
        Err(cptr) => return cap_fault(cptr),
    };
    if let (Syscall::ReplyRecv, Some(reply)) = (syscall, reply) {
        ipc::reply(ipc::queue::tcb(thread), reply);
    }
    let cptr = receive_cptr(thread, syscall);
    let Some(cap) = cap_with(thread, cptr, CapRights::READ) else {
        return cap_fault(cptr);
    };
    let blocking = !matches!(syscall, Syscall::NBRecv | Syscall::NBWait);
    let wait_only = matches!(
        syscall,
        Syscall::Wait | Syscall::NBWait | Syscall::NBSendWait
    );
    match cap.kind() {
        CapType::Endpoint if wait_only => return cap_fault(cptr),
        CapType::Endpoint => {
            let t = ipc::queue::tcb(thread);
            t.set_receive_can_grant(cap.rights().contains(CapRights::GRANT));
            let bound = t.bound_notification();
            match (bound != 0)
                .then(|| notification::take_word(bound))
                .flatten()
            {
                Some(word) => ipc::deliver_signal(ipc::queue::tcb(thread), word),
                None => {
                    if let Some(reply) = reply {
                        reply::start_receive(reply, thread);
                    }
                    let ep = EndpointRef::from_cap(&cap).expect("invariant: an endpoint cap");
                    if bound != 0 && blocking && !endpoint::has_senders(ep) {
                        notification::return_context(bound, thread);
                    }
                    endpoint::receive(ep, ipc::queue::tcb(thread), blocking);
                    if ipc::queue::tcb(thread).state() != ThreadState::BlockedOnReceive {
                        reply::end_receive(thread);
                    }
                }
            }
        }
        _ => notification::wait(cap.paddr(), thread, blocking),
    }
    Outcome::Handled
}

/// True when the current thread's Call names an endpoint or notification
/// (IPC) rather than another kernel object (an invocation).
pub fn call_is_ipc(thread: u64) -> bool {
    let mem = KernelMemory;
    let root = read_cap(&mem, tcb_slot(thread, CSPACE_ROOT_SLOT));
    let cptr = ipc::queue::tcb(thread).syscall_arg(0);
    matches!(
        lookup_cap(&mem, root, cptr).map(|(_, c)| c.kind()),
        Ok(CapType::Endpoint | CapType::Notification)
    )
}

/// Yields the current thread.
pub fn yield_now() {
    sched::yield_current();
}
