//! INIT with devices: init gives a program the interrupts and I/O port
//! ranges its description names (keel-init's `devices`), as working caps in
//! its CNode, with the notification its interrupts signal bound to its
//! thread; a range on an architecture without I/O ports is refused.

use crate::support::{expect_error, identify, slot, step};
use crate::system::{archive, probe_manifest, set_up, start, PROBE};
use crate::{ensure, Env, TestResult};
use keel_abi::manifest::{IoPorts, Irq};
use keel_abi::{Arch, CapRights, CapType, Error};
use keel_init::CNODE_RADIX;
use keel_sys::arch::ARCH;
use keel_sys::cap::init_thread::IRQ_CONTROL;
use keel_sys::cap::{IoPort, Notification};
use keel_sys::{CPtr, Cap};

/// The probe's first slot past its server caps (TCB, CNode, VSpace, init,
/// Debug, endpoint, Reply): its notification, then its handler, then its
/// I/O port cap.
const FIRST_DEVICE_SLOT: u64 = 8;
/// The CMOS index and data ports, and a byte of it no firmware uses.
const CMOS: IoPorts = IoPorts {
    first: 0x70,
    last: 0x71,
};
const CMOS_SCRATCH: u8 = 0x5e;

/// The line the probe gets: the PIT's I/O APIC pin on x86_64 (IRQ 3 after
/// init's pin + 1), the EL1 physical timer's PPI on aarch64.
fn line() -> u32 {
    if ARCH == Arch::X86_64 {
        2
    } else {
        30
    }
}

pub fn devices_as_described(env: &Env) -> TestResult {
    let mut manifest = probe_manifest(1);
    let x86 = ARCH == Arch::X86_64;
    // The other architecture's line for the same device, on the same
    // event: init must pass it over (on this architecture it names a line
    // the kernel refuses, so taking it would stop the start).
    let (other, other_line) = if x86 {
        (Arch::Aarch64, 30)
    } else {
        (Arch::X86_64, 2)
    };
    manifest.programs[PROBE].irqs.push(Irq {
        irq: other_line,
        event: 3,
        arch: Some(other),
    });
    manifest.programs[PROBE].irqs.push(Irq {
        irq: line(),
        event: 3,
        arch: Some(ARCH),
    });
    if x86 {
        manifest.programs[PROBE].ioports.push(CMOS);
    }
    let archive = archive(env)?;
    let system = start(env, &manifest, &archive)?;
    let process = system
        .program(PROBE)
        .and_then(|p| p.process)
        .ok_or("the probe is not running")?;
    let mine = env.slots(3)?;
    let kinds = [CapType::Notification, CapType::IrqHandler, CapType::IoPort];
    let count = if x86 { 3 } else { 2 };
    for (i, kind) in kinds.iter().enumerate().take(count) {
        let from = process
            .cnode
            .absolute_cptr_with_depth(FIRST_DEVICE_SLOT + i as u64, CNODE_RADIX);
        step(
            slot(mine + i as u64).copy(&from, CapRights::ALL),
            "copy a device cap",
        )?;
        let found = identify(mine + i as u64)?;
        ensure!(
            found == *kind,
            "device slot {i} holds {found:?}, not {kind:?}"
        );
    }
    let other = crate::cases::retype::make(env, 12, keel_abi::ObjectType::Notification, 0, 1)?;
    expect_error(
        process
            .tcb
            .tcb_bind_notification(Cap::<Notification>::from_cptr(CPtr::from_bits(other))),
        Error::IllegalOperation,
        "binding a second notification to the probe's thread",
    )?;
    let again = env.slots(1)?;
    let taken = if x86 {
        let pin = keel_sys::irq::IoApicPin {
            ioapic: 0,
            pin: u64::from(line()),
            level: false,
            active_low: false,
        };
        IRQ_CONTROL.irq_control_get_io_apic(&slot(again), pin, u64::from(line()) + 1)
    } else {
        IRQ_CONTROL.irq_control_get(u64::from(line()), &slot(again))
    };
    let refusal = if x86 {
        Error::DeleteFirst
    } else {
        Error::RevokeFirst
    };
    expect_error(taken, refusal, "the probe's line, taken again")?;
    if x86 {
        let ports: Cap<IoPort> = Cap::from_cptr(CPtr::from_bits(mine + 2));
        step(
            ports.ioport_out8(CMOS.first, CMOS_SCRATCH),
            "select through the probe's cap",
        )?;
        step(
            ports.ioport_out8(CMOS.last, 0x3c),
            "write through the probe's cap",
        )?;
        step(ports.ioport_out8(CMOS.first, CMOS_SCRATCH), "select")?;
        let read = step(ports.ioport_in8(CMOS.last), "read")?;
        ensure!(read == 0x3c, "CMOS byte read {read:#x}, written 0x3c");
    }
    Ok(())
}

pub fn io_ports_refused_without_them(env: &Env) -> TestResult {
    if ARCH == Arch::X86_64 {
        let mut manifest = probe_manifest(1);
        manifest.programs[PROBE].ioports.push(IoPorts {
            first: 0x3f8,
            last: 0x3f8,
        });
        let archive = archive(env)?;
        let refused = set_up(env, &manifest, &archive).err().unwrap_or_default();
        ensure!(
            refused.contains("issue a program's I/O ports") && refused.contains("RevokeFirst"),
            "the kernel's serial port given to a program: {refused:?}"
        );
        return Ok(());
    }
    // aarch64 has no I/O ports: init passes the ranges over and the
    // program starts without them.
    let mut manifest = probe_manifest(1);
    manifest.programs[PROBE].ioports.push(CMOS);
    let archive = archive(env)?;
    let system = start(env, &manifest, &archive)?;
    let process = system
        .program(PROBE)
        .and_then(|p| p.process)
        .ok_or("the probe with an I/O port range did not start on aarch64")?;
    let mine = env.slots(1)?;
    let from = process
        .cnode
        .absolute_cptr_with_depth(FIRST_DEVICE_SLOT, CNODE_RADIX);
    let given = slot(mine).copy(&from, CapRights::ALL).is_ok();
    ensure!(
        !given || identify(mine)? != CapType::IoPort,
        "an IOPort cap given on aarch64"
    );
    Ok(())
}
