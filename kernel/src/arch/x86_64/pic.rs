//! The legacy 8259 PICs: remapped away from the exception vectors (to 0x20 and
//! 0x28) and fully masked. Keel takes interrupts through the local APIC (its
//! timer; the I/O APIC is not programmed); the PIC's timer must never raise
//! vector 8 (the double-fault slot).

use super::io::outb;

const MASTER_COMMAND: u16 = 0x20;
const MASTER_DATA: u16 = 0x21;
const SLAVE_COMMAND: u16 = 0xa0;
const SLAVE_DATA: u16 = 0xa1;

/// Remaps both PICs to vectors 0x20..0x30 and masks every line.
pub fn disable() {
    // ICW1: initialise, expect ICW4.
    outb(MASTER_COMMAND, 0x11);
    outb(SLAVE_COMMAND, 0x11);
    // ICW2: vector offsets.
    outb(MASTER_DATA, 0x20);
    outb(SLAVE_DATA, 0x28);
    // ICW3: slave on line 2.
    outb(MASTER_DATA, 0x04);
    outb(SLAVE_DATA, 0x02);
    // ICW4: 8086 mode.
    outb(MASTER_DATA, 0x01);
    outb(SLAVE_DATA, 0x01);
    // Mask everything.
    outb(MASTER_DATA, 0xff);
    outb(SLAVE_DATA, 0xff);
}
