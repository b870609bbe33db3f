//! Untyped_Retype: carving kernel objects out of Untyped memory, with seL4's
//! checks, alignment and watermark, and the preemptible reset that returns an
//! untyped without children to its full size.
//!
//! Invariant: memory of a (non-device) untyped above its watermark is zero, so
//! new objects need no clearing; the reset zeroes what was used, in chunks of
//! `2^RESET_CHUNK_BITS` bytes with a preemption point after each, lowering the
//! watermark as it goes so that a preempted retype continues where it stopped.
//! Object-specific setup is the kernel's, through `ObjectHooks::init_object`.

use crate::cap::Cap;
use crate::cspace::lookup::LookupError;
use crate::cspace::mdb::{has_children, insert_new};
use crate::cspace::slot::{read_cap, write_cap, SLOT_SIZE};
use crate::cspace::{ObjectHooks, Preempt, Progress};
use crate::error::SyscallError;
use crate::object_memory::ObjectMemory;
use keel_abi::object::RETYPE_FAN_OUT_LIMIT;
use keel_abi::object::{
    MAX_CNODE_RADIX, MAX_SCHED_CONTEXT_BITS, MAX_UNTYPED_BITS, MIN_SCHED_CONTEXT_BITS,
    MIN_UNTYPED_BITS,
};
use keel_abi::{CapType, Error, LookupFailure, ObjectType};

/// log2 of the bytes zeroed between two preemption points of a reset:
/// 16 KiB, which the architectures' zeroing routines clear in fewer
/// instructions than they took for 8 KiB before they had them (x86_64
/// about 1,100, aarch64 about 900), so no stretch between points grew.
pub const RESET_CHUNK_BITS: u8 = 14;

/// Bytes the untyped in `slot` can still give out: all of it when it has no
/// children (the next retype resets it), else what lies above the watermark.
/// 0 for a slot that does not hold an untyped.
pub fn available_bytes(mem: &impl ObjectMemory, slot: u64) -> u64 {
    let cap = read_cap(mem, slot);
    if cap.kind() != CapType::Untyped {
        return 0;
    }
    let size = region_size(&cap);
    if has_children(mem, slot) {
        size.saturating_sub(cap.free_index())
    } else {
        size
    }
}

fn region_size(cap: &Cap) -> u64 {
    1u64.checked_shl(u32::from(cap.untyped_size_bits()))
        .unwrap_or(u64::MAX)
}

/// The allowed range of the `size_bits` argument for `ty` (None: ignored).
fn size_range(ty: ObjectType) -> Option<(u64, u64)> {
    match ty {
        ObjectType::Untyped => Some((u64::from(MIN_UNTYPED_BITS), u64::from(MAX_UNTYPED_BITS))),
        ObjectType::CNode => Some((1, u64::from(MAX_CNODE_RADIX))),
        ObjectType::SchedContext => Some((
            u64::from(MIN_SCHED_CONTEXT_BITS),
            u64::from(MAX_SCHED_CONTEXT_BITS),
        )),
        _ => None,
    }
}

/// Untyped_Retype: creates `count` objects of `ty` (`size_bits` as seL4 takes it:
/// untyped and sched-context size, CNode radix) from the untyped in
/// `untyped_slot`, with caps in slots `offset..offset + count` of the CNode
/// `dest_cnode`. Returns `Preempted` while resetting; call again to continue.
///
/// # Errors
/// In this order: `RangeError` for `size_bits` outside the type's range;
/// `InvalidCapability(0)` when the slot holds no untyped; `FailedLookup`
/// (MissingCapability) when `dest_cnode` is not a CNode; `RangeError` for an
/// offset outside the CNode, a count outside `1..=RETYPE_FAN_OUT_LIMIT` or past
/// the CNode's end; `DeleteFirst` when a destination slot is full;
/// `InvalidArgument(0)` for a type device memory cannot hold;
/// `NotEnoughMemory` (bytes available) when the objects do not fit.
#[allow(clippy::too_many_arguments)]
pub fn retype<M: ObjectMemory>(
    mem: &mut M,
    untyped_slot: u64,
    ty: ObjectType,
    size_bits: u64,
    dest_cnode: Cap,
    offset: u64,
    count: u64,
    hooks: &mut impl ObjectHooks<M>,
    preempt: &mut impl Preempt,
) -> Result<Progress, SyscallError> {
    if let Some((lo, hi)) = size_range(ty) {
        if !(lo..=hi).contains(&size_bits) {
            return Err(SyscallError::range(lo, hi));
        }
    }
    let obj_bits = ty
        .size_bits(size_bits)
        .ok_or(SyscallError::invalid_argument(1))?;
    // In range (checked above) for the types that use it; ignored otherwise.
    let arg_bits = u8::try_from(size_bits).unwrap_or(0);
    let ut = read_cap(mem, untyped_slot);
    if ut.kind() != CapType::Untyped {
        return Err(SyscallError::invalid_capability(0));
    }
    if dest_cnode.kind() != CapType::CNode {
        let e = LookupError::new(LookupFailure::MissingCapability, 0);
        return Err(SyscallError::failed_lookup(false, e));
    }
    let slots = 1u64 << dest_cnode.cnode_radix().min(MAX_CNODE_RADIX);
    if offset > slots - 1 {
        return Err(SyscallError::range(0, slots - 1));
    }
    if !(1..=RETYPE_FAN_OUT_LIMIT).contains(&count) {
        return Err(SyscallError::range(1, RETYPE_FAN_OUT_LIMIT));
    }
    if count > slots - offset {
        return Err(SyscallError::range(1, slots - offset));
    }
    let dest = |i: u64| dest_cnode.paddr() + (offset + i) * SLOT_SIZE;
    if (0..count).any(|i| !read_cap(mem, dest(i)).is_null()) {
        return Err(Error::DeleteFirst.into());
    }
    if ut.is_device() && !ty.allowed_from_device() {
        return Err(SyscallError::invalid_argument(0));
    }
    let reset = !has_children(mem, untyped_slot);
    let size = region_size(&ut);
    let free = if reset { 0 } else { ut.free_index().min(size) };
    let available = size - free;
    let obj_size = 1u64.checked_shl(u32::from(obj_bits)).unwrap_or(u64::MAX);
    let start = align_up(free, obj_size);
    let fits = start
        .and_then(|s| {
            obj_size
                .checked_mul(count)
                .and_then(|need| s.checked_add(need))
        })
        .is_some_and(|end| end <= size);
    if !fits {
        return Err(SyscallError::not_enough_memory(available));
    }
    if reset && reset_untyped(mem, untyped_slot, preempt) == Progress::Preempted {
        return Ok(Progress::Preempted);
    }
    // `fits` checked both of these.
    let start = start.unwrap_or(0);
    let ut = read_cap(mem, untyped_slot);
    write_cap(
        mem,
        untyped_slot,
        ut.with_free_index(start + obj_size * count),
    );
    for i in 0..count {
        let paddr = ut.paddr() + start + i * obj_size;
        insert_new(
            mem,
            untyped_slot,
            dest(i),
            Cap::for_new_object(ty, paddr, arg_bits, ut.is_device()),
        );
        hooks.init_object(mem, ty, paddr, obj_bits);
    }
    Ok(Progress::Done)
}

fn align_up(x: u64, align: u64) -> Option<u64> {
    Some(x.checked_add(align - 1)? & !(align - 1))
}

/// seL4 `resetUntypedCap`: zeroes the used part of a childless untyped from the
/// top down, one chunk per preemption point, lowering its watermark.
fn reset_untyped(mem: &mut impl ObjectMemory, slot: u64, preempt: &mut impl Preempt) -> Progress {
    let chunk = 1u64 << RESET_CHUNK_BITS;
    loop {
        let ut = read_cap(mem, slot);
        let free = ut.free_index().min(region_size(&ut));
        let free = free.checked_add(7).map_or(free, |f| f & !7);
        if free == 0 {
            return Progress::Done;
        }
        let low = if ut.is_device() {
            0
        } else {
            (free - 1) & !(chunk - 1)
        };
        if !ut.is_device() {
            mem.zero(ut.paddr() + low, free - low);
        }
        write_cap(mem, slot, ut.with_free_index(low));
        if low != 0 && preempt.pending() {
            return Progress::Preempted;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cspace::slot::read_slot;
    use crate::cspace::{revoke, NeverPreempt};
    use crate::testutil::*;
    use keel_abi::object::TCB_BITS;

    fn rt(
        m: &mut crate::object_memory::TestMemory,
        ty: ObjectType,
        bits: u64,
        off: u64,
        n: u64,
    ) -> Result<Progress, SyscallError> {
        retype(
            m,
            UT_SLOT,
            ty,
            bits,
            root_cap(),
            off,
            n,
            &mut Rec::default(),
            &mut NeverPreempt,
        )
    }

    #[test]
    fn errors_in_order() {
        let mut m = setup();
        assert_eq!(
            rt(&mut m, ObjectType::CNode, 0, 10, 1),
            Err(SyscallError::range(1, 28))
        );
        assert_eq!(
            rt(&mut m, ObjectType::Untyped, 48, 10, 1),
            Err(SyscallError::range(5, 47))
        );
        assert_eq!(
            rt(&mut m, ObjectType::SchedContext, 8, 10, 1),
            Err(SyscallError::range(9, 12))
        );
        let r = retype(
            &mut m,
            slot(1),
            ObjectType::Tcb,
            0,
            root_cap(),
            10,
            1,
            &mut Rec::default(),
            &mut NeverPreempt,
        );
        assert_eq!(r, Err(SyscallError::invalid_capability(0)));
        let r = retype(
            &mut m,
            UT_SLOT,
            ObjectType::Tcb,
            0,
            Cap::tcb(0),
            10,
            1,
            &mut Rec::default(),
            &mut NeverPreempt,
        );
        assert_eq!(r.unwrap_err().error, Error::FailedLookup);
        assert_eq!(
            rt(&mut m, ObjectType::Tcb, 0, 256, 1),
            Err(SyscallError::range(0, 255))
        );
        assert_eq!(
            rt(&mut m, ObjectType::Tcb, 0, 0, 0),
            Err(SyscallError::range(1, 256))
        );
        assert_eq!(
            rt(&mut m, ObjectType::Tcb, 0, 0, 257),
            Err(SyscallError::range(1, 256))
        );
        assert_eq!(
            rt(&mut m, ObjectType::Tcb, 0, 250, 7),
            Err(SyscallError::range(1, 6))
        );
        assert_eq!(
            rt(&mut m, ObjectType::Tcb, 0, 0, 3),
            Err(Error::DeleteFirst.into())
        );
        assert_eq!(
            rt(&mut m, ObjectType::Untyped, 21, 10, 1),
            Err(SyscallError::not_enough_memory(1 << 20))
        );
        assert_eq!(
            rt(&mut m, ObjectType::LargePage, 0, 10, 1),
            Err(SyscallError::not_enough_memory(1 << 20))
        );
    }

    #[test]
    fn fill_exactly_then_not_enough_memory() {
        let mut m = setup();
        let mut rec = Rec::default();
        let r = retype(
            &mut m,
            UT_SLOT,
            ObjectType::Tcb,
            0,
            root_cap(),
            16,
            240,
            &mut rec,
            &mut NeverPreempt,
        );
        assert_eq!(r, Ok(Progress::Done));
        assert_eq!(rec.inited.len(), 240);
        assert!(rec
            .inited
            .iter()
            .all(|&(t, p, b)| t == ObjectType::Tcb && b == TCB_BITS && p % 2048 == 0));
        assert_eq!(available_bytes(&m, UT_SLOT), (1 << 20) - 240 * 2048);
        assert_eq!(
            rt(&mut m, ObjectType::Untyped, 19, 3, 1),
            Ok(Progress::Done)
        );
        assert_eq!(available_bytes(&m, UT_SLOT), 0);
        assert_eq!(
            rt(&mut m, ObjectType::Endpoint, 0, 4, 1),
            Err(SyscallError::not_enough_memory(0))
        );
        // The new objects are children of the untyped, in their slots.
        assert!(has_children(&m, UT_SLOT));
        let c = read_slot(&m, slot(3)).cap;
        assert_eq!(
            (c.kind(), c.paddr(), c.untyped_size_bits(), c.free_index()),
            (CapType::Untyped, UT + (1 << 19), 19, 0)
        );
        // Revoke gives it all back, and the next retype resets it.
        assert_eq!(
            revoke(&mut m, UT_SLOT, &mut Rec::default(), &mut NeverPreempt),
            Ok(Progress::Done)
        );
        assert_eq!(available_bytes(&m, UT_SLOT), 1 << 20);
        assert_eq!(
            rt(&mut m, ObjectType::Untyped, 20, 3, 1),
            Ok(Progress::Done)
        );
        assert_eq!(read_slot(&m, slot(3)).cap.paddr(), UT);
    }

    #[test]
    fn alignment_and_watermark() {
        let mut m = setup();
        assert_eq!(
            rt(&mut m, ObjectType::Endpoint, 0, 10, 1),
            Ok(Progress::Done)
        );
        assert_eq!(
            rt(&mut m, ObjectType::SmallPage, 0, 11, 2),
            Ok(Progress::Done)
        );
        let pages = [
            read_slot(&m, slot(11)).cap.paddr(),
            read_slot(&m, slot(12)).cap.paddr(),
        ];
        assert_eq!(pages, [UT + 0x1000, UT + 0x2000]);
        assert_eq!(read_cap(&m, UT_SLOT).free_index(), 0x3000);
        assert_eq!(rt(&mut m, ObjectType::CNode, 4, 13, 1), Ok(Progress::Done));
        assert_eq!(read_slot(&m, slot(13)).cap.paddr(), UT + 0x3000);
        assert_eq!(read_slot(&m, slot(13)).cap.cnode_radix(), 4);
    }

    #[test]
    fn reset_zeroes_and_is_preemptible() {
        let mut m = setup();
        assert_eq!(
            rt(&mut m, ObjectType::SmallPage, 0, 10, 64),
            Ok(Progress::Done)
        );
        for i in 0..64 {
            m.write(UT + i * 0x1000 + 8, 0xdead);
        }
        assert_eq!(
            revoke(&mut m, UT_SLOT, &mut Rec::default(), &mut NeverPreempt),
            Ok(Progress::Done)
        );
        let mut p = Every {
            every: 1,
            points: 0,
        };
        let mut rec = Rec::default();
        let calls = until_done(|| {
            retype(
                &mut m,
                UT_SLOT,
                ObjectType::Endpoint,
                0,
                root_cap(),
                10,
                1,
                &mut rec,
                &mut p,
            )
            .unwrap()
        });
        // 256 KiB used, zeroed one chunk per point.
        assert_eq!(calls, (256 << 10) >> RESET_CHUNK_BITS);
        assert!((0..64).all(|i| m.read(UT + i * 0x1000 + 8) == 0));
        assert_eq!(read_cap(&m, UT_SLOT).free_index(), 32);
        assert_eq!(rec.inited.len(), 1);
    }

    #[test]
    fn device_untyped() {
        let mut m = setup();
        let dev = Cap::untyped(UT, UT_BITS, true, 1 << UT_BITS);
        crate::cspace::write_cap(&mut m, UT_SLOT, dev);
        m.write(UT, 0x55);
        assert_eq!(
            rt(&mut m, ObjectType::Tcb, 0, 10, 1),
            Err(SyscallError::invalid_argument(0))
        );
        assert_eq!(
            rt(&mut m, ObjectType::SmallPage, 0, 10, 1),
            Ok(Progress::Done)
        );
        assert_eq!(m.read(UT), 0x55, "device memory is not zeroed");
        assert!(read_slot(&m, slot(10)).cap.is_device());
        assert_eq!(
            rt(&mut m, ObjectType::Untyped, 12, 11, 1),
            Ok(Progress::Done)
        );
        assert!(read_slot(&m, slot(11)).cap.is_device());
    }
}
