//! The IPC system calls: Send, NBSend, Call on endpoints and notifications,
//! Recv, NBRecv, ReplyRecv, Wait and NBWait. Each looks up its cap in the
//! caller's CSpace; a missing cap or right is a capability fault, as in seL4.

use crate::arch::UserRegisters;
use crate::object::memory::KernelMemory;
use crate::object::tcb::{tcb_slot, CSPACE_ROOT_SLOT};
use crate::object::{endpoint, notification};
use crate::syscall::invocation::Outcome;
use crate::{ipc, sched};
use keel_abi::{CapRights, CapType, Syscall};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::cspace::{lookup_cap, read_cap};

/// The cap named by the current thread's first argument, if it has `right`.
fn cap_with(thread: u64, right: CapRights) -> Option<Cap> {
    let mem = KernelMemory;
    let root = read_cap(&mem, tcb_slot(thread, CSPACE_ROOT_SLOT));
    let cptr = ipc::queue::tcb(thread).context.syscall_arg(0);
    let (_, cap) = lookup_cap(&mem, root, cptr).ok()?;
    match cap.kind() {
        CapType::Endpoint | CapType::Notification if cap.rights().contains(right) => Some(cap),
        _ => None,
    }
}

fn cap_fault(thread: u64) -> Outcome {
    let cptr = ipc::queue::tcb(thread).context.syscall_arg(0);
    Outcome::Fault(crate::fault::UserFaultKind::CapFault, cptr)
}

/// Sends (Send, NBSend, or the IPC half of Call) from `thread`.
pub fn send(thread: u64, syscall: Syscall) -> Outcome {
    let Some(cap) = cap_with(thread, CapRights::WRITE) else {
        return cap_fault(thread);
    };
    match cap.kind() {
        CapType::Endpoint => {
            let blocking = syscall != Syscall::NBSend;
            let grant = cap.rights().contains(CapRights::GRANT);
            let is_call = syscall == Syscall::Call;
            endpoint::send(cap.paddr(), thread, cap.badge(), grant, blocking, is_call);
        }
        _ => notification::signal(cap.paddr(), cap.badge()),
    }
    Outcome::Handled
}

/// Receives (Recv, NBRecv, ReplyRecv, Wait, NBWait) into `thread`.
pub fn receive(thread: u64, syscall: Syscall) -> Outcome {
    if syscall == Syscall::ReplyRecv {
        ipc::reply(thread);
    }
    let Some(cap) = cap_with(thread, CapRights::READ) else {
        return cap_fault(thread);
    };
    let blocking = !matches!(syscall, Syscall::NBRecv | Syscall::NBWait);
    match cap.kind() {
        CapType::Endpoint if matches!(syscall, Syscall::Wait | Syscall::NBWait) => {
            return cap_fault(thread)
        }
        CapType::Endpoint => {
            let bound = ipc::queue::tcb(thread).bound_notification;
            match (bound != 0)
                .then(|| notification::take_word(bound))
                .flatten()
            {
                Some(word) => ipc::deliver_signal(thread, word),
                None => endpoint::receive(cap.paddr(), thread, blocking),
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
    let cptr = ipc::queue::tcb(thread).context.syscall_arg(0);
    matches!(
        lookup_cap(&mem, root, cptr).map(|(_, c)| c.kind()),
        Ok(CapType::Endpoint | CapType::Notification)
    )
}

/// Yields the current thread.
pub fn yield_now() {
    sched::yield_current();
}
