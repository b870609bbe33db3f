//! The performance monitor's cycle counter (PMCCNTR_EL0): enabled at boot and
//! readable from EL0, so the kernel and benchmarks time work with one counter.
//! Under QEMU's `-icount shift=0` it advances by one per guest instruction.

use core::arch::asm;

/// Starts the cycle counter and lets EL0 read it.
pub fn init() {
    // SAFETY: PMCR_EL0.E|C (enable, reset cycle counter), PMCNTENSET_EL0.C
    // (count cycles) and PMUSERENR_EL0.EN|CR (EL0 may read the counters) only
    // configure the performance monitor; no memory is involved.
    unsafe {
        asm!(
            "msr pmcr_el0, {pmcr}",
            "msr pmcntenset_el0, {enable}",
            "msr pmuserenr_el0, {user}",
            "isb",
            pmcr = in(reg) 0b101u64,
            enable = in(reg) 1u64 << 31,
            user = in(reg) 0b101u64,
            options(nomem, nostack, preserves_flags)
        );
    }
}

/// The cycle counter.
pub fn cycles() -> u64 {
    let value: u64;
    // SAFETY: reading PMCCNTR_EL0 has no side effects.
    unsafe {
        asm!("isb", "mrs {}, pmccntr_el0", out(reg) value, options(nomem, nostack, preserves_flags))
    };
    value
}
