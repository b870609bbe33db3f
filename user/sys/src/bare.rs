//! For programs that run without keel-rt, entered straight from keel-sys's
//! `_start` (keel-child, keel-spawnee): no heap, so the process a loader or
//! the process server builds for one can be small. A library cannot choose
//! a program's global allocator or panic handler for it, so each such
//! program names [`NoHeap`] as its `#[global_allocator]` and calls [`panic`]
//! from its `#[panic_handler]`; [`stop`] ends its thread.

use crate::cap::{Debug, Tcb};
use crate::Cap;
use core::alloc::{GlobalAlloc, Layout};
use core::panic::PanicInfo;

/// A global allocator that refuses every allocation. Dependencies built
/// with `alloc` (keel-abi's manifest support, unified in with the root
/// task's features) need one to link; a program without a heap never
/// allocates.
pub struct NoHeap;

// SAFETY: `alloc` always returns null, which GlobalAlloc permits as failure;
// `dealloc` is never given a pointer `alloc` returned, because there is none.
unsafe impl GlobalAlloc for NoHeap {
    unsafe fn alloc(&self, _: Layout) -> *mut u8 {
        core::ptr::null_mut()
    }

    unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
}

/// Stops the calling thread for good: suspends it through `tcb`, its own
/// TCB cap, and yields for as long as that is refused.
pub fn stop(tcb: Cap<Tcb>) -> ! {
    let _ = tcb.tcb_suspend();
    loop {
        let _ = crate::r#yield();
    }
}

/// Prints the panic `info` of `program` through `debug`
/// (`program: panic: message`, or `program: panic` when the message is
/// formatted and would need a buffer), then [`stop`]s through `tcb`. Without
/// a Debug cap at `debug` the lines are refused, and there is nothing else
/// to report that to.
pub fn panic(program: &str, debug: Cap<Debug>, tcb: Cap<Tcb>, info: &PanicInfo) -> ! {
    let put = |s: &str| {
        let _refused = debug.debug_put_str(s);
    };
    put(program);
    match info.message().as_str() {
        Some(message) => {
            put(": panic: ");
            put(message);
            put("\n");
        }
        None => put(": panic\n"),
    }
    stop(tcb)
}
