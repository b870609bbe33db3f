//! Address-space objects, as seL4 has them on x86_64 and aarch64: VSpace
//! roots with ASIDs ([`asid`]), the paging structures below them
//! ([`page_table`]) and frames ([`frame`]). This module holds what they share:
//! finding the VSpace an invocation names, walking its tables, and the
//! capability hooks (unmapping on delete, preparing new roots).
//!
//! Every mapping is recorded in the cap that made it (the ASID of the VSpace
//! and the virtual address), and undone through the ASID: a VSpace whose ASID
//! is gone (its pool or itself deleted) is never walked, and an entry is only
//! cleared when it still points at the object being unmapped. Entry formats
//! and TLB maintenance are the architecture's (`arch::PagingFormat`).

pub mod asid;
pub mod frame;
pub mod page_table;

use crate::arch::{read_entry, table_index, PagingFormat, VSpace};
use crate::kernel_cell::KernelCell;
use crate::syscall::invocation::Message;
use keel_abi::{CapType, LookupFailure};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::cspace::LookupError;
use keel_kernel_core::error::SyscallError;

/// Level of the root table (x86_64 PML4, aarch64 level 0).
pub const ROOT_LEVEL: u32 = 3;

/// Log2 of the bytes one entry of a level-`level` table covers.
pub const fn entry_bits(level: u32) -> u32 {
    12 + 9 * level
}

/// The VSpace named by extra cap 0 of an invocation: its root table and ASID.
///
/// # Errors
/// As [`named_vspace`], then as [`check_asid`].
pub fn target_vspace(msg: &Message) -> Result<(u64, u16), SyscallError> {
    let (root, asid) = named_vspace(msg)?;
    check_asid(root, asid)?;
    Ok((root, asid))
}

/// Extra cap 0 of an invocation as a VSpace with an ASID: its root table and
/// ASID, the ASID not looked up yet.
///
/// # Errors
/// `TruncatedMessage` without the cap; `InvalidCapability(1)` when it is not a
/// VSpace with an ASID.
pub fn named_vspace(msg: &Message) -> Result<(u64, u16), SyscallError> {
    let (_, cap) = msg.extra_cap(0)?;
    if cap.kind() != CapType::VSpace || !cap.is_mapped() {
        return Err(SyscallError::invalid_capability(1));
    }
    Ok((cap.paddr(), cap.mapped_asid()))
}

/// Checks that `asid` still names the VSpace rooted at `root`.
///
/// # Errors
/// `FailedLookup` (InvalidRoot) when the ASID is no longer assigned;
/// `InvalidCapability(1)` when it now names another VSpace.
pub fn check_asid(root: u64, asid: u16) -> Result<(), SyscallError> {
    let found = asid::find_vspace(asid).ok_or(SyscallError::failed_lookup(
        false,
        LookupError::new(LookupFailure::InvalidRoot, 0),
    ))?;
    if found != root {
        return Err(SyscallError::invalid_capability(1));
    }
    Ok(())
}

/// The paging structure at `level` (0..=3) holding the entry for `vaddr` in
/// the VSpace rooted at `root`.
///
/// # Errors
/// The level of the structure that is missing on the way (a level-2
/// structure when the root has no entry, ...).
pub fn find_table(root: u64, vaddr: u64, level: u32) -> Result<u64, u32> {
    let mut table = root;
    for l in (level + 1..=ROOT_LEVEL).rev() {
        let e = read_entry(table, table_index(vaddr, l));
        if !VSpace::is_table(e) {
            return Err(l - 1);
        }
        table = VSpace::entry_paddr(e);
    }
    Ok(table)
}

/// [`find_table`] as an invocation error: `FailedLookup` (MissingCapability)
/// with the bits the missing structure and those below it translate.
///
/// # Errors
/// As described.
pub fn find_table_for_map(root: u64, vaddr: u64, level: u32) -> Result<u64, SyscallError> {
    find_table(root, vaddr, level).map_err(|missing| {
        SyscallError::failed_lookup(
            false,
            LookupError::new(
                LookupFailure::MissingCapability,
                entry_bits(missing + 1) as u8,
            ),
        )
    })
}

/// The root table of the VSpace a mapped cap records, while its ASID still
/// names one.
#[inline]
pub fn mapped_root(cap: &Cap) -> Option<u64> {
    if cap.is_mapped() {
        asid::find_vspace(cap.mapped_asid())
    } else {
        None
    }
}

/// The root table of a VSpace cap whose ASID still names it: the only VSpaces
/// a thread may run in or the kernel may walk for it. Once a VSpace's ASID is
/// gone (its pool or itself deleted), it is dead for good.
#[inline]
pub fn live_root(cap: &Cap) -> Option<u64> {
    cap.is(CapType::VSpace)
        .then(|| mapped_root(cap))
        .flatten()
        .filter(|&root| root == cap.paddr())
}

/// Counts the events after which a [`live_root`] found before may no
/// longer hold: a VSpace cap deleted (a thread's own copy among them), a
/// VSpace's ASID taken back, an ASID pool deleted. A root found while the
/// count read `n` still holds while it reads `n` (threads keep theirs, see
/// `Thread::running_vspace`). Starts at 1: 0 is "never found".
static ROOTS_EPOCH: KernelCell<u64> = KernelCell::new(1);

/// The current count of `ROOTS_EPOCH`.
#[inline(always)]
pub fn roots_epoch() -> u64 {
    ROOTS_EPOCH.read()
}

/// A live root may have died: every root found so far is looked up anew.
pub fn roots_changed() {
    ROOTS_EPOCH.write(ROOTS_EPOCH.read().wrapping_add(1));
}

/// Hook for every deleted cap: a mapped frame cap is one mapping; undo it.
/// A deleted VSpace cap may be the one a thread runs in.
pub fn cap_deleted(cap: &Cap) {
    match cap.kind() {
        CapType::Frame => frame::unmap(cap),
        CapType::VSpace => roots_changed(),
        _ => {}
    }
}

/// Hook for the final cap of an address-space object.
pub fn finalise(cap: &Cap) {
    match cap.kind() {
        CapType::VSpace => asid::finalise_vspace(cap),
        CapType::AsidPool => asid::finalise_pool(cap),
        CapType::PageUpperDirectory | CapType::PageDirectory | CapType::PageTable => {
            page_table::unmap(cap);
        }
        _ => {}
    }
}
