//! Thread control blocks. A TCB object (2^11 bytes) starts with a few
//! capability slots of its own (as seL4's TCB CNode: the CSpace root, VSpace
//! root, IPC buffer frame), followed by the [`Tcb`] structure: registers,
//! address space, IPC buffer, priorities, scheduling links, name and state.
//! A zeroed TCB object is a valid inactive thread of priority 0.
//! Invocations are in [`invoke`].

pub mod invoke;

use crate::arch::{AddressSpace, UserContext, UserRegisters, VSpace};
use crate::object::memory::KernelMemory;
use crate::object::object_mut;
use keel_abi::syscall::THREAD_NAME_MAX;
use keel_abi::CapType;
use keel_kernel_core::cap::Cap;
use keel_kernel_core::cspace::read_cap;
pub use keel_kernel_core::cspace::tcb_slot;
use keel_kernel_core::cspace::{SLOT_SIZE, TCB_SLOTS};

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
const STRUCT_OFFSET: u64 = TCB_SLOTS * SLOT_SIZE;

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

/// The thread state after the TCB's own slots.
#[repr(C)]
pub struct Tcb {
    /// Saved user registers.
    pub context: UserContext,
    /// Virtual address of the IPC buffer (its frame is the cap in
    /// [`IPC_BUFFER_SLOT`]).
    pub ipc_buffer_vaddr: u64,
    /// Scheduling state.
    pub state: ThreadState,
    /// Priority, 0..=255.
    pub priority: u64,
    /// Maximum controlled priority: the highest priority this thread may give
    /// itself or others with it as the authority.
    pub mcp: u64,
    /// Next thread in the run queue (TCB object address; 0: none).
    pub sched_next: u64,
    /// Previous thread in the run queue.
    pub sched_prev: u64,
    /// True while the thread is in a run queue.
    pub queued: bool,
    /// The endpoint or notification the thread is queued on (0: none).
    pub blocked_on: u64,
    /// Next thread in that object's queue.
    pub ipc_next: u64,
    /// Previous thread in that object's queue.
    pub ipc_prev: u64,
    /// For a queued sender: the badge of the cap it sent through.
    pub ipc_badge: u64,
    /// For a queued sender: it used Call and waits for a reply.
    pub ipc_is_call: bool,
    /// For a queued sender: its cap had the grant right.
    pub ipc_can_grant: bool,
    /// For a queued sender: its cap had the grant-reply right.
    pub ipc_can_grant_reply: bool,
    /// The cap of its latest receive on an endpoint had the grant right.
    pub receive_can_grant: bool,
    /// The Reply object of this thread's IPC (MCS): the one it receives
    /// with while blocked in a receive, or the one it waits on while
    /// blocked on a reply (0: none).
    pub reply: u64,
    /// The notification bound to this thread (0: none).
    pub bound_notification: u64,
    /// The scheduling context bound to this thread (0: none): it runs only
    /// on one.
    pub sched_context: u64,
    /// The fault being handled (`keel_abi::fault::FaultType`; 0: none).
    pub fault_label: u64,
    /// Words of the fault message that are valid.
    pub fault_length: usize,
    /// The fault message.
    pub fault_words: [u64; FAULT_WORDS],
    name: [u8; THREAD_NAME_MAX],
    name_len: usize,
    /// The VSpace [`running_vspace`] last found, and the epoch it was found
    /// in (0: none found yet).
    vspace_found: VSpace,
    vspace_epoch: u64,
    /// The IPC fast path's last cap lookups for this thread (see
    /// `syscall::fastpath`).
    pub kept_lookups: [KeptLookup; KEPT_LOOKUPS],
}

/// How many cap lookups a thread keeps for the IPC fast path.
pub const KEPT_LOOKUPS: usize = 2;

/// A cap lookup kept: what `cptr` named in the thread's CSpace while the
/// count of cap writes (`ObjectMemory::cap_writes`) read `writes` (0: none kept).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct KeptLookup {
    pub writes: u64,
    pub cptr: u64,
    pub cap: Cap,
}

const _: () = assert!(
    STRUCT_OFFSET as usize + core::mem::size_of::<Tcb>() <= 1 << keel_abi::object::TCB_BITS
);

/// The VSpace the thread runs in: the one in its VSpace slot, only while
/// the VSpace's ASID still names it (so a deleted VSpace, or one whose ASID
/// pool was deleted, is never used), with that ASID. The VSpace found is
/// kept with the epoch it was found in (`vspace::roots_epoch`), and used
/// again while no VSpace cap, ASID or pool has gone since.
#[inline(always)]
pub fn running_vspace(tcb_object: u64) -> Option<VSpace> {
    if let Some(vspace) = kept_vspace(tcb_object) {
        return Some(vspace);
    }
    let epoch = crate::object::vspace::roots_epoch();
    let cap = read_cap(&KernelMemory, tcb_slot(tcb_object, VSPACE_ROOT_SLOT));
    let root = crate::object::vspace::live_root(&cap)?;
    let vspace = VSpace::for_thread(root, cap.mapped_asid());
    // SAFETY: as for `tcb_at`; no other reference to this TCB is live.
    let t = unsafe { tcb_at(tcb_object) };
    t.vspace_found = vspace;
    t.vspace_epoch = epoch;
    Some(vspace)
}

/// The VSpace [`running_vspace`] last found for the thread, if it is still
/// good (no VSpace cap, ASID or pool has gone since).
#[inline(always)]
pub fn kept_vspace(tcb_object: u64) -> Option<VSpace> {
    // SAFETY: as for `tcb_at`; the reference is used for two reads here.
    let t = unsafe { tcb_at(tcb_object) };
    (t.vspace_epoch == crate::object::vspace::roots_epoch()).then_some(t.vspace_found)
}

/// The physical address of the thread's IPC buffer (0: none), from the frame
/// cap in its IPC buffer slot and the buffer's virtual address. A frame cap
/// without the write right gives no buffer: the kernel writes into it.
pub fn ipc_buffer(tcb_object: u64) -> u64 {
    let cap = read_cap(&KernelMemory, tcb_slot(tcb_object, IPC_BUFFER_SLOT));
    if cap.kind() != CapType::Frame || !cap.rights().contains(keel_abi::CapRights::WRITE) {
        return 0;
    }
    // SAFETY: as for `tcb_at`; the reference is used for one read.
    let vaddr = unsafe { tcb_at(tcb_object) }.ipc_buffer_vaddr;
    cap.paddr() + (vaddr & ((1u64 << cap.object_size_bits()) - 1))
}

/// A new TCB object at `tcb_object` (zeroed by retype) gets a register file
/// that is valid to return to user mode with (see `arch::UserRegisters`):
/// ring-3 selectors, the reset FPU state, PC and SP 0.
pub fn init(tcb_object: u64) {
    // SAFETY: retype just made the object; nothing else refers to it yet.
    unsafe { tcb_at(tcb_object) }.context = UserContext::new_thread(0, 0, 0);
}

/// A copy of the thread's saved registers.
pub fn tcb_context(tcb_object: u64) -> UserContext {
    // SAFETY: as for `tcb_at`; the reference is used for one copy.
    unsafe { tcb_at(tcb_object) }.context
}

/// The [`Tcb`] structure of the TCB object at `tcb_object`.
///
/// # Safety
/// `tcb_object` must be a live TCB object (boot-made or retyped), and no other
/// reference to its `Tcb` may be live.
pub unsafe fn tcb_at(tcb_object: u64) -> &'static mut Tcb {
    // SAFETY: the caller's guarantee; a zeroed or initialised TCB object holds a valid `Tcb`.
    unsafe { object_mut::<Tcb>(tcb_object + STRUCT_OFFSET) }
}

impl Tcb {
    /// Sets up the root task's thread: registers, IPC buffer address, the
    /// highest priority. Its VSpace and IPC buffer frame are caps in its slots.
    pub fn init_root(&mut self, context: UserContext, ipc_buffer_vaddr: u64, name: &str) {
        self.context = context;
        self.ipc_buffer_vaddr = ipc_buffer_vaddr;
        self.priority = keel_abi::object::MAX_PRIORITY;
        self.mcp = keel_abi::object::MAX_PRIORITY;
        self.set_name(name.as_bytes());
    }

    /// Sets the name used in fault reports; longer names are cut, and bytes that
    /// are not UTF-8 make the name `?`.
    pub fn set_name(&mut self, name: &[u8]) {
        let name = core::str::from_utf8(name).unwrap_or("?");
        let mut len = name.len().min(THREAD_NAME_MAX);
        while !name.is_char_boundary(len) {
            len -= 1;
        }
        self.name[..len].copy_from_slice(&name.as_bytes()[..len]);
        self.name_len = len;
    }

    /// The thread's name.
    pub fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..self.name_len.min(THREAD_NAME_MAX)]).unwrap_or("?")
    }
}
