//! Unit tests for destroying TCBs: the caps in a TCB's own slots are deleted
//! through a TCB Zombie, the TCB is finalised exactly once however often the
//! delete is preempted and restarted, cycles through CNodes and TCBs end, each
//! step stays within the work bound, and all memory comes back.

use super::*;
use crate::object_memory::TestMemory;
use crate::testutil::*;
use crate::untyped::available_bytes;
use keel_abi::{CapRights, CapType, ObjectType};

/// Preemption intervals each scenario runs with (0: never; 1: every point).
const EVERY: [u64; 5] = [0, 1, 2, 3, 7];

const TCB_ROOT_SLOT: u64 = 10;

/// A TCB with its cap in root slot 10; returns its address.
fn new_tcb(m: &mut TestMemory) -> u64 {
    make(m, ObjectType::Tcb, 0, root_cap(), TCB_ROOT_SLOT);
    read_cap(m, slot(TCB_ROOT_SLOT)).paddr()
}

fn cp(m: &mut TestMemory, src: u64, dest: u64) {
    copy(m, src, dest, CapRights::ALL).unwrap();
}

/// Each of `want` was finalised exactly once, and nothing else was.
fn assert_finalised(rec: &Rec, want: &[Cap]) {
    assert_eq!(rec.finalised.len(), want.len(), "{:?}", rec.finalised);
    for w in want {
        let n = rec.finalised.iter().filter(|c| *c == w).count();
        assert_eq!(n, 1, "{w:?} finalised {n} times");
    }
}

/// The TCB's slots are empty, nothing else is left to destroy, and the
/// untyped, revoked, is whole again.
fn assert_clean(m: &mut TestMemory, rec: &mut Rec, tcb: u64) {
    assert!(cnode_empty(m, tcb, TCB_SLOT_RADIX), "TCB slots not empty");
    let before = rec.finalised.len();
    assert_eq!(
        revoke(m, UT_SLOT, rec, &mut NeverPreempt),
        Ok(Progress::Done)
    );
    assert_eq!(rec.finalised.len(), before, "objects were left behind");
    assert_eq!(list(m, UT_SLOT), [UT_SLOT]);
    assert_eq!(available_bytes(m, UT_SLOT), 1 << UT_BITS);
}

#[test]
fn tcb_slots_with_endpoint_copies() {
    for every in EVERY {
        let mut m = setup();
        let mut rec = Rec::default();
        let t = new_tcb(&mut m);
        make(&mut m, ObjectType::Endpoint, 0, root_cap(), 11);
        let ep = read_cap(&m, slot(11));
        for i in [0, 2, 7] {
            cp(&mut m, slot(11), tcb_slot(t, i));
        }
        assert_eq!(
            delete(&mut m, slot(11), &mut rec, &mut NeverPreempt),
            Ok(Progress::Done)
        );
        assert!(rec.finalised.is_empty());
        let calls = del_every(&mut m, slot(TCB_ROOT_SLOT), &mut rec, false, every);
        if every == 1 {
            assert!(calls >= TCB_SLOTS, "one slot per step: {calls} calls");
        }
        assert_eq!(rec.finalised.first(), Some(&Cap::tcb(t)), "TCB first");
        assert_finalised(&rec, &[Cap::tcb(t), ep]);
        assert!(read_cap(&m, slot(TCB_ROOT_SLOT)).is_null());
        assert_clean(&mut m, &mut rec, t);
    }
}

#[test]
fn tcb_slot_with_last_cnode_cap() {
    for every in EVERY {
        let mut m = setup();
        let mut rec = Rec::default();
        let t = new_tcb(&mut m);
        make(&mut m, ObjectType::CNode, 2, root_cap(), 11);
        let cn = read_cap(&m, slot(11));
        make(&mut m, ObjectType::Notification, 0, cn, 3);
        let ntfn = read_cap(&m, cn.paddr() + 3 * 32);
        move_cap(&mut m, slot(11), tcb_slot(t, 1)).unwrap();
        del_every(&mut m, slot(TCB_ROOT_SLOT), &mut rec, false, every);
        assert_finalised(&rec, &[Cap::tcb(t), ntfn]);
        assert!(cnode_empty(&m, cn.paddr(), 2));
        assert_clean(&mut m, &mut rec, t);
    }
}

/// A CNode whose last cap is in slot 0 of the TCB, holding in its slot 5 a cap
/// to the TCB, and an endpoint; the TCB's root cap deleted, so the two keep
/// each other alive. Returns (TCB, CNode cap, endpoint cap).
fn tcb_cnode_cycle(m: &mut TestMemory) -> (u64, Cap, Cap) {
    let t = new_tcb(m);
    make(m, ObjectType::CNode, 3, root_cap(), 11);
    let cn = read_cap(m, slot(11));
    cp(m, slot(TCB_ROOT_SLOT), cn.paddr() + 5 * 32);
    make(m, ObjectType::Endpoint, 0, cn, 2);
    let ep = read_cap(m, cn.paddr() + 2 * 32);
    move_cap(m, slot(11), tcb_slot(t, 0)).unwrap();
    let mut rec = Rec::default();
    assert_eq!(
        delete(m, slot(TCB_ROOT_SLOT), &mut rec, &mut NeverPreempt),
        Ok(Progress::Done)
    );
    assert!(rec.finalised.is_empty(), "the root's TCB cap was not final");
    (t, cn, ep)
}

#[test]
fn tcb_and_cnode_holding_each_other_deleted() {
    for every in EVERY {
        let mut m = setup();
        let mut rec = Rec::default();
        let (t, cn, ep) = tcb_cnode_cycle(&mut m);
        // Deleting the last TCB cap, which lives in the CNode the TCB holds,
        // so the delete frees its own slot. Unpreempted it finishes; once
        // preempted, the zombies it leaves in the cycle are no longer in that
        // slot (nothing can name it again), and the untyped's revoke finishes
        // them.
        del_every(&mut m, cn.paddr() + 5 * 32, &mut rec, false, every);
        finish_cycle(&mut m, &mut rec, every, t, cn, ep);
    }
}

/// After a delete that freed its own slot: finalisation happened once each
/// (the TCB first), and everything is clean once the untyped is revoked.
fn finish_cycle(m: &mut TestMemory, rec: &mut Rec, every: u64, t: u64, cn: Cap, ep: Cap) {
    assert_eq!(rec.finalised.first(), Some(&Cap::tcb(t)), "TCB first");
    if every != 0 {
        assert_eq!(
            revoke(m, UT_SLOT, rec, &mut NeverPreempt),
            Ok(Progress::Done)
        );
    }
    assert_finalised(rec, &[Cap::tcb(t), ep]);
    assert!(cnode_empty(m, cn.paddr(), 3));
    assert_clean(m, rec, t);
}

/// The kernel's TCB_SetSpace on a thread whose old CSpace root holds the only
/// cap to the thread: deleting TCB slot 0 destroys the CNode, which destroys
/// the TCB, whose slots include the one the delete started from.
#[test]
fn tcb_slot_delete_reaching_its_own_tcb() {
    for every in EVERY {
        let mut m = setup();
        let mut rec = Rec::default();
        let (t, cn, ep) = tcb_cnode_cycle(&mut m);
        del_every(&mut m, tcb_slot(t, 0), &mut rec, false, every);
        finish_cycle(&mut m, &mut rec, every, t, cn, ep);
    }
}

#[test]
fn tcb_and_cnode_holding_each_other_revoked() {
    for every in EVERY {
        let mut m = setup();
        let mut rec = Rec::default();
        let (t, cn, ep) = tcb_cnode_cycle(&mut m);
        del_every(&mut m, UT_SLOT, &mut rec, true, every);
        assert_finalised(&rec, &[Cap::tcb(t), ep]);
        assert!(cnode_empty(&m, cn.paddr(), 3));
        assert_clean(&mut m, &mut rec, t);
    }
}

#[test]
fn tcbs_holding_themselves_and_each_other() {
    for every in EVERY {
        let mut m = setup();
        let mut rec = Rec::default();
        let a = new_tcb(&mut m);
        make(&mut m, ObjectType::Tcb, 0, root_cap(), 11);
        let b = read_cap(&m, slot(11)).paddr();
        cp(&mut m, slot(TCB_ROOT_SLOT), tcb_slot(a, 4));
        cp(&mut m, slot(TCB_ROOT_SLOT), tcb_slot(b, 7));
        move_cap(&mut m, slot(11), tcb_slot(a, 6)).unwrap();
        // B is held only by A; A by itself, B and the root.
        del_every(&mut m, slot(TCB_ROOT_SLOT), &mut rec, false, every);
        assert!(rec.finalised.is_empty());
        del_every(&mut m, UT_SLOT, &mut rec, true, every);
        assert_finalised(&rec, &[Cap::tcb(a), Cap::tcb(b)]);
        assert!(cnode_empty(&m, b, TCB_SLOT_RADIX));
        assert_clean(&mut m, &mut rec, a);
    }
}

#[test]
fn tcb_inside_a_deleted_cnode() {
    for every in EVERY {
        let mut m = setup();
        let mut rec = Rec::default();
        make(&mut m, ObjectType::CNode, 1, root_cap(), 11);
        let cn = read_cap(&m, slot(11));
        make(&mut m, ObjectType::Tcb, 0, cn, 1);
        let t = read_cap(&m, cn.paddr() + 32).paddr();
        make(&mut m, ObjectType::Endpoint, 0, root_cap(), 12);
        let ep = read_cap(&m, slot(12));
        move_cap(&mut m, slot(12), tcb_slot(t, 3)).unwrap();
        del_every(&mut m, slot(11), &mut rec, false, every);
        assert_finalised(&rec, &[Cap::tcb(t), ep]);
        assert!(cnode_empty(&m, cn.paddr(), 1));
        assert_clean(&mut m, &mut rec, t);
    }
}

#[test]
fn preempted_tcb_delete_finalises_once() {
    let mut m = setup();
    let mut rec = Rec::default();
    let t = new_tcb(&mut m);
    make(&mut m, ObjectType::Endpoint, 0, root_cap(), 11);
    move_cap(&mut m, slot(11), tcb_slot(t, 5)).unwrap();
    let mut p = Every {
        every: 1,
        points: 0,
    };
    assert_eq!(
        delete(&mut m, slot(TCB_ROOT_SLOT), &mut rec, &mut p),
        Ok(Progress::Preempted)
    );
    let z = read_cap(&m, slot(TCB_ROOT_SLOT));
    assert!(z.kind() == CapType::Zombie && z.zombie_is_tcb() && z.paddr() == t);
    assert_eq!(rec.finalised, [Cap::tcb(t)]);
    assert!(
        !read_cap(&m, tcb_slot(t, 5)).is_null(),
        "slots not yet cleared"
    );
    assert!(copy(&mut m, slot(TCB_ROOT_SLOT), slot(12), CapRights::ALL).is_err());
    assert!(has_children(&m, UT_SLOT), "the untyped still holds the TCB");
    assert!(available_bytes(&m, UT_SLOT) < 1 << UT_BITS);
    // Restarts, then a revoke of the untyped, finish it without finalising again.
    assert_eq!(
        delete(&mut m, slot(TCB_ROOT_SLOT), &mut rec, &mut p),
        Ok(Progress::Preempted)
    );
    assert_eq!(
        revoke(&mut m, UT_SLOT, &mut rec, &mut NeverPreempt),
        Ok(Progress::Done)
    );
    assert_eq!(rec.finalised.len(), 2);
    assert_eq!(rec.finalised[0], Cap::tcb(t));
    assert_eq!(rec.finalised[1].kind(), CapType::Endpoint);
    assert!(read_cap(&m, slot(TCB_ROOT_SLOT)).is_null());
    assert_clean(&mut m, &mut rec, t);
}
