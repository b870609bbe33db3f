//! The local APIC, as far as the kernel uses it so far: asking whether an
//! interrupt is waiting (its Interrupt Request Register). Timer and IPI
//! programming come with the MCS scheduling issue.

use super::io::rdmsr;
use crate::arch::{Machine, Platform};

const MSR_APIC_BASE: u32 = 0x1b;
const APIC_BASE_MASK: u64 = 0x000f_ffff_ffff_f000;
/// Offset of the first of the eight 32-bit IRR registers (16 bytes apart).
const IRR: u64 = 0x200;

/// True when the local APIC holds a requested, not yet delivered interrupt.
pub fn interrupt_pending() -> bool {
    let base = rdmsr(MSR_APIC_BASE) & APIC_BASE_MASK;
    (0..8).any(|i| {
        let reg = Machine::phys_to_virt(base + IRR + 16 * i) as *const u32;
        // SAFETY: the local APIC's registers lie in the first 4 GiB, which the
        // boot window maps uncached; reading IRR has no side effects.
        unsafe { core::ptr::read_volatile(reg) != 0 }
    })
}
