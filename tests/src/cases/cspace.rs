//! CSPACE: addresses resolved through guarded, multi-level CSpaces, up to
//! a whole word through 64 levels.

use super::retype::make;
use crate::support::{expect_detail, expect_error, expect_type, slot, step};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::{CapRights, CapType, Error, LookupFailure, MessageInfo, ObjectType};
use keel_sys::cap::{init_thread::CNODE, CNode, Endpoint};
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

/// Levels of [`full_word_cspace`]'s CSpace: one radix-1 CNode per bit of a CPtr.
const LEVELS: u64 = 64;
/// What [`full_word_caller`] sends when it is ready, and when it is done.
const READY: u64 = 0x1237_4153;
const DONE: u64 = 0x1237_4151;

/// The CPtr of the endpoint in [`full_word_cspace`]'s CSpace: level `l`
/// resolves bit `63 - l` and uses slot `l % 2`.
fn full_word_address() -> u64 {
    (0..LEVELS).fold(0, |a, l| a | ((l % 2) << (63 - l)))
}

/// Test thread `i`: says it is ready on the endpoint in root slot
/// `shared(i).value`; then, in the 64-level CSpace the root task gives it
/// meanwhile, Calls CPtrs 0..64 and the endpoint's CPtr with each bit
/// flipped in turn, counting each Call answered InvalidCapability and
/// keeping the first other answer; last it Calls the endpoint's own CPtr
/// with [`DONE`].
extern "C" fn full_word_caller(i: u64) -> ! {
    let s = crate::thread::shared(i);
    let ready: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(s.value.load(Ordering::SeqCst)));
    ready.send(MessageInfo::new(0, 0, 0, 1), [READY, 0, 0, 0]);
    let good = s.cap.load(Ordering::SeqCst);
    s.value.store(0, Ordering::SeqCst);
    let wrong = (0..LEVELS).chain((0..LEVELS).map(|bit| good ^ (1 << bit)));
    for c in wrong {
        let r = Cap::<Endpoint>::from_cptr(CPtr::from_bits(c))
            .call(MessageInfo::new(0, 0, 0, 0), [0; 4]);
        if r.info.word() == Error::InvalidCapability as u64 {
            s.counter.fetch_add(1, Ordering::SeqCst);
        } else if s.value.load(Ordering::SeqCst) == 0 {
            s.value.store(c, Ordering::SeqCst);
        }
    }
    loop {
        let _ = Cap::<Endpoint>::from_cptr(CPtr::from_bits(good))
            .call(MessageInfo::new(0, 0, 0, 1), [DONE, 0, 0, 0]);
    }
}

/// As sel4test's CSPACE0001: 64 radix-1 CNodes, each in a slot of the one
/// before, the last holding an endpoint, resolve a whole word. A thread
/// given that CSpace (its CSpace switched while it runs) finds nothing at
/// CPtrs 0..64, nor at the endpoint's CPtr with any one bit flipped: each
/// Call, looked up on the IPC path, is answered InvalidCapability; the
/// endpoint's own CPtr reaches the endpoint.
pub fn full_word_cspace(env: &Env) -> TestResult {
    crate::thread::set_own_priority(255)?;
    let cnodes = make(env, 12, ObjectType::CNode, 1, LEVELS)?;
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    for l in 1..LEVELS {
        let parent: Cap<CNode> = Cap::from_cptr(CPtr::from_bits(cnodes + l - 1));
        step(
            parent
                .absolute_cptr_with_depth((l - 1) % 2, 1)
                .copy(&slot(cnodes + l), CapRights::ALL),
            "chain the CNodes",
        )?;
    }
    let last: Cap<CNode> = Cap::from_cptr(CPtr::from_bits(cnodes + LEVELS - 1));
    step(
        last.absolute_cptr_with_depth((LEVELS - 1) % 2, 1)
            .copy(&slot(ep), CapRights::ALL),
        "put the endpoint in the last CNode",
    )?;
    let good = full_word_address();
    let t = crate::thread::spawn(env, full_word_caller, 0, 0, 200)?;
    let shared = crate::thread::shared(0);
    shared.value.store(ep, Ordering::SeqCst);
    shared.cap.store(good, Ordering::SeqCst);
    step(t.tcb_resume(), "start the thread")?;
    let e: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(ep));
    let ready = e.recv(None);
    ensure!(ready.mrs[0] == READY, "the thread said {:#x}", ready.mrs[0]);
    step(
        t.tcb_set_space(
            CPtr::from_bits(0),
            Cap::<CNode>::from_cptr(CPtr::from_bits(cnodes)),
            0,
            keel_sys::cap::init_thread::VSPACE,
        ),
        "give the thread the 64-level CSpace",
    )?;
    let done = e.recv(Some(crate::support::reply_object(env)?));
    step(t.tcb_suspend(), "stop the thread")?;
    let (refused, other) = (
        shared.counter.load(Ordering::SeqCst),
        shared.value.load(Ordering::SeqCst),
    );
    ensure!(
        refused == 2 * LEVELS && other == 0,
        "{refused} of {} wrong CPtrs were refused; {other:#x} was not",
        2 * LEVELS
    );
    ensure!(
        done.mrs[0] == DONE,
        "the Call through {good:#x} brought {:#x}",
        done.mrs[0]
    );
    Ok(())
}
