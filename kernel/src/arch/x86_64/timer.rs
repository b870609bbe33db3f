//! The kernel's clock and one-shot timer on x86_64: time is the TSC, measured
//! at boot against the PIT. The timer is the local APIC's, in TSC-deadline mode
//! when CPUID says the CPU has it, otherwise in one-shot mode dividing by 1,
//! its rate measured against the TSC and deadlines converted with that measured
//! ratio (which is 1 under QEMU `-icount`; it is kept as a 32.32 fixed-point
//! number, never rounded down to an integer). The APIC registers are
//! `apic.rs`'s; delivering the interrupt is `trap.rs`'s.

use super::apic::{self, TimerMode};
use super::io::{read_tsc, wrmsr};
use super::{pit, trap};
use crate::arch::Timer;
use crate::kernel_cell::KernelCell;

const MSR_TSC_DEADLINE: u32 = 0x6e0;
/// CPUID.01H:ECX bit 24: the APIC timer has TSC-deadline mode.
const CPUID_TSC_DEADLINE: u32 = 1 << 24;
/// Fractional bits of [`APIC_PER_TSC`].
const RATIO_SHIFT: u32 = 32;
/// The APIC timer's start value while it is measured.
const MEASURE_START: u32 = u32::MAX;
/// Length of the APIC timer's measurement, as a fraction of a second: 10 ms.
const MEASURE_PER_SECOND: u64 = 100;
/// How far ahead the self-check arms the timer: 100 us.
const SELF_CHECK_PER_SECOND: u64 = 10_000;
/// How long the self-check waits for the interrupt: 1 s (generous: under
/// emulation the host may deschedule the machine for a while).
const SELF_CHECK_TIMEOUT_SECONDS: u64 = 1;

/// The TSC's frequency, measured at `init`.
static TSC_HZ: KernelCell<u64> = KernelCell::new(0);
/// True when the APIC timer runs in TSC-deadline mode.
static TSC_DEADLINE: KernelCell<bool> = KernelCell::new(false);
/// The deadline last set, in TSC ticks.
static DEADLINE: KernelCell<u64> = KernelCell::new(0);
/// False while the LVT timer entry is masked (from `init` until the first
/// `set_deadline`, which unmasks it once).
static UNMASKED: KernelCell<bool> = KernelCell::new(false);
/// APIC timer counts per TSC tick, fixed point with [`RATIO_SHIFT`] fractional
/// bits (one-shot mode only).
static APIC_PER_TSC: KernelCell<u64> = KernelCell::new(0);

/// The local APIC timer over the TSC.
pub struct LocalTimer;

impl Timer for LocalTimer {
    fn init() {
        apic::init();
        let tsc_hz = pit::tsc_frequency();
        TSC_HZ.write(tsc_hz);
        let tsc_deadline = core::arch::x86_64::__cpuid(1).ecx & CPUID_TSC_DEADLINE != 0;
        TSC_DEADLINE.write(tsc_deadline);
        if !tsc_deadline {
            APIC_PER_TSC.write(measure_apic_per_tsc(tsc_hz));
        }
        let fired_us = self_check(tsc_hz) * 1_000_000 / tsc_hz;
        apic::set_timer(mode(), true);
        UNMASKED.write(false);
        let tsc_mhz = tsc_hz / 1_000_000;
        if tsc_deadline {
            crate::kprintln!(
                "KEEL: timer: TSC {tsc_mhz} MHz, APIC timer in TSC-deadline mode; \
                 self-check interrupt after {fired_us} us"
            );
        } else {
            let ratio = u128::from(APIC_PER_TSC.read());
            let apic_mhz = ((u128::from(tsc_hz) * ratio) >> RATIO_SHIFT) / 1_000_000;
            let ratio = (ratio * 10_000 + (1 << (RATIO_SHIFT - 1))) >> RATIO_SHIFT;
            crate::kprintln!(
                "KEEL: timer: TSC {tsc_mhz} MHz, APIC timer {apic_mhz} MHz (one-shot, ratio \
                 {}.{:04}); self-check interrupt after {fired_us} us",
                ratio / 10_000,
                ratio % 10_000
            );
        }
    }

    fn ticks_per_second() -> u64 {
        TSC_HZ.read()
    }

    fn now() -> u64 {
        read_tsc()
    }

    fn set_deadline(deadline: u64) {
        DEADLINE.write(deadline);
        if !UNMASKED.replace(true) {
            apic::set_timer(mode(), false);
        }
        if TSC_DEADLINE.read() {
            // SAFETY: `mfence` only orders memory accesses: the LVT write
            // reaches the APIC before the WRMSR below, as the Intel SDM asks
            // for TSC-deadline mode.
            unsafe { core::arch::asm!("mfence", options(nostack, preserves_flags)) };
            // Writing 0 would disarm the timer: 1 is long past, so it fires at once.
            wrmsr(MSR_TSC_DEADLINE, deadline.max(1));
            return;
        }
        let delta = deadline.saturating_sub(read_tsc());
        let ratio = APIC_PER_TSC.read();
        // Rounded up, so the interrupt does not come before the deadline (as
        // far as the measured ratio is exact); at least 1, as 0 would stop the
        // timer; at most what the counter holds (the scheduler re-arms on
        // every kernel exit, and `rearm` on an interrupt that came early).
        let counts = (u128::from(delta) * u128::from(ratio)).div_ceil(1 << RATIO_SHIFT);
        apic::set_timer_count(u32::try_from(counts).unwrap_or(u32::MAX).max(1));
    }
}

/// The LVT timer mode `init` chose.
fn mode() -> TimerMode {
    if TSC_DEADLINE.read() {
        TimerMode::TscDeadline
    } else {
        TimerMode::OneShot
    }
}

/// True when the TSC has reached the deadline last set. A timer interrupt
/// can arrive before that: the APIC latches a request while interrupts are
/// masked, which a later `set_deadline` does not withdraw, and in one-shot mode
/// the APIC's measured rate is not exact. The trap code passes only interrupts
/// for a reached deadline on to the scheduler, and re-arms on the others.
pub fn deadline_reached() -> bool {
    read_tsc() >= DEADLINE.read()
}

/// Arms the timer again for the deadline last set.
pub fn rearm() {
    LocalTimer::set_deadline(DEADLINE.read());
}

/// Runs the masked APIC timer from [`MEASURE_START`] for 10 ms of TSC ticks;
/// returns its counts per TSC tick in fixed point. The TSC is read on both
/// sides of starting the timer and of reading its count, and the midpoints
/// taken as when those happened.
fn measure_apic_per_tsc(tsc_hz: u64) -> u64 {
    apic::set_timer(TimerMode::OneShot, true);
    let before_start = read_tsc();
    apic::set_timer_count(MEASURE_START);
    let after_start = read_tsc();
    while read_tsc() - after_start < tsc_hz / MEASURE_PER_SECOND {}
    let before_end = read_tsc();
    let count = apic::timer_count();
    let after_end = read_tsc();
    apic::set_timer_count(0);
    let counted = u64::from(MEASURE_START - count);
    let elapsed = before_end.midpoint(after_end) - before_start.midpoint(after_start);
    assert!(counted > 0, "KEEL: timer: the APIC timer does not count");
    u64::try_from((u128::from(counted) << RATIO_SHIFT) / u128::from(elapsed))
        .expect("invariant: the APIC timer counts slower than 2^32 per TSC tick")
}

/// Arms the timer 100 us ahead and waits, interrupts masked, until the APIC
/// requests the interrupt; then takes and ends it, as the idle loop would.
/// Returns the TSC ticks from arming until it was requested.
///
/// # Panics
/// If it is not requested within 1 s: the timer does not work here.
fn self_check(tsc_hz: u64) -> u64 {
    let start = read_tsc();
    LocalTimer::set_deadline(start + tsc_hz / SELF_CHECK_PER_SECOND);
    let timeout = tsc_hz * SELF_CHECK_TIMEOUT_SECONDS;
    while !apic::requested(apic::TIMER_VECTOR) {
        assert!(
            read_tsc() - start < timeout,
            "KEEL: timer: the APIC timer interrupt did not fire within 1 s"
        );
    }
    let waited = read_tsc() - start;
    let vector = trap::wait_for_interrupt();
    assert!(
        vector == Some(apic::TIMER_VECTOR),
        "KEEL: timer: the APIC timer interrupt was requested, but {vector:?} was delivered"
    );
    apic::end_of_interrupt();
    waited
}
