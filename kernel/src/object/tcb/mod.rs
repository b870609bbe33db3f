//! Thread control blocks. A TCB object (2^11 bytes) starts with a few
//! capability slots of its own (as seL4's TCB CNode: the CSpace root, VSpace
//! root, IPC buffer frame, fault and timeout endpoints), followed by the
//! [`Tcb`] structure: registers, address space, IPC buffer, priorities,
//! scheduling links, name and state.
//! A zeroed TCB object is a valid inactive thread of priority 0.
//! Invocations are in [`invoke`].

pub mod invoke;

use crate::arch::{AddressSpace, Machine, Platform, UserContext, UserRegisters, VSpace};
use crate::object::handle::{fields, Thread};
use crate::object::memory::KernelMemory;
use keel_abi::syscall::THREAD_NAME_MAX;
use keel_abi::CapType;
use keel_kernel_core::cap::Cap;
pub use keel_kernel_core::cspace::tcb_slot;
use keel_kernel_core::cspace::{lookup_cap, read_cap, LookupError};
use keel_kernel_core::cspace::{SLOT_SIZE, TCB_SLOTS};
use keel_kernel_core::endpoint::CancelWalk;

/// The slot holding the thread's CSpace root CNode cap.
pub const CSPACE_ROOT_SLOT: u64 = 0;
/// The slot holding the thread's VSpace root cap.
pub const VSPACE_ROOT_SLOT: u64 = 1;
/// The slot holding the frame cap of the thread's IPC buffer.
pub const IPC_BUFFER_SLOT: u64 = 2;
/// The slot holding the thread's fault endpoint cap (null: no handler).
pub const FAULT_ENDPOINT_SLOT: u64 = 3;
/// The slot holding the thread's timeout endpoint cap (MCS; null: none).
pub const TIMEOUT_ENDPOINT_SLOT: u64 = 4;
/// Longest fault message: the register list and the syscall number.
pub const FAULT_WORDS: usize = keel_abi::registers::MAX_COUNT + 1;
/// Where the [`Tcb`] structure starts within the object, after the slots
/// (their layout is the capability core's: `keel_kernel_core::cspace::tcb_slot`).
pub(crate) const STRUCT_OFFSET: u64 = TCB_SLOTS * SLOT_SIZE;

/// Whether a thread may run. Zero is `Inactive`, so a zeroed TCB is inactive.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Stopped (never started, suspended, or faulted with no handler).
    Inactive = 0,
    /// Runnable.
    Running = 1,
    /// Queued on an endpoint to send (`blocked_on` names it).
    BlockedOnSend = 2,
    /// Queued on an endpoint to receive.
    BlockedOnReceive = 3,
    /// Waiting for the reply to a Call (on the Reply object `reply`).
    BlockedOnReply = 4,
    /// Queued on a notification to wait.
    BlockedOnNotification = 5,
}

/// The thread state after the TCB's own slots. Reached only through a
/// [`Thread`] handle, a field at a time; `state` and the run-queue links
/// (`queued`, `sched_next`, `sched_prev`) are written only by the scheduler.
#[repr(C)]
pub struct Tcb {
    /// Saved user registers.
    pub(crate) context: UserContext,
    /// Virtual address of the IPC buffer (its frame is the cap in
    /// [`IPC_BUFFER_SLOT`]).
    pub(crate) ipc_buffer_vaddr: u64,
    /// Scheduling state.
    pub(crate) state: ThreadState,
    /// Priority, 0..=255.
    pub(crate) priority: u64,
    /// Maximum controlled priority: the highest priority this thread may give
    /// itself or others with it as the authority.
    pub(crate) mcp: u64,
    /// Next thread in the run queue (TCB object address; 0: none).
    pub(crate) sched_next: u64,
    /// Previous thread in the run queue.
    pub(crate) sched_prev: u64,
    /// True while the thread is in a run queue.
    pub(crate) queued: bool,
    /// The endpoint or notification the thread is queued on (0: none).
    pub(crate) blocked_on: u64,
    /// Next thread in that object's queue.
    pub(crate) ipc_next: u64,
    /// Previous thread in that object's queue.
    pub(crate) ipc_prev: u64,
    /// For a queued sender: the badge of the cap it sent through.
    pub(crate) ipc_badge: u64,
    /// For a queued sender: it used Call and waits for a reply.
    pub(crate) ipc_is_call: bool,
    /// For a queued sender: its cap had the grant right.
    pub(crate) ipc_can_grant: bool,
    /// For a queued sender: its cap had the grant-reply right.
    pub(crate) ipc_can_grant_reply: bool,
    /// The cap of its latest receive on an endpoint had the grant right.
    pub(crate) receive_can_grant: bool,
    /// The Reply object of this thread's IPC (MCS): the one it receives
    /// with while blocked in a receive, or the one it waits on while
    /// blocked on a reply (0: none).
    pub(crate) reply: u64,
    /// The notification bound to this thread (0: none).
    pub(crate) bound_notification: u64,
    /// The scheduling context bound to this thread (0: none): it runs only
    /// on one.
    pub(crate) sched_context: u64,
    /// The scheduling context this thread yielded to and waits to hear
    /// the consumed time of when it next runs (`SchedContext_YieldTo`; 0:
    /// none).
    pub(crate) yield_to: u64,
    /// The fault being handled (`keel_abi::fault::FaultType`; 0: none).
    pub(crate) fault_label: u64,
    /// Words of the fault message that are valid.
    pub(crate) fault_length: usize,
    /// Where this thread's preempted CNode_CancelBadgedSends stands, for
    /// when it makes the call again.
    pub(crate) cancel_walk: CancelWalk,
    /// The fault message.
    pub(crate) fault_words: [u64; FAULT_WORDS],
    pub(crate) name: [u8; THREAD_NAME_MAX],
    pub(crate) name_len: usize,
    /// The VSpace [`Thread::running_vspace`] last found, and the epoch it was found
    /// in (0: none found yet).
    pub(crate) vspace_found: VSpace,
    pub(crate) vspace_epoch: u64,
    /// The IPC fast path's last cap lookups for this thread (see
    /// `syscall::fastpath`).
    pub(crate) kept_lookups: [KeptLookup; KEPT_LOOKUPS],
}

/// How many cap lookups a thread keeps for the IPC fast path.
pub const KEPT_LOOKUPS: usize = 2;

/// A cap lookup kept: what `cptr` named in the thread's CSpace while the
/// count of cap writes (`ObjectMemory::cap_writes`) read `writes` (0: none kept).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct KeptLookup {
    /// The count of cap writes when the lookup was made.
    pub writes: u64,
    /// The CPtr looked up.
    pub cptr: u64,
    /// The cap it named.
    pub cap: Cap,
}

const _: () = assert!(
    STRUCT_OFFSET as usize + core::mem::size_of::<Tcb>() <= 1 << keel_abi::object::TCB_BITS
);

fields!(Thread => {
    get ipc_buffer_vaddr: u64;
    get state: ThreadState;
    get priority: u64;
    get mcp: u64;
    get sched_next: u64;
    get sched_prev: u64;
    get queued: bool;
    get blocked_on: u64;
    get ipc_next: u64;
    get ipc_prev: u64;
    get ipc_badge: u64;
    get ipc_is_call: bool;
    get ipc_can_grant: bool;
    get ipc_can_grant_reply: bool;
    get receive_can_grant: bool;
    get reply: u64;
    get bound_notification: u64;
    get sched_context: u64;
    get yield_to: u64;
    get fault_label: u64;
    get fault_length: usize;
    get cancel_walk: CancelWalk;
    set pub set_ipc_buffer_vaddr = ipc_buffer_vaddr: u64;
    set pub set_mcp = mcp: u64;
    set pub set_blocked_on = blocked_on: u64;
    set pub set_ipc_next = ipc_next: u64;
    set pub set_ipc_prev = ipc_prev: u64;
    set pub set_ipc_badge = ipc_badge: u64;
    set pub set_ipc_is_call = ipc_is_call: bool;
    set pub set_ipc_can_grant = ipc_can_grant: bool;
    set pub set_ipc_can_grant_reply = ipc_can_grant_reply: bool;
    set pub set_receive_can_grant = receive_can_grant: bool;
    set pub set_reply = reply: u64;
    set pub set_bound_notification = bound_notification: u64;
    set pub set_sched_context = sched_context: u64;
    set pub set_yield_to = yield_to: u64;
    set pub set_fault_label = fault_label: u64;
    set pub set_cancel_walk = cancel_walk: CancelWalk;
});

impl Thread {
    /// The thread's register file, for the system-call entry and the trap
    /// code, which read and write it in assembly.
    #[inline(always)]
    pub fn context_ptr(self) -> *mut UserContext {
        // SAFETY: a handle names a live TCB; the address of one field is
        // taken, no reference is formed.
        unsafe { core::ptr::addr_of_mut!((*self.ptr()).context) }
    }

    /// Runs `f` on the thread's register file, for the length of one call
    /// into the architecture's register-file code, which reaches no kernel
    /// object.
    #[inline(always)]
    fn regs<R>(self, f: impl FnOnce(&mut UserContext) -> R) -> R {
        // SAFETY: a handle names a live TCB; the reference lives for the
        // call to `f`, which the methods below pass only `UserContext`'s own
        // methods, so no other reference to this register file is formed
        // meanwhile.
        f(unsafe { &mut *self.context_ptr() })
    }

    /// A copy of the saved registers.
    pub fn context(self) -> UserContext {
        self.regs(|c| *c)
    }

    /// Replaces the saved registers.
    pub fn set_context(self, context: UserContext) {
        self.regs(|c| *c = context);
    }

    /// The system-call number of the thread's latest system call.
    #[inline(always)]
    pub fn syscall_number(self) -> u64 {
        self.regs(|c| c.syscall_number())
    }

    /// System-call argument `n`.
    #[inline(always)]
    pub fn syscall_arg(self, n: usize) -> u64 {
        self.regs(|c| c.syscall_arg(n))
    }

    /// Writes the system call's result registers.
    #[inline(always)]
    pub fn set_syscall_result(self, words: [u64; 6]) {
        self.regs(|c| c.set_syscall_result(words));
    }

    /// The user program counter.
    pub fn ip(self) -> u64 {
        self.regs(|c| c.ip())
    }

    /// Rewinds the thread onto its system-call instruction.
    pub fn restart_syscall(self) {
        self.regs(|c| c.restart_syscall());
    }

    /// Sets the TLS base register.
    pub fn set_tls_base(self, base: u64) {
        self.regs(|c| c.set_tls_base(base));
    }

    /// Register `index` of `keel_abi::registers`' list, if the list has it.
    pub fn register(self, index: usize) -> Option<u64> {
        self.regs(|c| c.register(index))
    }

    /// Sets register `index`; false if the list has no such register.
    pub fn set_register(self, index: usize, value: u64) -> bool {
        self.regs(|c| c.set_register(index, value))
    }

    /// Leaves the kernel into this thread, in `vspace`.
    #[inline(always)]
    pub fn enter_user(self, vspace: &VSpace) -> ! {
        self.regs(|c| Machine::enter_user(c, vspace))
    }

    /// Everything of leaving the kernel into this thread but the return
    /// itself, which the system-call entry makes (see `sched::prepare_to_enter`).
    #[inline(always)]
    pub fn prepare_user_entry(self, vspace: &VSpace) {
        self.regs(|c| Machine::prepare_user_entry(c, vspace));
    }

    /// The thread is going: the architecture drops what it holds of its
    /// user state (an FPU owned lazily).
    pub fn forget_user_state(self) {
        self.regs(|c| Machine::forget_user_state(c));
    }

    /// Word `i` of the fault message (0 past its end).
    pub fn fault_word(self, i: usize) -> u64 {
        // SAFETY: a handle names a live TCB; one array element is read by
        // raw pointer after the bounds check.
        let words = unsafe { core::ptr::addr_of!((*self.ptr()).fault_words) };
        if i < FAULT_WORDS {
            // SAFETY: as above; `i` is in bounds.
            unsafe { (words as *const u64).add(i).read() }
        } else {
            0
        }
    }

    /// Takes the label of the fault being handled (0: none), leaving none.
    pub fn take_fault_label(self) -> u64 {
        let label = self.fault_label();
        self.set_fault_label(0);
        label
    }

    /// Records a fault to report: its label, message and length.
    pub fn set_fault(self, label: u64, words: [u64; FAULT_WORDS], length: usize) {
        let t = self.ptr();
        // SAFETY: a handle names a live TCB; three fields are written by raw
        // pointer.
        unsafe {
            core::ptr::addr_of_mut!((*t).fault_label).write(label);
            core::ptr::addr_of_mut!((*t).fault_words).write(words);
            core::ptr::addr_of_mut!((*t).fault_length).write(length);
        }
    }

    /// The fast path's kept lookup `i` (< [`KEPT_LOOKUPS`]).
    #[inline(always)]
    pub fn kept_lookup(self, i: usize) -> KeptLookup {
        // SAFETY: a handle names a live TCB; the array is read element-wise
        // by raw pointer, bounds-checked by the index expression.
        unsafe { core::ptr::addr_of!((*self.ptr()).kept_lookups[i]).read() }
    }

    /// Keeps `lookup` as the fast path's lookup `i` (< [`KEPT_LOOKUPS`]).
    #[inline(always)]
    pub fn set_kept_lookup(self, i: usize, lookup: KeptLookup) {
        // SAFETY: as for `kept_lookup`, for a write.
        unsafe { core::ptr::addr_of_mut!((*self.ptr()).kept_lookups[i]).write(lookup) }
    }

    /// Sets the name used in fault reports; longer names are cut, and bytes
    /// that are not UTF-8 make the name `?`.
    pub fn set_name(self, name: &[u8]) {
        let name = core::str::from_utf8(name).unwrap_or("?");
        let mut len = name.len().min(THREAD_NAME_MAX);
        while !name.is_char_boundary(len) {
            len -= 1;
        }
        let mut bytes = [0u8; THREAD_NAME_MAX];
        bytes[..len].copy_from_slice(&name.as_bytes()[..len]);
        let t = self.ptr();
        // SAFETY: a handle names a live TCB; two fields are written by raw
        // pointer.
        unsafe {
            core::ptr::addr_of_mut!((*t).name).write(bytes);
            core::ptr::addr_of_mut!((*t).name_len).write(len);
        }
    }

    /// A copy of the thread's name.
    pub fn name(self) -> ThreadName {
        let t = self.ptr();
        // SAFETY: a handle names a live TCB; two fields are read by raw pointer.
        let (bytes, len) = unsafe {
            (
                core::ptr::addr_of!((*t).name).read(),
                core::ptr::addr_of!((*t).name_len).read(),
            )
        };
        ThreadName { bytes, len }
    }

    /// The VSpace the thread runs in: the one in its VSpace slot, only while
    /// the VSpace's ASID still names it (so a deleted VSpace, or one whose
    /// ASID pool was deleted, is never used), with that ASID. The VSpace
    /// found is kept with the epoch it was found in (`vspace::roots_epoch`),
    /// and used again while no VSpace cap, ASID or pool has gone since.
    #[inline(always)]
    pub fn running_vspace(self) -> Option<VSpace> {
        if let Some(vspace) = self.kept_vspace() {
            return Some(vspace);
        }
        let epoch = crate::object::vspace::roots_epoch();
        let cap = read_cap(&KernelMemory, self.slot(VSPACE_ROOT_SLOT));
        let root = crate::object::vspace::live_root(&cap)?;
        let vspace = VSpace::for_thread(root, cap.mapped_asid());
        let t = self.ptr();
        // SAFETY: a handle names a live TCB; two fields are written by raw
        // pointer.
        unsafe {
            core::ptr::addr_of_mut!((*t).vspace_found).write(vspace);
            core::ptr::addr_of_mut!((*t).vspace_epoch).write(epoch);
        }
        Some(vspace)
    }

    /// The VSpace [`Thread::running_vspace`] last found for the thread, if
    /// it is still good (no VSpace cap, ASID or pool has gone since).
    #[inline(always)]
    pub fn kept_vspace(self) -> Option<VSpace> {
        let t = self.ptr();
        // SAFETY: a handle names a live TCB; a field is read by raw pointer.
        let epoch = unsafe { core::ptr::addr_of!((*t).vspace_epoch).read() };
        if epoch != crate::object::vspace::roots_epoch() {
            return None;
        }
        // SAFETY: as above.
        Some(unsafe { core::ptr::addr_of!((*t).vspace_found).read() })
    }

    /// The physical address of the thread's slot `index` (see [`tcb_slot`]).
    #[inline(always)]
    pub fn slot(self, index: u64) -> u64 {
        tcb_slot(self.addr(), index)
    }

    /// The thread's CSpace root cap.
    #[inline(always)]
    pub fn cspace_root(self) -> Cap {
        read_cap(&KernelMemory, self.slot(CSPACE_ROOT_SLOT))
    }

    /// Looks `cptr` up in the thread's CSpace: the slot and the cap in it.
    ///
    /// # Errors
    /// How the lookup failed.
    #[inline(always)]
    pub fn lookup_cap(self, cptr: u64) -> Result<(u64, Cap), LookupError> {
        lookup_cap(&KernelMemory, self.cspace_root(), cptr)
    }

    /// The physical address of the thread's IPC buffer (0: none), from the
    /// frame cap in its IPC buffer slot and the buffer's virtual address. A
    /// frame cap without the write right gives no buffer: the kernel writes
    /// into it.
    pub fn ipc_buffer(self) -> u64 {
        let cap = read_cap(&KernelMemory, self.slot(IPC_BUFFER_SLOT));
        if cap.kind() != CapType::Frame || !cap.rights().contains(keel_abi::CapRights::WRITE) {
            return 0;
        }
        let vaddr = self.ipc_buffer_vaddr();
        cap.paddr() + (vaddr & ((1u64 << cap.object_size_bits()) - 1))
    }

    /// A new TCB object (zeroed by retype) gets a register file that is
    /// valid to return to user mode with (see `arch::UserRegisters`): ring-3
    /// selectors, the reset FPU state, PC and SP 0.
    pub fn init(self) {
        self.set_context(UserContext::new_thread(0, 0, 0));
    }

    /// Sets up the root task's thread: registers, IPC buffer address, the
    /// highest priority. Its VSpace and IPC buffer frame are caps in its
    /// slots; its priority is set before it is first queued.
    pub fn init_root(self, context: UserContext, ipc_buffer_vaddr: u64, name: &str) {
        self.set_context(context);
        self.set_ipc_buffer_vaddr(ipc_buffer_vaddr);
        self.set_mcp(keel_abi::object::MAX_PRIORITY);
        crate::sched::set_priority(self, keel_abi::object::MAX_PRIORITY);
        self.set_name(name.as_bytes());
    }
}

/// A copy of a thread's name, for reports.
#[derive(Clone, Copy)]
pub struct ThreadName {
    bytes: [u8; THREAD_NAME_MAX],
    len: usize,
}

impl ThreadName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len.min(THREAD_NAME_MAX)]).unwrap_or("?")
    }
}

impl core::fmt::Display for ThreadName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}
