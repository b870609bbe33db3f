//! The kernel's clock and one-shot timer on aarch64: the generic timer's
//! virtual counter (CNTVCT_EL0, at CNTFRQ_EL0) and the EL1 virtual timer
//! (CNTV_CVAL_EL0 / CNTV_CTL_EL0), which raises PPI 27. Boot (`boot.rs`) zeroes
//! CNTVOFF_EL2 when entered at EL2. Routing the PPI is `gic.rs`'s; delivering
//! it is `trap.rs`'s.
//!
//! The EL1 physical timer (PPI 30) the kernel leaves to user level: EL0 may
//! program it (CNTKCTL_EL1.EL0PTEN), as seL4 exports it with
//! `KernelArmExportPTMRUser`, and read the physical counter and its
//! frequency (CNTKCTL_EL1.EL0PCTEN, seL4's `KernelArmExportPCNTUser`), which
//! the timer server keeps its clock by; its interrupt goes to whoever holds the
//! IRQHandler for PPI 30. Any thread may program the timer, but its
//! interrupt reaches only that handler, and the kernel's clock and timer
//! (the virtual ones) are untouched by it.

use super::{gic, mmu};
use crate::arch::Timer;
use core::arch::asm;

/// The virtual timer's interrupt: PPI 11, INTID 27.
pub const TIMER_IRQ: u32 = 27;
/// CNTKCTL_EL1.EL0PTEN: EL0 may use the physical timer's registers.
const CNTKCTL_EL0PTEN: u64 = 1 << 9;
/// CNTKCTL_EL1.EL0PCTEN: EL0 may read CNTPCT_EL0 and CNTFRQ_EL0.
const CNTKCTL_EL0PCTEN: u64 = 1 << 0;
/// CNTV_CTL_EL0.ENABLE; IMASK (bit 1) stays clear, so an enabled timer whose
/// deadline has passed asserts its interrupt.
const CTL_ENABLE: u64 = 1 << 0;
/// CNTV_CTL_EL0.ISTATUS: the counter has reached CNTV_CVAL_EL0 (meaningful
/// only while the timer is enabled).
const CTL_ISTATUS: u64 = 1 << 2;
/// The self-check's deadline, as a fraction of a second: 100 us.
const SELF_CHECK_PER_SECOND: u64 = 10_000;
/// How long the self-check waits for the interrupt: 1 s (generous: under
/// emulation the host may deschedule the machine for a while).
const SELF_CHECK_TIMEOUT_SECONDS: u64 = 1;

/// The EL1 virtual timer.
pub struct LocalTimer;

impl Timer for LocalTimer {
    fn init() {
        disarm();
        // SAFETY: gives EL0 the physical timer's registers and the physical
        // counter, and nothing else (EL0 keeps no access to the virtual
        // counter or the virtual timer, the kernel's).
        unsafe {
            asm!("msr cntkctl_el1, {}", "isb", in(reg) CNTKCTL_EL0PTEN | CNTKCTL_EL0PCTEN, options(nomem, nostack, preserves_flags))
        };
        gic::enable(TIMER_IRQ);
        let hz = Self::ticks_per_second();
        assert!(
            hz > 0,
            "KEEL: timer: CNTFRQ_EL0 is 0; the firmware did not set it"
        );
        let waited = self_check(hz);
        crate::kprintln!(
            "KEEL: timer: generic timer {} MHz (virtual); self-check interrupt after {} us",
            hz / 1_000_000,
            waited * 1_000_000 / hz
        );
    }

    fn ticks_per_second() -> u64 {
        let hz: u64;
        // SAFETY: reading CNTFRQ_EL0 has no side effects.
        unsafe {
            asm!("mrs {}, cntfrq_el0", out(reg) hz, options(nomem, nostack, preserves_flags))
        };
        hz
    }

    fn now() -> u64 {
        let ticks: u64;
        // SAFETY: reading the counter has no side effects; the ISB keeps the
        // read from being taken early, before the instructions preceding it.
        unsafe {
            asm!("isb", "mrs {}, cntvct_el0", out(reg) ticks, options(nomem, nostack, preserves_flags))
        };
        ticks
    }

    fn set_deadline(deadline: u64) {
        // SAFETY: programming the virtual timer only decides when PPI 27 is
        // raised; the ISB makes the new deadline take effect before the kernel
        // goes on (and so before it leaves for user mode or idles).
        unsafe {
            asm!(
                "msr cntv_cval_el0, {deadline}",
                "msr cntv_ctl_el0, {enable}",
                "isb",
                deadline = in(reg) deadline,
                enable = in(reg) CTL_ENABLE,
                options(nomem, nostack, preserves_flags)
            )
        };
    }
}

/// True when the timer is armed and its deadline has been reached. The GIC
/// can still signal the timer's interrupt after `set_deadline` moved the
/// deadline on (it latched the request while interrupts were masked); the trap
/// code passes only interrupts for a reached deadline on to the scheduler.
pub fn deadline_reached() -> bool {
    let ctl: u64;
    // SAFETY: reading CNTV_CTL_EL0 has no side effects.
    unsafe { asm!("mrs {}, cntv_ctl_el0", out(reg) ctl, options(nomem, nostack, preserves_flags)) };
    ctl & CTL_ENABLE != 0 && ctl & CTL_ISTATUS != 0
}

/// Turns the timer off, which deasserts its interrupt until the next
/// `set_deadline`: how a timer interrupt is acknowledged at the source.
pub fn disarm() {
    // SAFETY: disabling the virtual timer only stops it raising PPI 27.
    unsafe {
        asm!(
            "msr cntv_ctl_el0, xzr",
            "isb",
            options(nomem, nostack, preserves_flags)
        )
    };
}

/// Arms the timer 100 us ahead and waits, interrupts masked, until the GIC
/// signals it; then acknowledges and ends it. Returns the ticks from arming
/// until it was signalled.
///
/// # Panics
/// If it is not signalled within 1 s, or something else is.
fn self_check(hz: u64) -> u64 {
    let start = LocalTimer::now();
    LocalTimer::set_deadline(start + hz.div_ceil(SELF_CHECK_PER_SECOND));
    let timeout = hz * SELF_CHECK_TIMEOUT_SECONDS;
    while !mmu::interrupt_pending() {
        assert!(
            LocalTimer::now() - start < timeout,
            "KEEL: timer: the virtual timer interrupt (PPI 27) did not fire within 1 s"
        );
    }
    let waited = LocalTimer::now() - start;
    let iar = gic::acknowledge();
    disarm();
    if let Some(iar) = iar {
        gic::end(iar);
    }
    let id = iar.map(gic::id);
    assert!(
        id == Some(TIMER_IRQ),
        "KEEL: timer: expected the virtual timer interrupt (27), the GIC signalled {id:?}"
    );
    waited
}
