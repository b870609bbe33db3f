//! The lock the threads of one program share state under: a spin lock that
//! yields. A thread that finds it taken gives up its time slice so the
//! holder, which its budget may have preempted inside the section, can run
//! and release it. What this guarantees (Yield in MCS passes the CPU only to
//! threads of the same priority): progress when the threads that contend
//! share a priority, or when a higher-priority one runs on a budget below its
//! period, so that it runs out and lower ones run. A thread stopped for good
//! inside a section (suspended or deleted by another) leaves the lock taken.
//!
//! Sections do not nest: a thread that takes a lock it holds waits for
//! itself forever (a hang, never a second holder). The heap and process
//! printing each have their own lock, so a print may allocate.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// A lock without data: taken and released by hand.
pub(crate) struct RawLock {
    taken: AtomicBool,
}

impl RawLock {
    /// A lock nobody holds.
    pub(crate) const fn new() -> Self {
        RawLock {
            taken: AtomicBool::new(false),
        }
    }

    /// Takes the lock if it is free; true when this call took it.
    pub(crate) fn try_acquire(&self) -> bool {
        self.taken
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the lock, yielding while another thread holds it.
    pub(crate) fn acquire(&self) {
        while self
            .taken
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            // Yield cannot fail; the holder runs if it shares our priority.
            let _ = keel_sys::r#yield();
        }
    }

    /// Releases the lock. Only its holder calls this.
    pub(crate) fn release(&self) {
        self.taken.store(false, Ordering::Release);
    }
}

/// A value the program's threads reach only under its lock.
pub(crate) struct Locked<T> {
    lock: RawLock,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only in `with` and `try_with`, between an
// acquire and a release of the lock, so by one thread at a time.
unsafe impl<T: Send> Sync for Locked<T> {}

impl<T> Locked<T> {
    /// `value`, unlocked.
    pub(crate) const fn new(value: T) -> Self {
        Locked {
            lock: RawLock::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f` on the value under the lock, waiting for it.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.lock.acquire();
        let result = self.run(f);
        self.lock.release();
        result
    }

    /// Runs `f` on the value under the lock if the lock is free now.
    pub(crate) fn try_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        if !self.lock.try_acquire() {
            return None;
        }
        let result = self.run(f);
        self.lock.release();
        Some(result)
    }

    /// Runs `f` on the value; the caller holds the lock.
    fn run<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: the caller holds the lock, so no other reference to the
        // value exists; a panic in `f` leaves the lock taken (the program
        // then stops), never a second reference.
        f(unsafe { &mut *self.value.get() })
    }
}
