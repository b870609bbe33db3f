//! I/O ports for user-level drivers, as seL4 gives them on x86: the root task's
//! IOPortControl cap issues IOPort caps, each over a range of ports, and an
//! IOPort cap reads and writes 8, 16 or 32 bits at a port inside its range.
//! Issued ranges never overlap (`RevokeFirst`), nor do they overlap the
//! ports the kernel keeps: its serial console (COM1, 0x3f8..=0x3ff), the
//! 8259 PICs it keeps masked (0x20..=0x21, 0xa0..=0xa1) and QEMU's exit
//! device it halts through (0xf4); it lends its console only through the
//! root task's `InitCap::SerialDevice`, an IOPort cap over COM1 made at boot
//! and issued by no Issue, so its deletion frees nothing here. The PIT
//! (0x40..=0x43, 0x61) is free: the kernel uses it only at boot, to measure
//! the TSC, before any thread runs. Deleting the last cap to a range frees
//! it.

use super::io;
use crate::kernel_cell::KernelCell;
use crate::object::irq::empty_slot;
use crate::object::memory::KernelMemory;
use crate::syscall::invocation::{Message, Outcome};
use keel_abi::cap::KERNEL_IO_PORTS;
use keel_abi::{Error, Label};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::cspace::insert_new;
use keel_kernel_core::error::SyscallError;

/// One bit per port: issued to an IOPort cap.
static ISSUED: [KernelCell<u64>; 1024] = [const { KernelCell::new(0) }; 1024];

fn issued(port: u16) -> bool {
    ISSUED[usize::from(port / 64)].read() & (1 << (port % 64)) != 0
}

fn set_issued(first: u16, last: u16, value: bool) {
    for port in first..=last {
        let word = &ISSUED[usize::from(port / 64)];
        let bit = 1 << (port % 64);
        word.write(if value {
            word.read() | bit
        } else {
            word.read() & !bit
        });
    }
}

fn port_arg(msg: &Message, i: usize) -> Result<u16, SyscallError> {
    u16::try_from(msg.mr(i)?).map_err(|_| SyscallError::range(0, 0xffff))
}

/// `IOPortControl_Issue`: MR0 first port, MR1 last port, MR2 index and MR3
/// depth of the destination slot under extra cap 0.
///
/// # Errors
/// `TruncatedMessage`; `RangeError(0, 0xffff)` for a port above 16 bits;
/// `InvalidArgument(1)` when the last port is below the first; the slot's
/// errors; `RevokeFirst` when a port of the range is issued already or the
/// kernel's.
pub fn invoke_control(label: Label, msg: &Message, slot: u64) -> Result<Outcome, SyscallError> {
    if label != Label::IoPortControlIssue {
        return Err(Error::IllegalOperation.into());
    }
    let (first, last) = (port_arg(msg, 0)?, port_arg(msg, 1)?);
    let (index, depth) = (msg.mr(2)?, msg.mr(3)?);
    if last < first {
        return Err(SyscallError::invalid_argument(1));
    }
    let dest = empty_slot(msg, 0, index, depth)?;
    let kernel = KERNEL_IO_PORTS
        .iter()
        .any(|&(a, b)| first <= b && a <= last);
    if kernel || (first..=last).any(issued) {
        return Err(Error::RevokeFirst.into());
    }
    set_issued(first, last, true);
    insert_new(&mut KernelMemory, slot, dest, Cap::io_port(first, last));
    Ok(Outcome::Done([0, 0]))
}

/// An IOPort invocation: In8/16/32 (MR0 the port; the value in result word
/// 0) and Out8/16/32 (MR0 the port, MR1 the value, cut to the width).
///
/// # Errors
/// `IllegalOperation` for another label or when the access reaches outside
/// the cap's range (seL4's errors); `TruncatedMessage`; `RangeError(0,
/// 0xffff)` for a port above 16 bits.
pub fn invoke(label: Label, msg: &Message, cap: Cap) -> Result<Outcome, SyscallError> {
    let size: u16 = match label {
        Label::IoPortIn8 | Label::IoPortOut8 => 1,
        Label::IoPortIn16 | Label::IoPortOut16 => 2,
        Label::IoPortIn32 | Label::IoPortOut32 => 4,
        _ => return Err(Error::IllegalOperation.into()),
    };
    let port = port_arg(msg, 0)?;
    let (first, last) = cap.io_port_range();
    let end = port.checked_add(size - 1);
    if port < first || end.is_none_or(|end| end > last) {
        return Err(Error::IllegalOperation.into());
    }
    let value = match label {
        Label::IoPortIn8 => u64::from(io::inb(port)),
        Label::IoPortIn16 => u64::from(io::inw(port)),
        Label::IoPortIn32 => u64::from(io::inl(port)),
        _ => {
            let value = msg.mr(1)?;
            match size {
                1 => io::outb(port, value as u8),
                2 => io::outw(port, value as u16),
                _ => io::outl(port, value as u32),
            }
            0
        }
    };
    Ok(Outcome::Done([value, 0]))
}

/// The last cap to an I/O port range is gone: its ports may be issued again.
pub fn finalise(cap: &Cap) {
    let (first, last) = cap.io_port_range();
    set_issued(first, last, false);
}
