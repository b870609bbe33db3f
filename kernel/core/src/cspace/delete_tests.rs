//! Unit tests for delete and revoke: finalisation, CNodes destroyed through
//! Zombies, deep chains, self-references and cycles, badged revoke, preemption
//! and the per-step work bound.

use super::*;
use crate::object_memory::ObjectMemory;
use crate::testutil::*;
use crate::untyped::{available_bytes, retype};
use keel_abi::{CapRights, CapType, ObjectType};

#[test]
fn final_and_non_final() {
    let mut m = setup();
    let mut rec = Rec::default();
    make(&mut m, ObjectType::Endpoint, 0, root_cap(), 10);
    copy(&mut m, slot(10), slot(11), CapRights::ALL).unwrap();
    assert_eq!(
        delete(&mut m, slot(10), &mut rec, &mut NeverPreempt),
        Ok(Progress::Done)
    );
    assert!(rec.finalised.is_empty() && read_cap(&m, slot(10)).is_null());
    assert_eq!(
        delete(&mut m, slot(11), &mut rec, &mut NeverPreempt),
        Ok(Progress::Done)
    );
    assert_eq!(rec.finalised.len(), 1);
    assert_eq!(
        delete(&mut m, slot(11), &mut rec, &mut NeverPreempt),
        Ok(Progress::Done)
    );
    assert_eq!(available_bytes(&m, UT_SLOT), 1 << UT_BITS);
}

#[test]
fn every_deleted_cap_is_reported() {
    let mut m = setup();
    let mut rec = Rec::default();
    make(&mut m, ObjectType::SmallPage, 0, root_cap(), 10);
    let frame = read_cap(&m, slot(10)).with_mapping_in(3, 0x5000);
    write_cap(&mut m, slot(10), frame);
    copy(&mut m, slot(10), slot(11), CapRights::ALL).unwrap();
    let copied = read_cap(&m, slot(11));
    assert!(!copied.is_mapped(), "a copied frame cap is not mapped");
    delete(&mut m, slot(10), &mut rec, &mut NeverPreempt).unwrap();
    assert_eq!(
        (rec.deleted.as_slice(), rec.finalised.len()),
        (&[frame][..], 0)
    );
    make(&mut m, ObjectType::CNode, 2, root_cap(), 12);
    let cn = read_cap(&m, slot(12));
    make(&mut m, ObjectType::Endpoint, 0, cn, 1);
    let ep = read_cap(&m, cn.paddr() + 32);
    del_bounded(&mut m, slot(12), &mut rec, false);
    assert_eq!(rec.deleted, [frame, cn, ep], "each cap once, zombies not");
    revoke(&mut m, UT_SLOT, &mut rec, &mut NeverPreempt).unwrap();
    assert_eq!(rec.deleted.last(), Some(&copied));
    assert_eq!(rec.finalised.last(), Some(&copied));
}

/// An endpoint's final cap stays in its slot while its waiters are
/// released, one per unit of work and preemption point; then it is
/// finalised once and emptied. The same inside a CNode being destroyed.
#[test]
fn waiters_are_released_one_per_step() {
    let mut m = setup();
    let mut rec = Rec::default();
    make(&mut m, ObjectType::Endpoint, 0, root_cap(), 10);
    let ep = read_cap(&m, slot(10));
    rec.waiters.insert(ep.paddr(), 5);
    let mut p = Every {
        every: 1,
        points: 0,
    };
    assert_eq!(
        delete(&mut m, slot(10), &mut rec, &mut p),
        Ok(Progress::Preempted)
    );
    assert_eq!(
        read_cap(&m, slot(10)),
        ep,
        "the cap stays while waiters remain"
    );
    assert!(rec.finalised.is_empty() && rec.deleted.is_empty());
    let calls = del_bounded(&mut m, slot(10), &mut rec, false);
    assert_eq!((calls, rec.released.len()), (5, 5));
    assert_eq!(
        (rec.finalised.as_slice(), rec.deleted.as_slice()),
        (&[ep][..], &[ep][..])
    );
    assert!(read_cap(&m, slot(10)).is_null());
    make(&mut m, ObjectType::CNode, 2, root_cap(), 12);
    let cn = read_cap(&m, slot(12));
    make(&mut m, ObjectType::Notification, 0, cn, 2);
    let ntfn = read_cap(&m, cn.paddr() + 2 * 32);
    rec.waiters.insert(ntfn.paddr(), 3);
    del_bounded(&mut m, slot(12), &mut rec, false);
    assert_eq!(
        rec.released.iter().filter(|&&a| a == ntfn.paddr()).count(),
        3
    );
    assert_eq!(rec.finalised.last(), Some(&ntfn));
    assert!(cnode_empty(&m, cn.paddr(), 2) && read_cap(&m, slot(12)).is_null());
    assert_eq!(available_bytes(&m, UT_SLOT), 1 << UT_BITS);
}

#[test]
fn cnode_contents_are_deleted() {
    let mut m = setup();
    let mut rec = Rec::default();
    make(&mut m, ObjectType::CNode, 3, root_cap(), 10);
    let cn = read_cap(&m, slot(10));
    for i in [0, 3, 7] {
        make(&mut m, ObjectType::Notification, 0, cn, i);
    }
    let calls = del_bounded(&mut m, slot(10), &mut rec, false);
    assert!(calls >= 8);
    assert_eq!(rec.finalised.len(), 3);
    assert!(cnode_empty(&m, cn.paddr(), 3) && read_cap(&m, slot(10)).is_null());
    assert_eq!(list(&m, UT_SLOT), [UT_SLOT]);
}

#[test]
fn deep_chain_terminates_with_bounded_steps() {
    let mut m = setup();
    let mut rec = Rec::default();
    make(&mut m, ObjectType::CNode, 1, root_cap(), 10);
    let mut parent = read_cap(&m, slot(10));
    for _ in 0..200 {
        make(&mut m, ObjectType::Endpoint, 0, parent, 0);
        make(&mut m, ObjectType::CNode, 1, parent, 1);
        parent = read_cap(&m, parent.paddr() + 32);
    }
    del_bounded(&mut m, slot(10), &mut rec, false);
    assert_eq!(rec.finalised.len(), 200);
    assert_eq!(list(&m, UT_SLOT), [UT_SLOT]);
    assert_eq!(available_bytes(&m, UT_SLOT), 1 << UT_BITS);
}

#[test]
fn self_reference_and_cycles() {
    let mut m = setup();
    let mut rec = Rec::default();
    // A holds a cap to itself; B and C hold caps to each other.
    for (s, r) in [(10, 2), (11, 2), (12, 3)] {
        make(&mut m, ObjectType::CNode, r, root_cap(), s);
    }
    let (a, b, c) = (
        read_cap(&m, slot(10)),
        read_cap(&m, slot(11)),
        read_cap(&m, slot(12)),
    );
    copy(&mut m, slot(10), a.paddr() + 32, CapRights::ALL).unwrap();
    copy(&mut m, slot(11), c.paddr() + 5 * 32, CapRights::ALL).unwrap();
    copy(&mut m, slot(12), b.paddr(), CapRights::ALL).unwrap();
    make(&mut m, ObjectType::Endpoint, 0, b, 3);
    make(&mut m, ObjectType::Endpoint, 0, c, 7);
    for s in [10, 11, 12] {
        assert_eq!(
            delete(&mut m, slot(s), &mut rec, &mut NeverPreempt),
            Ok(Progress::Done)
        );
    }
    assert!(rec.finalised.is_empty(), "none of those caps was final");
    assert!(has_children(&m, UT_SLOT));
    del_bounded(&mut m, UT_SLOT, &mut rec, true);
    assert_eq!(rec.finalised.len(), 2);
    assert_eq!(list(&m, UT_SLOT), [UT_SLOT]);
    for (cap, r) in [(a, 2), (b, 2), (c, 3)] {
        assert!(cnode_empty(&m, cap.paddr(), r));
    }
}

#[test]
fn revoke_badged() {
    let mut m = setup();
    let mut rec = Rec::default();
    make(&mut m, ObjectType::Endpoint, 0, root_cap(), 10);
    mint(&mut m, slot(10), slot(11), CapRights::ALL, 5).unwrap();
    copy(&mut m, slot(11), slot(12), CapRights::ALL).unwrap();
    mint(&mut m, slot(10), slot(13), CapRights::ALL, 6).unwrap();
    copy(&mut m, slot(10), slot(14), CapRights::ALL).unwrap();
    assert_eq!(
        revoke(&mut m, slot(11), &mut rec, &mut NeverPreempt),
        Ok(Progress::Done)
    );
    assert!(read_cap(&m, slot(12)).is_null() && !read_cap(&m, slot(11)).is_null());
    assert!(!read_cap(&m, slot(13)).is_null());
    assert_eq!(
        revoke(&mut m, slot(10), &mut rec, &mut NeverPreempt),
        Ok(Progress::Done)
    );
    assert!([11, 13, 14]
        .iter()
        .all(|&s| read_cap(&m, slot(s)).is_null()));
    assert!(rec.finalised.is_empty() && !read_cap(&m, slot(10)).is_null());
}

#[test]
fn revoke_thousands_of_children() {
    let mut m = setup();
    let mut rec = Rec::default();
    make(&mut m, ObjectType::CNode, 12, root_cap(), 10);
    let cn = read_cap(&m, slot(10));
    for i in 0..16 {
        let r = retype(
            &mut m,
            UT_SLOT,
            ObjectType::Endpoint,
            0,
            cn,
            i * 256,
            256,
            &mut rec,
            &mut NeverPreempt,
        );
        assert_eq!(r, Ok(Progress::Done));
    }
    let calls = del_bounded(&mut m, UT_SLOT, &mut rec, true);
    assert!(calls > 4096);
    assert_eq!(rec.finalised.len(), 4096);
    assert_eq!(list(&m, UT_SLOT), [UT_SLOT]);
    assert!(read_cap(&m, slot(10)).is_null());
}

#[test]
fn zombie_left_by_preemption_is_finished_by_revoke() {
    let mut m = setup();
    let mut rec = Rec::default();
    make(&mut m, ObjectType::CNode, 4, root_cap(), 10);
    let cn = read_cap(&m, slot(10));
    make(&mut m, ObjectType::CNode, 4, cn, 15);
    let inner = read_cap(&m, cn.paddr() + 15 * 32);
    make(&mut m, ObjectType::Tcb, 0, inner, 2);
    let mut p = Every {
        every: 3,
        points: 0,
    };
    assert_eq!(
        delete(&mut m, slot(10), &mut rec, &mut p),
        Ok(Progress::Preempted)
    );
    assert_eq!(read_cap(&m, slot(10)).kind(), CapType::Zombie);
    assert!(copy(&mut m, slot(10), slot(11), CapRights::ALL).is_err());
    assert_eq!(
        revoke(&mut m, UT_SLOT, &mut rec, &mut NeverPreempt),
        Ok(Progress::Done)
    );
    assert_eq!(rec.finalised.len(), 1);
    assert!(read_cap(&m, slot(10)).is_null());
    assert_eq!(m.read(UT_SLOT + 24), 0, "the untyped has no children left");
}
