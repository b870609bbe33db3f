//! Kernel boot, after the architecture has set up the CPU, console, traps and
//! kernel window: read the boot archive, build the root task (address space,
//! CNode, TCB, BootInfo) from free RAM, turn the rest of RAM into Untyped caps,
//! and enter user mode.

mod root_task;
mod stack;

use crate::arch::{Machine, Platform, ARCH};
use keel_abi::archive::Archive;
use keel_abi::bootinfo::{MemRegion, MAX_RAM_REGIONS};
use keel_kernel_core::memory::FreeMemory;

/// Most reserved ranges an architecture can report.
pub const MAX_RESERVED: usize = 8;

/// What the architecture found about the machine.
pub struct BootParams {
    /// RAM reported by the firmware or device tree.
    pub ram: [MemRegion; MAX_RAM_REGIONS],
    /// Valid entries in `ram`.
    pub ram_count: usize,
    /// RAM the kernel must not hand out (firmware tables, the device tree, ...).
    pub reserved: [MemRegion; MAX_RESERVED],
    /// Valid entries in `reserved`.
    pub reserved_count: usize,
    /// Physical ranges of device memory the kernel does not use, handed to the
    /// root task as device untyped.
    pub devices: [MemRegion; MAX_RESERVED],
    /// Valid entries in `devices`.
    pub device_count: usize,
}

impl BootParams {
    /// No RAM, nothing reserved.
    pub const fn new() -> Self {
        BootParams {
            ram: [MemRegion { start: 0, end: 0 }; MAX_RAM_REGIONS],
            ram_count: 0,
            reserved: [MemRegion { start: 0, end: 0 }; MAX_RESERVED],
            reserved_count: 0,
            devices: [MemRegion { start: 0, end: 0 }; MAX_RESERVED],
            device_count: 0,
        }
    }

    /// Records a RAM region; regions past the table's size are reported and dropped.
    pub fn add_ram(&mut self, region: MemRegion) {
        match self.ram.get_mut(self.ram_count) {
            Some(slot) => {
                *slot = region;
                self.ram_count += 1;
            }
            None => crate::kprintln!(
                "KEEL: too many RAM regions; ignoring {:#x}..{:#x}",
                region.start,
                region.end
            ),
        }
    }

    /// Records a reserved range.
    pub fn reserve(&mut self, region: MemRegion) {
        match self.reserved.get_mut(self.reserved_count) {
            Some(slot) => {
                *slot = region;
                self.reserved_count += 1;
            }
            None => panic!("invariant: at most {MAX_RESERVED} reserved ranges"),
        }
    }
}

impl BootParams {
    /// Records a device-memory range for device untyped.
    pub fn add_device(&mut self, region: MemRegion) {
        match self.devices.get_mut(self.device_count) {
            Some(slot) => {
                *slot = region;
                self.device_count += 1;
            }
            None => panic!("invariant: at most {MAX_RESERVED} device ranges"),
        }
    }
}

impl Default for BootParams {
    fn default() -> Self {
        Self::new()
    }
}

extern "C" {
    static __boot_archive_start: u8;
    static __boot_archive_end: u8;
}

/// The boot archive linked into the kernel image.
fn boot_archive() -> &'static [u8] {
    // SAFETY: the linker script places these symbols around the `.boot_archive`
    // section, which is read-only data inside the loaded kernel image.
    unsafe {
        let start = core::ptr::addr_of!(__boot_archive_start);
        let end = core::ptr::addr_of!(__boot_archive_end);
        core::slice::from_raw_parts(start, end as usize - start as usize)
    }
}

/// The architecture-independent boot. Never returns: it ends in user mode.
pub fn kernel_main(params: &BootParams) -> ! {
    crate::kprintln!(
        "KEEL: Keel kernel {} on {}",
        env!("CARGO_PKG_VERSION"),
        ARCH.name()
    );
    let bytes = boot_archive();
    let archive = match Archive::parse(bytes) {
        Ok(a) => a,
        Err(e) => {
            panic!("boot archive is unreadable ({e:?}); build the image with `cargo xtask build`")
        }
    };
    let archive_phys = MemRegion {
        start: Machine::kernel_virt_to_phys(bytes.as_ptr() as usize),
        end: Machine::kernel_virt_to_phys(bytes.as_ptr() as usize) + archive.total_size(),
    };
    let kernel = Machine::kernel_image_phys();
    let mut free = FreeMemory::new();
    for ram in &params.ram[..params.ram_count] {
        free.add(*ram)
            .expect("invariant: RAM regions fit the free-memory table");
    }
    for reserved in core::iter::once(&kernel).chain(&params.reserved[..params.reserved_count]) {
        free.remove(*reserved)
            .expect("invariant: reserved ranges fit the free-memory table");
    }
    crate::kprintln!(
        "KEEL: {} MiB of RAM in {} regions, {} KiB boot archive with {} files",
        free.total() >> 20,
        params.ram_count,
        archive.total_size() >> 10,
        archive.entries().len()
    );
    root_task::start(&archive, archive_phys, kernel, params, free)
}
