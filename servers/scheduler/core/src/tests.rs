//! The scheduler's logic against a kernel in memory: an activity's budget
//! split among its threads (its share never grows with them), the badges
//! its contexts carry, totals from timeout faults and `Consumed` reads,
//! entitlements checked against what a core gives and applied to every
//! context, and the rights each operation needs.

extern crate std;

use std::collections::BTreeMap;
use std::vec::Vec;

use keel_abi::CapType;
use keel_protocols::accounting::Ledger;
use keel_protocols::cap::ReceivedCap;
use keel_protocols::scheduler::{badge_activity, USAGE};
use keel_protocols::{ClientBadge, ClientId, RpcError};

use super::*;

/// Contexts as configured, bindings, and the consumed time each will report.
#[derive(Default)]
struct Memory {
    next: u64,
    configured: BTreeMap<u64, (u32, u32, u64)>,
    bound: Vec<(u64, u64)>,
    consumed: BTreeMap<u64, u64>,
    refuse_bind: bool,
    /// Servers' ledgers by endpoint slot.
    ledgers: BTreeMap<u64, Ledger<4>>,
    now: u64,
    /// Threads' priorities as last set.
    priorities: BTreeMap<u64, u8>,
}

impl Kernel for Memory {
    fn make_context(&mut self) -> Result<u64, SchedulerError> {
        self.next += 1;
        Ok(1000 + self.next)
    }

    fn keep_thread(&mut self, tcb: Granted<Tcb>) -> Result<u64, SchedulerError> {
        match tcb.received() {
            ReceivedCap::Transferred { cptr, .. } => Ok(cptr),
            ReceivedCap::Unwrapped { .. } => Err(SchedulerError::Kernel),
        }
    }

    fn configure(&mut self, c: u64, b: u32, p: u32, badge: u64) -> Result<(), SchedulerError> {
        self.configured.insert(c, (b, p, badge));
        Ok(())
    }

    fn bind(&mut self, context: u64, thread: u64) -> Result<(), SchedulerError> {
        if self.refuse_bind {
            return Err(SchedulerError::Kernel);
        }
        self.bound.push((context, thread));
        Ok(())
    }

    fn unbind(&mut self, context: u64) -> Result<(), SchedulerError> {
        self.bound.retain(|&(c, _)| c != context);
        Ok(())
    }

    fn set_priority(&mut self, thread: u64, priority: u8) -> Result<(), SchedulerError> {
        self.priorities.insert(thread, priority);
        Ok(())
    }

    fn consumed(&mut self, context: u64) -> Result<u64, SchedulerError> {
        Ok(self.consumed.insert(context, 0).unwrap_or(0))
    }

    fn keep_server(&mut self, endpoint: Granted<Endpoint>) -> Result<u64, SchedulerError> {
        match endpoint.received() {
            ReceivedCap::Transferred { cptr, .. } => {
                self.ledgers.entry(cptr).or_default();
                Ok(cptr)
            }
            ReceivedCap::Unwrapped { .. } => Err(SchedulerError::Kernel),
        }
    }

    fn record(&mut self, server: u64, index: u16) -> Result<Option<Record>, SchedulerError> {
        let ledger = self.ledgers.get(&server).ok_or(SchedulerError::Records)?;
        Ok(ledger.row(index))
    }

    fn now(&mut self) -> u64 {
        self.now
    }
}

type Sched = Scheduler<Memory, 4, 8>;

fn caller(activity: u16, rights: Rights) -> Caller {
    let badge = ClientBadge::new(ClientId::new(1).unwrap(), ActivityId(activity), rights);
    Caller {
        badge,
        activity: ActivityId(activity),
    }
}

fn admin() -> Caller {
    caller(0, Rights::ADMIN.union(USAGE))
}

fn tcb(slot: u64) -> Granted<Tcb> {
    Granted::check(ReceivedCap::Transferred {
        cptr: slot,
        kind: CapType::Tcb,
    })
    .unwrap()
}

/// Activities 1 (50% of 10 ms) and 2 (30% of 20 ms).
fn two() -> Sched {
    let mut s = Sched::new(Memory::default());
    s.set_entitlement(&admin(), 1, 5000, 10_000).unwrap();
    s.set_entitlement(&admin(), 2, 6000, 20_000).unwrap();
    s
}

#[test]
fn an_activity_s_budget_is_split_among_its_threads() {
    let mut s = two();
    s.admit(&admin(), tcb(40), 1).unwrap();
    assert_eq!(
        s.kernel().configured[&1001],
        (5000, 10_000, context_badge(ActivityId(1), 0))
    );
    assert_eq!(s.kernel().bound, [(1001, 40)]);
    for slot in 41..44 {
        s.admit(&admin(), tcb(slot), 1).unwrap();
    }
    // Four threads: 1250 us each, 5000 us together, as with one.
    let mut total = 0;
    for c in 1001..=1004 {
        let (b, p, badge) = s.kernel().configured[&c];
        assert_eq!((b, p), (1250, 10_000));
        assert_eq!(badge_activity(badge), Some(ActivityId(1)));
        total += b;
    }
    assert_eq!(total, 5000);
    // The other activity is untouched.
    s.admit(&admin(), tcb(50), 2).unwrap();
    assert_eq!(s.kernel().configured[&1005].0, 6000);
    assert_eq!(s.activity(ActivityId(1)).unwrap().threads, 4);
}

#[test]
fn threads_past_the_smallest_budget_are_refused() {
    let mut s = Sched::new(Memory::default());
    s.set_entitlement(&admin(), 3, 40, 10_000).unwrap();
    s.admit(&admin(), tcb(1), 3).unwrap();
    s.admit(&admin(), tcb(2), 3).unwrap();
    assert_eq!(
        s.admit(&admin(), tcb(3), 3),
        Err(SchedulerError::TooManyThreads)
    );
    assert_eq!(s.activity(ActivityId(3)).unwrap().threads, 2);
    assert_eq!(s.kernel().configured[&1001].0, 20);
}

#[test]
fn usage_sums_timeouts_and_consumed_reads() {
    let mut s = two();
    s.admit(&admin(), tcb(40), 1).unwrap();
    s.admit(&admin(), tcb(41), 1).unwrap();
    assert_eq!(s.timeout(context_badge(ActivityId(1), 1), 2500), Ok(true));
    assert_eq!(s.timeout(context_badge(ActivityId(9), 0), 7), Ok(false));
    s.kernel.consumed.insert(1001, 100);
    s.kernel.consumed.insert(1002, 20);
    let u = s.usage(&caller(5, USAGE), 1).unwrap();
    assert_eq!(
        u,
        Usage {
            consumed_us: 2620,
            budget_us: 5000,
            period_us: 10_000,
            threads: 2,
            timeouts: 1,
        }
    );
    // Consumed is read since the last read: nothing new is counted twice.
    assert_eq!(s.usage(&admin(), 1).unwrap().consumed_us, 2620);
    assert_eq!(s.usage(&admin(), 7), Err(SchedulerError::NoSuchActivity));
}

#[test]
fn each_operation_needs_its_right() {
    let mut s = two();
    assert_eq!(
        s.usage(&caller(1, Rights::NONE), 1),
        Err(SchedulerError::Rpc(RpcError::NoRight { needed: USAGE }))
    );
    // A member admits threads to its own activity only.
    s.admit(&caller(1, Rights::NONE), tcb(7), 1).unwrap();
    assert_eq!(
        s.admit(&caller(1, Rights::NONE), tcb(8), 2),
        Err(SchedulerError::NotYourActivity)
    );
    assert_eq!(s.activity(ActivityId(2)).unwrap().threads, 0);
}

#[test]
fn entitlements_change_every_context_and_stay_within_a_core() {
    let mut s = two();
    s.admit(&admin(), tcb(40), 1).unwrap();
    s.admit(&admin(), tcb(41), 1).unwrap();
    s.set_entitlement(&admin(), 1, 2000, 10_000).unwrap();
    assert_eq!(s.kernel().configured[&1001].0, 1000);
    assert_eq!(s.kernel().configured[&1002].0, 1000);
    assert_eq!(s.activity(ActivityId(1)).unwrap().budget_us, 2000);
    // 30% + 61% is past the 90% activities may have.
    assert_eq!(
        s.set_entitlement(&admin(), 1, 6100, 10_000),
        Err(SchedulerError::BadEntitlement)
    );
    s.set_entitlement(&admin(), 1, 6000, 10_000).unwrap();
    for (b, p) in [(0, 10), (11, 10), (10, 10)] {
        assert_eq!(
            s.set_entitlement(&admin(), 3, b, p),
            Err(SchedulerError::BadEntitlement)
        );
    }
    assert_eq!(
        s.set_entitlement(&admin(), 0, 100, 1000),
        Err(SchedulerError::BadEntitlement)
    );
    assert_eq!(s.activity(ActivityId(1)).unwrap().budget_us, 6000);
}

#[test]
fn a_refused_thread_leaves_the_activity_as_it_was() {
    let mut s = two();
    s.admit(&admin(), tcb(40), 1).unwrap();
    s.kernel.refuse_bind = true;
    assert_eq!(s.admit(&admin(), tcb(41), 1), Err(SchedulerError::Kernel));
    assert_eq!(s.kernel().configured[&1001].0, 5000);
    assert_eq!(s.activity(ActivityId(1)).unwrap().threads, 1);
}

fn endpoint(slot: u64) -> Granted<Endpoint> {
    Granted::check(ReceivedCap::Transferred {
        cptr: slot,
        kind: CapType::Endpoint,
    })
    .unwrap()
}

#[test]
fn attribution_splits_use_between_threads_and_servers() {
    let mut s = two();
    s.admit(&admin(), tcb(40), 1).unwrap();
    s.admit(&admin(), tcb(41), 2).unwrap();
    assert_eq!(s.add_server(&admin(), endpoint(70), 1), Ok(0));
    assert_eq!(s.add_server(&admin(), endpoint(71), 0), Ok(1));
    let k = &mut s.kernel;
    k.consumed.insert(1001, 900);
    k.consumed.insert(1002, 400);
    k.now = 5_000_000;
    let passive = k.ledgers.get_mut(&70).unwrap();
    passive.charge(ActivityId(2), 100_000);
    passive.charge(ActivityId(1), 300_000);
    passive.charge(ActivityId(1), 200_000);
    passive.overhead(7_000);
    let active = k.ledgers.get_mut(&71).unwrap();
    active.charge(ActivityId(1), 250_000);
    let one = s.attribution(&admin(), 1).unwrap();
    assert_eq!((one.consumed_us, one.direct_us), (900, 400));
    assert_eq!(one.server_ticks[..2], [500_000, 250_000]);
    assert_eq!(one.server_requests[..2], [2, 1]);
    assert_eq!((one.servers, one.passive), (2, 0b01));
    let two = s.attribution(&admin(), 2).unwrap();
    assert_eq!((two.consumed_us, two.direct_us), (400, 300));
    assert_eq!(two.server_ticks[..2], [100_000, 0]);
    let system = s.attribution(&admin(), 0).unwrap();
    assert_eq!(system.consumed_us, 5000);
    assert_eq!(system.server_ticks[..2], [7_000, 0]);
}

#[test]
fn attribution_needs_its_rights_and_known_activities() {
    let mut s = two();
    assert_eq!(
        s.attribution(&caller(1, Rights::NONE), 1),
        Err(SchedulerError::Rpc(RpcError::NoRight { needed: USAGE }))
    );
    assert_eq!(
        s.attribution(&admin(), 9),
        Err(SchedulerError::NoSuchActivity)
    );
    let full = 70 + MAX_SERVERS as u64;
    for slot in 70..full {
        s.add_server(&admin(), endpoint(slot), 0).unwrap();
    }
    assert_eq!(
        s.add_server(&admin(), endpoint(full), 0),
        Err(SchedulerError::Records)
    );
    s.kernel.ledgers.remove(&72);
    assert_eq!(s.attribution(&admin(), 1), Err(SchedulerError::Records));
}

#[test]
fn a_lending_activity_s_spent_thread_runs_on_a_background_context() {
    use keel_protocols::scheduler::{lend_badge, LEND_PRIORITY};
    let mut s = two();
    s.admit(&admin(), tcb(40), 1).unwrap();
    s.admit(&admin(), tcb(50), 2).unwrap();
    s.lend_when_idle(&admin(), 1, 100).unwrap();
    assert_eq!(
        s.lend_when_idle(&admin(), 7, 100),
        Err(SchedulerError::NoSuchActivity)
    );
    // Activity 2 does not lend: its spent thread stays on its context.
    assert_eq!(s.timeout(context_badge(ActivityId(2), 0), 6000), Ok(true));
    assert_eq!(s.kernel().bound, [(1001, 40), (1002, 50)]);
    // Activity 1's thread spends its 5 ms: it goes to a background
    // context holding the rest of the period, at the lowest priority.
    assert_eq!(s.timeout(context_badge(ActivityId(1), 0), 5000), Ok(true));
    assert_eq!(s.kernel().bound, [(1002, 50), (1003, 40)]);
    assert_eq!(
        s.kernel().configured[&1003],
        (5000, 10_000, lend_badge(ActivityId(1), 0))
    );
    assert_eq!(s.kernel().priorities[&40], LEND_PRIORITY);
    // Activity 2 spends 1 ms more and activity 1 used 2 ms of the
    // background: 3 ms seen, short of 3/4 of the 5 ms to the refill.
    s.kernel.consumed.insert(1003, 2000);
    assert_eq!(s.timeout(context_badge(ActivityId(2), 0), 1000), Ok(true));
    assert_eq!(s.kernel().bound, [(1002, 50), (1003, 40)]);
    // 1 ms more: the refill is due, the thread goes back.
    s.kernel.consumed.insert(1003, 1000);
    assert_eq!(s.timeout(context_badge(ActivityId(2), 0), 0), Ok(true));
    assert_eq!(s.kernel().bound, [(1002, 50), (1001, 40)]);
    assert_eq!(s.kernel().priorities[&40], 100);
    // Every microsecond on either context is the activity's.
    assert_eq!(s.usage(&admin(), 1).unwrap().consumed_us, 8000);
    // Lent again; its background budget runs out: back at once, the same
    // background context reused.
    assert_eq!(s.timeout(context_badge(ActivityId(1), 0), 5000), Ok(true));
    assert_eq!(s.kernel().bound, [(1002, 50), (1003, 40)]);
    assert_eq!(s.timeout(lend_badge(ActivityId(1), 0), 5000), Ok(true));
    assert_eq!(s.kernel().bound, [(1002, 50), (1001, 40)]);
    assert_eq!(s.kernel().next, 3, "no context made for the second lend");
}

#[test]
fn background_badges_name_the_thread_and_the_activity() {
    use keel_protocols::scheduler::{badge_thread, lend_badge};
    let b = lend_badge(ActivityId(3), 5);
    assert_eq!(badge_activity(b), Some(ActivityId(3)));
    assert_eq!(badge_thread(b), Some((5, true)));
    assert_eq!(
        badge_thread(context_badge(ActivityId(3), 5)),
        Some((5, false))
    );
    assert_ne!(b, context_badge(ActivityId(3), 5));
}
