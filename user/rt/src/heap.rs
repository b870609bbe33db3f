//! The program heap: embedded-alloc's linked-list allocator over a region of
//! the program's own zero-initialised memory, which the loader backs with
//! frames, and the lock that makes it safe for the threads of one program.
//!
//! embedded-alloc guards its heap with a `critical-section`; keel-rt's
//! implementation is the yielding spin lock of [`crate::lock`], with what
//! it guarantees: a thread stopped for good inside the allocator
//! (suspended or deleted by another) leaves the heap locked.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use embedded_alloc::LlffHeap;

use crate::lock::RawLock;

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

/// Held while a thread is in a critical section.
static LOCK: RawLock = RawLock::new();

/// The program's `critical-section`: one lock for all its threads (see
/// [`crate::lock`]). keel-rt's only user, the allocator, never nests
/// sections.
struct HeapLock;
critical_section::set_impl!(HeapLock);

// SAFETY: `acquire` returns only once this thread holds LOCK, and `release`
// releases it, so at most one thread is between the two at any time,
// however threads are preempted.
unsafe impl critical_section::Impl for HeapLock {
    unsafe fn acquire() {
        LOCK.acquire();
    }

    unsafe fn release(_state: ()) {
        LOCK.release();
    }
}
