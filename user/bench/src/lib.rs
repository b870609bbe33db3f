//! What Keel's benchmark programs share. They report to `cargo xtask bench`
//! on the console, one line each: `BENCH <name> <N> <ticks>` per sample, then
//! `BENCH done`, or `BENCH failed: ...` naming the step that failed.
#![no_std]

use keel_rt::println;
use keel_sys::arch::cycle_counter;
use keel_sys::Error;

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
