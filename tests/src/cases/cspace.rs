//! CSPACE: addresses resolved through guarded, multi-level CSpaces.

use super::retype::make;
use crate::support::{expect_detail, expect_error, expect_type, slot, step};
use crate::{ensure, Env, TestResult};
use keel_abi::{CapRights, CapType, Error, LookupFailure, ObjectType};
use keel_sys::cap::{init_thread::CNODE, CNode};
use keel_sys::{CPtr, Cap};

const GUARD_A: u64 = 0b10;
const GUARD_B: u64 = 0b101;

/// Builds CNode A (radix 4, guard 0b10 of 2 bits) holding CNode B (radix 4,
/// guard 0b101 of 3 bits) in A[3]; returns (root slot of A, the 13-bit address of B[5]).
fn two_levels(env: &Env) -> Result<(u64, u64), alloc::string::String> {
    let raw = make(env, 13, ObjectType::CNode, 4, 2)?;
    let (a, b) = (env.slots(1)?, raw + 1);
    step(
        slot(a).mint(&slot(raw), CapRights::ALL, (GUARD_A << 6) | 2),
        "guard A",
    )?;
    let a_cap: Cap<CNode> = Cap::from_cptr(CPtr::from_bits(a));
    // B goes into A[3] with its guard, addressed through A: guard A, then index 3 (6 bits).
    let in_a = a_cap.absolute_cptr_with_depth((GUARD_A << 4) | 3, 6);
    step(
        in_a.mint(&slot(b), CapRights::ALL, (GUARD_B << 6) | 3),
        "B into A[3] with guard B",
    )?;
    let address = (((GUARD_A << 4 | 3) << 3 | GUARD_B) << 4) | 5;
    Ok((a, address))
}

pub fn two_level_lookup(env: &Env) -> TestResult {
    let (a, address) = two_levels(env)?;
    let a_cap: Cap<CNode> = Cap::from_cptr(CPtr::from_bits(a));
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    step(
        a_cap
            .absolute_cptr_with_depth(address, 13)
            .copy(&slot(ep), CapRights::ALL),
        "copy into B[5]",
    )?;
    let back = env.slots(1)?;
    step(
        slot(back).copy(&a_cap.absolute_cptr_with_depth(address, 13), CapRights::ALL),
        "copy out of B[5]",
    )?;
    expect_type(back, CapType::Endpoint)?;
    step(
        a_cap.absolute_cptr_with_depth(address, 13).delete(),
        "delete B[5]",
    )
}

pub fn guard_mismatch(env: &Env) -> TestResult {
    let (a, address) = two_levels(env)?;
    let a_cap: Cap<CNode> = Cap::from_cptr(CPtr::from_bits(a));
    let wrong = address ^ (1 << 5); // flips a bit of guard B
    let r = a_cap.absolute_cptr_with_depth(wrong, 13).delete();
    let detail = expect_detail(r, Error::FailedLookup, "wrong guard")?;
    ensure!(
        detail[0] & 0xff == LookupFailure::GuardMismatch as u64,
        "failure {detail:?}"
    );
    ensure!(
        detail[1] == 7,
        "{} bits left, expected 7 (guard B and B's index)",
        detail[1]
    );
    Ok(())
}

pub fn depth_mismatch(env: &Env) -> TestResult {
    let (a, address) = two_levels(env)?;
    let a_cap: Cap<CNode> = Cap::from_cptr(CPtr::from_bits(a));
    // 11 bits reach into B's guard but not through B's index.
    let r = a_cap.absolute_cptr_with_depth(address >> 2, 11).delete();
    let detail = expect_detail(r, Error::FailedLookup, "depth ending inside B")?;
    ensure!(
        detail[0] & 0xff == LookupFailure::DepthMismatch as u64,
        "failure {detail:?}"
    );
    Ok(())
}

pub fn depth_out_of_range(_env: &Env) -> TestResult {
    expect_error(
        CNODE.absolute_cptr_with_depth(0, 0).delete(),
        Error::RangeError,
        "depth 0",
    )?;
    let detail = expect_detail(
        CNODE.absolute_cptr_with_depth(0, 65).delete(),
        Error::RangeError,
        "depth 65",
    )?;
    ensure!(detail == [1, 64], "range detail {detail:?}");
    Ok(())
}

/// A lookup that reaches a slot holding no CNode cap with bits still to
/// resolve stops there with DepthMismatch and those bits: through an empty
/// slot (A[4]) and through an endpoint cap (A[5]), 7 bits short. (The
/// endpoint cap is read-only: read as a CNode's, its fields would make a
/// level of 2 bits, so a walk that went on through it would stop 5 short.)
pub fn through_non_cnode(env: &Env) -> TestResult {
    let (a, address) = two_levels(env)?;
    let a_cap: Cap<CNode> = Cap::from_cptr(CPtr::from_bits(a));
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    step(
        a_cap
            .absolute_cptr_with_depth((GUARD_A << 4) | 5, 6)
            .copy(&slot(ep), CapRights::READ),
        "a read-only endpoint cap into A[5]",
    )?;
    for (index, what) in [(4, "an empty slot"), (5, "an endpoint cap")] {
        let through = ((((GUARD_A << 4) | index) << 3 | GUARD_B) << 4) | 5;
        ensure!(through != address, "test addresses collide");
        let r = a_cap.absolute_cptr_with_depth(through, 13).delete();
        let detail = expect_detail(r, Error::FailedLookup, what)?;
        ensure!(
            detail == [LookupFailure::DepthMismatch as u64, 7],
            "through {what}: detail {detail:?}"
        );
    }
    expect_type(ep, CapType::Endpoint)
}

pub fn invalid_root(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let d = env.slots(1)?;
    let not_a_cnode: Cap<CNode> = Cap::from_cptr(CPtr::from_bits(ep));
    let r = slot(d).copy(&not_a_cnode.absolute_cptr_with_depth(0, 1), CapRights::ALL);
    let detail = expect_detail(r, Error::FailedLookup, "an endpoint as the source root")?;
    let expected =
        LookupFailure::InvalidRoot as u64 | keel_abi::invocation::ErrorDetail::LOOKUP_SOURCE;
    ensure!(detail[0] == expected, "detail {detail:?}");
    Ok(())
}

pub fn invoke_empty_slot(env: &Env) -> TestResult {
    let s = env.slots(1)?;
    let empty: Cap<CNode> = Cap::from_cptr(CPtr::from_bits(s));
    let r = empty.absolute_cptr_with_depth(0, 1).delete();
    expect_error(r, Error::InvalidCapability, "invoking an empty slot")
}
