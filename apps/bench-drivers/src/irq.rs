//! Interrupt latency, as sel4bench's `irquser` measures it: this thread
//! arms the device and spins storing the cycle counter; the handler thread,
//! above it, waits on the notification the device's IRQHandler signals,
//! reads the counter as it wakes and takes the difference from the last
//! value the spinner stored (read there, before the spinner runs again, so
//! it is the spinner's last before the interrupt). That is the time from
//! the interrupt (to one turn of the spin loop, a few instructions) to the
//! first instruction of the handler thread. The line and ports are given
//! back afterwards, for the timer server.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};
use keel_abi::{Arch, ObjectType};
use keel_bench::{at, prepare_thread, Failure, Step};
use keel_rt::println;
use keel_sys::arch::{cycle_counter, physical_timer_start, physical_timer_stop, ARCH};
use keel_sys::cap::init_thread::{CNODE, IO_PORT_CONTROL, IRQ_CONTROL};
use keel_sys::cap::{IoPort, IrqHandler, Notification, SchedContext, Tcb};
use keel_sys::irq::IoApicPin;
use keel_sys::tcb::UserContext;
use keel_sys::{CPtr, Cap};

use crate::{cap, Objects, RUNS};

/// The handler thread's priority: above this thread's.
const HANDLER_PRIORITY: u64 = 200;
/// Its context: a whole core.
const HANDLER_BUDGET_US: u64 = 10_000;
/// The PIT's ports and its channel 0 one-shot mode (low then high byte).
const PIT_CHANNEL0: u16 = 0x40;
const PIT_COMMAND: u16 = 0x43;
const PIT_ONE_SHOT: u8 = 0x30;
/// The PIT's I/O APIC pin on q35, and the IRQ it is routed to.
const PIT_PIN: u64 = 2;
const PIT_IRQ: u64 = 1;
/// The EL1 physical timer's interrupt ID.
const PHYSICAL_TIMER_PPI: u64 = 30;
/// Device ticks to the interrupt: about 170 us on either device.
const PIT_TICKS: u16 = 200;
const COUNTER_TICKS: u32 = 10_000;
const STACK_SIZE: usize = 4096;

#[repr(C, align(16))]
struct Stack(UnsafeCell<[u8; STACK_SIZE]>);
// SAFETY: only the handler thread uses the stack; this thread takes its address.
unsafe impl Sync for Stack {}
static STACK: Stack = Stack(UnsafeCell::new([0; STACK_SIZE]));

/// The last wake's latency, and how many times the handler thread woke.
static LATENCY: AtomicU64 = AtomicU64::new(0);
static WAKES: AtomicU64 = AtomicU64::new(0);
/// The counter as this thread last stored it, spinning.
static SPUN_AT: AtomicU64 = AtomicU64::new(0);

/// The handler thread: waits on notification `ntfn`; at each wake, the
/// counter less the spinner's last stamp.
extern "C" fn handler(ntfn: u64) -> ! {
    let ntfn: Cap<Notification> = cap(ntfn);
    loop {
        ntfn.wait();
        let woke = cycle_counter();
        let spun = SPUN_AT.load(Ordering::SeqCst);
        LATENCY.store(woke.wrapping_sub(spun), Ordering::SeqCst);
        WAKES.fetch_add(1, Ordering::SeqCst);
    }
}

/// The device: its handler, and on x86_64 the PIT's ports.
struct Device {
    handler: Cap<IrqHandler>,
    ports: Cap<IoPort>,
}

impl Device {
    fn take(objects: &mut Objects) -> Step<Device> {
        let s = objects.slots(2)?;
        let here = |slot| CNODE.absolute_cptr(CPtr::from_bits(slot));
        if ARCH == Arch::X86_64 {
            at(
                "issue the PIT's ports",
                IO_PORT_CONTROL.ioport_control_issue(PIT_CHANNEL0, PIT_COMMAND, &here(s)),
            )?;
            let pin = IoApicPin {
                ioapic: 0,
                pin: PIT_PIN,
                level: false,
                active_low: false,
            };
            at(
                "route the PIT's pin",
                IRQ_CONTROL.irq_control_get_io_apic(&here(s + 1), pin, PIT_IRQ),
            )?;
        } else {
            at(
                "get the physical timer's PPI",
                IRQ_CONTROL.irq_control_get(PHYSICAL_TIMER_PPI, &here(s + 1)),
            )?;
        }
        Ok(Device {
            handler: cap(s + 1),
            ports: cap(s),
        })
    }

    /// Interrupts once, in about 170 us.
    fn arm(&self) -> Step<()> {
        if ARCH == Arch::X86_64 {
            let [low, high] = PIT_TICKS.to_le_bytes();
            at(
                "PIT mode",
                self.ports.ioport_out8(PIT_COMMAND, PIT_ONE_SHOT),
            )?;
            at("PIT count", self.ports.ioport_out8(PIT_CHANNEL0, low))?;
            at("PIT count", self.ports.ioport_out8(PIT_CHANNEL0, high))
        } else if physical_timer_start(COUNTER_TICKS) {
            Ok(())
        } else {
            Err(Failure::new("no physical timer"))
        }
    }

    /// After an interrupt: the level-triggered physical timer is stopped
    /// (the PIT's edge is over), and the line unmasked.
    fn acknowledge(&self) -> Step<()> {
        physical_timer_stop();
        at("ack", self.handler.irq_handler_ack())
    }

    /// Gives the line and ports back.
    fn release(self) -> Step<()> {
        for c in [self.handler.cptr(), self.ports.cptr()] {
            at("delete a device cap", CNODE.absolute_cptr(c).delete())?;
        }
        Ok(())
    }
}

/// Measures [`RUNS`] interrupts; prints `BENCH irq-latency 0 <n>` each.
pub fn measure(objects: &mut Objects, overhead: u64) -> Step<()> {
    let device = Device::take(objects)?;
    let ntfn = objects.make(ObjectType::Notification, 0)?;
    at(
        "set the handler's notification",
        device.handler.irq_handler_set_notification(cap(ntfn)),
    )?;
    let tcb: Cap<Tcb> = cap(objects.make(ObjectType::Tcb, 0)?);
    let sc: Cap<SchedContext> = cap(objects.make(
        ObjectType::SchedContext,
        keel_abi::object::MIN_SCHED_CONTEXT_BITS.into(),
    )?);
    prepare_thread(
        tcb,
        sc,
        HANDLER_PRIORITY,
        HANDLER_BUDGET_US,
        HANDLER_BUDGET_US,
    )?;
    let top = STACK.0.get() as u64 + STACK_SIZE as u64;
    let ctx = UserContext::new_thread(handler, top, ntfn);
    at("start the handler", tcb.tcb_write_all_registers(true, &ctx))?;
    for run in 0..RUNS as u64 {
        device.arm()?;
        while WAKES.load(Ordering::SeqCst) == run {
            SPUN_AT.store(cycle_counter(), Ordering::SeqCst);
        }
        let latency = LATENCY.load(Ordering::SeqCst);
        if latency > u64::MAX / 2 {
            return Err(Failure::new(
                "irq-latency: the handler woke before the interrupt",
            ));
        }
        println!("BENCH irq-latency 0 {}", latency.saturating_sub(overhead));
        device.acknowledge()?;
    }
    at("stop the handler", tcb.tcb_suspend())?;
    device.release()
}
