//! The checks the model test makes after every step: slot contents (of the
//! root and of every live CNode and TCB) against the model, list consistency, descendants, untyped sizes, object overlap and
//! finalisation counts.

extern crate std;

use super::{Model, RADIX, ROOT};
use crate::cap::Cap;
use crate::cspace::mdb::is_parent_of;
use crate::cspace::slot::{read_cap, read_mdb, MdbNode, TCB_SLOT_RADIX};
use crate::untyped::available_bytes;
use keel_abi::CapType;
use std::collections::BTreeSet;
use std::vec::Vec;

/// The slots a cap gives: a CNode's, or a TCB's seen as a CNode of radix
/// `TCB_SLOT_RADIX`; None for other caps.
pub(super) fn as_cnode(c: Cap) -> Option<Cap> {
    match c.kind() {
        CapType::CNode => Some(c),
        CapType::Tcb => Some(Cap::cnode(c.paddr(), TCB_SLOT_RADIX, 0, 0)),
        _ => None,
    }
}

impl Model {
    pub(super) fn check(&self) {
        let m = &self.mem;
        // Every slot of the root and of every live CNode holds what the model says.
        let mut all: BTreeSet<u64> = (0..1u64 << RADIX).map(|i| ROOT + i * 32).collect();
        for &n in self.slot_of.values() {
            if let Some(c) = as_cnode(self.nodes[n].cap) {
                all.extend((0..1u64 << c.cnode_radix()).map(|k| c.paddr() + k * 32));
            }
        }
        all.remove(&(ROOT));
        all.remove(&(ROOT + 32));
        for &s in &all {
            let real = read_cap(m, s);
            match self.slot_of.get(&s) {
                None => assert!(
                    real.is_null() && read_mdb(m, s) == MdbNode::default(),
                    "slot {s:#x}: {real:?}"
                ),
                Some(&n) => {
                    let want = self.nodes[n].cap;
                    let norm = |c: Cap| {
                        if c.kind() == CapType::Untyped {
                            c.with_free_index(0)
                        } else {
                            c
                        }
                    };
                    assert_eq!(norm(real), norm(want), "slot {s:#x}");
                    let mdb = read_mdb(m, s);
                    for (link, back) in [(mdb.prev, false), (mdb.next, true)] {
                        if link != 0 {
                            assert!(
                                self.slot_of.contains_key(&link),
                                "stray neighbour {link:#x}"
                            );
                            let o = read_mdb(m, link);
                            assert_eq!(if back { o.prev } else { o.next }, s);
                        }
                    }
                    // Descendants: the run after `s` for which is_parent_of holds.
                    let mut real_desc = BTreeSet::new();
                    let mut x = mdb.next;
                    while x != 0 && is_parent_of(m, s, x) {
                        assert!(real_desc.insert(x), "slot twice in the list");
                        x = read_mdb(m, x).next;
                    }
                    let model_desc: BTreeSet<u64> = self
                        .slot_of
                        .iter()
                        .filter(|&(_, &y)| self.is_ancestor(n, y))
                        .map(|(&s, _)| s)
                        .collect();
                    assert_eq!(real_desc, model_desc, "descendants of {s:#x}");
                    if want.kind() == CapType::Untyped && model_desc.is_empty() {
                        assert_eq!(available_bytes(m, s), 1 << want.untyped_size_bits());
                    }
                }
            }
        }
        // No two live objects overlap.
        let mut objs: Vec<Cap> = Vec::new();
        for &n in self.slot_of.values() {
            let c = self.nodes[n].cap;
            if c.kind() != CapType::Untyped
                && c.has_memory()
                && !objs.iter().any(|o| o.same_object_as(&c))
            {
                objs.push(c);
            }
        }
        for (i, a) in objs.iter().enumerate() {
            for b in &objs[i + 1..] {
                let (a0, a1) = (a.paddr(), a.paddr() + (1 << a.object_size_bits()));
                let (b0, b1) = (b.paddr(), b.paddr() + (1 << b.object_size_bits()));
                assert!(a1 <= b0 || b1 <= a0, "{a:?} overlaps {b:?}");
            }
        }
        assert_eq!(self.rec.finalised.len(), self.finalised);
    }
}
