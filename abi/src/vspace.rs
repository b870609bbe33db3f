//! Address spaces as user space sees them: the attribute word of `FrameMap`
//! and the paging-structure maps, and the ASID numbering.
//!
//! One layout on both architectures (seL4's aarch64 one): a cacheable bit, a
//! parity bit that is accepted and ignored, and execute-never. Frame rights are
//! a [`crate::CapRights`] word (read, write; grant bits are ignored), masked by
//! the frame cap's own rights; a writable mapping is always readable, and a
//! mapping without the read right is not accessible from user mode.
//!
//! Paging-structure levels: the VSpace root translates address bits 39..48,
//! a PageUpperDirectory bits 30..39, a PageDirectory bits 21..30 (or maps
//! 2 MiB frames), a PageTable bits 12..21 (4 KiB frames). A `FailedLookup`
//! from a map reports, as its bits left, the address bits the missing
//! structure would have translated and all below it: 39 for a missing
//! PageUpperDirectory, 30 for a PageDirectory, 21 for a PageTable.

/// Bits left of a map's `FailedLookup` when its PageUpperDirectory is missing.
pub const PUD_SHIFT: u64 = 39;
/// Bits left of a map's `FailedLookup` when its PageDirectory is missing.
pub const PD_SHIFT: u64 = 30;
/// Bits left of a map's `FailedLookup` when its PageTable is missing.
pub const PT_SHIFT: u64 = 21;

/// The attribute word of a mapping.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmAttributes(u64);

impl VmAttributes {
    /// Normal cacheable memory (without it: uncached). Device frames are
    /// always mapped uncached.
    pub const CACHEABLE: VmAttributes = VmAttributes(1 << 0);
    /// Accepted for seL4 compatibility; no effect.
    pub const PARITY_ENABLED: VmAttributes = VmAttributes(1 << 1);
    /// User mode may not execute from the mapping.
    pub const EXECUTE_NEVER: VmAttributes = VmAttributes(1 << 2);
    /// seL4's default: cacheable, executable.
    pub const DEFAULT: VmAttributes = VmAttributes(0b011);
    /// No attributes: uncached and executable.
    pub const NONE: VmAttributes = VmAttributes(0);

    /// From the raw word (unknown bits are ignored).
    pub const fn from_bits(bits: u64) -> Self {
        VmAttributes(bits & 0b111)
    }

    /// The raw word.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Both sets of attributes.
    pub const fn union(self, other: VmAttributes) -> VmAttributes {
        VmAttributes(self.0 | other.0)
    }

    /// True when every attribute of `other` is set.
    pub const fn contains(self, other: VmAttributes) -> bool {
        self.0 & other.0 == other.0
    }
}

/// log2 of the number of ASIDs in one pool.
pub const ASID_POOL_INDEX_BITS: u32 = 9;
/// ASIDs one pool gives out (ASID 0 of pool 0 is never given out).
pub const ASIDS_PER_POOL: u64 = 1 << ASID_POOL_INDEX_BITS;
/// Pools the kernel's ASID table holds.
pub const ASID_POOL_COUNT: u64 = 128;
/// log2 size of the untyped `AsidControlMakePool` takes.
pub const ASID_POOL_BITS: u8 = 12;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes() {
        assert_eq!(VmAttributes::from_bits(u64::MAX).bits(), 7);
        assert!(VmAttributes::DEFAULT.contains(VmAttributes::CACHEABLE));
        assert!(!VmAttributes::DEFAULT.contains(VmAttributes::EXECUTE_NEVER));
        let xn = VmAttributes::DEFAULT.union(VmAttributes::EXECUTE_NEVER);
        assert!(xn.contains(VmAttributes::EXECUTE_NEVER));
        assert_eq!(ASIDS_PER_POOL * ASID_POOL_COUNT, 1 << 16);
    }
}
