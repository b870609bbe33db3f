//! Fault messages: what a thread's fault endpoint receives when the thread
//! faults. The message label is the [`FaultType`]; the message registers are
//! laid out per type as below (seL4's order). Replying to the message resumes
//! the thread (see each type).

use crate::numbered::numbered_enum;

numbered_enum! {
    /// The kind of fault, sent as the message label.
    pub enum FaultType: u64 {
        /// No fault.
        NullFault = 0,
        /// A system call named a missing cap or one lacking a right. Replying
        /// makes the thread run the system call again.
        CapFault = 1,
        /// An unknown system-call number. Registers: Keel's register list
        /// (`crate::registers`), then the number. A reply with label 0 writes
        /// its message back into those registers and the thread goes on after
        /// the system call; another label leaves it stopped.
        UnknownSyscall = 2,
        /// An exception (undefined instruction, alignment, ...). A reply with
        /// label 0 writes back FaultIP, SP and flags and resumes at FaultIP.
        UserException = 3,
        /// A budget ran out (MCS; comes with scheduling contexts).
        Timeout = 4,
        /// A page fault. Any reply makes the thread retry the access.
        VmFault = 5,
    }
}

/// VmFault: the faulting instruction's address.
pub const VM_FAULT_IP: usize = 0;
/// VmFault: the address accessed.
pub const VM_FAULT_ADDR: usize = 1;
/// VmFault: 1 for an instruction fetch, 0 for a data access.
pub const VM_FAULT_PREFETCH: usize = 2;
/// VmFault: the access: 0 read, 1 write, 2 execute.
pub const VM_FAULT_FSR: usize = 3;
/// VmFault: message length.
pub const VM_FAULT_LENGTH: usize = 4;

/// CapFault: the address of the faulting system call.
pub const CAP_FAULT_IP: usize = 0;
/// CapFault: the CPtr that failed.
pub const CAP_FAULT_ADDR: usize = 1;
/// CapFault: 1 when the failure was in a receive phase.
pub const CAP_FAULT_IN_RECV_PHASE: usize = 2;
/// CapFault: the `LookupFailure` (0 when the cap was found but unsuitable).
pub const CAP_FAULT_LOOKUP_FAILURE: usize = 3;
/// CapFault: message length.
pub const CAP_FAULT_LENGTH: usize = 4;

/// UserException: the faulting instruction's address.
pub const USER_EXCEPTION_IP: usize = 0;
/// UserException: the stack pointer.
pub const USER_EXCEPTION_SP: usize = 1;
/// UserException: the flags word.
pub const USER_EXCEPTION_FLAGS: usize = 2;
/// UserException: the exception number (x86 vector, aarch64 ESR class).
pub const USER_EXCEPTION_NUMBER: usize = 3;
/// UserException: the error code.
pub const USER_EXCEPTION_CODE: usize = 4;
/// UserException: message length.
pub const USER_EXCEPTION_LENGTH: usize = 5;
