//! User faults and unexpected interrupts, as reported by the architecture's trap
//! code. A faulting thread with no fault handler is stopped and reported; the
//! kernel itself carries on. Fault endpoints come with the IPC issue.

use crate::sched;

/// The access that caused a VM fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
    /// An instruction fetch.
    Execute,
}

/// What went wrong in user mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserFaultKind {
    /// A page fault at `UserFault::addr`.
    VmFault(Access),
    /// An undefined or privileged instruction.
    UndefinedInstruction,
    /// A misaligned access.
    Alignment,
    /// A system call named a missing cap, or one without the right it needs
    /// (`UserFault::addr` holds the CPtr).
    CapFault,
    /// Any other exception, with the architecture's code (x86 vector, aarch64 ESR).
    Other(u64),
}

/// A user fault.
#[derive(Clone, Copy, Debug)]
pub struct UserFault {
    /// What happened.
    pub kind: UserFaultKind,
    /// User program counter.
    pub ip: u64,
    /// Faulting data address, where the architecture reports one.
    pub addr: u64,
}

impl core::fmt::Display for UserFaultKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            UserFaultKind::VmFault(Access::Read) => f.write_str("vm-fault (read)"),
            UserFaultKind::VmFault(Access::Write) => f.write_str("vm-fault (write)"),
            UserFaultKind::VmFault(Access::Execute) => f.write_str("vm-fault (execute)"),
            UserFaultKind::UndefinedInstruction => f.write_str("undefined-instruction"),
            UserFaultKind::Alignment => f.write_str("alignment"),
            UserFaultKind::CapFault => f.write_str("cap-fault"),
            UserFaultKind::Other(code) => write!(f, "exception {code:#x}"),
        }
    }
}

/// Stops the current thread and reports the fault, then schedules.
pub fn handle_user_fault(fault: UserFault) -> ! {
    if let (Some(tcb), Some(tcb_object)) = (sched::current(), sched::current_object()) {
        crate::kprintln!(
            "KEEL: fault in thread '{}': {} addr={:#x} ip={:#x}; no fault handler, thread stopped",
            tcb.name(),
            fault.kind,
            fault.addr,
            fault.ip
        );
        crate::ipc::stop_thread(tcb_object);
    }
    sched::schedule()
}

/// Reports an interrupt nothing asked for, then resumes.
pub fn handle_unexpected_interrupt(irq: u64) -> ! {
    crate::kprintln!("KEEL: unexpected interrupt {irq}, ignored");
    sched::schedule()
}
