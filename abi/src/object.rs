//! Kernel object types, as named to `Untyped_Retype`, and their sizes.
//!
//! Keel uses one numbering on both architectures; the paging-structure names
//! follow seL4's aarch64 ones (x86_64's PML4/PDPT/PD/PT are VSpace,
//! PageUpperDirectory, PageDirectory, PageTable).

use crate::numbered::numbered_enum;

numbered_enum! {
    /// An object type that Untyped can be retyped into.
    pub enum ObjectType: u64 {
        /// Untyped memory of `2^size_bits` bytes.
        Untyped = 0,
        /// A thread control block.
        Tcb = 1,
        /// A synchronous IPC endpoint.
        Endpoint = 2,
        /// A notification word.
        Notification = 3,
        /// A CNode of `2^size_bits` slots.
        CNode = 4,
        /// An MCS scheduling context of `2^size_bits` bytes.
        SchedContext = 5,
        /// An MCS reply object.
        Reply = 6,
        /// The root paging structure (x86_64 PML4, aarch64 level 0).
        VSpace = 7,
        /// Level 1 (x86_64 PDPT).
        PageUpperDirectory = 8,
        /// Level 2 (x86_64 PD).
        PageDirectory = 9,
        /// Level 3, mapping 4 KiB pages (x86_64 PT).
        PageTable = 10,
        /// A 4 KiB frame.
        SmallPage = 11,
        /// A 2 MiB frame.
        LargePage = 12,
    }
}

/// log2 size of a TCB.
pub const TCB_BITS: u8 = 11;
/// log2 size of an endpoint.
pub const ENDPOINT_BITS: u8 = 5;
/// log2 size of a notification.
pub const NOTIFICATION_BITS: u8 = 6;
/// log2 size of a reply object.
pub const REPLY_BITS: u8 = 5;
/// log2 size of one CNode slot.
pub const SLOT_BITS: u8 = 5;
/// log2 size of a paging structure.
pub const PAGE_TABLE_BITS: u8 = 12;
/// log2 size of a small page.
pub const SMALL_PAGE_BITS: u8 = 12;
/// log2 size of a large page.
pub const LARGE_PAGE_BITS: u8 = 21;
/// Smallest untyped, in bits.
pub const MIN_UNTYPED_BITS: u8 = 5;
/// Largest untyped, in bits.
pub const MAX_UNTYPED_BITS: u8 = 47;
/// Smallest scheduling context, in bits (room for the largest refill list).
pub const MIN_SCHED_CONTEXT_BITS: u8 = 9;
/// Largest scheduling context, in bits.
pub const MAX_SCHED_CONTEXT_BITS: u8 = 12;
/// Largest CNode radix (2^28 slots: 8 GiB).
pub const MAX_CNODE_RADIX: u8 = 28;
/// The highest thread priority.
pub const MAX_PRIORITY: u64 = 255;
/// Most objects one `Untyped_Retype` may create (seL4's fan-out limit).
pub const RETYPE_FAN_OUT_LIMIT: u64 = 256;

impl ObjectType {
    /// log2 of the object's size in bytes, given the retype `size_bits`
    /// argument (used by Untyped, CNode and SchedContext, ignored by the rest).
    /// `None` when `size_bits` is out of range for the type.
    pub fn size_bits(self, size_bits: u64) -> Option<u8> {
        let in_range = |lo: u8, hi: u8| {
            (u64::from(lo)..=u64::from(hi))
                .contains(&size_bits)
                .then_some(size_bits as u8)
        };
        match self {
            ObjectType::Untyped => in_range(MIN_UNTYPED_BITS, MAX_UNTYPED_BITS),
            ObjectType::CNode => in_range(1, MAX_CNODE_RADIX).map(|radix| radix + SLOT_BITS),
            ObjectType::SchedContext => in_range(MIN_SCHED_CONTEXT_BITS, MAX_SCHED_CONTEXT_BITS),
            ObjectType::Tcb => Some(TCB_BITS),
            ObjectType::Endpoint => Some(ENDPOINT_BITS),
            ObjectType::Notification => Some(NOTIFICATION_BITS),
            ObjectType::Reply => Some(REPLY_BITS),
            ObjectType::VSpace
            | ObjectType::PageUpperDirectory
            | ObjectType::PageDirectory
            | ObjectType::PageTable => Some(PAGE_TABLE_BITS),
            ObjectType::SmallPage => Some(SMALL_PAGE_BITS),
            ObjectType::LargePage => Some(LARGE_PAGE_BITS),
        }
    }

    /// True for the types device untyped may be retyped into (frames and untyped).
    pub fn allowed_from_device(self) -> bool {
        matches!(
            self,
            ObjectType::Untyped | ObjectType::SmallPage | ObjectType::LargePage
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(ObjectType::CNode.size_bits(4), Some(9));
        assert_eq!(ObjectType::CNode.size_bits(0), None);
        assert_eq!(ObjectType::Untyped.size_bits(4), None);
        assert_eq!(ObjectType::Untyped.size_bits(47), Some(47));
        assert_eq!(ObjectType::Untyped.size_bits(48), None);
        assert_eq!(ObjectType::Tcb.size_bits(999), Some(TCB_BITS));
        assert_eq!(ObjectType::SchedContext.size_bits(8), None);
        assert_eq!(ObjectType::SchedContext.size_bits(9), Some(9));
        for &t in ObjectType::ALL {
            assert_eq!(ObjectType::try_from(t as u64), Ok(t));
        }
        assert!(ObjectType::try_from(13).is_err());
    }
}
