//! Delete and revoke, with Zombies and preemption.
//!
//! Deleting a non-final cap just empties its slot. Deleting the final cap to an
//! object finalises it: hooks for most types, nothing for Untyped, and for a
//! CNode a Zombie that clears the CNode's slots from the last one down, one
//! slot per unit of work. A TCB is finalised as seL4's ZombieTCB: the hook runs
//! once (in the unit of work that makes the Zombie, so a restarted delete never
//! repeats it), then a Zombie marked as a TCB's clears the TCB's
//! [`TCB_SLOTS`](super::TCB_SLOTS) slots exactly as for a CNode of that size.
//! A slot holding the final cap to another CNode or TCB becomes a nested Zombie
//! in place and is worked on first; the top Zombie (in the slot the delete
//! started from) keeps a cursor to the deepest one, and each nested Zombie
//! links to the slot of its parent, so each unit of work touches a constant
//! number of slots however deep or cyclic the CNodes and TCBs are.
//!
//! The final cap to an endpoint or notification stays in its slot while
//! [`ObjectHooks::release_waiters`] releases the threads queued on it, one
//! per unit of work, and only then is finalised and emptied.
//!
//! Unit of work (the per-step bound): at most one hook call (and the
//! constant-time `cap_deleted` and `finalise` that end a delete) and at
//! most [`MAX_SLOTS_PER_STEP`] slot reads or writes. A preemption point follows
//! every unit; state between units is consistent and the same call continues.
//! Zombies left by a preempted delete are finished by whichever delete or
//! revoke reaches them next.

use super::mdb::{empty_slot, has_children, is_final, move_slot, swap};
use super::slot::{read_cap, read_mdb, write_cap, SLOT_SIZE};
use super::{ObjectHooks, Preempt, Progress};
use crate::cap::Cap;
use crate::error::SyscallError;
use crate::object_memory::ObjectMemory;
use keel_abi::object::MAX_CNODE_RADIX;
use keel_abi::CapType;

/// Most slots one unit of delete or revoke work reads or writes (a swap with
/// both neighbour pairs, plus the slots read to decide).
pub const MAX_SLOTS_PER_STEP: u64 = 12;

enum Step {
    Done,
    More,
}

/// Deletes the cap in `slot` (CNode_Delete), destroying its object when it is
/// the last cap. Returns `Preempted` at a preemption point; calling again with
/// the same slot continues. The exception is a delete that destroys the object
/// `slot` lies in (a cycle through CNode or TCB slots, such as a thread's
/// CSpace root holding the only cap to the thread, reached by deleting TCB
/// slot 0): its unfinished Zombies move out of `slot` into the cycle, which
/// nothing can name any more, and a revoke of the untyped finishes them.
///
/// # Errors
/// None today; the `Result` is the invocation's.
pub fn delete<M: ObjectMemory>(
    mem: &mut M,
    slot: u64,
    hooks: &mut impl ObjectHooks<M>,
    preempt: &mut impl Preempt,
) -> Result<Progress, SyscallError> {
    delete_protecting(mem, slot, 0, hooks, preempt)
}

/// [`delete`], for a revoke of `protect`: if the destruction reaches the cap in
/// `protect` (the revoked cap lived in an object its revoke destroys), that cap
/// is deleted and the top zombie moves into `protect`, so that the revoke,
/// made again, finds the unfinished work there.
fn delete_protecting<M: ObjectMemory>(
    mem: &mut M,
    slot: u64,
    protect: u64,
    hooks: &mut impl ObjectHooks<M>,
    preempt: &mut impl Preempt,
) -> Result<Progress, SyscallError> {
    let mut top = slot;
    loop {
        if let Step::Done = step(mem, &mut top, protect, hooks) {
            return Ok(Progress::Done);
        }
        if preempt.pending() {
            return Ok(Progress::Preempted);
        }
    }
}

/// Deletes every descendant of the cap in `slot` (CNode_Revoke), one per
/// preemption point (a descendant's own delete may preempt too). A Zombie in
/// `slot` (an unfinished delete) is finished first.
///
/// # Errors
/// None today; the `Result` is the invocation's.
pub fn revoke<M: ObjectMemory>(
    mem: &mut M,
    slot: u64,
    hooks: &mut impl ObjectHooks<M>,
    preempt: &mut impl Preempt,
) -> Result<Progress, SyscallError> {
    if read_cap(mem, slot).kind() == CapType::Zombie {
        return delete(mem, slot, hooks, preempt);
    }
    while has_children(mem, slot) {
        let next = read_mdb(mem, slot).next;
        if delete_protecting(mem, next, slot, hooks, preempt)? == Progress::Preempted
            || preempt.pending()
        {
            return Ok(Progress::Preempted);
        }
    }
    Ok(Progress::Done)
}

fn slots_of(radix: u8) -> u64 {
    1u64 << radix.min(MAX_CNODE_RADIX)
}

/// What one unit of work did to a slot's cap.
enum Deletion {
    /// The cap is gone (and its object, if it was the final cap).
    Emptied,
    /// The final cap to a CNode or TCB: the slot must become this (top,
    /// cursorless) Zombie, which the caller writes in the same unit of work
    /// (a TCB has been finalised already).
    Zombie(Cap),
    /// The final cap to an object with waiters: one was released, the cap
    /// stays and the next unit of work goes on.
    Unfinished,
}

/// Deletes `cap`, the cap in `slot`, finalising it when final; or, for the
/// final cap to a CNode or TCB, leaves the slot alone and returns the Zombie
/// it must become; or, for the final cap to an object with waiters, releases
/// one of them and leaves the cap.
fn delete_or_zombie<M: ObjectMemory>(
    mem: &mut M,
    slot: u64,
    cap: Cap,
    hooks: &mut impl ObjectHooks<M>,
) -> Deletion {
    if is_final(mem, slot) {
        match cap.kind() {
            CapType::CNode => {
                hooks.cap_deleted(mem, &cap);
                let radix = cap.cnode_radix();
                return Deletion::Zombie(Cap::zombie(cap.paddr(), radix, slots_of(radix)));
            }
            CapType::Tcb => {
                hooks.cap_deleted(mem, &cap);
                hooks.finalise(mem, &cap);
                return Deletion::Zombie(Cap::tcb_zombie(cap.paddr()));
            }
            CapType::Untyped | CapType::Null | CapType::Zombie => {}
            _ => {
                if hooks.release_waiters(mem, &cap) == Progress::Preempted {
                    return Deletion::Unfinished;
                }
                hooks.finalise(mem, &cap);
            }
        }
    }
    hooks.cap_deleted(mem, &cap);
    empty_slot(mem, slot);
    Deletion::Emptied
}

fn set_cursor(mem: &mut impl ObjectMemory, top: u64, cursor: u64) {
    let z = read_cap(mem, top);
    let link = if cursor == top { 0 } else { cursor };
    write_cap(mem, top, z.with_zombie_link(true, link));
}

/// Slot of the last not-yet-cleared slot of zombie `z` (None when all are clear).
fn end_slot(z: &Cap) -> Option<u64> {
    let count = z.zombie_count();
    (count > 0).then(|| z.paddr() + (count - 1) * SLOT_SIZE)
}

/// One unit of work on the delete rooted at `*top`.
fn step<M: ObjectMemory>(
    mem: &mut M,
    top: &mut u64,
    protect: u64,
    hooks: &mut impl ObjectHooks<M>,
) -> Step {
    let t = *top;
    let cap = read_cap(mem, t);
    match cap.kind() {
        CapType::Null => Step::Done,
        CapType::Zombie if !cap.zombie_is_top() => {
            // A nested zombie reached directly (by revoke): adopt it.
            write_cap(mem, t, cap.with_zombie_link(true, 0));
            Step::More
        }
        CapType::Zombie => reduce(mem, top, protect, cap, hooks),
        _ => match delete_or_zombie(mem, t, cap, hooks) {
            Deletion::Emptied => Step::Done,
            Deletion::Zombie(z) => {
                write_cap(mem, t, z);
                Step::More
            }
            Deletion::Unfinished => Step::More,
        },
    }
}

/// One unit of work on the deepest zombie of the delete rooted at `*top`.
fn reduce<M: ObjectMemory>(
    mem: &mut M,
    top: &mut u64,
    protect: u64,
    root: Cap,
    hooks: &mut impl ObjectHooks<M>,
) -> Step {
    let t = *top;
    let cur = match root.zombie_link() {
        0 => t,
        c => c,
    };
    let w = read_cap(mem, cur);
    if cur != t && (w.kind() != CapType::Zombie || w.zombie_is_top()) {
        // The cursor went stale (another operation finished that zombie).
        set_cursor(mem, t, t);
        return Step::More;
    }
    let Some(end) = end_slot(&w) else {
        if cur == t {
            empty_slot(mem, t);
            return Step::Done;
        }
        let parent = w.zombie_link();
        empty_slot(mem, cur);
        let p = read_cap(mem, parent);
        let valid = parent != 0 && p.kind() == CapType::Zombie && end_slot(&p) == Some(cur);
        set_cursor(mem, t, if valid { parent } else { t });
        return Step::More;
    };
    let dec = |mem: &mut M| write_cap(mem, cur, w.with_zombie_count(w.zombie_count() - 1));
    if end == cur {
        // The top zombie sits in its own CNode: that slot goes last.
        dec(mem);
        return Step::More;
    }
    if end == t {
        // The top slot lies in the CNode being cleared (a cycle reached by
        // revoke): move the top zombie out of the way.
        move_top(mem, top, cur, w);
        return Step::More;
    }
    let f = read_cap(mem, end);
    let nested = match f.kind() {
        CapType::Zombie => Some(f),
        CapType::Null => None,
        _ => match delete_or_zombie(mem, end, f, hooks) {
            Deletion::Emptied => None,
            Deletion::Zombie(z) => Some(z),
            Deletion::Unfinished => return Step::More,
        },
    };
    match nested {
        Some(z) => {
            write_cap(mem, end, z.with_zombie_link(false, cur));
            set_cursor(mem, t, end);
        }
        None if end == protect => {
            let root = read_cap(mem, t);
            move_slot(mem, t, end, root);
            relink_root_child(mem, &root, t, end);
            *top = end;
        }
        None => dec(mem),
    }
    Step::More
}

/// The top slot `*top` is the last uncleared slot of the nested zombie `w` (in
/// `cur`). With more slots left, swap the top with the CNode's first slot, whose
/// cap is then cleared next. With only that slot left, `w` is done: it takes
/// the top slot and is emptied, and the top zombie moves to `cur`, which
/// becomes the new top.
fn move_top(mem: &mut impl ObjectMemory, top: &mut u64, cur: u64, w: Cap) {
    let t = *top;
    let root = read_cap(mem, t);
    let first = w.paddr();
    let new_top = if w.zombie_count() > 1 {
        swap(mem, t, root, first, read_cap(mem, first));
        first
    } else {
        swap(mem, t, root, cur, w);
        empty_slot(mem, t);
        let parent = w.zombie_link();
        let cursor = if parent == t { cur } else { parent };
        write_cap(
            mem,
            cur,
            root.with_zombie_link(true, if cursor == cur { 0 } else { cursor }),
        );
        cur
    };
    relink_root_child(mem, &root, t, new_top);
    *top = new_top;
}

/// The root zombie moved from `old` to `new`: its direct child, which links to
/// the root's slot, follows.
fn relink_root_child(mem: &mut impl ObjectMemory, root: &Cap, old: u64, new: u64) {
    if let Some(child_slot) = end_slot(root) {
        let child = read_cap(mem, child_slot);
        let linked =
            child.kind() == CapType::Zombie && !child.zombie_is_top() && child.zombie_link() == old;
        if child_slot != new && linked {
            write_cap(mem, child_slot, child.with_zombie_link(false, new));
        }
    }
}
