//! Reply objects (MCS): the link from a Call to its answer, and the call
//! stack of Reply objects a donated scheduling context carries. The state
//! machine (what a Reply object names, how Calls, replies, deletions and
//! cancelled callers link and unlink it and its call stack) is the
//! capability core's (`keel_kernel_core::reply`, host-tested); this module
//! connects it to the kernel's TCBs, scheduling contexts and scheduler.
//! The IPC fast path calls the same steps one by one.

use crate::ipc::queue::{tcb, KernelThreads};
use crate::object::handle::Thread;
use crate::object::memory::KernelMemory;
use crate::object::sched_context::sc;
use crate::object::tcb::ThreadState;
use crate::sched;
use keel_kernel_core::reply::{self as core_reply, Donation, Reply, ReplyThreads};

impl Donation for KernelThreads {
    #[inline(always)]
    fn context_of(&self, thread: u64) -> u64 {
        tcb(thread).sched_context()
    }

    #[inline(always)]
    fn holder(&self, context: u64) -> u64 {
        sc(context).tcb()
    }

    fn donate(&mut self, context: u64, from: u64, to: u64) {
        sched::donate(context, Thread::from_link(from), Thread::from_link(to));
    }
}

impl ReplyThreads for KernelThreads {
    #[inline(always)]
    fn reply_of(&self, thread: u64) -> u64 {
        tcb(thread).reply()
    }

    #[inline(always)]
    fn set_reply_of(&mut self, thread: u64, reply: u64) {
        tcb(thread).set_reply(reply);
    }

    #[inline(always)]
    fn waits_for_reply(&self, thread: u64) -> bool {
        tcb(thread).state() == ThreadState::BlockedOnReply
    }

    #[inline(always)]
    fn set_waiting_for_reply(&mut self, thread: u64) {
        sched::set_unqueued_state(tcb(thread), ThreadState::BlockedOnReply);
    }

    #[inline(always)]
    fn receive_can_grant(&self, thread: u64) -> bool {
        tcb(thread).receive_can_grant()
    }

    fn dequeue(&mut self, thread: u64) {
        sched::dequeue(tcb(thread));
    }

    fn make_inactive(&mut self, thread: u64) {
        // A caller that can no longer be answered makes its Call again if
        // it is restarted (seL4's restart PC).
        crate::ipc::rewind(tcb(thread));
        sched::make_inactive(tcb(thread));
    }

    #[inline(always)]
    fn call_stack(&self, context: u64) -> u64 {
        sc(context).reply()
    }

    #[inline(always)]
    fn set_call_stack(&mut self, context: u64, reply: u64) {
        sc(context).set_reply(reply);
    }
}

/// The thread the Reply object names: a receiver waiting with it, or a
/// caller waiting on it (0: none).
#[inline(always)]
pub fn thread(reply: u64) -> u64 {
    Reply::at(reply).thread(&KernelMemory)
}

/// Whether a reply through it may carry caps.
#[inline(always)]
pub fn can_grant(reply: u64) -> bool {
    Reply::at(reply).can_grant(&KernelMemory)
}

/// `receiver` is about to receive with `reply`: a caller still waiting on
/// it loses its reply (seL4: it becomes inactive), another receiver
/// waiting with it loses it; then `reply` names `receiver`.
#[inline(always)]
pub fn start_receive(reply: u64, receiver: u64) {
    Reply::at(reply).start_receive(&mut KernelMemory, &mut KernelThreads, receiver);
}

/// [`start_receive`] with a Reply object that names no thread (the IPC
/// fast path's, which has just answered through it).
#[inline(always)]
pub fn link_receiver(reply: u64, receiver: u64) {
    Reply::at(reply).link_receiver(&mut KernelMemory, &mut KernelThreads, receiver);
}

/// `receiver`'s receive is over without a Call to answer: it drops its
/// Reply object, if it still names it.
#[inline(always)]
pub fn end_receive(receiver: u64) {
    core_reply::end_receive(&mut KernelMemory, &mut KernelThreads, receiver);
}

/// A Call from `caller` reached `callee`, which received with a Reply
/// object: the caller waits on it. With `can_donate` and a passive callee
/// (no scheduling context), the caller's context goes to the callee and
/// onto the context's call stack. False when the callee has no Reply
/// object: then nobody can answer, and the caller is left inactive (seL4).
#[inline(always)]
pub fn push(caller: u64, callee: u64, can_donate: bool) -> bool {
    core_reply::push(
        &mut KernelMemory,
        &mut KernelThreads,
        caller,
        callee,
        can_donate,
    )
}

/// True when `receiver` waits with the Reply object `reply` (0: none).
#[inline(always)]
pub fn receives_with(receiver: u64, reply: u64) -> bool {
    core_reply::receives_with(&KernelMemory, receiver, reply)
}

/// The Call from `caller` reached `callee`, which received with `reply`:
/// the caller now waits on it.
#[inline(always)]
pub fn link_caller(reply: u64, caller: u64, callee: u64) {
    Reply::at(reply).link_caller(&mut KernelMemory, &mut KernelThreads, caller, callee);
}

/// Puts `reply` on top of the call stack of `context`, which its Call
/// donates.
#[inline(always)]
pub fn stack_push(reply: u64, context: u64) {
    Reply::at(reply).stack_push(&mut KernelMemory, &mut KernelThreads, context);
}

/// True when `reply` is on top of the call stack of `context`: replying
/// through it returns that context to its caller.
#[inline(always)]
pub fn is_top_of(reply: u64, context: u64) -> bool {
    Reply::at(reply).is_top_of(&KernelMemory, context)
}

/// Takes `reply`, on top of the call stack of `context`, off it; the
/// context itself is the caller's to move.
#[inline(always)]
pub fn stack_pop(reply: u64, context: u64) {
    Reply::at(reply).stack_pop(&mut KernelMemory, &mut KernelThreads, context);
}

/// Answers the caller waiting on `reply`: off the call stack (its donated
/// context comes back) and no longer waiting. Returns the caller, to
/// receive the message and run; `None` when nobody waits on it.
#[inline(always)]
pub fn pop(reply: u64) -> Option<u64> {
    Reply::at(reply).pop(&mut KernelMemory, &mut KernelThreads)
}

/// `caller`, which waited on `reply`, is answered: the two part.
#[inline(always)]
pub fn unlink_answered(reply: u64, caller: u64) {
    Reply::at(reply).unlink_answered(&mut KernelMemory, &mut KernelThreads, caller);
}

/// `caller` stops waiting on its Reply object (it is suspended or
/// destroyed): the object forgets it; a context it donated stays with the
/// server, and its call stack breaks there (seL4's rule).
pub fn cancel_caller(caller: u64) {
    core_reply::cancel_caller(&mut KernelMemory, &mut KernelThreads, caller);
}

/// The context `sc_object` is going away: the Reply object on top of its
/// call stack no longer leads to it.
pub fn detach_context(sc_object: u64) {
    core_reply::detach_context(&mut KernelMemory, &mut KernelThreads, sc_object);
}

/// The last cap to the Reply object is being deleted: a caller still
/// waiting on it can never be answered and becomes inactive (a context it
/// donated comes back to it first).
pub fn finalise(reply: u64) {
    Reply::at(reply).remove(&mut KernelMemory, &mut KernelThreads);
}
