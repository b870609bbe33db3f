//! TIMER: the timer server (keel-timer) as its clients see it, started by
//! keel-init from the boot archive as system.toml describes it, with its
//! device (x86_64: the PIT's I/O APIC pin and ports; aarch64: the EL1
//! physical timer's PPI), and reached
//! through keel-rt's `time::Timer`. The suite runs under QEMU's `-icount`,
//! so the server's clock follows instructions: a sleep is checked against
//! that clock to the device's tick (never early) and a bound on lateness,
//! never against the host's time.

use crate::cases::retype::make;
use crate::support::{slot, step};
use crate::system::{
    archive, badge, client_cap, expect_malformed_refused, label, manifest_of, raw, start, Operation,
};
use crate::{ensure, Env, TestResult};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;
use keel_abi::archive::Archive;
use keel_abi::manifest::{Manifest, Restart};
use keel_abi::{CapRights, CapType, ObjectType};
use keel_init::System;
use keel_protocols::badge::Rights;
use keel_protocols::cap::Grant;
use keel_protocols::timer::{TimerError, PROTOCOL, VERSION};
use keel_protocols::RpcError;
use keel_rt::time::{Deadline, Timer, SLEEP_TIMEOUT};
use keel_sys::cap::{Endpoint, Notification};
use keel_sys::{CPtr, Cap};

/// The timer server's index in [`timer_manifest`].
const TIMER: usize = 1;
/// Its priority, below the test's thread (which supervises).
const TIMER_PRIORITY: u8 = 230;
/// How late a sleep may end, by the server's clock: the device's tick,
/// the interrupt's way to the server, its work and the client's wake-up
/// are a few tens of thousands of instructions (nanoseconds under
/// `-icount`).
const LATE_NS: u64 = 200_000;
/// The timeouts one client may have set (keel-timer-core's limit).
const PER_CLIENT: u8 = keel_timer_core::TIMEOUTS_PER_CLIENT as u8;

/// The system: the timer server alone, as system.toml describes it (its
/// device's lines and ports), below the test's thread and never restarted.
fn timer_manifest(archive: &Archive) -> Result<Manifest, String> {
    let mut timer =
        keel_bench::system::described(archive, "timer").ok_or("no timer in the manifest")?;
    timer.start = true;
    timer.restart = Restart::Never;
    let sched = timer.sched.as_mut().ok_or("the timer has no scheduling")?;
    sched.priority = TIMER_PRIORITY;
    Ok(manifest_of("timer-tests", vec![timer], vec![], vec![]))
}

/// A client cap to the timer server with client number `client`.
fn endpoint(env: &Env, system: &System, client: u16) -> Result<Cap<Endpoint>, String> {
    client_cap(env, system, TIMER, badge(client, 1, Rights::NONE).bits())
}

/// A fresh notification.
fn notification(env: &Env) -> Result<Cap<Notification>, String> {
    let n = make(env, 12, ObjectType::Notification, 0, 1)?;
    Ok(Cap::from_cptr(CPtr::from_bits(n)))
}

/// A client connected as `client`, with a notification of its own.
fn connect(env: &Env, system: &System, client: u16) -> Result<Timer, String> {
    let ep = endpoint(env, system, client)?;
    step(Timer::new(ep, notification(env)?), "connect to the timer")
}

/// `ns` as a duration.
fn ns(ns: u64) -> Duration {
    Duration::from_nanos(ns)
}

/// TIMER0100: the clock advances; sleeps of 50 us to 5 ms each last at
/// least what was asked by the server's clock, and end within [`LATE_NS`];
/// the cycle counter (virtual nanoseconds under `-icount`) agrees.
pub fn sleeps_last_what_was_asked(env: &Env) -> TestResult {
    let archive = archive(env)?;
    let manifest = timer_manifest(&archive)?;
    let system = start(env, &manifest, &archive)?;
    let mut timer = connect(env, &system, 1)?;
    let t0 = step(timer.now_ns(), "now")?;
    let t1 = step(timer.now_ns(), "now")?;
    ensure!(t1 >= t0, "the clock went back: {t0} then {t1}");
    for asked in [50_000, 1_000_000, 2_000_000, 5_000_000] {
        let before = step(timer.now_ns(), "now")?;
        let cycles = keel_sys::arch::cycle_counter();
        step(timer.sleep(ns(asked)), "sleep")?;
        let cycles = keel_sys::arch::cycle_counter() - cycles;
        let slept = step(timer.now_ns(), "now")? - before;
        ensure!(slept >= asked, "a sleep of {asked} ns lasted {slept} ns");
        ensure!(
            slept < asked + LATE_NS,
            "a sleep of {asked} ns lasted {slept} ns, more than {LATE_NS} late"
        );
        ensure!(
            cycles >= asked && cycles < asked + LATE_NS,
            "a sleep of {asked} ns took {cycles} cycles"
        );
    }
    // A deadline: passed once the sleep to it is over, not before.
    let deadline = step(Deadline::after(&mut timer, ns(300_000)), "deadline")?;
    ensure!(
        !step(deadline.has_passed(&mut timer), "passed")?,
        "a deadline 300 us ahead has passed at once"
    );
    step(timer.sleep_until(deadline), "sleep until")?;
    ensure!(
        step(deadline.remaining(&mut timer), "remaining")? == Duration::ZERO,
        "time remains after sleeping until the deadline"
    );
    Ok(())
}

/// Clients of [`hundred_in_order`]: 7 of 16 timeouts or fewer make 100.
const CLIENTS: u16 = 7;
/// Timeouts set at once.
const TIMEOUTS: u64 = 100;
/// Between two deadlines: far more than the server needs per expiry.
const SPACING_NS: u64 = 50_000;

/// TIMER0101: 100 timeouts of 7 clients, set in a scrambled order, fire in
/// deadline order: each client's expiries, read after its signal, come in
/// batches that follow one another without overlap, and all 100 arrive.
pub fn hundred_in_order(env: &Env) -> TestResult {
    let archive = archive(env)?;
    let manifest = timer_manifest(&archive)?;
    let system = start(env, &manifest, &archive)?;
    let shared = notification(env)?;
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let s = env.slots(1)?;
        step(
            slot(s).mint(&slot(shared.cptr().bits()), CapRights::ALL, 1 << c),
            "mint a client's notification",
        )?;
        let ep = endpoint(env, &system, c + 1)?;
        let ntfn = Cap::from_cptr(CPtr::from_bits(s));
        clients.push(step(Timer::new(ep, ntfn), "connect")?);
    }
    let base = step(clients[0].now_ns(), "now")? + 2_000_000;
    // Timeout k (deadline base + k * spacing) is client k % 7's number
    // k / 7, set in the order k = 37 i mod 100 (37 is prime to 100).
    for i in 0..TIMEOUTS {
        let k = (i * 37) % TIMEOUTS;
        let (c, n) = (
            (k % u64::from(CLIENTS)) as usize,
            (k / u64::from(CLIENTS)) as u8,
        );
        step(
            clients[c].client().set_timeout(n, base + k * SPACING_NS, 0),
            "set a timeout",
        )?;
    }
    let mut seen = 0u64;
    let mut batches = 0;
    while seen < TIMEOUTS {
        let woken = shared.wait();
        let mut batch = Vec::new();
        for (c, client) in clients.iter_mut().enumerate() {
            if woken & (1 << c) == 0 {
                continue;
            }
            let mask = step(client.take_expired(), "expired")?;
            for n in 0..64u64 {
                if mask & (1 << n) != 0 {
                    batch.push(n * u64::from(CLIENTS) + c as u64);
                }
            }
        }
        batch.sort_unstable();
        let expected: Vec<u64> = (seen..seen + batch.len() as u64).collect();
        ensure!(
            batch == expected,
            "after {seen} timeouts the next batch was {batch:?}"
        );
        seen += batch.len() as u64;
        batches += 1;
    }
    ensure!(
        batches > TIMEOUTS / 2,
        "100 timeouts 50 us apart came in only {batches} batches"
    );
    Ok(())
}

/// TIMER0102: a periodic timeout fires once a period, each expiry at or
/// after its deadline by the server's clock; cancelled, it fires no more.
pub fn periodic_then_cancelled(env: &Env) -> TestResult {
    let archive = archive(env)?;
    let manifest = timer_manifest(&archive)?;
    let system = start(env, &manifest, &archive)?;
    let mut timer = connect(env, &system, 2)?;
    const PERIOD: u64 = 1_000_000;
    const NUMBER: u8 = 5;
    let first = step(timer.now_ns(), "now")? + PERIOD;
    step(
        timer.client().set_timeout(NUMBER, first, PERIOD),
        "set a periodic timeout",
    )?;
    for k in 0..5 {
        timer.notification().wait();
        let now = step(timer.now_ns(), "now")?;
        let mask = step(timer.take_expired(), "expired")?;
        ensure!(mask == 1 << NUMBER, "expiry {k}: mask {mask:#x}");
        let due = first + k * PERIOD;
        ensure!(
            now >= due && now < due + LATE_NS,
            "expiry {k} seen at {now} ns, due at {due} ns"
        );
    }
    step(timer.client().cancel(NUMBER), "cancel")?;
    step(timer.sleep(ns(3 * PERIOD)), "sleep three periods")?;
    let mask = step(timer.take_expired(), "expired")?;
    ensure!(mask == 0, "a cancelled periodic timeout fired: {mask:#x}");
    Ok(())
}

/// TIMER0103: cancel: a cancelled one-shot never fires and its sibling
/// does; cancelling it again is `NotSet`; a number past 63 is `BadNumber`;
/// a client's 17th timeout is `TooMany`, and another client is not limited
/// by it.
pub fn cancel_and_limits(env: &Env) -> TestResult {
    let archive = archive(env)?;
    let manifest = timer_manifest(&archive)?;
    let system = start(env, &manifest, &archive)?;
    let mut timer = connect(env, &system, 3)?;
    let now = step(timer.now_ns(), "now")?;
    step(timer.client().set_timeout(0, now + 500_000, 0), "set 0")?;
    step(timer.client().set_timeout(1, now + 1_000_000, 0), "set 1")?;
    step(timer.client().cancel(0), "cancel 0")?;
    step(timer.sleep(ns(2_000_000)), "sleep")?;
    let mask = step(timer.take_expired(), "expired")?;
    ensure!(mask == 1 << 1, "after cancelling 0 of 0 and 1: {mask:#x}");
    let again = timer.client().cancel(0);
    ensure!(again == Err(TimerError::NotSet), "cancel again: {again:?}");
    let bad = timer.client().cancel(64);
    ensure!(bad == Err(TimerError::BadNumber), "cancel 64: {bad:?}");
    let bad = timer.client().set_timeout(200, now, 0);
    ensure!(bad == Err(TimerError::BadNumber), "set 200: {bad:?}");
    let far = now + 1_000_000_000;
    for n in 0..PER_CLIENT {
        step(timer.client().set_timeout(n, far, 0), "set a far timeout")?;
    }
    let full = timer.client().set_timeout(PER_CLIENT, far, 0);
    ensure!(full == Err(TimerError::TooMany), "17th timeout: {full:?}");
    let mut other = connect(env, &system, 4)?;
    step(other.client().set_timeout(0, far, 0), "another client's")?;
    Ok(())
}

/// A client of client number `client` whose notification is made from an
/// untyped of its own, as a process's objects are: revoking that untyped
/// is the client's death as init tears a process down. Returns the timer
/// and the untyped's slot.
fn mortal(env: &Env, system: &System, client: u16) -> Result<(Timer, u64), String> {
    let (untyped, _) = env.untyped(12)?;
    let n = env.slots(1)?;
    step(
        untyped.untyped_retype(
            ObjectType::Notification,
            0,
            &keel_sys::cap::init_thread::CNODE.absolute_cptr_with_depth(0, 0),
            n,
            1,
        ),
        "make the client's notification",
    )?;
    let ep = endpoint(env, system, client)?;
    let timer = step(
        Timer::new(ep, Cap::from_cptr(CPtr::from_bits(n))),
        "connect a client",
    )?;
    Ok((timer, untyped.cptr().bits()))
}

/// Sets all 16 of `timer`'s timeouts, periodic from `first`.
fn fill(timer: &mut Timer, first: u64) -> TestResult {
    for n in 0..PER_CLIENT {
        step(
            timer.client().set_timeout(n, first + u64::from(n), 300_000),
            "set a timeout",
        )?;
    }
    Ok(())
}

/// TIMER0104: a dead client's timeouts are dropped. A client with 16
/// periodic timeouts dies (the untyped its notification came from is
/// revoked); when they come due the server finds its notification gone
/// and drops them: a new instance under the same badge, before handing
/// over a notification, may set 16 again and has no expiries. Then that
/// instance dies with 16 timeouts far ahead, and the next instance's
/// handing over its notification drops them the same way.
pub fn dead_clients_timeouts_dropped(env: &Env) -> TestResult {
    const CLIENT: u16 = 5;
    let archive = archive(env)?;
    let manifest = timer_manifest(&archive)?;
    let system = start(env, &manifest, &archive)?;
    let mut witness = connect(env, &system, 6)?;
    let (mut first, untyped) = mortal(env, &system, CLIENT)?;
    let now = step(first.now_ns(), "now")?;
    fill(&mut first, now + 200_000)?;
    first.notification().wait();
    ensure!(
        step(first.take_expired(), "expired")? != 0,
        "the living client heard of no expiry"
    );
    step(slot(untyped).revoke(), "the client dies")?;
    step(witness.sleep(ns(1_000_000)), "sleep past its deadlines")?;
    let ep = endpoint(env, &system, CLIENT)?;
    let mut second = keel_protocols::timer::TimerClient::new(step(
        keel_protocols::sys::EndpointClient::new(ep, None),
        "a client",
    )?);
    let far = now + 1_000_000_000;
    for n in 0..PER_CLIENT {
        let r = second.set_timeout(n + 20, far, 0);
        ensure!(r == Ok(()), "the next instance's timeout {n}: {r:?}");
    }
    let left = second.expired();
    ensure!(left == Ok(0), "the dead instance's expiries: {left:?}");
    for n in 0..PER_CLIENT {
        step(second.cancel(n + 20), "cancel")?;
    }
    // Death with timeouts far ahead: dropped when the badge's next
    // instance hands over its notification.
    let (mut third, untyped) = mortal(env, &system, CLIENT)?;
    fill(&mut third, far)?;
    step(slot(untyped).revoke(), "the client dies again")?;
    let (mut fourth, _) = mortal(env, &system, CLIENT)?;
    fill(&mut fourth, far).map_err(|e| format!("the dead instance's timeouts were kept: {e}"))?;
    Ok(())
}

/// TIMER0105: malformed requests get error replies and the server goes on:
/// an unknown operation, another protocol or version, `set_timeout` with
/// too few or too many words, `notify_with` without its cap or with an
/// endpoint; each followed by a request that is served.
pub fn malformed_requests_refused(env: &Env) -> TestResult {
    let archive = archive(env)?;
    let manifest = timer_manifest(&archive)?;
    let system = start(env, &manifest, &archive)?;
    let ep = endpoint(env, &system, 7)?;
    let mut timer = connect(env, &system, 8)?;
    let set_timeout = Operation {
        protocol: PROTOCOL,
        version: VERSION,
        op: 3,
        words: 3,
    };
    expect_malformed_refused(ep, set_timeout, &[0, 2, 4], || {
        step(timer.now_ns(), "now after a malformed request").map(|_| ())
    })?;
    let missing = raw(ep, label(PROTOCOL, VERSION, 1), 0)?;
    ensure!(
        missing == RpcError::MissingCap { index: 0 },
        "notify_with without a cap: {missing:?}"
    );
    let mut client = keel_protocols::timer::TimerClient::new(step(
        keel_protocols::sys::EndpointClient::new(ep, None),
        "a client",
    )?);
    let wrong = client.notify_with(Grant::new(ep.cptr().bits()));
    let want = TimerError::Rpc(RpcError::WrongCapType {
        index: 0,
        got: CapType::Endpoint,
    });
    ensure!(wrong == Err(want), "notify_with an endpoint: {wrong:?}");
    step(timer.sleep(ns(100_000)), "a sleep after the refusals")?;
    ensure!(
        step(timer.take_expired(), "expired")? & (1 << SLEEP_TIMEOUT) == 0,
        "the sleep's expiry was reported twice"
    );
    Ok(())
}
