//! Kernel objects. Each object type has its own module; this module holds the one
//! way to reach an object's memory through the kernel window.

pub mod cnode;
pub mod endpoint;
pub mod hooks;
pub mod memory;
pub mod notification;
pub mod reply;
pub mod sched_context;
pub mod sched_control;
pub mod tcb;
pub mod untyped;
pub mod vspace;

use crate::arch::{Machine, Platform};

/// Typed access to a kernel object through the kernel window.
///
/// # Safety
/// `paddr` must hold a live, initialised `T` in memory the kernel owns (taken from
/// free RAM at boot or retyped from an Untyped), and the caller must not let two
/// returned references to the same object be live at once. The kernel runs on one
/// core with interrupts off, so each kernel entry takes at most one reference per object.
pub unsafe fn object_mut<T>(paddr: u64) -> &'static mut T {
    let ptr = Machine::phys_to_virt(paddr) as *mut T;
    // SAFETY: the caller guarantees a live, exclusively referenced `T` at `paddr`,
    // and the kernel window maps all of RAM, so `ptr` is valid and aligned.
    unsafe { &mut *ptr }
}

/// Fills `len` bytes of kernel-owned physical memory at `paddr` with zero.
///
/// # Safety
/// The range must be RAM the kernel owns and that nothing else references.
pub unsafe fn zero_phys(paddr: u64, len: usize) {
    let ptr = Machine::phys_to_virt(paddr) as *mut u8;
    // SAFETY: the caller guarantees the range is owned RAM, mapped in the window.
    unsafe { core::ptr::write_bytes(ptr, 0, len) }
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
