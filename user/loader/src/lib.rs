//! keel-loader: builds a process from an ELF image using only the
//! capabilities the caller hands it (the role of sel4utils' process
//! configuration on seL4). It owns the process layout below; what the process
//! does, and when it is torn down, is the caller's business.
//!
//! Every object of the process (CNode, VSpace, paging structures, frames, TCB,
//! and the paging structures the loader adds to the caller's VSpace for its
//! scratch mapping) is retyped from the one [`Resources::untyped`], so one
//! revoke of that untyped destroys the process and returns all its memory.
//!
//! ```text
//! caller                                  child process
//! Untyped --retype--> CNode, VSpace, TCB, tables, frames --move--> child CNode
//! frame --map at scratch_vaddr--> copy ELF bytes --unmap--> map in child VSpace
//! caps (endpoints, ...) --copy/mint--> child CNode slots 4..
//! ```
//!
//! # The child's CSpace
//!
//! One CNode of `2^`[`CNODE_RADIX`] slots with a guard of the remaining bits,
//! so a CPtr is simply a slot number:
//!
//! | slot | holds |
//! |------|-------|
//! | 0 | nothing |
//! | [`slot::TCB`] (1) | the child's TCB |
//! | [`slot::CNODE`] (2) | the child's CNode (guarded like its CSpace root) |
//! | [`slot::VSPACE`] (3) | the child's VSpace |
//! | [`slot::FIRST_GIVEN`] (4).. | the caps of [`ProcessConfig::caps`], in order (by convention the first is the endpoint the child reports on) |
//! | [`slot::FIRST_LOADER`] (16).. | the loader's: paging structures and frames; the child leaves them alone |
//!
//! [`ProcessConfig::layout`] can move the given and loader ranges and grow
//! the CNode (the test driver gives its children the root task's slot
//! numbers this way), and [`ProcessConfig::ipc_buffer_slot`] puts a copy of
//! the IPC buffer's frame cap in a slot of the caller's choosing.
//!
//! # The child's address space and registers
//!
//! The ELF's PT_LOAD segments at their addresses with their rights
//! (execute-never unless executable); a stack of [`ProcessConfig::stack_pages`]
//! pages below [`STACK_TOP`] (the page under it stays unmapped, a guard); the
//! IPC buffer at [`IPC_BUFFER_VADDR`]; shared frames where the caller says;
//! [`ProcessConfig::extra_pages`], filled with the caller's bytes, read-only.
//! The thread starts at the ELF entry with the stack pointer at
//! [`STACK_TOP`] and argument register 0 holding [`ProcessConfig::arg`];
//! its thread pointer names the IPC buffer, which holds its own address, as keel-sys expects
//! (`keel_sys::ipc_buffer`).
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod build;

use core::fmt;
use core::ops::Range;
use keel_abi::{CapRights, ObjectType};
use keel_sys::cap::{AsidPool, CNode, Frame, SchedContext, SchedControl, Tcb, Untyped, VSpace};
use keel_sys::{CPtr, Cap, InvocationError};

/// Fixed slots of the child's CNode (see the crate documentation).
pub mod slot {
    /// The child's TCB.
    pub const TCB: u64 = 1;
    /// The child's own CNode.
    pub const CNODE: u64 = 2;
    /// The child's VSpace.
    pub const VSPACE: u64 = 3;
    /// The first cap of [`crate::ProcessConfig::caps`].
    pub const FIRST_GIVEN: u64 = 4;
    /// Most caps [`crate::ProcessConfig::caps`] may hold.
    pub const MAX_GIVEN: usize = 12;
    /// The first slot the loader fills with the process's own objects.
    pub const FIRST_LOADER: u64 = 16;
}

/// log2 of the number of slots of the child's CNode.
pub const CNODE_RADIX: u64 = 8;
/// Top of the child's stack.
pub const STACK_TOP: u64 = 0x0000_0000_0f00_0000;
/// Where the child's IPC buffer is mapped.
pub const IPC_BUFFER_VADDR: u64 = 0x0000_0000_1000_1000;
/// Stack pages when the caller has no preference.
pub const DEFAULT_STACK_PAGES: u64 = 4;
/// Slots of the caller's CNode the loader needs (see [`Resources::slots`]).
pub const CALLER_SLOTS: u64 = 6;
/// log2 size of the scheduling context the loader makes for the thread.
pub const SCHED_CONTEXT_BITS: u64 = keel_abi::object::MIN_SCHED_CONTEXT_BITS as u64;

/// What the loader works with, all in the caller's CSpace.
#[derive(Clone, Debug)]
pub struct Resources {
    /// Every object of the process is retyped from this untyped.
    pub untyped: Cap<Untyped>,
    /// The caller's root CNode; CPtrs in this struct are its slot numbers.
    pub cnode: Cap<CNode>,
    /// At least [`CALLER_SLOTS`] empty slots of the caller's CNode. After
    /// [`spawn`] returns, the first four hold the child's CNode, TCB, VSpace
    /// and scheduling context (see [`Process`]) and the rest are empty again.
    pub slots: Range<u64>,
    /// The caller's VSpace, for the scratch mapping.
    pub vspace: Cap<VSpace>,
    /// A page-aligned address in the caller's VSpace where nothing is mapped;
    /// the loader maps each frame there while it fills it.
    pub scratch_vaddr: u64,
    /// The pool the child's VSpace gets its ASID from.
    pub asid_pool: Cap<AsidPool>,
    /// The TCB whose maximum controlled priority bounds the child's priority.
    pub authority: Cap<Tcb>,
    /// Configures the child's scheduling context.
    pub sched_control: Cap<SchedControl>,
}

/// The time the child's thread gets (MCS): `budget_us` every `period_us`;
/// equal is round robin with that timeslice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Budget per period, µs.
    pub budget_us: u64,
    /// Period, µs.
    pub period_us: u64,
}

impl Budget {
    /// Round robin with the root task's timeslice.
    pub const ROUND_ROBIN: Budget = Budget {
        budget_us: keel_abi::sched::ROOT_TIMESLICE_US,
        period_us: keel_abi::sched::ROOT_TIMESLICE_US,
    };
}

/// A capability the child gets in its CNode.
#[derive(Clone, Copy, Debug)]
pub struct GivenCap {
    /// The cap, in the caller's CSpace.
    pub cptr: CPtr,
    /// Rights of the copy.
    pub rights: CapRights,
    /// Badge of the copy (0: copied as it is).
    pub badge: u64,
}

/// A frame of the caller's to map into the child too (shared memory).
#[derive(Clone, Copy, Debug)]
pub struct SharedFrame {
    /// The frame cap, in the caller's CSpace; the loader maps a copy.
    pub frame: Cap<Frame>,
    /// Where the child sees it.
    pub vaddr: u64,
    /// The child's rights to it.
    pub rights: CapRights,
}

/// A page the loader fills with the caller's bytes (the rest zero) and maps
/// read-only and execute-never into the child (e.g. a BootInfo page).
#[derive(Clone, Copy, Debug)]
pub struct ExtraPage<'a> {
    /// Where the child sees it (page-aligned).
    pub vaddr: u64,
    /// Its contents: at most a page.
    pub bytes: &'a [u8],
}

/// Where the child's CNode puts what (see the crate documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotLayout {
    /// log2 of the number of slots of the child's CNode.
    pub cnode_radix: u64,
    /// The slot of the first cap of [`ProcessConfig::caps`] (at least 4).
    pub first_given: u64,
    /// The first slot the loader fills with the process's own objects; the
    /// given caps must fit below it.
    pub first_loader: u64,
}

impl Default for SlotLayout {
    fn default() -> Self {
        SlotLayout {
            cnode_radix: CNODE_RADIX,
            first_given: slot::FIRST_GIVEN,
            first_loader: slot::FIRST_LOADER,
        }
    }
}

/// How the process starts.
#[derive(Clone, Copy, Debug)]
pub struct ProcessConfig<'a> {
    /// The thread's priority (bounded by the authority's MCP).
    pub priority: u64,
    /// The fault endpoint, in the caller's CSpace (the kernel keeps a copy);
    /// `None` leaves the child without a fault handler.
    pub fault_ep: Option<CPtr>,
    /// Argument register 0 at entry.
    pub arg: u64,
    /// Caps for the child's slots [`slot::FIRST_GIVEN`]..
    pub caps: &'a [GivenCap],
    /// Frames to share with the child.
    pub shared_frames: &'a [SharedFrame],
    /// Stack size in pages.
    pub stack_pages: u64,
    /// The thread's maximum controlled priority (bounded by the authority's
    /// MCP); `None` leaves the kernel's default.
    pub mcp: Option<u64>,
    /// The layout of the child's CNode.
    pub layout: SlotLayout,
    /// A slot below [`SlotLayout::first_given`] (and above the three fixed
    /// ones) for a copy of the IPC buffer's frame cap.
    pub ipc_buffer_slot: Option<u64>,
    /// Pages filled with the caller's bytes.
    pub extra_pages: &'a [ExtraPage<'a>],
    /// The thread's scheduling context; `None` makes a passive thread (no
    /// context: it runs only on one lent to it).
    pub budget: Option<Budget>,
    /// A slot of the child's CNode (below [`SlotLayout::first_loader`],
    /// outside the given caps) for a copy of its scheduling context's cap.
    pub sched_context_slot: Option<u64>,
    /// Resume the thread once built; `false` leaves it suspended for the
    /// caller to finish setting up and resume through [`Process::tcb`].
    pub start: bool,
    /// Back keel-rt's fixed heap (the segment at
    /// [`keel_abi::bootinfo::HEAP_VADDR`]) with frames; `false` leaves it
    /// unmapped, for a program whose heap grows through its memory manager.
    pub fixed_heap: bool,
}

impl Default for ProcessConfig<'_> {
    fn default() -> Self {
        ProcessConfig {
            priority: 255,
            fault_ep: None,
            arg: 0,
            caps: &[],
            shared_frames: &[],
            stack_pages: DEFAULT_STACK_PAGES,
            mcp: None,
            layout: SlotLayout::default(),
            ipc_buffer_slot: None,
            extra_pages: &[],
            budget: Some(Budget::ROUND_ROBIN),
            sched_context_slot: None,
            start: true,
            fixed_heap: true,
        }
    }
}

/// A running process, as the caller sees it: caps in the first four of the
/// caller's [`Resources::slots`]. Revoking the untyped tears it down.
#[derive(Clone, Copy, Debug)]
pub struct Process {
    /// The child's CNode (unguarded: address its slots with depth
    /// [`SlotLayout::cnode_radix`], by default [`CNODE_RADIX`]).
    pub cnode: Cap<CNode>,
    /// The child's TCB.
    pub tcb: Cap<Tcb>,
    /// The child's VSpace.
    pub vspace: Cap<VSpace>,
    /// The child's scheduling context (its slot is empty without one).
    pub sched_context: Cap<SchedContext>,
    /// The entry point it started at.
    pub entry: u64,
    /// Slots of its CNode in use.
    pub slots_used: u64,
    /// How many objects of each kind (indexed by `ObjectType as usize`)
    /// were retyped from the untyped, the caller's scratch paging
    /// structures among them: what the process's teardown deletes.
    pub made: [u64; ObjectType::ALL.len()],
}

/// A failed load: the kernel's (or the loader's) error, with its detail,
/// and the step it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// What the loader was doing.
    pub step: &'static str,
    /// The error and its detail words (none for the loader's own errors).
    pub error: InvocationError,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step, self.error)
    }
}

/// Adds the step to a kernel error.
pub(crate) trait Context<T> {
    /// `Err(e)` becomes a [`LoadError`] naming `step`.
    fn context(self, step: &'static str) -> Result<T, LoadError>;
}

impl<T, E: Into<InvocationError>> Context<T> for Result<T, E> {
    fn context(self, step: &'static str) -> Result<T, LoadError> {
        self.map_err(|error| LoadError {
            step,
            error: error.into(),
        })
    }
}

/// Builds a process from `image` (an ELF64 executable for this architecture)
/// and starts it.
///
/// # Errors
/// A [`LoadError`] naming the failed step: `InvalidArgument` for an image
/// that is not a loadable ELF for this machine, too few caller slots, too
/// many caps or a process that does not fit its CNode; `NotEnoughMemory`
/// when the untyped is too small; otherwise the kernel's error. What was
/// built before the failure stays until the untyped is revoked.
pub fn spawn(image: &[u8], res: &Resources, cfg: &ProcessConfig) -> Result<Process, LoadError> {
    build::Builder::new(image, res, cfg)?.run()
}
