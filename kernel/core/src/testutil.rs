//! Shared fixtures for the unit tests: a memory with a root CNode and a big
//! untyped, hooks that record what they were asked, counting preemption, and
//! delete or revoke run to the end with the per-step work bound checked.

extern crate std;

use crate::cap::Cap;
use crate::cspace::delete::MAX_SLOTS_PER_STEP;
use crate::cspace::slot::{read_cap, read_mdb, write_slot, MdbNode, Slot};
use crate::cspace::{delete, revoke, NeverPreempt, NoHooks, ObjectHooks, Preempt, Progress};
use crate::object_memory::{ObjectMemory, TestMemory};
use crate::untyped::retype;
use keel_abi::ObjectType;
use std::vec::Vec;

pub const BASE: u64 = 0x10_0000;
pub const ROOT: u64 = BASE;
pub const ROOT_RADIX: u8 = 8;
pub const UT: u64 = BASE + 0x10_0000;
pub const UT_BITS: u8 = 20;
/// Root slot holding the untyped.
pub const UT_SLOT: u64 = ROOT + 2 * 32;

pub fn slot(i: u64) -> u64 {
    ROOT + i * 32
}

pub fn root_cap() -> Cap {
    Cap::cnode(ROOT, ROOT_RADIX, 64 - ROOT_RADIX, 0)
}

/// Root CNode at `ROOT` (its cap in slot 1), a boot untyped of 1 MiB in slot 2
/// (watermark at the top, as boot untypeds come).
pub fn setup() -> TestMemory {
    let mut m = TestMemory::new(BASE, 0x20_0000);
    let orig = MdbNode {
        revocable: true,
        first_badged: true,
        ..MdbNode::default()
    };
    write_slot(
        &mut m,
        slot(1),
        &Slot {
            cap: root_cap(),
            mdb: orig,
        },
    );
    let ut = Cap::untyped(UT, UT_BITS, false, 1 << UT_BITS);
    write_slot(&mut m, UT_SLOT, &Slot { cap: ut, mdb: orig });
    m
}

#[derive(Default)]
pub struct Rec {
    pub finalised: Vec<Cap>,
    pub deleted: Vec<Cap>,
    pub inited: Vec<(ObjectType, u64, u8)>,
    /// Threads still waiting on the object at each address: each
    /// `release_waiters` releases one.
    pub waiters: std::collections::BTreeMap<u64, u64>,
    /// Every object a `release_waiters` call released a waiter of.
    pub released: Vec<u64>,
}

impl<M: ObjectMemory> ObjectHooks<M> for Rec {
    fn finalise(&mut self, _mem: &mut M, cap: &Cap) {
        self.finalised.push(*cap);
    }
    fn cap_deleted(&mut self, _mem: &mut M, cap: &Cap) {
        self.deleted.push(*cap);
    }
    fn release_waiters(&mut self, _mem: &mut M, cap: &Cap) -> Progress {
        match self.waiters.get_mut(&cap.paddr()) {
            Some(n) if *n > 0 => {
                *n -= 1;
                self.released.push(cap.paddr());
                Progress::Preempted
            }
            _ => Progress::Done,
        }
    }
    fn init_object(&mut self, _mem: &mut M, ty: ObjectType, paddr: u64, size_bits: u8) {
        self.inited.push((ty, paddr, size_bits));
    }
}

/// Preempts at every `every`-th point (0: never), counting points.
pub struct Every {
    pub every: u64,
    pub points: u64,
}

impl Preempt for Every {
    fn pending(&mut self) -> bool {
        self.points += 1;
        self.every != 0 && self.points.is_multiple_of(self.every)
    }
}

/// Calls `op` until it reports `Done`, returning how many calls it took.
pub fn until_done(mut op: impl FnMut() -> Progress) -> u64 {
    let mut calls = 1;
    while op() == Progress::Preempted {
        calls += 1;
        assert!(calls < 10_000_000, "operation does not terminate");
    }
    calls
}

/// Every slot in the derivation list from `head`, checking `prev` links.
pub fn list(m: &TestMemory, head: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let (mut prev, mut cur) = (0, head);
    while cur != 0 {
        assert_eq!(read_mdb(m, cur).prev, prev, "prev link of {cur:#x}");
        assert!(!out.contains(&cur), "slot {cur:#x} twice in the list");
        out.push(cur);
        prev = cur;
        cur = read_mdb(m, cur).next;
    }
    out
}

/// True when every slot of the CNode at `paddr` is empty.
pub fn cnode_empty(m: &TestMemory, paddr: u64, radix: u8) -> bool {
    (0..1u64 << radix).all(|i| read_cap(m, paddr + i * 32).is_null())
}

/// Retypes one `ty` from the untyped in `UT_SLOT` into slot `at` of `cnode`.
pub fn make(m: &mut TestMemory, ty: ObjectType, bits: u64, cnode: Cap, at: u64) {
    let r = retype(
        m,
        UT_SLOT,
        ty,
        bits,
        cnode,
        at,
        1,
        &mut NoHooks,
        &mut NeverPreempt,
    );
    assert_eq!(r, Ok(Progress::Done));
}

/// Deletes (or revokes) `s` to the end, preempting at every point, and checks
/// that no step wrote more than the bound. Returns the number of calls.
pub fn del_bounded(m: &mut TestMemory, s: u64, rec: &mut Rec, revoking: bool) -> u64 {
    del_every(m, s, rec, revoking, 1)
}

/// Deletes (or revokes) `s` to the end, preempting at every `every`-th point
/// (0: never; each call starts counting afresh). With `every == 1` checks that
/// no step wrote more than the bound. Returns the number of calls.
pub fn del_every(m: &mut TestMemory, s: u64, rec: &mut Rec, revoking: bool, every: u64) -> u64 {
    let mut max = 0;
    let calls = until_done(|| {
        let mut p = Every { every, points: 0 };
        let before = m.writes();
        let r = if revoking {
            revoke(m, s, rec, &mut p)
        } else {
            delete(m, s, rec, &mut p)
        };
        max = max.max(m.writes() - before);
        r.unwrap()
    });
    // A step touches at most MAX_SLOTS_PER_STEP slots of 4 words.
    if every == 1 {
        assert!(max <= MAX_SLOTS_PER_STEP * 4, "a step wrote {max} words");
    }
    calls
}
