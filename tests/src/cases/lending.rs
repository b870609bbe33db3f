//! ACTIVITY0200-0202, SCHEDSERVER0200: idle time lent to an activity that
//! may exceed its entitlement, and servers whose records init adds to the
//! scheduler server from the description. Shares are compared by the
//! activities' use as the scheduler server reports it (their contexts'
//! `Consumed`), one activity's against another's over the same stretch,
//! so that they hold without `-icount`: the test's thread waits above the
//! activities on a small budget of its own (its use is its clock), not
//! below them, where a lent thread would leave it no time.

use super::activity::{
    activity, admin, client, manifest, spinner, started, usage, Client, ACTIVITY_PRIORITY,
    PERIOD_US, SCHEDULER,
};
use crate::support::step;
use crate::system::{badge, client_cap, expect_state, program, sched};
use crate::thread::{configure_context, own_sched_context, set_own_priority, TIMESLICE_US};
use crate::{ensure, Env, TestResult};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use keel_abi::manifest::{Restart, Role};
use keel_init::State;
use keel_protocols::console::{ConsoleClient, Line};
use keel_protocols::scheduler::SchedulerError;
use keel_protocols::sys::EndpointClient;
use keel_protocols::{Rights, RpcError};
use keel_sys::cap::{init_thread, Tcb};
use keel_sys::Cap;

/// The test's thread while it waits: above the activities, below the
/// scheduler server.
const WAIT_PRIORITY: u64 = 150;
/// Its budget while it waits, every [`PERIOD_US`]: 2% of the core.
const WAIT_BUDGET_US: u64 = 200;
/// Lets activity 1 run on idle time (through the admin cap `c`).
fn lend_first(c: &mut Client) -> TestResult {
    step(
        c.lend_when_idle(1, ACTIVITY_PRIORITY as u8)
            .map_err(|e| format!("{e:?}")),
        "let activity 1 run on idle time",
    )
}

/// The test's own use in one wait: 15 ms, some 75 of the activities'
/// periods.
const WAIT_US: u64 = 15_000;

/// A spinning thread of `activity` that the scheduler server may move to
/// its background context and back: its maximum controlled priority is
/// the activity's priority (init gives a member program the same).
fn lending_spinner(env: &Env, c: &mut Client, i: u64, activity: u16) -> TestResult {
    let tcb: Cap<Tcb> = spinner(env, c, i, activity)?;
    step(
        tcb.tcb_set_mc_priority(init_thread::TCB, ACTIVITY_PRIORITY),
        "give a spinner its activity's priority as its maximum",
    )
}

/// Waits [`WAIT_US`] of the test's own time on its small budget; returns
/// each of `activities`' use meanwhile, in µs.
fn use_over_a_wait(c: &mut Client, activities: &[u16]) -> Result<Vec<u64>, String> {
    let me = own_sched_context();
    let mut start = Vec::new();
    for &a in activities {
        start.push(usage(c, a)?.consumed_us);
    }
    configure_context(me, WAIT_BUDGET_US, PERIOD_US.into())?;
    set_own_priority(WAIT_PRIORITY)?;
    step(me.sched_context_consumed(), "reset the test's time")?;
    let mut mine = 0;
    while mine < WAIT_US {
        mine += step(me.sched_context_consumed(), "read the test's time")?;
    }
    set_own_priority(255)?;
    configure_context(me, TIMESLICE_US, TIMESLICE_US)?;
    let mut used = Vec::new();
    for (&a, s) in activities.iter().zip(&start) {
        used.push(usage(c, a)?.consumed_us - s);
    }
    Ok(used)
}

/// ACTIVITY0200: an activity that may exceed its entitlement, beside one
/// that may not and nothing else busy, gets the idle time: entitled to
/// 10% each, it uses more than twice what the other does (without
/// lending both get 10%).
pub fn lending_activity_gets_idle_time(env: &Env) -> TestResult {
    let m = manifest(alloc::vec![activity(1, 1000), activity(2, 1000)]);
    started!(env, m, archive, system, c);
    lend_first(&mut c)?;
    lending_spinner(env, &mut c, 0, 1)?;
    spinner(env, &mut c, 1, 2)?;
    let used = use_over_a_wait(&mut c, &[1, 2])?;
    ensure!(
        used[1] > 0 && used[0] > 2 * used[1],
        "activity 1 (lending) used {} us, activity 2 {} us: expected more than twice",
        used[0],
        used[1]
    );
    let u = usage(&mut c, 1)?;
    ensure!(u.threads == 1, "activity 1 has {} threads", u.threads);
    Ok(())
}

/// ACTIVITY0201: with the others busy, an activity that may exceed its
/// entitlement still gets its share: three at 30%, the first lending,
/// all spinning; the first uses no less than 80% of what each other does
/// (it goes back to its own context in time for each refill), and no more
/// than 160% (the little idle time left is all it may add).
pub fn lending_activity_keeps_its_share_when_busy(env: &Env) -> TestResult {
    let m = manifest(alloc::vec![
        activity(1, 3000),
        activity(2, 3000),
        activity(3, 3000)
    ]);
    started!(env, m, archive, system, c);
    lend_first(&mut c)?;
    lending_spinner(env, &mut c, 0, 1)?;
    spinner(env, &mut c, 1, 2)?;
    spinner(env, &mut c, 2, 3)?;
    let used = use_over_a_wait(&mut c, &[1, 2, 3])?;
    for (other, &u) in used.iter().enumerate().skip(1) {
        ensure!(
            u > 0 && used[0] * 10 >= u * 8 && used[0] * 10 <= u * 16,
            "activity 1 (lending) used {} us, activity {} {u} us: expected 80% to 160% of it",
            used[0],
            other + 1
        );
    }
    Ok(())
}

/// SCHEDSERVER0200: lending needs the admin right and a known activity.
pub fn lending_needs_admin(env: &Env) -> TestResult {
    let m = manifest(alloc::vec![activity(1, 1000)]);
    let archive = crate::system::archive(env)?;
    let system = crate::system::start(env, &m, &archive)?;
    expect_state(&system, SCHEDULER, State::Running)?;
    let mut plain = client(env, &system, 2, 1, keel_protocols::scheduler::USAGE)?;
    let got = plain.lend_when_idle(1, ACTIVITY_PRIORITY as u8);
    ensure!(
        got == Err(SchedulerError::Rpc(RpcError::NoRight {
            needed: Rights::ADMIN
        })),
        "lend_when_idle without the admin right: {got:?}"
    );
    let mut c = admin(env, &system)?;
    let got = c.lend_when_idle(9, ACTIVITY_PRIORITY as u8);
    ensure!(
        got == Err(SchedulerError::NoSuchActivity),
        "lend_when_idle of an unknown activity: {got:?}"
    );
    Ok(())
}

/// The console's index in [`described_accounting`]'s system.
const CONSOLE: usize = 2;

/// ACTIVITY0202: a server the description marks as keeping records
/// (`accounting`) is added by init to the scheduler server, passive as
/// its scheduling says: the attribution reports one server, passive, and
/// charges a request to the console to its client's activity there.
pub fn described_accounting(env: &Env) -> TestResult {
    let mut m = manifest(alloc::vec![activity(1, 1000)]);
    let mut console = program("console", Role::Server, sched(150, true), Restart::Never);
    console.debug = true;
    m.programs.push(console);
    m.accounting = alloc::vec![CONSOLE as u16];
    started!(env, m, archive, system, c);
    expect_state(&system, CONSOLE, State::Running)?;
    let system_row = c
        .attribution(0)
        .map_err(|e| format!("attribution of activity 0: {e:?}"))?;
    ensure!(
        system_row.servers == 1 && system_row.passive == 1,
        "init added {} server(s) (passive bits {:#b}); expected the console, passive",
        system_row.servers,
        system_row.passive
    );
    let cap = client_cap(env, &system, CONSOLE, badge(5, 1, Rights::NONE).bits())?;
    let transport = EndpointClient::new(cap, None).map_err(|e| format!("a client: {e}"))?;
    let mut console = ConsoleClient::new(transport);
    let line = Line::try_from("ACTIVITY0202: a line charged to activity 1")
        .map_err(|_| String::from("a line"))?;
    step(
        console.write_line(&line).map_err(|e| format!("{e:?}")),
        "write a line through the console",
    )?;
    let a = c
        .attribution(1)
        .map_err(|e| format!("attribution of activity 1: {e:?}"))?;
    ensure!(
        a.servers == 1 && a.server_requests[0] == 1,
        "activity 1 at the console: {} server(s), {} request(s); expected 1",
        a.servers,
        a.server_requests[0]
    );
    Ok(())
}
