//! The IPC system calls: Send, NBSend, Call on endpoints and notifications
//! (and Send on a Reply object, which replies), Recv, NBRecv, ReplyRecv,
//! Wait and NBWait. Each looks up its cap in the caller's CSpace; a missing
//! cap, or a receive through a cap without the read right, is a capability
//! fault, as in seL4. A send through an endpoint or notification cap without
//! the write right is seL4's InvalidCapability error: a Call is answered with
//! it, a Send or NBSend is dropped. A Send or NBSend (and the send half of
//! NBSendRecv and NBSendWait) through a cap to any other object invokes
//! it, as seL4 does, and drops its result or error: only a Call hears
//! how an invocation went. The send half of NBSendRecv and
//! NBSendWait lends a passive receiver the sender's scheduling context, as
//! seL4 MCS does (a Call lends it through its Reply object). A receive on an endpoint names the Reply
//! object a Call it takes will wait on (MCS): argument `ARG_REPLY`, or
//! `ARG_SEND_RECV_REPLY` for NBSendRecv; CPtr 0 names none.

use crate::object::handle::{EndpointRef, Thread};
use crate::object::tcb::ThreadState;
use crate::object::{endpoint, notification, reply};
use crate::syscall::invocation::Outcome;
use crate::{ipc, sched};
use keel_abi::syscall::{ARG_CAP, ARG_REPLY, ARG_SEND_RECV_REPLY, ARG_SEND_RECV_SOURCE};
use keel_abi::{CapRights, CapType, Error, Syscall};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::error::SyscallError;

/// The cap a receive uses: argument [`ARG_CAP`], or for NBSendRecv and
/// NBSendWait [`ARG_SEND_RECV_SOURCE`] (the first names the send's cap).
fn receive_cptr(thread: Thread, syscall: Syscall) -> u64 {
    let n = if matches!(syscall, Syscall::NBSendRecv | Syscall::NBSendWait) {
        ARG_SEND_RECV_SOURCE
    } else {
        ARG_CAP
    };
    thread.syscall_arg(n)
}

/// True when `cap` is an endpoint or notification cap with the read right.
fn can_receive(cap: &Cap) -> bool {
    (cap.is(CapType::Endpoint) || cap.is(CapType::Notification))
        && cap.rights_field().contains(CapRights::READ)
}

fn lookup(thread: Thread, cptr: u64) -> Option<Cap> {
    thread.lookup_cap(cptr).ok().map(|(_, cap)| cap)
}

/// The Reply object a receive names (`Ok(None)` for CPtr 0), or the CPtr
/// that is not a Reply cap.
fn reply_object(thread: Thread, syscall: Syscall) -> Result<Option<u64>, u64> {
    let n = match syscall {
        Syscall::Recv | Syscall::NBRecv | Syscall::ReplyRecv => ARG_REPLY,
        Syscall::NBSendRecv => ARG_SEND_RECV_REPLY,
        _ => return Ok(None),
    };
    let cptr = thread.syscall_arg(n);
    if cptr == 0 {
        return Ok(None);
    }
    match lookup(thread, cptr) {
        Some(cap) if cap.kind() == CapType::Reply => Ok(Some(cap.paddr())),
        _ => Err(cptr),
    }
}

/// A cap fault on `cptr` in a send (or invocation) phase.
fn cap_fault(cptr: u64) -> Outcome {
    let kind = crate::fault::UserFaultKind::CapFault {
        in_receive_phase: false,
    };
    Outcome::Fault(kind, cptr)
}

/// A cap fault on `cptr` in a receive phase (the receive's cap or its
/// Reply object), as seL4 marks it in the message.
fn receive_cap_fault(cptr: u64) -> Outcome {
    let kind = crate::fault::UserFaultKind::CapFault {
        in_receive_phase: true,
    };
    Outcome::Fault(kind, cptr)
}

/// Sends (Send, NBSend, the send half of NBSendRecv and NBSendWait) from
/// `thread`, through the cap its first argument names. Only a Call hears of
/// an error, so a send without the write right is dropped here.
pub fn send(thread: Thread, syscall: Syscall) -> Outcome {
    send_once(thread, syscall).0
}

/// [`send`]'s work: its outcome, and whether it invoked a kernel object.
#[inline(always)]
fn send_once(thread: Thread, syscall: Syscall) -> (Outcome, bool) {
    let cptr = thread.syscall_arg(ARG_CAP);
    match lookup(thread, cptr) {
        Some(cap) if invoked_by_send(&cap) => (invoke_dropping_answer(thread, cptr), true),
        Some(cap) => (
            send_through(thread, syscall, cptr, cap).unwrap_or(Outcome::Handled),
            false,
        ),
        None => (cap_fault(cptr), false),
    }
}

/// A send through a cap to a kernel object: the invocation a Call would
/// make, its answer dropped. Out of line, so the IPC send path (a signal,
/// a Send on an endpoint) stays as short as it was.
#[inline(never)]
#[cold]
fn invoke_dropping_answer(thread: Thread, cptr: u64) -> Outcome {
    let Ok((slot, cap)) = thread.lookup_cap(cptr) else {
        return cap_fault(cptr);
    };
    match super::invocation::call(thread, slot, cap) {
        Ok(Outcome::Restart) => Outcome::Restart,
        _ => Outcome::Handled,
    }
}

/// NBSendRecv and NBSendWait: a non-blocking send through the first cap,
/// then a receive (or a wait on a notification) on the cap
/// `ARG_SEND_RECV_SOURCE` names; a Call the receive half takes waits on the
/// Reply object `ARG_SEND_RECV_REPLY` names (NBSendRecv only). A cap fault
/// of the send half, or an invocation it made that stopped at a preemption
/// point, ends the call there (it is made again); so does an invocation
/// that left its caller not running (it suspended or deleted itself).
pub fn send_then_receive(thread: Thread, syscall: Syscall) -> Outcome {
    match send_once(thread, syscall) {
        (outcome @ (Outcome::Fault(..) | Outcome::Restart), _) => outcome,
        (_, true) if sched::current() != Some(thread) || thread.state() != ThreadState::Running => {
            Outcome::Handled
        }
        _ => receive(thread, syscall),
    }
}

/// True when a send through `cap` invokes its object (as a Call would,
/// with the answer dropped): any cap but an IPC object's or a null cap.
fn invoked_by_send(cap: &Cap) -> bool {
    !matches!(
        cap.kind(),
        CapType::Endpoint | CapType::Notification | CapType::Reply | CapType::Null
    )
}

/// Sends from `thread` through `cap`, the cap found at `cptr` (for a Call,
/// by the dispatcher's own lookup). An endpoint or notification cap without
/// the write right is an InvalidCapability error (the invoked cap), as
/// seL4's `decodeInvocation` gives it; any other cap but a Reply cap is a
/// capability fault.
#[inline(always)]
pub fn send_through(
    thread: Thread,
    syscall: Syscall,
    cptr: u64,
    cap: Cap,
) -> Result<Outcome, SyscallError> {
    match cap.kind() {
        CapType::Endpoint | CapType::Notification
            if !cap.rights_field().contains(CapRights::WRITE) =>
        {
            return Err(Error::InvalidCapability.into());
        }
        CapType::Endpoint => {
            let how = endpoint::Sending {
                blocking: matches!(syscall, Syscall::Send | Syscall::Call),
                is_call: syscall == Syscall::Call,
                donates: matches!(syscall, Syscall::NBSendRecv | Syscall::NBSendWait),
            };
            endpoint::send(thread, &cap, how);
        }
        CapType::Reply => ipc::reply(thread, cap.paddr()),
        CapType::Notification => notification::signal(cap.paddr(), cap.badge()),
        _ => return Ok(cap_fault(cptr)),
    }
    Ok(Outcome::Handled)
}

/// Receives (Recv, NBRecv, ReplyRecv, Wait, NBWait, the receive half of
/// NBSendRecv and NBSendWait) into `thread`. Wait, NBWait and NBSendWait on
/// an endpoint receive without a Reply object (seL4 MCS): a Call they take
/// leaves its caller inactive.
pub fn receive(thread: Thread, syscall: Syscall) -> Outcome {
    let reply = match reply_object(thread, syscall) {
        Ok(reply) => reply,
        Err(cptr) => return receive_cap_fault(cptr),
    };
    if let (Syscall::ReplyRecv, Some(reply)) = (syscall, reply) {
        ipc::reply(thread, reply);
    }
    let cptr = receive_cptr(thread, syscall);
    let Some(cap) = lookup(thread, cptr).filter(can_receive) else {
        return receive_cap_fault(cptr);
    };
    let blocking = !matches!(syscall, Syscall::NBRecv | Syscall::NBWait);
    match cap.kind() {
        CapType::Endpoint => {
            let t = thread;
            t.set_receive_can_grant(cap.rights().contains(CapRights::GRANT));
            let bound = t.bound_notification();
            match (bound != 0)
                .then(|| notification::take_word(bound))
                .flatten()
            {
                Some(word) => ipc::deliver_signal(thread, word),
                None => {
                    if let Some(reply) = reply {
                        reply::start_receive(reply, thread.addr());
                    }
                    let ep = EndpointRef::from_cap(&cap).expect("invariant: an endpoint cap");
                    if bound != 0 && blocking && !endpoint::has_senders(ep) {
                        notification::return_context(bound, thread.addr());
                    }
                    endpoint::receive(ep, thread, blocking);
                    if thread.state() != ThreadState::BlockedOnReceive {
                        reply::end_receive(thread.addr());
                    }
                }
            }
        }
        _ => notification::wait(cap.paddr(), thread.addr(), blocking),
    }
    Outcome::Handled
}

/// Yields the current thread.
pub fn yield_now() {
    sched::yield_current();
}
