//! Invocations: a `Call` on a capability to a kernel object. Reads the message
//! (label, message registers from registers and the IPC buffer, extra caps)
//! and hands the invoked cap, which the dispatcher looked up, to the object
//! type's decoder. A message is as long as `MessageInfo::bounded_length`
//! says: the claimed length bounded at the message maximum, as IPC reads it.

use crate::object::handle::Thread;
use crate::object::memory::KernelMemory;
use crate::object::vspace::{asid, frame, page_table};
use crate::object::{cnode, irq, sched_context, sched_control, tcb, untyped};
use keel_abi::invocation::{IpcBuffer, MAX_EXTRA_CAPS, MESSAGE_REGISTERS_IN_REGS};
use keel_abi::syscall::ARG_INFO;
use keel_abi::{CapType, Error, Label, MessageInfo};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::cspace::Progress;
use keel_kernel_core::error::SyscallError;

/// What a system call came to.
pub enum Outcome {
    /// An invocation finished with two result words.
    Done([u64; 2]),
    /// Stopped at a preemption point: the caller re-executes the system call.
    Restart,
    /// IPC: the kernel wrote the caller's results itself, or will when a
    /// message arrives.
    Handled,
    /// The call faults: a capability fault (with the CPtr) or an unknown
    /// system call (with its number).
    Fault(crate::fault::UserFaultKind, u64),
}

impl From<Progress> for Outcome {
    fn from(p: Progress) -> Self {
        match p {
            Progress::Done => Outcome::Done([0, 0]),
            Progress::Preempted => Outcome::Restart,
        }
    }
}

/// The message of an invocation, read on demand.
pub struct Message {
    info: MessageInfo,
    regs: [u64; MESSAGE_REGISTERS_IN_REGS],
    ipc_buffer: u64,
    /// The extra caps: their slots and caps.
    pub extra: [(u64, Cap); MAX_EXTRA_CAPS],
    /// How many extra caps were looked up.
    pub extra_count: usize,
}

impl Message {
    /// Message register `i`.
    ///
    /// # Errors
    /// `TruncatedMessage` when the message has fewer than `i + 1` registers
    /// (never more than the maximum, whatever its info word claims).
    pub fn mr(&self, i: usize) -> Result<u64, SyscallError> {
        if i >= self.info.bounded_length() {
            return Err(Error::TruncatedMessage.into());
        }
        if let Some(r) = self.regs.get(i) {
            return Ok(*r);
        }
        if self.ipc_buffer == 0 {
            return Err(Error::TruncatedMessage.into());
        }
        let at = self.ipc_buffer + core::mem::offset_of!(IpcBuffer, msg) as u64 + 8 * i as u64;
        Ok(keel_kernel_core::object_memory::ObjectMemory::read(
            &KernelMemory,
            at,
        ))
    }

    /// Extra cap `i` (slot and cap).
    ///
    /// # Errors
    /// `TruncatedMessage` when fewer than `i + 1` caps came with the message.
    pub fn extra_cap(&self, i: usize) -> Result<(u64, Cap), SyscallError> {
        if i >= self.extra_count {
            return Err(Error::TruncatedMessage.into());
        }
        Ok(self.extra[i])
    }

    /// The invocation label.
    pub fn label(&self) -> u64 {
        self.info.label()
    }
}

/// Performs the invocation the current thread (TCB object `tcb_object`)
/// made of `cap`, the cap in `slot` its Call names. An extra cap whose
/// lookup fails is a cap fault (seL4's `lookupExtraCaps`), which the caller
/// raises for a Call or Send.
///
/// # Errors
/// Any invocation error, with its details.
pub fn call(caller: Thread, slot: u64, cap: Cap) -> Result<Outcome, SyscallError> {
    // The message is read before the invocation runs: it may change this
    // very TCB.
    let ipc_buffer = caller.ipc_buffer();
    let info = MessageInfo::from_word(caller.syscall_arg(ARG_INFO));
    let regs = [
        caller.syscall_arg(2),
        caller.syscall_arg(3),
        caller.syscall_arg(4),
        caller.syscall_arg(5),
    ];
    if info.extra_caps() > 0 && ipc_buffer == 0 {
        return Err(Error::TruncatedMessage.into());
    }
    let mut msg = Message {
        info,
        regs,
        ipc_buffer,
        extra: [(0, Cap::null()); MAX_EXTRA_CAPS],
        extra_count: 0,
    };
    match crate::ipc::caps::lookup_extra(caller, info.extra_caps(), &mut msg.extra) {
        Ok(count) => msg.extra_count = count,
        Err((cptr, e)) => return Ok(super::ipc::cap_fault(cptr, false, e)),
    }
    let label =
        Label::try_from(msg.label()).map_err(|_| SyscallError::from(Error::IllegalOperation));
    match cap.kind() {
        CapType::Null => Err(SyscallError::invalid_capability(0)),
        CapType::Untyped => untyped::invoke(label?, &msg, slot),
        CapType::CNode => cnode::invoke(label?, &msg, cap, caller),
        CapType::Tcb => tcb::invoke::invoke(label?, &msg, slot, &cap, caller),
        CapType::Frame => frame::invoke(label?, &msg, slot, cap),
        CapType::PageUpperDirectory | CapType::PageDirectory | CapType::PageTable => {
            page_table::invoke(label?, &msg, slot, cap)
        }
        CapType::AsidControl => asid::invoke_control(label?, &msg),
        CapType::AsidPool => asid::invoke_pool(label?, &msg, cap),
        CapType::SchedContext => sched_context::invoke(label?, &msg, &cap, caller),
        CapType::SchedControl => sched_control::invoke(label?, &msg, cap.word1()),
        CapType::IrqControl => irq::invoke_control(label?, &msg, slot),
        CapType::IrqHandler => irq::invoke_handler(label?, &msg, cap),
        CapType::IoPortControl | CapType::IoPort => {
            crate::arch::invoke_arch_cap(label?, &msg, slot, cap)
        }
        _ => Err(Error::IllegalOperation.into()),
    }
}
