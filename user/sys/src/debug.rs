//! Debug system calls: console output, halting the system, thread names and
//! capability identification.

use crate::{call, CPtr, CapType, Error, Syscall};

/// Writes one byte to the kernel console.
pub fn put_char(byte: u8) {
    // The kernel always accepts a byte; there is no error to report.
    let _ = call(Syscall::DebugPutChar, [u64::from(byte), 0, 0, 0, 0, 0]);
}

/// Writes a string to the kernel console.
pub fn put_str(s: &str) {
    s.bytes().for_each(put_char);
}

/// Stops the whole system; under QEMU, QEMU exits with `status`.
pub fn halt(status: u32) -> ! {
    let _ = call(Syscall::DebugHalt, [u64::from(status), 0, 0, 0, 0, 0]);
    unreachable!("invariant: DebugHalt does not return")
}

/// Names the calling thread in kernel fault reports.
///
/// # Errors
/// `RangeError` when the name is longer than
/// [`keel_abi::syscall::THREAD_NAME_MAX`] bytes; `InvalidArgument` when it is not
/// readable memory.
pub fn name_thread(name: &str) -> Result<(), Error> {
    call(
        Syscall::DebugNameThread,
        [name.as_ptr() as u64, name.len() as u64, 0, 0, 0, 0],
    )
    .map(|_| ())
}

/// The type of the capability in a slot of the caller's root CNode.
///
/// # Errors
/// `FailedLookup` when the slot index is past the end of the CNode.
pub fn cap_identify(slot: CPtr) -> Result<CapType, Error> {
    let [kind, _] = call(Syscall::DebugCapIdentify, [slot.bits(), 0, 0, 0, 0, 0])?;
    CapType::try_from(kind).map_err(|_| Error::IllegalOperation)
}

/// Makes every `n`-th preemption point in the kernel act as if an interrupt
/// were pending (0 turns this off); returns how many preemptions happened
/// since the previous call. For tests of restartable operations.
///
/// # Errors
/// None today; the kernel accepts any `n`.
pub fn set_preempt_every(n: u64) -> Result<u64, Error> {
    call(Syscall::DebugPreemptEvery, [n, 0, 0, 0, 0, 0]).map(|[count, _]| count)
}

/// The longest stretch of kernel work without a preemption point since the
/// previous call, in cycle-counter ticks; restarts the measurement.
///
/// # Errors
/// None today.
pub fn longest_kernel_stretch() -> Result<u64, Error> {
    call(Syscall::DebugLongestStretch, [0; 6]).map(|[ticks, _]| ticks)
}

/// Turns the kernel's IPC fast path on or off (for comparing it with the slow
/// path); returns whether it was on.
///
/// # Errors
/// None today.
pub fn set_fastpath(enabled: bool) -> Result<bool, Error> {
    call(Syscall::DebugFastpath, [u64::from(enabled), 0, 0, 0, 0, 0])
        .map(|[previous, _]| previous != 0)
}
