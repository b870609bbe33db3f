//! The Reply object state machine (MCS): the link from a Call to its
//! answer. A receiver names a Reply object in Recv; while it waits there the
//! object names the receiver, and once a Call arrives it names the caller,
//! who waits on it until someone replies through it.
//!
//! When the Call donated the caller's scheduling context to a passive
//! server, the Reply object is also on that context's call stack: a chain of
//! Reply objects from the context (top) down, one per nested donating Call.
//! Replying through the top one, or deleting it, returns the context to its
//! caller; replying through or deleting one below the top, or cancelling a
//! caller, breaks the chain there, as seL4 does: the context keeps the Reply
//! objects above the break, and those below it lead to no context.
//!
//! ```text
//!  SchedContext.reply --> R2 (caller S1) --prev--> R1 (caller C) --prev--> 0
//!                  ^------- next = SC -'  ^--------- next = R2 ---'
//! ```
//!
//! What happens to threads and scheduling contexts (their fields, the run
//! queues, moving a context) is the kernel's, behind [`ReplyThreads`] and
//! [`Donation`], so the state machine runs the same on the host.

use crate::object_memory::ObjectMemory;
use core::mem::{offset_of, size_of};
use keel_abi::object::REPLY_BITS;

/// The words of a Reply object, in memory order (all zero: unused).
#[repr(C)]
pub struct ReplyLayout {
    /// The thread it names: a receiver waiting with it, or a caller waiting
    /// on it (0: none).
    pub thread: u64,
    /// The Reply object below it on a call stack (0: none).
    pub prev: u64,
    /// The Reply object above it on a call stack, or at the top its
    /// scheduling context tagged with [`SC_TAG`] ([`SC_TAG`] alone once
    /// that context is deleted; 0: on no stack).
    pub next: u64,
    /// Whether a reply through it may carry caps (0 or 1).
    pub can_grant: u64,
}

const _: () = assert!(size_of::<ReplyLayout>() == 1 << REPLY_BITS);

const THREAD: u64 = offset_of!(ReplyLayout, thread) as u64;
const PREV: u64 = offset_of!(ReplyLayout, prev) as u64;
const NEXT: u64 = offset_of!(ReplyLayout, next) as u64;
const CAN_GRANT: u64 = offset_of!(ReplyLayout, can_grant) as u64;

/// Tags a scheduling context's address in a `next` word (objects are at
/// least 32-byte aligned, so bit 0 is free).
pub const SC_TAG: u64 = 1;

/// Who runs on which scheduling context (threads and contexts named by
/// their object addresses, 0: none).
pub trait Donation {
    /// The context `thread` runs on.
    fn context_of(&self, thread: u64) -> u64;
    /// The thread running on `context`.
    fn holder(&self, context: u64) -> u64;
    /// Moves `context` from `from` to `to` (either 0: nobody); a `to` with
    /// a context of its own leaves it with nobody.
    fn donate(&mut self, context: u64, from: u64, to: u64);
}

/// What the state machine asks of the kernel's threads and contexts.
pub trait ReplyThreads: Donation {
    /// The Reply object `thread` receives with or waits on (0: none).
    fn reply_of(&self, thread: u64) -> u64;
    /// Records `reply` (0: none) as `thread`'s Reply object.
    fn set_reply_of(&mut self, thread: u64, reply: u64);
    /// `thread` waits for a reply.
    fn waits_for_reply(&self, thread: u64) -> bool;
    /// `thread` (already off the run queues) now waits for a reply.
    fn set_waiting_for_reply(&mut self, thread: u64);
    /// `thread` received with a cap that had the grant right.
    fn receive_can_grant(&self, thread: u64) -> bool;
    /// `thread` leaves the run queues.
    fn dequeue(&mut self, thread: u64);
    /// `thread` stops: nothing will ever wake it.
    fn make_inactive(&mut self, thread: u64);
    /// The Reply object on top of `context`'s call stack (0: none).
    fn call_stack(&self, context: u64) -> u64;
    /// Records `reply` (0: none) as the top of `context`'s call stack.
    fn set_call_stack(&mut self, context: u64, reply: u64);
}

/// The Reply object at a physical address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply(u64);

impl Reply {
    /// The Reply object at `paddr`.
    pub const fn at(paddr: u64) -> Reply {
        Reply(paddr)
    }

    fn read(self, mem: &impl ObjectMemory, field: u64) -> u64 {
        mem.read(self.0 + field)
    }

    fn write(self, mem: &mut impl ObjectMemory, field: u64, value: u64) {
        mem.write(self.0 + field, value);
    }

    /// The thread it names: a receiver waiting with it, or a caller waiting
    /// on it (0: none).
    #[inline]
    pub fn thread(self, mem: &impl ObjectMemory) -> u64 {
        self.read(mem, THREAD)
    }

    /// Whether a reply through it may carry caps.
    pub fn can_grant(self, mem: &impl ObjectMemory) -> bool {
        self.read(mem, CAN_GRANT) != 0
    }

    /// The Reply object below it on its call stack (0: none).
    pub fn below(self, mem: &impl ObjectMemory) -> u64 {
        self.read(mem, PREV)
    }

    /// The word above it on its call stack: a Reply object, its context
    /// tagged with [`SC_TAG`] ([`SC_TAG`] alone when that context was
    /// deleted), or 0 on no stack.
    pub fn above(self, mem: &impl ObjectMemory) -> u64 {
        self.read(mem, NEXT)
    }

    /// `receiver` is about to receive with it: a caller still waiting on it
    /// loses its reply (it becomes inactive), another receiver waiting with
    /// it loses it; then it names `receiver`.
    #[inline(always)]
    pub fn start_receive<M: ObjectMemory, T: ReplyThreads>(
        self,
        mem: &mut M,
        threads: &mut T,
        receiver: u64,
    ) {
        let previous = self.thread(mem);
        if previous != 0 && previous != receiver {
            if threads.waits_for_reply(previous) {
                self.remove(mem, threads);
            } else {
                self.unlink(mem, threads, previous);
            }
        }
        self.link_receiver(mem, threads, receiver);
    }

    /// [`Reply::start_receive`] when it names no thread (the IPC fast
    /// path's, which has just answered through it).
    #[inline(always)]
    pub fn link_receiver<M: ObjectMemory, T: ReplyThreads>(
        self,
        mem: &mut M,
        threads: &mut T,
        receiver: u64,
    ) {
        self.write(mem, THREAD, receiver);
        threads.set_reply_of(receiver, self.0);
    }

    /// Breaks the link between it and `thread`.
    #[inline]
    fn unlink<M: ObjectMemory, T: ReplyThreads>(self, mem: &mut M, threads: &mut T, thread: u64) {
        self.write(mem, THREAD, 0);
        if threads.reply_of(thread) == self.0 {
            threads.set_reply_of(thread, 0);
        }
    }

    /// The Call from `caller` reached `callee`, which received with it: the
    /// caller now waits on it (a reply may carry caps if the callee
    /// received with the grant right).
    #[inline]
    pub fn link_caller<M: ObjectMemory, T: ReplyThreads>(
        self,
        mem: &mut M,
        threads: &mut T,
        caller: u64,
        callee: u64,
    ) {
        threads.set_reply_of(callee, 0);
        self.write(mem, THREAD, caller);
        self.write(mem, CAN_GRANT, u64::from(threads.receive_can_grant(callee)));
        threads.set_waiting_for_reply(caller);
        threads.set_reply_of(caller, self.0);
    }

    /// Puts it on top of the call stack of `context`, which its Call donates.
    #[inline]
    pub fn stack_push<M: ObjectMemory, T: ReplyThreads>(
        self,
        mem: &mut M,
        threads: &mut T,
        context: u64,
    ) {
        let below = threads.call_stack(context);
        self.write(mem, PREV, below);
        self.write(mem, NEXT, context | SC_TAG);
        if below != 0 {
            Reply(below).write(mem, NEXT, self.0);
        }
        threads.set_call_stack(context, self.0);
    }

    /// True when it is on top of the call stack of `context`: replying
    /// through it returns that context to its caller.
    #[inline]
    pub fn is_top_of(self, mem: &impl ObjectMemory, context: u64) -> bool {
        self.read(mem, NEXT) == context | SC_TAG
    }

    /// Takes it, on top of the call stack of `context`, off that stack; the
    /// context itself is the caller's to move.
    #[inline]
    pub fn stack_pop<M: ObjectMemory, T: ReplyThreads>(
        self,
        mem: &mut M,
        threads: &mut T,
        context: u64,
    ) {
        let below = self.read(mem, PREV);
        threads.set_call_stack(context, below);
        if below != 0 {
            Reply(below).write(mem, NEXT, context | SC_TAG);
        }
        self.write(mem, PREV, 0);
        self.write(mem, NEXT, 0);
    }

    /// Takes it off the call stack it is on. At the top, its context goes
    /// back to `to` (its caller) when `give_back`, and the Reply object below
    /// tops the stack; otherwise, and anywhere below the top, the context
    /// stays where it is and the chain breaks there: the context keeps only
    /// the Reply objects above, and those below lead to no context (seL4's
    /// `reply_remove` and `reply_remove_tcb`).
    #[inline]
    fn take_off_stack<M: ObjectMemory, T: ReplyThreads>(
        self,
        mem: &mut M,
        threads: &mut T,
        to: u64,
        give_back: bool,
    ) {
        let (prev, next) = (self.read(mem, PREV), self.read(mem, NEXT));
        if next == 0 && prev == 0 {
            return;
        }
        if next == SC_TAG {
            // It tops a chain whose context was deleted: the one below does now.
            if prev != 0 {
                Reply(prev).write(mem, NEXT, SC_TAG);
            }
            self.write(mem, PREV, 0);
            self.write(mem, NEXT, 0);
            return;
        }
        if next & SC_TAG != 0 && give_back {
            let context = next & !SC_TAG;
            self.stack_pop(mem, threads, context);
            let holder = threads.holder(context);
            threads.donate(context, holder, to);
            return;
        }
        if next & SC_TAG != 0 {
            threads.set_call_stack(next & !SC_TAG, 0);
        } else if next != 0 {
            Reply(next).write(mem, PREV, 0);
        }
        if prev != 0 {
            Reply(prev).write(mem, NEXT, 0);
        }
        self.write(mem, PREV, 0);
        self.write(mem, NEXT, 0);
    }

    /// Answers the caller waiting on it: off the call stack (its donated
    /// context comes back) and no longer waiting. Returns the caller, to
    /// receive the message and run; `None` when nobody waits on it.
    #[inline]
    pub fn pop<M: ObjectMemory, T: ReplyThreads>(
        self,
        mem: &mut M,
        threads: &mut T,
    ) -> Option<u64> {
        let caller = self.thread(mem);
        if caller == 0 || !threads.waits_for_reply(caller) {
            return None;
        }
        self.take_off_stack(mem, threads, caller, true);
        self.unlink_answered(mem, threads, caller);
        Some(caller)
    }

    /// `caller`, which waited on it, is answered: the two part.
    #[inline]
    pub fn unlink_answered<M: ObjectMemory, T: ReplyThreads>(
        self,
        mem: &mut M,
        threads: &mut T,
        caller: u64,
    ) {
        self.write(mem, THREAD, 0);
        self.write(mem, CAN_GRANT, 0);
        threads.set_reply_of(caller, 0);
    }

    /// It is going away, or reused while its caller waits: the caller can
    /// never be answered and becomes inactive; a context donated through it
    /// at the top of its stack goes back to the caller first.
    pub fn remove<M: ObjectMemory, T: ReplyThreads>(self, mem: &mut M, threads: &mut T) {
        let thread = self.thread(mem);
        if thread == 0 {
            return;
        }
        if threads.waits_for_reply(thread) {
            self.take_off_stack(mem, threads, thread, true);
            threads.make_inactive(thread);
        }
        self.unlink(mem, threads, thread);
        self.write(mem, CAN_GRANT, 0);
    }
}

/// True when `receiver` waits with the Reply object `reply` (0: none).
#[inline]
pub fn receives_with(mem: &impl ObjectMemory, receiver: u64, reply: u64) -> bool {
    reply != 0 && Reply::at(reply).thread(mem) == receiver
}

/// `receiver`'s receive is over without a Call to answer: it drops its
/// Reply object, if that still names it.
pub fn end_receive<M: ObjectMemory, T: ReplyThreads>(mem: &mut M, threads: &mut T, receiver: u64) {
    let reply = threads.reply_of(receiver);
    if receives_with(mem, receiver, reply) {
        Reply::at(reply).unlink(mem, threads, receiver);
    }
}

/// A Call from `caller` reached `callee`: the caller leaves the run queues
/// and waits on the Reply object `callee` received with. With `can_donate`
/// and a passive callee (no scheduling context), the caller's context goes
/// to the callee and onto the context's call stack. False when the callee
/// has no Reply object: then nobody can answer, and the caller is left
/// inactive (seL4's rule).
#[inline]
pub fn push<M: ObjectMemory, T: ReplyThreads>(
    mem: &mut M,
    threads: &mut T,
    caller: u64,
    callee: u64,
    can_donate: bool,
) -> bool {
    let reply = threads.reply_of(callee);
    threads.dequeue(caller);
    if !receives_with(mem, callee, reply) {
        threads.make_inactive(caller);
        return false;
    }
    let reply = Reply::at(reply);
    reply.link_caller(mem, threads, caller, callee);
    let context = threads.context_of(caller);
    if can_donate && context != 0 && threads.context_of(callee) == 0 {
        reply.stack_push(mem, threads, context);
        threads.donate(context, caller, callee);
    }
    true
}

/// `caller` stops waiting on its Reply object (it is suspended or
/// destroyed): the object forgets it; a context it donated stays with the
/// server, and its call stack breaks there (seL4's rule).
pub fn cancel_caller<M: ObjectMemory, T: ReplyThreads>(mem: &mut M, threads: &mut T, caller: u64) {
    let reply = threads.reply_of(caller);
    if reply == 0 || Reply(reply).thread(mem) != caller {
        return;
    }
    let reply = Reply::at(reply);
    reply.take_off_stack(mem, threads, caller, false);
    reply.unlink(mem, threads, caller);
    reply.write(mem, CAN_GRANT, 0);
}

/// The scheduling context `context` is going away: the Reply object on top
/// of its call stack no longer leads to it, but still tops the chain below.
pub fn detach_context<M: ObjectMemory, T: ReplyThreads>(
    mem: &mut M,
    threads: &mut T,
    context: u64,
) {
    let top = threads.call_stack(context);
    threads.set_call_stack(context, 0);
    if top != 0 {
        Reply(top).write(mem, NEXT, SC_TAG);
    }
}

#[cfg(test)]
#[path = "reply_tests.rs"]
mod tests;
