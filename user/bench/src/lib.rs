//! What Keel's benchmark programs share. They report to `cargo xtask bench`
//! on the console, one line each: `BENCH <name> <N> <ticks>` per sample, then
//! `BENCH done`, or `BENCH failed: ...` naming the step that failed.
#![no_std]

use keel_abi::BootInfo;
use keel_rt::println;
use keel_sys::arch::cycle_counter;
use keel_sys::cap::{init_thread, SchedContext, Tcb};
use keel_sys::sched::SchedContextFlags;
use keel_sys::{CPtr, Error};

/// A benchmark step's result: on failure, what was being done and the error.
pub type Step<T> = Result<T, (&'static str, Error)>;

/// Names the step `r` came from, for the failure line.
pub fn at<T>(what: &'static str, r: Result<T, Error>) -> Step<T> {
    r.map_err(|e| (what, e))
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
        Err((what, e)) => {
            println!(
                "BENCH failed: {what}: {e} (detail {:?})",
                keel_sys::last_error_detail()
            );
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
        .ok_or(("no untyped large enough", Error::NotEnoughMemory))
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
