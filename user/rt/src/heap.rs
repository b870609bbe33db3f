//! The program heap: embedded-alloc's linked-list allocator over a region of
//! the program's own zero-initialised memory, which the loader backs with
//! frames, and the lock that makes it safe for the threads of one program.
//!
//! embedded-alloc guards its heap with a `critical-section`; keel-rt's
//! implementation is a spin lock that yields: a thread that finds the lock
//! taken gives up its time slice so the holder, which its budget may have
//! preempted inside the allocator, can run and release it. What this
//! guarantees (Yield in MCS passes the CPU only to threads of the same
//! priority): progress when the threads that allocate share a priority, or
//! when a higher-priority one runs on a budget below its period, so that it
//! runs out and lower ones run. A thread stopped for good inside the
//! allocator (suspended or deleted by another) leaves the heap locked.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, Ordering};
use embedded_alloc::LlffHeap;

/// Heap size in bytes.
const HEAP_SIZE: usize = 1 << 20;

#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();

/// The heap's memory: handed to the allocator once and then only touched
/// through it.
#[repr(C, align(16))]
struct HeapMemory(UnsafeCell<[MaybeUninit<u8>; HEAP_SIZE]>);

// SAFETY: after `init` the bytes are reached only through the allocator,
// which the lock below serialises.
unsafe impl Sync for HeapMemory {}

static HEAP_MEMORY: HeapMemory = HeapMemory(UnsafeCell::new([MaybeUninit::uninit(); HEAP_SIZE]));

/// Hands the heap its memory. Called once, first thing at entry.
pub fn init() {
    // SAFETY: called once, before any allocation and before the program
    // starts other threads; HEAP_MEMORY is used by nothing else.
    unsafe { HEAP.init(HEAP_MEMORY.0.get() as usize, HEAP_SIZE) }
}

/// Bytes of the heap in use now (for tests that check everything allocated
/// was freed).
pub fn used() -> usize {
    HEAP.used()
}

/// Taken while a thread is in a critical section.
static LOCKED: AtomicBool = AtomicBool::new(false);

/// The program's `critical-section`: one lock for all its threads.
/// Sections do not nest: a thread that enters one inside another waits
/// for itself forever (a hang, never a second holder). keel-rt's only
/// user, the allocator, never nests them.
struct YieldingLock;
critical_section::set_impl!(YieldingLock);

// SAFETY: `acquire` returns only once this thread set LOCKED from false to
// true (Acquire ordering), and `release` clears it (Release ordering), so
// at most one thread is between the two at any time, however threads are
// preempted.
unsafe impl critical_section::Impl for YieldingLock {
    unsafe fn acquire() {
        while LOCKED
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            // Yield cannot fail; the holder runs if it shares our priority.
            let _ = keel_sys::r#yield();
        }
    }

    unsafe fn release(_state: ()) {
        LOCKED.store(false, Ordering::Release);
    }
}
