//! ACTIVITY0100, SCHEDSERVER0100: attribution through a chain of servers.
//! Two servers (threads of the test, each active on a context of its own)
//! keep consumption records in a `SharedLedger`: the first charges the
//! activity its client's badge names and relays it to the second through a
//! cap with the relay right. The scheduler server reads both ledgers
//! (`add_server`) and reports where each activity's CPU went.

use super::activity::{activity, admin, client, manifest, Client, ACTIVITY_PRIORITY, SCHEDULER};
use super::retype::make;
use crate::support::step;
use crate::system::{badge, expect_state};
use crate::thread::{set_own_priority, spawn, spawn_passive};
use crate::{ensure, Env, TestResult};
use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};
use keel_abi::{CapRights, MessageInfo, ObjectType};
use keel_init::State;
use keel_protocols::accounting::{
    self, charged_activity, AccountingClient, AccountingError, Meter, SharedLedger,
};
use keel_protocols::cap::Grant;
use keel_protocols::scheduler::{SchedulerError, USAGE};
use keel_protocols::sys::{arrival, EndpointClient};
use keel_protocols::wire::{Header, Label};
use keel_protocols::{ActivityId, Rights, RpcError};
use keel_sys::arch::cycle_counter;
use keel_sys::cap::{init_thread, Endpoint, Reply};
use keel_sys::{CPtr, Cap};

/// Requests each client makes.
const REQUESTS: u64 = 20;
/// The servers' priority, above the clients'.
const SERVER_PRIORITY: u64 = 150;
/// Reply labels.
const DONE: u64 = 0;
const REFUSED: u64 = 1;
/// This test's work protocol number.
const WORK: u16 = 0x7d;

/// Each server's endpoint, Reply object and the next server's cap (0: none).
static WIRING: [[AtomicU64; 3]; 2] = [const { [const { AtomicU64::new(0) }; 3] }; 2];
/// Each server's records.
static LEDGERS: [SharedLedger<4>; 2] = [const { SharedLedger::new() }; 2];
/// Each client's cap to the first server (by client 0, 1), the endpoint it
/// waits on forever when done, and the counts of its requests answered,
/// refused and answered wrongly.
static CLIENT_CAPS: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static PARKED: AtomicU64 = AtomicU64::new(0);
static ANSWERED: AtomicU64 = AtomicU64::new(0);
static REFUSALS: AtomicU64 = AtomicU64::new(0);
static WRONG: AtomicU64 = AtomicU64::new(0);

fn cap<T: keel_sys::cap::CapKind>(bits: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(bits))
}

fn work(relay: Option<ActivityId>) -> MessageInfo {
    let label = Header {
        protocol: WORK,
        version: 1,
        op: 1,
        relay,
    }
    .label();
    MessageInfo::new(label, 0, 0, 1)
}

/// Server `i`: answers record queries from its ledger, and work requests
/// charged to the activity they name (relayed to the next server first).
extern "C" fn server(i: u64) -> ! {
    let [ep, reply, next] = WIRING[i as usize]
        .each_ref()
        .map(|w| w.load(Ordering::SeqCst));
    let (ep, reply) = (cap::<Endpoint>(ep), cap::<Reply>(reply));
    let ledger = &LEDGERS[i as usize];
    let mut r = ep.recv(Some(reply));
    loop {
        let (info, words) = if Label::split(r.info.label()).protocol == accounting::PROTOCOL {
            match accounting::dispatch_registers(&mut &*ledger, &arrival(&r), |_| false) {
                Some(a) => (MessageInfo::new(a.label, 0, 0, a.length as u64), a.words),
                None => (MessageInfo::new(REFUSED, 0, 0, 0), [0; 4]),
            }
        } else if let Some(a) = charged_activity(r.badge, r.info.label(), r.mrs[0]) {
            // Its own time: the call to the next server left out (that
            // one keeps its own records).
            let mut meter = Meter::start(cycle_counter(), u64::MAX);
            let mut ok = true;
            if next != 0 {
                meter.pause(cycle_counter());
                let got = cap::<Endpoint>(next).call(work(Some(a)), [u64::from(a.0), 0, 0, 0]);
                ok = got.info.label() == DONE;
                meter.resume(cycle_counter());
            }
            meter.lap(cycle_counter());
            ledger.charge(a, meter.spent());
            let label = if ok { DONE } else { REFUSED };
            (MessageInfo::new(label, 0, 0, 0), [0; 4])
        } else {
            (MessageInfo::new(REFUSED, 0, 0, 0), [0; 4])
        };
        r = ep.reply_recv(info, words, reply);
    }
}

/// Client `i` (activity `i + 1`): [`REQUESTS`] requests, then one relayed
/// for the other activity through its cap without the relay right, which
/// must be refused; then it waits forever.
extern "C" fn client_thread(i: u64) -> ! {
    let first = cap::<Endpoint>(CLIENT_CAPS[i as usize].load(Ordering::SeqCst));
    for _ in 0..REQUESTS {
        let got = first.call(work(None), [0; 4]);
        let counter = if got.info.label() == DONE {
            &ANSWERED
        } else {
            &WRONG
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
    let other = ActivityId(2 - i as u16);
    let got = first.call(work(Some(other)), [u64::from(other.0), 0, 0, 0]);
    let counter = if got.info.label() == REFUSED {
        &REFUSALS
    } else {
        &WRONG
    };
    counter.fetch_add(1, Ordering::SeqCst);
    loop {
        let _ = cap::<Endpoint>(PARKED.load(Ordering::SeqCst)).recv(None);
    }
}

fn mint(env: &Env, from: u64, badge: u64) -> Result<u64, String> {
    let slot = env.slots(1)?;
    step(
        crate::support::slot(slot).mint(
            &init_thread::CNODE.absolute_cptr(CPtr::from_bits(from)),
            CapRights::WRITE.union(CapRights::GRANT_REPLY),
            badge,
        ),
        "mint a cap",
    )?;
    Ok(slot)
}

/// The two servers started and added to the scheduler server through
/// `c`; returns the first one's endpoint and a cap to it with the
/// accounting usage right.
fn servers(env: &Env, c: &mut Client) -> Result<(u64, u64), String> {
    let eps = make(env, 12, ObjectType::Endpoint, 0, 3)?;
    let replies = make(env, 12, ObjectType::Reply, 0, 2)?;
    PARKED.store(eps + 2, Ordering::SeqCst);
    let relay = mint(env, eps + 1, badge(1, 0, Rights::RELAY).bits())?;
    let mut usage = 0;
    for (i, next) in [(1u64, 0), (0, relay)] {
        for (w, v) in WIRING[i as usize].iter().zip([eps + i, replies + i, next]) {
            w.store(v, Ordering::SeqCst);
        }
        let tcb = spawn(env, server, i as usize, i, SERVER_PRIORITY)?;
        step(tcb.tcb_resume(), "start a server")?;
        usage = mint(
            env,
            eps + i,
            badge(20 + i as u16, 0, accounting::USAGE).bits(),
        )?;
        let column = c
            .add_server(Grant::new(usage), 0)
            .map_err(|e| format!("add server {i}: {e:?}"))?;
        ensure!(u64::from(column) == 1 - i, "server {i} got column {column}");
    }
    Ok((eps, usage))
}

/// ACTIVITY0100: requests of two activities through a chain of two
/// servers are charged to the client's activity at each: each server
/// reports exactly [`REQUESTS`] requests of each activity and time for
/// them, a relay forged by a client without the right is refused and
/// charged to nobody, and the report's parts (the activities' use, the
/// servers' records and overheads) fit in the elapsed time.
pub fn chain_charges_the_client_activity(env: &Env) -> TestResult {
    let m = manifest(alloc::vec![activity(1, 3000), activity(2, 2000)]);
    let archive = crate::system::archive(env)?;
    let system = crate::system::start(env, &m, &archive)?;
    expect_state(&system, SCHEDULER, State::Running)?;
    let mut c = admin(env, &system)?;
    let (first, _) = servers(env, &mut c)?;
    for i in 0..2u16 {
        let a = i + 1;
        CLIENT_CAPS[usize::from(i)].store(
            mint(env, first, badge(10 + a, a, Rights::NONE).bits())?,
            Ordering::SeqCst,
        );
        let tcb = spawn_passive(
            env,
            client_thread,
            2 + usize::from(i),
            u64::from(i),
            ACTIVITY_PRIORITY,
        )?;
        step(
            c.admit(Grant::new(tcb.cptr().bits()), a)
                .map_err(|e| format!("{e:?}")),
            "admit a client",
        )?;
        step(tcb.tcb_resume(), "start a client")?;
    }
    // Below the clients until both are done.
    set_own_priority(ACTIVITY_PRIORITY - 50)?;
    while REFUSALS.load(Ordering::SeqCst) + WRONG.load(Ordering::SeqCst) < 2 {
        core::hint::spin_loop();
    }
    set_own_priority(255)?;
    let (answered, refused, wrong) = (
        ANSWERED.load(Ordering::SeqCst),
        REFUSALS.load(Ordering::SeqCst),
        WRONG.load(Ordering::SeqCst),
    );
    ensure!(
        (answered, refused, wrong) == (2 * REQUESTS, 2, 0),
        "{answered} requests answered, {refused} forged relays refused, {wrong} wrong answers"
    );
    let mut parts = 0;
    for a in 1..=2u16 {
        let r = c
            .attribution(a)
            .map_err(|e| format!("attribution of {a}: {e:?}"))?;
        ensure!(
            r.servers == 2 && r.server_requests[..2] == [REQUESTS, REQUESTS],
            "activity {a}: {} servers, requests {:?}",
            r.servers,
            &r.server_requests[..2]
        );
        ensure!(
            r.server_ticks[..2].iter().all(|&t| t > 0),
            "activity {a}: ticks {:?}",
            &r.server_ticks[..2]
        );
        ensure!(
            r.consumed_us > 0 && r.direct_us == r.consumed_us && r.passive == 0,
            "activity {a}: used {} us, {} us in its own threads",
            r.consumed_us,
            r.direct_us
        );
        parts += r.consumed_us + (r.server_ticks[0] + r.server_ticks[1]) / accounting::TICKS_PER_US;
    }
    let system_part = c
        .attribution(0)
        .map_err(|e| format!("attribution of the system: {e:?}"))?;
    ensure!(
        system_part.server_requests[..2] == [0, 0],
        "requests charged to no activity: {:?}",
        &system_part.server_requests[..2]
    );
    let overheads: u64 = system_part.server_ticks.iter().sum();
    parts += overheads / accounting::TICKS_PER_US;
    ensure!(
        parts <= system_part.consumed_us,
        "the parts ({parts} us) exceed the elapsed time ({} us)",
        system_part.consumed_us
    );
    Ok(())
}

/// SCHEDSERVER0100: bad attribution queries get error replies: an unknown
/// activity, a caller without the usage right, an `add_server` without
/// the admin right or with a cap that is no endpoint, a record past a
/// ledger's end or read without the accounting usage right.
pub fn bad_attribution_queries_are_refused(env: &Env) -> TestResult {
    let m = manifest(alloc::vec![activity(1, 3000)]);
    let archive = crate::system::archive(env)?;
    let system = crate::system::start(env, &m, &archive)?;
    expect_state(&system, SCHEDULER, State::Running)?;
    let mut c = admin(env, &system)?;
    let (first, usage) = servers(env, &mut c)?;
    let got = c.attribution(9);
    ensure!(
        got == Err(SchedulerError::NoSuchActivity),
        "attribution of an unknown activity: {got:?}"
    );
    let mut plain = client(env, &system, 2, 1, Rights::NONE)?;
    let got = plain.attribution(1);
    ensure!(
        got == Err(SchedulerError::Rpc(RpcError::NoRight { needed: USAGE })),
        "attribution without the usage right: {got:?}"
    );
    let got = plain.add_server(Grant::new(usage), 0);
    ensure!(
        got == Err(SchedulerError::Rpc(RpcError::NoRight {
            needed: Rights::ADMIN
        })),
        "add_server without the admin right: {got:?}"
    );
    let got = c.add_server(Grant::new(init_thread::TCB.cptr().bits()), 0);
    ensure!(
        matches!(got, Err(SchedulerError::Rpc(_))),
        "add_server with a TCB cap: {got:?}"
    );
    let records = |b: u64| -> Result<_, String> {
        let transport = EndpointClient::new(cap(mint(env, first, b)?), None)
            .map_err(|e| format!("a client: {e}"))?;
        Ok(AccountingClient::new(transport))
    };
    let got = records(badge(30, 0, accounting::USAGE).bits())?.record(99);
    ensure!(
        got == Err(AccountingError::NoSuchRecord),
        "a record past the ledger: {got:?}"
    );
    let got = records(badge(31, 1, Rights::NONE).bits())?.record(0);
    ensure!(
        got == Err(AccountingError::Rpc(RpcError::NoRight {
            needed: accounting::USAGE
        })),
        "a record without the usage right: {got:?}"
    );
    Ok(())
}
