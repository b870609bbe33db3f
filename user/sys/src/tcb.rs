//! Threads: the register list (`keel_abi::registers`) and the TCB invocations,
//! named as in rust-sel4 (`tcb_configure`, `tcb_resume`, ...).

use crate::cap::{CNode, Endpoint, Frame, Tcb, VSpace};
use crate::invocation::invoke;
use crate::ipc_buffer::with_ipc_buffer;
use crate::{CPtr, Cap, Error, InvocationError};
use keel_abi::registers::{self, MAX_COUNT};
use keel_abi::Label;

/// A thread's registers as a list: see `keel_abi::registers` for the order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserContext {
    words: [u64; MAX_COUNT],
}

impl Default for UserContext {
    fn default() -> Self {
        UserContext {
            words: [0; MAX_COUNT],
        }
    }
}

/// Registers on this architecture.
pub fn register_count() -> usize {
    match crate::arch::ARCH {
        keel_abi::Arch::X86_64 => registers::X86_64_COUNT,
        keel_abi::Arch::Aarch64 => registers::AARCH64_COUNT,
    }
}

impl UserContext {
    /// Registers that start a thread in `entry(arg)` on the stack below `stack_top`.
    pub fn new_thread(entry: extern "C" fn(u64) -> !, stack_top: u64, arg: u64) -> Self {
        let mut ctx = UserContext::default();
        ctx.set_pc(crate::arch::thread_trampoline());
        ctx.set_sp(stack_top & !0xf);
        ctx.set_arg(0, arg);
        ctx.set_arg(1, entry as usize as u64);
        ctx
    }

    /// The program counter.
    pub fn pc(&self) -> u64 {
        self.words[registers::PC]
    }

    /// The stack pointer.
    pub fn sp(&self) -> u64 {
        self.words[registers::SP]
    }

    /// Argument register `i` (0..6).
    pub fn arg(&self, i: usize) -> u64 {
        self.words
            .get(registers::ARG0 + i.min(5))
            .copied()
            .unwrap_or(0)
    }

    /// Sets the program counter.
    pub fn set_pc(&mut self, v: u64) {
        self.words[registers::PC] = v;
    }

    /// Sets the stack pointer.
    pub fn set_sp(&mut self, v: u64) {
        self.words[registers::SP] = v;
    }

    /// Sets argument register `i` (0..6).
    pub fn set_arg(&mut self, i: usize, v: u64) {
        self.words[registers::ARG0 + i.min(5)] = v;
    }

    /// The flags register (x86_64 RFLAGS, aarch64 SPSR): what the kernel
    /// keeps of a value written is the architecture's to say.
    pub fn flags(&self) -> u64 {
        self.words[registers::FLAGS]
    }

    /// Sets the flags register (see [`UserContext::flags`]).
    pub fn set_flags(&mut self, v: u64) {
        self.words[registers::FLAGS] = v;
    }

    /// The registers of this architecture, in list order.
    pub fn words(&self) -> &[u64] {
        &self.words[..register_count()]
    }

    /// Register `i` of the list.
    pub fn word(&self, i: usize) -> Option<u64> {
        self.words().get(i).copied()
    }

    /// Sets register `i` of the list (past this architecture's count: no effect).
    pub fn set_word(&mut self, i: usize, v: u64) {
        if let Some(w) = self.words[..register_count()].get_mut(i) {
            *w = v;
        }
    }
}

impl Cap<Tcb> {
    fn tcb_invoke(
        self,
        label: Label,
        mrs: &[u64],
        caps: &[CPtr],
    ) -> Result<[u64; 2], InvocationError> {
        invoke(self.cptr(), label, mrs, caps)
    }

    /// Sets the CSpace and VSpace roots and the IPC buffer (seL4's MCS
    /// `Configure`; the fault endpoint is set with [`Cap::tcb_set_space`]).
    ///
    /// # Errors
    /// `IllegalOperation` for caps of the wrong type, `AlignmentError` for a
    /// misaligned buffer, lookup errors for the caps.
    pub fn tcb_configure(
        self,
        cspace_root: Cap<CNode>,
        cspace_root_data: u64,
        vspace_root: Cap<VSpace>,
        buffer: u64,
        buffer_frame: Cap<Frame>,
    ) -> Result<(), InvocationError> {
        let mrs = [cspace_root_data, 0, buffer];
        let caps = [cspace_root.cptr(), vspace_root.cptr(), buffer_frame.cptr()];
        self.tcb_invoke(Label::TcbConfigure, &mrs, &caps)
            .map(|_| ())
    }

    /// Sets the fault endpoint (a cap the kernel copies into the thread; an
    /// empty slot removes the handler), the CSpace root and the VSpace root.
    ///
    /// # Errors
    /// As for [`Cap::tcb_configure`]; `IllegalOperation` when the fault
    /// endpoint is neither an endpoint nor empty.
    pub fn tcb_set_space(
        self,
        fault_ep: CPtr,
        cspace_root: Cap<CNode>,
        cspace_root_data: u64,
        vspace_root: Cap<VSpace>,
    ) -> Result<(), InvocationError> {
        let mrs = [cspace_root_data, 0];
        let caps = [fault_ep, cspace_root.cptr(), vspace_root.cptr()];
        self.tcb_invoke(Label::TcbSetSpace, &mrs, &caps).map(|_| ())
    }

    /// Sets (or, with `buffer` 0, removes) the IPC buffer.
    ///
    /// # Errors
    /// As for [`Cap::tcb_configure`].
    pub fn tcb_set_ipc_buffer(self, buffer: u64, frame: Cap<Frame>) -> Result<(), InvocationError> {
        let caps: &[CPtr] = if buffer == 0 { &[] } else { &[frame.cptr()] };
        self.tcb_invoke(Label::TcbSetIPCBuffer, &[buffer], caps)
            .map(|_| ())
    }

    /// Sets the priority, checked against `authority`'s maximum controlled priority.
    ///
    /// # Errors
    /// `RangeError` above the authority's MCP; `InvalidCapability` when the authority is no TCB.
    pub fn tcb_set_priority(
        self,
        authority: Cap<Tcb>,
        priority: u64,
    ) -> Result<(), InvocationError> {
        self.tcb_invoke(Label::TcbSetPriority, &[priority], &[authority.cptr()])
            .map(|_| ())
    }

    /// Sets the maximum controlled priority, checked against `authority`'s.
    ///
    /// # Errors
    /// As for [`Cap::tcb_set_priority`].
    pub fn tcb_set_mc_priority(self, authority: Cap<Tcb>, mcp: u64) -> Result<(), InvocationError> {
        self.tcb_invoke(Label::TcbSetMCPriority, &[mcp], &[authority.cptr()])
            .map(|_| ())
    }

    /// seL4 MCS's SetSchedParams: sets both priorities (checked against
    /// `authority`'s MCP), binds `sched_context` to the thread (both must be
    /// unbound) or, for a null CPtr, unbinds the thread's own context (not
    /// the caller's own), and makes `fault_ep` (a null CPtr: none) its
    /// fault handler.
    ///
    /// # Errors
    /// As for [`Cap::tcb_set_priority`]; `InvalidCapability` 2 for a cap
    /// that is no scheduling context, 3 for a fault endpoint without write
    /// and grant or grant-reply; `IllegalOperation` when the thread or the
    /// context is already bound, or to unbind the caller's own context.
    pub fn tcb_set_sched_params(
        self,
        authority: Cap<Tcb>,
        mcp: u64,
        priority: u64,
        sched_context: CPtr,
        fault_ep: CPtr,
    ) -> Result<(), InvocationError> {
        self.tcb_invoke(
            Label::TcbSetSchedParams,
            &[mcp, priority],
            &[authority.cptr(), sched_context, fault_ep],
        )
        .map(|_| ())
    }

    /// Sets the thread pointer (x86_64 FS base, aarch64 TPIDR_EL0). keel-sys
    /// finds a thread's IPC buffer through it (see [`crate::ipc_buffer`]).
    ///
    /// # Errors
    /// Lookup errors only.
    pub fn tcb_set_tls_base(self, base: u64) -> Result<(), InvocationError> {
        self.tcb_invoke(Label::TcbSetTLSBase, &[base], &[])
            .map(|_| ())
    }

    /// Stops the thread.
    ///
    /// # Errors
    /// Lookup errors only.
    pub fn tcb_suspend(self) -> Result<(), InvocationError> {
        self.tcb_invoke(Label::TcbSuspend, &[], &[]).map(|_| ())
    }

    /// Sets the timeout endpoint (MCS): where a timeout fault goes when the
    /// thread's budget runs out; `None` removes it.
    ///
    /// # Errors
    /// `InvalidCapability` when the cap is not an endpoint cap a fault can
    /// go through (write, and grant or grant-reply).
    pub fn tcb_set_timeout_endpoint(
        self,
        ep: Option<Cap<Endpoint>>,
    ) -> Result<(), InvocationError> {
        let ep = ep.map_or(CPtr::from_bits(0), |e| e.cptr());
        self.tcb_invoke(Label::TcbSetTimeoutEndpoint, &[], &[ep])
            .map(|_| ())
    }

    /// Makes the thread runnable.
    ///
    /// # Errors
    /// `IllegalOperation` when the thread has no VSpace.
    pub fn tcb_resume(self) -> Result<(), InvocationError> {
        self.tcb_invoke(Label::TcbResume, &[], &[]).map(|_| ())
    }

    /// Writes the first `ctx.words().len()` registers; with `resume`, starts the thread.
    ///
    /// # Errors
    /// `IllegalOperation` on the calling thread itself.
    pub fn tcb_write_all_registers(
        self,
        resume: bool,
        ctx: &UserContext,
    ) -> Result<(), InvocationError> {
        let words = ctx.words();
        let mut mrs = [0u64; 2 + MAX_COUNT];
        mrs[0] = if resume { registers::RESUME } else { 0 };
        mrs[1] = words.len() as u64;
        mrs[2..2 + words.len()].copy_from_slice(words);
        self.tcb_invoke(Label::TcbWriteRegisters, &mrs[..2 + words.len()], &[])
            .map(|_| ())
    }

    /// Reads all registers; with `suspend`, stops the thread first.
    ///
    /// # Errors
    /// `IllegalOperation` on the calling thread itself or without an IPC buffer.
    pub fn tcb_read_all_registers(self, suspend: bool) -> Result<UserContext, InvocationError> {
        let flags = if suspend { registers::SUSPEND } else { 0 };
        let count = register_count();
        self.tcb_invoke(Label::TcbReadRegisters, &[flags, count as u64], &[])?;
        let mut ctx = UserContext::default();
        with_ipc_buffer(|buf| ctx.words[..count].copy_from_slice(&buf.msg[..count]))
            .ok_or(Error::IllegalOperation)?;
        Ok(ctx)
    }

    /// Copies registers from `source`: the frame (pc, sp, flags, arguments)
    /// and/or the rest, optionally suspending the source and resuming this thread.
    ///
    /// # Errors
    /// `InvalidCapability` when `source` is no TCB.
    pub fn tcb_copy_registers(
        self,
        source: Cap<Tcb>,
        suspend_source: bool,
        resume_target: bool,
        transfer_frame: bool,
        transfer_integer: bool,
    ) -> Result<(), InvocationError> {
        let flags = u64::from(suspend_source)
            | u64::from(resume_target) << 1
            | u64::from(transfer_frame) << 2
            | u64::from(transfer_integer) << 3;
        self.tcb_invoke(Label::TcbCopyRegisters, &[flags], &[source.cptr()])
            .map(|_| ())
    }
}
