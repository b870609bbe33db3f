//! The CNode operations that copy and move caps: Copy, Mint, Move, Mutate and
//! Rotate, with seL4's checks in seL4's order. The slots were looked up by the
//! caller; Delete and Revoke are in `delete`.

use super::lookup::LookupError;
use super::mdb::{has_children, insert_derived, move_slot, swap};
use super::slot::read_cap;
use crate::cap::Cap;
use crate::error::SyscallError;
use crate::object_memory::ObjectMemory;
use keel_abi::{CapRights, CapType, Error, LookupFailure};

fn ensure_empty(mem: &impl ObjectMemory, slot: u64) -> Result<(), SyscallError> {
    if read_cap(mem, slot).is_null() {
        Ok(())
    } else {
        Err(Error::DeleteFirst.into())
    }
}

fn missing(source: bool) -> SyscallError {
    SyscallError::failed_lookup(
        source,
        LookupError::new(LookupFailure::MissingCapability, 0),
    )
}

fn source_cap(mem: &impl ObjectMemory, src: u64) -> Result<Cap, SyscallError> {
    let cap = read_cap(mem, src);
    if cap.is_null() {
        Err(missing(true))
    } else {
        Ok(cap)
    }
}

/// seL4 `deriveCap` with its slot check: an untyped with children cannot be
/// copied. Copies and IPC capability transfer both derive this way.
///
/// # Errors
/// `RevokeFirst` for an untyped with children; `derive`'s errors.
pub fn derive(mem: &impl ObjectMemory, src: u64, cap: Cap) -> Result<Cap, SyscallError> {
    if cap.kind() == CapType::Untyped && has_children(mem, src) {
        return Err(Error::RevokeFirst.into());
    }
    Ok(cap.derive()?)
}

fn non_null(cap: Cap) -> Result<Cap, SyscallError> {
    if cap.is_null() {
        Err(Error::IllegalOperation.into())
    } else {
        Ok(cap)
    }
}

/// CNode_Copy: puts a copy of the cap in `src`, with only `rights`, in `dest`.
///
/// # Errors
/// `DeleteFirst` when `dest` is full; `FailedLookup` (source,
/// MissingCapability) when `src` is empty; `RevokeFirst` for an untyped with
/// children; `IllegalOperation` for caps that cannot be copied (Zombie,
/// IrqControl, unmapped paging structures, a VSpace without an ASID).
pub fn copy(
    mem: &mut impl ObjectMemory,
    src: u64,
    dest: u64,
    rights: CapRights,
) -> Result<(), SyscallError> {
    ensure_empty(mem, dest)?;
    let cap = source_cap(mem, src)?;
    let new = non_null(derive(mem, src, cap.mask_rights(rights))?)?;
    insert_derived(mem, src, dest, new);
    Ok(())
}

/// CNode_Mint: as [`copy`], then sets the badge (endpoints, notifications) or
/// guard (CNodes) from `data`.
///
/// # Errors
/// As [`copy`]; also `IllegalOperation` when badging an already badged cap or
/// setting a guard that does not fit.
pub fn mint(
    mem: &mut impl ObjectMemory,
    src: u64,
    dest: u64,
    rights: CapRights,
    data: u64,
) -> Result<(), SyscallError> {
    ensure_empty(mem, dest)?;
    let cap = source_cap(mem, src)?;
    let derived = derive(mem, src, cap.mask_rights(rights))?;
    let new = non_null(derived.update_data(false, data))?;
    insert_derived(mem, src, dest, new);
    Ok(())
}

/// CNode_Move: moves the cap in `src`, with its place in the derivation tree,
/// to `dest`.
///
/// # Errors
/// `DeleteFirst` when `dest` is full; `FailedLookup` (source) when `src` is empty.
pub fn move_cap(mem: &mut impl ObjectMemory, src: u64, dest: u64) -> Result<(), SyscallError> {
    ensure_empty(mem, dest)?;
    let cap = source_cap(mem, src)?;
    move_slot(mem, src, dest, cap);
    Ok(())
}

/// CNode_Mutate: moves the cap in `src` to `dest`, setting a CNode guard from
/// `data` (seL4 `updateCapData` with preserve: badges cannot be set this way).
///
/// # Errors
/// As [`move_cap`]; `IllegalOperation` when the updated cap would be null (any
/// endpoint or notification, or a guard that does not fit).
pub fn mutate(
    mem: &mut impl ObjectMemory,
    src: u64,
    dest: u64,
    data: u64,
) -> Result<(), SyscallError> {
    ensure_empty(mem, dest)?;
    let cap = source_cap(mem, src)?;
    let new = non_null(cap.update_data(true, data))?;
    move_slot(mem, src, dest, new);
    Ok(())
}

/// CNode_Rotate: moves the cap in `pivot` to `dest` (updated with `dest_data`)
/// and the cap in `src` to `pivot` (updated with `pivot_data`). With `src ==
/// dest` the two caps are swapped.
///
/// # Errors
/// `IllegalOperation` when `pivot` is `src` or `dest`, or an updated cap would
/// be null; `DeleteFirst` when `dest` (other than `src`) is full;
/// `FailedLookup` (source) when `src` is empty, `FailedLookup` (not source)
/// when `pivot` is empty.
pub fn rotate(
    mem: &mut impl ObjectMemory,
    dest: u64,
    pivot: u64,
    src: u64,
    pivot_data: u64,
    dest_data: u64,
) -> Result<(), SyscallError> {
    if pivot == src || pivot == dest {
        return Err(Error::IllegalOperation.into());
    }
    if src != dest {
        ensure_empty(mem, dest)?;
    }
    let src_cap = source_cap(mem, src)?;
    let pivot_cap = read_cap(mem, pivot);
    if pivot_cap.is_null() {
        return Err(missing(false));
    }
    let new_src = non_null(src_cap.update_data(true, pivot_data))?;
    let new_pivot = non_null(pivot_cap.update_data(true, dest_data))?;
    if src == dest {
        swap(mem, src, new_src, pivot, new_pivot);
    } else {
        move_slot(mem, pivot, dest, new_pivot);
        move_slot(mem, src, pivot, new_src);
    }
    Ok(())
}
