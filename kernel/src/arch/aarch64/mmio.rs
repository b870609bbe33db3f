//! 32-bit device-register access through the kernel window, whose first GiB
//! (QEMU virt's peripherals) is mapped as device nGnRE memory.

use crate::arch::{Machine, Platform};

/// Physical addresses below this are peripherals, mapped as device memory.
const DEVICE_END: u64 = 0x4000_0000;

/// Reads the device register at physical address `paddr`.
pub fn read32(paddr: u64) -> u32 {
    debug_assert!(paddr < DEVICE_END && paddr.is_multiple_of(4));
    let ptr = Machine::phys_to_virt(paddr) as *const u32;
    // SAFETY: the callers pass fixed, aligned register addresses of QEMU virt
    // devices the kernel owns, mapped as device memory in the kernel window.
    unsafe { ptr.read_volatile() }
}

/// Writes the device register at physical address `paddr`.
pub fn write32(paddr: u64, value: u32) {
    debug_assert!(paddr < DEVICE_END && paddr.is_multiple_of(4));
    let ptr = Machine::phys_to_virt(paddr) as *mut u32;
    // SAFETY: as for `read32`.
    unsafe { ptr.write_volatile(value) }
}
