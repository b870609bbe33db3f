//! The local APIC's registers (xAPIC, memory-mapped): software enable and the
//! spurious vector, the request and in-service registers, end of interrupt,
//! and the timer's LVT entry, divider and counters. Deciding what the timer
//! counts and when it fires is `timer.rs`'s job; IPIs are not here, and the
//! I/O APIC is `ioapic.rs`.

use super::io::rdmsr;
use crate::arch::{Machine, Platform};
use crate::kernel_cell::KernelCell;

const MSR_APIC_BASE: u32 = 0x1b;
const APIC_BASE_MASK: u64 = 0x000f_ffff_ffff_f000;
/// The local APIC's ID (bits 24..32).
const ID: u64 = 0x020;
/// Task priority: 0 lets every vector through.
const TPR: u64 = 0x080;
const EOI: u64 = 0x0b0;
/// Spurious-interrupt vector register: bit 8 software-enables the APIC.
const SVR: u64 = 0x0f0;
const SVR_ENABLE: u32 = 1 << 8;
/// The first of the eight 32-bit interrupt request registers (16 bytes apart).
const IRR: u64 = 0x200;
const LVT_TIMER: u64 = 0x320;
/// The local interrupt pins: LINT0 carries the 8259s' requests (ExtINT),
/// LINT1 usually NMI.
const LVT_LINT0: u64 = 0x350;
const LVT_LINT1: u64 = 0x360;
const TIMER_INITIAL_COUNT: u64 = 0x380;
const TIMER_CURRENT_COUNT: u64 = 0x390;
const TIMER_DIVIDE: u64 = 0x3e0;
/// Divide configuration 0b1011: the timer counts at the APIC's base rate.
const DIVIDE_BY_1: u32 = 0b1011;
/// LVT mask bit: the entry raises no interrupt.
const LVT_MASKED: u32 = 1 << 16;

/// The vector the APIC raises when it has nothing to deliver after all. It
/// sets no in-service bit and must not be acknowledged.
pub const SPURIOUS_VECTOR: u8 = 0xff;
/// The vector of the local timer: above the range the masked 8259s were
/// remapped to (0x20..0x30), so a spurious PIC interrupt is never taken for it.
pub const TIMER_VECTOR: u8 = 0x30;

/// Timer mode bits of the LVT timer entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerMode {
    /// Counts down from the initial count once, interrupts at zero.
    OneShot = 0b00 << 17,
    /// Interrupts when the TSC reaches IA32_TSC_DEADLINE.
    TscDeadline = 0b10 << 17,
}

/// Physical address of the APIC's registers, read from IA32_APIC_BASE at `init`.
static BASE: KernelCell<u64> = KernelCell::new(0);

fn register(offset: u64) -> *mut u32 {
    Machine::phys_to_virt(BASE.read() + offset) as *mut u32
}

fn read(offset: u64) -> u32 {
    // SAFETY: the local APIC's registers lie in the first 4 GiB, which the boot
    // window maps uncached; the offsets are architectural registers, and the
    // ones read here (IRR, counters, SVR) have no read side effects.
    unsafe { core::ptr::read_volatile(register(offset)) }
}

fn write(offset: u64, value: u32) {
    // SAFETY: as for `read`; the kernel alone programs the local APIC.
    unsafe { core::ptr::write_volatile(register(offset), value) }
}

/// Finds the APIC, software-enables it with [`SPURIOUS_VECTOR`], lets every
/// priority through, and leaves the timer masked, dividing by 1. Both local
/// interrupt pins are masked: Keel takes nothing from the 8259s, whose
/// requests (a spurious IRQ 7 while they are being masked, say) would
/// otherwise arrive as ExtINT vectors the APIC never marks in service (under
/// KVM the firmware leaves LINT0 in ExtINT mode).
pub fn init() {
    BASE.write(rdmsr(MSR_APIC_BASE) & APIC_BASE_MASK);
    write(LVT_LINT0, LVT_MASKED);
    write(LVT_LINT1, LVT_MASKED);
    write(LVT_TIMER, LVT_MASKED | u32::from(TIMER_VECTOR));
    write(TIMER_INITIAL_COUNT, 0);
    write(TIMER_DIVIDE, DIVIDE_BY_1);
    write(TPR, 0);
    write(SVR, SVR_ENABLE | u32::from(SPURIOUS_VECTOR));
}

/// This CPU's local APIC ID, the destination of the interrupts routed to it.
pub fn id() -> u32 {
    read(ID) >> 24
}

/// True when the local APIC holds a requested, not yet delivered interrupt.
/// IRR's first word (vectors 0-31, the exceptions) never holds one, so it
/// is not read: a preemption point asks this often (once per cap a revoke
/// deletes, once per chunk of memory a retype clears).
pub fn interrupt_pending() -> bool {
    (1..8).any(|i| read(IRR + 16 * i) != 0)
}

/// Bit `vector` of the 256-bit register array at `first`.
fn vector_bit(first: u64, vector: u8) -> bool {
    let v = u64::from(vector);
    read(first + 16 * (v / 32)) & (1 << (v % 32)) != 0
}

/// True when `vector` is requested and not yet delivered.
pub fn requested(vector: u8) -> bool {
    vector_bit(IRR, vector)
}

/// Ends the highest-priority interrupt in service (EOI).
pub fn end_of_interrupt() {
    write(EOI, 0);
}

/// Programs the LVT timer entry: `mode`, [`TIMER_VECTOR`], masked or not.
pub fn set_timer(mode: TimerMode, masked: bool) {
    let mask = if masked { LVT_MASKED } else { 0 };
    write(LVT_TIMER, mode as u32 | mask | u32::from(TIMER_VECTOR));
}

/// Starts (one-shot mode) the timer counting down from `count`; 0 stops it.
pub fn set_timer_count(count: u32) {
    write(TIMER_INITIAL_COUNT, count);
}

/// The timer's current count.
pub fn timer_count() -> u32 {
    read(TIMER_CURRENT_COUNT)
}
