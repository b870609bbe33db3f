//! Fault messages: what a thread's fault endpoint receives when the thread
//! faults. The message label is the [`FaultType`]; the message registers are
//! laid out per type as below (seL4's order). Replying to the message resumes
//! the thread (see each type).

use crate::numbered::numbered_enum;
use crate::registers::{AARCH64_COUNT, FLAGS, MAX_COUNT, PC, SP, X86_64_COUNT};
use crate::Arch;

numbered_enum! {
    /// The kind of fault, sent as the message label.
    pub enum FaultType: u64 {
        /// No fault.
        NullFault = 0,
        /// A system call named a missing cap or one lacking a right. Replying
        /// makes the thread run the system call again.
        CapFault = 1,
        /// An unknown system-call number. Registers: those
        /// [`unknown_syscall_registers`] names, in seL4's order, then the
        /// number. A reply with label 0 writes its message back into those
        /// registers and the thread goes on after the system call; another
        /// label leaves it stopped.
        UnknownSyscall = 2,
        /// An exception (undefined instruction, alignment, ...). A reply with
        /// label 0 writes back FaultIP, SP and flags and resumes at FaultIP.
        UserException = 3,
        /// A budget ran out while the thread had a timeout endpoint (MCS).
        /// A reply with label 0 (seL4's TimeoutReply) writes its message
        /// into the registers [`timeout_reply_registers`] names and resumes
        /// the thread (once its scheduling context has budget); another
        /// label leaves it stopped.
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
/// CapFault: the `LookupFailure` (seL4's lookup fault type plus one); a cap
/// that was found but cannot serve (a receive through a cap that is not an
/// endpoint or notification, or lacks the read right; a Reply argument
/// that is not a Reply cap) is `MissingCapability` with no bits left. The
/// words after it depend on it, as in seL4: none for `InvalidRoot`,
/// [`CAP_FAULT_BITS_LEFT`] for `MissingCapability`, that and
/// [`CAP_FAULT_DEPTH_MISMATCH_BITS_FOUND`] for `DepthMismatch`, that and
/// the two guard words for `GuardMismatch`; the message is as long as the
/// words it holds.
pub const CAP_FAULT_LOOKUP_FAILURE: usize = 3;
/// CapFault: the bits of the CPtr left to resolve where the lookup failed.
pub const CAP_FAULT_BITS_LEFT: usize = 4;
/// CapFault, `DepthMismatch`: the bits the CNode would have resolved.
pub const CAP_FAULT_DEPTH_MISMATCH_BITS_FOUND: usize = 5;
/// CapFault, `GuardMismatch`: the CNode's guard.
pub const CAP_FAULT_GUARD_MISMATCH_GUARD_FOUND: usize = 5;
/// CapFault, `GuardMismatch`: the CNode's guard size.
pub const CAP_FAULT_GUARD_MISMATCH_BITS_FOUND: usize = 6;

/// UserException: the faulting instruction's address.
pub const USER_EXCEPTION_IP: usize = 0;
/// UserException: the stack pointer.
pub const USER_EXCEPTION_SP: usize = 1;
/// UserException: the flags word.
pub const USER_EXCEPTION_FLAGS: usize = 2;
/// UserException: the exception number (x86_64: the vector; aarch64: the
/// whole ESR, syndrome included, as seL4 gives it).
pub const USER_EXCEPTION_NUMBER: usize = 3;
/// UserException: the error code.
pub const USER_EXCEPTION_CODE: usize = 4;
/// UserException: message length.
pub const USER_EXCEPTION_LENGTH: usize = 5;

/// Timeout: the badge configured on the scheduling context.
pub const TIMEOUT_DATA: usize = 0;
/// Timeout: the time (µs) used on the scheduling context since it was last
/// read (as `SchedContext_Consumed` would report it).
pub const TIMEOUT_CONSUMED: usize = 1;
/// Timeout: message length.
pub const TIMEOUT_LENGTH: usize = 2;

/// The register list in its own order: a TimeoutReply's word `i` goes
/// into register `i`, as a `TcbWriteRegisters` message lays them out.
const REGISTER_LIST: [usize; MAX_COUNT] = {
    let mut list = [0; MAX_COUNT];
    let mut i = 0;
    while i < MAX_COUNT {
        list[i] = i;
        i += 1;
    }
    list
};

/// The registers a reply to a timeout fault writes on `arch`, in message
/// order, as indices into the register list: the whole list, in the order
/// `TcbReadRegisters` gives it (seL4's TimeoutReply is a whole user
/// context). A shorter reply writes the first registers only.
pub fn timeout_reply_registers(arch: Arch) -> &'static [usize] {
    match arch {
        Arch::X86_64 => &REGISTER_LIST[..X86_64_COUNT],
        Arch::Aarch64 => &REGISTER_LIST[..AARCH64_COUNT],
    }
}

/// UnknownSyscall on x86_64, as indices into the register list
/// (`crate::registers`): rax, rbx, rcx, rdx, rsi, rdi, rbp, r8-r15, then the
/// address after the call, rsp and rflags (seL4's order).
const UNKNOWN_SYSCALL_X86_64: [usize; 18] = [
    9, 10, 6, 5, 4, 3, 11, 7, 8, 12, 13, 14, 15, 16, 17, PC, SP, FLAGS,
];
/// UnknownSyscall on aarch64: x0-x7, the address after the call, sp, lr (x30)
/// and spsr (seL4's order).
const UNKNOWN_SYSCALL_AARCH64: [usize; 12] = [3, 4, 5, 6, 7, 8, 9, 10, PC, SP, 33, FLAGS];

/// The registers an UnknownSyscall message carries on `arch`, in message
/// order, as indices into the register list; the system-call number follows.
pub fn unknown_syscall_registers(arch: Arch) -> &'static [usize] {
    match arch {
        Arch::X86_64 => &UNKNOWN_SYSCALL_X86_64,
        Arch::Aarch64 => &UNKNOWN_SYSCALL_AARCH64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registers::ARG0;

    #[test]
    fn timeout_reply_writes_the_register_list_in_order() {
        for (arch, count) in [(Arch::X86_64, X86_64_COUNT), (Arch::Aarch64, AARCH64_COUNT)] {
            let regs = timeout_reply_registers(arch);
            assert_eq!(regs.len(), count, "{arch:?}: the whole list");
            assert!(regs.iter().enumerate().all(|(i, &r)| i == r));
        }
        assert_eq!(timeout_reply_registers(Arch::X86_64)[PC], PC);
    }

    #[test]
    fn unknown_syscall_layouts_name_distinct_registers_of_the_list() {
        for (arch, count, len) in [
            (Arch::X86_64, X86_64_COUNT, 19),
            (Arch::Aarch64, AARCH64_COUNT, 13),
        ] {
            let regs = unknown_syscall_registers(arch);
            assert_eq!(regs.len() + 1, len, "{arch:?}: seL4's message length");
            assert!(regs.iter().all(|&r| r < count));
            assert!(regs.iter().enumerate().all(|(i, r)| !regs[..i].contains(r)));
        }
        // The first argument: rdi is seL4's MR 5 on x86_64, x0 is MR 0 on aarch64.
        assert_eq!(UNKNOWN_SYSCALL_X86_64[5], ARG0);
        assert_eq!(UNKNOWN_SYSCALL_AARCH64[0], ARG0);
    }
}
