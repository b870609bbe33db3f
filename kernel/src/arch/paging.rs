//! The page-table vocabulary the address-space objects (`object::vspace`) use
//! on both architectures: what an entry says (table, leaf, address), how a
//! leaf is built from rights and attributes, and the TLB maintenance that
//! goes with changing entries. Each architecture implements
//! [`PagingFormat`] on its `VSpace`; walking and the seL4 rules are the
//! objects' own.
//!
//! Levels: 3 is the root (address bits 39..48), 2 a PageUpperDirectory
//! (30..39), 1 a PageDirectory (21..30; its leaves are 2 MiB blocks), 0 a
//! PageTable (12..21; its leaves are 4 KiB pages).

use crate::arch::page_table::entry;
use crate::arch::PageRights;

/// How a leaf mapping may be used and cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafAttrs {
    /// User mode may read (and, with `write`, write); without it the page is
    /// the kernel's only.
    pub user: bool,
    /// User mode may write.
    pub write: bool,
    /// User mode may execute.
    pub execute: bool,
    /// Normal memory, cached (else uncached normal memory).
    pub cacheable: bool,
    /// Device memory (uncached, no speculation); overrides `cacheable`.
    pub device: bool,
}

/// An architecture's page-table entries and TLB maintenance.
pub trait PagingFormat {
    /// First address past the user half.
    const USER_TOP: u64;
    /// Frame_Map's order, as seL4 has it on each architecture: true when a
    /// frame cap's placement (where a mapped cap is mapped, where an unmapped
    /// one would end) is checked before the VSpace's ASID is looked up and
    /// the address's alignment checked (x86_64), false when after (aarch64).
    const MAP_CHECKS_PLACEMENT_FIRST: bool;
    /// An entry at level 1..=3 pointing to the next-level table at `paddr`.
    fn table_entry(paddr: u64) -> u64;
    /// True when `entry` (at level 1..=3) points to a next-level table.
    fn is_table(entry: u64) -> bool;
    /// True when `entry` maps anything: a table, a block or a page.
    fn is_valid(entry: u64) -> bool;
    /// True when `entry` at `level` is a leaf: a page at level 0, a block at 1.
    fn is_leaf(entry: u64, level: u32) -> bool;
    /// The physical address an entry points to.
    fn entry_paddr(entry: u64) -> u64;
    /// A leaf at `level` (0: 4 KiB page, 1: 2 MiB block) for `paddr`.
    fn leaf_entry(paddr: u64, level: u32, attrs: LeafAttrs) -> u64;
    /// The rights of a 4 KiB page entry that user mode may use and that maps
    /// normal cacheable memory; `None` for anything else (the kernel never
    /// reads user memory through uncached or device mappings).
    fn user_page_rights(entry: u64) -> Option<PageRights>;
    /// Makes entries just written (to previously invalid entries) visible to
    /// the table walker.
    fn tables_written();
    /// After a leaf at `vaddr` was changed or removed: drops its cached
    /// translation, whatever the address space and ASID.
    fn flush_page(vaddr: u64);
    /// After a table was removed, or an ASID taken back: drops every cached
    /// user translation, under every ASID.
    fn flush_all();
    /// Before the frame at `paddr` (`size` bytes) is mapped executable: makes
    /// instruction fetch see what was written to it through data accesses.
    fn sync_for_execute(paddr: u64, size: u64);
    /// Before the RAM frame at `paddr` (`size` bytes) is mapped uncached: makes
    /// memory hold what was written through cacheable mappings.
    fn sync_for_uncached(paddr: u64, size: u64);
    /// Prepares a freshly retyped, zeroed root table (x86_64 copies the
    /// kernel's half into it).
    fn init_root(root: u64);
    /// The root table at `root` is being destroyed: if it is the current one,
    /// switch to one that maps no user memory, so it is never used again.
    /// Translations cached from it stay: the caller then calls
    /// [`PagingFormat::flush_all`], before the tables' memory or the VSpace's
    /// ASID can be used again.
    fn forget_root(root: u64);
    /// How many ASIDs the hardware can tag translations with (aarch64: 2^16
    /// or 2^8, as the CPU has them; x86_64, which does not use PCIDs, tags
    /// none and takes every ASID). `AsidPool_Assign` gives out none at or
    /// above it.
    fn hardware_asids() -> u64;
}

/// Entry `index` (< 512) of the paging structure at physical `table`.
pub fn read_entry(table: u64, index: usize) -> u64 {
    // SAFETY: `table` is a page-table page the kernel owns (allocated at
    // boot, by the boot assembly, or retyped and named by a cap), mapped in
    // the window; `entry` keeps the index inside it. A plain word read.
    unsafe { entry(table, index).read() }
}

/// Sets entry `index` (< 512) of the paging structure at physical `table`.
/// Callers pass tables that caps or walks from a VSpace root name.
pub fn write_entry(table: u64, index: usize, value: u64) {
    // SAFETY: as for `read_entry`; a plain word write.
    unsafe { entry(table, index).write(value) }
}
