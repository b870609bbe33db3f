//! The release queue: scheduling contexts of runnable threads that wait for
//! their next refill, in order of its release time. When a refill comes due
//! its thread goes back to the run queue.

use super::enqueue;
use crate::ipc::queue::tcb;
use crate::kernel_cell::KernelCell;
use crate::object::sched_context::sc;
use crate::object::tcb::ThreadState;

/// The first context in the queue (0: empty).
static HEAD: KernelCell<u64> = KernelCell::new(0);

fn release_time(sc_object: u64) -> u64 {
    sc(sc_object).head_refill().release
}

/// Inserts `sc_object` by its head refill's release time (after any with
/// the same time), unless it is queued already.
pub fn insert(sc_object: u64) {
    if sc(sc_object).in_release_queue() {
        return;
    }
    let at = release_time(sc_object);
    let mut prev = 0;
    let mut next = HEAD.read();
    while next != 0 && release_time(next) <= at {
        prev = next;
        next = sc(next).release_next();
    }
    let s = sc(sc_object);
    s.set_release_next(next);
    s.set_in_release_queue(true);
    match prev {
        0 => HEAD.write(sc_object),
        prev => sc(prev).set_release_next(sc_object),
    }
}

/// Takes `sc_object` out of the queue, if it is in it.
pub fn release_queue_remove(sc_object: u64) {
    if !sc(sc_object).in_release_queue() {
        return;
    }
    let mut prev = 0;
    let mut at = HEAD.read();
    while at != 0 && at != sc_object {
        prev = at;
        at = sc(at).release_next();
    }
    let next = sc(sc_object).release_next();
    match prev {
        0 => HEAD.write(next),
        prev => sc(prev).set_release_next(next),
    }
    let s = sc(sc_object);
    s.set_release_next(0);
    s.set_in_release_queue(false);
}

/// Moves every context whose refill is due by `now` back to the run queue
/// (its thread, if that thread is still runnable).
pub fn release_due(now: u64) {
    loop {
        let first = HEAD.read();
        if first == 0 || release_time(first) > now {
            return;
        }
        release_queue_remove(first);
        let thread = sc(first).tcb();
        if thread != 0 && tcb(thread).state() == ThreadState::Running {
            enqueue(tcb(thread));
        }
    }
}

/// The release time of the first context in the queue (u64::MAX: empty).
pub fn next_release() -> u64 {
    match HEAD.read() {
        0 => u64::MAX,
        first => release_time(first),
    }
}

/// True when no context waits for a refill.
pub fn is_empty() -> bool {
    HEAD.read() == 0
}
