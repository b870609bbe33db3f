//! Preemption points of long kernel operations: the core asks `pending()` after
//! each bounded step; when it says yes the operation stops in a consistent
//! state and the thread re-executes its system call later to continue.
//!
//! Besides real pending interrupts, a debug setting makes every `n`-th point
//! preempt, so tests can drive the restart path without a timer. The module
//! also measures the longest stretch of kernel work between two points (kernel
//! entry and exit count as points), which must not grow with object counts.

use crate::arch::{Machine, Platform};
use crate::kernel_cell::KernelCell;
use keel_kernel_core::cspace::Preempt;

/// The debug preemption period (0: real interrupts only).
static EVERY: KernelCell<u64> = KernelCell::new(0);
/// Preemption points passed since `set_every`.
static POINTS: KernelCell<u64> = KernelCell::new(0);
/// Preemptions since `set_every`.
static PREEMPTIONS: KernelCell<u64> = KernelCell::new(0);
/// When the current stretch started, in cycle-counter ticks.
static STRETCH_START: KernelCell<u64> = KernelCell::new(0);
/// The longest stretch since `take_longest_stretch`.
static LONGEST_STRETCH: KernelCell<u64> = KernelCell::new(0);

/// Starts a stretch: called on kernel entry.
pub fn kernel_entered() {
    STRETCH_START.write(Machine::cycles());
}

/// Ends the current stretch (at a preemption point or kernel exit) and starts the next.
pub fn stretch_ends() {
    let now = Machine::cycles();
    let stretch = now.wrapping_sub(STRETCH_START.replace(now));
    LONGEST_STRETCH.write(LONGEST_STRETCH.read().max(stretch));
}

/// The longest stretch since the previous call, in cycle-counter ticks.
pub fn take_longest_stretch() -> u64 {
    LONGEST_STRETCH.replace(0)
}

/// Asks the machine for pending interrupts at each preemption point.
pub struct KernelPreempt;

impl Preempt for KernelPreempt {
    fn pending(&mut self) -> bool {
        stretch_ends();
        let points = POINTS.read().wrapping_add(1);
        POINTS.write(points);
        let every = EVERY.read();
        let forced = every != 0 && points.is_multiple_of(every);
        let preempt = forced || Machine::interrupt_pending();
        if preempt {
            PREEMPTIONS.write(PREEMPTIONS.read() + 1);
        }
        preempt
    }
}

/// Sets the debug preemption period (0: real interrupts only) and returns how
/// many preemptions happened since the last call.
pub fn set_every(n: u64) -> u64 {
    EVERY.write(n);
    POINTS.write(0);
    PREEMPTIONS.replace(0)
}
