//! Faults: user exceptions and page faults reported by the architecture's trap
//! code, capability faults and unknown system calls from the syscall layer.
//! Each becomes a fault message (`keel_abi::fault`) that the thread sends to
//! its fault endpoint as a Call, so the handler's reply resumes it; a thread
//! with no fault handler is stopped and reported on the console, and the
//! kernel carries on. A spent budget (MCS) is a timeout fault, sent the same
//! way to the thread's timeout endpoint; without one the thread waits for its
//! next refill.

use crate::object::endpoint;
use crate::object::handle::Thread;
use crate::object::memory::KernelMemory;
use crate::object::tcb::{FAULT_ENDPOINT_SLOT, FAULT_WORDS, TIMEOUT_ENDPOINT_SLOT};
use crate::sched;
use keel_abi::fault::{self as layout, FaultType};
use keel_abi::registers;
use keel_abi::{CapRights, CapType};
use keel_kernel_core::cspace::{read_cap, LookupError};

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
    /// An undefined or privileged instruction, with the exception number
    /// seL4 reports for it (x86_64: vector 6; aarch64: the whole ESR).
    UndefinedInstruction(u64),
    /// A misaligned access.
    Alignment,
    /// A system call's cap lookup failed, or a receive named a cap it
    /// cannot receive on (`UserFault::addr` holds the CPtr).
    CapFault(CapFaultCause),
    /// An unknown system-call number (`UserFault::addr` holds it).
    UnknownSyscall,
    /// Any other exception, with the architecture's code (x86 vector, aarch64 ESR).
    Other(u64),
}

/// What a cap fault message says beyond the CPtr (seL4's CapFault words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapFaultCause {
    /// The fault came from a receive (or the Reply object it names), not a
    /// send: seL4's InRecvPhase.
    pub in_receive: bool,
    /// How the lookup failed; a cap that was found but cannot serve is
    /// `MissingCapability` with no bits left, as seL4 reports it.
    pub lookup: LookupError,
}

/// A user fault.
#[derive(Clone, Copy, Debug)]
pub struct UserFault {
    /// What happened.
    pub kind: UserFaultKind,
    /// User program counter.
    pub ip: u64,
    /// Faulting data address, CPtr or syscall number, where the kind has one.
    pub addr: u64,
}

impl core::fmt::Display for UserFaultKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            UserFaultKind::VmFault(Access::Read) => f.write_str("vm-fault (read)"),
            UserFaultKind::VmFault(Access::Write) => f.write_str("vm-fault (write)"),
            UserFaultKind::VmFault(Access::Execute) => f.write_str("vm-fault (execute)"),
            UserFaultKind::UndefinedInstruction(_) => f.write_str("undefined-instruction"),
            UserFaultKind::Alignment => f.write_str("alignment"),
            UserFaultKind::CapFault(_) => f.write_str("cap-fault"),
            UserFaultKind::UnknownSyscall => f.write_str("unknown-syscall"),
            UserFaultKind::Other(code) => write!(f, "exception {code:#x}"),
        }
    }
}

/// The exception number in an alignment fault's UserException message
/// (the x86 vector; other exceptions carry the architecture's own code).
const ALIGNMENT_NUMBER: u64 = 17;

/// Builds the fault message for `fault` from `thread`'s registers.
fn message(thread: Thread, fault: &UserFault) -> (FaultType, [u64; FAULT_WORDS], usize) {
    let mut w = [0u64; FAULT_WORDS];
    let reg = |i| thread.register(i).unwrap_or(0);
    let exception = |w: &mut [u64; FAULT_WORDS], number: u64, code: u64| {
        w[layout::USER_EXCEPTION_IP] = fault.ip;
        w[layout::USER_EXCEPTION_SP] = reg(registers::SP);
        w[layout::USER_EXCEPTION_FLAGS] = reg(registers::FLAGS);
        w[layout::USER_EXCEPTION_NUMBER] = number;
        w[layout::USER_EXCEPTION_CODE] = code;
        (FaultType::UserException, layout::USER_EXCEPTION_LENGTH)
    };
    let (label, length) = match fault.kind {
        UserFaultKind::VmFault(access) => {
            w[layout::VM_FAULT_IP] = fault.ip;
            w[layout::VM_FAULT_ADDR] = fault.addr;
            w[layout::VM_FAULT_PREFETCH] = u64::from(access == Access::Execute);
            w[layout::VM_FAULT_FSR] = access as u64;
            (FaultType::VmFault, layout::VM_FAULT_LENGTH)
        }
        UserFaultKind::CapFault(cause) => {
            w[layout::CAP_FAULT_IP] = fault.ip;
            w[layout::CAP_FAULT_ADDR] = fault.addr;
            w[layout::CAP_FAULT_IN_RECV_PHASE] = u64::from(cause.in_receive);
            w[layout::CAP_FAULT_LOOKUP_FAILURE] = cause.lookup.failure as u64;
            let (words, n) = cause.lookup.detail_words();
            let detail = layout::CAP_FAULT_LOOKUP_FAILURE + 1;
            w[detail..detail + n].copy_from_slice(&words[..n]);
            (FaultType::CapFault, detail + n)
        }
        UserFaultKind::UnknownSyscall => {
            let regs = layout::unknown_syscall_registers(crate::arch::ARCH);
            for (word, &r) in w.iter_mut().zip(regs) {
                *word = reg(r);
            }
            w[regs.len()] = fault.addr;
            (FaultType::UnknownSyscall, regs.len() + 1)
        }
        UserFaultKind::UndefinedInstruction(number) => exception(&mut w, number, 0),
        UserFaultKind::Alignment => exception(&mut w, ALIGNMENT_NUMBER, 0),
        UserFaultKind::Other(code) => exception(&mut w, code, 0),
    };
    (label, w, length)
}

/// seL4's `validFaultHandler`: an endpoint cap that can take a fault
/// message and wait for its reply (write, and grant or grant-reply).
pub fn is_fault_handler(cap: &keel_kernel_core::cap::Cap) -> bool {
    let rights = cap.rights();
    cap.is(CapType::Endpoint)
        && rights.contains(CapRights::WRITE)
        && (rights.contains(CapRights::GRANT) || rights.contains(CapRights::GRANT_REPLY))
}

/// The endpoint cap in `thread`'s TCB slot `slot`, if it is a fault handler.
fn handler(thread: Thread, slot: u64) -> Option<keel_kernel_core::cap::Cap> {
    let cap = read_cap(&KernelMemory, thread.slot(slot));
    is_fault_handler(&cap).then_some(cap)
}

/// Sends the fault message as a Call on `handler`: the reply resumes the thread.
fn send_fault(
    thread: Thread,
    handler: keel_kernel_core::cap::Cap,
    label: FaultType,
    words: [u64; FAULT_WORDS],
    length: usize,
) {
    thread.set_fault(label as u64, words, length);
    // A fault message never carries caps (see `ipc::transfer`).
    let how = endpoint::Sending {
        blocking: true,
        is_call: true,
        donates: false,
    };
    endpoint::send(thread, &handler, how);
}

/// True when `thread` has a timeout endpoint to report a spent budget to.
pub fn has_timeout_handler(thread: Thread) -> bool {
    handler(thread, TIMEOUT_ENDPOINT_SLOT).is_some()
}

/// Raises a timeout fault for `thread` (its scheduling context's budget is
/// spent): a Call to its timeout endpoint with the context's badge and the
/// time used on it (µs) since it was last read. Without a timeout endpoint
/// nothing happens: the thread waits for its next refill.
pub fn raise_timeout(thread: Thread, badge: u64, consumed_us: u64) {
    if let Some(handler) = handler(thread, TIMEOUT_ENDPOINT_SLOT) {
        let mut words = [0; FAULT_WORDS];
        words[layout::TIMEOUT_DATA] = badge;
        words[layout::TIMEOUT_CONSUMED] = consumed_us;
        send_fault(
            thread,
            handler,
            FaultType::Timeout,
            words,
            layout::TIMEOUT_LENGTH,
        );
    }
}

/// Raises `fault` for `thread`: a Call to its fault endpoint, or, without
/// one, a report and a stop.
pub fn raise(thread: Thread, fault: UserFault) {
    if let Some(handler) = handler(thread, FAULT_ENDPOINT_SLOT) {
        let (label, words, length) = message(thread, &fault);
        send_fault(thread, handler, label, words, length);
        return;
    }
    crate::kprintln!(
        "KEEL: fault in thread '{}': {} addr={:#x} ip={:#x}; no fault handler, thread stopped",
        thread.name(),
        fault.kind,
        fault.addr,
        fault.ip
    );
    crate::ipc::stop_thread(thread);
}

/// Raises a fault for the current thread, then schedules.
pub fn handle_user_fault(fault: UserFault) -> ! {
    if let Some(thread) = sched::current() {
        raise(thread, fault);
    }
    sched::schedule()
}

/// Reports an interrupt nothing asked for, then resumes.
pub fn handle_unexpected_interrupt(irq: u64) -> ! {
    crate::kprintln!("KEEL: unexpected interrupt {irq}, ignored");
    sched::schedule()
}
