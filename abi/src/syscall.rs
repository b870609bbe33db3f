//! System-call numbers and the register conventions around them.
//!
//! The per-architecture register assignment lives in keel-sys (`user/sys/src/arch/`)
//! and in the kernel's trap entry; this module only names the calls.

use crate::numbered::numbered_enum;

numbered_enum! {
    /// A system call, as passed in the syscall-number register.
    pub enum Syscall: u64 {
        /// Send and wait for the reply on an endpoint (or invoke a kernel object).
        Call = 1,
        /// Reply to the last caller, then wait on an endpoint.
        ReplyRecv = 2,
        /// Blocking send.
        Send = 3,
        /// Non-blocking send.
        NBSend = 4,
        /// Blocking receive.
        Recv = 5,
        /// Non-blocking receive.
        NBRecv = 6,
        /// Non-blocking send, then receive.
        NBSendRecv = 7,
        /// Non-blocking send, then wait on a notification.
        NBSendWait = 8,
        /// Wait on a notification.
        Wait = 9,
        /// Poll a notification.
        NBWait = 10,
        /// Give up the rest of the current time slice.
        Yield = 11,
        /// Debug: write one byte to the kernel console. Arg 0: the byte.
        DebugPutChar = 100,
        /// Debug: stop the whole system with an exit status. Arg 0: the status.
        DebugHalt = 101,
        /// Debug: give the calling thread a name for fault reports.
        /// Arg 0: pointer to UTF-8 bytes, arg 1: length (at most [`THREAD_NAME_MAX`]).
        DebugNameThread = 102,
        /// Debug: report the type of the capability in a root-CNode slot.
        /// Arg 0: slot index. Returns the [`crate::CapType`] in result word 1.
        DebugCapIdentify = 103,
        /// Debug: make every `n`-th preemption point of long kernel operations act
        /// as if an interrupt were pending (0: only real interrupts), to exercise
        /// restarts. Arg 0: `n`. Returns in result word 1 how many preemptions
        /// happened since the previous call.
        DebugPreemptEvery = 104,
        /// Debug: the longest stretch of kernel work without a preemption point
        /// (from kernel entry, a preemption point or kernel exit to the next), in
        /// cycle-counter ticks, since the previous call; restarts the measurement.
        DebugLongestStretch = 105,
        /// Debug: turn the IPC fast path on (arg 0 = 1) or off (0), to compare
        /// it with the slow path. Returns the previous setting in result word 1.
        DebugFastpath = 106,
    }
}

/// Longest thread name the kernel keeps, in bytes.
pub const THREAD_NAME_MAX: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_unknown_is_rejected() {
        for &s in Syscall::ALL {
            assert_eq!(Syscall::try_from(s as u64), Ok(s));
        }
        assert_eq!(Syscall::try_from(0), Err(0));
        assert_eq!(Syscall::try_from(12), Err(12));
        assert_eq!(Syscall::try_from(107), Err(107));
        assert_eq!(Syscall::try_from(u64::MAX), Err(u64::MAX));
    }
}
