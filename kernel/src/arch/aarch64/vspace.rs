//! aarch64 user address spaces: TTBR0 tables, four levels of 4 KiB granule
//! covering 48 bits of VA, with 4 KiB pages and 2 MiB blocks. The kernel lives
//! in TTBR1 and is not copied into user tables. User pages are normal
//! write-back inner-shareable memory (or normal non-cacheable without the
//! cacheable attribute, or device nGnRE and never executable for device
//! frames), not global, never executable at EL1. Every address space uses
//! hardware ASID 0: a switch flushes the TLB, and a changed entry is flushed
//! by address for all ASIDs.

use super::mmu::{
    self, ACCESS, ADDR_MASK, AP_READ_ONLY, AP_USER, ATTR_DEVICE, ATTR_NORMAL, ATTR_NORMAL_UNCACHED,
    INNER_SHAREABLE, NOT_GLOBAL, PAGE, PXN, PXN_TABLE, TABLE, UXN, VALID,
};
use crate::arch::page_table::{entry, index};
use crate::arch::{AddressSpace, LeafAttrs, MapError, PageRights, PagingFormat};
use crate::arch::{Machine, Platform};
use crate::object::zero_phys;
use keel_kernel_core::memory::FreeMemory;

/// First address past the user half (TTBR0 with T0SZ = 16).
const USER_TOP: u64 = 1 << 48;
/// Descriptor bits of every user page, before rights.
const USER_PAGE: u64 =
    VALID | PAGE | (ATTR_NORMAL << 2) | AP_USER | INNER_SHAREABLE | ACCESS | NOT_GLOBAL | PXN;

/// A user address space, named by its level-0 table's physical address.
pub struct VSpace {
    root: u64,
}

impl VSpace {
    /// Makes this address space the current one (ASID 0 for every address
    /// space for now, so a switch flushes the TLB).
    pub fn activate(&self) {
        if mmu::read_ttbr0() & ADDR_MASK != self.root {
            // SAFETY: the root is a level-0 table this VSpace owns; the kernel
            // runs from TTBR1 and stays mapped.
            unsafe { mmu::write_ttbr0(self.root) }
        }
    }
}

impl AddressSpace for VSpace {
    fn new(frames: &mut FreeMemory) -> Result<Self, MapError> {
        let root = frames.alloc(4096, 4096).map_err(MapError::OutOfMemory)?;
        // SAFETY: the frame was just taken from free RAM.
        unsafe { zero_phys(root, 4096) };
        Ok(VSpace { root })
    }

    fn map_page(
        &mut self,
        vaddr: u64,
        paddr: u64,
        rights: PageRights,
        frames: &mut FreeMemory,
    ) -> Result<(), MapError> {
        if !vaddr.is_multiple_of(4096) || vaddr >= USER_TOP || paddr & !ADDR_MASK != 0 {
            return Err(MapError::BadAddress);
        }
        let mut table = self.root;
        for level in [3, 2, 1] {
            let e = entry(table, index(vaddr, level));
            if *e & VALID == 0 {
                let next = frames.alloc(4096, 4096).map_err(MapError::OutOfMemory)?;
                // SAFETY: the frame was just taken from free RAM.
                unsafe { zero_phys(next, 4096) };
                *e = next | VALID | TABLE | PXN_TABLE;
            } else if *e & TABLE == 0 {
                return Err(MapError::AlreadyMapped);
            }
            table = *e & ADDR_MASK;
        }
        let leaf = entry(table, index(vaddr, 0));
        if *leaf & VALID != 0 {
            return Err(MapError::AlreadyMapped);
        }
        let mut bits = paddr | USER_PAGE;
        if !rights.write {
            bits |= AP_READ_ONLY;
        }
        if !rights.execute {
            bits |= UXN;
        }
        *leaf = bits;
        mmu::table_write_barrier();
        Ok(())
    }

    fn translate(&self, vaddr: u64) -> Option<(u64, PageRights)> {
        if vaddr >= USER_TOP {
            return None;
        }
        let mut table = self.root;
        for level in [3, 2, 1] {
            let e = *entry(table, index(vaddr, level));
            if e & (VALID | TABLE) != VALID | TABLE {
                return None;
            }
            table = e & ADDR_MASK;
        }
        let leaf = *entry(table, index(vaddr, 0));
        // Only normal cacheable user pages: device memory is never read by the kernel.
        let normal = (leaf >> 2) & 0b111 == ATTR_NORMAL;
        if leaf & (VALID | PAGE) != VALID | PAGE || leaf & AP_USER == 0 || !normal {
            return None;
        }
        let rights = PageRights {
            write: leaf & AP_READ_ONLY == 0,
            execute: leaf & UXN == 0,
        };
        Some(((leaf & ADDR_MASK) | (vaddr & 0xfff), rights))
    }

    fn root_paddr(&self) -> u64 {
        self.root
    }

    fn from_root(root_paddr: u64) -> Self {
        VSpace { root: root_paddr }
    }
}

/// A level-0 table with no entries: TTBR0 while no user address space may be used.
#[repr(C, align(4096))]
struct EmptyTable([u64; 512]);

static EMPTY_ROOT: EmptyTable = EmptyTable([0; 512]);

impl PagingFormat for VSpace {
    const USER_TOP: u64 = USER_TOP;

    fn table_entry(paddr: u64) -> u64 {
        (paddr & ADDR_MASK) | VALID | TABLE | PXN_TABLE
    }

    fn is_table(entry: u64) -> bool {
        entry & (VALID | TABLE) == VALID | TABLE
    }

    fn is_valid(entry: u64) -> bool {
        entry & VALID != 0
    }

    fn is_leaf(entry: u64, level: u32) -> bool {
        match level {
            0 => entry & (VALID | PAGE) == VALID | PAGE,
            _ => entry & (VALID | TABLE) == VALID,
        }
    }

    fn entry_paddr(entry: u64) -> u64 {
        entry & ADDR_MASK
    }

    fn leaf_entry(paddr: u64, level: u32, attrs: LeafAttrs) -> u64 {
        let mut bits = (paddr & ADDR_MASK) | VALID | ACCESS | NOT_GLOBAL | PXN;
        if level == 0 {
            bits |= PAGE;
        }
        bits |= if attrs.device {
            (ATTR_DEVICE << 2) | UXN
        } else if attrs.cacheable {
            (ATTR_NORMAL << 2) | INNER_SHAREABLE
        } else {
            (ATTR_NORMAL_UNCACHED << 2) | INNER_SHAREABLE
        };
        if attrs.user {
            bits |= AP_USER;
        }
        if !(attrs.user && attrs.write) {
            bits |= AP_READ_ONLY;
        }
        if !attrs.execute {
            bits |= UXN;
        }
        bits
    }

    fn tables_written() {
        mmu::table_write_barrier();
    }

    fn flush_page(vaddr: u64) {
        mmu::flush_page(vaddr);
    }

    fn flush_all() {
        mmu::flush_all();
    }

    fn sync_for_execute(paddr: u64, size: u64) {
        mmu::sync_instruction_cache(Machine::phys_to_virt(paddr), size as usize);
    }

    fn sync_for_uncached(paddr: u64, size: u64) {
        mmu::clean_and_invalidate_to_coherency(Machine::phys_to_virt(paddr), size as usize);
    }

    fn init_root(_root: u64) {}

    fn forget_root(root: u64) {
        if mmu::read_ttbr0() & ADDR_MASK == root {
            let empty = Machine::kernel_virt_to_phys(core::ptr::addr_of!(EMPTY_ROOT) as usize);
            // SAFETY: the empty table maps nothing; the kernel runs from TTBR1.
            unsafe { mmu::write_ttbr0(empty) }
        }
    }
}
