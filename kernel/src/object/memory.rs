//! The kernel's view of object memory for the capability core: word reads and
//! writes of slots and objects through the kernel window.

use crate::arch::{Machine, Platform};
use crate::kernel_cell::KernelCell;
use keel_kernel_core::object_memory::ObjectMemory;

/// Object memory, reached through the kernel window.
///
/// The core calls it only with addresses of slots and objects that capabilities
/// name, and capabilities are written only by the kernel (at boot and by
/// retype, inside Untyped regions of RAM), so every address is kernel-owned RAM.
pub struct KernelMemory;

/// The count of cap writes ([`ObjectMemory::cap_writes`]), from 1.
static CAP_WRITES: KernelCell<u64> = KernelCell::new(1);

fn word(paddr: u64) -> *mut u64 {
    Machine::phys_to_virt(paddr) as *mut u64
}

impl ObjectMemory for KernelMemory {
    fn read(&self, paddr: u64) -> u64 {
        // SAFETY: `paddr` is 8-aligned kernel-owned RAM (see the type's
        // documentation), mapped in the window; a plain word read.
        unsafe { word(paddr).read() }
    }

    fn write(&mut self, paddr: u64, value: u64) {
        // SAFETY: as for `read`; the kernel is single-threaded, and no Rust
        // reference to object memory is live while the core runs.
        unsafe { word(paddr).write(value) }
    }

    fn zero(&mut self, paddr: u64, len: u64) {
        // SAFETY: as for `write`, for the `len` bytes the core asks to clear,
        // which lie inside an Untyped region it owns.
        unsafe { crate::object::zero_phys(paddr, len as usize) }
    }

    fn count_cap_write(&mut self) {
        CAP_WRITES.write(CAP_WRITES.read().wrapping_add(1));
    }

    #[inline(always)]
    fn cap_writes(&self) -> u64 {
        CAP_WRITES.read()
    }
}
