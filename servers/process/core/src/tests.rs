//! Host tests of the cost arithmetic, the quota and the process table.

use crate::cost::{CostError, CostTable, KindCost};
use crate::quota::{Quota, QuotaError};
use crate::table::{Pid, ProcessTable, State, TableError};
use keel_abi::ObjectType;
use proptest::prelude::*;
use std::vec::Vec;

/// A table whose kind `k` costs `100 * (k + 1)` per object and, for
/// CNodes, 3 per slot.
fn table() -> CostTable {
    let mut kinds = [KindCost::default(); ObjectType::ALL.len()];
    for (i, k) in kinds.iter_mut().enumerate() {
        k.object = 100 * (i as u64 + 1);
    }
    kinds[ObjectType::CNode as usize].per_slot = 3;
    CostTable::new(5_000, kinds)
}

#[test]
fn costs_count_objects_and_slots() {
    let t = table();
    assert_eq!(t.cost(ObjectType::Tcb, 0, 1), Ok(200));
    assert_eq!(t.cost(ObjectType::Endpoint, 0, 10), Ok(3_000));
    // A CNode of 2^4 slots: 500 + 16 * 3.
    assert_eq!(t.cost(ObjectType::CNode, 4, 1), Ok(548));
    assert_eq!(t.cost(ObjectType::CNode, 4, 2), Ok(1_096));
    assert_eq!(t.cost(ObjectType::SmallPage, 0, 0), Ok(0));
}

#[test]
fn costs_refuse_untyped_bad_sizes_and_overflow() {
    let t = table();
    assert_eq!(t.cost(ObjectType::Untyped, 12, 1), Err(CostError::Untyped));
    assert_eq!(t.cost(ObjectType::CNode, 0, 1), Err(CostError::BadSize));
    assert_eq!(
        t.cost(ObjectType::SchedContext, 8, 1),
        Err(CostError::BadSize)
    );
    assert_eq!(
        t.cost(ObjectType::Tcb, 0, u64::MAX),
        Err(CostError::Overflow)
    );
}

#[test]
fn a_charge_past_the_quota_is_refused_and_changes_nothing() {
    let t = table();
    let mut q = Quota::new(1_000);
    assert_eq!(q.charge_objects(&t, ObjectType::Tcb, 0, 3), Ok(600));
    assert_eq!(
        q.charge_objects(&t, ObjectType::Tcb, 0, 3),
        Err(QuotaError::Exceeded {
            asked: 600,
            left: 400
        })
    );
    assert_eq!(q.charged(), 600);
    assert_eq!(
        q.charge_objects(&t, ObjectType::Untyped, 12, 1),
        Err(QuotaError::Cost(CostError::Untyped))
    );
    assert_eq!(q.charge(400), Ok(()));
    assert_eq!(q.left(), 0);
    assert_eq!(q.charge(0), Ok(()));
    assert!(q.charge(1).is_err());
}

#[test]
fn admission_checks_without_charging() {
    let t = table();
    let mut q = Quota::new(1_000);
    // Admitted as often as asked: nothing is charged until `charge`.
    for _ in 0..3 {
        assert_eq!(q.admit(&t, ObjectType::Tcb, 0, 5), Ok(1_000));
    }
    assert_eq!(q.charged(), 0);
    assert_eq!(
        q.admit(&t, ObjectType::Tcb, 0, 6),
        Err(QuotaError::Exceeded {
            asked: 1_200,
            left: 1_000
        })
    );
    assert_eq!(
        q.admit(&t, ObjectType::CNode, 0, 1),
        Err(QuotaError::Cost(CostError::BadSize))
    );
    let cost = q.admit(&t, ObjectType::Tcb, 0, 4).unwrap();
    assert_eq!(q.charge(cost), Ok(()));
    assert_eq!(q.left(), 200);
    assert_eq!(q.admit(&t, ObjectType::Tcb, 0, 1), Ok(200));
    assert!(q.admit(&t, ObjectType::Tcb, 0, 2).is_err());
}

#[test]
fn the_deadline_is_the_fixed_part_and_the_whole_quota() {
    let t = table();
    assert_eq!(Quota::new(1_000).deadline(&t), Some(6_000));
    assert_eq!(Quota::new(u64::MAX).deadline(&t), None);
}

proptest! {
    /// Whatever is asked, the charged total is the sum of the charges
    /// accepted, never passes the limit, and a refusal means the charge did
    /// not fit.
    #[test]
    fn charges_never_pass_the_limit(limit in 0u64..1_000_000, asks in proptest::collection::vec(0u64..300_000, 0..40)) {
        let mut q = Quota::new(limit);
        let mut sum = 0u64;
        for a in asks {
            let left = q.left();
            match q.charge(a) {
                Ok(()) => sum += a,
                Err(QuotaError::Exceeded { asked, left: l }) => {
                    prop_assert_eq!(asked, a);
                    prop_assert_eq!(l, left);
                    prop_assert!(a > left);
                }
                Err(e) => prop_assert!(false, "unexpected {:?}", e),
            }
            prop_assert_eq!(q.charged(), sum);
            prop_assert!(q.charged() <= q.limit());
        }
    }

    /// Object charges are the table's cost, so a process that fills its
    /// quota with any mix holds at most its deadline's worth of teardown.
    #[test]
    fn object_charges_sum_to_the_table_cost(mix in proptest::collection::vec((1usize..13, 0u64..8), 0..60)) {
        let t = table();
        let mut q = Quota::new(20_000);
        let mut expected = 0u64;
        for (k, n) in mix {
            let kind = ObjectType::ALL[k];
            let size = if kind == ObjectType::CNode { 4 } else if kind == ObjectType::SchedContext { 9 } else { 0 };
            if let Ok(c) = q.charge_objects(&t, kind, size, n) {
                prop_assert_eq!(Ok(c), t.cost(kind, size, n));
                expected += c;
            }
        }
        prop_assert_eq!(q.charged(), expected);
        prop_assert!(t.teardown_fixed + q.charged() <= q.deadline(&t).unwrap());
    }
}

#[test]
fn ids_are_not_reused_for_a_new_process() {
    let mut table = ProcessTable::new(2);
    let a = table.insert("a").unwrap();
    let b = table.insert("b").unwrap();
    assert_eq!(table.insert("c"), Err(TableError::Full));
    assert_eq!(table.reap(a).unwrap_err(), TableError::Running);
    table.end(a, State::Exited(7)).unwrap();
    assert_eq!(table.end(a, State::Killed).unwrap_err(), TableError::Ended);
    let ended = table.reap(a).unwrap();
    assert_eq!((ended.state, ended.record), (State::Exited(7), "a"));
    let c = table.insert("c").unwrap();
    assert_ne!(c, a);
    assert!(table.get(a).is_none());
    assert_eq!(
        table.end(a, State::Killed).unwrap_err(),
        TableError::NoSuchProcess
    );
    assert_eq!(table.get(c).unwrap().record, "c");
    let names: Vec<_> = table.iter().map(|p| p.record).collect();
    assert_eq!(names, ["c", "b"]);
    assert!(table.get(b).is_some());
    assert!(table.get(Pid::from_raw(u64::MAX)).is_none());
}

#[test]
fn a_killed_process_keeps_its_record_until_reaped() {
    let mut table = ProcessTable::new(4);
    let p = table.insert(41u32).unwrap();
    let ended = table.end(p, State::Killed).unwrap();
    ended.record += 1;
    assert_eq!(
        table.get(p).map(|p| (p.state, p.record)),
        Some((State::Killed, 42))
    );
    assert_eq!(table.reap(p).unwrap().record, 42);
    assert_eq!(table.reap(p).unwrap_err(), TableError::NoSuchProcess);
}

#[test]
fn a_slot_names_its_process_whatever_the_generation() {
    let mut t: ProcessTable<u8> = ProcessTable::new(2);
    let first = t.insert(1).unwrap();
    assert_eq!(t.at(first.index()).map(|p| p.pid), Some(first));
    t.end(first, State::Faulted(5)).unwrap();
    assert_eq!(t.reap(first).unwrap().state, State::Faulted(5));
    assert!(t.at(first.index()).is_none());
    let second = t.insert(2).unwrap();
    assert_eq!(second.index(), first.index());
    assert_ne!(second, first);
    assert_eq!(t.at(second.index()).map(|p| p.record), Some(2));
    assert!(t.get(first).is_none());
}

#[test]
fn the_calibrated_tables_have_a_margin_and_charge_every_kind_but_untyped() {
    use keel_abi::Arch;
    for arch in [Arch::X86_64, Arch::Aarch64] {
        let t = CostTable::for_arch(arch);
        assert!(t.teardown_fixed > 0);
        for &kind in ObjectType::ALL {
            let size = match kind {
                ObjectType::CNode => 4,
                ObjectType::SchedContext => 9,
                ObjectType::Untyped => 12,
                _ => 0,
            };
            let cost = t.cost(kind, size, 1);
            match kind {
                ObjectType::Untyped => assert_eq!(cost, Err(CostError::Untyped)),
                _ => assert!(cost.unwrap() > 0, "{kind:?} on {arch:?}"),
            }
        }
    }
    let plain = CostTable::new(
        1_000,
        [KindCost {
            object: 10,
            per_slot: 3,
        }; 13],
    );
    let raised = plain.with_margin(10);
    assert_eq!(raised.teardown_fixed, 1_100);
    assert_eq!(
        raised.kind(ObjectType::Tcb),
        KindCost {
            object: 11,
            per_slot: 4
        }
    );
}
