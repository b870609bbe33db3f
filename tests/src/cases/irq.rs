//! IRQ, TIMER and INTERRUPT: interrupts of a real device delivered to user
//! level through IRQControl and IRQHandler caps, and their errors. The
//! device is a timer the kernel does not use: on x86_64 the PIT's channel 0,
//! programmed through an IOPort cap over ports 0x40..=0x43 and routed from
//! I/O APIC pin 2 (where q35 wires ISA IRQ 0) to IRQ 1 (vector 0x31); on
//! aarch64 the EL1 physical timer, whose PPI 30 the kernel leaves free and
//! whose registers it lets EL0 program. These tests run in the root task,
//! which holds IRQ control.

use super::retype::make;
use crate::support::{expect_detail, expect_error, identify, slot, step};
use crate::thread::{count, shared, yield_times};
use crate::{ensure, Env, TestResult};
use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};
use keel_abi::{Arch, CapRights, CapType, Error, ObjectType};
use keel_sys::arch::{cycle_counter, physical_timer_start, physical_timer_stop, ARCH};
use keel_sys::cap::init_thread::{IO_PORT_CONTROL, IRQ_CONTROL};
use keel_sys::cap::{IoPort, IrqHandler, Notification, SchedContext};
use keel_sys::irq::IoApicPin;
use keel_sys::{CPtr, Cap};

/// The PIT's ports: channel 0's counter, then the command port.
const PIT_CHANNEL0: u16 = 0x40;
const PIT_COMMAND: u16 = 0x43;
/// Channel 0, low then high byte, mode 0 (one interrupt at terminal
/// count); writing it also stops the count.
const PIT_ONE_SHOT: u8 = 0x30;
/// Channel 0, low then high byte, mode 2 (rate generator: periodic).
const PIT_PERIODIC: u8 = 0x34;
/// The I/O APIC pin of ISA IRQ 0 on q35, and the IRQ the tests route it to.
const PIT_PIN: u64 = 2;
const PIT_IRQ: u64 = 1;
/// The EL1 physical timer's interrupt ID.
const PHYSICAL_TIMER_PPI: u64 = 30;
/// Device ticks to an interrupt: about 1 ms on either timer (the PIT counts
/// at 1.19 MHz, QEMU virt's counter at 62.5 MHz).
const PIT_TICKS: u16 = 1193;
const COUNTER_TICKS: u32 = 62_500;
/// Cycles (instructions under `-icount`, 1 ns each) the tests wait for an
/// interrupt they expect not to see: several times the device's period.
const QUIET_CYCLES: u64 = 20_000_000;
/// The badge of the notification cap interrupts signal.
const BADGE: u64 = 0x20;

/// A timer that interrupts, with its IRQHandler cap (and on x86_64 the
/// IOPort cap it is programmed through).
#[derive(Clone, Copy)]
pub struct Device {
    /// The handler cap.
    pub handler: Cap<IrqHandler>,
    ports: Cap<IoPort>,
}

fn cap<T: keel_sys::cap::CapKind>(s: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(s))
}

/// Takes the device's line (and ports) into two fresh slots.
pub fn device(env: &Env) -> Result<Device, String> {
    let s = env.slots(2)?;
    if ARCH == Arch::X86_64 {
        step(
            IO_PORT_CONTROL.ioport_control_issue(PIT_CHANNEL0, PIT_COMMAND, &slot(s)),
            "issue the PIT's ports",
        )?;
        step(
            IRQ_CONTROL.irq_control_get_io_apic(&slot(s + 1), pit_pin(PIT_PIN), PIT_IRQ),
            "route the PIT's pin",
        )?;
    } else {
        step(
            IRQ_CONTROL.irq_control_get(PHYSICAL_TIMER_PPI, &slot(s + 1)),
            "get the physical timer's PPI",
        )?;
    }
    let d = Device {
        handler: cap(s + 1),
        ports: cap(s),
    };
    d.quiet()?;
    Ok(d)
}

/// I/O APIC 0's `pin`, edge-triggered, active high (as ISA lines are).
fn pit_pin(pin: u64) -> IoApicPin {
    IoApicPin {
        ioapic: 0,
        pin,
        level: false,
        active_low: false,
    }
}

impl Device {
    fn pit(self, mode: u8, ticks: u16) -> TestResult {
        let [low, high] = ticks.to_le_bytes();
        step(self.ports.ioport_out8(PIT_COMMAND, mode), "PIT command")?;
        step(self.ports.ioport_out8(PIT_CHANNEL0, low), "PIT count")?;
        step(self.ports.ioport_out8(PIT_CHANNEL0, high), "PIT count")
    }

    /// Makes the device interrupt once, in about 1 ms.
    pub fn fire(self) -> TestResult {
        if ARCH == Arch::X86_64 {
            self.pit(PIT_ONE_SHOT, PIT_TICKS)
        } else {
            ensure!(physical_timer_start(COUNTER_TICKS), "no physical timer");
            Ok(())
        }
    }

    /// Makes the device interrupt every 1 ms or so; on aarch64 each tick
    /// must be followed by [`Device::next_tick`].
    fn periodic(self) -> TestResult {
        if ARCH == Arch::X86_64 {
            self.pit(PIT_PERIODIC, PIT_TICKS)
        } else {
            self.fire()
        }
    }

    /// After a periodic tick: the physical timer (level-sensitive, one-shot)
    /// is set for the next one; the PIT goes on by itself.
    fn next_tick(self) -> TestResult {
        if ARCH == Arch::X86_64 {
            Ok(())
        } else {
            self.fire()
        }
    }

    /// Stops the device interrupting.
    pub fn quiet(self) -> TestResult {
        if ARCH == Arch::X86_64 {
            step(
                self.ports.ioport_out8(PIT_COMMAND, PIT_ONE_SHOT),
                "stop the PIT",
            )
        } else {
            ensure!(physical_timer_stop(), "no physical timer");
            Ok(())
        }
    }
}

/// A notification, and a copy badged [`BADGE`] the handler signals.
pub(super) fn badged_notification(env: &Env, d: Device) -> Result<Cap<Notification>, String> {
    let n = make(env, 12, ObjectType::Notification, 0, 1)?;
    let b = env.slots(1)?;
    step(slot(b).mint(&slot(n), CapRights::ALL, BADGE), "mint")?;
    step(
        d.handler.irq_handler_set_notification(cap(b)),
        "set the notification",
    )?;
    Ok(cap(n))
}

/// Spins long enough for a fired device to have interrupted.
fn spin() {
    let start = cycle_counter();
    while cycle_counter().wrapping_sub(start) < QUIET_CYCLES {
        core::hint::spin_loop();
    }
}

/// Waits for the interrupt after the one just acknowledged (the device
/// fired): the word must be the badge.
fn expect_interrupt(n: Cap<Notification>, what: &str) -> TestResult {
    let word = n.wait();
    ensure!(word == BADGE, "{what}: word {word:#x}, not {BADGE:#x}");
    Ok(())
}

/// Fails unless `result` is a RangeError with the bounds `bounds`.
fn expect_range(
    result: Result<(), keel_sys::InvocationError>,
    bounds: [u64; 2],
    what: &str,
) -> TestResult {
    let detail = expect_detail(result, Error::RangeError, what)?;
    ensure!(
        detail == bounds,
        "{what}: bounds {detail:?}, not {bounds:?}"
    );
    Ok(())
}

pub fn get_errors(env: &Env) -> TestResult {
    let s = env.slots(3)?;
    if ARCH == Arch::X86_64 {
        expect_error(
            IRQ_CONTROL.irq_control_get(1, &slot(s)),
            Error::IllegalOperation,
            "plain Get with an I/O APIC",
        )?;
        expect_error(
            IRQ_CONTROL.irq_control_get_trigger(1, true, &slot(s)),
            Error::IllegalOperation,
            "GetTrigger on x86_64",
        )?;
        let get = |pin: IoApicPin, irq: u64, at: u64| {
            IRQ_CONTROL.irq_control_get_io_apic(&slot(at), pin, irq)
        };
        expect_range(get(pit_pin(2), 207, s), [0, 206], "IRQ 207")?;
        expect_range(get(pit_pin(24), 1, s), [0, 23], "pin 24")?;
        let second_apic = IoApicPin {
            ioapic: 1,
            ..pit_pin(2)
        };
        expect_range(get(second_apic, 1, s), [0, 0], "I/O APIC 1")?;
        expect_error(
            get(pit_pin(2), 0, s),
            Error::RevokeFirst,
            "the kernel's timer",
        )?;
        step(get(pit_pin(2), PIT_IRQ, s), "route pin 2")?;
        expect_error(
            get(pit_pin(3), PIT_IRQ, s + 1),
            Error::RevokeFirst,
            "a taken IRQ",
        )?;
        expect_error(
            get(pit_pin(2), 5, s + 1),
            Error::DeleteFirst,
            "a routed pin",
        )?;
        expect_error(get(pit_pin(3), 5, s), Error::DeleteFirst, "a full slot")?;
    } else {
        let get = |irq: u64, at: u64| IRQ_CONTROL.irq_control_get(irq, &slot(at));
        expect_range(get(288, s), [0, 287], "IRQ 288")?;
        expect_error(get(27, s), Error::RevokeFirst, "the kernel's timer")?;
        expect_error(get(1, s), Error::RevokeFirst, "an SGI")?;
        expect_error(
            IRQ_CONTROL.irq_control_get_io_apic(&slot(s), pit_pin(2), 40),
            Error::IllegalOperation,
            "GetIOAPIC on aarch64",
        )?;
        step(get(PHYSICAL_TIMER_PPI, s), "get PPI 30")?;
        expect_error(
            get(PHYSICAL_TIMER_PPI, s + 1),
            Error::RevokeFirst,
            "a taken line",
        )?;
        expect_error(get(40, s), Error::DeleteFirst, "a full slot")?;
        step(
            IRQ_CONTROL.irq_control_get_trigger(40, true, &slot(s + 1)),
            "an edge-triggered SPI",
        )?;
        ensure!(
            identify(s + 1)? == CapType::IrqHandler,
            "no handler for SPI 40"
        );
    }
    ensure!(identify(s)? == CapType::IrqHandler, "no handler made");
    expect_error(
        slot(s + 2).copy(&slot(keel_abi::InitCap::IrqControl as u64), CapRights::ALL),
        Error::IllegalOperation,
        "copy IRQ control",
    )?;
    step(
        slot(s + 2).copy(&slot(s), CapRights::ALL),
        "copy the handler",
    )?;
    step(slot(s).delete(), "delete one copy")?;
    let line = if ARCH == Arch::X86_64 {
        5
    } else {
        PHYSICAL_TIMER_PPI
    };
    let again = |at: u64| {
        if ARCH == Arch::X86_64 {
            IRQ_CONTROL.irq_control_get_io_apic(&slot(at), pit_pin(2), line)
        } else {
            IRQ_CONTROL.irq_control_get(line, &slot(at))
        }
    };
    let taken = if ARCH == Arch::X86_64 {
        Error::DeleteFirst
    } else {
        Error::RevokeFirst
    };
    expect_error(again(s), taken, "with a copy of the handler left")?;
    step(slot(s + 2).delete(), "delete the last copy")?;
    step(again(s), "the freed line, again")
}

pub fn set_notification_errors(env: &Env) -> TestResult {
    let d = device(env)?;
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let n = make(env, 12, ObjectType::Notification, 0, 1)?;
    let read_only = env.slots(1)?;
    step(slot(read_only).mint(&slot(n), CapRights::READ, 1), "mint")?;
    for (bad, what) in [
        (ep, "an endpoint"),
        (read_only, "a read-only notification cap"),
    ] {
        let detail = expect_detail(
            d.handler.irq_handler_set_notification(cap(bad)),
            Error::InvalidCapability,
            what,
        )?;
        ensure!(detail[0] == 1, "{what}: the error names cap {}", detail[0]);
    }
    step(
        d.handler.irq_handler_set_notification(cap(n)),
        "a notification",
    )?;
    step(d.handler.irq_handler_clear(), "clear")?;
    step(d.handler.irq_handler_ack(), "ack")
}

pub fn delivered_and_masked_until_ack(env: &Env) -> TestResult {
    let d = device(env)?;
    let n = badged_notification(env, d)?;
    step(d.handler.irq_handler_ack(), "ack")?;
    d.fire()?;
    expect_interrupt(n, "the first interrupt")?;
    d.fire()?;
    spin();
    ensure!(n.poll() == 0, "an interrupt came through before the Ack");
    d.quiet()?;
    step(d.handler.irq_handler_ack(), "ack")?;
    d.fire()?;
    expect_interrupt(n, "the interrupt after the Ack")?;
    d.quiet()
}

pub fn periodic_timer_ticks(env: &Env) -> TestResult {
    let d = device(env)?;
    let n = badged_notification(env, d)?;
    step(d.handler.irq_handler_ack(), "ack")?;
    d.periodic()?;
    for tick in 1..=3 {
        expect_interrupt(n, &alloc::format!("tick {tick}"))?;
        d.next_tick()?;
        step(d.handler.irq_handler_ack(), "ack")?;
    }
    d.quiet()
}

pub fn cleared_or_deleted_handler_signals_nothing(env: &Env) -> TestResult {
    let d = device(env)?;
    let n = badged_notification(env, d)?;
    step(d.handler.irq_handler_clear(), "clear")?;
    step(d.handler.irq_handler_ack(), "ack")?;
    d.fire()?;
    spin();
    ensure!(n.poll() == 0, "a cleared handler signalled");
    d.quiet()?;
    let b = env.slots(1)?;
    step(
        slot(b).mint(&slot(n.cptr().bits()), CapRights::ALL, BADGE),
        "mint",
    )?;
    step(
        d.handler.irq_handler_set_notification(cap(b)),
        "set it again",
    )?;
    step(d.handler.irq_handler_ack(), "ack")?;
    d.fire()?;
    expect_interrupt(n, "after setting the notification again")?;
    step(slot(d.handler.cptr().bits()).delete(), "delete the handler")?;
    d.fire()?;
    spin();
    ensure!(n.poll() == 0, "a deleted handler's line signalled");
    d.quiet()
}

/// The handler's cap and the device's ports, for the IRQ threads.
static HANDLER: AtomicU64 = AtomicU64::new(0);
static PORTS: AtomicU64 = AtomicU64::new(0);
/// Interrupts the IRQ threads have handled between them.
static HANDLED: AtomicU64 = AtomicU64::new(0);
/// Interrupts the IRQ threads handle.
const INTERRUPTS: u64 = 10;

/// Thread `i`: waits on its notification for each interrupt, counts it, and
/// fires the device again (until [`INTERRUPTS`] are handled) before its Ack.
extern "C" fn irq_thread(i: u64) -> ! {
    let n: Cap<Notification> = cap(shared(i).cap.load(Ordering::SeqCst));
    let d = Device {
        handler: cap(HANDLER.load(Ordering::SeqCst)),
        ports: cap(PORTS.load(Ordering::SeqCst)),
    };
    loop {
        n.wait();
        shared(i).counter.fetch_add(1, Ordering::SeqCst);
        let handled = HANDLED.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = if handled < INTERRUPTS {
            d.fire()
        } else {
            d.quiet()
        };
        let _ = d.handler.irq_handler_ack();
    }
}

/// What [`passive_irq_thread`] sets up.
struct IrqSetup {
    device: Device,
    ntfn: Cap<Notification>,
    thread: Cap<keel_sys::cap::Tcb>,
    context: Cap<SchedContext>,
}

/// The device, a notification its interrupts signal, and passive IRQ thread
/// 0 waiting on it (its own context taken away); with `bound`, a context
/// bound to the notification.
fn passive_irq_thread(env: &Env, bound: bool) -> Result<IrqSetup, String> {
    let d = device(env)?;
    HANDLER.store(d.handler.cptr().bits(), Ordering::SeqCst);
    PORTS.store(d.ports.cptr().bits(), Ordering::SeqCst);
    HANDLED.store(0, Ordering::SeqCst);
    let n = badged_notification(env, d)?;
    let t = super::donation::passive_server(env, irq_thread, 0, n.cptr().bits(), 0)?;
    let sc = crate::thread::sched_context(env, 1000, 1000)?;
    if bound {
        step(
            sc.sched_context_bind_notification(n),
            "bind the notification",
        )?;
    }
    step(d.handler.irq_handler_ack(), "ack")?;
    Ok(IrqSetup {
        device: d,
        ntfn: n,
        thread: t,
        context: sc,
    })
}

/// Yields until the IRQ threads have handled [`INTERRUPTS`], or for long
/// enough that they would have.
fn until_handled() -> TestResult {
    let start = cycle_counter();
    while HANDLED.load(Ordering::SeqCst) < INTERRUPTS
        && cycle_counter().wrapping_sub(start) < 50 * QUIET_CYCLES
    {
        yield_times(1)?;
    }
    Ok(())
}

pub fn passive_irq_thread_runs_on_the_notification_context(env: &Env) -> TestResult {
    let IrqSetup {
        device: d,
        thread: t,
        context: sc,
        ..
    } = passive_irq_thread(env, true)?;
    d.fire()?;
    until_handled()?;
    ensure!(
        count(0) == INTERRUPTS,
        "the passive IRQ thread handled {} of {INTERRUPTS} interrupts",
        count(0)
    );
    // Back in its Wait, the thread has given the context back.
    step(
        sc.sched_context_bind(t),
        "bind the returned context to the thread",
    )?;
    d.quiet()
}

pub fn no_context_no_irq_thread_runs(env: &Env) -> TestResult {
    let IrqSetup {
        device: d, ntfn: n, ..
    } = passive_irq_thread(env, false)?;
    d.fire()?;
    spin();
    ensure!(count(0) == 0, "an IRQ thread with no context to run on ran");
    ensure!(
        n.poll() == 0,
        "the interrupt was left pending, not taken by the waiter"
    );
    d.quiet()
}

pub fn deleted_notification_context_runs_nothing(env: &Env) -> TestResult {
    let IrqSetup {
        device: d,
        context: sc,
        ..
    } = passive_irq_thread(env, true)?;
    step(
        slot(sc.cptr().bits()).delete(),
        "delete the notification's context",
    )?;
    d.fire()?;
    spin();
    ensure!(count(0) == 0, "an IRQ thread ran on a deleted context");
    d.quiet()
}

pub fn two_irq_threads_share_a_notification(env: &Env) -> TestResult {
    let IrqSetup {
        device: d, ntfn: n, ..
    } = passive_irq_thread(env, true)?;
    let active = crate::thread::spawn(env, irq_thread, 1, 1, 255)?;
    shared(1).cap.store(n.cptr().bits(), Ordering::SeqCst);
    step(active.tcb_resume(), "resume the thread with a context")?;
    yield_times(1)?;
    d.fire()?;
    until_handled()?;
    let (passive, own) = (count(0), count(1));
    ensure!(
        passive + own == INTERRUPTS && passive == own,
        "the passive thread handled {passive} and the other {own} of {INTERRUPTS}, not half each"
    );
    d.quiet()
}

/// sel4test INTERRUPT0005: two passive IRQ threads wait on one notification
/// with a context bound to it. The context is lent to one waiter at a time:
/// each interrupt wakes the first in the queue, which runs on it and gives
/// it back when it waits again, behind the other; so they take the
/// interrupts in turn, five each. (Were it lent to both, the second woken
/// would run while the first still held it.)
pub fn notification_context_lent_to_one_waiter_at_a_time(env: &Env) -> TestResult {
    let IrqSetup {
        device: d, ntfn: n, ..
    } = passive_irq_thread(env, true)?;
    super::donation::passive_server(env, irq_thread, 1, n.cptr().bits(), 0)?;
    d.fire()?;
    until_handled()?;
    let (first, second) = (count(0), count(1));
    ensure!(
        first + second == INTERRUPTS && first == second,
        "the two passive threads handled {first} and {second} of {INTERRUPTS}, not in turn"
    );
    d.quiet()
}
