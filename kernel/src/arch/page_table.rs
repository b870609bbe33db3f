//! What both architectures' page tables share: 4 KiB tables of 512 eight-byte
//! entries, indexed by 9 bits of the address per level above a 12-bit page
//! offset. Entry formats are each architecture's own.

use crate::arch::{Machine, Platform};

/// Where entry `index` (< 512, masked to the table) of the page table at
/// physical `table` is in the kernel window: a raw pointer, which the
/// paging code reads and writes one word at a time
/// (`arch::paging::{read_entry, write_entry}`).
pub fn entry(table: u64, index: usize) -> *mut u64 {
    Machine::phys_to_virt(table + 8 * (index as u64 & 0x1ff)) as *mut u64
}

/// Table index of `vaddr` at `level` (3: the root level; 0: the level that maps pages).
pub fn index(vaddr: u64, level: u32) -> usize {
    ((vaddr >> (12 + 9 * level)) & 0x1ff) as usize
}
