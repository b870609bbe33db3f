//! Preemption points of long kernel operations: the core asks `pending()` after
//! each bounded step; when it says yes the operation stops in a consistent
//! state and the thread re-executes its system call later to continue.
//!
//! Besides real pending interrupts, a debug setting makes every `n`-th point
//! preempt, so tests can drive the restart path without a timer.

use crate::arch::{Machine, Platform};
use core::sync::atomic::{AtomicU64, Ordering};
use keel_kernel_core::cspace::Preempt;

static EVERY: AtomicU64 = AtomicU64::new(0);
static POINTS: AtomicU64 = AtomicU64::new(0);
static PREEMPTIONS: AtomicU64 = AtomicU64::new(0);

/// Asks the machine for pending interrupts at each preemption point.
pub struct KernelPreempt;

impl Preempt for KernelPreempt {
    fn pending(&mut self) -> bool {
        let points = POINTS.fetch_add(1, Ordering::Relaxed) + 1;
        let every = EVERY.load(Ordering::Relaxed);
        let forced = every != 0 && points.is_multiple_of(every);
        let preempt = forced || Machine::interrupt_pending();
        if preempt {
            PREEMPTIONS.fetch_add(1, Ordering::Relaxed);
        }
        preempt
    }
}

/// Sets the debug preemption period (0: real interrupts only) and returns how
/// many preemptions happened since the last call.
pub fn set_every(n: u64) -> u64 {
    EVERY.store(n, Ordering::Relaxed);
    POINTS.store(0, Ordering::Relaxed);
    PREEMPTIONS.swap(0, Ordering::Relaxed)
}
