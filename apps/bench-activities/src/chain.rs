//! Vortex's Figure 11 on Keel: three activities whose threads each loop
//! over a request that passes through a chain of three servers, each doing
//! fixed work per request and keeping consumption records
//! (`keel_protocols::accounting`) for the activity the request is charged
//! to. The first server is called with the client's badge (its activity);
//! it and the second relay the activity to the next server, through caps
//! whose badges carry the relay right. The servers are threads of this
//! program, which the scheduler server reads the records of through caps
//! with the accounting usage right (`add_server`).
//!
//! A passive server is [`POOL`] threads receiving on its endpoint, each
//! with its own Reply object, sharing one `SharedLedger`: a request whose
//! caller's budget runs out inside the server holds one thread until the
//! caller's next refill, and the other activities' requests go to the
//! others (with one thread, every activity waited for the one out of
//! budget, and the shares followed the refills, not the entitlements:
//! measured 90/5/5 for 50/33/17).
//!
//! A server is passive (it runs on its caller's context) or active (the
//! middle server of the second run: a context of its own). A client thread
//! does the same fixed work in its own code between requests.

use core::hint::black_box;
use core::sync::atomic::{AtomicU64, Ordering};
use keel_abi::MessageInfo;
use keel_protocols::accounting::{self, Meter, SharedLedger};
use keel_protocols::sys::arrival;
use keel_protocols::wire::{Header, Label};
use keel_protocols::ActivityId;
use keel_sys::arch::cycle_counter;
use keel_sys::cap::{Endpoint, Reply};
use keel_sys::{CPtr, Cap};

/// Servers in a chain.
pub const HOPS: usize = 3;
/// Chains: the all-passive one and the one with an active middle server.
pub const CHAINS: usize = 2;
/// Threads of a passive server: one per activity, so each activity's one
/// request in flight has a thread.
pub const POOL: usize = 3;
/// Laps of fixed work per request, at each server and in the client.
const LAPS: usize = 8;
/// Iterations of one lap (a few thousand instructions).
const LAP_ITERATIONS: u64 = 600;
/// The work protocol's number (this benchmark's own).
const WORK: u16 = 0x7e;
/// Reply labels: done, refused.
const DONE: u64 = 0;
const REFUSED: u64 = 1;

/// Activities the ledgers keep.
const ACTIVITIES: usize = 8;

/// One server thread's wiring: its endpoint, Reply object, the endpoint
/// it says it is ready on, the next server's endpoint (0: the last) and
/// its server's number (its ledger). Set by the main thread before the
/// thread starts.
pub struct Seat {
    /// The words above, in that order.
    pub wiring: [AtomicU64; 5],
}

/// Every server thread's seat.
pub static SEATS: [Seat; CHAINS * HOPS * POOL] = [const {
    Seat {
        wiring: [const { AtomicU64::new(0) }; 5],
    }
}; CHAINS * HOPS * POOL];

/// Every server's records, chain by chain.
pub static LEDGERS: [SharedLedger<ACTIVITIES>; CHAINS * HOPS] =
    [const { SharedLedger::new() }; CHAINS * HOPS];

/// The endpoint each activity's client calls (its first server's, minted
/// with the activity), by activity index; changed between runs.
pub static FIRST: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

fn cap<T: keel_sys::cap::CapKind>(bits: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(bits))
}

/// One lap of fixed work.
fn lap(seed: u64) -> u64 {
    let mut x = seed;
    for i in 0..LAP_ITERATIONS {
        x = black_box(x.rotate_left(5) ^ i);
    }
    x
}

/// The label of a work request, relayed for `activity` when given.
fn work_label(activity: Option<ActivityId>) -> u64 {
    Header {
        protocol: WORK,
        version: 1,
        op: 1,
        relay: activity,
    }
    .label()
}

/// A lap's ticks, the least of a few: what a lap costs undisturbed.
fn calibrate() -> u64 {
    (0..4)
        .map(|i| {
            let t0 = cycle_counter();
            black_box(lap(i));
            cycle_counter() - t0
        })
        .min()
        .unwrap_or(u64::MAX)
}

/// Server thread `i` (seat `i`): tells the main thread it is ready, then serves
/// work requests (half its laps, the next server's call, the other half,
/// charged to the request's activity) and record queries.
pub extern "C" fn server(i: u64) -> ! {
    let [ep, reply, ready, next, number] = SEATS[i as usize]
        .wiring
        .each_ref()
        .map(|w| w.load(Ordering::SeqCst));
    let ledger = &LEDGERS[number as usize];
    let (ep, reply) = (cap::<Endpoint>(ep), cap::<Reply>(reply));
    // A lap more than twice its undisturbed cost had the thread away.
    let gap = 2 * calibrate();
    let none = MessageInfo::new(0, 0, 0, 0);
    let mut r = cap::<Endpoint>(ready).nb_send_recv(none, [0; 4], ep, Some(reply));
    loop {
        let (info, words) = if Label::split(r.info.label()).protocol == accounting::PROTOCOL {
            match accounting::dispatch_registers(&mut &*ledger, &arrival(&r), |_| false) {
                Some(a) => (MessageInfo::new(a.label, 0, 0, a.length as u64), a.words),
                None => (MessageInfo::new(REFUSED, 0, 0, 0), [0; 4]),
            }
        } else if let Some(activity) =
            accounting::charged_activity(r.badge, r.info.label(), r.mrs[0])
        {
            let mut meter = Meter::start(cycle_counter(), gap);
            let mut x = r.mrs[1];
            for l in 0..LAPS {
                if l == LAPS / 2 && next != 0 {
                    meter.pause(cycle_counter());
                    let label = work_label(Some(activity));
                    let info = MessageInfo::new(label, 0, 0, 2);
                    cap::<Endpoint>(next).call(info, [u64::from(activity.0), x, 0, 0]);
                    meter.resume(cycle_counter());
                }
                x = lap(x);
                meter.lap(cycle_counter());
            }
            ledger.charge(activity, meter.spent());
            (MessageInfo::new(DONE, 0, 0, 1), [x, 0, 0, 0])
        } else {
            (MessageInfo::new(REFUSED, 0, 0, 0), [0; 4])
        };
        r = ep.reply_recv(info, words, reply);
    }
}

/// The client of activity index `a`: its laps, then a request through the
/// chain [`FIRST`] names, forever.
pub extern "C" fn client(a: u64) -> ! {
    let mut x = a;
    loop {
        for _ in 0..LAPS {
            x = lap(x);
        }
        let first = cap::<Endpoint>(FIRST[a as usize].load(Ordering::SeqCst));
        let info = MessageInfo::new(work_label(None), 0, 0, 2);
        x = first.call(info, [0, x, 0, 0]).mrs[0];
    }
}
