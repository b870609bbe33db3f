//! The memory protocol: what a memory-manager slave answers. A client asks
//! its slave for pages at addresses of its own choosing, mapped at once
//! (immediate) or reserved and filled page by page as the client touches
//! them (delayed: the client's page faults come to the slave through a
//! fault endpoint badged [`fault_badge`]); frees an area; reads its use.
//! A client may also take a block of the partition as an untyped cap of
//! its own (`grant_untyped`, e.g. a process server's reclamation group)
//! and give it back (`return_untyped`): the slave revokes it, so nothing
//! made from it survives.
//! Its supervisor (init, through a cap with the admin right) attaches each
//! client before it runs, handing the client's VSpace, sets each
//! activity's limit, and detaches a client that died, which returns all
//! its memory to the slave's partition.
//!
//! ```text
//!  init (ADMIN)                     slave (owns a partition)          client
//!   |-- attach(vspace, client, act) ->| keeps the VSpace cap            |
//!   |-- forward_faults(ep, client) -->| faults outside areas go there   |
//!   |                                 |<-- allocate(vaddr, n, rights) --| immediate
//!   |                                 |  split blocks, retype frames,   |
//!   |                                 |  map them in the client's VSpace|
//!   |                                 |<-- reserve(vaddr, n, rights) ---| delayed
//!   |                                 |<== VM fault (fault_badge) ======| first touch
//!   |                                 |  allocate + map one page; resume|
//!   |                                 |<-- free(vaddr) -----------------| unmaps, returns
//!   |-- detach(client) -------------->| every area freed                |
//! ```

use crate::badge::{ActivityId, ClientBadge, ClientId, Rights};
use crate::cap::{Endpoint, Untyped, VSpace};
use crate::protocol;
use zerocopy::{Immutable, IntoBytes, KnownLayout, TryFromBytes};

/// A page: the unit every area is counted in.
pub const PAGE_BITS: u8 = 12;
/// The first address past the user half on both architectures: an area
/// must end at or below it.
pub const USER_TOP: u64 = 1 << 47;
/// The most pages one request may ask for (4 GiB): a bound on the work of
/// one request, far above any partition.
pub const MAX_PAGES: u64 = 1 << 20;

/// Clients one slave keeps.
pub const MAX_CLIENTS: u64 = 16;

/// Untyped blocks one client may hold granted at once.
pub const MAX_GRANTS: usize = 64;

/// The spare slots a slave with a partition of `2^partition_bits` bytes
/// needs: two per page for its buddy tree's nodes, one per page for frames
/// and paging structures, two per client (its VSpace, where its faults go).
pub const fn slave_slots(partition_bits: u8) -> u64 {
    (3 << (partition_bits - PAGE_BITS)) + 2 * MAX_CLIENTS
}

/// The mapping rights a request asks for, as bits of a `u8`.
pub mod rights {
    /// The pages can be read (always: a mapping without it is refused).
    pub const READ: u8 = 1 << 0;
    /// The pages can be written.
    pub const WRITE: u8 = 1 << 1;
    /// The pages can be executed.
    pub const EXECUTE: u8 = 1 << 2;
    /// Every bit a request may set.
    pub const ALL: u8 = READ | WRITE | EXECUTE;
}

/// The badge bit of the slave's endpoint cap a client's faults arrive
/// through: a reserved bit of the endpoint layout (the scheduler's timeout
/// badge uses bit 40), so no client's request ever carries it.
pub const FAULT_FLAG: u64 = 1 << 41;

/// The badge of the fault endpoint of `client`'s threads.
pub const fn fault_badge(client: ClientId) -> u64 {
    FAULT_FLAG | client.get() as u64
}

/// The client a fault badge names, or `None` for any other word.
pub fn fault_client(badge: u64) -> Option<ClientId> {
    if badge & !(FAULT_FLAG | 0xffff) != 0 || badge & FAULT_FLAG == 0 {
        return None;
    }
    ClientId::new((badge & 0xffff) as u16)
}

/// The badge of init's cap to a slave: the last client number, the
/// system's activity, the admin right.
pub fn admin_badge() -> ClientBadge {
    ClientBadge::new(ClientId::MAX, ActivityId(0), Rights::ADMIN)
}

/// What a slave reports to a client about itself and its partition.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, TryFromBytes, KnownLayout, Immutable,
)]
pub struct Usage {
    /// Pages the calling client holds (its areas' mapped pages, the
    /// paging structures made for them, and the blocks granted to it).
    pub client_pages: u64,
    /// Pages the caller's activity holds at this slave.
    pub activity_pages: u64,
    /// The activity's limit in pages (`u64::MAX`: none).
    pub activity_limit: u64,
    /// Bytes in the slave's partition.
    pub partition_bytes: u64,
    /// Bytes of it free.
    pub free_bytes: u64,
    /// The largest free block, in bytes.
    pub largest_free: u64,
    /// Free blocks.
    pub free_blocks: u64,
    /// The caller's areas.
    pub areas: u64,
}

/// What a slave tells the master of its partition.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, TryFromBytes, KnownLayout, Immutable,
)]
pub struct Load {
    /// Bytes in the partition.
    pub total: u64,
    /// Bytes allocated.
    pub allocated: u64,
    /// The largest free block, in bytes.
    pub largest_free: u64,
    /// Free blocks.
    pub free_blocks: u64,
    /// Clients attached.
    pub clients: u64,
    /// Requests refused for want of memory since the slave started.
    pub refused: u64,
}

protocol! {
    /// A client of a memory-manager slave.
    protocol Memory {
        id: 7,
        version: 1,
        client: MemoryClient,
        server: MemoryServer,
        error: MemoryError {
            /// An address not aligned to a page.
            Unaligned = 1,
            /// A size of 0 pages, or more than [`MAX_PAGES`].
            BadSize = 2,
            /// The area reaches past the user half (or wraps).
            KernelRange = 3,
            /// The area overlaps one the client has.
            Overlaps = 4,
            /// No area starts at that address (never allocated, or freed).
            NotAllocated = 5,
            /// Rights without READ, or with unknown bits.
            BadRights = 6,
            /// The activity would pass its memory limit.
            LimitExceeded = 7,
            /// The slave's partition has no block that large free.
            OutOfMemory = 8,
            /// The caller is not attached to this slave.
            NotAttached = 9,
            /// The slave keeps no more clients or areas.
            Full = 10,
            /// The address is already mapped in the client's VSpace (by
            /// something other than this slave).
            AlreadyMapped = 11,
            /// The kernel refused an operation on the slave's caps.
            Kernel = 12,
            /// A client of that number is attached already, or the number
            /// is 0.
            AlreadyAttached = 13,
            /// The caller holds a granted block under that key already.
            Held = 14,
        },
        ops: {
            /// Maps `pages` pages at `vaddr` before replying (immediate),
            /// with `rights` ([`rights`] bits).
            1 => allocate(fixed vaddr: u64, fixed pages: u64, fixed rights: u8) -> fixed ();
            /// Reserves `pages` pages at `vaddr` (delayed): each is
            /// allocated and mapped when the client first touches it.
            2 => reserve(fixed vaddr: u64, fixed pages: u64, fixed rights: u8) -> fixed ();
            /// Frees the area that starts at `vaddr`: unmaps its pages and
            /// returns them to the partition.
            3 => free(fixed vaddr: u64) -> fixed ();
            /// The caller's use, its activity's and the partition's.
            4 => usage() -> fixed Usage;
            /// Attaches `client` of `activity`: the slave maps into `vspace`.
            5 => attach(cap vspace: VSpace, fixed client: u16, fixed activity: u16)
                requires ADMIN -> fixed ();
            /// Where `client`'s faults outside its areas go (the endpoint its
            /// supervisor hears faults on, badged for the client).
            6 => forward_faults(cap endpoint: Endpoint, fixed client: u16)
                requires ADMIN -> fixed ();
            /// `client` is gone: every area freed; returns the pages that
            /// came back.
            7 => detach(fixed client: u16) requires ADMIN -> fixed u64;
            /// `activity` may hold at most `pages` pages at this slave.
            8 => set_limit(fixed activity: u16, fixed pages: u64) requires ADMIN -> fixed ();
            /// The partition's use, for the master (any caller).
            9 => load() -> fixed Load;
            /// A block of `2^order` bytes of the partition as an untyped
            /// cap, named `key` by the caller and charged to its activity
            /// like pages. It is a copy: the slave keeps the original, so
            /// returning the block (or the caller's detach) revokes
            /// everything made from it.
            10 => grant_untyped(fixed key: u64, fixed order: u8) -> cap Untyped;
            /// Gives back the block granted as `key`: revoked (every object
            /// made from it deleted) and free in the partition again.
            11 => return_untyped(fixed key: u64) -> fixed ();
        }
    }
}

/// Checks an area's placement and size: page-aligned, 1 to [`MAX_PAGES`]
/// pages, entirely below [`USER_TOP`]. Returns its end.
///
/// # Errors
/// `Unaligned`, `BadSize` or `KernelRange`, in that order.
pub fn check_area(vaddr: u64, pages: u64) -> Result<u64, MemoryError> {
    if vaddr & ((1 << PAGE_BITS) - 1) != 0 {
        return Err(MemoryError::Unaligned);
    }
    if pages == 0 || pages > MAX_PAGES {
        return Err(MemoryError::BadSize);
    }
    let end = vaddr
        .checked_add(pages << PAGE_BITS)
        .ok_or(MemoryError::KernelRange)?;
    if vaddr == 0 || end > USER_TOP {
        return Err(MemoryError::KernelRange);
    }
    Ok(end)
}

/// Checks a rights word: READ set, no unknown bits.
///
/// # Errors
/// `BadRights`.
pub fn check_rights(bits: u8) -> Result<(), MemoryError> {
    if bits & !rights::ALL != 0 || bits & rights::READ == 0 {
        return Err(MemoryError::BadRights);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_are_checked() {
        assert_eq!(check_area(0x1000_0000, 1), Ok(0x1000_1000));
        assert_eq!(check_area(0x1000_0001, 1), Err(MemoryError::Unaligned));
        assert_eq!(check_area(0x1000_0000, 0), Err(MemoryError::BadSize));
        assert_eq!(check_area(0x1000_0000, 1 << 63), Err(MemoryError::BadSize));
        assert_eq!(check_area(0, 1), Err(MemoryError::KernelRange));
        assert_eq!(
            check_area(USER_TOP - 0x1000, 2),
            Err(MemoryError::KernelRange)
        );
        assert_eq!(
            check_area(0xffff_8000_0000_0000, 1),
            Err(MemoryError::KernelRange)
        );
        assert_eq!(check_area(!0xfff, 1), Err(MemoryError::KernelRange));
    }

    #[test]
    fn rights_need_read_and_nothing_unknown() {
        assert_eq!(check_rights(rights::READ | rights::WRITE), Ok(()));
        assert_eq!(check_rights(rights::WRITE), Err(MemoryError::BadRights));
        assert_eq!(
            check_rights(0x80 | rights::READ),
            Err(MemoryError::BadRights)
        );
    }

    #[test]
    fn fault_badges_name_their_client_only() {
        let c = ClientId::new(7).unwrap();
        assert_eq!(fault_client(fault_badge(c)), Some(c));
        assert_eq!(fault_client(7), None);
        assert_eq!(fault_client(FAULT_FLAG), None);
        assert_eq!(fault_client(FAULT_FLAG | 1 << 40 | 7), None);
        assert!(ClientBadge::from_bits(fault_badge(c)).is_err());
    }
}
