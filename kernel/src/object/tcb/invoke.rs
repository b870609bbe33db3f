//! TCB invocations: decoding each label's arguments (seL4's order) and
//! performing it. Registers travel as `keel_abi::registers` lists: written from
//! the message, read into the caller's IPC buffer.

use crate::arch::UserRegisters;
use crate::object::handle::{SchedContextRef, Thread};
use crate::object::hooks::KernelHooks;
use crate::object::memory::KernelMemory;
use crate::object::sched_context;
use crate::object::tcb::{
    ThreadState, CSPACE_ROOT_SLOT, FAULT_ENDPOINT_SLOT, IPC_BUFFER_SLOT, TIMEOUT_ENDPOINT_SLOT,
    VSPACE_ROOT_SLOT,
};
use crate::preemption::KernelPreempt;
use crate::sched;
use crate::syscall::invocation::{Message, Outcome};
use keel_abi::invocation::IpcBuffer;
use keel_abi::registers::{RESUME, SUSPEND};
use keel_abi::{CapType, Error, Label};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::cspace::{self, insert_derived, read_cap, Progress};
use keel_kernel_core::error::SyscallError;
use keel_kernel_core::object_memory::ObjectMemory;

/// log2 of the IPC buffer's size and alignment.
const IPC_BUFFER_BITS: u32 = 10;
/// `TcbCopyRegisters` flags.
const COPY_SUSPEND_SOURCE: u64 = 1 << 0;
const COPY_RESUME_TARGET: u64 = 1 << 1;
const COPY_FRAME: u64 = 1 << 2;
const COPY_INTEGER: u64 = 1 << 3;
/// Registers `keel_abi::registers` counts as the frame: pc, sp, flags, the
/// six argument registers.
const FRAME_REGISTERS: usize = 9;

/// The TCB being invoked: its object, and the caller's slot naming it.
#[derive(Clone, Copy)]
struct Target {
    slot: u64,
    thread: Thread,
}

impl Target {
    /// True while the caller's cap still names the TCB: a delete done on its
    /// behalf may have destroyed it (seL4 checks the same).
    fn alive(&self) -> bool {
        let cap = read_cap(&KernelMemory, self.slot);
        Thread::from_cap(&cap) == Some(self.thread)
    }
}

/// Decodes and performs an invocation of the TCB `cap` names, which the
/// thread `caller` holds in `target_slot`.
///
/// # Errors
/// seL4's TCB errors, with details.
pub fn invoke(
    label: Label,
    msg: &Message,
    target_slot: u64,
    cap: &Cap,
    caller: Thread,
) -> Result<Outcome, SyscallError> {
    let target = Target {
        slot: target_slot,
        thread: Thread::from_cap(cap).ok_or(SyscallError::invalid_capability(0))?,
    };
    let done = Ok(Outcome::Done([0, 0]));
    match label {
        Label::TcbReadRegisters => read_registers(msg, target.thread, caller),
        Label::TcbWriteRegisters => write_registers(msg, target.thread, caller),
        Label::TcbCopyRegisters => copy_registers(msg, target.thread),
        Label::TcbConfigure => {
            // As seL4's MCS API: MRs cspace data, vspace data, buffer; caps
            // cspace root, vspace root, buffer frame. The VSpace cap data is
            // part of the layout; no architecture here uses it.
            let (cspace_data, _, buffer) = (msg.mr(0)?, msg.mr(1)?, msg.mr(2)?);
            let (cspace, vspace, frame) = (msg.extra_cap(0)?, msg.extra_cap(1)?, msg.extra_cap(2)?);
            check_space(cspace, vspace, cspace_data)?;
            check_buffer(buffer, frame)?;
            match set_space(target, None, cspace, cspace_data, vspace)? {
                Progress::Preempted => Ok(Outcome::Restart),
                Progress::Done => set_ipc_buffer(target, buffer, Some(frame)).map(Outcome::from),
            }
        }
        Label::TcbSetSpace => {
            // MRs cspace data, vspace data; caps fault endpoint, cspace root, vspace root.
            let (cspace_data, _) = (msg.mr(0)?, msg.mr(1)?);
            let (fault_ep, cspace, vspace) =
                (msg.extra_cap(0)?, msg.extra_cap(1)?, msg.extra_cap(2)?);
            if !(fault_ep.1.is_null() || crate::fault::is_fault_handler(&fault_ep.1)) {
                return Err(SyscallError::invalid_capability(1));
            }
            check_space(cspace, vspace, cspace_data)?;
            set_space(target, Some(fault_ep), cspace, cspace_data, vspace).map(Outcome::from)
        }
        Label::TcbSetTimeoutEndpoint => {
            let ep = msg.extra_cap(0)?;
            if !(ep.1.is_null() || crate::fault::is_fault_handler(&ep.1)) {
                return Err(SyscallError::invalid_capability(1));
            }
            let source = (!ep.1.is_null()).then_some(ep);
            replace_slot(target, TIMEOUT_ENDPOINT_SLOT, source).map(Outcome::from)
        }
        Label::TcbSetIPCBuffer => {
            let buffer = msg.mr(0)?;
            let frame = if buffer == 0 {
                None
            } else {
                Some(msg.extra_cap(0)?)
            };
            if let Some(frame) = frame {
                check_buffer(buffer, frame)?;
            }
            set_ipc_buffer(target, buffer, frame).map(Outcome::from)
        }
        Label::TcbSetPriority => {
            let authority = authority(msg)?;
            let priority = checked_priority(msg.mr(0)?, authority)?;
            sched::set_priority(target.thread, priority);
            done
        }
        Label::TcbSetMCPriority => {
            let authority = authority(msg)?;
            target
                .thread
                .set_mcp(checked_priority(msg.mr(0)?, authority)?);
            done
        }
        Label::TcbSetSchedParams => set_sched_params(msg, target, caller),
        Label::TcbSuspend => {
            crate::ipc::stop_thread(target.thread);
            done
        }
        Label::TcbSetTLSBase => {
            target.thread.set_tls_base(msg.mr(0)?);
            done
        }
        Label::TcbBindNotification => {
            let (_, ntfn) = msg.extra_cap(0)?;
            if ntfn.kind() != CapType::Notification {
                return Err(SyscallError::invalid_capability(1));
            }
            if !ntfn.rights().contains(keel_abi::CapRights::READ) {
                return Err(Error::IllegalOperation.into());
            }
            crate::object::notification::bind(ntfn.paddr(), target.thread.addr())
                .map_err(|_| SyscallError::from(Error::IllegalOperation))?;
            done
        }
        Label::TcbUnbindNotification => {
            match crate::object::notification::unbind(target.thread.addr()) {
                true => done,
                false => Err(Error::IllegalOperation.into()),
            }
        }
        Label::TcbResume => {
            if target.thread.running_vspace().is_none() {
                // Keel refuses to run a thread with nowhere to run (seL4 would
                // fault it on its first instruction).
                return Err(Error::IllegalOperation.into());
            }
            crate::ipc::resume_stopped(target.thread);
            done
        }
        _ => Err(Error::IllegalOperation.into()),
    }
}

/// seL4 MCS's TCB_SetSchedParams: MRs MCP and priority, each checked
/// against the authority's MCP; caps authority, scheduling context and
/// fault endpoint. A scheduling context cap binds that context to a thread
/// that has none (the context bound to no thread); a null cap unbinds the
/// thread's own context, but not the caller's. The fault endpoint (a fault
/// handler cap, or null for none) replaces the thread's.
fn set_sched_params(
    msg: &Message,
    target: Target,
    caller: Thread,
) -> Result<Outcome, SyscallError> {
    let authority = authority(msg)?;
    let mcp = checked_priority(msg.mr(0)?, authority)?;
    let priority = checked_priority(msg.mr(1)?, authority)?;
    let (_, sc_cap) = msg.extra_cap(1)?;
    let fault_ep = msg.extra_cap(2)?;
    let thread = target.thread;
    let context = match sc_cap.kind() {
        CapType::SchedContext => {
            let context =
                SchedContextRef::from_cap(&sc_cap).ok_or(SyscallError::invalid_capability(2))?;
            if thread.sched_context() != 0 || context.tcb() != 0 {
                return Err(Error::IllegalOperation.into());
            }
            Some(context)
        }
        CapType::Null if thread == caller => return Err(Error::IllegalOperation.into()),
        CapType::Null => None,
        _ => return Err(SyscallError::invalid_capability(2)),
    };
    if !(fault_ep.1.is_null() || crate::fault::is_fault_handler(&fault_ep.1)) {
        return Err(SyscallError::invalid_capability(3));
    }
    let source = (!fault_ep.1.is_null()).then_some(fault_ep);
    if replace_slot(target, FAULT_ENDPOINT_SLOT, source)? == Progress::Preempted {
        return Ok(Outcome::Restart);
    }
    if !target.alive() {
        return Ok(Outcome::Done([0, 0]));
    }
    thread.set_mcp(mcp);
    sched::set_priority(thread, priority);
    match context {
        Some(context) => sched_context::bind(context, thread),
        None => {
            if let Some(own) = SchedContextRef::from_link(thread.sched_context())
                .filter(|c| c.tcb() == thread.addr())
            {
                sched_context::unbind_tcb(own);
            }
        }
    }
    Ok(Outcome::Done([0, 0]))
}

fn authority(msg: &Message) -> Result<u64, SyscallError> {
    let (_, cap) = msg.extra_cap(0)?;
    match Thread::from_cap(&cap) {
        Some(authority) => Ok(authority.mcp()),
        None => Err(SyscallError::invalid_capability(1)),
    }
}

fn checked_priority(priority: u64, authority_mcp: u64) -> Result<u64, SyscallError> {
    if priority > authority_mcp {
        return Err(SyscallError::range(0, authority_mcp));
    }
    Ok(priority)
}

fn read_registers(msg: &Message, target: Thread, caller: Thread) -> Result<Outcome, SyscallError> {
    let (flags, count) = (msg.mr(0)?, msg.mr(1)?);
    let max = crate::arch::UserContext::REGISTER_COUNT as u64;
    if !(1..=max).contains(&count) {
        return Err(SyscallError::range(1, max));
    }
    if target == caller {
        return Err(Error::IllegalOperation.into());
    }
    let buffer = caller.ipc_buffer();
    if buffer == 0 {
        return Err(Error::IllegalOperation.into());
    }
    if flags & SUSPEND != 0 {
        crate::ipc::stop_thread(target);
    }
    let mut mem = KernelMemory;
    let msg_base = buffer + core::mem::offset_of!(IpcBuffer, msg) as u64;
    for i in 0..count as usize {
        let value = target.register(i).unwrap_or(0);
        mem.write(msg_base + 8 * i as u64, value);
    }
    Ok(Outcome::Done([count, 0]))
}

fn write_registers(msg: &Message, target: Thread, caller: Thread) -> Result<Outcome, SyscallError> {
    let (flags, count) = (msg.mr(0)?, msg.mr(1)?);
    if target == caller {
        return Err(Error::IllegalOperation.into());
    }
    let count = count.min(crate::arch::UserContext::REGISTER_COUNT as u64) as usize;
    let mut values = [0u64; keel_abi::registers::MAX_COUNT];
    for (i, v) in values.iter_mut().enumerate().take(count) {
        *v = msg.mr(2 + i)?;
    }
    let t = target;
    let resume = flags & RESUME != 0;
    // seL4's `restart`: a thread blocked in IPC, or waiting for the answer
    // to a fault, leaves it first (put back on its system call), so the
    // registers written here decide where it goes on.
    if resume && !matches!(t.state(), ThreadState::Inactive | ThreadState::Running) {
        crate::ipc::stop_thread(t);
    }
    for (i, v) in values.iter().enumerate().take(count) {
        t.set_register(i, *v);
    }
    let runnable = target.running_vspace().is_some();
    if resume && t.state() == ThreadState::Inactive && runnable {
        sched::make_runnable(target);
    }
    Ok(Outcome::Done([0, 0]))
}

fn copy_registers(msg: &Message, target: Thread) -> Result<Outcome, SyscallError> {
    let flags = msg.mr(0)?;
    let (_, source) = msg.extra_cap(0)?;
    let Some(source) = Thread::from_cap(&source) else {
        return Err(SyscallError::invalid_capability(1));
    };
    if flags & COPY_SUSPEND_SOURCE != 0 {
        crate::ipc::stop_thread(source);
    }
    let count = crate::arch::UserContext::REGISTER_COUNT;
    for i in 0..count {
        let wanted = if i < FRAME_REGISTERS {
            flags & COPY_FRAME
        } else {
            flags & COPY_INTEGER
        };
        if wanted != 0 && source != target {
            let value = source.register(i).unwrap_or(0);
            target.set_register(i, value);
        }
    }
    if flags & COPY_RESUME_TARGET != 0 && target.running_vspace().is_some() {
        crate::ipc::resume_stopped(target);
    }
    Ok(Outcome::Done([0, 0]))
}

fn check_space(
    cspace: (u64, Cap),
    vspace: (u64, Cap),
    cspace_data: u64,
) -> Result<(), SyscallError> {
    // A thread's VSpace must have an ASID (seL4's valid VTable root).
    let vspace_ok = crate::object::vspace::live_root(&vspace.1).is_some();
    if cspace.1.kind() != CapType::CNode || !vspace_ok {
        return Err(Error::IllegalOperation.into());
    }
    if cspace_data != 0 && cspace.1.update_data(false, cspace_data).is_null() {
        return Err(Error::IllegalOperation.into());
    }
    Ok(())
}

fn check_buffer(buffer: u64, frame: (u64, Cap)) -> Result<(), SyscallError> {
    // The kernel reads and writes IPC buffers: never device memory.
    if frame.1.kind() != CapType::Frame || frame.1.is_device() {
        return Err(Error::IllegalOperation.into());
    }
    if !buffer.is_multiple_of(1 << IPC_BUFFER_BITS) {
        return Err(Error::AlignmentError.into());
    }
    Ok(())
}

/// Replaces the cap in TCB slot `index` with one derived from `source`
/// (if `source` still holds the same object after the old cap is deleted, as
/// seL4 checks). The delete may be long: it is preemptible.
fn replace_slot(
    target: Target,
    index: u64,
    source: Option<(u64, Cap)>,
) -> Result<Progress, SyscallError> {
    let mut mem = KernelMemory;
    let slot = target.thread.slot(index);
    if cspace::delete(&mut mem, slot, &mut KernelHooks, &mut KernelPreempt)? == Progress::Preempted
    {
        return Ok(Progress::Preempted);
    }
    if !target.alive() {
        return Ok(Progress::Done);
    }
    if let Some((src_slot, cap)) = source {
        let still_there = read_cap(&mem, src_slot);
        if still_there.same_object_as(&cap) {
            let derived = cap.derive().map_err(SyscallError::from)?;
            insert_derived(&mut mem, src_slot, slot, derived);
        }
    }
    Ok(Progress::Done)
}

/// Installs the CSpace and VSpace roots and, when given, the fault endpoint
/// (a null cap removes the handler).
fn set_space(
    target: Target,
    fault_ep: Option<(u64, Cap)>,
    cspace: (u64, Cap),
    cspace_data: u64,
    vspace: (u64, Cap),
) -> Result<Progress, SyscallError> {
    let cspace_cap = if cspace_data == 0 {
        cspace.1
    } else {
        cspace.1.update_data(false, cspace_data)
    };
    if let Some(ep) = fault_ep {
        let source = (!ep.1.is_null()).then_some(ep);
        if replace_slot(target, FAULT_ENDPOINT_SLOT, source)? == Progress::Preempted {
            return Ok(Progress::Preempted);
        }
    }
    if replace_slot(target, CSPACE_ROOT_SLOT, Some((cspace.0, cspace_cap)))? == Progress::Preempted
        || replace_slot(target, VSPACE_ROOT_SLOT, Some(vspace))? == Progress::Preempted
    {
        return Ok(Progress::Preempted);
    }
    Ok(Progress::Done)
}

fn set_ipc_buffer(
    target: Target,
    buffer: u64,
    frame: Option<(u64, Cap)>,
) -> Result<Progress, SyscallError> {
    if replace_slot(target, IPC_BUFFER_SLOT, frame)? == Progress::Preempted {
        return Ok(Progress::Preempted);
    }
    if target.alive() {
        target.thread.set_ipc_buffer_vaddr(buffer);
    }
    Ok(Progress::Done)
}
