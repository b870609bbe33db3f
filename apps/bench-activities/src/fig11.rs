//! Figure 11's runs: the chains of [`crate::chain`] set up, three
//! activities (numbered 4 to 6, named a1 to a3 in the lines) admitted with
//! one client thread each, and [`WINDOWS`] windows of one second of
//! virtual time per run, first with every server passive, then with the
//! middle server active. Each window reads the scheduler server's
//! attribution of every activity at its start and end.
//!
//! Lines, per window: `BENCH fig11-<run>-a<i>-<where> <entitled ppm>
//! <measured ppm>`, where `<where>` is `own` (the activity's share of the
//! time spent in the clients' own code) or `s1`..`s3` (its share of that
//! server's records); and `BENCH fig11-<run>-attributed <non-idle µs>
//! <attributed µs>`: the window's time less the background thread's, and
//! of that what the activities' contexts used and the active server's
//! records charged to them; `BENCH fig11-<run>-measuring <scheduler µs>
//! <controller µs>` (the scheduler server's and this thread's use) and
//! `BENCH fig11-<run>-active-server 0 <µs>` (the active server's use).

use crate::chain::{client, server, FIRST, HOPS, POOL, SEATS};
use crate::{Client, Objects, ACTIVITY_PRIORITIES, PERIOD_US};
use core::sync::atomic::Ordering;
use keel_abi::object::MIN_SCHED_CONTEXT_BITS;
use keel_abi::{CapRights, ObjectType};
use keel_bench::{at, Failure, Step};
use keel_protocols::accounting;
use keel_protocols::cap::Grant;
use keel_protocols::scheduler::Attribution;
use keel_protocols::{ActivityId, ClientBadge, ClientId, Rights};
use keel_rt::println;
use keel_sys::arch::cycle_counter;
use keel_sys::cap::{init_thread, Endpoint, SchedContext, Tcb};
use keel_sys::sched::SchedContextFlags;
use keel_sys::{CPtr, Cap};

/// Windows per run.
const WINDOWS: usize = 5;
/// One window, in counter ticks (one second of virtual time).
const WINDOW_TICKS: u64 = 1_000_000_000;
/// The activities' numbers.
const ACTIVITIES: [u16; 3] = [4, 5, 6];
/// Their budgets per [`PERIOD_US`], 50%, 33% and 17% of what they have
/// together: with every server passive, and with the middle one active
/// (which then runs its work and the last server's, which it calls and
/// which so runs on its context: as much as the activities use, 40% of a
/// core, on a context of its own). That context is round robin, as the
/// scheduler server's: on a sporadic one of 25% every 10 ms its many short
/// runs split its refills, it was throttled to 17% and held the
/// activities to a quarter of their entitlements.
const PASSIVE_BUDGETS_US: [u32; 3] = [4_200, 2_772, 1_428];
const ACTIVE_BUDGETS_US: [u32; 3] = [2_000, 1_320, 680];
/// What Figure 8's activities keep meanwhile (their threads are stopped).
const IDLE_BUDGET_US: u32 = 100;
/// The servers' priority, above the activities'.
const SERVER_PRIORITY: u64 = 150;

/// The contexts read with `Consumed` besides the activities': the
/// background thread's, the scheduler server's and this thread's.
pub struct Contexts(pub [Cap<SchedContext>; 3]);

impl Contexts {
    /// Adds what each used since the last read to `used` (the active
    /// server's, when there is one, last).
    fn read(&self, own: Option<Cap<SchedContext>>, used: &mut [u64; 4]) -> Step<()> {
        for (sc, u) in self.0.iter().chain(own.iter()).zip(used.iter_mut()) {
            *u += at("consumed", sc.sched_context_consumed())?;
        }
        Ok(())
    }
}

/// One snapshot of where the activities' CPU went.
struct Snapshot {
    at: [Attribution; 3],
}

fn attributions(c: &mut Client) -> Step<Snapshot> {
    let mut at = [Attribution::default(); 3];
    for (a, out) in ACTIVITIES.iter().zip(at.iter_mut()) {
        *out = c
            .attribution(*a)
            .map_err(|e| Failure::new(alloc::format!("attribution of {a}: {e:?}")))?;
    }
    Ok(Snapshot { at })
}

fn mint(objects: &mut Objects, ep: u64, badge: ClientBadge) -> Step<u64> {
    let slot = objects.slot()?;
    at(
        "mint",
        init_thread::CNODE
            .absolute_cptr(CPtr::from_bits(slot))
            .mint(
                &init_thread::CNODE.absolute_cptr(CPtr::from_bits(ep)),
                CapRights::WRITE.union(CapRights::GRANT_REPLY),
                badge.bits(),
            ),
    )?;
    Ok(slot)
}

fn client_id(n: u16) -> ClientId {
    ClientId::new(n).unwrap_or(ClientId::MAX)
}

/// Chain `k`: its servers started (the middle one active when `active`),
/// made passive, and added to the scheduler server. Returns the first
/// server's endpoint and the active server's context.
fn chain(
    objects: &mut Objects,
    c: &mut Client,
    k: usize,
    active: bool,
) -> Step<(u64, Option<Cap<SchedContext>>)> {
    let ready = objects.make(ObjectType::Endpoint, 0)?;
    let mut eps = [0; HOPS];
    for ep in eps.iter_mut() {
        *ep = objects.make(ObjectType::Endpoint, 0)?;
    }
    let mut own = None;
    // Last first, so each relays to one that already serves.
    for h in (0..HOPS).rev() {
        let number = k * HOPS + h;
        let next = match eps.get(h + 1) {
            Some(&n) => {
                let relay = ClientBadge::new(client_id(1), ActivityId(0), Rights::RELAY);
                mint(objects, n, relay)?
            }
            None => 0,
        };
        let is_active = active && h == 1;
        let sc: Cap<SchedContext> =
            crate::cap(objects.make(ObjectType::SchedContext, MIN_SCHED_CONTEXT_BITS.into())?);
        let slice = keel_abi::sched::ROOT_TIMESLICE_US;
        let threads = if is_active { 1 } else { POOL };
        at(
            "a server's context",
            init_thread::SCHED_CONTROL.sched_control_configure_flags(
                sc,
                slice,
                slice,
                0,
                0,
                SchedContextFlags::NONE,
            ),
        )?;
        for p in 0..threads {
            let i = number * POOL + p;
            let reply = objects.make(ObjectType::Reply, 0)?;
            let wiring = [eps[h], reply, ready, next, number as u64];
            for (w, v) in SEATS[i].wiring.iter().zip(wiring) {
                w.store(v, Ordering::SeqCst);
            }
            let t = objects.thread_with(SERVER_PRIORITY, server, i as u64)?;
            // A passive server's threads each start on the context, say
            // they are ready and give it back.
            at("bind a server", sc.sched_context_bind(t))?;
            at("start a server", t.tcb_resume())?;
            let _ = crate::cap::<Endpoint>(ready).recv(None);
            if !is_active {
                at("make a server passive", sc.sched_context_unbind())?;
            }
        }
        if is_active {
            own = Some(sc);
        }
        let usage = ClientBadge::new(
            client_id(300 + number as u16),
            ActivityId(0),
            accounting::USAGE,
        );
        let records = mint(objects, eps[h], usage)?;
        // The last server, behind an active one, runs on that one's
        // context, not the activities'.
        let on_activities = !active || h == 0;
        c.add_server(Grant::new(records), u8::from(on_activities))
            .map_err(|e| Failure::new(alloc::format!("add a server: {e:?}")))?;
    }
    Ok((eps[0], own))
}

/// Points each activity's client at chain `first`.
fn aim(objects: &mut Objects, first: u64) -> Step<()> {
    for (i, &a) in ACTIVITIES.iter().enumerate() {
        let badge = ClientBadge::new(client_id(a), ActivityId(a), Rights::NONE);
        FIRST[i].store(mint(objects, first, badge)?, Ordering::SeqCst);
    }
    Ok(())
}

fn entitle(c: &mut Client, budgets: &[u32; 3]) -> Step<()> {
    for (&a, &b) in ACTIVITIES.iter().zip(budgets) {
        c.set_entitlement(a, b, PERIOD_US)
            .map_err(|e| Failure::new(alloc::format!("entitle {a}: {e:?}")))?;
    }
    Ok(())
}

/// Both runs; `quiet` gives this thread its small budget for the windows,
/// `loud` its whole core back for setting up.
pub fn run(
    objects: &mut Objects,
    c: &mut Client,
    contexts: Contexts,
    quiet: &dyn Fn() -> Step<()>,
    loud: &dyn Fn() -> Step<()>,
) -> Step<alloc::vec::Vec<Cap<Tcb>>> {
    loud()?;
    for a in 1..=3 {
        c.set_entitlement(a, IDLE_BUDGET_US, PERIOD_US)
            .map_err(|e| Failure::new(alloc::format!("shrink a{a}: {e:?}")))?;
    }
    entitle(c, &PASSIVE_BUDGETS_US)?;
    let (first, _) = chain(objects, c, 0, false)?;
    aim(objects, first)?;
    let mut clients = alloc::vec::Vec::new();
    for (i, &a) in ACTIVITIES.iter().enumerate() {
        let t = objects.thread_with(ACTIVITY_PRIORITIES[i].into(), client, i as u64)?;
        c.admit(Grant::new(t.cptr().bits()), a)
            .map_err(|e| Failure::new(alloc::format!("admit to {a}: {e:?}")))?;
        at("start a client", t.tcb_resume())?;
        clients.push(t);
    }
    quiet()?;
    windows(c, &contexts, "passive", &PASSIVE_BUDGETS_US, 0, None)?;
    loud()?;
    let (first, own) = chain(objects, c, 1, true)?;
    entitle(c, &ACTIVE_BUDGETS_US)?;
    aim(objects, first)?;
    quiet()?;
    windows(c, &contexts, "active", &ACTIVE_BUDGETS_US, HOPS, own)?;
    Ok(clients)
}

/// [`WINDOWS`] windows of the run `label`, whose servers are columns
/// `column..column + HOPS`, last hop first (they were added so); `own` the
/// active server's context.
fn windows(
    c: &mut Client,
    contexts: &Contexts,
    label: &str,
    budgets: &[u32; 3],
    column: usize,
    own: Option<Cap<SchedContext>>,
) -> Step<()> {
    let total: u32 = budgets.iter().sum();
    let entitled = budgets.map(|b| u64::from(b) * 1_000_000 / u64::from(total));
    // One window to settle into the run.
    for w in 0..=WINDOWS {
        let start = attributions(c)?;
        let mut used = [0; 4];
        contexts.read(own, &mut used)?;
        used = [0; 4];
        let t0 = cycle_counter();
        while cycle_counter() - t0 < WINDOW_TICKS {
            at("yield", keel_sys::r#yield())?;
            contexts.read(own, &mut used)?;
        }
        let end = attributions(c)?;
        contexts.read(own, &mut used)?;
        let [idle, scheduler, controller, server] = used;
        let elapsed_us = (cycle_counter() - t0) / accounting::TICKS_PER_US;
        if w == 0 {
            continue;
        }
        let mut own_us = [0u64; 3];
        let mut ticks = [[0u64; HOPS]; 3];
        let mut attributed = 0;
        for i in 0..3 {
            let (s, e) = (&start.at[i], &end.at[i]);
            own_us[i] = e.direct_us.saturating_sub(s.direct_us);
            attributed += e.consumed_us - s.consumed_us;
            for (h, t) in ticks[i].iter_mut().enumerate() {
                let col = column + HOPS - 1 - h;
                *t = e.server_ticks[col] - s.server_ticks[col];
                if e.passive & (1 << col) == 0 {
                    attributed += *t / accounting::TICKS_PER_US;
                }
            }
        }
        let share = |part: u64, whole: u64| (part * 1_000_000).checked_div(whole).unwrap_or(0);
        let own_total: u64 = own_us.iter().sum();
        for i in 0..3 {
            let n = i + 1;
            println!(
                "BENCH fig11-{label}-a{n}-own {} {}",
                entitled[i],
                share(own_us[i], own_total)
            );
            for h in 0..HOPS {
                let at_server: u64 = ticks.iter().map(|t| t[h]).sum();
                println!(
                    "BENCH fig11-{label}-a{n}-s{} {} {}",
                    h + 1,
                    entitled[i],
                    share(ticks[i][h], at_server)
                );
            }
        }
        println!(
            "BENCH fig11-{label}-attributed {} {attributed}",
            elapsed_us.saturating_sub(idle)
        );
        println!("BENCH fig11-{label}-measuring {scheduler} {controller}");
        println!("BENCH fig11-{label}-active-server 0 {server}");
    }
    Ok(())
}
