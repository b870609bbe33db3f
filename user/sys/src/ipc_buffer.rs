//! Each thread's own IPC buffer. keel-sys finds the calling thread's buffer
//! through its thread pointer (x86_64 FS base, aarch64 TPIDR_EL0), which the
//! kernel saves and restores per thread: the thread pointer holds the
//! buffer's address and the buffer's `user_data` word holds it again, so one
//! load relative to the thread pointer yields it (x86_64 user code cannot
//! read FS base itself, only memory relative to it).
//!
//! Whoever creates a thread gives it its buffer before it runs
//! ([`give_ipc_buffer`]); keel-rt does this for the root task's own thread,
//! keel-loader for the first thread of each process it builds. A thread whose
//! thread pointer names no buffer must not use the functions that need one:
//! with a thread pointer of 0 the load faults (a registered buffer whose
//! `user_data` was cleared reads as none, and they fail with
//! `InvalidArgument`).

use crate::cap::{Frame, Tcb};
use crate::{Cap, InvocationError};
use keel_abi::IpcBuffer;

/// Where in an IPC buffer the buffer's own address is kept (its
/// `user_data` word), for builders that fill a buffer in another address
/// space (keel-loader).
pub const SELF_POINTER_OFFSET: usize = core::mem::offset_of!(IpcBuffer, user_data);

/// Makes `buffer` the IPC buffer keel-sys uses on thread `tcb`: writes the
/// buffer's address into its `user_data` word and points the thread's
/// thread pointer at it. The kernel's idea of the thread's IPC buffer is set
/// apart (`tcb_set_ipc_buffer`, or [`give_ipc_buffer`] for both).
///
/// # Errors
/// A failed `TcbSetTLSBase`.
///
/// # Safety
/// `tcb` is the calling thread or a thread of the caller's address space
/// that is not running; `buffer` is an IPC buffer mapped writable at this
/// address for as long as the thread runs, and no other thread uses it.
pub unsafe fn set_ipc_buffer(tcb: Cap<Tcb>, buffer: *mut IpcBuffer) -> Result<(), InvocationError> {
    // SAFETY: the caller's contract: `buffer` is mapped writable and no other
    // thread uses it; a raw write makes no reference.
    unsafe { core::ptr::addr_of_mut!((*buffer).user_data).write_volatile(buffer as u64) };
    tcb.tcb_set_tls_base(buffer as u64)
}

/// Gives thread `tcb` of the caller's address space its IPC buffer at
/// `buffer` (1 KiB-aligned, in `frame`), for the kernel (`TcbSetIPCBuffer`)
/// and for keel-sys ([`set_ipc_buffer`]); a thread started afterwards makes
/// long IPC through it.
///
/// # Errors
/// `AlignmentError` for a misaligned buffer, `IllegalOperation` when
/// `frame` is no frame; lookup errors.
///
/// # Safety
/// As for [`set_ipc_buffer`], and `frame` is the frame mapped at `buffer`.
pub unsafe fn give_ipc_buffer(
    tcb: Cap<Tcb>,
    buffer: *mut IpcBuffer,
    frame: Cap<Frame>,
) -> Result<(), InvocationError> {
    tcb.tcb_set_ipc_buffer(buffer as u64, frame)?;
    // SAFETY: the caller's contract, passed on.
    unsafe { set_ipc_buffer(tcb, buffer) }
}

/// Runs `f` on the calling thread's IPC buffer, if it has one.
pub(crate) fn with_ipc_buffer<R>(f: impl FnOnce(&mut IpcBuffer) -> R) -> Option<R> {
    let ptr = crate::arch::ipc_buffer_address() as usize as *mut IpcBuffer;
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `set_ipc_buffer`'s contract: the thread pointer names a mapped,
    // writable buffer that only this thread uses, through keel-sys, and no
    // caller of `with_ipc_buffer` calls it again inside `f`, so this is the
    // only reference.
    Some(f(unsafe { &mut *ptr }))
}

/// Runs `f`, then puts the calling thread's IPC buffer back as it was: for
/// a call made in the middle of someone else's use of the buffer (keel-rt's
/// heap asking its memory manager for pages inside an allocation, which may
/// come between a message's arrival and its reading).
pub fn preserving_ipc_buffer<R>(f: impl FnOnce() -> R) -> R {
    let saved = with_ipc_buffer(|b| *b);
    let result = f();
    if let Some(saved) = saved {
        with_ipc_buffer(|b| *b = saved);
    }
    result
}
