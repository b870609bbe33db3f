//! What both architectures' page tables share: 4 KiB tables of 512 eight-byte
//! entries, indexed by 9 bits of the address per level above a 12-bit page
//! offset. Entry formats are each architecture's own.

use crate::arch::{Machine, Platform};

/// The entry `index` (< 512) of the page table at physical `table`.
pub fn entry(table: u64, index: usize) -> &'static mut u64 {
    let ptr = Machine::phys_to_virt(table + 8 * (index as u64 & 0x1ff)) as *mut u64;
    // SAFETY: `table` is a page-table page owned by the kernel (allocated at
    // boot, or by the boot assembly), mapped in the window, and the index is
    // masked to the table. Entries are plain words; callers do not keep the
    // reference past their walk.
    unsafe { &mut *ptr }
}

/// Table index of `vaddr` at `level` (3: the root level; 0: the level that maps pages).
pub fn index(vaddr: u64, level: u32) -> usize {
    ((vaddr >> (12 + 9 * level)) & 0x1ff) as usize
}
