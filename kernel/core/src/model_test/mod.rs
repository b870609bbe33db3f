//! Property test: random sequences of retype, copy, mint, move, mutate, rotate,
//! delete and revoke, each re-invoked through random preemption until done,
//! checked after every step against a simple reference model of the derivation
//! tree (nodes with parent pointers, built from seL4's semantics: a copy is a
//! child of a revocable source and a sibling of any other; deleting a node hands
//! its children to its parent; the last cap to a CNode or TCB takes the
//! contents of its slots with it). A TCB's slots are treated as a CNode of
//! radix `TCB_SLOT_RADIX`: caps are copied and moved into them, and retype
//! puts new objects there, as the kernel's TCB operations would.
//!
//! Checked after every step: every slot holds the cap the model says; the
//! derivation list is consistent (prev/next agree, no stray neighbours); each
//! cap's descendants are exactly the model's; a childless untyped reports its
//! full size; no two live objects overlap; finalisation happened exactly for
//! the objects the model destroyed.
//!
//! `cargo test` runs 10,000 sequences of up to 40 steps (about 3 s in a debug
//! build). For a longer run:
//! `PROPTEST_CASES=100000 cargo test -p keel-kernel-core --release model`.

extern crate std;

mod check;

use check::as_cnode;

use crate::cap::Cap;
use crate::cspace::slot::{read_cap, write_slot, MdbNode, Slot};
use crate::cspace::{copy, delete, mint, move_cap, mutate, revoke, rotate, Progress};
use crate::error::SyscallError;
use crate::object_memory::TestMemory;
use crate::testutil::{Every, Rec};
use crate::untyped::{available_bytes, retype};
use keel_abi::{CapRights, CapType, Error, ObjectType};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::vec::Vec;

const BASE: u64 = 0x10_0000;
const ROOT: u64 = BASE;
const RADIX: u8 = 6;
const UTS: [(u64, u64, u8); 2] = [(2, BASE + 0x1_0000, 16), (3, BASE + 0x2_0000, 15)];

fn root_cap() -> Cap {
    Cap::cnode(ROOT, RADIX, 64 - RADIX, 0)
}

#[derive(Clone, Debug)]
struct Node {
    cap: Cap,
    parent: Option<usize>,
    revocable: bool,
    alive: bool,
}

struct Model {
    mem: TestMemory,
    nodes: Vec<Node>,
    slot_of: BTreeMap<u64, usize>,
    finalised: usize,
    rec: Rec,
}

#[derive(Clone, Debug)]
enum Op {
    Retype {
        ut: u8,
        ty: u8,
        bits: u8,
        cnode: u8,
        offset: u8,
        count: u8,
    },
    Copy {
        src: u8,
        dest: u8,
        rights: u8,
    },
    Mint {
        src: u8,
        dest: u8,
        rights: u8,
        data: u64,
    },
    Move {
        src: u8,
        dest: u8,
    },
    Mutate {
        src: u8,
        dest: u8,
        data: u64,
    },
    Rotate {
        dest: u8,
        pivot: u8,
        src: u8,
        pd: u64,
        dd: u64,
    },
    Delete {
        slot: u8,
    },
    Revoke {
        slot: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let s = any::<u8>;
    let data = prop_oneof![
        Just(0u64),
        1..4u64,
        (0..4u64, 0..3u64).prop_map(|(g, n)| (g << 6) | n)
    ];
    prop_oneof![
        4 => (s(), s(), s(), s(), s(), 1..4u8).prop_map(|(ut, ty, bits, cnode, offset, count)| Op::Retype {
            ut, ty, bits, cnode, offset, count
        }),
        2 => (s(), s(), s()).prop_map(|(src, dest, rights)| Op::Copy { src, dest, rights }),
        2 => (s(), s(), s(), data.clone()).prop_map(|(src, dest, rights, data)| Op::Mint { src, dest, rights, data }),
        1 => (s(), s()).prop_map(|(src, dest)| Op::Move { src, dest }),
        1 => (s(), s(), data.clone()).prop_map(|(src, dest, data)| Op::Mutate { src, dest, data }),
        1 => (s(), s(), s(), data.clone(), data).prop_map(|(dest, pivot, src, pd, dd)| Op::Rotate {
            dest, pivot, src, pd, dd
        }),
        2 => s().prop_map(|slot| Op::Delete { slot }),
        1 => s().prop_map(|slot| Op::Revoke { slot }),
    ]
}

/// What retype makes: (type, lowest and highest size argument); TCBs twice,
/// for more caps in TCB slots.
const TYPES: [(ObjectType, u64, u64); 9] = [
    (ObjectType::Endpoint, 0, 0),
    (ObjectType::Notification, 0, 0),
    (ObjectType::CNode, 1, 2),
    (ObjectType::Untyped, 8, 12),
    (ObjectType::Tcb, 0, 0),
    (ObjectType::Tcb, 0, 0),
    (ObjectType::SmallPage, 0, 0),
    (ObjectType::Reply, 0, 0),
    (ObjectType::PageTable, 0, 0),
];

impl Model {
    fn new() -> Self {
        let mut mem = TestMemory::new(BASE, 0x3_0000);
        let orig = MdbNode {
            revocable: true,
            first_badged: true,
            ..MdbNode::default()
        };
        let mut m = Model {
            mem: TestMemory::new(0, 0),
            nodes: Vec::new(),
            slot_of: BTreeMap::new(),
            finalised: 0,
            rec: Rec::default(),
        };
        for (i, paddr, bits) in UTS {
            let cap = Cap::untyped(paddr, bits, false, 1 << bits);
            write_slot(&mut mem, ROOT + i * 32, &Slot { cap, mdb: orig });
            m.add(ROOT + i * 32, cap, None, true);
        }
        m.mem = mem;
        m
    }

    fn add(&mut self, slot: u64, cap: Cap, parent: Option<usize>, revocable: bool) {
        self.nodes.push(Node {
            cap,
            parent,
            revocable,
            alive: true,
        });
        self.slot_of.insert(slot, self.nodes.len() - 1);
    }

    fn cap_at(&self, slot: u64) -> Option<Cap> {
        self.slot_of.get(&slot).map(|&n| self.nodes[n].cap)
    }

    fn is_ancestor(&self, a: usize, mut x: usize) -> bool {
        while let Some(p) = self.nodes[x].parent {
            if p == a {
                return true;
            }
            x = p;
        }
        false
    }

    fn has_children(&self, n: usize) -> bool {
        self.nodes.iter().any(|x| x.alive && x.parent == Some(n))
    }

    /// Slots a user can name: the root's untyped slots and 8.., and the slots
    /// of CNodes and TCBs reachable from the root.
    fn user_slots(&self) -> Vec<u64> {
        let mut out: Vec<u64> = [2u64, 3]
            .iter()
            .chain(&(8..32).collect::<Vec<_>>())
            .map(|i| ROOT + i * 32)
            .collect();
        let mut seen = BTreeSet::new();
        let mut i = 0;
        while i < out.len() {
            if let Some(c) = self.cap_at(out[i]).and_then(as_cnode) {
                if c.paddr() != ROOT && seen.insert(c.paddr()) {
                    out.extend((0..1u64 << c.cnode_radix()).map(|k| c.paddr() + k * 32));
                }
            }
            i += 1;
        }
        out
    }

    /// A slot from `slots`: mostly a full one (`full`) or an empty one, so
    /// that most operations get past their argument checks.
    fn pick(&self, slots: &[u64], i: u8, full: bool) -> u64 {
        let want: Vec<u64> = slots
            .iter()
            .copied()
            .filter(|s| self.slot_of.contains_key(s) == full)
            .collect();
        if i < 224 && !want.is_empty() {
            want[usize::from(i) % want.len()]
        } else {
            slots[usize::from(i) % slots.len()]
        }
    }

    /// Model delete: drop the node, hand its children to its parent, and
    /// destroy the object when this was its last cap.
    fn delete_slot(&mut self, slot: u64) {
        let Some(n) = self.slot_of.remove(&slot) else {
            return;
        };
        self.nodes[n].alive = false;
        let parent = self.nodes[n].parent;
        for x in self
            .nodes
            .iter_mut()
            .filter(|x| x.alive && x.parent == Some(n))
        {
            x.parent = parent;
        }
        let cap = self.nodes[n].cap;
        let last = !self
            .slot_of
            .values()
            .any(|&o| self.nodes[o].cap.same_object_as(&cap));
        if !last || cap.kind() == CapType::Untyped {
            return;
        }
        if cap.kind() != CapType::CNode {
            self.finalised += 1;
        }
        if let Some(c) = as_cnode(cap) {
            for k in 0..1u64 << c.cnode_radix() {
                self.delete_slot(c.paddr() + k * 32);
            }
        }
    }

    fn run(&mut self, op: &Op, every: u64) {
        let slots = self.user_slots();
        let p = |i: u8| self.pick(&slots, i, true);
        let e = |i: u8| self.pick(&slots, i, false);
        let rights = |r: u8| CapRights::from_bits(u64::from(r));
        let mut pre = Every { every, points: 0 };
        match *op {
            Op::Retype {
                ut,
                ty,
                bits,
                cnode,
                offset,
                count,
            } => {
                let uts: Vec<u64> = slots
                    .iter()
                    .copied()
                    .filter(|&s| self.cap_at(s).is_some_and(|c| c.kind() == CapType::Untyped))
                    .collect();
                if uts.is_empty() {
                    return;
                }
                let us = uts[usize::from(ut) % uts.len()];
                let (t, lo, hi) = TYPES[usize::from(ty) % TYPES.len()];
                let bits = if hi > lo {
                    lo + u64::from(bits) % (hi - lo + 1)
                } else {
                    0
                };
                let mut cnodes = std::vec![root_cap()];
                cnodes.extend(
                    slots
                        .iter()
                        .filter_map(|&s| self.cap_at(s).and_then(as_cnode))
                        .filter(|c| c.paddr() != ROOT),
                );
                let dc = cnodes[usize::from(cnode) % cnodes.len()];
                let size = 1u64 << dc.cnode_radix();
                let lo_slot = if dc.paddr() == ROOT { 8 } else { 0 };
                let offset = lo_slot + u64::from(offset) % (size - lo_slot);
                let count = u64::from(count).min(size - offset);
                let dests: Vec<u64> = (0..count).map(|i| dc.paddr() + (offset + i) * 32).collect();
                let (mem, rec) = (&mut self.mem, &mut self.rec);
                let mut r = Ok(Progress::Preempted);
                while r == Ok(Progress::Preempted) {
                    r = retype(mem, us, t, bits, dc, offset, count, rec, &mut pre);
                }
                let occupied = dests.iter().any(|d| self.slot_of.contains_key(d));
                match r {
                    Ok(_) => {
                        assert!(!occupied);
                        let parent = self.slot_of[&us];
                        for d in dests {
                            let cap = read_cap(&self.mem, d);
                            assert_eq!(cap, Cap::for_new_object(t, cap.paddr(), bits as u8, false));
                            self.add(d, cap, Some(parent), true);
                        }
                    }
                    Err(e) if occupied => assert_eq!(e, Error::DeleteFirst.into()),
                    Err(e) => {
                        assert_eq!(e.error, Error::NotEnoughMemory);
                        assert_eq!(e.detail[0], available_bytes(&self.mem, us));
                    }
                }
            }
            Op::Copy {
                src,
                dest,
                rights: r,
            } => {
                let (s, d) = (p(src), e(dest));
                let res = copy(&mut self.mem, s, d, rights(r));
                self.check_derive(s, d, res, |c| Ok(c.mask_rights(rights(r))));
            }
            Op::Mint {
                src,
                dest,
                rights: r,
                data,
            } => {
                let (s, d) = (p(src), e(dest));
                let res = mint(&mut self.mem, s, d, rights(r), data);
                self.check_derive(s, d, res, |c| {
                    Ok(c.mask_rights(rights(r)).derive()?.update_data(false, data))
                });
            }
            Op::Move { src, dest } => {
                let (s, d) = (p(src), e(dest));
                let res = move_cap(&mut self.mem, s, d);
                self.check_move(s, d, res, Some);
            }
            Op::Mutate { src, dest, data } => {
                let (s, d) = (p(src), e(dest));
                let res = mutate(&mut self.mem, s, d, data);
                self.check_move(s, d, res, |c| {
                    Some(c.update_data(true, data)).filter(|c| !c.is_null())
                });
            }
            Op::Rotate {
                dest,
                pivot,
                src,
                pd,
                dd,
            } => self.rotate(p(dest), p(pivot), p(src), pd, dd),
            Op::Delete { slot } => {
                let s = p(slot);
                let (mem, rec) = (&mut self.mem, &mut self.rec);
                while delete(mem, s, rec, &mut pre).unwrap() == Progress::Preempted {}
                self.delete_slot(s);
            }
            Op::Revoke { slot } => {
                let s = p(slot);
                let saved = (self.nodes.clone(), self.slot_of.clone(), self.finalised);
                if let Some(&n) = self.slot_of.get(&s) {
                    let desc: Vec<u64> = self
                        .slot_of
                        .iter()
                        .filter(|&(_, &x)| self.is_ancestor(n, x))
                        .map(|(&s, _)| s)
                        .collect();
                    for d in desc {
                        self.delete_slot(d);
                    }
                    if !self.slot_of.contains_key(&s) {
                        // The revoked cap lives in an object its revoke
                        // destroys: as in seL4, the revoke stops when its own
                        // cap goes, so what remains depends on list order.
                        // Not modelled; skipped.
                        (self.nodes, self.slot_of, self.finalised) = saved;
                        return;
                    }
                }
                let (mem, rec) = (&mut self.mem, &mut self.rec);
                while revoke(mem, s, rec, &mut pre).unwrap() == Progress::Preempted {}
            }
        }
    }

    fn check_derive(
        &mut self,
        s: u64,
        d: u64,
        res: Result<(), SyscallError>,
        make: impl Fn(Cap) -> Result<Cap, Error>,
    ) {
        let expect = match (self.slot_of.get(&d), self.slot_of.get(&s)) {
            (Some(_), _) => Err(Error::DeleteFirst),
            (None, None) => Err(Error::FailedLookup),
            (None, Some(&n)) => {
                let src = self.nodes[n].cap;
                if src.kind() == CapType::Untyped && self.has_children(n) {
                    Err(Error::RevokeFirst)
                } else {
                    match src
                        .derive()
                        .and_then(|_| make(src))
                        .and_then(|c| c.derive())
                    {
                        Ok(c) if c.is_null() => Err(Error::IllegalOperation),
                        other => other,
                    }
                }
            }
        };
        match expect {
            Err(e) => assert_eq!(res.map_err(|x| x.error), Err(e)),
            Ok(cap) => {
                assert_eq!(res, Ok(()));
                let n = self.slot_of[&s];
                let src = self.nodes[n].cap;
                let parent = if self.nodes[n].revocable {
                    Some(n)
                } else {
                    self.nodes[n].parent
                };
                self.add(d, cap, parent, Cap::is_revocable(&cap, &src));
            }
        }
    }

    fn check_move(
        &mut self,
        s: u64,
        d: u64,
        res: Result<(), SyscallError>,
        make: impl Fn(Cap) -> Option<Cap>,
    ) {
        if self.slot_of.contains_key(&d) {
            return assert_eq!(res, Err(Error::DeleteFirst.into()));
        }
        let Some(&n) = self.slot_of.get(&s) else {
            return assert_eq!(res.map_err(|e| e.error), Err(Error::FailedLookup));
        };
        let Some(cap) = make(self.nodes[n].cap) else {
            return assert_eq!(res, Err(Error::IllegalOperation.into()));
        };
        assert_eq!(res, Ok(()));
        self.nodes[n].cap = cap;
        self.slot_of.remove(&s);
        self.slot_of.insert(d, n);
    }

    fn rotate(&mut self, d: u64, p: u64, s: u64, pd: u64, dd: u64) {
        let res = rotate(&mut self.mem, d, p, s, pd, dd);
        let upd = |c: Cap, data| Some(c.update_data(true, data)).filter(|c| !c.is_null());
        let expect = if p == s || p == d {
            Err(Error::IllegalOperation)
        } else if s != d && self.slot_of.contains_key(&d) {
            Err(Error::DeleteFirst)
        } else if !self.slot_of.contains_key(&s) || !self.slot_of.contains_key(&p) {
            Err(Error::FailedLookup)
        } else {
            let (ns, np) = (self.slot_of[&s], self.slot_of[&p]);
            match (upd(self.nodes[ns].cap, pd), upd(self.nodes[np].cap, dd)) {
                (Some(cs), Some(cp)) => Ok((ns, np, cs, cp)),
                _ => Err(Error::IllegalOperation),
            }
        };
        match expect {
            Err(e) => assert_eq!(res.map_err(|x| x.error), Err(e)),
            Ok((ns, np, cs, cp)) => {
                assert_eq!(res, Ok(()));
                self.nodes[ns].cap = cs;
                self.nodes[np].cap = cp;
                self.slot_of.remove(&s);
                self.slot_of.remove(&p);
                self.slot_of.insert(d, np);
                self.slot_of.insert(p, ns);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn model(ops in proptest::collection::vec((op(), 0..4u64), 1..40)) {
        let mut m = Model::new();
        for (o, every) in &ops {
            m.run(o, *every);
            m.check();
        }
    }
}
