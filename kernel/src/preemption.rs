//! Preemption points of long kernel operations: the core asks `pending()` after
//! each bounded step; when it says yes the operation stops in a consistent
//! state and the thread re-executes its system call later to continue.
//!
//! Besides real pending interrupts, a debug setting makes every `n`-th point
//! preempt, so tests can drive the restart path without a timer. The module
//! also measures the longest stretch of kernel work between two points (kernel
//! entry and exit count as points), which must not grow with object counts.

use crate::arch::{Machine, Platform};
use core::sync::atomic::{AtomicU64, Ordering};
use keel_kernel_core::cspace::Preempt;

static EVERY: AtomicU64 = AtomicU64::new(0);
static POINTS: AtomicU64 = AtomicU64::new(0);
static PREEMPTIONS: AtomicU64 = AtomicU64::new(0);
static STRETCH_START: AtomicU64 = AtomicU64::new(0);
static LONGEST_STRETCH: AtomicU64 = AtomicU64::new(0);

/// Starts a stretch: called on kernel entry.
pub fn kernel_entered() {
    STRETCH_START.store(Machine::cycles(), Ordering::Relaxed);
}

/// Ends the current stretch (at a preemption point or kernel exit) and starts the next.
pub fn stretch_ends() {
    let now = Machine::cycles();
    let stretch = now.wrapping_sub(STRETCH_START.swap(now, Ordering::Relaxed));
    LONGEST_STRETCH.fetch_max(stretch, Ordering::Relaxed);
}

/// The longest stretch since the previous call, in cycle-counter ticks.
pub fn take_longest_stretch() -> u64 {
    LONGEST_STRETCH.swap(0, Ordering::Relaxed)
}

/// Asks the machine for pending interrupts at each preemption point.
pub struct KernelPreempt;

impl Preempt for KernelPreempt {
    fn pending(&mut self) -> bool {
        stretch_ends();
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
