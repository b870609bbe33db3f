//! Reply objects (MCS): the link from a Call to its answer. A receiver
//! names a Reply object in Recv; while it waits there the object names the
//! receiver, and once a Call arrives it names the caller, who waits on it
//! until someone replies through it (a Send on the Reply cap, or ReplyRecv).
//!
//! When the Call donated the caller's scheduling context to a passive
//! server, the Reply object is also on that context's call stack: a chain
//! of Reply objects from the context (top) down, one per nested donating
//! Call. Replying through the top one returns the context to its caller.
//!
//! ```text
//!  SchedContext.reply --> R2 (caller S1) --prev--> R1 (caller C) --prev--> 0
//!                  ^------- next = SC -'  ^--------- next = R2 ---'
//! ```
//!
//! A Reply object (32 bytes) holds four words: the thread (receiver or
//! caller), the Reply below it on the call stack, the one above it (or its
//! SchedContext, tagged with bit 0, at the top), and whether the reply may
//! carry caps. Zero is an unused Reply object.

use crate::ipc::queue::tcb;
use crate::object::handle::Thread;
use crate::object::memory::KernelMemory;
use crate::object::sched_context::sc;
use crate::object::tcb::ThreadState;
use crate::sched;
use keel_kernel_core::object_memory::ObjectMemory;

const THREAD: u64 = 0;
const PREV: u64 = 8;
const NEXT: u64 = 16;
const CAN_GRANT: u64 = 24;

/// Tags a SchedContext address in a `NEXT` word (objects are at least
/// 32-byte aligned, so bit 0 is free).
const SC_TAG: u64 = 1;

fn read(reply: u64, field: u64) -> u64 {
    KernelMemory.read(reply + field)
}

fn write(reply: u64, field: u64, value: u64) {
    KernelMemory.write(reply + field, value);
}

/// The thread the Reply object names: a receiver waiting with it, or a
/// caller waiting on it (0: none).
pub fn thread(reply: u64) -> u64 {
    read(reply, THREAD)
}

/// Whether a reply through it may carry caps.
pub fn can_grant(reply: u64) -> bool {
    read(reply, CAN_GRANT) != 0
}

/// `receiver` is about to receive with `reply`: a caller still waiting on
/// it loses its reply (seL4: it becomes inactive), another receiver
/// waiting with it loses it; then `reply` names `receiver`.
#[inline(always)]
pub fn start_receive(reply: u64, receiver: u64) {
    let previous = thread(reply);
    if previous != 0 && previous != receiver {
        match tcb(previous).state() {
            ThreadState::BlockedOnReply => remove(reply),
            _ => unlink(reply, previous),
        }
    }
    link_receiver(reply, receiver);
}

/// [`start_receive`] with a Reply object that names no thread (the IPC
/// fast path's, which has just answered through it).
#[inline(always)]
pub fn link_receiver(reply: u64, receiver: u64) {
    write(reply, THREAD, receiver);
    tcb(receiver).set_reply(reply);
}

/// `receiver`'s receive is over without a Call to answer: it drops its
/// Reply object, if it still names it.
pub fn end_receive(receiver: u64) {
    let reply = tcb(receiver).reply();
    if reply != 0 && thread(reply) == receiver {
        unlink(reply, receiver);
    }
}

/// Breaks the link between `reply` and `thread`.
#[inline]
fn unlink(reply: u64, thread: u64) {
    write(reply, THREAD, 0);
    if tcb(thread).reply() == reply {
        tcb(thread).set_reply(0);
    }
}

/// A Call from `caller` reached `callee`, which received with a Reply
/// object: the caller waits on it. With `can_donate` and a passive callee
/// (no scheduling context), the caller's context goes to the callee and
/// onto the context's call stack. False when the callee has no Reply
/// object: then nobody can answer, and the caller is left inactive (seL4).
#[inline]
pub fn push(caller: u64, callee: u64, can_donate: bool) -> bool {
    let reply = tcb(callee).reply();
    sched::dequeue(tcb(caller));
    if !receives_with(callee, reply) {
        sched::set_thread_state(tcb(caller), ThreadState::Inactive);
        return false;
    }
    link_caller(reply, caller, callee);
    let context = tcb(caller).sched_context();
    if can_donate && context != 0 && tcb(callee).sched_context() == 0 {
        stack_push(reply, context);
        sched::donate(context, Some(tcb(caller)), Some(tcb(callee)));
    }
    true
}

/// True when `receiver` waits with the Reply object `reply` (non-zero).
#[inline]
pub fn receives_with(receiver: u64, reply: u64) -> bool {
    reply != 0 && thread(reply) == receiver
}

/// The Call from `caller` (off the run queue) reached `callee`, which
/// received with `reply`: the caller now waits on it.
#[inline]
pub fn link_caller(reply: u64, caller: u64, callee: u64) {
    tcb(callee).set_reply(0);
    write(reply, THREAD, caller);
    write(reply, CAN_GRANT, u64::from(tcb(callee).receive_can_grant()));
    let c = tcb(caller);
    sched::set_unqueued_state(tcb(caller), ThreadState::BlockedOnReply);
    c.set_reply(reply);
}

/// Puts `reply` on top of the call stack of `context`, which its Call
/// donates.
#[inline]
pub fn stack_push(reply: u64, context: u64) {
    let below = sc(context).reply();
    write(reply, PREV, below);
    write(reply, NEXT, context | SC_TAG);
    if below != 0 {
        write(below, NEXT, reply);
    }
    sc(context).set_reply(reply);
}

/// True when `reply` is on top of the call stack of `context`: replying
/// through it returns that context to its caller.
#[inline]
pub fn is_top_of(reply: u64, context: u64) -> bool {
    read(reply, NEXT) == context | SC_TAG
}

/// Takes `reply`, on top of the call stack of `context`, off it; the
/// context itself is the caller's to move.
#[inline]
pub fn stack_pop(reply: u64, context: u64) {
    let below = read(reply, PREV);
    sc(context).set_reply(below);
    if below != 0 {
        write(below, NEXT, context | SC_TAG);
    }
    write(reply, PREV, 0);
    write(reply, NEXT, 0);
}

/// Takes `reply` off the call stack it is on. At the top, its context goes
/// back to `to` (its caller) when `give_back`; otherwise the context stays
/// where it is and the chain closes over the gap.
#[inline]
fn take_off_stack(reply: u64, to: u64, give_back: bool) {
    let (prev, next) = (read(reply, PREV), read(reply, NEXT));
    if next == 0 {
        return;
    }
    if next & SC_TAG != 0 {
        let context = next & !SC_TAG;
        stack_pop(reply, context);
        if give_back {
            let holder = sc(context).tcb();
            sched::donate(context, Thread::from_link(holder), Thread::from_link(to));
        }
        return;
    }
    write(next, PREV, prev);
    if prev != 0 {
        write(prev, NEXT, next);
    }
    write(reply, PREV, 0);
    write(reply, NEXT, 0);
}

/// Answers the caller waiting on `reply`: off the call stack (its donated
/// context comes back) and no longer waiting. Returns the caller, to
/// receive the message and run; `None` when nobody waits on it.
#[inline]
pub fn pop(reply: u64) -> Option<u64> {
    let caller = thread(reply);
    if caller == 0 || tcb(caller).state() != ThreadState::BlockedOnReply {
        return None;
    }
    take_off_stack(reply, caller, true);
    unlink_answered(reply, caller);
    Some(caller)
}

/// `caller`, which waited on `reply`, is answered: the two part.
#[inline]
pub fn unlink_answered(reply: u64, caller: u64) {
    write(reply, THREAD, 0);
    write(reply, CAN_GRANT, 0);
    tcb(caller).set_reply(0);
}

/// The Reply object is going away, or reused while its caller waits: the
/// caller can never be answered and becomes inactive; a context donated
/// through it at the top of its stack goes back to the caller first.
pub fn remove(reply: u64) {
    let t = thread(reply);
    if t == 0 {
        return;
    }
    if tcb(t).state() == ThreadState::BlockedOnReply {
        take_off_stack(reply, t, true);
        sched::make_inactive(tcb(t));
    }
    unlink(reply, t);
    write(reply, CAN_GRANT, 0);
}

/// `caller` stops waiting on its Reply object (it is suspended or
/// destroyed): the object forgets it; a context it donated stays with the
/// server, its call stack closing over the gap (seL4's rule).
pub fn cancel_caller(caller: u64) {
    let reply = tcb(caller).reply();
    if reply == 0 || thread(reply) != caller {
        return;
    }
    take_off_stack(reply, caller, false);
    unlink(reply, caller);
    write(reply, CAN_GRANT, 0);
}

/// The context `sc_object` is going away: the Reply object on top of its
/// call stack no longer leads to it.
pub fn detach_context(sc_object: u64) {
    let top = sc(sc_object).reply();
    sc(sc_object).set_reply(0);
    if top != 0 {
        write(top, NEXT, 0);
    }
}

/// The last cap to the Reply object is being deleted.
pub fn finalise(reply: u64) {
    remove(reply);
}
