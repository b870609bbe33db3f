//! x86_64 user address spaces: 4-level page tables with 4 KiB pages and
//! 2 MiB large pages. The upper half of every PML4 is copied from the boot
//! PML4, so the kernel window and the kernel image are mapped in every address
//! space. Caching: write-back, or uncached (PCD|PWT with the reset PAT) for
//! device frames and mappings without the cacheable attribute. TLB: `invlpg`
//! per page, a CR3 reload after removing a table.

use super::io::{read_cr3, write_cr3};
use crate::arch::{read_entry, write_entry};
use crate::arch::{AddressSpace, LeafAttrs, PageRights, PagingFormat};
use crate::kernel_cell::KernelCell;
use core::arch::asm;

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
const WRITE_THROUGH: u64 = 1 << 3;
const CACHE_DISABLE: u64 = 1 << 4;
const HUGE: u64 = 1 << 7;
const NO_EXECUTE: u64 = 1 << 63;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
/// First address past the user half.
const USER_TOP: u64 = 0x0000_8000_0000_0000;

/// A user address space, named by its PML4's physical address.
#[derive(Clone, Copy)]
pub struct VSpace {
    root: u64,
}

/// The root CR3 was last loaded with by [`load_root`] (0 before the first).
static LOADED_ROOT: KernelCell<u64> = KernelCell::new(0);

/// Loads CR3 with `root` and notes it.
///
/// # Safety
/// `root` must be a PML4 whose upper half is the boot PML4's.
unsafe fn load_root(root: u64) {
    LOADED_ROOT.write(root);
    // SAFETY: the caller's guarantee: the kernel stays mapped.
    unsafe { write_cr3(root) }
}

impl VSpace {
    /// Makes this address space the current one.
    #[inline(always)]
    pub fn activate(&self) {
        if LOADED_ROOT.read() != self.root {
            // SAFETY: every VSpace's upper half is the boot PML4's, which maps the kernel.
            unsafe { load_root(self.root) }
        }
    }
}

impl AddressSpace for VSpace {
    fn root_paddr(&self) -> u64 {
        self.root
    }

    fn from_root(root_paddr: u64) -> Self {
        VSpace { root: root_paddr }
    }

    fn for_thread(root_paddr: u64, _asid: u16) -> Self {
        // Keel does not use PCIDs: every address space runs untagged, and a
        // switch (a CR3 load) drops the user translations.
        VSpace { root: root_paddr }
    }
}

/// Physical address of the boot PML4: the kernel half every PML4 copies, and
/// the root used when no user address space may be.
fn boot_pml4() -> u64 {
    extern "C" {
        static boot_pml4: u8;
    }
    // The boot PML4 sits in the identity-mapped boot section: its link address is physical.
    core::ptr::addr_of!(boot_pml4) as u64
}

impl PagingFormat for VSpace {
    const USER_TOP: u64 = USER_TOP;
    const MAP_CHECKS_PLACEMENT_FIRST: bool = true;

    fn table_entry(paddr: u64) -> u64 {
        (paddr & ADDR_MASK) | PRESENT | WRITABLE | USER
    }

    fn is_table(entry: u64) -> bool {
        entry & PRESENT != 0 && entry & HUGE == 0
    }

    fn is_valid(entry: u64) -> bool {
        entry & PRESENT != 0
    }

    fn is_leaf(entry: u64, level: u32) -> bool {
        entry & PRESENT != 0 && (level == 0 || entry & HUGE != 0)
    }

    fn entry_paddr(entry: u64) -> u64 {
        entry & ADDR_MASK
    }

    fn leaf_entry(paddr: u64, level: u32, attrs: LeafAttrs) -> u64 {
        let mut bits = (paddr & ADDR_MASK) | PRESENT;
        if attrs.user {
            bits |= USER;
            if attrs.write {
                bits |= WRITABLE;
            }
        }
        // Nothing runs from device memory, nor from a page user mode cannot read.
        if !attrs.execute || attrs.device || !attrs.user {
            bits |= NO_EXECUTE;
        }
        if attrs.device || !attrs.cacheable {
            bits |= CACHE_DISABLE | WRITE_THROUGH;
        }
        if level > 0 {
            bits |= HUGE;
        }
        bits
    }

    fn user_page_rights(entry: u64) -> Option<PageRights> {
        let usable = entry & (PRESENT | USER) == PRESENT | USER && entry & CACHE_DISABLE == 0;
        usable.then_some(PageRights {
            write: entry & WRITABLE != 0,
            execute: entry & NO_EXECUTE == 0,
        })
    }

    fn tables_written() {}

    fn flush_page(vaddr: u64) {
        // SAFETY: `invlpg` only drops a cached translation.
        unsafe { asm!("invlpg [{}]", in(reg) vaddr, options(nostack, preserves_flags)) }
    }

    fn flush_all() {
        // SAFETY: reloading the current root keeps the same mappings (the
        // kernel's included) and drops every cached user translation.
        unsafe { write_cr3(read_cr3()) }
    }

    fn sync_for_execute(_paddr: u64, _size: u64) {
        // x86 keeps instruction fetch coherent with data writes: nothing to do.
    }

    fn sync_for_uncached(_paddr: u64, _size: u64) {
        // x86 caches snoop uncached accesses: nothing to do.
    }

    fn init_root(root: u64) {
        let boot = boot_pml4();
        for i in 256..512 {
            write_entry(root, i, read_entry(boot, i));
        }
    }

    fn forget_root(root: u64) {
        if LOADED_ROOT.read() == root {
            // SAFETY: the boot PML4 maps the kernel, and no user memory.
            unsafe { load_root(boot_pml4()) }
        }
    }

    fn hardware_asids() -> u64 {
        // No PCIDs: ASIDs name VSpaces for the kernel only, all of them.
        1 << 16
    }
}
