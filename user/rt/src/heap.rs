//! The program heap: embedded-alloc's linked-list allocator over a region of the
//! program's own zero-initialised memory, which the loader backs with frames.

use core::mem::MaybeUninit;
use embedded_alloc::LlffHeap;

/// Heap size in bytes.
const HEAP_SIZE: usize = 1 << 20;

#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();

static mut HEAP_MEMORY: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];

/// Hands the heap its memory. Called once, first thing at entry.
pub fn init() {
    // SAFETY: called once, before any allocation, by the program's only thread;
    // HEAP_MEMORY is used by nothing else.
    unsafe { HEAP.init(core::ptr::addr_of_mut!(HEAP_MEMORY) as usize, HEAP_SIZE) }
}

/// Threads of a Keel program switch only at system calls today (no timer
/// preempts them until MCS budgets arrive) and the allocator makes none, so
/// nothing can run between acquire and release. Once threads can be
/// preempted, this must become a real lock.
struct SingleThread;
critical_section::set_impl!(SingleThread);

// SAFETY: threads switch only inside system calls, which the allocator never
// makes, and user space has no asynchronous handlers, so nothing else runs
// between acquire and release: the section is exclusive.
unsafe impl critical_section::Impl for SingleThread {
    unsafe fn acquire() {}
    unsafe fn release(_state: ()) {}
}
