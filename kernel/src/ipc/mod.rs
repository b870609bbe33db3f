//! Moving messages between threads: the transfer of the message info, badge
//! and message registers (the first four in registers, the rest through the
//! IPC buffers), replies to Calls, signals, and taking a thread out of
//! whatever IPC it is blocked in. Endpoint and notification state machines
//! are in `object::endpoint` and `object::notification`, Reply objects in
//! `object::reply`; capability transfer is in `caps`.

pub mod caps;
pub mod queue;

use crate::object::handle::{EndpointRef, Thread};
use crate::object::memory::KernelMemory;
use crate::object::sched_context::{sc, take_consumed};
use crate::object::tcb::ThreadState;
use crate::object::{endpoint, notification, reply};
use crate::sched;
use keel_abi::fault::FaultType;
use keel_abi::invocation::{IpcBuffer, MESSAGE_REGISTERS_IN_REGS};
use keel_abi::registers;
use keel_abi::syscall::ARG_INFO;
use keel_abi::MessageInfo;
use keel_kernel_core::object_memory::ObjectMemory;
use queue::tcb;

/// Whether the message's caps may be transferred: the sender used an
/// endpoint cap with the grant right (caps go, or are unwrapped, against
/// that endpoint).
#[derive(Clone, Copy)]
pub enum Caps {
    /// Caps named by the sender are transferred.
    Granted {
        /// The endpoint the message goes through, whose badged caps are
        /// unwrapped (none for a reply).
        endpoint: Option<u64>,
    },
    /// No caps go with the message.
    None,
}

fn msg_word(buffer: u64, i: usize) -> u64 {
    buffer + core::mem::offset_of!(IpcBuffer, msg) as u64 + 8 * i as u64
}

/// Message register `i` of what `sender` sends: its pending fault message,
/// or the message of its system call (registers, then its IPC buffer at
/// `buffer`, 0 for none).
fn sent_word(sender: Thread, buffer: u64, i: usize) -> u64 {
    let s = sender;
    if s.fault_label() != 0 {
        return s.fault_word(i);
    }
    match (i, buffer) {
        (0..MESSAGE_REGISTERS_IN_REGS, _) => s.syscall_arg(2 + i),
        (_, 0) => 0,
        (_, buffer) => KernelMemory.read(msg_word(buffer, i)),
    }
}

/// The label and length of what `sender` sends.
fn sent_info(sender: Thread) -> (u64, usize) {
    let s = sender;
    if s.fault_label() != 0 {
        return (s.fault_label(), s.fault_length());
    }
    let info = MessageInfo::from_word(s.syscall_arg(ARG_INFO));
    (info.label(), info.bounded_length())
}

/// Copies the message `sender` is sending (a fault message, or its info word,
/// message registers and, when granted, caps as saved at its system call) to
/// `receiver` with `badge`, and writes the receiver's result registers.
pub fn transfer(sender: Thread, receiver: Thread, badge: u64, caps: Caps) {
    let (label, mut length) = sent_info(sender);
    let from_fault = sender.fault_label() != 0;
    let (from_buffer, to_buffer) = (sender.ipc_buffer(), receiver.ipc_buffer());
    if (from_buffer == 0 && !from_fault) || to_buffer == 0 {
        length = length.min(MESSAGE_REGISTERS_IN_REGS);
    }
    let mut mem = KernelMemory;
    for i in MESSAGE_REGISTERS_IN_REGS..length {
        mem.write(msg_word(to_buffer, i), sent_word(sender, from_buffer, i));
    }
    let (extra, unwrapped) = match caps {
        Caps::Granted { endpoint } if !from_fault => {
            let named = MessageInfo::from_word(sender.syscall_arg(ARG_INFO)).extra_caps();
            caps::transfer(sender, receiver, endpoint, named)
        }
        _ => (0, 0),
    };
    let delivered = MessageInfo::new(label, unwrapped, extra as u64, length as u64);
    let mr = |i: usize| {
        if i < length {
            sent_word(sender, from_buffer, i)
        } else {
            0
        }
    };
    receiver.set_syscall_result([delivered.word(), badge, mr(0), mr(1), mr(2), mr(3)]);
}

/// Writes an empty message with badge 0 (a receive that found nothing).
pub fn deliver_nothing(receiver: Thread) {
    receiver.set_syscall_result([0; 6]);
}

/// Writes a notification's word as the badge of an empty message.
pub fn deliver_signal(receiver: Thread, word: u64) {
    receiver.set_syscall_result([0, word, 0, 0, 0, 0]);
}

/// A Call from `caller` reached `callee`: the caller waits on the Reply
/// object `callee` received with, and a passive callee runs on the
/// caller's scheduling context (not for a timeout fault: that context has
/// no budget left). Without a Reply object the caller is left inactive.
pub fn wait_for_reply(caller: Thread, callee: Thread) {
    let can_donate = caller.fault_label() != FaultType::Timeout as u64;
    reply::push(caller.addr(), callee.addr(), can_donate);
}

/// `replier` answers the caller waiting on the Reply object `reply_object`, if
/// one waits. A caller that faulted is resumed as its fault type says.
pub fn reply(replier: Thread, reply_object: u64) {
    let caps = match reply::can_grant(reply_object) {
        true => Caps::Granted { endpoint: None },
        false => Caps::None,
    };
    let Some(caller) = reply::pop(reply_object).map(tcb) else {
        return;
    };
    if caller.fault_label() == 0 {
        transfer(replier, caller, 0, caps);
        if !timeout_on_answer(caller) {
            sched::make_runnable(caller);
        }
    } else {
        resume_from_fault(replier, caller);
    }
}

/// A caller answered on a scheduling context whose budget is spent (not a
/// round-robin one) reports it to its timeout endpoint, if it has one,
/// rather than waiting for the refill, as seL4's reply transfer does: the
/// answer is in its registers, and the handler decides. True when it did.
fn timeout_on_answer(caller: Thread) -> bool {
    // The cheap questions first: most answers go to a round-robin or
    // unspent context, and a caller without a timeout handler is rarer.
    let context = caller.sched_context();
    if context == 0 {
        return false;
    }
    let s = sc(context);
    if !s.configured() || s.is_round_robin() || !crate::fault::has_timeout_handler(caller) {
        return false;
    }
    if s.can_run_now(sched::now()) {
        return false;
    }
    let consumed = take_consumed(s);
    crate::fault::raise_timeout(caller, s.badge(), consumed);
    true
}

/// Handles the reply to a fault message (see `keel_abi::fault`).
fn resume_from_fault(replier: Thread, faulter: Thread) {
    let (label, length) = sent_info(replier);
    let buffer = replier.ipc_buffer();
    let fault = FaultType::try_from(faulter.take_fault_label());
    // Word i of the reply goes into register `registers[i]`.
    let restore = |registers: &[usize]| {
        for (i, &r) in registers.iter().enumerate().take(length) {
            let value = sent_word(replier, buffer, i);
            faulter.set_register(r, value);
        }
    };
    let resume = match fault {
        Ok(FaultType::UserException) if label == 0 => {
            restore(&[registers::PC, registers::SP, registers::FLAGS]);
            true
        }
        Ok(FaultType::UnknownSyscall) if label == 0 => {
            restore(keel_abi::fault::unknown_syscall_registers(
                crate::arch::ARCH,
            ));
            true
        }
        Ok(FaultType::Timeout) if label == 0 => {
            restore(keel_abi::fault::timeout_reply_registers(crate::arch::ARCH));
            true
        }
        Ok(FaultType::UserException | FaultType::UnknownSyscall | FaultType::Timeout) => false,
        _ => true,
    };
    if resume {
        sched::make_runnable(faulter);
    } else {
        sched::make_inactive(faulter);
    }
}

/// Makes a blocked thread run again because its object is going away: a
/// system call is re-run; a thread that was reporting a fault re-runs the
/// faulting instruction (or, for an unknown system call, the call), and so
/// faults again.
pub fn restart(thread: Thread) {
    rewind(thread);
    thread.set_fault_label(0);
    sched::make_runnable(thread);
}

/// Puts a thread stopped in a system call back on it, so that it makes
/// the call again when it next runs (seL4's restart PC): a plain system
/// call or an unknown one (which then faults again) is rewound; cap faults
/// were already rewound onto the call, and other faults sit on the
/// faulting instruction.
pub fn rewind(thread: Thread) {
    match thread.fault_label() {
        0 => thread.restart_syscall(),
        label if label == FaultType::UnknownSyscall as u64 => thread.restart_syscall(),
        _ => {}
    }
}

/// Takes `thread` out of any IPC it is blocked in and off any reply
/// relation, and drops a fault it was reporting (resumed, it faults again);
/// its state is left to the caller to set.
pub fn cancel(thread: Thread) {
    thread.set_fault_label(0);
    let (state, object) = (thread.state(), thread.blocked_on());
    match state {
        ThreadState::BlockedOnSend => endpoint::take_off(EndpointRef::linked(object), thread),
        ThreadState::BlockedOnReceive => {
            endpoint::take_off(EndpointRef::linked(object), thread);
            reply::end_receive(thread.addr());
        }
        ThreadState::BlockedOnNotification => notification::take_off(object, thread.addr()),
        ThreadState::BlockedOnReply => reply::cancel_caller(thread.addr()),
        ThreadState::Inactive | ThreadState::Running => {}
    }
}

/// `thread` has a new priority: if it waits in an endpoint's or a
/// notification's queue it moves to its new place there, as seL4 re-queues
/// a blocked thread whose priority is set.
pub fn reorder(thread: Thread) {
    let object = thread.blocked_on();
    match thread.state() {
        ThreadState::BlockedOnSend | ThreadState::BlockedOnReceive => {
            endpoint::reorder(EndpointRef::linked(object), thread);
        }
        ThreadState::BlockedOnNotification => notification::reorder(object, thread.addr()),
        ThreadState::BlockedOnReply | ThreadState::Inactive | ThreadState::Running => {}
    }
}

/// Stops a thread: out of every queue and reply relation, inactive. A
/// thread blocked in IPC is put back on its system call, which it makes
/// again when resumed (as seL4 restarts it); a running one goes on from
/// where it was.
pub fn stop_thread(thread: Thread) {
    if !matches!(thread.state(), ThreadState::Inactive | ThreadState::Running) {
        rewind(thread);
    }
    cancel(thread);
    crate::object::sched_context::cancel_yield(thread);
    sched::make_inactive(thread);
}

/// TCB_Resume: runs a thread seL4 counts as stopped (seL4's `isStopped`),
/// an inactive one or one waiting for a reply. One waiting for a reply
/// leaves its Reply object and makes its Call again (seL4's restart PC); one
/// that was reporting a fault drops it and faults again. Any other state is
/// left alone.
pub fn resume_stopped(thread: Thread) {
    match thread.state() {
        ThreadState::Inactive => sched::make_runnable(thread),
        ThreadState::BlockedOnReply => {
            rewind(thread);
            cancel(thread);
            sched::make_runnable(thread);
        }
        _ => {}
    }
}

/// The thread is being destroyed: stop it and unbind its notification. A
/// caller waiting on a Reply object it received stays blocked until the
/// Reply object is used or deleted (seL4's rule).
pub fn destroy_thread(thread: Thread) {
    stop_thread(thread);
    notification::unbind(thread.addr());
}
