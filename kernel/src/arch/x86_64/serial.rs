//! The 16550 UART at COM1, polled.

use super::io::{inb, outb};
use crate::arch::Console;

const COM1: u16 = 0x3f8;

/// The kernel console on COM1.
pub struct Serial;

impl Serial {
    /// 115200 baud, 8N1, FIFOs on, interrupts off.
    pub fn init() {
        outb(COM1 + 1, 0x00);
        outb(COM1 + 3, 0x80);
        outb(COM1, 0x01);
        outb(COM1 + 1, 0x00);
        outb(COM1 + 3, 0x03);
        outb(COM1 + 2, 0xc7);
        outb(COM1 + 4, 0x03);
    }
}

impl Console for Serial {
    fn put_byte(byte: u8) {
        while inb(COM1 + 5) & 0x20 == 0 {}
        outb(COM1, byte);
    }
}
