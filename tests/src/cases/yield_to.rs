//! SCHED0100-0102: YieldTo's errors, where it puts the yielder, and what
//! is left after it: a yield to
//! the caller's own context is refused, a yield to a thread that cannot run
//! returns at once with nothing consumed, and a yielder whose target is
//! suspended or deleted, or which is deleted itself, leaves the kernel and
//! the target's context in order.
//!
//! Test threads run at the root task's priority (255).

use super::lent_context::{cap, context_of, stays_at};
use crate::support::{expect_error, slot, step};
use crate::thread::{count, own_sched_context, shared, spawn, spawn_passive, spin, yield_times};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::{AtomicU64, Ordering};
use keel_abi::Error;
use keel_sys::cap::{init_thread, SchedContext, Tcb};
use keel_sys::Cap;

/// What [`yield_and_record`] records for a refused YieldTo.
const REFUSED: u64 = u64::MAX;

/// Reads (and so resets) the consumed time of the context
/// `shared(i).cap`, yields to it, records the consumed time the YieldTo
/// returns (or [`REFUSED`]) in `value`, counts and stops. Only time the
/// target used during the yield can make that non-zero.
extern "C" fn yield_and_record(i: u64) -> ! {
    let sc: Cap<SchedContext> = cap(shared(i).cap.load(Ordering::SeqCst));
    let _ = sc.sched_context_consumed();
    let consumed = sc.sched_context_yield_to().unwrap_or(REFUSED);
    shared(i).value.store(consumed, Ordering::SeqCst);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    super::ipc::stop_self(i)
}

/// The order the threads of [`yielder_runs_right_behind_target`] finish in:
/// each takes the next number.
static TICKET: AtomicU64 = AtomicU64::new(0);

/// Reports the next ticket and stops.
extern "C" fn take_ticket(i: u64) -> ! {
    crate::thread::report_and_stop(i, TICKET.fetch_add(1, Ordering::SeqCst))
}

/// Yields to the context `shared(i).cap`, then reports the next ticket.
extern "C" fn yield_then_take_ticket(i: u64) -> ! {
    let sc: Cap<SchedContext> = cap(shared(i).cap.load(Ordering::SeqCst));
    let _ = sc.sched_context_yield_to();
    crate::thread::report_and_stop(i, TICKET.fetch_add(1, Ordering::SeqCst))
}

/// seL4's YieldTo to a thread of the caller's priority puts the target at
/// the head of the queue and the caller right behind it: with the yielder,
/// another thread and the target queued in that order, the target runs
/// first, then the yielder, then the other (not target, other, yielder).
pub fn yielder_runs_right_behind_target(env: &Env) -> TestResult {
    TICKET.store(0, Ordering::SeqCst);
    let yielder = spawn(env, yield_then_take_ticket, 0, 0, 200)?;
    step(
        yielder.tcb_set_mc_priority(init_thread::TCB, 200),
        "let the yielder yield to its own priority",
    )?;
    let other = spawn(env, take_ticket, 1, 1, 200)?;
    let target = spawn(env, take_ticket, 2, 2, 200)?;
    shared(0)
        .cap
        .store(shared(2).sc.load(Ordering::SeqCst), Ordering::SeqCst);
    for t in [yielder, other, target] {
        step(t.tcb_resume(), "resume")?;
    }
    crate::thread::set_own_priority(50)?;
    ensure!((0..3).all(|i| count(i) == 1), "not every thread finished");
    let order = [0, 1, 2].map(|i| shared(i).value.load(Ordering::SeqCst));
    ensure!(
        order == [1, 2, 0],
        "tickets (yielder, other, target) {order:?}: the yielder did not run right behind its target"
    );
    Ok(())
}

/// seL4 SCHED0017 (the cases SCHED_CONTEXT0017 leaves): YieldTo the
/// caller's own context is IllegalOperation; YieldTo a suspended thread's
/// returns at once, NoError, with nothing consumed, and the thread stays
/// stopped.
pub fn yield_to_own_or_stopped_target(env: &Env) -> TestResult {
    expect_error(
        own_sched_context().sched_context_yield_to(),
        Error::IllegalOperation,
        "YieldTo the caller's own context",
    )?;
    let t = spawn(env, crate::thread::count_once, 0, 0, 255)?;
    let consumed = step(
        context_of(0).sched_context_yield_to(),
        "YieldTo a suspended thread",
    )?;
    ensure!(
        consumed == 0,
        "a thread that never ran consumed {consumed} µs"
    );
    stays_at(0, 0, 2, "a suspended target yielded to")?;
    step(t.tcb_resume(), "resume the target")?;
    stays_at(0, 1, 1, "the resumed target")
}

/// A spinning target (test thread 1) that has run, and a yielder (thread
/// `yielder`) yielding to it, both started.
fn yielder_and_target(
    env: &Env,
    yielder: u64,
    target: Option<Cap<Tcb>>,
) -> Result<(Cap<Tcb>, Cap<Tcb>), alloc::string::String> {
    let target = match target {
        Some(t) => t,
        None => {
            let t = spawn(env, spin, 1, 1, 255)?;
            step(t.tcb_resume(), "start the target")?;
            t
        }
    };
    yield_times(1)?;
    ensure!(count(1) > 0, "the target did not run");
    let y = spawn(env, yield_and_record, yielder as usize, yielder, 255)?;
    step(
        y.tcb_set_mc_priority(init_thread::TCB, 255),
        "let the yielder yield to priority 255",
    )?;
    shared(yielder)
        .cap
        .store(context_of(1).cptr().bits(), Ordering::SeqCst);
    step(y.tcb_resume(), "start the yielder")?;
    Ok((y, target))
}

/// The yielder `i` returned from its YieldTo without an error, with the
/// time the target used while it waited (seL4 answers a YieldTo when the
/// yielder runs again, or when the target's thread is deleted).
fn returned(i: u64, what: &str) -> TestResult {
    stays_at(i, 1, 2, what)?;
    let consumed = shared(i).value.load(Ordering::SeqCst);
    ensure!(
        consumed != REFUSED && consumed > 0,
        "{what}: YieldTo returned {consumed:#x}"
    );
    Ok(())
}

/// seL4 SCHED0018: a yielder whose target is suspended, or deleted, returns
/// NoError with the time the target used during the yield; a yielder deleted after its
/// YieldTo leaves the target's context to be yielded to, bound and used
/// again.
pub fn cleanup_after_yield_to(env: &Env) -> TestResult {
    let (_, target) = yielder_and_target(env, 0, None)?;
    yield_times(1)?;
    step(target.tcb_suspend(), "suspend the target")?;
    returned(0, "the yielder to a suspended target")?;
    step(target.tcb_resume(), "resume the target")?;
    yielder_and_target(env, 2, Some(target))?;
    yield_times(1)?;
    let sc = context_of(1);
    step(
        slot(shared(1).tcb.load(Ordering::SeqCst)).delete(),
        "delete the target",
    )?;
    returned(2, "the yielder to a deleted target")?;
    // The deleted target's context is free: bound to a new spinner, it is
    // yielded to by a yielder that is deleted before it runs again.
    let t = spawn_passive(env, spin, 1, 1, 255)?;
    step(sc.sched_context_bind(t), "bind the freed context")?;
    shared(1).sc.store(sc.cptr().bits(), Ordering::SeqCst);
    step(t.tcb_resume(), "start the new target")?;
    let (yielder, t) = yielder_and_target(env, 0, Some(t))?;
    yield_times(1)?;
    step(yielder.tcb_suspend(), "stop the yielder")?;
    step(
        slot(shared(0).tcb.load(Ordering::SeqCst)).delete(),
        "delete the yielder",
    )?;
    let consumed = step(
        sc.sched_context_yield_to(),
        "YieldTo the target after the yielder went",
    )?;
    ensure!(consumed > 0, "the target consumed {consumed} µs");
    step(t.tcb_suspend(), "stop the target")
}
