//! What Keel's benchmark programs share (and, in [`waiters`], one test). They report to `cargo xtask bench`
//! on the console, one line each: `BENCH <name> <N> <ticks>` per sample, then
//! `BENCH done`, or `BENCH failed: ...` naming the step (for a timed
//! operation, the row) that failed. Every timed operation's result is
//! checked, after the second counter read so the check is not timed; a
//! failure stops the benchmark.
#![no_std]

extern crate alloc;

pub mod system;
pub mod waiters;

use alloc::string::String;
use core::fmt;
use keel_abi::{BootInfo, MessageInfo};
use keel_rt::println;
use keel_sys::arch::cycle_counter;
use keel_sys::cap::{init_thread, SchedContext, Tcb};
use keel_sys::sched::SchedContextFlags;
use keel_sys::{CPtr, Error, InvocationError};

/// Why a benchmark stopped: what it was doing, and the kernel's error (with
/// its detail) when a system call failed.
#[derive(Debug)]
pub struct Failure {
    what: String,
    error: Option<InvocationError>,
}

impl Failure {
    /// A failure no system call reported (a wrong answer, a missing result).
    pub fn new(what: impl Into<String>) -> Self {
        Failure {
            what: what.into(),
            error: None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            Some(e) => write!(f, "{}: {e}", self.what),
            None => f.write_str(&self.what),
        }
    }
}

/// A benchmark step's result.
pub type Step<T> = Result<T, Failure>;

/// Names the step `r` came from, for the failure line.
pub fn at<T, E: Into<InvocationError>>(what: &str, r: Result<T, E>) -> Step<T> {
    r.map_err(|e| Failure {
        what: what.into(),
        error: Some(e.into()),
    })
}

/// A failed step `what` with the kernel error `error` (no detail).
pub fn failed(what: &str, error: Error) -> Failure {
    Failure {
        what: what.into(),
        error: Some(error.into()),
    }
}

/// Checks that the Call timed for `row` was answered by its server: the
/// reply's message info `info` has `label` and `length` (a failed Call
/// comes back with an error code in its place). Only the info word is
/// kept: keeping more of the reply live costs moves inside the window.
///
/// # Errors
/// A failure naming the row and what came back.
pub fn answered(row: fmt::Arguments<'_>, info: MessageInfo, label: u64, length: usize) -> Step<()> {
    if info.label() == label && info.length() == length {
        Ok(())
    } else {
        Err(Failure::new(alloc::format!(
            "{row}: the Call was not answered as sent (reply {info:?})"
        )))
    }
}

/// Checks that the server stamps of the Call timed for `row` lie inside
/// its window `t0..=t1`, in order: the server received and replied to this
/// Call, not an earlier one.
///
/// # Errors
/// A failure naming the row and the stamps.
pub fn served_within(
    row: fmt::Arguments<'_>,
    (t0, t1): (u64, u64),
    (received, replying): (u64, u64),
) -> Step<()> {
    if t0 <= received && received <= replying && replying <= t1 {
        Ok(())
    } else {
        Err(Failure::new(alloc::format!(
            "{row}: the server's stamps {received}..{replying} lie outside the Call's {t0}..{t1}"
        )))
    }
}

/// Cost of two back-to-back counter reads, subtracted from every sample.
pub fn counter_overhead() -> u64 {
    (0..16)
        .map(|_| {
            let t0 = cycle_counter();
            cycle_counter() - t0
        })
        .min()
        .unwrap_or(0)
}

/// Prints the closing line for `result` and returns the exit status.
pub fn finish(result: Step<()>) -> u32 {
    match result {
        Ok(()) => {
            println!("BENCH done");
            0
        }
        Err(failure) => {
            println!("BENCH failed: {failure}");
            1
        }
    }
}

/// The root slot of the smallest RAM untyped of at least `2^min_bits` bytes
/// other than slot `not`.
///
/// # Errors
/// `NotEnoughMemory` when there is none.
pub fn smallest_untyped(boot_info: &BootInfo, min_bits: u8, not: Option<u64>) -> Step<u64> {
    boot_info
        .untypeds()
        .iter()
        .enumerate()
        .map(|(i, u)| (boot_info.untyped.start + i as u64, u))
        .filter(|(s, u)| u.is_device == 0 && u.size_bits >= min_bits && Some(*s) != not)
        .min_by_key(|(_, u)| u.size_bits)
        .map(|(s, _)| s)
        .ok_or_else(|| failed("no untyped large enough", Error::NotEnoughMemory))
}

/// The root slot and size of the largest RAM untyped, which must hold at
/// least `2^min_bits` bytes.
///
/// # Errors
/// `NotEnoughMemory` naming the size when it is smaller.
pub fn largest_untyped(boot_info: &BootInfo, min_bits: u8) -> Step<(u64, u8)> {
    let (slot, bits) = boot_info
        .untypeds()
        .iter()
        .enumerate()
        .filter(|(_, u)| u.is_device == 0)
        .max_by_key(|(_, u)| u.size_bits)
        .map(|(i, u)| (boot_info.untyped.start + i as u64, u.size_bits))
        .ok_or_else(|| failed("no untyped memory", Error::NotEnoughMemory))?;
    if bits < min_bits {
        return Err(Failure::new(alloc::format!(
            "the largest untyped is 2^{bits} bytes, under the 2^{min_bits} needed"
        )));
    }
    Ok((slot, bits))
}

/// Prepares `tcb` to run in the caller's CSpace and VSpace at `priority`,
/// on `sc` configured for `budget` µs every `period` µs; the caller then
/// writes its registers and starts it.
///
/// # Errors
/// The step that failed.
pub fn prepare_thread(
    tcb: keel_sys::Cap<Tcb>,
    sc: keel_sys::Cap<SchedContext>,
    priority: u64,
    budget: u64,
    period: u64,
) -> Step<()> {
    at(
        "space",
        tcb.tcb_set_space(
            CPtr::from_bits(0),
            init_thread::CNODE,
            0,
            init_thread::VSPACE,
        ),
    )?;
    at("priority", tcb.tcb_set_priority(init_thread::TCB, priority))?;
    at(
        "configure",
        init_thread::SCHED_CONTROL.sched_control_configure_flags(
            sc,
            budget,
            period,
            0,
            0,
            SchedContextFlags::NONE,
        ),
    )?;
    at("bind", sc.sched_context_bind(tcb))
}
