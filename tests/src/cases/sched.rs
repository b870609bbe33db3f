//! SCHED: the MCS scheduler: priorities, timeslices, round robin, Yield and
//! the release of refills, with CPU-bound threads the timer must preempt.
//!
//! Times are virtual under `-icount` (one instruction, one nanosecond).

use crate::support::step;
use crate::thread::{
    count, count_once, own_sched_context, sched_context, set_own_priority, share_out, spawn,
    spawn_passive, spin, spin_and_yield, yield_times, BURST, TIMESLICE_US,
};
use crate::{ensure, Env, TestResult};
use keel_sys::cap::{init_thread, SchedContext, Tcb};
use keel_sys::sched::SchedContextFlags;
use keel_sys::Cap;

/// A spinning thread `i` at `priority` on a fresh context of `budget` µs
/// every `period` µs, started.
fn spinner(
    env: &Env,
    i: u64,
    priority: u64,
    budget: u64,
    period: u64,
) -> Result<(Cap<Tcb>, Cap<SchedContext>), alloc::string::String> {
    let t = spawn_passive(env, spin, i as usize, i, priority)?;
    let sc = sched_context(env, budget, period)?;
    step(sc.sched_context_bind(t), "bind")?;
    step(t.tcb_resume(), "resume")?;
    Ok((t, sc))
}

fn per_mille(part: u64, total: u64) -> u64 {
    part * 1000 / total.max(1)
}

pub fn resumed_higher_priority_runs_at_once(env: &Env) -> TestResult {
    set_own_priority(100)?;
    let t = spawn(env, count_once, 0, 0, 200)?;
    step(t.tcb_resume(), "resume")?;
    ensure!(
        count(0) == 1,
        "a higher-priority thread had not run when its resume returned"
    );
    Ok(())
}

pub fn timeslices_preempt_spinners(env: &Env) -> TestResult {
    let (a, _) = spinner(env, 0, 255, TIMESLICE_US, TIMESLICE_US)?;
    let (b, _) = spinner(env, 1, 255, TIMESLICE_US, TIMESLICE_US)?;
    // The caller goes to the back of the queue; only the timer brings it back.
    yield_times(1)?;
    let (ca, cb) = (count(0), count(1));
    step(a.tcb_suspend(), "suspend a")?;
    step(b.tcb_suspend(), "suspend b")?;
    ensure!(ca > 0 && cb > 0, "spinners counted {ca} and {cb}");
    Ok(())
}

/// Two spinners on round-robin slices of `slices` µs at the caller's
/// priority (whose own slice is [`TIMESLICE_US`]): their shares, ‰.
fn round_robin_shares(env: &Env, slices: [u64; 2]) -> Result<[u64; 2], alloc::string::String> {
    set_own_priority(200)?;
    let (a, sa) = spinner(env, 0, 200, slices[0], slices[0])?;
    let (b, sb) = spinner(env, 1, 200, slices[1], slices[1])?;
    let used = share_out(180_000, &[sa, sb])?;
    step(a.tcb_suspend(), "suspend a")?;
    step(b.tcb_suspend(), "suspend b")?;
    let total: u64 = used.iter().sum();
    Ok([per_mille(used[0], total), per_mille(used[1], total)])
}

pub fn equal_timeslices_equal_shares(env: &Env) -> TestResult {
    let [pa, pb] = round_robin_shares(env, [2_000, 2_000])?;
    // Rounds of 2 + 2 ms for the spinners and 5 ms for the caller.
    ensure!(
        pa.abs_diff(pb) <= 20 && pa.abs_diff(222) <= 30,
        "2 ms slices against a 5 ms one gave {pa}‰ and {pb}‰"
    );
    Ok(())
}

pub fn timeslice_lengths_set_shares(env: &Env) -> TestResult {
    let [pa, pb] = round_robin_shares(env, [1_000, 3_000])?;
    // Rounds of 1 + 3 + 5 ms.
    ensure!(
        pa.abs_diff(111) <= 25 && pb.abs_diff(333) <= 30,
        "1 and 3 ms slices against a 5 ms one gave {pa}‰ and {pb}‰"
    );
    Ok(())
}

pub fn yield_gives_up_the_refill(env: &Env) -> TestResult {
    let t = spawn_passive(env, spin_and_yield, 0, 0, 200)?;
    let sc = sched_context(env, 2_000, 10_000)?;
    step(sc.sched_context_bind(t), "bind")?;
    step(t.tcb_resume(), "resume")?;
    set_own_priority(100)?;
    share_out(100_000, &[sc])?;
    step(t.tcb_suspend(), "suspend")?;
    // One burst is far less than the 2 ms budget; a yield throws the rest
    // of the refill away, so about one burst runs per 10 ms period.
    let bursts = count(0) / BURST;
    ensure!(
        (5..=25).contains(&bursts),
        "{bursts} bursts in 100 ms on a 2 ms / 10 ms context that yields after each"
    );
    Ok(())
}

pub fn throttled_alone_is_released_after_its_period(_env: &Env) -> TestResult {
    let me = own_sched_context();
    let configure = |budget, period| {
        init_thread::SCHED_CONTROL.sched_control_configure_flags(
            me,
            budget,
            period,
            0,
            0,
            SchedContextFlags::NONE,
        )
    };
    step(configure(1_000, 10_000), "throttle the caller to 10%")?;
    let start = keel_sys::arch::cycle_counter();
    let mut used = 0;
    step(me.sched_context_consumed(), "reset")?;
    while used < 5_000 {
        used += step(me.sched_context_consumed(), "read")?;
    }
    let elapsed = keel_sys::arch::cycle_counter() - start;
    step(configure(TIMESLICE_US, TIMESLICE_US), "round robin again")?;
    // 5 ms of work at 1 ms per 10 ms: at least four whole periods waited
    // (virtual nanoseconds under -icount; the kernel idled through them).
    ensure!(
        (40_000_000..=70_000_000).contains(&elapsed),
        "5 ms of work at 10% took {elapsed} ns"
    );
    Ok(())
}

pub fn suspended_while_throttled_stays_stopped(env: &Env) -> TestResult {
    let (t, sc) = spinner(env, 0, 200, 1_000, 10_000)?;
    set_own_priority(100)?;
    share_out(25_000, &[sc])?;
    step(t.tcb_suspend(), "suspend")?;
    let frozen = count(0);
    share_out(30_000, &[])?;
    ensure!(
        count(0) == frozen,
        "a suspended thread ran when its refill came"
    );
    step(t.tcb_resume(), "resume")?;
    share_out(20_000, &[sc])?;
    ensure!(count(0) > frozen, "the resumed thread did not run again");
    step(t.tcb_suspend(), "suspend at the end")
}

pub fn priority_change_while_throttled(env: &Env) -> TestResult {
    let (t, sc) = spinner(env, 0, 200, 1_000, 10_000)?;
    set_own_priority(100)?;
    share_out(25_000, &[sc])?;
    step(
        t.tcb_set_priority(init_thread::TCB, 150),
        "lower the throttled thread",
    )?;
    let used = share_out(100_000, &[sc])?;
    step(t.tcb_suspend(), "suspend")?;
    let share = per_mille(used[0], used[0] + used[1]);
    ensure!(
        share.abs_diff(100) <= 20,
        "after a priority change the 10% context had {share}‰"
    );
    Ok(())
}

/// TCB_Resume of the calling thread, which is running, succeeds and
/// changes nothing: the thread runs on and can do it again.
pub fn resume_oneself(_env: &Env) -> TestResult {
    for round in 0..3 {
        let r = init_thread::TCB.tcb_resume();
        ensure!(r.is_ok(), "round {round}: resuming oneself gave {r:?}");
    }
    Ok(())
}

/// Raising a resumed thread that waits below the caller's priority above
/// it runs that thread before the SetPriority returns.
pub fn raised_thread_runs_at_once(env: &Env) -> TestResult {
    set_own_priority(100)?;
    let t = spawn(env, count_once, 0, 0, 50)?;
    step(t.tcb_resume(), "resume")?;
    yield_times(1)?;
    ensure!(count(0) == 0, "a lower-priority thread ran");
    step(t.tcb_set_priority(init_thread::TCB, 150), "raise it")?;
    ensure!(
        count(0) == 1,
        "the raised thread had not run when its SetPriority returned"
    );
    Ok(())
}
