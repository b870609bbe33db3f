//! VSPACE: mapping frames and paging structures into the root task's VSpace,
//! rights and attributes, remap and unmap, the errors seL4 gives, what
//! deleting caps does to mappings, and ASID pools. Accesses that must fault
//! are made by a test thread in the same address space (the kernel reports
//! the fault and stops that thread); the root task checks how far it got.
//! Each test works in its own 512 GiB region, well inside the user half of
//! both architectures. This module holds the helpers; the tests are in
//! [`frames`] (frames: access, rights, remap, attributes, errors) and
//! [`tables`] (paging structures, ASIDs) and [`asid_limits`] (every pool,
//! a full pool).

mod asid_limits;
mod frames;
mod tables;

pub use asid_limits::*;
pub use frames::*;
pub use tables::*;

use super::retype::make;
use crate::support::{expect_detail, expect_error, expect_type, slot, step};
use crate::thread::{count, shared, spawn, yield_times};
use crate::{ensure, Env, TestResult};
use alloc::string::String;
use core::sync::atomic::Ordering;
use keel_abi::vspace::VmAttributes;
use keel_abi::{Arch, CapRights, CapType, Error, LookupFailure, ObjectType};
use keel_sys::cap::{init_thread, Frame, PageDirectory, PageTable, PageUpperDirectory, Tcb};
use keel_sys::cap::{AsidPool, CapKind, Untyped, VSpace};
use keel_sys::{CPtr, Cap};

pub(super) const ROOT: Cap<VSpace> = init_thread::VSPACE;
pub(super) const RW: CapRights = CapRights::READ.union(CapRights::WRITE);
pub(super) const ATTRS: VmAttributes = VmAttributes::DEFAULT;
pub(super) const PAGE: u64 = 4096;
pub(super) const LARGE: u64 = 2 << 20;

/// The first address of test region `n` (one PML4 / level-0 entry each).
pub(super) fn region(n: u64) -> u64 {
    0x0000_5000_0000_0000 + (n << 39)
}

pub(super) fn cap<T: CapKind>(s: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(s))
}

/// Retypes a PageUpperDirectory, PageDirectory and PageTable into three
/// consecutive slots (returns the first) and maps the first `levels` of them
/// in the root VSpace where they cover `vaddr`.
pub(super) fn tables(env: &Env, vaddr: u64, levels: usize) -> Result<u64, String> {
    let (ut, _) = env.untyped(14)?;
    let first = env.slots(3)?;
    let kinds = [
        ObjectType::PageUpperDirectory,
        ObjectType::PageDirectory,
        ObjectType::PageTable,
    ];
    for (i, ty) in kinds.into_iter().enumerate() {
        let dst = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
        step(
            ut.untyped_retype(ty, 0, &dst, first + i as u64, 1),
            "retype tables",
        )?;
    }
    if levels > 0 {
        let pud = cap::<PageUpperDirectory>(first).page_table_map(ROOT, vaddr, ATTRS);
        step(pud, "map the PageUpperDirectory")?;
    }
    if levels > 1 {
        let pd = cap::<PageDirectory>(first + 1).page_table_map(ROOT, vaddr, ATTRS);
        step(pd, "map the PageDirectory")?;
    }
    if levels > 2 {
        let pt = cap::<PageTable>(first + 2).page_table_map(ROOT, vaddr, ATTRS);
        step(pt, "map the PageTable")?;
    }
    Ok(first)
}

/// `n` fresh 4 KiB frames; returns the first slot.
pub(super) fn frames(env: &Env, n: u64) -> Result<u64, String> {
    make(env, 16, ObjectType::SmallPage, 0, n)
}

/// A copy of the cap in slot `s`, in a new slot.
pub(super) fn copy_of(env: &Env, s: u64) -> Result<u64, String> {
    let d = env.slots(1)?;
    step(slot(d).copy(&slot(s), CapRights::ALL), "copy the cap")?;
    Ok(d)
}

pub(super) fn read(vaddr: u64) -> u64 {
    // SAFETY: callers pass an address the test has just mapped readable.
    unsafe { core::ptr::read_volatile(vaddr as *const u64) }
}

pub(super) fn write(vaddr: u64, value: u64) {
    // SAFETY: callers pass an address the test has just mapped writable,
    // in a frame nothing else uses.
    unsafe { core::ptr::write_volatile(vaddr as *mut u64, value) }
}

/// Fails unless `result` is FailedLookup with a missing structure and `bits` left.
pub(super) fn expect_missing(
    result: Result<(), keel_sys::InvocationError>,
    bits: u64,
    what: &str,
) -> TestResult {
    let detail = expect_detail(result, Error::FailedLookup, what)?;
    let want = [LookupFailure::MissingCapability as u64, bits];
    ensure!(
        detail == want,
        "{what}: detail {detail:?}, expected {want:?}"
    );
    Ok(())
}

pub(super) const READ: u64 = 0;
pub(super) const WRITE: u64 = 1;
pub(super) const EXECUTE: u64 = 2;

/// Test thread: counts, makes the access `value` names at address `cap`,
/// counts again and stops.
extern "C" fn access(i: u64) -> ! {
    let s = shared(i);
    let (mode, addr) = (s.value.load(Ordering::SeqCst), s.cap.load(Ordering::SeqCst));
    s.counter.fetch_add(1, Ordering::SeqCst);
    match mode {
        READ => s.value.store(read(addr), Ordering::SeqCst),
        WRITE => write(addr, 0x5a5a),
        _ => {
            // SAFETY: the test put a return instruction at `addr` (or expects
            // the call to fault before anything runs).
            let f = unsafe { core::mem::transmute::<u64, extern "C" fn()>(addr) };
            f();
        }
    }
    s.counter.fetch_add(1, Ordering::SeqCst);
    let me: Cap<Tcb> = cap(s.tcb.load(Ordering::SeqCst));
    let _ = me.tcb_suspend();
    keel_rt::halt(92)
}

/// Runs [`access`] in a thread; true when the access completed, false when
/// the thread stopped at it (a fault).
pub(super) fn thread_access(env: &Env, mode: u64, vaddr: u64) -> Result<bool, String> {
    let t = spawn(env, access, 0, 0, 255)?;
    shared(0).value.store(mode, Ordering::SeqCst);
    shared(0).cap.store(vaddr, Ordering::SeqCst);
    step(t.tcb_resume(), "resume")?;
    yield_times(3)?;
    match count(0) {
        1 => Ok(false),
        2 => Ok(true),
        n => Err(alloc::format!("the test thread counted {n}")),
    }
}

pub(super) fn expect_fault(env: &Env, mode: u64, vaddr: u64, what: &str) -> TestResult {
    ensure!(!thread_access(env, mode, vaddr)?, "{what}: no fault");
    Ok(())
}
