//! The I/O APIC of QEMU q35 (one, at 0xfec0_0000, 24 pins): boot masks every
//! pin; an IRQControl_GetIOAPIC request routes one pin to the vector of an
//! IRQ (fixed delivery to this CPU, the trigger and polarity asked for),
//! masked until the handler's Ack. The redirection table is reached through
//! the index/data window (IOREGSEL, IOWIN).

use super::apic;
use crate::arch::{Machine, Platform};

const BASE: u64 = 0xfec0_0000;
const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;
const REG_VERSION: u32 = 0x01;
const REG_REDIRECTION: u32 = 0x10;
/// Redirection entry (low word) bits.
const MASKED: u32 = 1 << 16;
const LEVEL: u32 = 1 << 15;
const ACTIVE_LOW: u32 = 1 << 13;

fn register(offset: u64) -> *mut u32 {
    Machine::phys_to_virt(BASE + offset) as *mut u32
}

fn read(reg: u32) -> u32 {
    // SAFETY: the I/O APIC's window lies in the last GiB below 4 GiB, which
    // the boot window maps uncached; IOREGSEL selects a register and IOWIN
    // reads it, and the kernel alone programs the I/O APIC, with interrupts
    // disabled, so no other access comes between the two.
    unsafe {
        core::ptr::write_volatile(register(IOREGSEL), reg);
        core::ptr::read_volatile(register(IOWIN))
    }
}

fn write(reg: u32, value: u32) {
    // SAFETY: as for `read`.
    unsafe {
        core::ptr::write_volatile(register(IOREGSEL), reg);
        core::ptr::write_volatile(register(IOWIN), value);
    }
}

/// Number of pins (redirection entries).
pub fn pins() -> u32 {
    ((read(REG_VERSION) >> 16) & 0xff) + 1
}

/// Masks every pin (boot).
pub fn init() {
    for pin in 0..pins() {
        write(REG_REDIRECTION + 2 * pin, MASKED);
    }
}

/// Routes `pin` to `vector` on this CPU, level- or edge-triggered, active
/// low or high, masked.
pub fn route(pin: u32, vector: u8, level: bool, active_low: bool) {
    let mut low = MASKED | u32::from(vector);
    if level {
        low |= LEVEL;
    }
    if active_low {
        low |= ACTIVE_LOW;
    }
    write(REG_REDIRECTION + 2 * pin + 1, apic::id() << 24);
    write(REG_REDIRECTION + 2 * pin, low);
}

/// Masks or unmasks `pin`, keeping its routing.
pub fn set_masked(pin: u32, masked: bool) {
    let low = read(REG_REDIRECTION + 2 * pin);
    write(
        REG_REDIRECTION + 2 * pin,
        if masked { low | MASKED } else { low & !MASKED },
    );
}

/// Masks `pin` and clears its routing.
pub fn clear(pin: u32) {
    write(REG_REDIRECTION + 2 * pin, MASKED);
    write(REG_REDIRECTION + 2 * pin + 1, 0);
}
