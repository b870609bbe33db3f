//! A program's devices, as its description names them: the IRQHandler cap
//! of each interrupt, with one notification every interrupt of the program
//! signals (each with the signal badge of its event bit), and an IOPort cap
//! per I/O port range. Init makes them once, from IRQ control, I/O port
//! control and its pool, and keeps them: every instance of the program
//! gets copies, so a restart finds its lines and ports where they were (a
//! restarted driver acknowledges its lines once it is ready, since a crash
//! may leave one masked).
//!
//! An interrupt's `irq` is the line as the platform numbers it: on aarch64
//! a GIC interrupt ID (its trigger kept); on x86_64 a pin of the I/O APIC,
//! routed edge-triggered and active high (as ISA lines are) to IRQ
//! `pin + 1` (IRQ 0 is the kernel's timer). I/O port ranges are x86_64's
//! alone: on aarch64, which has no I/O ports, init passes them over, so one
//! description serves a driver on both (the timer server's PIT ports).
//!
//! A client of the timer server (a connection named `timer`) gets a
//! notification too, without interrupts, for the server to signal its
//! timeouts on (keel-rt's `Timer`).

use alloc::vec::Vec;
use keel_abi::manifest::{Manifest, Program};
use keel_abi::process::{IoPortCap, IrqCap};
use keel_abi::{Arch, CapRights, ObjectType};
use keel_protocols::badge::SignalBadge;
use keel_sys::arch::ARCH;
use keel_sys::cap::{init_thread, IrqHandler, Notification, Untyped};
use keel_sys::irq::IoApicPin;
use keel_sys::{CPtr, Cap};

use crate::memory::Slots;
use crate::{Context, InitError};

/// One program's device caps, in init's CSpace.
#[derive(Debug, Default)]
pub(crate) struct Devices {
    /// The notification its interrupts (or the timer server) signal: none
    /// without interrupts or a timer connection.
    pub(crate) notification: Option<Cap<Notification>>,
    /// Each interrupt, with the slot of its handler in init's CSpace.
    pub(crate) irqs: Vec<IrqCap>,
    /// Each I/O port range, with the slot of its cap in init's CSpace.
    pub(crate) ioports: Vec<IoPortCap>,
}

/// Whether program `index` is a timer client: it hands the timer server
/// a notification, which init makes it (the process server gives none).
pub(crate) fn is_timer_client(manifest: &Manifest, index: usize) -> bool {
    manifest
        .connections
        .iter()
        .any(|c| usize::from(c.client) == index && c.name == "timer")
}

fn here(slot: u64) -> keel_sys::AbsoluteCPtr {
    init_thread::CNODE.absolute_cptr(CPtr::from_bits(slot))
}

impl Devices {
    /// Makes program `p`'s device caps from `slots` and `pool`, and its
    /// notification when it has interrupts or `timer_client` says it is a
    /// client of the timer server.
    ///
    /// # Errors
    /// The step that failed: a line or range the kernel refuses (taken,
    /// reserved, out of range), or too few slots or too little memory.
    pub(crate) fn new(
        p: &Program,
        timer_client: bool,
        slots: &mut Slots,
        pool: Cap<Untyped>,
    ) -> Result<Self, InitError> {
        let mut d = Devices::default();
        let irqs = || p.irqs.iter().filter(|irq| irq.applies_to(ARCH));
        if timer_client || irqs().next().is_some() {
            d.notification = Some(slots.make(pool, ObjectType::Notification, 0)?);
        }
        for irq in irqs() {
            let handler = slots.take(1)?.start;
            let line = u64::from(irq.irq);
            if ARCH == Arch::X86_64 {
                let pin = IoApicPin {
                    ioapic: 0,
                    pin: line,
                    level: false,
                    active_low: false,
                };
                init_thread::IRQ_CONTROL
                    .irq_control_get_io_apic(&here(handler), pin, line + 1)
                    .context("route a program's interrupt")?;
            } else {
                init_thread::IRQ_CONTROL
                    .irq_control_get(line, &here(handler))
                    .context("get a program's interrupt")?;
            }
            let badged = slots.take(1)?.start;
            let ntfn = d.notification.map_or(0, |n| n.cptr().bits());
            let badge = SignalBadge::event(irq.event)
                .map_err(|_| keel_abi::Error::InvalidArgument)
                .context("make the signal badge of an interrupt's event")?;
            here(badged)
                .mint(&here(ntfn), CapRights::ALL, badge.bits())
                .context("mint an interrupt's notification cap")?;
            Cap::<IrqHandler>::from_cptr(CPtr::from_bits(handler))
                .irq_handler_set_notification(Cap::from_cptr(CPtr::from_bits(badged)))
                .context("set an interrupt's notification")?;
            d.irqs.push(IrqCap {
                irq: irq.irq,
                handler,
                event: irq.event,
            });
        }
        let ioports = p.ioports.iter().filter(|_| ARCH == Arch::X86_64);
        for r in ioports {
            let slot = slots.take(1)?.start;
            init_thread::IO_PORT_CONTROL
                .ioport_control_issue(r.first, r.last, &here(slot))
                .context("issue a program's I/O ports")?;
            d.ioports.push(IoPortCap {
                first: r.first,
                last: r.last,
                slot,
            });
        }
        Ok(d)
    }
}
