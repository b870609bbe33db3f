//! THREADS0400-0401: state a context switch must clear or keep. The
//! exclusive monitor is cleared: a store-exclusive after a switch fails
//! (aarch64; x86_64 has no exclusive monitor). FPU/SIMD registers are kept:
//! four threads in long floating-point calculations, preempted by the timer
//! in the middle of them, get the results the root task gets alone.

use super::retype::make;
use crate::crowd::{seat, stop, Crowd};
use crate::support::step;
use crate::thread::{count, endpoint_of, report_and_stop, set_own_priority, shared, spawn};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::{AtomicU64, Ordering};
use keel_abi::ObjectType;
use keel_sys::cap::Endpoint;
use keel_sys::{CPtr, Cap};

/// The word [`store_across_switch`] loads and stores exclusively.
static WORD: AtomicU64 = AtomicU64::new(0);

/// What [`store_across_switch`] reports.
const STORE_FAILED: u64 = 0;
const STORED: u64 = 1;
const NO_MONITOR: u64 = 2;

/// Test thread: an exclusive load of [`WORD`], a Send on `shared(i).cap`
/// (a switch to the root task and back), the exclusive store; reports
/// what came of the store.
extern "C" fn store_across_switch(i: u64) -> ! {
    let ep = endpoint_of(i).cptr().bits();
    let value = match keel_sys::arch::exclusive_store_across_send(&WORD, ep) {
        Some(true) => STORED,
        Some(false) => STORE_FAILED,
        None => NO_MONITOR,
    };
    report_and_stop(i, value)
}

/// As sel4test's REGRESSIONS0002: a thread loads a word exclusively, and
/// its Send switches to the root task, which switches back; its
/// store-exclusive must then fail and leave the word as it was. On x86_64,
/// which has no exclusive monitor, only the switch and the word are checked.
pub fn exclusive_monitor_cleared_on_switch(env: &Env) -> TestResult {
    set_own_priority(255)?;
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let t = spawn(env, store_across_switch, 0, 0, 200)?;
    shared(0).cap.store(ep, Ordering::SeqCst);
    WORD.store(5, Ordering::SeqCst);
    step(t.tcb_resume(), "start the thread")?;
    let _ = Cap::<Endpoint>::from_cptr(CPtr::from_bits(ep)).recv(None);
    ensure!(count(0) == 0, "the thread went on past its Send first");
    set_own_priority(100)?;
    ensure!(count(0) == 1, "the thread did not finish");
    let (result, word) = (
        shared(0).value.load(Ordering::SeqCst),
        WORD.load(Ordering::SeqCst),
    );
    ensure!(
        result != STORED && word == 5,
        "the store-exclusive after a context switch {} (the word holds {word})",
        if result == STORED {
            "succeeded"
        } else {
            "failed"
        }
    );
    Ok(())
}

/// Threads in [`fp_threads_preempted`], their priority, and the timeslice
/// of each (µs).
const FP_THREADS: u64 = 4;
const FP_PRIORITY: u64 = 100;
const FP_SLICE_US: u64 = 500;
/// Steps of one calculation, and how often (in steps) a thread looks
/// whether another ran since it last looked.
const STEPS: u64 = 100_000;
const LOOK_EVERY: u64 = 64;
/// Switches seen in the middle of calculations after which the threads stop.
const ENOUGH: u64 = 40;
/// Rounds after which a thread stops whatever it saw.
const MOST_ROUNDS: u64 = 200;

/// The crowd thread that last looked, plus one (0: none).
static LAST: AtomicU64 = AtomicU64::new(0);
/// Times a thread found, in the middle of a calculation, that another had run.
static SWITCHES: AtomicU64 = AtomicU64::new(0);

/// A floating-point calculation from `seed` that keeps its state in FPU/SIMD
/// registers over [`STEPS`] steps, calling `look(step)` every
/// [`LOOK_EVERY`] steps; returns the bits of its result.
fn calculate(seed: u64, mut look: impl FnMut(u64)) -> u64 {
    let (mut a, mut b, mut c, mut d) = (seed as f64 + 0.5, 1.0 / (seed as f64 + 3.0), 2.0, 0.0);
    for k in 0..STEPS {
        a = a * 1.000_001 + b;
        b = b * 0.999_999 + c / 7.0;
        c = 2.0 / (1.0 + c * 0.5 + a.abs() * 1e-6);
        d += a / (k as f64 + 1.0);
        if k % LOOK_EVERY == 0 {
            look(k);
        }
    }
    (a + b + c + d).to_bits()
}

/// Crowd thread `i`: calculates from seed `i + 1` round after round,
/// checking each result against `seat(i).ep` and counting rounds, and
/// counting in [`SWITCHES`] each time it finds another thread ran in the
/// middle of its calculation; stops once [`ENOUGH`] were seen.
extern "C" fn fp_rounds(i: u64) -> ! {
    let s = seat(i);
    let expected = s.ep.load(Ordering::SeqCst);
    while SWITCHES.load(Ordering::SeqCst) < ENOUGH && s.counter.load(Ordering::SeqCst) < MOST_ROUNDS
    {
        let result = calculate(i + 1, |k| {
            let before = LAST.swap(i + 1, Ordering::SeqCst);
            if k > 0 && before != i + 1 {
                SWITCHES.fetch_add(1, Ordering::SeqCst);
            }
        });
        s.check(result == expected);
        s.counter.fetch_add(1, Ordering::SeqCst);
    }
    stop(i)
}

/// As sel4test's FPU0001: four threads of one priority, each on a
/// 500 µs round-robin timeslice, calculate with floating point until the
/// timer has switched between them at least [`ENOUGH`] times in the middle
/// of a calculation; every result equals the one the root task got alone.
pub fn fp_threads_preempted(env: &Env) -> TestResult {
    set_own_priority(255)?;
    let crowd = Crowd::new(env, FP_THREADS)?;
    let scs = Crowd::contexts(env, FP_THREADS, FP_SLICE_US, FP_SLICE_US)?;
    LAST.store(0, Ordering::SeqCst);
    SWITCHES.store(0, Ordering::SeqCst);
    for (i, sc) in (0..FP_THREADS).zip(&scs) {
        seat(i).ep.store(calculate(i + 1, |_| {}), Ordering::SeqCst);
        step(sc.sched_context_bind(crowd.tcb(i)), "bind a context")?;
        crowd.start(i, fp_rounds, FP_PRIORITY)?;
    }
    set_own_priority(FP_PRIORITY - 1)?;
    let rounds: alloc::vec::Vec<u64> = (0..FP_THREADS)
        .map(|i| seat(i).counter.load(Ordering::SeqCst))
        .collect();
    let wrong: u64 = (0..FP_THREADS)
        .map(|i| seat(i).wrong.load(Ordering::SeqCst))
        .sum();
    let switches = SWITCHES.load(Ordering::SeqCst);
    ensure!(
        wrong == 0,
        "{wrong} of {rounds:?} rounds calculated wrong across {switches} switches"
    );
    ensure!(
        switches >= 20,
        "only {switches} switches in the middle of a calculation, in {rounds:?} rounds"
    );
    Ok(())
}
