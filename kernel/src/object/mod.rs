//! Kernel objects. Each object type has its own module; [`handle`] holds the
//! typed handles through which the kernel reaches them, and this module the
//! raw copies into and out of kernel-owned memory.

pub mod cnode;
pub mod endpoint;
pub mod handle;
pub mod hooks;
pub mod irq;
pub mod memory;
pub mod notification;
pub mod reply;
pub mod sched_context;
pub mod sched_control;
pub mod tcb;
pub mod untyped;
pub mod vspace;

use crate::arch::{Machine, Platform};

/// Fills `len` bytes of kernel-owned physical memory at `paddr` with zero.
///
/// # Safety
/// The range must be RAM the kernel owns and that nothing else references.
pub unsafe fn zero_phys(paddr: u64, len: usize) {
    // SAFETY: the caller guarantees the range is owned RAM, mapped in the window.
    unsafe { Machine::zero(Machine::phys_to_virt(paddr), len) }
}

/// Copies `bytes` into kernel-owned physical memory at `paddr`.
///
/// # Safety
/// As for [`zero_phys`], for `bytes.len()` bytes.
pub unsafe fn copy_to_phys(paddr: u64, bytes: &[u8]) {
    let ptr = Machine::phys_to_virt(paddr) as *mut u8;
    // SAFETY: the caller guarantees the range is owned RAM, mapped in the window,
    // and `bytes` is kernel data that cannot overlap a free frame.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, bytes.len()) }
}

/// Copies from physical memory at `paddr` into `out`.
///
/// # Safety
/// The range must be RAM mapped in the kernel window.
pub unsafe fn copy_from_phys(paddr: u64, out: &mut [u8]) {
    let ptr = Machine::phys_to_virt(paddr) as *const u8;
    // SAFETY: the caller guarantees the range is RAM mapped in the window.
    unsafe { core::ptr::copy_nonoverlapping(ptr, out.as_mut_ptr(), out.len()) }
}
