//! keel-serial: the serial server, the user-level driver of the UART. Init
//! starts it as an active server (it must run when its interrupt comes,
//! with no caller to lend it time) and lends it the UART the kernel prints
//! to (the program with `serial_device = true`): on x86_64 an IOPort cap
//! over COM1, on aarch64 the PL011's page mapped at `SERIAL_DEVICE_VADDR`;
//! with the UART's interrupt line (`[[program.irq]]`: the I/O APIC's pin 4,
//! the GIC's SPI 1 = ID 33) signalling the notification bound to its
//! thread, and spare slots for its clients' notifications. It serves the
//! Serial protocol with the logic of `keel-serial-core`.
//!
//! It trusts init and the kernel; clients only through the protocol, whose
//! malformed requests get error replies. It never blocks on a client:
//! every request is answered in the same pass, a read with `NoLine` when no
//! line waits. It blocks only in its receive, and polls the UART while it
//! sends a line it began (so a line is never split by another's output).
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod clients;
mod device;

use keel_abi::cap::SERIAL_PORTS;
use keel_abi::process::{IrqCap, SERIAL_REGION};
use keel_protocols::registers::{Arrival, RegisterReply};
use keel_protocols::serial::Serving;
use keel_protocols::sys::{serve_emptying, EndpointServer, ReceiveSlot};
use keel_protocols::wire::{Incoming, OutMessage};
use keel_protocols::{Service, SignalSet};
use keel_rt::process::slot;
use keel_rt::{println, ProcessInfo};
use keel_serial_core::SerialService;
use keel_sys::cap::{CNode, IrqHandler};

use clients::Kept;
use device::{Ns16550, Pl011, Uart};

keel_rt::main!(main);

/// Bytes of transmit buffer.
const TX: usize = 2048;
/// Whole input lines kept until a client takes them.
const LINES: usize = 8;
/// Exit status when the page lacks a cap the server needs.
const MISSING_CAP_STATUS: u32 = 1;
/// Exit status when the transport cannot be set up.
const TRANSPORT_STATUS: u32 = 2;

type Serial = SerialService<Uart, Kept, TX, LINES>;

/// The protocol's service, with the UART's interrupts taken as signals.
struct Driver<'a> {
    serial: &'a mut Serial,
    irqs: &'a [IrqCap],
}

impl Driver<'_> {
    /// Acknowledges the lines whose events are in `events`.
    fn ack(&self, events: impl Iterator<Item = u8>) {
        let mask = events.fold(0u64, |m, e| m | 1u64.checked_shl(e.into()).unwrap_or(0));
        for irq in self.irqs {
            if mask & 1u64.checked_shl(irq.event.into()).unwrap_or(0) != 0 {
                let _ = slot::<IrqHandler>(irq.handler).irq_handler_ack();
            }
        }
    }
}

impl Service for Driver<'_> {
    fn handle(&mut self, request: &Incoming, reply: &mut OutMessage) {
        Serving(&mut *self.serial).handle(request, reply);
    }

    fn handle_registers(
        &mut self,
        request: &Arrival,
        past: impl FnOnce(&mut [u64]) -> bool,
    ) -> Option<RegisterReply> {
        Serving(&mut *self.serial).handle_registers(request, past)
    }

    fn signalled(&mut self, signals: SignalSet) {
        self.serial.interrupt();
        self.ack(signals.iter());
        // What arrived while the line was masked raised no new edge on an
        // edge-triggered line: look again once it is unmasked.
        self.serial.interrupt();
    }
}

/// The UART init lent the server: COM1's ports, or the PL011's page.
fn uart(info: &ProcessInfo) -> Option<Uart> {
    let com1 = info
        .ioports
        .iter()
        .find(|r| (r.first, r.last) == SERIAL_PORTS);
    if let Some(r) = com1 {
        return Some(Uart::Ns16550(Ns16550::new(slot(r.slot), r.first)));
    }
    let page = info.region(SERIAL_REGION)?;
    // SAFETY: init maps the PL011's page there, device memory, readable
    // and writable, for the life of the process, and lists it by this name.
    Some(Uart::Pl011(unsafe { Pl011::new(page.vaddr as *mut u32) }))
}

fn main(info: &'static ProcessInfo) -> u32 {
    let s = &info.slots;
    let (Some(endpoint), Some(reply), Some(debug), Some((first, end))) =
        (s.endpoint, s.reply, s.debug, s.spare)
    else {
        println!("serial: started without an endpoint, Reply object, Debug cap or spare slots");
        return MISSING_CAP_STATUS;
    };
    let Some(uart) = uart(info) else {
        println!("serial: started without the kernel's UART (serial_device = true)");
        return MISSING_CAP_STATUS;
    };
    let cnode = slot::<CNode>(s.cnode);
    let receive = ReceiveSlot::in_own_cnode(s.cnode, s.receive, Some(slot(debug)));
    let mut transport = match EndpointServer::announcing(
        slot(s.init),
        slot(endpoint),
        slot(reply),
        Some(receive),
    ) {
        Ok(t) => t,
        Err(e) => {
            println!("serial: setting up its endpoint: {e}");
            return TRANSPORT_STATUS;
        }
    };
    let kept = Kept::new(cnode, slot(debug), first, end);
    let mut serial: Serial = SerialService::new(uart, kept);
    let mut driver = Driver {
        serial: &mut serial,
        irqs: &info.irqs,
    };
    // A restarted driver may find its lines masked by the crash.
    driver.ack(info.irqs.iter().map(|irq| irq.event));
    serve_emptying(&mut transport, &mut driver)
}
