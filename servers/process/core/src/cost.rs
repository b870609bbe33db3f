//! What reclaiming each kind of kernel object costs at worst, in guest
//! instructions (one instruction is one nanosecond of virtual time under
//! QEMU's `-icount shift=0`).
//!
//! A process's teardown is one revoke of its reclamation group, and the
//! revoke deletes each object the group holds. An object's cost is the most
//! its delete was seen to take in the state that makes it dearest (a thread
//! blocked in IPC with its context bound, a frame mapped, a paging
//! structure full), so a sum of costs bounds the revoke whatever state the
//! process is killed in. A CNode costs its object part plus a part per
//! slot, as its delete empties every slot.

use keel_abi::ObjectType;

/// The number of object kinds.
const KINDS: usize = ObjectType::ALL.len();

/// One object kind's worst-case reclamation cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindCost {
    /// Instructions per object.
    pub object: u64,
    /// Instructions per slot, for kinds with slots (CNodes); 0 for the rest.
    pub per_slot: u64,
}

/// Why an allocation has no cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CostError {
    /// Processes do not hold untyped memory: their objects are made for
    /// them from their group.
    Untyped,
    /// The size argument is out of range for the kind.
    BadSize,
    /// The cost does not fit in 64 bits.
    Overflow,
}

/// The worst-case reclamation cost of every kind, and of a teardown's fixed
/// part (the revoke's entry and exit, the process server's bookkeeping,
/// telling the servers that held something for the process).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CostTable {
    /// Instructions every teardown costs, whatever the group holds.
    pub teardown_fixed: u64,
    kinds: [KindCost; KINDS],
}

impl CostTable {
    /// A table with `teardown_fixed` and each kind's cost, in
    /// `ObjectType::ALL` order.
    pub const fn new(teardown_fixed: u64, kinds: [KindCost; KINDS]) -> Self {
        CostTable {
            teardown_fixed,
            kinds,
        }
    }

    /// `kind`'s cost entry.
    pub fn kind(&self, kind: ObjectType) -> KindCost {
        self.kinds[kind as usize]
    }

    /// The worst-case reclamation cost of `count` objects of `kind` made
    /// with the retype argument `size_bits`.
    ///
    /// # Errors
    /// [`CostError::Untyped`] for untyped memory, [`CostError::BadSize`]
    /// when `size_bits` is out of range for `kind`, and
    /// [`CostError::Overflow`] when the sum passes 64 bits.
    pub fn cost(&self, kind: ObjectType, size_bits: u64, count: u64) -> Result<u64, CostError> {
        if kind == ObjectType::Untyped {
            return Err(CostError::Untyped);
        }
        kind.size_bits(size_bits).ok_or(CostError::BadSize)?;
        let KindCost { object, per_slot } = self.kind(kind);
        let slots = if kind == ObjectType::CNode {
            1u64 << size_bits
        } else {
            0
        };
        per_slot
            .checked_mul(slots)
            .and_then(|s| s.checked_add(object))
            .and_then(|one| one.checked_mul(count))
            .ok_or(CostError::Overflow)
    }

    /// The table with every cost raised by `percent` per cent (rounded up).
    pub fn with_margin(&self, percent: u64) -> CostTable {
        let raise = |v: u64| v.saturating_mul(100 + percent).div_ceil(100);
        CostTable {
            teardown_fixed: raise(self.teardown_fixed),
            kinds: self.kinds.map(|k| KindCost {
                object: raise(k.object),
                per_slot: raise(k.per_slot),
            }),
        }
    }
}
