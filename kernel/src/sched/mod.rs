//! The scheduler (MCS): fixed priorities 0-255, round robin within a
//! priority, and time as scheduling contexts. A thread runs only on a bound,
//! configured SchedContext with budget released: such a runnable thread, the
//! running one included, sits in the run queue of its priority, and the
//! thread to run is the head of the highest non-empty queue. A runnable
//! thread whose context waits for its next refill sits, by its context, in
//! the release queue ([`release`]); time is charged to contexts and the one
//! one-shot timer armed by [`budget`]. There is no periodic tick.

mod budget;
mod release;

pub use budget::{
    commit_if_charged, forget_account, is_charged, min_budget, now, ticks_to_us, us_to_ticks,
};
pub use release::release_queue_remove;

use crate::arch::{Machine, Platform, UserContext, VSpace};
use crate::ipc::queue::tcb;
use crate::kernel_cell::KernelCell;
use crate::object::handle::{fields, SchedContextRef, Thread};
use crate::object::sched_context::sc;
use crate::object::tcb::ThreadState;
use core::ptr::NonNull;

/// Physical address of the current thread's TCB object (0: none).
static CURRENT: KernelCell<u64> = KernelCell::new(0);

const PRIORITIES: usize = 256;

struct RunQueues {
    head: [u64; PRIORITIES],
    tail: [u64; PRIORITIES],
    /// Bit `p` set when queue `p` is non-empty.
    bitmap: [u64; PRIORITIES / 64],
}

static QUEUES: KernelCell<RunQueues> = KernelCell::new(RunQueues {
    head: [0; PRIORITIES],
    tail: [0; PRIORITIES],
    bitmap: [0; PRIORITIES / 64],
});

/// The run queues.
///
/// # Safety
/// No other reference to them may be live while the one returned is: each
/// caller takes it for the rest of one function that makes no call which
/// takes it again (thread handles reach TCBs, never the queues).
#[inline(always)]
unsafe fn queues() -> &'static mut RunQueues {
    // SAFETY: the caller's guarantee; the cell lives for the kernel's
    // lifetime, on one core, and the kernel is not re-entered.
    unsafe { &mut *QUEUES.get() }
}

// The scheduler is the one writer of a thread's state, priority and
// run-queue links (seL4's `setThreadState`/`scheduleTCB`): these setters are
// private to it.
fields!(Thread => {
    set set_state_field = state: ThreadState;
    set set_priority_field = priority: u64;
    set set_queued = queued: bool;
    set set_sched_next = sched_next: u64;
    set set_sched_prev = sched_prev: u64;
});

/// The run queue of `t`'s priority. Priorities are at most 255 (each is
/// checked against an MCP, and MCPs start at 255), so the mask only lets
/// the compiler see the index is in bounds.
#[inline(always)]
fn priority_of(t: Thread) -> usize {
    queue_index(t.priority())
}

#[inline(always)]
fn queue_index(priority: u64) -> usize {
    priority as usize & (PRIORITIES - 1)
}

/// Puts a thread that is not queued at the back (or, with `front`, the
/// front) of its priority's queue.
#[inline(always)]
fn insert(t: Thread, front: bool) {
    let p = priority_of(t);
    // SAFETY: `q` is the only reference to the queues until this function
    // returns; the calls below reach only TCBs.
    let q = unsafe { queues() };
    t.set_queued(true);
    if front {
        t.set_sched_prev(0);
        t.set_sched_next(q.head[p]);
        match q.head[p] {
            0 => q.tail[p] = t.addr(),
            head => tcb(head).set_sched_prev(t.addr()),
        }
        q.head[p] = t.addr();
    } else {
        t.set_sched_next(0);
        t.set_sched_prev(q.tail[p]);
        match q.tail[p] {
            0 => q.head[p] = t.addr(),
            tail => tcb(tail).set_sched_next(t.addr()),
        }
        q.tail[p] = t.addr();
    }
    q.bitmap[p / 64] |= 1 << (p % 64);
}

/// Puts a thread at the back of its priority's queue (if not queued yet).
#[inline]
fn enqueue(t: Thread) {
    if !t.queued() {
        insert(t, false);
    }
}

/// Puts a queued thread at the front of its priority's queue.
fn move_to_front(t: Thread) {
    if t.queued() {
        dequeue(t);
        insert(t, true);
    }
}

/// Puts a queued thread at the back of its priority's queue.
fn move_to_back(t: Thread) {
    if t.queued() {
        dequeue(t);
        enqueue(t);
    }
}

/// Takes a thread out of its run queue (if queued).
#[inline(always)]
pub fn dequeue(t: Thread) {
    if !t.queued() {
        return;
    }
    let (p, next, prev) = (priority_of(t), t.sched_next(), t.sched_prev());
    t.set_queued(false);
    t.set_sched_next(0);
    t.set_sched_prev(0);
    // SAFETY: `q` is the only reference to the queues until this function
    // returns; the calls below reach only TCBs.
    let q = unsafe { queues() };
    match prev {
        0 => q.head[p] = next,
        prev => tcb(prev).set_sched_next(next),
    }
    match next {
        0 => q.tail[p] = prev,
        next => tcb(next).set_sched_prev(prev),
    }
    if q.head[p] == 0 {
        q.bitmap[p / 64] &= !(1 << (p % 64));
    }
}

/// Sets a thread's state, and its run-queue membership to match (seL4's
/// `setThreadState` with `scheduleTCB`): a running thread is queued to run
/// if its scheduling context has budget now, waits in the release queue if
/// not, and stays unqueued without a configured context; a thread in any
/// other state leaves its run queue.
#[inline]
pub fn set_thread_state(t: Thread, state: ThreadState) {
    t.set_state_field(state);
    match state {
        ThreadState::Running => place(t),
        _ => dequeue(t),
    }
}

/// Sets the state of a thread that is in no run queue (the IPC fast
/// path's, whose run-queue place [`hand_over`] moved): the state alone.
#[inline(always)]
pub fn set_unqueued_state(t: Thread, state: ThreadState) {
    debug_assert!(!t.queued() || state == ThreadState::Running);
    t.set_state_field(state);
}

/// [`set_thread_state`] to `Running`.
#[inline]
pub fn make_runnable(t: Thread) {
    set_thread_state(t, ThreadState::Running);
}

/// Queues a runnable thread where its scheduling context says.
#[inline]
fn place(t: Thread) {
    let sc_object = t.sched_context();
    if t.queued()
        || t.state() != ThreadState::Running
        || sc_object == 0
        || !sc(sc_object).configured()
    {
        return;
    }
    if sc(sc_object).can_run_now(now()) {
        enqueue(t);
    } else {
        release::insert(sc_object);
    }
}

/// Lends (or gives back) the scheduling context `sc_object` from `from`
/// (none: unbound) to `to`, which runs on it if runnable. A `to` that has
/// a context of its own by now leaves this one unbound.
#[inline]
pub fn donate(sc_object: u64, from: Option<Thread>, to: Option<Thread>) {
    if let Some(from) = from {
        dequeue(from);
        from.set_sched_context(0);
    }
    match to {
        Some(to) if to.sched_context() == 0 => {
            sc(sc_object).set_tcb(to.addr());
            to.set_sched_context(sc_object);
            place(to);
        }
        _ => sc(sc_object).set_tcb(0),
    }
}

/// How a thread that [`would_run_next`] takes the CPU from the current one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Successor {
    /// It is at the current thread's priority, whose queue holds only the
    /// current thread: it takes that place.
    TakesItsPlace,
    /// It is above every queued thread (the current one included).
    Above,
}

/// An IPC fast path hands the charged context `sc_object`, and the CPU,
/// from `from` (the current thread, which blocks) to `to` (runnable, not
/// queued, without a context of its own), which [`would_run_next`] said
/// runs next, as `how`; `to` is running from now on. No budget check as
/// [`place`] makes: the context is the one running (`schedule` found its
/// refill ready and sufficient when it switched to it), and a budget that
/// ran out since has its timer interrupt pending, taken once `to` runs.
#[inline(always)]
pub fn hand_over(sc_object: u64, from: Thread, to: Thread, how: Successor) {
    sc(sc_object).set_tcb(to.addr());
    to.set_sched_context(sc_object);
    to.set_state_field(ThreadState::Running);
    from.set_sched_context(0);
    if how == Successor::TakesItsPlace {
        // The queue held only `from` (so its links are 0, as are those of
        // `to`, which is not queued): `to` replaces it.
        let p = priority_of(to);
        from.set_queued(false);
        to.set_queued(true);
        // SAFETY: `q` is the only reference to the queues, for two writes.
        let q = unsafe { queues() };
        q.head[p] = to.addr();
        q.tail[p] = to.addr();
    } else {
        dequeue(from);
        enqueue(to);
    }
}

/// A thread's scheduling context changed (configured, bound): queue it anew.
pub fn reschedule(t: Thread) {
    dequeue(t);
    let sc_object = t.sched_context();
    if sc_object != 0 {
        release::release_queue_remove(sc_object);
    }
    place(t);
}

/// [`set_thread_state`] to `Inactive`: off the run queue.
pub fn make_inactive(t: Thread) {
    set_thread_state(t, ThreadState::Inactive);
}

/// Changes a thread's priority, keeping its place in the run queues, and
/// in the endpoint or notification queue it waits in, consistent.
pub fn set_priority(t: Thread, priority: u64) {
    let queued = t.queued();
    dequeue(t);
    t.set_priority_field(priority);
    if queued {
        enqueue(t);
    }
    crate::ipc::reorder(t);
}

/// MCS Yield: the current thread gives up the rest of its current refill
/// (a round-robin thread the rest of its timeslice) and goes to the back of
/// its queue, or to the release queue until its next refill.
pub fn yield_current() {
    if let Some(current) = current() {
        budget::give_up_refill(current.sched_context());
        move_to_back(current);
    }
}

/// `SchedContext_YieldTo`: `target` goes to the front of its priority's
/// queue; a caller of no higher priority goes to the front of its own
/// first, so it runs right after the target, ahead of the threads that
/// were queued behind it (seL4 enqueues the caller, then the target, at
/// the head). `target` is not `caller`.
pub fn yield_to(target: Thread, caller: Thread) {
    if target.priority() >= caller.priority() {
        move_to_front(caller);
    }
    move_to_front(target);
}

/// How a thread at `priority` would take the CPU if it is the one to run
/// once `leaving` (the current thread) blocks: nothing runnable is above
/// that priority, and at it nothing but `leaving` is queued. The current
/// thread is the head of the highest non-empty queue (every kernel exit but
/// the fast path's goes through [`schedule`], and the fast path checks
/// this), so at its own priority only its own links need looking at.
#[inline(always)]
pub fn would_run_next(priority: u64, leaving: Thread) -> Option<Successor> {
    let p = queue_index(priority);
    // SAFETY: `q` is the only reference to the queues until this function
    // returns; the calls below reach only TCBs.
    let q = unsafe { queues() };
    let t = leaving;
    if priority == t.priority() {
        // Queued with no neighbour: alone in its priority's queue.
        let alone = t.queued() && t.sched_next() | t.sched_prev() == 0;
        return alone.then_some(Successor::TakesItsPlace);
    }
    // Bits above `p` in its bitmap word, and any bit in the words above it.
    let (word, bit) = (p / 64, p % 64);
    let above_in_word = if bit == 63 {
        0
    } else {
        q.bitmap[word] >> (bit + 1)
    };
    let above = above_in_word != 0 || q.bitmap[word + 1..].iter().any(|w| *w != 0);
    (!above && q.head[p] == 0).then_some(Successor::Above)
}

/// The head of the highest-priority non-empty run queue.
fn choose() -> Option<Thread> {
    // SAFETY: `q` is the only reference to the queues until this function
    // returns; the calls below reach only TCBs.
    let q = unsafe { queues() };
    let word = (0..q.bitmap.len()).rev().find(|&w| q.bitmap[w] != 0)?;
    let p = word * 64 + 63 - q.bitmap[word].leading_zeros() as usize;
    Some(tcb(q.head[p]))
}

/// Makes `thread` the current thread (none: idle).
pub fn set_current(thread: Option<Thread>) {
    CURRENT.write(thread.map_or(0, Thread::addr));
}

/// The current thread, if any.
#[inline(always)]
pub fn current() -> Option<Thread> {
    Thread::from_link(CURRENT.read())
}

/// The one-shot timer fired: a budget ran out or a refill came due.
pub fn timer_interrupt() -> ! {
    budget::timer_fired();
    schedule()
}

/// Leaves the kernel straight into `next`, which an IPC fast path made the
/// thread to run (it checked that nothing else is queued at or above
/// `next`'s priority). When `next` is queued on the context time is being
/// charged to (the caller's, donated or given back), nothing about time has
/// changed: no clock to read, no refill to release, the timer armed as it
/// is. A refill or budget end that came due meanwhile has its timer
/// interrupt pending, taken as soon as the thread runs. Anything else goes
/// through [`schedule`].
pub fn run_directly(next: Thread) -> ! {
    if next.queued() && budget::is_charged(next.sched_context()) {
        if let Some(vspace) = next.running_vspace() {
            set_current(Some(next));
            next.enter_user(&vspace)
        }
    }
    schedule()
}

/// Everything of leaving the kernel into `next`, in `vspace`, but the
/// return to user mode, which the IPC fast path's caller (the system-call
/// entry) makes: `next`'s register file, for the entry's assembly.
#[inline(always)]
pub fn prepare_to_enter(next: Thread, vspace: VSpace) -> NonNull<UserContext> {
    set_current(Some(next));
    next.prepare_user_entry(&vspace);
    // SAFETY: a field address within a live TCB in the kernel window is not null.
    unsafe { NonNull::new_unchecked(next.context_ptr()) }
}

/// Leaves the kernel into the highest-priority runnable thread, or idles:
/// releases the refills that came due, ends the running context's timeslice
/// if its budget is spent, switches the context time is charged to, and arms
/// the timer for the next budget end or release.
pub fn schedule() -> ! {
    let now = now();
    release::release_due(now);
    budget::end_timeslice_if_spent(now);
    while let Some(next) = choose() {
        let Some(vspace) = next.running_vspace() else {
            // Its VSpace cap was deleted while it could run: it has nowhere to run.
            crate::kprintln!("KEEL: thread '{}' has no VSpace; stopped", next.name());
            crate::ipc::stop_thread(next);
            continue;
        };
        if !budget::switch_to(next.sched_context(), now) {
            // Its context could not start after all: it went to the release queue.
            continue;
        }
        set_current(Some(next));
        if let Some(context) = SchedContextRef::from_link(next.yield_to()) {
            crate::object::sched_context::complete_yield(context);
        }
        budget::arm_timer();
        next.enter_user(&vspace)
    }
    budget::switch_to(0, now);
    set_current(None);
    budget::arm_timer();
    if release::is_empty() && !crate::object::irq::may_signal() {
        crate::kprintln!("KEEL: idle: no runnable threads");
    }
    Machine::idle()
}
