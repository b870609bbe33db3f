//! The IPC system calls: Send, NBSend, Call on endpoints and notifications
//! (and Send on a Reply object, which replies), Recv, NBRecv, ReplyRecv,
//! Wait and NBWait. Each looks up its cap in the caller's CSpace, as seL4
//! does: a lookup that fails is a capability fault for a Call or Send and
//! for every receive, and drops an NBSend (and the send half of NBSendRecv
//! and NBSendWait); a receive through a cap that is not an endpoint or
//! notification, or lacks the read right, is a capability fault too. A send
//! through an empty slot, or an endpoint or notification cap without the
//! write right, is seL4's InvalidCapability error: a Call is answered with
//! it, a Send or NBSend is dropped. A Send or NBSend (and the send half of
//! NBSendRecv and NBSendWait) through a cap to any other object invokes
//! it, as seL4 does, and drops its result or error: only a Call hears
//! how an invocation went. The send half of NBSendRecv and
//! NBSendWait lends a passive receiver the sender's scheduling context, as
//! seL4 MCS does (a Call lends it through its Reply object). A receive on an endpoint names the Reply
//! object a Call it takes will wait on (MCS): argument `ARG_REPLY`, or
//! `ARG_SEND_RECV_REPLY` for NBSendRecv; CPtr 0 names none.

use crate::fault::{CapFaultCause, UserFaultKind};
use crate::object::handle::{EndpointRef, Thread};
use crate::object::tcb::ThreadState;
use crate::object::{endpoint, notification, reply};
use crate::syscall::invocation::Outcome;
use crate::{ipc, sched};
use keel_abi::syscall::{ARG_CAP, ARG_INFO, ARG_REPLY, ARG_SEND_RECV_REPLY, ARG_SEND_RECV_SOURCE};
use keel_abi::{CapRights, CapType, Error, LookupFailure, MessageInfo, Syscall};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::cspace::LookupError;
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

/// True when `cap`'s endpoint or notification is being destroyed: a
/// receive through it is refused as through an empty slot.
fn closing(cap: &Cap) -> bool {
    match cap.kind() {
        CapType::Endpoint => EndpointRef::from_cap(cap).is_some_and(endpoint::is_closing),
        _ => notification::is_closing(cap.paddr()),
    }
}

/// True when `cap` is an endpoint or notification cap with the read right.
fn can_receive(cap: &Cap) -> bool {
    (cap.is(CapType::Endpoint) || cap.is(CapType::Notification))
        && cap.rights_field().contains(CapRights::READ)
}

/// The Reply object a receive names (`Ok(None)` for CPtr 0), or the cap
/// fault of a CPtr that names no Reply cap.
fn reply_object(thread: Thread, syscall: Syscall) -> Result<Option<u64>, Outcome> {
    let n = match syscall {
        Syscall::Recv | Syscall::NBRecv | Syscall::ReplyRecv => ARG_REPLY,
        Syscall::NBSendRecv => ARG_SEND_RECV_REPLY,
        _ => return Ok(None),
    };
    let cptr = thread.syscall_arg(n);
    if cptr == 0 {
        return Ok(None);
    }
    match thread.lookup_cap(cptr) {
        Ok((_, cap)) if cap.kind() == CapType::Reply => Ok(Some(cap.paddr())),
        Ok(_) => Err(unusable_cap(cptr)),
        Err(e) => Err(cap_fault(cptr, true, e)),
    }
}

/// The cap fault of a system call whose cap `cptr` failed to look up
/// (`in_receive`: in a receive, seL4's InRecvPhase).
pub fn cap_fault(cptr: u64, in_receive: bool, lookup: LookupError) -> Outcome {
    let cause = CapFaultCause { in_receive, lookup };
    Outcome::Fault(UserFaultKind::CapFault(cause), cptr)
}

/// The cap fault of a receive through `cptr`, found but unable to serve:
/// seL4 reports it as a missing capability with no bits left.
fn unusable_cap(cptr: u64) -> Outcome {
    cap_fault(
        cptr,
        true,
        LookupError::new(LookupFailure::MissingCapability, 0),
    )
}

/// Sends (Send, NBSend, the send half of NBSendRecv and NBSendWait) from
/// `thread`, through the cap its first argument names. Only a Call hears of
/// an error, so a send without the write right, or to an empty slot, is
/// dropped here; so is a failed lookup, but for a Send.
pub fn send(thread: Thread, syscall: Syscall) -> Outcome {
    send_once(thread, syscall).0
}

/// [`send`]'s work: its outcome, and whether it invoked a kernel object.
#[inline(always)]
fn send_once(thread: Thread, syscall: Syscall) -> (Outcome, bool) {
    let cptr = thread.syscall_arg(ARG_CAP);
    match thread.lookup_cap(cptr) {
        Ok((slot, cap)) if invoked_by_send(&cap) => {
            (invoke_dropping_answer(thread, syscall, slot, cap), true)
        }
        Ok((_, cap)) => (
            send_through(thread, syscall, cap).unwrap_or(Outcome::Handled),
            false,
        ),
        Err(e) => (lookup_failed(syscall, cptr, e), false),
    }
}

/// What a send whose own or extra cap failed to look up comes to: a cap
/// fault for a Call or Send, nothing for a non-blocking send (seL4's
/// `isBlocking`).
fn lookup_failed(syscall: Syscall, cptr: u64, lookup: LookupError) -> Outcome {
    match syscall {
        Syscall::Call | Syscall::Send => cap_fault(cptr, false, lookup),
        _ => Outcome::Handled,
    }
}

/// A send through a cap to a kernel object: the invocation a Call would
/// make, its answer dropped (a Send still takes the cap fault of a cap its
/// message names). Out of line, so the IPC send path (a signal, a Send on
/// an endpoint) stays as short as it was.
#[inline(never)]
#[cold]
fn invoke_dropping_answer(thread: Thread, syscall: Syscall, slot: u64, cap: Cap) -> Outcome {
    match super::invocation::call(thread, slot, cap) {
        Ok(Outcome::Restart) => Outcome::Restart,
        Ok(fault @ Outcome::Fault(..)) if syscall == Syscall::Send => fault,
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

/// Sends from `thread` through `cap`, the cap its system call named (for a
/// Call, found by the dispatcher's own lookup). The caps the message names
/// are looked up first: one that fails is a cap fault for a Call or Send
/// and drops a non-blocking send. An endpoint or notification cap without
/// the write right, or a null cap, is an InvalidCapability error (the
/// invoked cap), as seL4's `decodeInvocation` gives it.
#[inline(always)]
pub fn send_through(thread: Thread, syscall: Syscall, cap: Cap) -> Result<Outcome, SyscallError> {
    let extra = MessageInfo::from_word(thread.syscall_arg(ARG_INFO)).extra_caps();
    if extra > 0 {
        let mut found =
            [(0, keel_kernel_core::cap::Cap::null()); keel_abi::invocation::MAX_EXTRA_CAPS];
        if let Err((cptr, e)) = ipc::caps::lookup_extra(thread, extra, &mut found) {
            return Ok(lookup_failed(syscall, cptr, e));
        }
    }
    match cap.kind() {
        CapType::Endpoint | CapType::Notification
            if !cap.rights_field().contains(CapRights::WRITE) =>
        {
            return Err(Error::InvalidCapability.into());
        }
        CapType::Endpoint if EndpointRef::from_cap(&cap).is_some_and(endpoint::is_closing) => {
            return Err(SyscallError::invalid_capability(0));
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
        _ => return Err(SyscallError::invalid_capability(0)),
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
        Err(fault) => return fault,
    };
    if let (Syscall::ReplyRecv, Some(reply)) = (syscall, reply) {
        ipc::reply(thread, reply);
    }
    let cptr = receive_cptr(thread, syscall);
    let cap = match thread.lookup_cap(cptr) {
        Ok((_, cap)) if can_receive(&cap) && !closing(&cap) => cap,
        Ok(_) => return unusable_cap(cptr),
        Err(e) => return cap_fault(cptr, true, e),
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
