//! RETYPE: creating objects from Untyped memory, and every error retype has.

use crate::support::{expect_detail, expect_error, expect_type, step};
use crate::{ensure, Env, TestResult};
use keel_abi::{CapType, Error, ObjectType};
use keel_sys::cap::init_thread::CNODE;
use keel_sys::cap::{CNode, Frame, Untyped};
use keel_sys::{CPtr, Cap};

/// Retypes `n` objects of `ty` from an untyped of at least `2^bits` into fresh slots; returns the first slot.
pub fn make(
    env: &Env,
    bits: u8,
    ty: ObjectType,
    size_bits: u64,
    n: u64,
) -> Result<u64, alloc::string::String> {
    let (ut, _) = env.untyped(bits)?;
    let first = env.slots(n)?;
    step(
        ut.untyped_retype(
            ty,
            size_bits,
            &CNODE.absolute_cptr_with_depth(0, 0),
            first,
            n,
        ),
        "retype",
    )?;
    Ok(first)
}

pub fn one_endpoint(env: &Env) -> TestResult {
    let s = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    expect_type(s, CapType::Endpoint)
}

pub fn many_notifications(env: &Env) -> TestResult {
    let s = make(env, 14, ObjectType::Notification, 0, 100)?;
    for i in 0..100 {
        expect_type(s + i, CapType::Notification)?;
    }
    Ok(())
}

pub fn every_type(env: &Env) -> TestResult {
    let cases = [
        (ObjectType::Untyped, 12, CapType::Untyped),
        (ObjectType::Tcb, 0, CapType::Tcb),
        (ObjectType::Endpoint, 0, CapType::Endpoint),
        (ObjectType::Notification, 0, CapType::Notification),
        (ObjectType::CNode, 4, CapType::CNode),
        (ObjectType::SchedContext, 9, CapType::SchedContext),
        (ObjectType::Reply, 0, CapType::Reply),
        (ObjectType::VSpace, 0, CapType::VSpace),
        (
            ObjectType::PageUpperDirectory,
            0,
            CapType::PageUpperDirectory,
        ),
        (ObjectType::PageDirectory, 0, CapType::PageDirectory),
        (ObjectType::PageTable, 0, CapType::PageTable),
        (ObjectType::SmallPage, 0, CapType::Frame),
        (ObjectType::LargePage, 0, CapType::Frame),
    ];
    let (ut, _) = env.untyped(23)?;
    for (ty, size_bits, kind) in cases {
        let s = env.slots(1)?;
        step(
            ut.untyped_retype(ty, size_bits, &CNODE.absolute_cptr_with_depth(0, 0), s, 1),
            "retype",
        )?;
        expect_type(s, kind)?;
    }
    Ok(())
}

pub fn bad_type(env: &Env) -> TestResult {
    let (ut, _) = env.untyped(12)?;
    let s = env.slots(1)?;
    let mrs = [99, 0, 0, 0, s, 1];
    let r = keel_sys::invoke(
        ut.cptr(),
        keel_abi::Label::UntypedRetype,
        &mrs,
        &[CNODE.cptr()],
    );
    let detail = expect_detail(r, Error::InvalidArgument, "object type 99")?;
    ensure!(detail[0] == 0, "detail names argument {}", detail[0]);
    expect_type(s, CapType::Null)
}

pub fn bad_size_bits(env: &Env) -> TestResult {
    let (ut, _) = env.untyped(16)?;
    let s = env.slots(1)?;
    let dst = CNODE.absolute_cptr_with_depth(0, 0);
    expect_error(
        ut.untyped_retype(ObjectType::Untyped, 4, &dst, s, 1),
        Error::RangeError,
        "untyped of 2^4",
    )?;
    expect_error(
        ut.untyped_retype(ObjectType::Untyped, 48, &dst, s, 1),
        Error::RangeError,
        "untyped of 2^48",
    )?;
    expect_error(
        ut.untyped_retype(ObjectType::CNode, 0, &dst, s, 1),
        Error::RangeError,
        "CNode of radix 0",
    )?;
    expect_error(
        ut.untyped_retype(ObjectType::SchedContext, 8, &dst, s, 1),
        Error::RangeError,
        "SchedContext of 2^8",
    )?;
    expect_type(s, CapType::Null)
}

pub fn bad_count(env: &Env) -> TestResult {
    let (ut, _) = env.untyped(16)?;
    let s = env.slots(1)?;
    let dst = CNODE.absolute_cptr_with_depth(0, 0);
    for count in [0, 257] {
        let detail = expect_detail(
            ut.untyped_retype(ObjectType::Endpoint, 0, &dst, s, count),
            Error::RangeError,
            &alloc::format!("{count} objects"),
        )?;
        ensure!(
            detail == [1, keel_abi::object::RETYPE_FAN_OUT_LIMIT],
            "{count} objects: RangeError bounds {detail:?}, not [1, 256]"
        );
    }
    Ok(())
}

pub fn occupied_destination(env: &Env) -> TestResult {
    let s = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let (ut, _) = env.untyped(12)?;
    let r = ut.untyped_retype(
        ObjectType::Endpoint,
        0,
        &CNODE.absolute_cptr_with_depth(0, 0),
        s,
        1,
    );
    expect_error(r, Error::DeleteFirst, "retype into an occupied slot")
}

pub fn destination_out_of_range(env: &Env) -> TestResult {
    let (ut, _) = env.untyped(12)?;
    let slots = 1u64 << env.boot_info.root_cnode_size_bits;
    let dst = CNODE.absolute_cptr_with_depth(0, 0);
    expect_error(
        ut.untyped_retype(ObjectType::Endpoint, 0, &dst, slots - 1, 2),
        Error::RangeError,
        "past the CNode's end",
    )?;
    expect_error(
        ut.untyped_retype(ObjectType::Endpoint, 0, &dst, u64::MAX, 1),
        Error::RangeError,
        "offset u64::MAX",
    )
}

pub fn fill_exactly(env: &Env) -> TestResult {
    // 2^12 bytes hold exactly 2^12 / 2^5 = 128 endpoints.
    let (ut, bits) = env.untyped(12)?;
    let count = 1u64 << (bits - keel_abi::object::ENDPOINT_BITS);
    let dst = CNODE.absolute_cptr_with_depth(0, 0);
    let mut made = 0;
    while made < count {
        let n = (count - made).min(keel_abi::object::RETYPE_FAN_OUT_LIMIT);
        let s = env.slots(n)?;
        step(
            ut.untyped_retype(ObjectType::Endpoint, 0, &dst, s, n),
            "filling the untyped",
        )?;
        made += n;
    }
    let s = env.slots(1)?;
    let detail = expect_detail(
        ut.untyped_retype(ObjectType::Endpoint, 0, &dst, s, 1),
        Error::NotEnoughMemory,
        "one more endpoint",
    )?;
    ensure!(detail[0] == 0, "{} bytes reported available", detail[0]);
    // CNodes larger than a fresh 16 KiB untyped are NotEnoughMemory; one
    // of exactly its size fits.
    let ut = exact_untyped(env, 14)?;
    let radix = u64::from(14 - keel_abi::object::SLOT_BITS);
    let s = env.slots(1)?;
    for larger in [radix + 1, radix + 2, radix + 8] {
        expect_error(
            ut.untyped_retype(ObjectType::CNode, larger, &dst, s, 1),
            Error::NotEnoughMemory,
            &alloc::format!("a CNode of radix {larger}"),
        )?;
    }
    step(
        ut.untyped_retype(ObjectType::CNode, radix, &dst, s, 1),
        "a CNode of the untyped's size",
    )?;
    expect_type(s, CapType::CNode)
}

/// A child untyped of exactly `2^bits` made for the test.
fn exact_untyped(env: &Env, bits: u8) -> Result<Cap<Untyped>, alloc::string::String> {
    let s = make(env, bits, ObjectType::Untyped, u64::from(bits), 1)?;
    Ok(Cap::from_cptr(CPtr::from_bits(s)))
}

/// Each object starts at the next multiple of its size at or above the
/// watermark. In a 4 KiB untyped, an endpoint (32 bytes) then a 16-slot
/// CNode (512 bytes) leave 3 KiB (3552 bytes unaligned), which a frame's
/// NotEnoughMemory reports; in an 8 KiB one, a frame after an endpoint
/// starts on a page boundary (GetAddress) and fills it to the end.
pub fn alignment_uses_watermark(env: &Env) -> TestResult {
    let dst = CNODE.absolute_cptr_with_depth(0, 0);
    let small = exact_untyped(env, 12)?;
    let s = env.slots(3)?;
    step(
        small.untyped_retype(ObjectType::Endpoint, 0, &dst, s, 1),
        "endpoint",
    )?;
    step(
        small.untyped_retype(ObjectType::CNode, 4, &dst, s + 1, 1),
        "CNode of 16 slots",
    )?;
    let detail = expect_detail(
        small.untyped_retype(ObjectType::SmallPage, 0, &dst, s + 2, 1),
        Error::NotEnoughMemory,
        "a frame after them",
    )?;
    ensure!(
        detail[0] == 4096 - 1024,
        "{} bytes left after an endpoint and a 512-byte CNode",
        detail[0]
    );
    let large = exact_untyped(env, 13)?;
    let f = env.slots(3)?;
    step(
        large.untyped_retype(ObjectType::Endpoint, 0, &dst, f, 1),
        "endpoint",
    )?;
    step(
        large.untyped_retype(ObjectType::SmallPage, 0, &dst, f + 1, 1),
        "frame",
    )?;
    let frame: Cap<Frame> = Cap::from_cptr(CPtr::from_bits(f + 1));
    let paddr = step(frame.frame_get_address(), "get address")?;
    ensure!(paddr % 4096 == 0, "the frame starts at {paddr:#x}");
    let detail = expect_detail(
        large.untyped_retype(ObjectType::Endpoint, 0, &dst, f + 2, 1),
        Error::NotEnoughMemory,
        "an endpoint after the frame",
    )?;
    ensure!(detail[0] == 0, "{} bytes left after the frame", detail[0]);
    Ok(())
}

pub fn not_an_untyped(env: &Env) -> TestResult {
    let s = env.slots(1)?;
    let not_untyped = keel_sys::Cap::<keel_sys::cap::Untyped>::from_cptr(CNODE.cptr());
    let r = not_untyped.untyped_retype(
        ObjectType::Endpoint,
        0,
        &CNODE.absolute_cptr_with_depth(0, 0),
        s,
        1,
    );
    expect_error(r, Error::IllegalOperation, "retype invoked on a CNode cap")
}

pub fn truncated(env: &Env) -> TestResult {
    let (ut, _) = env.untyped(12)?;
    let s = env.slots(1)?;
    let r = keel_sys::invoke(
        ut.cptr(),
        keel_abi::Label::UntypedRetype,
        &[ObjectType::Endpoint as u64, 0, 0, 0, s],
        &[CNODE.cptr()],
    );
    expect_error(r, Error::TruncatedMessage, "five message registers")?;
    let r = keel_sys::invoke(
        ut.cptr(),
        keel_abi::Label::UntypedRetype,
        &[ObjectType::Endpoint as u64, 0, 0, 0, s, 1],
        &[],
    );
    expect_error(r, Error::TruncatedMessage, "no destination CNode cap")
}

pub fn split_untyped(env: &Env) -> TestResult {
    let first = make(env, 16, ObjectType::Untyped, 14, 2)?;
    let child =
        keel_sys::Cap::<keel_sys::cap::Untyped>::from_cptr(keel_sys::CPtr::from_bits(first + 1));
    let s = env.slots(4)?;
    step(
        child.untyped_retype(
            ObjectType::Tcb,
            0,
            &CNODE.absolute_cptr_with_depth(0, 0),
            s,
            4,
        ),
        "TCBs from a child untyped",
    )?;
    for i in 0..4 {
        expect_type(s + i, CapType::Tcb)?;
    }
    Ok(())
}

/// The type of the cap in slot `i` of the 16-slot CNode in root slot `c`
/// (copied out to look: a copy from an empty slot fails).
fn type_in_child(c: u64, i: u64, scratch: u64) -> Result<CapType, alloc::string::String> {
    let child: Cap<CNode> = Cap::from_cptr(CPtr::from_bits(c));
    let source = child.absolute_cptr_with_depth(i, 4);
    match crate::support::slot(scratch).copy(&source, keel_abi::CapRights::ALL) {
        Err(e) if e == Error::FailedLookup => Ok(CapType::Null),
        Err(e) => Err(alloc::format!("copy out of child slot {i}: {e:?}")),
        Ok(()) => {
            let kind = crate::support::identify(scratch)?;
            step(crate::support::slot(scratch).delete(), "delete the copy")?;
            Ok(kind)
        }
    }
}

/// Objects retyped into a CNode addressed through the root land in that
/// CNode at the offset given, and nowhere else: its slots 10..15 hold them,
/// the rest stay empty, the root's own slots 10..15 are untouched, and a
/// retype past the child's end changes nothing.
pub fn into_child_cnode(env: &Env) -> TestResult {
    let c = make(env, 12, ObjectType::CNode, 4, 1)?;
    let (ut, _) = env.untyped(12)?;
    let scratch = env.slots(1)?;
    let root_before = (10..16)
        .map(crate::support::identify)
        .collect::<Result<alloc::vec::Vec<_>, _>>()?;
    let dst = CNODE.absolute_cptr(CPtr::from_bits(c));
    step(
        ut.untyped_retype(ObjectType::Notification, 0, &dst, 10, 6),
        "retype into the child CNode",
    )?;
    let r = ut.untyped_retype(ObjectType::Endpoint, 0, &dst, 15, 2);
    expect_error(r, Error::RangeError, "past the child CNode's 16 slots")?;
    for i in 0..16 {
        let expected = if i >= 10 {
            CapType::Notification
        } else {
            CapType::Null
        };
        let found = type_in_child(c, i, scratch)?;
        ensure!(
            found == expected,
            "child slot {i} holds {found:?}, expected {expected:?}"
        );
    }
    for (i, before) in (10..16).zip(root_before) {
        expect_type(i, before)?;
    }
    Ok(())
}

pub fn device_untyped(env: &Env) -> TestResult {
    let (ut, _) = env.device_untyped(21)?;
    let s = env.slots(4)?;
    let dst = CNODE.absolute_cptr_with_depth(0, 0);
    step(
        ut.untyped_retype(ObjectType::SmallPage, 0, &dst, s, 2),
        "device frames",
    )?;
    step(
        ut.untyped_retype(ObjectType::Untyped, 12, &dst, s + 2, 1),
        "device untyped child",
    )?;
    expect_type(s, CapType::Frame)?;
    expect_type(s + 2, CapType::Untyped)?;
    let r = ut.untyped_retype(ObjectType::Endpoint, 0, &dst, s + 3, 1);
    expect_error(r, Error::InvalidArgument, "an endpoint from device memory")?;
    let child =
        keel_sys::Cap::<keel_sys::cap::Untyped>::from_cptr(keel_sys::CPtr::from_bits(s + 2));
    let r = child.untyped_retype(ObjectType::Tcb, 0, &dst, s + 3, 1);
    expect_error(
        r,
        Error::InvalidArgument,
        "a TCB from a device untyped's child",
    )
}
