//! The two-word capability encoding kept in CNode slots.
//!
//! Word 0 holds the cap type in bits 0..5, the object's physical address in bits
//! 5..48 (objects are at least 32-byte aligned and below 2^48) and 16 bits of
//! type-specific fields in bits 48..64. Word 1 is type-specific (badge, guard,
//! watermark, mapped address, ...). This module owns the layout, the typed
//! constructors and accessors; the seL4 relations between caps (same object,
//! derivation, badging) are in [`relations`]. The user-visible type code is
//! `keel_abi::CapType`.

pub mod relations;

use crate::cspace::slot::{TCB_SLOTS, TCB_SLOT_RADIX};
use keel_abi::{CapRights, CapType};

const TYPE_MASK: u64 = 0x1f;
/// Bits of word 0 holding the object address.
const PTR_MASK: u64 = ((1 << 48) - 1) & !TYPE_MASK;
const EXTRA_SHIFT: u32 = 48;
/// Frames and paging structures: word 1 holds the mapped address in its low
/// 48 bits and the ASID of the VSpace it is mapped in above them.
const MAPPED_VADDR_MASK: u64 = (1 << 48) - 1;
const MAPPED_ASID_SHIFT: u32 = 48;

// Zombie word layout: extra = radix(5) | top(1) << 5 | link_hi(8) << 6 |
// tcb(1) << 15; word 1 = count(29) | link_lo(35) << 29. The link is a slot
// address >> 5 (43 bits: addresses are below 2^48); `tcb` marks the zombie of
// a TCB, whose slots are its first TCB_SLOTS (radix TCB_SLOT_RADIX).
const ZOMBIE_RADIX_MASK: u64 = 0x1f;
const ZOMBIE_TOP: u64 = 1 << 5;
const ZOMBIE_LINK_HI_MASK: u64 = 0xff;
const ZOMBIE_TCB: u64 = 1 << 15;
const ZOMBIE_COUNT_BITS: u32 = 29;
const ZOMBIE_COUNT_MASK: u64 = (1 << ZOMBIE_COUNT_BITS) - 1;
const ZOMBIE_LINK_LO_BITS: u32 = 64 - ZOMBIE_COUNT_BITS;

/// A capability as stored in a slot: two words, compared bit for bit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cap {
    words: [u64; 2],
}

const fn bit(value: bool, shift: u32) -> u64 {
    (value as u64) << shift
}

impl Cap {
    /// The empty capability.
    pub const NULL: Cap = Cap { words: [0, 0] };

    const fn raw(kind: CapType, paddr: u64, extra: u64, word1: u64) -> Cap {
        Cap {
            words: [
                kind as u64 | (paddr & PTR_MASK) | ((extra & 0xffff) << EXTRA_SHIFT),
                word1,
            ],
        }
    }

    /// A cap from its stored words. An unknown type code reads as a null cap
    /// (see [`Cap::kind`]).
    pub const fn from_words(words: [u64; 2]) -> Cap {
        Cap { words }
    }

    /// The stored words.
    pub const fn words(&self) -> [u64; 2] {
        self.words
    }

    /// The empty capability.
    pub const fn null() -> Cap {
        Cap::NULL
    }

    /// Untyped memory of `2^size_bits` bytes at `paddr`, `free_index` bytes used.
    pub const fn untyped(paddr: u64, size_bits: u8, is_device: bool, free_index: u64) -> Cap {
        Cap::raw(
            CapType::Untyped,
            paddr,
            (size_bits as u64 & 0x3f) | bit(is_device, 6),
            free_index,
        )
    }

    /// A CNode of `2^radix` slots with a guard of `guard_size` bits.
    pub const fn cnode(paddr: u64, radix: u8, guard_size: u8, guard: u64) -> Cap {
        let guard_size = guard_size & 0x7f;
        Cap::raw(
            CapType::CNode,
            paddr,
            (radix as u64 & 0x3f) | ((guard_size as u64) << 6),
            guard & relations::mask(guard_size),
        )
    }

    /// An endpoint cap.
    pub const fn endpoint(paddr: u64, badge: u64, rights: CapRights) -> Cap {
        Cap::raw(CapType::Endpoint, paddr, rights.bits(), badge)
    }

    /// A notification cap.
    pub const fn notification(paddr: u64, badge: u64, rights: CapRights) -> Cap {
        Cap::raw(CapType::Notification, paddr, rights.bits(), badge)
    }

    /// A thread control block cap.
    pub const fn tcb(paddr: u64) -> Cap {
        Cap::raw(CapType::Tcb, paddr, 0, 0)
    }

    /// A reply object cap.
    pub const fn reply(paddr: u64) -> Cap {
        Cap::raw(CapType::Reply, paddr, 0, 0)
    }

    /// A scheduling context of `2^size_bits` bytes.
    pub const fn sched_context(paddr: u64, size_bits: u8) -> Cap {
        Cap::raw(CapType::SchedContext, paddr, size_bits as u64 & 0x3f, 0)
    }

    /// An unmapped frame (4 KiB, or 2 MiB when `is_large`).
    pub const fn frame(paddr: u64, is_large: bool, rights: CapRights, is_device: bool) -> Cap {
        Cap::raw(
            CapType::Frame,
            paddr,
            rights.bits() | bit(is_large, 4) | bit(is_device, 5),
            0,
        )
    }

    /// An unmapped paging structure of `kind` (VSpace, PageUpperDirectory,
    /// PageDirectory or PageTable).
    pub const fn paging(kind: CapType, paddr: u64) -> Cap {
        Cap::raw(kind, paddr, 0, 0)
    }

    /// IRQ control.
    pub const fn irq_control() -> Cap {
        Cap::raw(CapType::IrqControl, 0, 0, 0)
    }

    /// Authority over IRQ line `irq`.
    pub const fn irq_handler(irq: u64) -> Cap {
        Cap::raw(CapType::IrqHandler, 0, 0, irq)
    }

    /// I/O port control (x86_64).
    pub const fn io_port_control() -> Cap {
        Cap::raw(CapType::IoPortControl, 0, 0, 0)
    }

    /// Authority over I/O ports `first..=last` (x86_64).
    pub const fn io_port(first: u16, last: u16) -> Cap {
        Cap::raw(CapType::IoPort, 0, 0, first as u64 | ((last as u64) << 16))
    }

    /// IoPort: the first and last port it covers.
    pub const fn io_port_range(&self) -> (u16, u16) {
        (self.words[1] as u16, (self.words[1] >> 16) as u16)
    }

    /// SchedControl for `core`.
    pub const fn sched_control(core: u64) -> Cap {
        Cap::raw(CapType::SchedControl, 0, 0, core)
    }

    /// Debug authority with `rights` (see `keel_abi::Syscall::debug_rights`).
    pub const fn debug(rights: CapRights) -> Cap {
        Cap::raw(CapType::Debug, 0, rights.bits(), 0)
    }

    /// ASID control.
    pub const fn asid_control() -> Cap {
        Cap::raw(CapType::AsidControl, 0, 0, 0)
    }

    /// An ASID pool whose first ASID is `base`.
    pub const fn asid_pool(paddr: u64, base: u64) -> Cap {
        Cap::raw(CapType::AsidPool, paddr, 0, base)
    }

    /// A Zombie for the CNode of `2^radix` slots at `paddr`, with `count` slots
    /// (from index 0) not yet cleared. It is a "top" zombie (the one a delete
    /// started from) with no cursor.
    pub const fn zombie(paddr: u64, radix: u8, count: u64) -> Cap {
        Cap::raw(
            CapType::Zombie,
            paddr,
            (radix as u64 & ZOMBIE_RADIX_MASK) | ZOMBIE_TOP,
            count & ZOMBIE_COUNT_MASK,
        )
    }

    /// A Zombie for the TCB at `paddr`: its [`TCB_SLOTS`] slots, none cleared
    /// yet, seen as a CNode of radix [`TCB_SLOT_RADIX`]. A top zombie with no
    /// cursor, marked as a TCB's ([`Cap::zombie_is_tcb`]).
    pub const fn tcb_zombie(paddr: u64) -> Cap {
        let z = Cap::zombie(paddr, TCB_SLOT_RADIX, TCB_SLOTS);
        z.with_extra(z.extra() | ZOMBIE_TCB)
    }

    /// The cap's type. A word whose type code is unknown reads as `Null`.
    pub fn kind(&self) -> CapType {
        CapType::try_from(self.words[0] & TYPE_MASK).unwrap_or(CapType::Null)
    }

    /// True when the cap is of type `kind` (a cheaper [`Cap::kind`] test).
    pub const fn is(&self, kind: CapType) -> bool {
        self.words[0] & TYPE_MASK == kind as u64
    }

    /// True for the empty capability.
    pub fn is_null(&self) -> bool {
        self.kind() == CapType::Null
    }

    /// Physical address of the object (0 for caps without one).
    pub const fn paddr(&self) -> u64 {
        self.words[0] & PTR_MASK
    }

    const fn extra(&self) -> u64 {
        self.words[0] >> EXTRA_SHIFT
    }

    const fn with_extra(&self, extra: u64) -> Cap {
        Cap {
            words: [
                (self.words[0] & !(0xffff << EXTRA_SHIFT)) | ((extra & 0xffff) << EXTRA_SHIFT),
                self.words[1],
            ],
        }
    }

    const fn with_word1(&self, word1: u64) -> Cap {
        Cap {
            words: [self.words[0], word1],
        }
    }

    /// Untyped: log2 of the region size. SchedContext: log2 of its size.
    pub const fn untyped_size_bits(&self) -> u8 {
        (self.extra() & 0x3f) as u8
    }

    /// Untyped: bytes used from the start of the region (the watermark).
    pub const fn free_index(&self) -> u64 {
        self.words[1]
    }

    /// Untyped: the same cap with watermark `n`.
    #[must_use]
    pub const fn with_free_index(&self, n: u64) -> Cap {
        self.with_word1(n)
    }

    /// Untyped or Frame: true for device memory (never zeroed by the kernel).
    pub fn is_device(&self) -> bool {
        match self.kind() {
            CapType::Untyped => self.extra() & (1 << 6) != 0,
            CapType::Frame => self.extra() & (1 << 5) != 0,
            _ => false,
        }
    }

    /// CNode (or Zombie): log2 of the number of slots ([`TCB_SLOT_RADIX`] for
    /// the zombie of a TCB).
    pub fn cnode_radix(&self) -> u8 {
        match self.kind() {
            CapType::Zombie => (self.extra() & ZOMBIE_RADIX_MASK) as u8,
            _ => (self.extra() & 0x3f) as u8,
        }
    }

    /// CNode: number of guard bits.
    pub const fn cnode_guard_size(&self) -> u8 {
        ((self.extra() >> 6) & 0x7f) as u8
    }

    /// CNode: the guard value (only its low [`Cap::cnode_guard_size`] bits
    /// can be set: [`Cap::cnode`] masks it).
    pub const fn cnode_guard(&self) -> u64 {
        self.words[1]
    }

    /// Endpoint or Notification: the badge (0: unbadged).
    pub const fn badge(&self) -> u64 {
        self.words[1]
    }

    /// The rights field of a cap whose type has one (Endpoint, Notification,
    /// Frame, Debug), for a caller that checked the type: [`Cap::rights`]
    /// without the type test.
    #[inline(always)]
    pub const fn rights_field(&self) -> CapRights {
        CapRights::from_bits(self.extra())
    }

    /// Endpoint, Notification, Frame or Debug: the rights; every other type
    /// reports all.
    pub fn rights(&self) -> CapRights {
        if self.is(CapType::Endpoint)
            || self.is(CapType::Notification)
            || self.is(CapType::Frame)
            || self.is(CapType::Debug)
        {
            self.rights_field()
        } else {
            CapRights::ALL
        }
    }

    /// The same cap with `rights` (Endpoint, Notification, Frame, Debug;
    /// others unchanged).
    #[must_use]
    pub fn with_rights(&self, rights: CapRights) -> Cap {
        match self.kind() {
            CapType::Endpoint | CapType::Notification | CapType::Frame | CapType::Debug => {
                self.with_extra((self.extra() & !0xf) | rights.bits())
            }
            _ => *self,
        }
    }

    /// Endpoint or Notification: the same cap with `badge`.
    #[must_use]
    pub const fn with_badge(&self, badge: u64) -> Cap {
        self.with_word1(badge)
    }

    /// CNode: the same cap with a new guard.
    #[must_use]
    pub const fn with_guard(&self, guard_size: u8, guard: u64) -> Cap {
        Cap::cnode(self.paddr(), self.cnode_radix_raw(), guard_size, guard)
    }

    /// CNode: log2 of the number of slots (no Zombie case; see [`Cap::cnode_radix`]).
    pub const fn cnode_radix_raw(&self) -> u8 {
        (self.extra() & 0x3f) as u8
    }

    /// Frame: true for a 2 MiB frame.
    pub const fn frame_is_large(&self) -> bool {
        self.extra() & (1 << 4) != 0
    }

    /// Frame or paging structure: true when mapped.
    pub fn is_mapped(&self) -> bool {
        if self.is(CapType::Frame) {
            self.extra() & (1 << 6) != 0
        } else if self.is(CapType::VSpace)
            || self.is(CapType::PageUpperDirectory)
            || self.is(CapType::PageDirectory)
            || self.is(CapType::PageTable)
        {
            self.extra() & 1 != 0
        } else {
            false
        }
    }

    /// Frame or paging structure: the virtual address it is mapped at (a
    /// VSpace: 0).
    pub const fn mapped_vaddr(&self) -> u64 {
        self.words[1] & MAPPED_VADDR_MASK
    }

    /// Frame or paging structure: the ASID of the VSpace it is mapped in (a
    /// VSpace: its own ASID); meaningful only when [`Cap::is_mapped`].
    pub const fn mapped_asid(&self) -> u16 {
        (self.words[1] >> MAPPED_ASID_SHIFT) as u16
    }

    /// Frame or paging structure: the same cap marked mapped at `vaddr`, or
    /// unmapped when `vaddr` is `None`, with ASID 0. Other types unchanged.
    #[must_use]
    pub fn with_mapping(&self, vaddr: Option<u64>) -> Cap {
        match vaddr {
            Some(v) => self.with_mapping_in(0, v),
            None => self.with_mapping_flag(false, 0),
        }
    }

    /// Frame or paging structure: the same cap marked mapped at `vaddr` (below
    /// 2^48) in the VSpace with `asid`; for a VSpace, `asid` is its own ASID
    /// and `vaddr` 0. Other types unchanged.
    #[must_use]
    pub fn with_mapping_in(&self, asid: u16, vaddr: u64) -> Cap {
        let word1 = (vaddr & MAPPED_VADDR_MASK) | (u64::from(asid) << MAPPED_ASID_SHIFT);
        self.with_mapping_flag(true, word1)
    }

    fn with_mapping_flag(&self, mapped: bool, word1: u64) -> Cap {
        let flag = match self.kind() {
            CapType::Frame => 1 << 6,
            CapType::VSpace
            | CapType::PageUpperDirectory
            | CapType::PageDirectory
            | CapType::PageTable => 1,
            _ => return *self,
        };
        let extra = if mapped {
            self.extra() | flag
        } else {
            self.extra() & !flag
        };
        self.with_extra(extra).with_word1(word1)
    }

    /// IrqHandler: the IRQ line. SchedControl: the core. AsidPool: the ASID base.
    pub const fn word1(&self) -> u64 {
        self.words[1]
    }

    /// Zombie: slots (from index 0) not yet cleared.
    pub const fn zombie_count(&self) -> u64 {
        self.words[1] & ZOMBIE_COUNT_MASK
    }

    /// Zombie: the same zombie with `count` slots left.
    #[must_use]
    pub const fn with_zombie_count(&self, count: u64) -> Cap {
        self.with_word1((self.words[1] & !ZOMBIE_COUNT_MASK) | (count & ZOMBIE_COUNT_MASK))
    }

    /// Zombie: true when this zombie is the one a delete works from (its link
    /// is a cursor); false when it is nested in another zombie's CNode (its link
    /// is its parent's slot).
    pub const fn zombie_is_top(&self) -> bool {
        self.extra() & ZOMBIE_TOP != 0
    }

    /// Zombie: true when it destroys a TCB (its slots are the TCB's first
    /// [`TCB_SLOTS`]; its memory is the whole TCB object); false for a CNode's.
    pub fn zombie_is_tcb(&self) -> bool {
        self.kind() == CapType::Zombie && self.extra() & ZOMBIE_TCB != 0
    }

    /// Zombie: the linked slot address (0: none).
    pub const fn zombie_link(&self) -> u64 {
        let lo = self.words[1] >> ZOMBIE_COUNT_BITS;
        let hi = (self.extra() >> 6) & ZOMBIE_LINK_HI_MASK;
        ((hi << ZOMBIE_LINK_LO_BITS) | lo) << 5
    }

    /// Zombie: the same zombie, top or nested, with `link` (a 32-byte aligned
    /// slot address below 2^48, or 0).
    #[must_use]
    pub const fn with_zombie_link(&self, top: bool, link: u64) -> Cap {
        let l = (link & PTR_MASK) >> 5;
        let lo = l & ((1 << ZOMBIE_LINK_LO_BITS) - 1);
        let hi = l >> ZOMBIE_LINK_LO_BITS;
        let kept = self.extra() & (ZOMBIE_RADIX_MASK | ZOMBIE_TCB);
        let extra = kept | bit(top, 5) | ((hi & ZOMBIE_LINK_HI_MASK) << 6);
        Cap {
            words: [
                self.with_extra(extra).words[0],
                (self.words[1] & ZOMBIE_COUNT_MASK) | (lo << ZOMBIE_COUNT_BITS),
            ],
        }
    }
}

#[cfg(test)]
mod tests;
