//! The PL011 UART of QEMU virt, polled.

use super::mmio::{read32, write32};
use crate::arch::Console;

/// The PL011's physical address (its page is lent as `InitCap::SerialDevice`).
pub const UART: u64 = 0x0900_0000;
const DR: u64 = UART;
const FR: u64 = UART + 0x18;
const IBRD: u64 = UART + 0x24;
const FBRD: u64 = UART + 0x28;
const LCR_H: u64 = UART + 0x2c;
const CR: u64 = UART + 0x30;
const IMSC: u64 = UART + 0x38;
const ICR: u64 = UART + 0x44;
/// FR: transmit FIFO full.
const FR_TXFF: u32 = 1 << 5;
/// LCR_H: 8 data bits, FIFOs on.
const LCR_H_8N1_FIFO: u32 = (0b11 << 5) | (1 << 4);
/// CR: UART, transmit and receive enabled.
const CR_ENABLE: u32 = (1 << 0) | (1 << 8) | (1 << 9);

/// The kernel console on the PL011.
pub struct Serial;

impl Serial {
    /// 115200 baud from the 24 MHz reference clock, 8N1, FIFOs on, interrupts off.
    pub fn init() {
        write32(CR, 0);
        write32(ICR, 0x7ff);
        write32(IBRD, 13);
        write32(FBRD, 1);
        write32(LCR_H, LCR_H_8N1_FIFO);
        write32(IMSC, 0);
        write32(CR, CR_ENABLE);
    }
}

impl Console for Serial {
    fn put_byte(byte: u8) {
        while read32(FR) & FR_TXFF != 0 {}
        write32(DR, u32::from(byte));
    }
}
