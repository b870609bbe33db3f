//! IOPORTS: x86_64 I/O ports through IOPortControl and IOPort caps, and
//! their errors; `in` without a cap faults. aarch64 has no I/O ports: its
//! IOPortControl slot is empty, which the tests check there instead. They
//! run in the root task, which holds I/O port control.

use super::fault_handler::Handler;
use crate::support::{expect_detail, expect_error, identify, slot, step};
use crate::thread::{count, shared, spawn_with_handler, yield_times};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::fault::{self as layout, FaultType};
use keel_abi::{Arch, CapRights, CapType, Error, InitCap};
use keel_sys::arch::{port_in8_directly, ARCH};
use keel_sys::cap::init_thread::IO_PORT_CONTROL;
use keel_sys::cap::{Endpoint, IoPort};
use keel_sys::{CPtr, Cap};

/// The CMOS index and data ports, and a CMOS byte no firmware uses.
const CMOS_INDEX: u16 = 0x70;
const CMOS_DATA: u16 = 0x71;
const CMOS_SCRATCH: u8 = 0x5f;
/// PCI configuration address and data ports, and the address of the host
/// bridge's vendor and device IDs (bus 0, device 0, function 0, offset 0).
const PCI_ADDRESS: u16 = 0xcf8;
const PCI_DATA: u16 = 0xcfc;
const HOST_BRIDGE_IDS: u32 = 0x8000_0000;
/// Intel's PCI vendor ID (q35's host bridge).
const INTEL: u32 = 0x8086;

fn ports(s: u64) -> Cap<IoPort> {
    Cap::from_cptr(CPtr::from_bits(s))
}

/// On aarch64 the slot is empty and invoking it fails; true there.
fn no_io_ports() -> Result<bool, alloc::string::String> {
    if ARCH == Arch::X86_64 {
        return Ok(false);
    }
    ensure!(
        identify(InitCap::IoPortControl as u64)? == CapType::Null,
        "aarch64 has an IOPortControl cap"
    );
    expect_error(
        IO_PORT_CONTROL.ioport_control_issue(0x40, 0x43, &slot(InitCap::Null as u64)),
        Error::InvalidCapability,
        "issuing through the empty slot",
    )?;
    Ok(true)
}

pub fn in_and_out_inside_the_range(env: &Env) -> TestResult {
    if no_io_ports()? {
        return Ok(());
    }
    let s = env.slots(2)?;
    step(
        IO_PORT_CONTROL.ioport_control_issue(CMOS_INDEX, CMOS_DATA, &slot(s)),
        "issue the CMOS ports",
    )?;
    let cmos = ports(s);
    for value in [0x5a, 0xa5] {
        step(cmos.ioport_out8(CMOS_INDEX, CMOS_SCRATCH), "select")?;
        step(cmos.ioport_out8(CMOS_DATA, value), "write")?;
        step(cmos.ioport_out8(CMOS_INDEX, CMOS_SCRATCH), "select")?;
        let read = step(cmos.ioport_in8(CMOS_DATA), "read")?;
        ensure!(
            read == value,
            "CMOS byte read {read:#x}, written {value:#x}"
        );
    }
    step(
        IO_PORT_CONTROL.ioport_control_issue(PCI_ADDRESS, PCI_DATA + 3, &slot(s + 1)),
        "issue the PCI configuration ports",
    )?;
    let pci = ports(s + 1);
    step(pci.ioport_out32(PCI_ADDRESS, HOST_BRIDGE_IDS), "select")?;
    let ids = step(pci.ioport_in32(PCI_DATA), "read 32 bits")?;
    ensure!(ids & 0xffff == INTEL, "host bridge IDs {ids:#x}");
    let vendor = step(pci.ioport_in16(PCI_DATA), "read 16 bits")?;
    ensure!(u32::from(vendor) == INTEL, "vendor {vendor:#x}");
    step(
        pci.ioport_out16(PCI_DATA + 2, 0),
        "a 16-bit write at the end",
    )
}

pub fn errors(env: &Env) -> TestResult {
    if no_io_ports()? {
        return Ok(());
    }
    let s = env.slots(3)?;
    let issue = |first: u16, last: u16, at: u64| {
        IO_PORT_CONTROL.ioport_control_issue(first, last, &slot(at))
    };
    let d = expect_detail(
        issue(0x71, 0x70, s),
        Error::InvalidArgument,
        "last below first",
    )?;
    ensure!(d[0] == 1, "InvalidArgument names argument {}", d[0]);
    expect_error(
        issue(0x3f8, 0x3f8, s),
        Error::RevokeFirst,
        "the kernel's serial port",
    )?;
    expect_error(
        issue(0x3f0, 0x400, s),
        Error::RevokeFirst,
        "a range over it",
    )?;
    expect_error(issue(0x21, 0x21, s), Error::RevokeFirst, "the PIC")?;
    step(issue(CMOS_INDEX, CMOS_DATA, s), "issue the CMOS ports")?;
    expect_error(
        issue(CMOS_DATA, 0x72, s + 1),
        Error::RevokeFirst,
        "an overlap",
    )?;
    expect_error(issue(0x72, 0x73, s), Error::DeleteFirst, "a full slot")?;
    let cmos = ports(s);
    expect_error(
        cmos.ioport_in8(0x72),
        Error::IllegalOperation,
        "in8 past the end",
    )?;
    expect_error(
        cmos.ioport_in8(0x6f),
        Error::IllegalOperation,
        "in8 before the start",
    )?;
    expect_error(
        cmos.ioport_in16(CMOS_DATA),
        Error::IllegalOperation,
        "in16 over the end",
    )?;
    expect_error(
        cmos.ioport_in32(CMOS_INDEX),
        Error::IllegalOperation,
        "in32 over the end",
    )?;
    expect_error(
        cmos.ioport_out8(0x80, 0),
        Error::IllegalOperation,
        "out8 outside",
    )?;
    expect_error(
        slot(s + 1).copy(&slot(InitCap::IoPortControl as u64), CapRights::ALL),
        Error::IllegalOperation,
        "copy IOPortControl",
    )?;
    step(
        slot(s + 1).copy(&slot(s), CapRights::ALL),
        "copy the IOPort cap",
    )?;
    step(slot(s).delete(), "delete one copy")?;
    expect_error(
        issue(CMOS_INDEX, CMOS_INDEX, s),
        Error::RevokeFirst,
        "with a copy left",
    )?;
    step(slot(s + 1).delete(), "delete the last copy")?;
    step(issue(CMOS_INDEX, CMOS_INDEX, s), "the freed range, again")
}

/// Thread `i`: reads three ports directly, without a cap, counting each
/// read it comes back from, then stops.
extern "C" fn read_directly(i: u64) -> ! {
    for port in [0x40u16, 0x3f8, 0x80] {
        let _ = port_in8_directly(port);
        shared(i).counter.fetch_add(1, Ordering::SeqCst);
    }
    let me: Cap<keel_sys::cap::Tcb> =
        Cap::from_cptr(CPtr::from_bits(shared(i).tcb.load(Ordering::SeqCst)));
    let _ = me.tcb_suspend();
    keel_rt::halt(94)
}

pub fn in_without_a_cap_faults(env: &Env) -> TestResult {
    if no_io_ports()? {
        return Ok(());
    }
    let h = Handler::new(env)?;
    let t = spawn_with_handler(env, read_directly, 0, 0, 255, h.ep)?;
    step(t.tcb_resume(), "resume")?;
    for k in 0..3 {
        let r = Cap::<Endpoint>::from_cptr(CPtr::from_bits(h.ep)).recv(Some(h.reply));
        ensure!(
            r.info.label() == FaultType::UserException as u64,
            "in {k}: label {}",
            r.info.label()
        );
        ensure!(count(0) == k, "the thread went past {} `in`s", count(0));
        let at = step(t.tcb_read_all_registers(false), "read the registers")?;
        ensure!(
            r.mrs[layout::USER_EXCEPTION_IP] == at.pc(),
            "the fault's IP {:#x} is not the thread's {:#x}",
            r.mrs[layout::USER_EXCEPTION_IP],
            at.pc()
        );
        // `in al, dx` is one byte: resume after it.
        h.reply(0, &[at.pc() + 1, at.sp(), at.flags()])?;
    }
    yield_times(1)?;
    ensure!(
        count(0) == 3,
        "the thread resumed {} times, not 3",
        count(0)
    );
    Ok(())
}
