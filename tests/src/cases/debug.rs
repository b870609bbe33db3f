//! DEBUG: the debug system calls are no ambient authority. Each goes through
//! a Debug cap: without one a call returns an error and does nothing, an
//! output-only copy (write right alone) prints and names threads and does
//! nothing more, and the full cap does everything.

use crate::support::{slot, step};
use crate::{ensure, Env, TestResult};
use alloc::vec::Vec;
use keel_abi::{CapRights, CapType, Error, InitCap, Syscall};
use keel_sys::cap::{init_thread::DEBUG, Debug};
use keel_sys::{raw_syscall, CPtr, Cap};

/// Every debug call, with the argument words after the cap: ones that would
/// show (halt the suite, turn the fast path off, preempt every step) if the
/// kernel let the call through.
fn every_call(name: &str) -> [(Syscall, [u64; 5]); 7] {
    [
        (Syscall::DebugPutChar, [u64::from(b'!'), 0, 0, 0, 0]),
        (Syscall::DebugHalt, [77, 0, 0, 0, 0]),
        (
            Syscall::DebugNameThread,
            [name.as_ptr() as u64, name.len() as u64, 0, 0, 0],
        ),
        (
            Syscall::DebugCapIdentify,
            [InitCap::InitThreadTcb as u64, 0, 0, 0, 0],
        ),
        (Syscall::DebugPreemptEvery, [1, 0, 0, 0, 0]),
        (Syscall::DebugLongestStretch, [0; 5]),
        (Syscall::DebugFastpath, [0; 5]),
    ]
}

/// Makes `syscall` through the cap at `cptr`; returns the error word and
/// the first detail word.
fn through(cptr: u64, syscall: Syscall, args: [u64; 5]) -> (u64, u64) {
    let [a, b, c, d, e] = args;
    let [err, detail, ..] = raw_syscall(syscall as u64, [cptr, a, b, c, d, e]);
    (err, detail)
}

/// Fails unless each of `calls` through `cptr` returns `expected` (with
/// argument 0 named, for `InvalidCapability`).
fn refused(cptr: u64, calls: &[(Syscall, [u64; 5])], expected: Error) -> TestResult {
    for &(syscall, args) in calls {
        let (err, detail) = through(cptr, syscall, args);
        ensure!(
            Error::check(err) == Err(expected),
            "{syscall:?} through CPtr {cptr:#x}: error word {err}, expected {expected:?}"
        );
        ensure!(
            expected != Error::InvalidCapability || detail == 0,
            "{syscall:?} through CPtr {cptr:#x}: InvalidCapability names argument {detail}"
        );
    }
    Ok(())
}

/// Runs in a process given no Debug cap: every debug call, through the
/// empty slot the Debug cap would be in, through caps of other types and
/// through a CPtr that names no slot, is refused; the process then reports
/// (the system ran on: nothing halted it).
pub fn refused_without_the_cap(_env: &Env) -> TestResult {
    let calls = every_call("no-debug");
    for cptr in [
        InitCap::Debug,
        InitCap::Null,
        InitCap::InitThreadTcb,
        InitCap::InitThreadCNode,
    ] {
        refused(cptr as u64, &calls, Error::InvalidCapability)?;
    }
    refused(
        crate::protocol::SLOT_REPORT,
        &calls,
        Error::InvalidCapability,
    )?;
    refused(u64::MAX, &calls, Error::FailedLookup)
}

/// An output-only copy of the Debug cap prints and names the thread; every
/// other call through it is refused and changes nothing (the fast path it
/// asked to turn off is still on). A copy with the read right alone cannot
/// even print.
pub fn output_only_copy(env: &Env) -> TestResult {
    let s = env.slots(2)?;
    let (output, read_only): (Cap<Debug>, Cap<Debug>) = (
        Cap::from_cptr(CPtr::from_bits(s)),
        Cap::from_cptr(CPtr::from_bits(s + 1)),
    );
    let root = slot(DEBUG.cptr().bits());
    step(
        slot(s).mint(&root, CapRights::WRITE, 0),
        "mint an output-only copy",
    )?;
    step(
        slot(s + 1).mint(&root, CapRights::READ, 0),
        "mint a read-only copy",
    )?;
    ensure!(
        DEBUG.debug_cap_identify(output.cptr()) == Ok(CapType::Debug),
        "the output-only copy is not a Debug cap"
    );
    let was_on = step(DEBUG.debug_set_fastpath(true), "fast path on")?;
    step(
        output.debug_put_str("[output-only cap]\n"),
        "print through the output-only copy",
    )?;
    step(
        output.debug_name_thread("output-only"),
        "name through the output-only copy",
    )?;
    let calls = every_call("x");
    let (printing, others): (Vec<_>, Vec<_>) = calls
        .iter()
        .partition(|(s, _)| matches!(s, Syscall::DebugPutChar | Syscall::DebugNameThread));
    refused(output.cptr().bits(), &others, Error::InvalidCapability)?;
    refused(read_only.cptr().bits(), &printing, Error::InvalidCapability)?;
    let still_on = step(DEBUG.debug_set_fastpath(was_on), "restore the fast path")?;
    ensure!(still_on, "a refused DebugFastpath turned the fast path off");
    step(
        DEBUG.debug_name_thread("test-runner"),
        "name the thread back",
    )
}

/// With the Debug cap every call works (all but halting, which would end
/// the suite), through its own slot and through a copy elsewhere.
pub fn calls_with_the_cap(env: &Env) -> TestResult {
    let s = env.slots(1)?;
    step(
        slot(s).copy(&slot(DEBUG.cptr().bits()), CapRights::ALL),
        "copy the Debug cap",
    )?;
    let copy: Cap<Debug> = Cap::from_cptr(CPtr::from_bits(s));
    for cap in [DEBUG, copy] {
        step(cap.debug_put_str("[debug cap]\n"), "print")?;
        step(cap.debug_name_thread("test-runner"), "name the thread")?;
        let kind = step(cap.debug_cap_identify(DEBUG.cptr()), "identify")?;
        ensure!(
            kind == CapType::Debug,
            "the Debug cap identifies as {kind:?}"
        );
        let was_on = step(cap.debug_set_fastpath(false), "fast path off")?;
        let off = step(cap.debug_set_fastpath(was_on), "fast path back")?;
        ensure!(!off, "the fast path was still on after turning it off");
        step(cap.debug_set_preempt_every(0), "preemption knob")?;
        step(cap.debug_longest_kernel_stretch(), "longest stretch")?;
    }
    Ok(())
}
