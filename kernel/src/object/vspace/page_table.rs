//! Paging-structure invocations below the root: Map and Unmap of
//! PageUpperDirectory (level 2), PageDirectory (level 1) and PageTable
//! (level 0) caps, and unmapping when the last cap to one goes.
//!
//! seL4's rules: a structure is mapped once, through its cap, into the entry
//! of the level above that covers the (rounded-down) address; copies of a
//! mapped cap share that mapping, so only the final cap unmaps it (Unmap
//! asks for `RevokeFirst` otherwise, and deleting a copy leaves it). Unmap
//! clears the structure, removing everything mapped through it.

use super::{entry_bits, find_table, find_table_for_map, mapped_root, target_vspace};
use crate::arch::{read_entry, table_index, write_entry, PagingFormat, VSpace};
use crate::object::memory::KernelMemory;
use crate::syscall::invocation::{Message, Outcome};
use keel_abi::{CapType, Error, Label, PAGE_SIZE};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::cspace::{is_final, write_cap};
use keel_kernel_core::error::SyscallError;
use keel_kernel_core::object_memory::ObjectMemory;

/// The level of a paging structure below the root, with its Map and Unmap labels.
fn level_of(kind: CapType) -> Option<(u32, Label, Label)> {
    match kind {
        CapType::PageUpperDirectory => Some((
            2,
            Label::PageUpperDirectoryMap,
            Label::PageUpperDirectoryUnmap,
        )),
        CapType::PageDirectory => Some((1, Label::PageDirectoryMap, Label::PageDirectoryUnmap)),
        CapType::PageTable => Some((0, Label::PageTableMap, Label::PageTableUnmap)),
        _ => None,
    }
}

/// Decodes and performs an invocation of the paging-structure cap `cap` in `slot`.
///
/// # Errors
/// See [`map`]; `RevokeFirst` to unmap through a cap that has copies;
/// `IllegalOperation` for another label.
pub fn invoke(label: Label, msg: &Message, slot: u64, cap: Cap) -> Result<Outcome, SyscallError> {
    let Some((level, map_label, unmap_label)) = level_of(cap.kind()) else {
        return Err(Error::IllegalOperation.into());
    };
    if label == map_label {
        map(msg, slot, cap, level)
    } else if label == unmap_label {
        let mut mem = KernelMemory;
        if !is_final(&mem, slot) {
            return Err(Error::RevokeFirst.into());
        }
        if cap.is_mapped() {
            unmap(&cap);
            mem.zero(cap.paddr(), PAGE_SIZE as u64);
            VSpace::flush_all();
            write_cap(&mut mem, slot, cap.with_mapping(None));
        }
        Ok(Outcome::Done([0, 0]))
    } else {
        Err(Error::IllegalOperation.into())
    }
}

/// Map: MR0 vaddr (rounded down to what the structure covers), MR1
/// attributes (accepted, unused), extra cap 0 the VSpace.
///
/// # Errors
/// In order: `TruncatedMessage`; `InvalidCapability(0)` when the cap is
/// mapped; `InvalidArgument(0)` for an address outside the user half; the VSpace's
/// errors (`InvalidCapability(1)`, `FailedLookup`); `FailedLookup`
/// (MissingCapability, bits left) when the level above is missing;
/// `DeleteFirst` when its entry is in use.
fn map(msg: &Message, slot: u64, cap: Cap, level: u32) -> Result<Outcome, SyscallError> {
    let (vaddr, _attrs) = (msg.mr(0)?, msg.mr(1)?);
    msg.extra_cap(0)?;
    if cap.is_mapped() {
        return Err(SyscallError::invalid_capability(0));
    }
    if vaddr >= VSpace::USER_TOP {
        return Err(SyscallError::invalid_argument(0));
    }
    let (root, asid) = target_vspace(msg)?;
    let base = vaddr & !((1u64 << entry_bits(level + 1)) - 1);
    let parent = find_table_for_map(root, base, level + 1)?;
    let index = table_index(base, level + 1);
    if VSpace::is_valid(read_entry(parent, index)) {
        return Err(Error::DeleteFirst.into());
    }
    write_entry(parent, index, VSpace::table_entry(cap.paddr()));
    VSpace::tables_written();
    write_cap(&mut KernelMemory, slot, cap.with_mapping_in(asid, base));
    Ok(Outcome::Done([0, 0]))
}

/// Removes the entry a paging-structure cap records, if its VSpace still has
/// the ASID and the entry still points at this structure. The cap and the
/// structure's contents are the caller's.
pub fn unmap(cap: &Cap) {
    let (Some(root), Some((level, _, _))) = (mapped_root(cap), level_of(cap.kind())) else {
        return;
    };
    let vaddr = cap.mapped_vaddr();
    if let Ok(parent) = find_table(root, vaddr, level + 1) {
        let index = table_index(vaddr, level + 1);
        let e = read_entry(parent, index);
        if VSpace::is_table(e) && VSpace::entry_paddr(e) == cap.paddr() {
            write_entry(parent, index, 0);
            VSpace::flush_all();
        }
    }
}
