//! System-call numbers and the register conventions around them.
//!
//! The per-architecture register assignment lives in keel-sys (`user/sys/src/arch/`)
//! and in the kernel's trap entry; this module names the calls, which argument
//! (by number, 0..8) carries what, and the authority each debug call needs.
//!
//! # Debug calls
//!
//! The debug calls are no ambient authority: each names a [`crate::CapType::Debug`]
//! cap in argument 0 ([`ARG_CAP`]), which must carry the rights
//! [`Syscall::debug_rights`] gives, or the call returns an error and does
//! nothing: `FailedLookup` when the CPtr resolves to no slot,
//! `InvalidCapability` (argument 0) when the slot holds no Debug cap or one
//! without those rights. The root task gets the cap with every right
//! ([`crate::InitCap::Debug`]); it hands copies only to the programs it
//! trusts with them. A copy minted with the write right alone is an output
//! cap: it prints and names threads, and nothing more.

use crate::numbered::numbered_enum;
use crate::CapRights;

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
        /// Give up the rest of the current refill (MCS; for a round-robin
        /// context, the rest of its timeslice).
        Yield = 11,
        /// Debug: write one byte to the kernel console. Arg 1: the byte.
        DebugPutChar = 100,
        /// Debug: stop the whole system with an exit status. Arg 1: the status.
        DebugHalt = 101,
        /// Debug: give the calling thread a name for fault reports.
        /// Arg 1: pointer to UTF-8 bytes, arg 2: length (at most [`THREAD_NAME_MAX`]).
        DebugNameThread = 102,
        /// Debug: report the type of the capability a CPtr names in the
        /// caller's CSpace. Arg 1: the CPtr. Returns the [`crate::CapType`] in
        /// result word 1.
        DebugCapIdentify = 103,
        /// Debug: make every `n`-th preemption point of long kernel operations act
        /// as if an interrupt were pending (0: only real interrupts), to exercise
        /// restarts. Arg 1: `n`. Returns in result word 1 how many preemptions
        /// happened since the previous call.
        DebugPreemptEvery = 104,
        /// Debug: the longest stretch of kernel work without a preemption point
        /// (from kernel entry, a preemption point or kernel exit to the next), in
        /// cycle-counter ticks, since the previous call; restarts the measurement.
        DebugLongestStretch = 105,
        /// Debug: turn the IPC fast path on (arg 1 = 1) or off (0), to compare
        /// it with the slow path. Returns the previous setting in result word 1.
        DebugFastpath = 106,
    }
}

/// Longest thread name the kernel keeps, in bytes.
pub const THREAD_NAME_MAX: usize = 32;

/// The argument naming the cap a call goes through: the endpoint,
/// notification or Reply of IPC, the object a Call invokes, the Debug cap.
pub const ARG_CAP: usize = 0;
/// The argument holding the [`crate::MessageInfo`] of a message sent.
pub const ARG_INFO: usize = 1;
/// The argument naming the Reply object a Recv, NBRecv or ReplyRecv
/// receives with (MCS); CPtr 0 names none.
pub const ARG_REPLY: usize = 6;
/// The argument naming the cap the receive half of NBSendRecv and
/// NBSendWait receives on (argument [`ARG_CAP`] names the send's).
pub const ARG_SEND_RECV_SOURCE: usize = 6;
/// The argument naming the Reply object NBSendRecv receives with.
pub const ARG_SEND_RECV_REPLY: usize = 7;

impl Syscall {
    /// The rights the Debug cap named in argument [`ARG_CAP`] must have for
    /// this debug call, or `None` for a call that is not a debug call. Output
    /// (put-char, naming the caller for the kernel's reports) needs the write
    /// right; identifying one of the caller's own caps needs the read right
    /// (it tells nothing beyond the caller's own CSpace, so init can give it
    /// to every program: servers check the type of a cap they receive with
    /// it); every call that reads or changes kernel-wide state (halting, the
    /// fast path, preemption, the stretch measurement) needs every right.
    pub const fn debug_rights(self) -> Option<CapRights> {
        match self {
            Syscall::DebugPutChar | Syscall::DebugNameThread => Some(CapRights::WRITE),
            Syscall::DebugCapIdentify => Some(CapRights::READ),
            Syscall::DebugHalt
            | Syscall::DebugPreemptEvery
            | Syscall::DebugLongestStretch
            | Syscall::DebugFastpath => Some(CapRights::ALL),
            _ => None,
        }
    }
}

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

    #[test]
    fn exactly_the_debug_calls_need_a_debug_cap() {
        for &s in Syscall::ALL {
            assert_eq!(s.debug_rights().is_some(), s as u64 >= 100, "{s:?}");
        }
        let output = CapRights::WRITE;
        let program = CapRights::WRITE.union(CapRights::READ);
        let printing = [Syscall::DebugPutChar, Syscall::DebugNameThread];
        for &s in Syscall::ALL.iter().filter(|s| s.debug_rights().is_some()) {
            let needed = s.debug_rights().unwrap_or(CapRights::ALL);
            assert_eq!(output.contains(needed), printing.contains(&s), "{s:?}");
            // What init gives a program (read and write) prints, names and
            // identifies, and never halts or turns a kernel knob.
            let ordinary = printing.contains(&s) || s == Syscall::DebugCapIdentify;
            assert_eq!(program.contains(needed), ordinary, "{s:?}");
            assert!(CapRights::ALL.contains(needed), "{s:?}");
        }
    }
}
