//! The calling thread's IPC buffer. keel-rt registers it at start-up from
//! BootInfo; invocations with more than four message registers or with extra
//! capabilities use it.

use core::sync::atomic::{AtomicPtr, Ordering};
use keel_abi::IpcBuffer;

static IPC_BUFFER: AtomicPtr<IpcBuffer> = AtomicPtr::new(core::ptr::null_mut());

/// Registers the thread's IPC buffer.
///
/// # Safety
/// `buffer` must point to the thread's IPC buffer, mapped writable for as long
/// as the program runs, and used by nothing but keel-sys.
pub unsafe fn set_ipc_buffer(buffer: *mut IpcBuffer) {
    IPC_BUFFER.store(buffer, Ordering::Relaxed);
}

/// Runs `f` on the IPC buffer, if one is registered.
pub(crate) fn with_ipc_buffer<R>(f: impl FnOnce(&mut IpcBuffer) -> R) -> Option<R> {
    let ptr = IPC_BUFFER.load(Ordering::Relaxed);
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `set_ipc_buffer`'s contract: a mapped, writable buffer that only
    // keel-sys touches; programs are single-threaded, so no other reference is live.
    Some(f(unsafe { &mut *ptr }))
}
