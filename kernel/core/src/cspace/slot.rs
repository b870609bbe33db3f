//! The 32-byte CNode slot: a cap and its node in the derivation tree.
//!
//! Layout: `[cap word 0, cap word 1, mdb_prev | flags, mdb_next]`. MDB links are
//! slot addresses (32-byte aligned, 0 for none); bit 0 of the prev word is
//! `revocable`, bit 1 `first_badged`. This module only reads and writes slots;
//! the list operations are in `mdb`.
//!
//! Slots live in CNodes and in TCBs: a TCB object begins with [`TCB_SLOTS`]
//! slots, laid out exactly as a CNode of radix [`TCB_SLOT_RADIX`] (slot `i` at
//! `tcb_paddr + i * SLOT_SIZE`, see [`tcb_slot`]). That layout is the contract
//! with the kernel, which keeps the thread's CSpace root, VSpace root, IPC
//! buffer, fault endpoint and timeout endpoint caps there and its own thread
//! state after them; destroying a TCB deletes the caps in these slots (see `delete`).

use crate::cap::Cap;
use crate::object_memory::ObjectMemory;

/// Bytes in a slot.
pub const SLOT_SIZE: u64 = 32;

/// log2 of the number of capability slots at the start of a TCB object.
pub const TCB_SLOT_RADIX: u8 = 3;

/// Capability slots at the start of every TCB object (slot `i` at
/// `tcb_paddr + i * SLOT_SIZE`). The kernel's TCB structure starts after them.
pub const TCB_SLOTS: u64 = 1 << TCB_SLOT_RADIX;

const _: () = assert!(TCB_SLOTS * SLOT_SIZE < 1 << keel_abi::object::TCB_BITS);

/// Address of slot `index` (below [`TCB_SLOTS`]) of the TCB object at `tcb_paddr`.
pub const fn tcb_slot(tcb_paddr: u64, index: u64) -> u64 {
    tcb_paddr + index * SLOT_SIZE
}

const REVOCABLE: u64 = 1 << 0;
const FIRST_BADGED: u64 = 1 << 1;
const LINK_MASK: u64 = !(SLOT_SIZE - 1);

/// A slot's node in the derivation list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MdbNode {
    /// Previous slot in derivation order (0: none).
    pub prev: u64,
    /// Next slot in derivation order (0: none).
    pub next: u64,
    /// The cap may have children (seL4 `mdbRevocable`).
    pub revocable: bool,
    /// The cap is the first with its badge (seL4 `mdbFirstBadged`).
    pub first_badged: bool,
}

/// A slot's contents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// The capability.
    pub cap: Cap,
    /// Its derivation-tree node.
    pub mdb: MdbNode,
}

/// Reads the slot at `slot`.
pub fn read_slot(mem: &impl ObjectMemory, slot: u64) -> Slot {
    let prev = mem.read(slot + 16);
    Slot {
        cap: Cap::from_words([mem.read(slot), mem.read(slot + 8)]),
        mdb: MdbNode {
            prev: prev & LINK_MASK,
            next: mem.read(slot + 24) & LINK_MASK,
            revocable: prev & REVOCABLE != 0,
            first_badged: prev & FIRST_BADGED != 0,
        },
    }
}

/// Writes all of `s` to the slot at `slot`.
pub fn write_slot(mem: &mut impl ObjectMemory, slot: u64, s: &Slot) {
    write_cap(mem, slot, s.cap);
    write_mdb(mem, slot, &s.mdb);
}

/// Reads only the cap of the slot at `slot`.
pub fn read_cap(mem: &impl ObjectMemory, slot: u64) -> Cap {
    Cap::from_words([mem.read(slot), mem.read(slot + 8)])
}

/// Replaces only the cap of the slot at `slot`, keeping its tree node, and
/// counts the write ([`ObjectMemory::cap_writes`]).
pub fn write_cap(mem: &mut impl ObjectMemory, slot: u64, cap: Cap) {
    let [w0, w1] = cap.words();
    mem.write(slot, w0);
    mem.write(slot + 8, w1);
    mem.count_cap_write();
}

/// Reads only the tree node of the slot at `slot`.
pub fn read_mdb(mem: &impl ObjectMemory, slot: u64) -> MdbNode {
    read_slot(mem, slot).mdb
}

/// Replaces only the tree node of the slot at `slot`.
pub fn write_mdb(mem: &mut impl ObjectMemory, slot: u64, n: &MdbNode) {
    let flags =
        if n.revocable { REVOCABLE } else { 0 } | if n.first_badged { FIRST_BADGED } else { 0 };
    mem.write(slot + 16, (n.prev & LINK_MASK) | flags);
    mem.write(slot + 24, n.next & LINK_MASK);
}

/// Sets the `next` link of `slot` (no-op for 0).
pub(crate) fn set_next(mem: &mut impl ObjectMemory, slot: u64, next: u64) {
    if slot != 0 {
        mem.write(slot + 24, next & LINK_MASK);
    }
}

/// Sets the `prev` link of `slot`, keeping its flags (no-op for 0).
pub(crate) fn set_prev(mem: &mut impl ObjectMemory, slot: u64, prev: u64) {
    if slot != 0 {
        let flags = mem.read(slot + 16) & !LINK_MASK;
        mem.write(slot + 16, (prev & LINK_MASK) | flags);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object_memory::TestMemory;
    use keel_abi::CapRights;

    #[test]
    fn slot_round_trip() {
        let mut m = TestMemory::new(0x1000, 0x100);
        let s = Slot {
            cap: Cap::endpoint(0x2000, 5, CapRights::READ),
            mdb: MdbNode {
                prev: 0x1020,
                next: 0x1040,
                revocable: true,
                first_badged: false,
            },
        };
        write_slot(&mut m, 0x1060, &s);
        assert_eq!(read_slot(&m, 0x1060), s);
        set_prev(&mut m, 0x1060, 0x10a0);
        set_next(&mut m, 0x1060, 0);
        let n = read_mdb(&m, 0x1060);
        assert_eq!((n.prev, n.next, n.revocable), (0x10a0, 0, true));
        write_cap(&mut m, 0x1060, Cap::NULL);
        assert!(read_cap(&m, 0x1060).is_null());
        assert_eq!(read_mdb(&m, 0x1060).prev, 0x10a0);
    }

    #[test]
    fn each_cap_write_moves_the_count() {
        let mut m = TestMemory::new(0x1000, 0x100);
        assert_eq!(m.cap_writes(), 1);
        write_cap(&mut m, 0x1000, Cap::endpoint(0x2000, 0, CapRights::ALL));
        assert_eq!(m.cap_writes(), 2);
        write_slot(&mut m, 0x1020, &Slot::default());
        assert_eq!(m.cap_writes(), 3);
        // Tree links are not caps: a lookup made before still holds.
        write_mdb(&mut m, 0x1020, &MdbNode::default());
        set_next(&mut m, 0x1000, 0x1020);
        set_prev(&mut m, 0x1020, 0x1000);
        assert_eq!(m.cap_writes(), 3);
        write_cap(&mut m, 0x1000, Cap::NULL);
        assert_eq!(m.cap_writes(), 4);
    }
}
