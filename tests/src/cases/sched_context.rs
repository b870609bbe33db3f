//! SCHED_CONTEXT: scheduling contexts (MCS): configuring them, binding and
//! unbinding, consumed time, YieldTo, budgets enforced with sporadic refills.
//!
//! Times are virtual under `-icount` (one instruction, one nanosecond), so
//! the shares measured here do not depend on the host; the tolerances cover
//! one refill at the edges of the measuring window.

use super::retype::make;
use crate::support::{expect_detail, expect_error, slot, step};
use crate::thread::{
    count, own_sched_context, sched_context, set_own_priority, share_out, shared, spawn,
    spawn_passive, spin, yield_times, SC_BITS, TIMESLICE_US,
};
use crate::{ensure, Env, TestResult};
use keel_abi::sched::{MAX_EXTRA_REFILLS, MAX_PERIOD_US, MIN_BUDGET_US};
use keel_abi::{CapType, Error, ObjectType};
use keel_sys::cap::{init_thread, Notification, SchedContext, Tcb};
use keel_sys::sched::SchedContextFlags;
use keel_sys::{CPtr, Cap};

fn fresh_sc(env: &Env) -> Result<Cap<SchedContext>, alloc::string::String> {
    let s = make(env, 12, ObjectType::SchedContext, SC_BITS, 1)?;
    Ok(Cap::from_cptr(CPtr::from_bits(s)))
}

fn configure(
    sc: Cap<SchedContext>,
    budget: u64,
    period: u64,
    extra: u64,
) -> Result<(), keel_sys::InvocationError> {
    init_thread::SCHED_CONTROL.sched_control_configure_flags(
        sc,
        budget,
        period,
        extra,
        0,
        SchedContextFlags::NONE,
    )
}

/// `share` (parts per thousand) of `total` is within `tolerance` of `expected`.
pub(crate) fn near(part: u64, total: u64, expected: u64, tolerance: u64) -> bool {
    let per_mille = part * 1000 / total.max(1);
    per_mille.abs_diff(expected) <= tolerance
}

pub fn configure_valid(env: &Env) -> TestResult {
    let sc = fresh_sc(env)?;
    step(configure(sc, 1000, 1000, 0), "round robin")?;
    step(configure(sc, 1000, 10_000, 0), "10% budget")?;
    step(
        configure(sc, MIN_BUDGET_US, MAX_PERIOD_US, MAX_EXTRA_REFILLS),
        "the extremes",
    )?;
    step(
        init_thread::SCHED_CONTROL.sched_control_configure_flags(
            sc,
            500,
            2000,
            2,
            7,
            SchedContextFlags::SPORADIC,
        ),
        "sporadic with a badge",
    )
}

pub fn configure_errors(env: &Env) -> TestResult {
    let sc = fresh_sc(env)?;
    let range =
        |r: Result<(), keel_sys::InvocationError>, what: &str, bounds: [u64; 2]| -> TestResult {
            let detail = expect_detail(r, Error::RangeError, what)?;
            ensure!(
                detail == bounds,
                "{what}: bounds {detail:?}, not {bounds:?}"
            );
            Ok(())
        };
    range(
        configure(sc, 2000, 1000, 0),
        "budget above the period",
        [MIN_BUDGET_US, 1000],
    )?;
    range(
        configure(sc, MIN_BUDGET_US - 1, 1000, 0),
        "budget below the minimum",
        [MIN_BUDGET_US, 1000],
    )?;
    range(
        configure(sc, 10, MIN_BUDGET_US - 1, 0),
        "period below the minimum",
        [MIN_BUDGET_US, MAX_PERIOD_US],
    )?;
    range(
        configure(sc, 1000, MAX_PERIOD_US + 1, 0),
        "period above the maximum",
        [MIN_BUDGET_US, MAX_PERIOD_US],
    )?;
    range(
        configure(sc, 1000, 2000, MAX_EXTRA_REFILLS + 1),
        "too many refills",
        [0, MAX_EXTRA_REFILLS],
    )?;
    let r = keel_sys::invoke(
        init_thread::SCHED_CONTROL.cptr(),
        keel_abi::Label::SchedControlConfigureFlags,
        &[1000, 1000, 0, 0, 2],
        &[sc.cptr()],
    );
    expect_error(r, Error::InvalidArgument, "an unknown flag")?;
    let not_sc: Cap<SchedContext> = init_thread::TCB.cast();
    expect_error(
        configure(not_sc, 1000, 1000, 0),
        Error::InvalidCapability,
        "a TCB as the scheduling context",
    )?;
    let r = keel_sys::invoke(
        init_thread::SCHED_CONTROL.cptr(),
        keel_abi::Label::SchedControlConfigureFlags,
        &[1000, 1000],
        &[sc.cptr()],
    );
    expect_error(r, Error::TruncatedMessage, "two message registers")
}

pub fn bind_unbind_errors(env: &Env) -> TestResult {
    let t = spawn_passive(env, spin, 0, 0, 100)?;
    let u = spawn_passive(env, spin, 1, 1, 100)?;
    let (a, b) = (fresh_sc(env)?, fresh_sc(env)?);
    step(a.sched_context_bind(t), "bind")?;
    expect_error(
        a.sched_context_bind(u),
        Error::IllegalOperation,
        "bind a bound context",
    )?;
    expect_error(
        b.sched_context_bind(t),
        Error::IllegalOperation,
        "bind to a bound thread",
    )?;
    expect_error(
        a.sched_context_unbind_object(u),
        Error::IllegalOperation,
        "unbind a thread it is not bound to",
    )?;
    let not_tcb: Cap<Tcb> = a.cast();
    expect_error(
        b.sched_context_bind(not_tcb),
        Error::InvalidCapability,
        "bind to a scheduling context",
    )?;
    // One context bound to a thread and a notification at once; UnbindObject
    // of an endpoint is InvalidCapability, of a notification it is not
    // bound to IllegalOperation.
    let n = make(env, 12, ObjectType::Notification, 0, 2)?;
    let at = |s: u64| Cap::<Notification>::from_cptr(CPtr::from_bits(s));
    let (bound, other) = (at(n), at(n + 1));
    step(
        a.sched_context_bind_notification(bound),
        "bind a notification too",
    )?;
    let ep = at(make(env, 12, ObjectType::Endpoint, 0, 1)?);
    expect_error(
        a.sched_context_unbind_notification(ep),
        Error::InvalidCapability,
        "unbind an endpoint",
    )?;
    expect_error(
        a.sched_context_unbind_notification(other),
        Error::IllegalOperation,
        "unbind a notification it is not bound to",
    )?;
    step(
        a.sched_context_unbind_notification(bound),
        "unbind the notification",
    )?;
    expect_error(
        a.sched_context_unbind_notification(bound),
        Error::IllegalOperation,
        "unbind the notification twice",
    )?;
    step(a.sched_context_unbind_object(t), "unbind the thread")?;
    step(b.sched_context_bind(t), "bind another context")?;
    step(b.sched_context_unbind(), "unbind")?;
    step(b.sched_context_unbind(), "unbind an unbound context")?;
    expect_error(
        own_sched_context().sched_context_bind(u),
        Error::IllegalOperation,
        "bind the caller's own, bound, context",
    )
}

pub fn passive_thread_does_not_run(env: &Env) -> TestResult {
    let t = spawn_passive(env, spin, 0, 0, 255)?;
    step(t.tcb_resume(), "resume")?;
    yield_times(3)?;
    ensure!(count(0) == 0, "a thread without a scheduling context ran");
    let sc = sched_context(env, TIMESLICE_US, TIMESLICE_US)?;
    step(sc.sched_context_bind(t), "bind")?;
    yield_times(1)?;
    ensure!(count(0) > 0, "binding a context did not let the thread run");
    step(t.tcb_suspend(), "suspend")
}

pub fn unconfigured_context_does_not_run(env: &Env) -> TestResult {
    let t = spawn_passive(env, spin, 0, 0, 255)?;
    let sc = fresh_sc(env)?;
    step(sc.sched_context_bind(t), "bind an unconfigured context")?;
    step(t.tcb_resume(), "resume")?;
    yield_times(3)?;
    ensure!(count(0) == 0, "a thread ran on an unconfigured context");
    step(configure(sc, TIMESLICE_US, TIMESLICE_US, 0), "configure")?;
    yield_times(1)?;
    ensure!(
        count(0) > 0,
        "configuring the context did not let the thread run"
    );
    step(t.tcb_suspend(), "suspend")
}

pub fn unbind_stops_thread(env: &Env) -> TestResult {
    let t = spawn(env, spin, 0, 0, 255)?;
    let sc = shared_sc(0);
    step(t.tcb_resume(), "resume")?;
    yield_times(1)?;
    ensure!(count(0) > 0, "the thread did not run");
    step(sc.sched_context_unbind(), "unbind")?;
    let frozen = count(0);
    yield_times(3)?;
    ensure!(
        count(0) == frozen,
        "a thread ran after its context was unbound"
    );
    step(sc.sched_context_bind(t), "bind again")?;
    yield_times(1)?;
    ensure!(count(0) > frozen, "the thread did not run once bound again");
    step(t.tcb_suspend(), "suspend")
}

fn shared_sc(i: u64) -> Cap<SchedContext> {
    Cap::from_cptr(CPtr::from_bits(
        shared(i).sc.load(core::sync::atomic::Ordering::SeqCst),
    ))
}

pub fn delete_context_stops_thread(env: &Env) -> TestResult {
    let t = spawn(env, spin, 0, 0, 255)?;
    let sc = shared_sc(0);
    step(t.tcb_resume(), "resume")?;
    yield_times(1)?;
    ensure!(count(0) > 0, "the thread did not run");
    step(slot(sc.cptr().bits()).delete(), "delete the context")?;
    let frozen = count(0);
    yield_times(3)?;
    ensure!(
        count(0) == frozen,
        "a thread ran after its context was deleted"
    );
    let fresh = sched_context(env, TIMESLICE_US, TIMESLICE_US)?;
    step(fresh.sched_context_bind(t), "bind a new context")?;
    yield_times(1)?;
    ensure!(
        count(0) > frozen,
        "the thread did not run on its new context"
    );
    step(t.tcb_suspend(), "suspend")
}

pub fn delete_thread_unbinds_context(env: &Env) -> TestResult {
    let t = spawn(env, spin, 0, 0, 255)?;
    let sc = shared_sc(0);
    step(t.tcb_resume(), "resume")?;
    yield_times(1)?;
    step(slot(t.cptr().bits()).delete(), "delete the thread")?;
    let u = spawn_passive(env, spin, 1, 1, 255)?;
    step(
        sc.sched_context_bind(u),
        "bind the context to another thread",
    )?;
    step(u.tcb_resume(), "resume it")?;
    yield_times(1)?;
    ensure!(count(1) > 0, "the context did not run its new thread");
    step(u.tcb_suspend(), "suspend")
}

pub fn consumed_counts_and_resets(env: &Env) -> TestResult {
    let t = spawn(env, spin, 0, 0, 255)?;
    let sc = shared_sc(0);
    step(sc.sched_context_consumed(), "reset")?;
    step(t.tcb_resume(), "resume")?;
    // Each yield gives the spinner a whole timeslice.
    yield_times(2)?;
    let first = step(sc.sched_context_consumed(), "read")?;
    let again = step(sc.sched_context_consumed(), "read again")?;
    step(t.tcb_suspend(), "suspend")?;
    ensure!(
        (TIMESLICE_US * 3 / 2..=TIMESLICE_US * 5 / 2).contains(&first),
        "two timeslices of {TIMESLICE_US} µs consumed {first} µs"
    );
    ensure!(again == 0, "a second read found {again} µs");
    Ok(())
}

pub fn consumed_of_own_context(_env: &Env) -> TestResult {
    let me = own_sched_context();
    step(me.sched_context_consumed(), "reset")?;
    let start = keel_sys::arch::cycle_counter();
    while keel_sys::arch::cycle_counter() - start < 2_000_000 {}
    let used = step(me.sched_context_consumed(), "read")?;
    // 2 million counter ticks: 2 ms of virtual time under -icount.
    ensure!(
        (1_900..=2_500).contains(&used),
        "2 ms of work consumed {used} µs"
    );
    Ok(())
}

pub fn budget_enforced(env: &Env) -> TestResult {
    let t = spawn_passive(env, spin, 0, 0, 200)?;
    let sc = sched_context(env, 1_000, 10_000)?;
    step(sc.sched_context_bind(t), "bind")?;
    step(t.tcb_resume(), "resume")?;
    // The spinner is above the caller: the caller runs only while the
    // spinner waits for its refill.
    set_own_priority(100)?;
    let used = share_out(200_000, &[sc])?;
    step(t.tcb_suspend(), "suspend")?;
    let total = used[0] + used[1];
    ensure!(
        near(used[0], total, 100, 15),
        "a 10% context had {} of {total} µs",
        used[0]
    );
    Ok(())
}

pub fn shares_follow_budgets(env: &Env) -> TestResult {
    let (a, b) = (
        spawn_passive(env, spin, 0, 0, 200)?,
        spawn_passive(env, spin, 1, 1, 200)?,
    );
    let (sa, sb) = (
        sched_context(env, 3_000, 10_000)?,
        sched_context(env, 1_000, 10_000)?,
    );
    step(sa.sched_context_bind(a), "bind a")?;
    step(sb.sched_context_bind(b), "bind b")?;
    step(a.tcb_resume(), "resume a")?;
    step(b.tcb_resume(), "resume b")?;
    set_own_priority(100)?;
    let used = share_out(200_000, &[sa, sb])?;
    step(a.tcb_suspend(), "suspend a")?;
    step(b.tcb_suspend(), "suspend b")?;
    let total: u64 = used.iter().sum();
    ensure!(
        near(used[0], total, 300, 20) && near(used[1], total, 100, 15),
        "30% and 10% contexts had {} and {} of {total} µs",
        used[0],
        used[1]
    );
    Ok(())
}

pub fn reconfigure_running_context(env: &Env) -> TestResult {
    let t = spawn_passive(env, spin, 0, 0, 200)?;
    let sc = sched_context(env, 5_000, 10_000)?;
    step(sc.sched_context_bind(t), "bind")?;
    step(t.tcb_resume(), "resume")?;
    set_own_priority(100)?;
    let before = share_out(100_000, &[sc])?;
    step(configure(sc, 1_000, 10_000, 0), "shrink the budget")?;
    let after = share_out(200_000, &[sc])?;
    step(t.tcb_suspend(), "suspend")?;
    ensure!(
        near(before[0], before[0] + before[1], 500, 30),
        "50% before: {before:?}"
    );
    ensure!(
        near(after[0], after[0] + after[1], 100, 15),
        "10% after reconfiguring: {after:?}"
    );
    Ok(())
}

pub fn sporadic_refills_bound_every_window(env: &Env) -> TestResult {
    // The thread yields every so often, splitting its budget into many
    // refills; the total over the window still keeps to 20%.
    let t = spawn_passive(env, crate::thread::spin_and_yield, 0, 0, 200)?;
    let sc = fresh_sc(env)?;
    step(
        init_thread::SCHED_CONTROL.sched_control_configure_flags(
            sc,
            2_000,
            10_000,
            MAX_EXTRA_REFILLS,
            0,
            SchedContextFlags::SPORADIC,
        ),
        "configure a sporadic context",
    )?;
    step(sc.sched_context_bind(t), "bind")?;
    step(t.tcb_resume(), "resume")?;
    set_own_priority(100)?;
    let used = share_out(200_000, &[sc])?;
    step(t.tcb_suspend(), "suspend")?;
    ensure!(count(0) > 0, "the thread never ran");
    ensure!(
        used[0] * 1000 / (used[0] + used[1]) <= 215,
        "a 20% context had {} of {} µs",
        used[0],
        used[0] + used[1]
    );
    Ok(())
}

pub fn yield_to_runs_target_first(env: &Env) -> TestResult {
    let t = spawn(env, crate::thread::count_and_yield, 0, 0, 255)?;
    step(t.tcb_resume(), "resume")?;
    let before = count(0);
    step(shared_sc(0).sched_context_yield_to(), "yield to")?;
    ensure!(
        count(0) > before,
        "the target had not run when YieldTo returned"
    );
    step(t.tcb_suspend(), "suspend")
}

pub fn yield_to_lower_priority_keeps_caller(env: &Env) -> TestResult {
    let t = spawn(env, crate::thread::count_once, 0, 0, 100)?;
    step(t.tcb_resume(), "resume")?;
    step(shared_sc(0).sched_context_yield_to(), "yield to")?;
    ensure!(
        count(0) == 0,
        "a lower-priority target ran before the caller blocked"
    );
    set_own_priority(50)?;
    ensure!(
        count(0) > 0,
        "the target did not run once the caller dropped below it"
    );
    step(t.tcb_suspend(), "suspend")
}

pub fn yield_to_errors(env: &Env) -> TestResult {
    let sc = fresh_sc(env)?;
    expect_error(
        sc.sched_context_yield_to(),
        Error::IllegalOperation,
        "an unbound context",
    )?;
    let t = spawn_passive(env, spin, 0, 0, 200)?;
    step(sc.sched_context_bind(t), "bind")?;
    expect_error(
        sc.sched_context_yield_to(),
        Error::IllegalOperation,
        "an unconfigured context",
    )?;
    step(configure(sc, 1000, 1000, 0), "configure")?;
    step(
        init_thread::TCB.tcb_set_mc_priority(init_thread::TCB, 150),
        "lower the caller's MCP",
    )?;
    expect_error(
        sc.sched_context_yield_to(),
        Error::IllegalOperation,
        "a thread above the caller's MCP",
    )
}

pub fn context_sizes(env: &Env) -> TestResult {
    for bits in SC_BITS..=12 {
        let s = make(env, 13, ObjectType::SchedContext, bits, 1)?;
        ensure!(
            crate::support::identify(s)? == CapType::SchedContext,
            "a scheduling context of 2^{bits} bytes"
        );
        step(
            configure(Cap::from_cptr(CPtr::from_bits(s)), 1000, 2000, 0),
            "configure it",
        )?;
    }
    Ok(())
}
