//! FAULT0008: an unknown system call reaches the thread's fault handler
//! with every register seL4's UnknownSyscall message carries, and the
//! call's number; a label-0 reply's registers are the ones the thread goes
//! on with, and a reply with another label leaves it stopped.
//!
//! The thread runs three instructions on a page of their own, two system
//! calls and an undefined instruction, so no compiled code touches its
//! registers. TCB_WriteRegisters gives every register a value of its own
//! before the first call; the reply to that call's fault gives each
//! register in the message another and resumes the thread at the second
//! call, whose fault shows what it ran with.

use super::fault_handler::Handler;
use super::vspace::{copy_of, frames, region, tables, ATTRS, PAGE, ROOT, RW};
use crate::support::step;
use crate::thread::{count_once, spawn_with_handler, yield_times};
use crate::{ensure, Env, TestResult};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use keel_abi::fault::{unknown_syscall_registers, FaultType};
use keel_abi::registers::{FLAGS, PC, SP};
use keel_abi::{Arch, CapRights, Label};
use keel_sys::cap::{Endpoint, Frame, Tcb};
use keel_sys::ipc::Received;
use keel_sys::{CPtr, Cap};

/// What the thread runs, per architecture, and the facts the test needs
/// about it. Register numbers are indices into the register list
/// (`keel_abi::registers`).
struct Code {
    /// syscall; syscall; ud2  /  svc #0; svc #0; udf #0
    bytes: &'static [u8],
    /// The length of one system-call instruction.
    call_length: u64,
    /// The register that holds the system-call number (x86_64 rax, aarch64 x8).
    number: usize,
    /// Registers the system-call instruction itself overwrites, with what:
    /// x86_64's `syscall` puts the return address in rcx and the flags in r11.
    clobbered: &'static [(usize, Clobber)],
    /// Two values of the flags register a user thread may hold, each kept
    /// whole by a write and by a system call.
    flags: [u64; 2],
}

/// What a system-call instruction leaves in a register it overwrites.
#[derive(Clone, Copy)]
enum Clobber {
    /// The address after the instruction.
    ReturnAddress,
    /// The flags.
    Flags,
}

const X86_64: Code = Code {
    bytes: &[0x0f, 0x05, 0x0f, 0x05, 0x0f, 0x0b],
    call_length: 2,
    number: 9,
    clobbered: &[(6, Clobber::ReturnAddress), (13, Clobber::Flags)],
    // IF and bit 1, with CF; then with SF and OF.
    flags: [0x203, 0xa82],
};

const AARCH64: Code = Code {
    bytes: &[
        0x01, 0x00, 0x00, 0xd4, 0x01, 0x00, 0x00, 0xd4, 0x00, 0x00, 0x00, 0x00,
    ],
    call_length: 4,
    number: 11,
    clobbered: &[],
    // N; then Z and C.
    flags: [0x8000_0000, 0x6000_0000],
};

/// The value register `r` is given in round `round` (1 or 2): distinct for
/// every register and round, and no system-call number.
fn sentinel(round: u64, r: usize) -> u64 {
    0x5eed_0000_0000_0000 | (round << 32) | ((r as u64) << 8) | 0x5a
}

/// The registers the thread should hold in `round`, as a register list of
/// `count` words: round 1 as written, round 2 with the reply's values in the
/// registers the message carries and round 1's in the rest.
fn expected_registers(code: &Code, page: u64, round: u64, count: usize) -> Vec<u64> {
    let carried = unknown_syscall_registers(keel_sys::arch::ARCH);
    (0..count)
        .map(|r| {
            let round = if round == 2 && !carried.contains(&r) {
                1
            } else {
                round
            };
            match r {
                PC => page + (round - 1) * code.call_length,
                SP => 0x0000_5eed_0000_1000 + (round << 8),
                FLAGS => code.flags[round as usize - 1],
                _ => sentinel(round, r),
            }
        })
        .collect()
}

/// Maps `code` executable in a page of its own; returns its address.
pub(super) fn map_code(env: &Env, code: &[u8]) -> Result<u64, String> {
    let f = frames(env, 1)?;
    let scratch = region(24);
    tables(env, scratch, 3)?;
    step(
        Cap::<Frame>::from_cptr(CPtr::from_bits(f)).frame_map(ROOT, scratch, RW, ATTRS),
        "map to write",
    )?;
    for (i, byte) in code.iter().enumerate() {
        // SAFETY: the page was just mapped writable at `scratch`, for this alone.
        unsafe { core::ptr::write_volatile((scratch + i as u64) as usize as *mut u8, *byte) };
    }
    let exec = copy_of(env, f)?;
    let page = scratch + PAGE;
    step(
        Cap::<Frame>::from_cptr(CPtr::from_bits(exec)).frame_map(
            ROOT,
            page,
            CapRights::READ,
            ATTRS,
        ),
        "map the code",
    )?;
    Ok(page)
}

/// The whole of a fault message just received (`r` holds its first words).
pub(super) fn message(r: &Received) -> Result<Vec<u64>, String> {
    (0..r.info.length())
        .map(|i| match r.mrs.get(i) {
            Some(w) => Ok(*w),
            None => keel_sys::ipc::mr(i).map_err(|e| format!("mr {i}: {e}")),
        })
        .collect()
}

/// Checks an UnknownSyscall message from a thread holding `regs` that made
/// its call at `at`.
fn check_message(code: &Code, r: &Received, regs: &[u64], at: u64, round: u64) -> TestResult {
    ensure!(
        r.info.label() == FaultType::UnknownSyscall as u64,
        "round {round}: label {}",
        r.info.label()
    );
    let layout = unknown_syscall_registers(keel_sys::arch::ARCH);
    let words = message(r)?;
    ensure!(
        words.len() == layout.len() + 1,
        "round {round}: length {}",
        words.len()
    );
    let after = at + code.call_length;
    for (i, &reg) in layout.iter().enumerate() {
        let expected = match code.clobbered.iter().find(|(c, _)| *c == reg) {
            Some((_, Clobber::ReturnAddress)) => after,
            Some((_, Clobber::Flags)) => regs[FLAGS],
            None if reg == PC => after,
            None => regs[reg],
        };
        ensure!(
            words[i] == expected,
            "round {round}: message word {i} (register {reg}) is {:#x}, expected {expected:#x}",
            words[i]
        );
    }
    ensure!(
        words[layout.len()] == regs[code.number],
        "round {round}: system-call number {:#x}, expected {:#x}",
        words[layout.len()],
        regs[code.number]
    );
    Ok(())
}

pub fn unknown_syscall_delivered(env: &Env) -> TestResult {
    let code = match env.boot_info.arch() {
        Some(Arch::X86_64) => &X86_64,
        Some(Arch::Aarch64) => &AARCH64,
        None => return Err("BootInfo names no architecture".into()),
    };
    let page = map_code(env, code.bytes)?;
    let count = keel_sys::tcb::register_count();
    let h = Handler::new(env)?;
    let ep = Cap::<Endpoint>::from_cptr(CPtr::from_bits(h.ep));
    let t: Cap<Tcb> = spawn_with_handler(env, count_once, 0, 0, 255, h.ep)?;

    // Round 1: every register written.
    let first = expected_registers(code, page, 1, count);
    let mut mrs = alloc::vec![0, count as u64];
    mrs.extend_from_slice(&first);
    step(
        keel_sys::invoke(t.cptr(), Label::TcbWriteRegisters, &mrs, &[]),
        "write every register",
    )?;
    step(t.tcb_resume(), "resume")?;
    let r = ep.recv(Some(h.reply));
    check_message(code, &r, &first, page, 1)?;

    // Round 2: the reply gives each register it carries a new value and
    // sends the thread on to the second call.
    let second = expected_registers(code, page, 2, count);
    let layout = unknown_syscall_registers(keel_sys::arch::ARCH);
    let reply: Vec<u64> = layout.iter().map(|&reg| second[reg]).collect();
    h.reply(0, &reply)?;
    let r = ep.recv(Some(h.reply));
    check_message(code, &r, &second, page + code.call_length, 2)?;
    let back = step(t.tcb_read_all_registers(false), "read the registers")?;
    for (reg, (&now, &expected)) in back.words().iter().zip(&second).enumerate() {
        let expected = match code.clobbered.iter().find(|(c, _)| *c == reg) {
            Some((_, Clobber::ReturnAddress)) => page + 2 * code.call_length,
            Some((_, Clobber::Flags)) => second[FLAGS],
            None if reg == PC => page + 2 * code.call_length,
            None => expected,
        };
        ensure!(
            now == expected,
            "register {reg} reads {now:#x} after the second call, expected {expected:#x}"
        );
    }

    // A reply with another label: the thread must not go on to its `ud2`.
    h.reply(1, &reply)?;
    yield_times(2)?;
    let again = ep.nb_recv(Some(h.reply));
    ensure!(
        again.info.label() == 0 && again.info.length() == 0,
        "a thread whose fault reply had label 1 ran on: {again:?}"
    );
    step(t.tcb_suspend(), "stop the thread")
}
