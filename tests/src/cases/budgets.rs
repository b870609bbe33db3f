//! SCHED0110-0112: budgets across suspend and resume, and periods of
//! different lengths. A thread that has given up its refill gets no fresh
//! budget by being suspended and resumed; threads with equal budgets and
//! different periods get time in inverse proportion to their periods.
//!
//! Shares are read through `Consumed` ([`crate::thread::share_out`]) in
//! virtual time (`-icount`), never by timing.

use super::sched_context::near;
use crate::support::step;
use crate::thread::{
    count, count_and_yield, sched_context, set_own_priority, share_out, spawn_passive, spin,
    yield_times,
};
use crate::{ensure, Env, TestResult};
use alloc::vec::Vec;
use keel_sys::cap::{SchedContext, Tcb};
use keel_sys::Cap;

/// seL4 SCHED0016: a thread on 1 ms every second that has yielded away its
/// refill does not run again through ten suspend/resume cycles: resuming
/// gives no fresh budget.
pub fn suspend_resume_gives_no_budget(env: &Env) -> TestResult {
    let t = spawn_passive(env, count_and_yield, 0, 0, 255)?;
    let sc = sched_context(env, 1_000, 1_000_000)?;
    step(sc.sched_context_bind(t), "bind a 1 ms / 1 s context")?;
    step(t.tcb_resume(), "start the thread")?;
    yield_times(2)?;
    ensure!(
        count(0) == 1,
        "the thread ran {} times in its first period",
        count(0)
    );
    for round in 0..10 {
        step(t.tcb_suspend(), "suspend")?;
        step(t.tcb_resume(), "resume")?;
        yield_times(2)?;
        ensure!(
            count(0) == 1,
            "after {} suspend/resume cycles the thread had run {} times",
            round + 1,
            count(0)
        );
    }
    step(t.tcb_suspend(), "stop the thread")
}

/// Spinners at priority 200 with `budget_us` every one of `periods_us`,
/// measured for `total_us` against the root task at 100; returns the
/// shares, ‰ of the total, the root task's last.
fn period_shares(
    env: &Env,
    budget_us: u64,
    periods_us: &[u64],
    total_us: u64,
) -> Result<Vec<u64>, alloc::string::String> {
    let mut threads: Vec<Cap<Tcb>> = Vec::new();
    let mut contexts: Vec<Cap<SchedContext>> = Vec::new();
    for (i, &period) in (0u64..).zip(periods_us) {
        let t = spawn_passive(env, spin, i as usize, i, 200)?;
        let sc = sched_context(env, budget_us, period)?;
        step(sc.sched_context_bind(t), "bind a spinner's context")?;
        threads.push(t);
        contexts.push(sc);
    }
    set_own_priority(100)?;
    for t in &threads {
        step(t.tcb_resume(), "start a spinner")?;
    }
    let used = share_out(total_us, &contexts)?;
    for t in &threads {
        step(t.tcb_suspend(), "stop a spinner")?;
    }
    let total: u64 = used.iter().sum();
    Ok(used.iter().map(|u| u * 1000 / total.max(1)).collect())
}

/// seL4 SCHED0013: equal budgets of 1 ms every 10 ms and every 20 ms: the
/// shorter period gets twice the time (10% and 5%).
pub fn shorter_period_runs_more(env: &Env) -> TestResult {
    let shares = period_shares(env, 1_000, &[10_000, 20_000], 200_000)?;
    ensure!(
        near(shares[0], 1000, 100, 15) && near(shares[1], 1000, 50, 10),
        "1 ms every 10 and every 20 ms got {}‰ and {}‰",
        shares[0],
        shares[1]
    );
    Ok(())
}

/// seL4 SCHED0014: equal budgets of 1 ms every 5, 10 and 20 ms: shares of
/// 4 : 2 : 1 (20%, 10%, 5%).
pub fn periods_set_shares_four_two_one(env: &Env) -> TestResult {
    let shares = period_shares(env, 1_000, &[5_000, 10_000, 20_000], 200_000)?;
    ensure!(
        near(shares[0], 1000, 200, 20)
            && near(shares[1], 1000, 100, 15)
            && near(shares[2], 1000, 50, 10),
        "1 ms every 5, 10 and 20 ms got {}‰, {}‰ and {}‰",
        shares[0],
        shares[1],
        shares[2]
    );
    Ok(())
}
