//! The UARTs the serial server drives, behind keel-serial-core's `Device`:
//! the 16550 at COM1 through the IOPort cap the kernel lends (x86_64) and
//! the PL011 through its device page mapped into the server (aarch64).
//! The kernel set both up at boot (115200 baud, 8N1, FIFOs on) and keeps
//! writing its own messages to them, so the server never changes the line
//! settings: it only turns the device's interrupts on and off and moves
//! bytes.

use keel_serial_core::Device;
use keel_sys::cap::IoPort;
use keel_sys::Cap;

/// 16550 registers, from the base port.
const RBR_THR: u16 = 0;
const IER: u16 = 1;
const MCR: u16 = 4;
const LSR: u16 = 5;
/// IER: received data available; transmitter holding register empty.
const IER_RX: u8 = 1 << 0;
const IER_TX: u8 = 1 << 1;
/// MCR: DTR, RTS, and OUT2, which gates the interrupt output on a PC.
const MCR_DTR_RTS_OUT2: u8 = 0x0b;
/// LSR: data ready; transmitter holding register empty.
const LSR_DR: u8 = 1 << 0;
const LSR_THRE: u8 = 1 << 5;

/// PL011 registers, byte offsets from the page.
const DR: usize = 0x00;
const FR: usize = 0x18;
const IMSC: usize = 0x38;
const ICR: usize = 0x44;
/// FR: receive FIFO empty; transmit FIFO full.
const FR_RXFE: u32 = 1 << 4;
const FR_TXFF: u32 = 1 << 5;
/// IMSC/ICR: receive, transmit, receive timeout.
const INT_RX: u32 = 1 << 4;
const INT_TX: u32 = 1 << 5;
const INT_RT: u32 = 1 << 6;

/// A 16550 through an IOPort cap over its eight ports.
pub struct Ns16550 {
    ports: Cap<IoPort>,
    base: u16,
    ier: u8,
}

impl Ns16550 {
    /// The UART at `base`, reached through `ports`; its interrupts off
    /// until the server turns them on, the interrupt output enabled.
    pub fn new(ports: Cap<IoPort>, base: u16) -> Self {
        let mut uart = Ns16550 {
            ports,
            base,
            ier: 0,
        };
        uart.out(IER, 0);
        uart.out(MCR, MCR_DTR_RTS_OUT2);
        uart
    }

    fn out(&mut self, register: u16, value: u8) {
        // The cap covers base..=base + 7; nothing else can fail.
        let _ = self.ports.ioport_out8(self.base + register, value);
    }

    fn read(&self, register: u16) -> u8 {
        self.ports.ioport_in8(self.base + register).unwrap_or(0)
    }

    fn set_ier(&mut self, bit: u8, on: bool) {
        let ier = if on { self.ier | bit } else { self.ier & !bit };
        if ier != self.ier {
            self.ier = ier;
            self.out(IER, ier);
        }
    }
}

impl Device for Ns16550 {
    fn try_put(&mut self, byte: u8) -> bool {
        let room = self.read(LSR) & LSR_THRE != 0;
        if room {
            self.out(RBR_THR, byte);
        }
        room
    }

    fn put(&mut self, byte: u8) {
        while !self.try_put(byte) {}
    }

    fn get(&mut self) -> Option<u8> {
        (self.read(LSR) & LSR_DR != 0).then(|| self.read(RBR_THR))
    }

    fn tx_interrupt(&mut self, on: bool) {
        self.set_ier(IER_TX, on);
    }

    fn rx_interrupt(&mut self, on: bool) {
        self.set_ier(IER_RX, on);
    }
}

/// A PL011 through its registers' page, mapped uncached into the server.
pub struct Pl011 {
    base: *mut u32,
    imsc: u32,
}

impl Pl011 {
    /// The UART whose registers are mapped at `base`; its interrupts off
    /// and cleared until the server turns them on.
    ///
    /// # Safety
    /// `base` is the address of a mapping of the PL011's page, device
    /// memory, readable and writable, that stays mapped while this lives.
    pub unsafe fn new(base: *mut u32) -> Self {
        let mut uart = Pl011 { base, imsc: 0 };
        uart.write(IMSC, 0);
        uart.write(ICR, 0x7ff);
        uart
    }

    fn read(&self, offset: usize) -> u32 {
        // SAFETY: `new`'s contract: the page is mapped; every offset used is
        // a PL011 register inside it, word-aligned.
        unsafe { self.base.byte_add(offset).read_volatile() }
    }

    fn write(&mut self, offset: usize, value: u32) {
        // SAFETY: as in `read`.
        unsafe { self.base.byte_add(offset).write_volatile(value) }
    }

    fn set_imsc(&mut self, bits: u32, on: bool) {
        let imsc = if on {
            self.imsc | bits
        } else {
            self.imsc & !bits
        };
        if imsc != self.imsc {
            self.imsc = imsc;
            self.write(IMSC, imsc);
        }
    }
}

impl Device for Pl011 {
    fn try_put(&mut self, byte: u8) -> bool {
        let room = self.read(FR) & FR_TXFF == 0;
        if room {
            self.write(DR, u32::from(byte));
        }
        room
    }

    fn put(&mut self, byte: u8) {
        while !self.try_put(byte) {}
    }

    fn get(&mut self) -> Option<u8> {
        (self.read(FR) & FR_RXFE == 0).then(|| self.read(DR) as u8)
    }

    fn tx_interrupt(&mut self, on: bool) {
        self.set_imsc(INT_TX, on);
    }

    fn rx_interrupt(&mut self, on: bool) {
        self.set_imsc(INT_RX | INT_RT, on);
    }
}

/// The UART of this machine.
pub enum Uart {
    /// x86_64's COM1.
    Ns16550(Ns16550),
    /// aarch64 virt's PL011.
    Pl011(Pl011),
}

impl Device for Uart {
    fn try_put(&mut self, byte: u8) -> bool {
        match self {
            Uart::Ns16550(u) => u.try_put(byte),
            Uart::Pl011(u) => u.try_put(byte),
        }
    }

    fn put(&mut self, byte: u8) {
        match self {
            Uart::Ns16550(u) => u.put(byte),
            Uart::Pl011(u) => u.put(byte),
        }
    }

    fn get(&mut self) -> Option<u8> {
        match self {
            Uart::Ns16550(u) => u.get(),
            Uart::Pl011(u) => u.get(),
        }
    }

    fn tx_interrupt(&mut self, on: bool) {
        match self {
            Uart::Ns16550(u) => u.tx_interrupt(on),
            Uart::Pl011(u) => u.tx_interrupt(on),
        }
    }

    fn rx_interrupt(&mut self, on: bool) {
        match self {
            Uart::Ns16550(u) => u.rx_interrupt(on),
            Uart::Pl011(u) => u.rx_interrupt(on),
        }
    }
}
