//! SCHEDSERVER0001-0006, ACTIVITY0001-0002: the scheduler server started by
//! keel-init (the test's thread in init's place) with activities of the
//! test's. The activities' threads are test threads that spin, made
//! without a context and admitted through the scheduler protocol, so the
//! scheduler server holds every context they run on. Shares are measured
//! in virtual time (`-icount`) as in [`crate::thread::share_out`]: the
//! test's thread runs below the activities and uses whatever they leave, so
//! an activity's share is its use against its use plus the test's.

use crate::support::step;
use crate::system::{badge, client_cap, expect_state, manifest_of, program};
use crate::thread::{own_sched_context, set_own_priority, spawn_passive, spin};
use crate::{ensure, Env, TestResult};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use keel_abi::manifest::{Activity, Manifest, Restart, Role, Sched};
use keel_init::State;
use keel_protocols::cap::Grant;
use keel_protocols::scheduler::{SchedulerClient, SchedulerError, Usage, USAGE};
use keel_protocols::sys::EndpointClient;
use keel_protocols::{Rights, RpcError};
use keel_sys::cap::Tcb;
use keel_sys::Cap;

/// The scheduler server's index in the test's manifest.
pub(super) const SCHEDULER: usize = 1;
/// Its priority: above the activities, whose faults it takes.
const SCHEDULER_PRIORITY: u8 = 200;
/// The activities' threads' priority.
pub(super) const ACTIVITY_PRIORITY: u64 = 100;
/// The test's thread while it measures: below every activity.
const MEASURE_PRIORITY: u64 = 50;
/// Every activity's period, in microseconds.
pub(super) const PERIOD_US: u32 = 10_000;
/// The test's own time in one measurement: with the activities' 50% or
/// less, at least 12 of their periods.
const MINE_US: u64 = 60_000;
/// How far a measured share may be from its entitlement, in tenths of a
/// percentage point (the test's own loop and the scheduler server's replies
/// take a little of each period).
const SLACK_PERMILLE: u64 = 15;

pub(super) type Client = SchedulerClient<EndpointClient>;

/// An activity `id` entitled to `budget_us` every [`PERIOD_US`].
pub(super) fn activity(id: u16, budget_us: u32) -> Activity {
    Activity {
        name: format!("a{id}"),
        id,
        budget_us,
        period_us: PERIOD_US,
        priority: ACTIVITY_PRIORITY as u8,
        members: Vec::new(),
        may_exceed_when_idle: false,
    }
}

/// The scheduler server (active, on a whole core of its own context, with
/// a Debug cap) and `activities`.
pub(super) fn manifest(activities: Vec<Activity>) -> Manifest {
    let sched = Sched {
        priority: SCHEDULER_PRIORITY,
        budget_us: 1000,
        period_us: 1000,
        passive: false,
    };
    let mut scheduler = program("scheduler", Role::Server, sched, Restart::Never);
    scheduler.debug = true;
    Manifest {
        activities,
        scheduler: Some(SCHEDULER as u16),
        ..manifest_of(
            "activity-tests",
            alloc::vec![scheduler],
            Vec::new(),
            Vec::new(),
        )
    }
}

/// A client of the scheduler server with the badge of client `client`,
/// activity `activity` and `rights`.
pub(super) fn client(
    env: &Env,
    system: &keel_init::System,
    client: u16,
    activity: u16,
    rights: Rights,
) -> Result<Client, String> {
    let cap = client_cap(
        env,
        system,
        SCHEDULER,
        badge(client, activity, rights).bits(),
    )?;
    let transport = EndpointClient::new(cap, None).map_err(|e| format!("a client: {e}"))?;
    Ok(SchedulerClient::new(transport))
}

/// The client init's place gives the test: every right.
pub(super) fn admin(env: &Env, system: &keel_init::System) -> Result<Client, String> {
    client(env, system, 1, 0, Rights::ADMIN.union(USAGE))
}

/// Test thread `i`, spinning, admitted to `activity` and started.
pub(super) fn spinner(
    env: &Env,
    c: &mut Client,
    i: u64,
    activity: u16,
) -> Result<Cap<Tcb>, String> {
    let tcb = spawn_passive(env, spin, i as usize, i, ACTIVITY_PRIORITY)?;
    step(
        c.admit(Grant::new(tcb.cptr().bits()), activity)
            .map_err(|e| format!("{e:?}")),
        "admit a thread",
    )?;
    step(tcb.tcb_resume(), "start the thread")?;
    Ok(tcb)
}

pub(super) fn usage(c: &mut Client, activity: u16) -> Result<Usage, String> {
    c.usage(activity)
        .map_err(|e| format!("usage of activity {activity}: {e:?}"))
}

/// Runs the test's thread below the activities until it has used
/// [`MINE_US`], then reads their use; returns each activity's share of
/// their use and the test's together, in permille. The scheduler server is
/// asked only before and after: its own time (on its own context) is in
/// neither, so a query per pass would make the test's share look small.
fn shares(c: &mut Client, activities: &[u16]) -> Result<Vec<u64>, String> {
    let me = own_sched_context();
    let mut start = Vec::new();
    for &a in activities {
        start.push(usage(c, a)?.consumed_us);
    }
    step(me.sched_context_consumed(), "reset the test's time")?;
    set_own_priority(MEASURE_PRIORITY)?;
    let mut mine = 0;
    while mine < MINE_US {
        mine += step(me.sched_context_consumed(), "read the test's time")?;
    }
    set_own_priority(255)?;
    let mut used = Vec::new();
    for (&a, s) in activities.iter().zip(&start) {
        used.push(usage(c, a)?.consumed_us - s);
    }
    let total = used.iter().sum::<u64>() + mine;
    Ok(used.iter().map(|u| u * 1000 / total).collect())
}

/// Checks `share` (permille) is `budget_us` of [`PERIOD_US`] within
/// [`SLACK_PERMILLE`].
fn near_entitlement(share: u64, budget_us: u32, what: &str) -> TestResult {
    let want = u64::from(budget_us) * 1000 / u64::from(PERIOD_US);
    ensure!(
        share.abs_diff(want) <= SLACK_PERMILLE,
        "{what}: measured {share} permille of the CPU, entitled to {want}"
    );
    Ok(())
}

/// Starts the system of `activities`; returns it with the admin client.
macro_rules! started {
    ($env:expr, $manifest:ident, $archive:ident, $system:ident, $admin:ident) => {
        let $archive = crate::system::archive($env)?;
        let $system = crate::system::start($env, &$manifest, &$archive)?;
        expect_state(&$system, SCHEDULER, State::Running)?;
        let mut $admin = admin($env, &$system)?;
    };
}
pub(super) use started;

/// SCHEDSERVER0001: one spinning thread of an activity entitled to 30%
/// gets 30% and no more, its budget's exhaustion reaching the scheduler
/// server as timeout faults.
pub fn activity_held_to_budget(env: &Env) -> TestResult {
    let m = manifest(alloc::vec![activity(1, 3000)]);
    started!(env, m, archive, system, c);
    spinner(env, &mut c, 0, 1)?;
    let share = shares(&mut c, &[1])?;
    near_entitlement(share[0], 3000, "activity 1")?;
    let u = usage(&mut c, 1)?;
    ensure!(
        u.threads == 1 && u.timeouts >= 5,
        "after a measurement: {} thread(s), {} timeout faults",
        u.threads,
        u.timeouts
    );
    Ok(())
}

/// SCHEDSERVER0002: a new entitlement holds from the next period: 30%, then 10%.
pub fn entitlement_change_holds(env: &Env) -> TestResult {
    let m = manifest(alloc::vec![activity(1, 3000)]);
    started!(env, m, archive, system, c);
    spinner(env, &mut c, 0, 1)?;
    near_entitlement(shares(&mut c, &[1])?[0], 3000, "at 30%")?;
    step(
        c.set_entitlement(1, 1000, PERIOD_US)
            .map_err(|e| format!("{e:?}")),
        "lower the entitlement to 10%",
    )?;
    let u = usage(&mut c, 1)?;
    ensure!(
        (u.budget_us, u.period_us) == (1000, PERIOD_US),
        "the server reports {} us every {} us",
        u.budget_us,
        u.period_us
    );
    near_entitlement(shares(&mut c, &[1])?[0], 1000, "at 10%")?;
    Ok(())
}

/// SCHEDSERVER0003: without the usage right a client cannot read an
/// activity's use; without the admin right it cannot change an entitlement
/// or admit a thread to another activity than its own.
pub fn rights_are_needed(env: &Env) -> TestResult {
    let m = manifest(alloc::vec![activity(1, 3000), activity(2, 1000)]);
    started!(env, m, archive, system, c);
    let mut plain = client(env, &system, 2, 1, Rights::NONE)?;
    let no_usage = SchedulerError::Rpc(RpcError::NoRight { needed: USAGE });
    ensure!(
        plain.usage(1) == Err(no_usage),
        "usage without the right: {:?}",
        plain.usage(1)
    );
    let mut reader = client(env, &system, 3, 1, USAGE)?;
    let no_admin = SchedulerError::Rpc(RpcError::NoRight {
        needed: Rights::ADMIN,
    });
    for (who, got) in [
        ("no right", plain.set_entitlement(2, 8000, PERIOD_US)),
        (
            "the usage right",
            reader.set_entitlement(2, 8000, PERIOD_US),
        ),
    ] {
        ensure!(got == Err(no_admin), "set_entitlement with {who}: {got:?}");
    }
    let tcb = spawn_passive(env, spin, 0, 0, ACTIVITY_PRIORITY)?;
    let got = plain.admit(Grant::new(tcb.cptr().bits()), 2);
    ensure!(
        got == Err(SchedulerError::NotYourActivity),
        "admitting to another activity: {got:?}"
    );
    let u = usage(&mut c, 2)?;
    ensure!(
        (u.budget_us, u.threads) == (1000, 0),
        "activity 2 changed: {} us, {} threads",
        u.budget_us,
        u.threads
    );
    // Its own activity it may join.
    step(
        plain
            .admit(Grant::new(tcb.cptr().bits()), 1)
            .map_err(|e| format!("{e:?}")),
        "admit a thread to the client's own activity",
    )?;
    Ok(())
}

/// SCHEDSERVER0004: the use reported is what the contexts consumed: a
/// thread that spends its whole budget each period has used, after `n`
/// timeout faults, between `n` and `n + 1` budgets; a stopped thread's use
/// stops growing (no read is counted twice).
pub fn usage_sums_consumed(env: &Env) -> TestResult {
    let m = manifest(alloc::vec![activity(1, 2000)]);
    started!(env, m, archive, system, c);
    let tcb = spinner(env, &mut c, 0, 1)?;
    shares(&mut c, &[1])?;
    step(tcb.tcb_suspend(), "stop the thread")?;
    let u = usage(&mut c, 1)?;
    let n = u64::from(u.timeouts);
    ensure!(
        n >= 5 && u.consumed_us >= n * 2000 && u.consumed_us <= (n + 1) * 2000 + 50,
        "{} us used over {n} timeout faults of a 2000 us budget",
        u.consumed_us
    );
    let again = usage(&mut c, 1)?;
    ensure!(
        again.consumed_us == u.consumed_us,
        "a stopped thread's use grew from {} to {} us",
        u.consumed_us,
        again.consumed_us
    );
    Ok(())
}

/// SCHEDSERVER0005: a timeout fault reaches the scheduler server charged to
/// the activity its context's badge names: the spinning activity's faults
/// are counted, the one whose thread never runs out of budget has none.
pub fn timeout_faults_carry_the_activity(env: &Env) -> TestResult {
    let m = manifest(alloc::vec![activity(1, 2000), activity(2, 2000)]);
    started!(env, m, archive, system, c);
    spinner(env, &mut c, 0, 1)?;
    // Thread 1 of activity 2 stops at once: it never spends its budget.
    let idle = spawn_passive(env, crate::thread::count_once, 1, 1, ACTIVITY_PRIORITY)?;
    step(
        c.admit(Grant::new(idle.cptr().bits()), 2)
            .map_err(|e| format!("{e:?}")),
        "admit the idle thread",
    )?;
    step(idle.tcb_resume(), "start the idle thread")?;
    shares(&mut c, &[1, 2])?;
    let (busy, quiet) = (usage(&mut c, 1)?, usage(&mut c, 2)?);
    ensure!(
        busy.timeouts >= 5 && quiet.timeouts == 0,
        "timeout faults: {} charged to the spinning activity, {} to the idle one",
        busy.timeouts,
        quiet.timeouts
    );
    Ok(())
}

/// ACTIVITY0001: an activity's share does not grow with its threads: four
/// spinning threads at 30% beside one at 20% get 30% and 20%.
pub fn share_independent_of_threads(env: &Env) -> TestResult {
    let m = manifest(alloc::vec![activity(1, 3000), activity(2, 2000)]);
    started!(env, m, archive, system, c);
    for i in 0..4 {
        spinner(env, &mut c, i, 1)?;
    }
    spinner(env, &mut c, 4, 2)?;
    let s = shares(&mut c, &[1, 2])?;
    near_entitlement(s[0], 3000, "activity 1, four threads")?;
    near_entitlement(s[1], 2000, "activity 2, one thread")?;
    ensure!(
        usage(&mut c, 1)?.threads == 4,
        "activity 1 does not report 4 threads"
    );
    Ok(())
}

/// ACTIVITY0002: stopping every thread of one activity leaves the other's
/// share as it was: 20% beside a 30% activity, and 20% once that one's
/// threads are gone.
pub fn killing_one_activity_leaves_others(env: &Env) -> TestResult {
    let m = manifest(alloc::vec![activity(1, 3000), activity(2, 2000)]);
    started!(env, m, archive, system, c);
    let mut doomed = Vec::new();
    for i in 0..2 {
        doomed.push(spinner(env, &mut c, i, 1)?);
    }
    spinner(env, &mut c, 2, 2)?;
    let before = shares(&mut c, &[1, 2])?;
    near_entitlement(before[1], 2000, "activity 2 beside activity 1")?;
    for tcb in doomed {
        step(tcb.tcb_suspend(), "stop a thread of activity 1")?;
    }
    let after = shares(&mut c, &[1, 2])?;
    ensure!(
        after[0] == 0,
        "the stopped activity used {} permille",
        after[0]
    );
    near_entitlement(after[1], 2000, "activity 2 alone")?;
    Ok(())
}

/// ACTIVITY0003: init admits a member program it starts: the spinner, a
/// member of an activity entitled to 30%, runs on a context the scheduler
/// server made (its own one unbound) and gets 30%.
pub fn init_admits_members(env: &Env) -> TestResult {
    let mut a = activity(1, 3000);
    a.members.push(2);
    let mut m = manifest(alloc::vec![a]);
    let member = Sched {
        priority: ACTIVITY_PRIORITY as u8,
        budget_us: 3000,
        period_us: PERIOD_US,
        passive: false,
    };
    m.programs
        .push(program("spinner", Role::App, member, Restart::Never));
    started!(env, m, archive, system, c);
    expect_state(&system, 2, State::Running)?;
    let u = usage(&mut c, 1)?;
    ensure!(u.threads == 1, "activity 1 has {} threads", u.threads);
    near_entitlement(shares(&mut c, &[1])?[0], 3000, "the member program")
}
