//! The MMU's configuration (MAIR, TCR, SCTLR values and descriptor bits) shared
//! by the boot tables and user page tables, and the few system-register
//! operations on translation: switching TTBR0, TLB maintenance, waiting.
//! Building tables is `boot` (kernel window) and `vspace` (user) work.

use core::arch::asm;

/// MAIR index of normal write-back cacheable memory.
pub const ATTR_NORMAL: u64 = 0;
/// MAIR index of device nGnRE memory.
pub const ATTR_DEVICE: u64 = 1;
/// MAIR index of normal non-cacheable memory.
pub const ATTR_NORMAL_UNCACHED: u64 = 2;
/// MAIR_EL1: attribute 0 normal inner/outer write-back read/write-allocate,
/// attribute 1 device nGnRE, attribute 2 normal inner/outer non-cacheable.
pub const MAIR: u64 = 0xff | (0x04 << 8) | (0x44 << 16);

/// TCR_EL1 without IPS and AS (both filled in from ID_AA64MMFR0_EL1 at boot):
/// 48-bit VAs in both halves, 4 KiB granules, inner-shareable write-back
/// table walks, the ASID taken from TTBR0.
pub const TCR: u64 = 16 // T0SZ
    | (0b01 << 8) // IRGN0: write-back write-allocate
    | (0b01 << 10) // ORGN0
    | (0b11 << 12) // SH0: inner shareable; TG0 (bits 15:14) = 0: 4 KiB
    | (16 << 16) // T1SZ
    | (0b01 << 24) // IRGN1
    | (0b01 << 26) // ORGN1
    | (0b11 << 28) // SH1
    | (0b10 << 30); // TG1: 4 KiB

/// TCR_EL1.AS: 16-bit ASIDs (set at boot when the CPU has them; 8 otherwise).
pub const TCR_AS: u64 = 1 << 36;
/// Where TTBR0_EL1 holds the ASID.
pub const TTBR_ASID_SHIFT: u32 = 48;

/// SCTLR_EL1 bits that are RES1 on ARMv8.0.
pub const SCTLR_RES1: u64 = (1 << 11) | (1 << 20) | (1 << 22) | (1 << 23) | (1 << 28) | (1 << 29);
/// SCTLR_EL1 with the MMU on: caches on, SP alignment checks at EL1 and EL0,
/// EL0 may use `dc zva` and read CTR_EL0 (compilers use both), no alignment
/// checks on ordinary loads and stores, WFI/WFE from EL0 trapped.
pub const SCTLR_MMU_ON: u64 = SCTLR_RES1
    | (1 << 0) // M
    | (1 << 2) // C
    | (1 << 3) // SA
    | (1 << 4) // SA0
    | (1 << 12) // I
    | (1 << 14) // DZE
    | (1 << 15); // UCT

/// Descriptor: valid.
pub const VALID: u64 = 1 << 0;
/// Descriptor at levels 0-2: points to a next-level table (with `VALID`).
pub const TABLE: u64 = 1 << 1;
/// Descriptor at level 3: a page (with `VALID`).
pub const PAGE: u64 = 1 << 1;
/// AP[1]: EL0 may access.
pub const AP_USER: u64 = 1 << 6;
/// AP[2]: read-only at every EL.
pub const AP_READ_ONLY: u64 = 1 << 7;
/// SH: inner shareable.
pub const INNER_SHAREABLE: u64 = 0b11 << 8;
/// Access flag (no access-flag faults: the kernel never clears it).
pub const ACCESS: u64 = 1 << 10;
/// Not global: the TLB entry belongs to the current ASID.
pub const NOT_GLOBAL: u64 = 1 << 11;
/// Privileged execute-never.
pub const PXN: u64 = 1 << 53;
/// Unprivileged execute-never.
pub const UXN: u64 = 1 << 54;
/// Table descriptor: nothing below is executable at EL1.
pub const PXN_TABLE: u64 = 1 << 59;
/// Output-address bits of a descriptor.
pub const ADDR_MASK: u64 = 0x0000_ffff_ffff_f000;

/// Level-1 block descriptor for 1 GiB of normal kernel memory (EL1 only).
pub const KERNEL_NORMAL_BLOCK: u64 = VALID | (ATTR_NORMAL << 2) | INNER_SHAREABLE | ACCESS | UXN;
/// Level-1 block descriptor for 1 GiB of device memory (EL1 only, never executable).
pub const KERNEL_DEVICE_BLOCK: u64 = VALID | (ATTR_DEVICE << 2) | ACCESS | UXN | PXN;

/// The current TTBR0_EL1 (user page-table root and ASID).
pub fn read_ttbr0() -> u64 {
    let value: u64;
    // SAFETY: reading TTBR0_EL1 has no side effects.
    unsafe { asm!("mrs {}, ttbr0_el1", out(reg) value, options(nomem, nostack, preserves_flags)) };
    value
}

/// Switches the user half to the tables and ASID in `ttbr` (the root's
/// physical address, the ASID at [`TTBR_ASID_SHIFT`]). Translations are
/// tagged with their ASID (user pages are not global), so nothing cached
/// for another address space is used and nothing needs flushing here: an
/// ASID's translations are dropped before it is given out again.
///
/// # Safety
/// The root must be a level-0 table the kernel owns, and the ASID its own
/// (or 0 for a table that maps nothing). The kernel itself runs from TTBR1,
/// so any such table keeps it mapped.
#[inline(always)]
pub unsafe fn write_ttbr0(ttbr: u64) {
    // SAFETY: the caller guarantees a valid root and ASID; the barriers make
    // earlier table writes visible to the walker and the new root take
    // effect before the return to EL0.
    unsafe {
        asm!(
            "dsb ishst",
            "msr ttbr0_el1, {}",
            "isb",
            in(reg) ttbr,
            options(nostack, preserves_flags)
        )
    };
}

/// How many ASIDs translations can be tagged with: 2^16 with TCR_EL1.AS
/// set (boot sets it when the CPU has 16-bit ASIDs), 2^8 otherwise.
pub fn hardware_asids() -> u64 {
    let tcr: u64;
    // SAFETY: reading TCR_EL1 has no side effects.
    unsafe { asm!("mrs {}, tcr_el1", out(reg) tcr, options(nomem, nostack, preserves_flags)) };
    if tcr & TCR_AS != 0 {
        1 << 16
    } else {
        1 << 8
    }
}

/// Makes page-table writes visible to the table walker.
pub fn table_write_barrier() {
    // SAFETY: a barrier only orders memory accesses.
    unsafe { asm!("dsb ishst", "isb", options(nostack, preserves_flags)) };
}

/// Drops the cached translations of user address `vaddr` for every ASID.
pub fn flush_page(vaddr: u64) {
    // SAFETY: TLB maintenance only drops cached translations; the barriers
    // order it after the table write and before later accesses.
    unsafe {
        asm!(
            "dsb ishst",
            "tlbi vaae1is, {}",
            "dsb ish",
            "isb",
            in(reg) (vaddr >> 12) & ((1 << 44) - 1),
            options(nostack, preserves_flags)
        )
    };
}

/// Drops every cached EL1/EL0 translation.
pub fn flush_all() {
    // SAFETY: as for `flush_page`; the kernel's own translations are refetched.
    unsafe {
        asm!(
            "dsb ishst",
            "tlbi vmalle1is",
            "dsb ish",
            "isb",
            options(nostack, preserves_flags)
        )
    };
}

/// Masks interrupts and waits for one (which, masked, only wakes the core).
pub fn wait_for_interrupt() {
    // SAFETY: masking interrupts and waiting only stop this core.
    unsafe {
        asm!(
            "msr daifset, #0xf",
            "wfi",
            options(nomem, nostack, preserves_flags)
        )
    };
}

/// True when an IRQ or FIQ is pending at this CPU (ISR_EL1.I or .F).
pub fn interrupt_pending() -> bool {
    let isr: u64;
    // SAFETY: reading ISR_EL1 has no side effects.
    unsafe {
        core::arch::asm!("mrs {}, isr_el1", out(reg) isr, options(nomem, nostack, preserves_flags))
    };
    isr & 0b1100_0000 != 0
}

/// Cleans the data cache to the point of unification and invalidates the
/// instruction cache over `len` bytes at kernel address `start`, so code
/// written through data accesses is fetched correctly (line sizes from CTR_EL0).
pub fn sync_instruction_cache(start: usize, len: usize) {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects.
    unsafe {
        core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags))
    };
    let data_line = 4usize << ((ctr >> 16) & 0xf);
    let instruction_line = 4usize << (ctr & 0xf);
    let end = start.saturating_add(len);
    for line in (start & !(data_line - 1)..end).step_by(data_line) {
        // SAFETY: `line` lies in the kernel window over a frame the caller owns;
        // cleaning a cache line does not change memory contents.
        unsafe { core::arch::asm!("dc cvau, {}", in(reg) line, options(nostack, preserves_flags)) };
    }
    // SAFETY: a barrier only orders the maintenance above.
    unsafe { core::arch::asm!("dsb ish", options(nostack, preserves_flags)) };
    for line in (start & !(instruction_line - 1)..end).step_by(instruction_line) {
        // SAFETY: invalidating instruction-cache lines only drops cached copies.
        unsafe { core::arch::asm!("ic ivau, {}", in(reg) line, options(nostack, preserves_flags)) };
    }
    // SAFETY: barriers only order the maintenance above before later fetches.
    unsafe { core::arch::asm!("dsb ish", "isb", options(nostack, preserves_flags)) };
}

/// Cleans and invalidates the data cache to the point of coherency over `len`
/// bytes at kernel address `start`, so an uncached mapping of that RAM sees
/// what the kernel wrote through its cacheable window (and no stale lines).
pub fn clean_and_invalidate_to_coherency(start: usize, len: usize) {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects.
    unsafe {
        core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags))
    };
    let line = 4usize << ((ctr >> 16) & 0xf);
    for at in (start & !(line - 1)..start.saturating_add(len)).step_by(line) {
        // SAFETY: `at` lies in the kernel window over RAM the caller owns;
        // cleaning and invalidating a line keeps memory's contents.
        unsafe { core::arch::asm!("dc civac, {}", in(reg) at, options(nostack, preserves_flags)) };
    }
    // SAFETY: a barrier only orders the maintenance above.
    unsafe { core::arch::asm!("dsb sy", options(nostack, preserves_flags)) };
}

/// DCZID_EL0.DZP: `dc zva` is prohibited.
const DCZID_PROHIBITED: u64 = 1 << 4;

/// Zeroes `len` bytes at kernel address `start`: `dc zva` over the whole
/// zeroing blocks inside the range (their size from DCZID_EL0), four per
/// loop turn while four remain, and plain stores for the ends. Under QEMU a
/// 4 KiB page takes about 170 instructions this way against about 1,550
/// for a loop of 8-byte stores.
///
/// # Safety
/// The range must be writable Normal memory that nothing else references.
pub unsafe fn zero(start: usize, len: usize) {
    let dczid: u64;
    // SAFETY: reading DCZID_EL0 has no side effects.
    unsafe { asm!("mrs {}, dczid_el0", out(reg) dczid, options(nomem, nostack, preserves_flags)) };
    let block = 4usize << (dczid & 0xf);
    let end = start + len;
    let low = start.next_multiple_of(block);
    let high = end & !(block - 1);
    if dczid & DCZID_PROHIBITED != 0 || low >= high {
        // SAFETY: the caller's guarantee for the whole range.
        unsafe { core::ptr::write_bytes(start as *mut u8, 0, len) };
        return;
    }
    let quads = low + (high - low) / (4 * block) * (4 * block);
    // SAFETY: `start..low` and `high..end` lie in the caller's range.
    unsafe { super::super::zero_ends(start, low, high, end) };
    let mut at = low;
    if at < quads {
        // SAFETY: every block zeroed lies in `low..quads`, inside the
        // caller's range; `dc zva` writes zeros and nothing else.
        unsafe {
            asm!(
                "2:",
                "dc zva, {at}",
                "add {at}, {at}, {block}",
                "dc zva, {at}",
                "add {at}, {at}, {block}",
                "dc zva, {at}",
                "add {at}, {at}, {block}",
                "dc zva, {at}",
                "add {at}, {at}, {block}",
                "cmp {at}, {quads}",
                "b.lo 2b",
                at = inout(reg) at,
                block = in(reg) block,
                quads = in(reg) quads,
                options(nostack)
            )
        };
    }
    while at < high {
        // SAFETY: as above, for the block at `at` in `quads..high`.
        unsafe { asm!("dc zva, {}", in(reg) at, options(nostack, preserves_flags)) };
        at += block;
    }
}
