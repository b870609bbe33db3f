//! Init's slots and the objects it makes from its pool untyped: a bump
//! allocator over the empty slots it was given, a block of slots per
//! program, and objects retyped straight into the next slot.
//!
//! ```text
//! a program's block: UNTYPED | LOADER .. LOADER+6 | REPLY | INIT_EP | ADMIN_EP | SCHED_UNTYPED
//!                    | PARTITION | MM_FAULT_EP | PROCESS_POOL | PROCESS_OWN | (unused to BLOCK)
//! ```

use core::ops::Range;
use keel_abi::manifest::Region;
use keel_abi::{Error, ObjectType, PAGE_SIZE};
use keel_loader::CALLER_SLOTS;
use keel_sys::arch::ARCH;
use keel_sys::cap::{init_thread, CapKind, Untyped};
use keel_sys::{CPtr, Cap};

use crate::device_memory::DeviceMemory;
use crate::{Context, InitError};

/// The program's untyped.
pub(crate) const UNTYPED: u64 = 0;
/// The first of keel-loader's [`CALLER_SLOTS`]: after a load, the
/// process's CNode, TCB, VSpace and scheduling context.
pub(crate) const LOADER: u64 = 1;
/// Init's copy of a server's Reply object (answers its in-flight request).
pub(crate) const REPLY: u64 = LOADER + CALLER_SLOTS;
/// Init's endpoint, minted with the program's badge: its fault endpoint
/// and its Init connection.
pub(crate) const INIT_EP: u64 = REPLY + 1;
/// Init's cap to a server it commands (the scheduler server, a memory
/// slave, the memory master), with the admin right.
pub(crate) const ADMIN_EP: u64 = INIT_EP + 1;
/// The untyped the scheduler server makes contexts from (in its block,
/// retyped from its own untyped at each start).
pub(crate) const SCHED_UNTYPED: u64 = INIT_EP + 2;
/// A memory slave's partition (in its block, retyped from the pool once:
/// it outlives the slave's restarts).
pub(crate) const PARTITION: u64 = INIT_EP + 3;
/// A memory client's fault endpoint: its slave's endpoint badged with
/// the memory protocol's fault badge for it.
pub(crate) const MM_FAULT_EP: u64 = INIT_EP + 4;
/// The process server's pool (in its block, retyped from its own untyped
/// at each start).
pub(crate) const PROCESS_POOL: u64 = INIT_EP + 5;
/// The process server's untyped for its own objects (likewise).
pub(crate) const PROCESS_OWN: u64 = INIT_EP + 6;
/// Slots per program.
pub(crate) const BLOCK: u64 = 16;
const _: () = assert!(PROCESS_OWN < BLOCK);

/// Init's empty slots, handed out in order.
pub(crate) struct Slots {
    free: Range<u64>,
}

impl Slots {
    pub(crate) fn new(free: Range<u64>) -> Slots {
        Slots { free }
    }

    /// The next `count` slots.
    pub(crate) fn take(&mut self, count: u64) -> Result<Range<u64>, InitError> {
        let start = self.free.start;
        let end = start
            .checked_add(count)
            .filter(|&e| e <= self.free.end)
            .ok_or(InitError {
                step: "find empty slots for init",
                error: Error::NotEnoughMemory.into(),
            })?;
        self.free.start = end;
        Ok(start..end)
    }

    /// A program's block of [`BLOCK`] slots; returns its first.
    pub(crate) fn block(&mut self) -> Result<u64, InitError> {
        Ok(self.take(BLOCK)?.start)
    }

    /// Retypes one object of `ty` (`bits` where the type has a size) from
    /// `pool` into the next slot.
    pub(crate) fn make<K: CapKind>(
        &mut self,
        pool: Cap<Untyped>,
        ty: ObjectType,
        bits: u64,
    ) -> Result<Cap<K>, InitError> {
        let slot = self.take(1)?.start;
        retype(pool, ty, bits, slot, 1)?;
        Ok(Cap::from_cptr(CPtr::from_bits(slot)))
    }

    /// The frames of `region`, in consecutive slots: retyped from `pool`,
    /// or for a device region carved out of `devices` at its address. A
    /// region for another architecture has none.
    pub(crate) fn frames(
        &mut self,
        pool: Cap<Untyped>,
        devices: &mut DeviceMemory,
        region: &Region,
    ) -> Result<Range<u64>, InitError> {
        if !region.applies_to(ARCH) {
            return Ok(0..0);
        }
        let pages = region.size / PAGE_SIZE as u64;
        let slots = self.take(pages)?;
        match region.phys_addr {
            Some(paddr) => devices.frames(self, paddr, pages, slots.start)?,
            None => retype(pool, ObjectType::SmallPage, 0, slots.start, pages)?,
        }
        Ok(slots)
    }
}

/// Retypes `count` objects from `pool` into init's slots from `slot` on.
pub(crate) fn retype(
    pool: Cap<Untyped>,
    ty: ObjectType,
    bits: u64,
    slot: u64,
    count: u64,
) -> Result<(), InitError> {
    pool.untyped_retype(
        ty,
        bits,
        &init_thread::CNODE.absolute_cptr_with_depth(0, 0),
        slot,
        count,
    )
    .context("retype an object for init")
}
