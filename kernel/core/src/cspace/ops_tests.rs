//! Unit tests for the CNode copy and move operations: each success path and
//! each error seL4 returns for them.

use super::*;
use crate::testutil::*;
use crate::untyped::retype;
use keel_abi::{CapRights, CapType, Error, LookupFailure, ObjectType};

fn make(m: &mut crate::object_memory::TestMemory, ty: ObjectType, bits: u64, at: u64) {
    let r = retype(
        m,
        UT_SLOT,
        ty,
        bits,
        root_cap(),
        at,
        1,
        &mut NoHooks,
        &mut NeverPreempt,
    );
    assert_eq!(r, Ok(Progress::Done));
}

fn missing(source: bool) -> SyscallError {
    let e = LookupError::new(LookupFailure::MissingCapability, 0);
    SyscallError::failed_lookup(source, e)
}

use crate::error::SyscallError;

#[test]
fn copy_and_its_errors() {
    let mut m = setup();
    make(&mut m, ObjectType::Endpoint, 0, 10);
    assert_eq!(copy(&mut m, slot(10), slot(11), CapRights::READ), Ok(()));
    let c = read_cap(&m, slot(11));
    assert_eq!((c.kind(), c.rights()), (CapType::Endpoint, CapRights::READ));
    assert!(is_parent_of(&m, slot(10), slot(11)) && !has_children(&m, slot(11)));
    assert_eq!(
        copy(&mut m, slot(10), slot(11), CapRights::ALL),
        Err(Error::DeleteFirst.into())
    );
    assert_eq!(
        copy(&mut m, slot(12), slot(13), CapRights::ALL),
        Err(missing(true))
    );
    write_cap(&mut m, slot(20), Cap::irq_control());
    assert_eq!(
        copy(&mut m, slot(20), slot(21), CapRights::ALL),
        Err(Error::IllegalOperation.into())
    );
    assert_eq!(
        copy(&mut m, UT_SLOT, slot(21), CapRights::ALL),
        Err(Error::RevokeFirst.into())
    );
}

#[test]
fn copy_counts_cap_writes_only_when_it_writes() {
    let mut m = setup();
    make(&mut m, ObjectType::Endpoint, 0, 10);
    let before = m.cap_writes();
    assert_eq!(copy(&mut m, slot(10), slot(11), CapRights::READ), Ok(()));
    let after = m.cap_writes();
    assert!(after > before, "a copy wrote no cap: {before} then {after}");
    assert_eq!(
        copy(&mut m, slot(10), slot(11), CapRights::ALL),
        Err(Error::DeleteFirst.into())
    );
    assert_eq!(m.cap_writes(), after, "a refused copy counted a cap write");
}

#[test]
fn untyped_copy_without_children() {
    let mut m = setup();
    assert_eq!(copy(&mut m, UT_SLOT, slot(20), CapRights::ALL), Ok(()));
    assert!(is_parent_of(&m, UT_SLOT, slot(20)));
    assert_eq!(
        crate::untyped::available_bytes(&m, UT_SLOT),
        0,
        "the parent is used up"
    );
    assert_eq!(crate::untyped::available_bytes(&m, slot(20)), 1 << UT_BITS);
}

#[test]
fn mint_badges_once() {
    let mut m = setup();
    make(&mut m, ObjectType::Notification, 0, 10);
    assert_eq!(mint(&mut m, slot(10), slot(11), CapRights::ALL, 42), Ok(()));
    assert_eq!(read_cap(&m, slot(11)).badge(), 42);
    assert!(read_slot(&m, slot(11)).mdb.revocable);
    assert_eq!(
        mint(&mut m, slot(11), slot(12), CapRights::ALL, 7),
        Err(Error::IllegalOperation.into())
    );
    assert_eq!(copy(&mut m, slot(11), slot(12), CapRights::WRITE), Ok(()));
    assert!(is_parent_of(&m, slot(11), slot(12)));
    assert_eq!(mint(&mut m, slot(10), slot(13), CapRights::ALL, 42), Ok(()));
    assert!(!is_parent_of(&m, slot(11), slot(13)) && is_parent_of(&m, slot(10), slot(13)));
    // A CNode guard through Mint, and one too large for the radix.
    make(&mut m, ObjectType::CNode, 4, 14);
    assert_eq!(
        mint(&mut m, slot(14), slot(15), CapRights::ALL, (3 << 6) | 2),
        Ok(())
    );
    let g = read_cap(&m, slot(15));
    assert_eq!((g.cnode_guard_size(), g.cnode_guard()), (2, 3));
    assert_eq!(
        mint(&mut m, slot(14), slot(16), CapRights::ALL, 61),
        Err(Error::IllegalOperation.into())
    );
    assert_eq!(
        mint(&mut m, slot(30), slot(16), CapRights::ALL, 0),
        Err(missing(true))
    );
}

#[test]
fn move_and_mutate() {
    let mut m = setup();
    make(&mut m, ObjectType::Endpoint, 0, 10);
    copy(&mut m, slot(10), slot(11), CapRights::ALL).unwrap();
    assert_eq!(move_cap(&mut m, slot(11), slot(12)), Ok(()));
    assert!(read_cap(&m, slot(11)).is_null() && is_parent_of(&m, slot(10), slot(12)));
    assert_eq!(move_cap(&mut m, slot(11), slot(13)), Err(missing(true)));
    assert_eq!(
        move_cap(&mut m, slot(12), slot(10)),
        Err(Error::DeleteFirst.into())
    );
    assert_eq!(
        mutate(&mut m, slot(12), slot(13), 5),
        Err(Error::IllegalOperation.into())
    );
    make(&mut m, ObjectType::CNode, 3, 20);
    assert_eq!(mutate(&mut m, slot(20), slot(21), (1 << 6) | 1), Ok(()));
    assert_eq!(read_cap(&m, slot(21)).cnode_guard_size(), 1);
    assert!(has_children(&m, UT_SLOT) && read_cap(&m, slot(20)).is_null());
    assert_eq!(move_cap(&mut m, slot(3), slot(4)), Err(missing(true)));
}

#[test]
fn rotate_cases() {
    let mut m = setup();
    make(&mut m, ObjectType::Tcb, 0, 10);
    make(&mut m, ObjectType::Reply, 0, 11);
    let (a, b) = (read_cap(&m, slot(10)), read_cap(&m, slot(11)));
    // Three slots: pivot -> dest, src -> pivot.
    assert_eq!(rotate(&mut m, slot(12), slot(11), slot(10), 0, 0), Ok(()));
    assert_eq!((read_cap(&m, slot(12)), read_cap(&m, slot(11))), (b, a));
    assert!(read_cap(&m, slot(10)).is_null());
    // src == dest: a swap.
    assert_eq!(rotate(&mut m, slot(12), slot(11), slot(12), 0, 0), Ok(()));
    assert_eq!((read_cap(&m, slot(12)), read_cap(&m, slot(11))), (a, b));
    assert_eq!(list(&m, ROOT + 32).len(), 1);
    assert_eq!(list(&m, UT_SLOT).len(), 3);
    assert_eq!(
        rotate(&mut m, slot(12), slot(12), slot(11), 0, 0),
        Err(Error::IllegalOperation.into())
    );
    assert_eq!(
        rotate(&mut m, slot(12), slot(11), slot(11), 0, 0),
        Err(Error::IllegalOperation.into())
    );
    assert_eq!(
        rotate(&mut m, slot(11), slot(13), slot(12), 0, 0),
        Err(Error::DeleteFirst.into())
    );
    assert_eq!(
        rotate(&mut m, slot(14), slot(12), slot(15), 0, 0),
        Err(missing(true))
    );
    assert_eq!(
        rotate(&mut m, slot(14), slot(15), slot(12), 0, 0),
        Err(missing(false))
    );
    make(&mut m, ObjectType::Endpoint, 0, 16);
    assert_eq!(
        rotate(&mut m, slot(14), slot(12), slot(16), 0, 0),
        Err(Error::IllegalOperation.into())
    );
}
