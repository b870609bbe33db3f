//! The flattened device tree QEMU passes: where it is, what RAM it describes,
//! which memory it reserves, and how PSCI is called. Parsing is the `fdt`
//! crate's; this module only finds the blob and reads the few nodes the kernel needs.

use super::psci::Conduit;
use crate::arch::{Machine, Platform};
use fdt::Fdt;
use keel_abi::bootinfo::MemRegion;
use keel_abi::PAGE_SIZE;

/// Where QEMU virt puts the device tree for a bare-metal ELF: the start of RAM.
const DTB_PADDR: u64 = 0x4000_0000;
/// The device-tree header magic (big-endian in memory).
const FDT_MAGIC: u32 = 0xd00d_feed;
/// Most reservation-block entries the kernel honours.
const MAX_RESERVATIONS: usize = 4;

/// The machine's device tree, read through the kernel window.
pub struct DeviceTree {
    fdt: Fdt<'static>,
}

impl DeviceTree {
    /// Finds and checks the device tree.
    ///
    /// # Panics
    /// If no valid device tree is at the start of RAM: without it the kernel
    /// does not know its memory.
    pub fn find() -> DeviceTree {
        let ptr = Machine::phys_to_virt(DTB_PADDR) as *const u8;
        // SAFETY: the boot window maps the first 512 GiB, and QEMU virt always
        // has RAM at `DTB_PADDR`; the read is aligned.
        let magic = u32::from_be(unsafe { ptr.cast::<u32>().read_volatile() });
        if magic != FDT_MAGIC {
            panic!("no device tree at {DTB_PADDR:#x} (magic {magic:#x}); boot with QEMU virt `-kernel`");
        }
        // SAFETY: the header is valid (magic checked), and the blob lies in RAM
        // mapped by the kernel window, which no one writes while the kernel runs:
        // its range is reserved from the memory handed out.
        match unsafe { Fdt::from_ptr(ptr) } {
            Ok(fdt) => DeviceTree { fdt },
            Err(e) => panic!("device tree at {DTB_PADDR:#x} is unreadable ({e})"),
        }
    }

    /// Calls `f(start, end)` for each RAM range of the `/memory` nodes.
    pub fn for_each_memory(&self, mut f: impl FnMut(u64, u64)) {
        for node in self.fdt.find_all_nodes("/memory") {
            for region in node.reg().into_iter().flatten() {
                let start = region.starting_address as u64;
                let size = region.size.unwrap_or(0) as u64;
                f(start, start.saturating_add(size));
            }
        }
    }

    /// Calls `f` with the blob's own range, page-rounded, and each entry of its
    /// memory-reservation block (at most [`MAX_RESERVATIONS`]).
    pub fn for_each_reserved(&self, mut f: impl FnMut(MemRegion)) {
        let size = (self.fdt.total_size() as u64).div_ceil(PAGE_SIZE as u64) * PAGE_SIZE as u64;
        f(MemRegion {
            start: DTB_PADDR,
            end: DTB_PADDR + size,
        });
        for entry in self.fdt.memory_reservations().take(MAX_RESERVATIONS) {
            let start = entry.address() as u64;
            f(MemRegion {
                start,
                end: start.saturating_add(entry.size() as u64),
            });
        }
    }

    /// How `/psci` says PSCI calls are made, if the tree has a `/psci` node.
    pub fn psci_conduit(&self) -> Option<Conduit> {
        let method = self.fdt.find_node("/psci")?.property("method")?.as_str()?;
        match method {
            "hvc" => Some(Conduit::Hvc),
            "smc" => Some(Conduit::Smc),
            _ => None,
        }
    }
}
