//! CSpaces: slots and the capability derivation tree, CPtr lookup, the CNode
//! operations (copy, mint, move, mutate, rotate) and delete and revoke.
//!
//! Decoding invocation arguments and writing results is the kernel's job; these
//! functions take slot addresses that were already looked up and do seL4's
//! checks and effects on them. The traits here are how the core asks the kernel
//! for what it does not own: finalising objects and checking for interrupts.

pub mod delete;
pub mod lookup;
pub mod mdb;
pub mod ops;
pub mod slot;

pub use delete::{delete, revoke};
pub use lookup::{
    lookup_cap, lookup_cap_fast, lookup_slot, lookup_source_slot, resolve, LookupError,
};
pub use mdb::{
    empty_slot, has_children, insert_derived, insert_new, is_final, is_parent_of, move_slot, swap,
};
pub use ops::{copy, derive, mint, move_cap, mutate, rotate};
pub use slot::{
    read_cap, read_slot, tcb_slot, write_cap, write_slot, MdbNode, Slot, SLOT_SIZE, TCB_SLOTS,
    TCB_SLOT_RADIX,
};

use crate::cap::Cap;
use crate::object_memory::ObjectMemory;
use keel_abi::ObjectType;

/// Asked at each preemption point of a long operation.
pub trait Preempt {
    /// True when an interrupt is pending and the operation should stop.
    fn pending(&mut self) -> bool;
}

/// A [`Preempt`] that never preempts.
#[derive(Clone, Copy, Debug, Default)]
pub struct NeverPreempt;

impl Preempt for NeverPreempt {
    fn pending(&mut self) -> bool {
        false
    }
}

/// How a preemptible operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The operation finished.
    Done,
    /// Stopped at a preemption point; the state is consistent and making the
    /// same call again continues where it stopped.
    Preempted,
}

/// What the kernel does to objects when their last cap goes and when retype
/// creates them.
pub trait ObjectHooks<M: ObjectMemory> {
    /// Called once for the final cap of an object that is not a CNode or
    /// Untyped (unmap, cancel IPC, suspend...), just before its slot is
    /// emptied. For a TCB it comes first, before its slot turns into a Zombie
    /// that then deletes the caps in the TCB's [`TCB_SLOTS`] slots (possibly
    /// across preemptions): the kernel must stop the thread and take it off
    /// every queue here, and must leave all slots to the core.
    fn finalise(&mut self, mem: &mut M, cap: &Cap);
    /// Called for the final cap of an object other threads wait on (an
    /// endpoint or notification), before [`ObjectHooks::finalise`], as one
    /// unit of work: the kernel closes the object to new waiters and
    /// releases one of those queued. `Preempted` while waiters remain: the
    /// cap stays in its slot, a preemption point follows, and the delete
    /// calls again; `Done` once none is left. So a delete's longest stretch
    /// does not grow with the number of waiters.
    fn release_waiters(&mut self, _mem: &mut M, _cap: &Cap) -> Progress {
        Progress::Done
    }
    /// Called once for every cap a delete or revoke removes, final or not,
    /// just before its slot is emptied (after [`ObjectHooks::finalise`]) or,
    /// for the final cap to a CNode or TCB, turned into a Zombie (before
    /// it). Zombies
    /// themselves are not reported. For what one cap holds on its own: a
    /// mapped frame cap is one mapping, undone here.
    fn cap_deleted(&mut self, _mem: &mut M, _cap: &Cap) {}
    /// Called for each object retype creates; its memory is already zero
    /// (device frames: untouched).
    fn init_object(&mut self, mem: &mut M, ty: ObjectType, paddr: u64, size_bits: u8);
}

/// [`ObjectHooks`] that do nothing (objects whose state lives only in memory).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHooks;

impl<M: ObjectMemory> ObjectHooks<M> for NoHooks {
    fn finalise(&mut self, _mem: &mut M, _cap: &Cap) {}
    fn init_object(&mut self, _mem: &mut M, _ty: ObjectType, _paddr: u64, _size_bits: u8) {}
}

#[cfg(test)]
mod delete_tests;
#[cfg(test)]
mod ops_tests;
#[cfg(test)]
mod tcb_delete_tests;
