//! aarch64 user address spaces: TTBR0 tables, four levels of 4 KiB granule
//! covering 48 bits of VA, with 4 KiB pages and 2 MiB blocks. The kernel lives
//! in TTBR1 and is not copied into user tables. User pages are normal
//! write-back inner-shareable memory (or normal non-cacheable without the
//! cacheable attribute, or device nGnRE and never executable for device
//! frames), not global, never executable at EL1. A thread's address space
//! runs under its ASID as the hardware ASID, so a switch flushes nothing; a
//! changed entry is flushed by address for all ASIDs, a removed table or
//! address space (and with it its ASID) by a full flush.

use super::mmu::{
    self, ACCESS, ADDR_MASK, AP_READ_ONLY, AP_USER, ATTR_DEVICE, ATTR_NORMAL, ATTR_NORMAL_UNCACHED,
    INNER_SHAREABLE, NOT_GLOBAL, PAGE, PXN, PXN_TABLE, TABLE, UXN, VALID,
};
use crate::arch::{AddressSpace, LeafAttrs, PageRights, PagingFormat};
use crate::arch::{Machine, Platform};

/// First address past the user half (TTBR0 with T0SZ = 16).
const USER_TOP: u64 = 1 << 48;
/// A user address space: its level-0 table's physical address and, for one
/// a thread runs in, its ASID, as TTBR0_EL1 holds them.
#[derive(Clone, Copy)]
pub struct VSpace {
    ttbr: u64,
}

impl VSpace {
    /// Makes this address space, which a thread runs in, the current one.
    #[inline(always)]
    pub fn activate(&self) {
        if mmu::read_ttbr0() != self.ttbr {
            // SAFETY: the root is a level-0 table this VSpace owns and the
            // ASID the one its pool gave it (`for_thread`); the kernel runs
            // from TTBR1 and stays mapped.
            unsafe { mmu::write_ttbr0(self.ttbr) }
        }
    }
}

impl AddressSpace for VSpace {
    fn root_paddr(&self) -> u64 {
        self.ttbr & ADDR_MASK
    }

    fn from_root(root_paddr: u64) -> Self {
        VSpace { ttbr: root_paddr }
    }

    fn for_thread(root_paddr: u64, asid: u16) -> Self {
        VSpace {
            ttbr: root_paddr | u64::from(asid) << mmu::TTBR_ASID_SHIFT,
        }
    }
}

/// Leaves the boot tables (an identity map of global entries) for good: the
/// user half maps nothing until a thread runs, and nothing the boot tables
/// cached is left to match any ASID.
pub fn leave_boot_tables() {
    let empty = Machine::kernel_virt_to_phys(core::ptr::addr_of!(EMPTY_ROOT) as usize);
    // SAFETY: the empty table maps nothing, under ASID 0, which no VSpace
    // holds; the kernel runs from TTBR1.
    unsafe { mmu::write_ttbr0(empty) }
    mmu::flush_all();
}

/// A level-0 table with no entries: TTBR0 while no user address space may be used.
#[repr(C, align(4096))]
struct EmptyTable([u64; 512]);

static EMPTY_ROOT: EmptyTable = EmptyTable([0; 512]);

impl PagingFormat for VSpace {
    const USER_TOP: u64 = USER_TOP;
    const MAP_CHECKS_PLACEMENT_FIRST: bool = false;

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

    fn user_page_rights(entry: u64) -> Option<PageRights> {
        let normal = (entry >> 2) & 0b111 == ATTR_NORMAL;
        (entry & (VALID | PAGE) == VALID | PAGE && entry & AP_USER != 0 && normal).then_some(
            PageRights {
                write: entry & AP_READ_ONLY == 0,
                execute: entry & UXN == 0,
            },
        )
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
            // SAFETY: the empty table maps nothing, under ASID 0, which no
            // VSpace holds; the kernel runs from TTBR1.
            unsafe { mmu::write_ttbr0(empty) }
        }
    }

    fn hardware_asids() -> u64 {
        mmu::hardware_asids()
    }
}
