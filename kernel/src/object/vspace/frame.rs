//! Frame invocations: Map (and remap), Unmap, GetAddress, and undoing a
//! frame cap's mapping when the cap goes.
//!
//! seL4's rule: a frame cap holds at most one mapping (a copy of the cap maps
//! the frame again elsewhere), recorded in the cap as the VSpace's ASID and
//! the address. Mapping an already mapped cap at the same VSpace and address
//! is a remap: new rights and attributes for the same page. Rights are the
//! cap's masked by the requested ones; a writable mapping is also readable,
//! and a mapping without read is the kernel's only (seL4's `VMKernelOnly`).
//! Device frames are always mapped uncached.

use super::{check_asid, entry_bits, find_table, find_table_for_map, mapped_root, named_vspace};
use crate::arch::{read_entry, table_index, write_entry, LeafAttrs, PagingFormat, VSpace};
use crate::object::memory::KernelMemory;
use crate::syscall::invocation::{Message, Outcome};
use keel_abi::vspace::VmAttributes;
use keel_abi::{CapRights, Error, Label};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::cspace::write_cap;
use keel_kernel_core::error::SyscallError;

/// The level whose entries map this frame: 0 for 4 KiB, 1 for 2 MiB.
fn level_of(cap: &Cap) -> u32 {
    u32::from(cap.frame_is_large())
}

/// Decodes and performs an invocation of the frame cap `cap` in `slot`.
///
/// # Errors
/// See [`map`]; `IllegalOperation` for a label frames do not have.
pub fn invoke(label: Label, msg: &Message, slot: u64, cap: Cap) -> Result<Outcome, SyscallError> {
    match label {
        Label::FrameMap => map(msg, slot, cap),
        Label::FrameUnmap => {
            unmap(&cap);
            write_cap(&mut KernelMemory, slot, cap.with_mapping(None));
            Ok(Outcome::Done([0, 0]))
        }
        Label::FrameGetAddress => Ok(Outcome::Done([cap.paddr(), 0])),
        _ => Err(Error::IllegalOperation.into()),
    }
}

/// `FrameMap`: MR0 vaddr, MR1 rights, MR2 attributes, extra cap 0 the VSpace.
///
/// # Errors
/// In seL4's order, which depends on the architecture
/// (`PagingFormat::MAP_CHECKS_PLACEMENT_FIRST`): `TruncatedMessage`;
/// `InvalidCapability(1)` when extra cap 0 is not a VSpace with an ASID; then
/// on x86_64 the placement ([`check_placement`]), the ASID ([`check_asid`])
/// and `AlignmentError` for a vaddr not aligned to the frame; on aarch64 the
/// ASID, the alignment, then the placement. After them `FailedLookup`
/// (MissingCapability, bits left) when a paging structure is missing;
/// `DeleteFirst` when something else is mapped there.
fn map(msg: &Message, slot: u64, cap: Cap) -> Result<Outcome, SyscallError> {
    let (vaddr, rights, attrs) = (msg.mr(0)?, msg.mr(1)?, msg.mr(2)?);
    let (root, asid) = named_vspace(msg)?;
    let level = level_of(&cap);
    let size = 1u64 << entry_bits(level);
    let aligned = || {
        if vaddr.is_multiple_of(size) {
            Ok(())
        } else {
            Err(SyscallError::from(Error::AlignmentError))
        }
    };
    if VSpace::MAP_CHECKS_PLACEMENT_FIRST {
        check_placement(&cap, asid, vaddr, size)?;
        check_asid(root, asid)?;
        aligned()?;
    } else {
        check_asid(root, asid)?;
        aligned()?;
        check_placement(&cap, asid, vaddr, size)?;
    }
    let remap = cap.is_mapped();
    let table = find_table_for_map(root, vaddr, level)?;
    let index = table_index(vaddr, level);
    let old = read_entry(table, index);
    let ours = VSpace::is_leaf(old, level) && VSpace::entry_paddr(old) == cap.paddr();
    if VSpace::is_valid(old) && !(remap && ours) {
        return Err(Error::DeleteFirst.into());
    }
    let (have, asked) = (cap.rights(), CapRights::from_bits(rights));
    let read = have.contains(CapRights::READ) && asked.contains(CapRights::READ);
    let write = read && have.contains(CapRights::WRITE) && asked.contains(CapRights::WRITE);
    let attrs = VmAttributes::from_bits(attrs);
    let leaf = LeafAttrs {
        user: read,
        write,
        execute: !attrs.contains(VmAttributes::EXECUTE_NEVER),
        cacheable: attrs.contains(VmAttributes::CACHEABLE),
        device: cap.is_device(),
    };
    let size = 1u64 << cap.object_size_bits();
    if leaf.execute && !leaf.device {
        VSpace::sync_for_execute(cap.paddr(), size);
    }
    if !leaf.cacheable && !leaf.device {
        VSpace::sync_for_uncached(cap.paddr(), size);
    }
    if VSpace::is_valid(old) {
        // A remap: break before make, so no walk ever sees two versions.
        write_entry(table, index, 0);
        flush_frame(vaddr, size);
    }
    write_entry(table, index, VSpace::leaf_entry(cap.paddr(), level, leaf));
    VSpace::tables_written();
    write_cap(&mut KernelMemory, slot, cap.with_mapping_in(asid, vaddr));
    Ok(Outcome::Done([0, 0]))
}

/// seL4's check of where the frame cap `cap` may map `size` bytes: a mapped
/// cap only where it is mapped (a remap), an unmapped one only inside the user
/// half.
///
/// # Errors
/// `InvalidCapability(1)` when the cap is mapped under another ASID,
/// `InvalidArgument(0)` when it is mapped at another address or the frame
/// would reach past the user half.
fn check_placement(cap: &Cap, asid: u16, vaddr: u64, size: u64) -> Result<(), SyscallError> {
    if cap.is_mapped() {
        if cap.mapped_asid() != asid {
            return Err(SyscallError::invalid_capability(1));
        }
        if cap.mapped_vaddr() != vaddr {
            return Err(SyscallError::invalid_argument(0));
        }
    } else if vaddr
        .checked_add(size)
        .is_none_or(|end| end > VSpace::USER_TOP)
    {
        return Err(SyscallError::invalid_argument(0));
    }
    Ok(())
}

/// Removes the mapping a frame cap records, if its VSpace still has the ASID
/// and the entry still maps this frame. The cap itself is the caller's.
pub fn unmap(cap: &Cap) {
    let Some(root) = mapped_root(cap) else {
        return;
    };
    let (level, vaddr) = (level_of(cap), cap.mapped_vaddr());
    if let Ok(table) = find_table(root, vaddr, level) {
        let index = table_index(vaddr, level);
        let e = read_entry(table, index);
        if VSpace::is_leaf(e, level) && VSpace::entry_paddr(e) == cap.paddr() {
            write_entry(table, index, 0);
            flush_frame(vaddr, 1 << cap.object_size_bits());
        }
    }
}

/// Drops the cached translations of a `size`-byte frame whose mapping at
/// `vaddr` was changed or removed. A flush of one address covers a whole
/// large mapping in the TLB, but QEMU keeps the code it translated per
/// 4 KiB page and drops only that page's, so code in the rest of a 2 MiB
/// frame would still run after it was unmapped or made execute-never
/// (VSPACE0400): for a frame larger than a page, every translation goes.
fn flush_frame(vaddr: u64, size: u64) {
    if size > keel_abi::PAGE_SIZE as u64 {
        VSpace::flush_all();
    } else {
        VSpace::flush_page(vaddr);
    }
}
