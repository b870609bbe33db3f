//! Debug system calls: console output, halting the system, thread names,
//! capability identification and the kernel's test knobs. Each goes through
//! a [`Cap<Debug>`]: the root task holds one with every right
//! ([`crate::cap::init_thread::DEBUG`]) and hands copies to the programs it
//! trusts with them; a copy minted with [`keel_abi::CapRights::WRITE`] alone
//! may only print and name threads (see `keel_abi::syscall`). Through any
//! other cap a call returns `InvalidCapability` (or `FailedLookup` for a
//! CPtr that names no slot) and does nothing.

use crate::cap::Debug;
use crate::{call, CPtr, Cap, CapType, Error, Syscall};

impl Cap<Debug> {
    /// Makes debug call `syscall` through this cap with arguments 1.. `args`.
    fn debug_call(self, syscall: Syscall, args: [u64; 5]) -> Result<[u64; 2], Error> {
        let [a, b, c, d, e] = args;
        call(syscall, [self.cptr().bits(), a, b, c, d, e])
    }

    /// Writes one byte to the kernel console.
    ///
    /// # Errors
    /// `InvalidCapability` without the write right.
    pub fn debug_put_char(self, byte: u8) -> Result<(), Error> {
        self.debug_call(Syscall::DebugPutChar, [u64::from(byte), 0, 0, 0, 0])
            .map(|_| ())
    }

    /// Writes a string to the kernel console.
    ///
    /// # Errors
    /// As [`Cap::debug_put_char`]; it stops at the first byte refused.
    pub fn debug_put_str(self, s: &str) -> Result<(), Error> {
        s.bytes().try_for_each(|b| self.debug_put_char(b))
    }

    /// Stops the whole system; under QEMU, QEMU exits with `status`. Returns
    /// only when the kernel refuses, with the error.
    pub fn debug_halt(self, status: u32) -> Error {
        match self.debug_call(Syscall::DebugHalt, [u64::from(status), 0, 0, 0, 0]) {
            Err(e) => e,
            // A halt that returns success is one this crate does not know.
            Ok(_) => Error::IllegalOperation,
        }
    }

    /// Names the calling thread in kernel fault reports.
    ///
    /// # Errors
    /// `InvalidCapability` without the write right; `RangeError` when the
    /// name is longer than [`keel_abi::syscall::THREAD_NAME_MAX`] bytes;
    /// `InvalidArgument` when it is not readable memory.
    pub fn debug_name_thread(self, name: &str) -> Result<(), Error> {
        self.debug_call(
            Syscall::DebugNameThread,
            [name.as_ptr() as u64, name.len() as u64, 0, 0, 0],
        )
        .map(|_| ())
    }

    /// The type of the capability `slot` (a CPtr) names in the caller's
    /// CSpace.
    ///
    /// # Errors
    /// `InvalidCapability` without read and write rights; `FailedLookup`
    /// when `slot` resolves to no slot.
    pub fn debug_cap_identify(self, slot: CPtr) -> Result<CapType, Error> {
        let [kind, _] = self.debug_call(Syscall::DebugCapIdentify, [slot.bits(), 0, 0, 0, 0])?;
        CapType::try_from(kind).map_err(|_| Error::IllegalOperation)
    }

    /// Makes every `n`-th preemption point in the kernel act as if an
    /// interrupt were pending (0 turns this off); returns how many
    /// preemptions happened since the previous call. For tests of
    /// restartable operations.
    ///
    /// # Errors
    /// `InvalidCapability` without read and write rights.
    pub fn debug_set_preempt_every(self, n: u64) -> Result<u64, Error> {
        self.debug_call(Syscall::DebugPreemptEvery, [n, 0, 0, 0, 0])
            .map(|[count, _]| count)
    }

    /// The longest stretch of kernel work without a preemption point since
    /// the previous call, in cycle-counter ticks; restarts the measurement.
    ///
    /// # Errors
    /// `InvalidCapability` without read and write rights.
    pub fn debug_longest_kernel_stretch(self) -> Result<u64, Error> {
        self.debug_call(Syscall::DebugLongestStretch, [0; 5])
            .map(|[ticks, _]| ticks)
    }

    /// Turns the kernel's IPC fast path on or off (for comparing it with the
    /// slow path); returns whether it was on.
    ///
    /// # Errors
    /// `InvalidCapability` without read and write rights.
    pub fn debug_set_fastpath(self, enabled: bool) -> Result<bool, Error> {
        self.debug_call(Syscall::DebugFastpath, [u64::from(enabled), 0, 0, 0, 0])
            .map(|[previous, _]| previous != 0)
    }
}
