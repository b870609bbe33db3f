//! keel-timer: the timer server, a user-level driver. Init starts it as an
//! active server (it runs on its own scheduling context: its device's
//! interrupts arrive with no caller to lend one) with a server's caps,
//! spare slots, the IRQHandler of its timer's line and the notification
//! that line signals (bound to its thread), and on x86_64 the IOPort caps
//! of the PIT (0x40..=0x43 and 0x61); `device` says which timer each
//! architecture uses. It serves the Timer protocol of keel-protocols with
//! keel-timer-core's logic: each client (badge) has its own timeouts, and
//! hears of their expiry through the notification it handed over, kept in
//! one of the spare slots. A client's timeouts die with it: when the kept
//! notification has gone (the client's objects were torn down), the next
//! delivery drops them (see `keel_timer_core::service`).
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

mod device;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use keel_abi::{Arch, CapType};
use keel_protocols::cap::{Granted, Notification as NotificationKind, ReceivedCap};
use keel_protocols::registers::{Arrival, RegisterReply};
use keel_protocols::sys::{serve_emptying, EndpointServer, ReceiveSlot};
use keel_protocols::timer::{Serving, TimerError};
use keel_protocols::wire::{Incoming, OutMessage};
use keel_protocols::{Service, SignalSet};
use keel_rt::process::slot;
use keel_rt::{println, ProcessInfo};
use keel_sys::arch::ARCH;
use keel_sys::cap::{CNode, Debug, IrqHandler, Notification};
use keel_sys::{CPtr, Cap};
use keel_timer_core::service::{Hardware, TimerService};
use keel_timer_core::Client;

use device::Device;

keel_rt::main!(main);

/// Exit status when the page lacks a cap the server needs.
const MISSING_CAP_STATUS: u32 = 1;
/// Exit status when the transport cannot be set up.
const TRANSPORT_STATUS: u32 = 2;
/// Exit status when the device does not answer.
const DEVICE_STATUS: u32 = 3;
/// The PIT's ports: its channels and command port, and the gate of
/// channel 2.
const PIT_PORTS: u16 = 0x40;
const PIT_GATE: u16 = 0x61;

/// The device and the kernel, for the logic: the clock, the timer, and the
/// clients' notifications kept in spare slots.
struct Machine {
    device: Device,
    /// What the device is armed for, while it has not interrupted since:
    /// arming it again for the same is skipped (each arming is several
    /// system calls).
    armed: Option<Option<u64>>,
    cnode: Cap<CNode>,
    debug: Cap<Debug>,
    /// Each client's slot, and the spare slots not in use.
    kept: BTreeMap<Client, u64>,
    free: Vec<u64>,
}

impl Machine {
    fn at(&self, slot: u64) -> keel_sys::AbsoluteCPtr {
        self.cnode.absolute_cptr(CPtr::from_bits(slot))
    }
}

impl Hardware for Machine {
    fn now_ns(&self) -> u64 {
        self.device.now_ns()
    }

    fn keep(
        &mut self,
        client: Client,
        notification: Granted<NotificationKind>,
    ) -> Result<(), TimerError> {
        let ReceivedCap::Transferred { cptr, .. } = notification.received() else {
            return Err(TimerError::CannotKeep);
        };
        let slot = match self.kept.get(&client) {
            Some(&s) => {
                self.at(s).delete().map_err(|_| TimerError::CannotKeep)?;
                s
            }
            None => self.free.pop().ok_or(TimerError::CannotKeep)?,
        };
        if self.at(slot).move_(&self.at(cptr)).is_err() {
            self.kept.remove(&client);
            self.free.push(slot);
            return Err(TimerError::CannotKeep);
        }
        self.kept.insert(client, slot);
        Ok(())
    }

    fn drop_kept(&mut self, client: Client) {
        if let Some(s) = self.kept.remove(&client) {
            // Deleting a cap in a slot of the server's own CNode cannot fail.
            let _ = self.at(s).delete();
            self.free.push(s);
        }
    }

    fn kept(&self, client: Client) -> bool {
        self.kept.get(&client).is_some_and(|&s| {
            self.debug.debug_cap_identify(CPtr::from_bits(s)) == Ok(CapType::Notification)
        })
    }

    fn signal(&mut self, client: Client) {
        if let Some(&s) = self.kept.get(&client) {
            slot::<Notification>(s).signal();
        }
    }

    fn arm(&mut self, deadline_ns: Option<u64>) {
        if self.armed != Some(deadline_ns) {
            self.device.arm(deadline_ns);
            self.armed = Some(deadline_ns);
        }
    }
}

/// The Timer protocol's service, with the device's interrupt.
struct Driver {
    service: TimerService<Machine>,
    irq: Cap<IrqHandler>,
}

impl Service for Driver {
    fn handle(&mut self, request: &Incoming, reply: &mut OutMessage) {
        Serving(&mut self.service).handle(request, reply);
    }

    fn handle_registers(
        &mut self,
        request: &Arrival,
        past: impl FnOnce(&mut [u64]) -> bool,
    ) -> Option<RegisterReply> {
        Serving(&mut self.service).handle_registers(request, past)
    }

    fn signalled(&mut self, _signals: SignalSet) {
        // The only signaller is the timer's line: expire, re-arm the
        // device (which lowers a level-triggered line), then unmask it.
        self.service.hardware_mut().armed = None;
        self.service.interrupt();
        if let Err(e) = self.irq.irq_handler_ack() {
            println!("timer: acknowledging the interrupt: {e}");
        }
    }
}

/// The device this architecture's server drives, from its page's caps.
fn device(info: &ProcessInfo) -> Option<Device> {
    if ARCH != Arch::X86_64 {
        return Device::physical();
    }
    let port = |first| info.ioports.iter().find(|p| p.first == first);
    let (ports, gate) = (port(PIT_PORTS)?, port(PIT_GATE)?);
    Device::pit(slot(ports.slot), slot(gate.slot)).ok()
}

fn main(info: &'static ProcessInfo) -> u32 {
    let s = &info.slots;
    let (Some(endpoint), Some(reply), Some(debug), Some((first, end)), Some(irq)) =
        (s.endpoint, s.reply, s.debug, s.spare, info.irqs.first())
    else {
        println!(
            "timer: started without an endpoint, Reply object, Debug cap, spare slots or interrupt"
        );
        return MISSING_CAP_STATUS;
    };
    let Some(device) = device(info) else {
        println!("timer: its timer does not answer (on x86_64 it needs the PIT's ports)");
        return DEVICE_STATUS;
    };
    let receive = ReceiveSlot::in_own_cnode(s.cnode, s.receive, Some(slot(debug)));
    let cnode = slot::<CNode>(s.cnode);
    let mut transport = match EndpointServer::announcing(
        slot(s.init),
        slot(endpoint),
        slot(reply),
        Some(receive),
    ) {
        Ok(t) => t,
        Err(e) => {
            println!("timer: setting up its endpoint: {e}");
            return TRANSPORT_STATUS;
        }
    };
    let machine = Machine {
        device,
        armed: None,
        cnode,
        debug: slot(debug),
        kept: BTreeMap::new(),
        free: (first..end).rev().collect(),
    };
    let irq: Cap<IrqHandler> = slot(irq.handler);
    let mut driver = Driver {
        service: TimerService::new(machine),
        irq,
    };
    // A restarted server may find its line masked by its last instance.
    let _ = irq.irq_handler_ack();
    serve_emptying(&mut transport, &mut driver)
}
