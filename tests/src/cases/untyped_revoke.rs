//! UNTYPEDREVOKE: revoking Untyped takes back everything made from it, however
//! much, and deleting CNodes that hold caps to themselves terminates.

use super::retype::make;
use crate::support::{expect_type, slot, step};
use crate::{ensure, Env, TestResult};
use keel_abi::object::RETYPE_FAN_OUT_LIMIT;
use keel_abi::{CapRights, CapType, Error, ObjectType};
use keel_sys::cap::{init_thread::CNODE, init_thread::DEBUG, CNode, Untyped};
use keel_sys::{CPtr, Cap};

/// Fills a fresh 4096-slot CNode with `n` endpoints from the untyped `ut`.
fn thousands(env: &Env, ut: Cap<Untyped>, n: u64) -> Result<Cap<CNode>, alloc::string::String> {
    let c = make(env, 18, ObjectType::CNode, 12, 1)?;
    let cnode: Cap<CNode> = Cap::from_cptr(CPtr::from_bits(c));
    let dst = CNODE.absolute_cptr(CPtr::from_bits(c));
    let mut made = 0;
    while made < n {
        let k = (n - made).min(RETYPE_FAN_OUT_LIMIT);
        step(
            ut.untyped_retype(ObjectType::Endpoint, 0, &dst, made, k),
            "retype endpoints",
        )?;
        made += k;
    }
    Ok(cnode)
}

pub fn revoke_thousands(env: &Env) -> TestResult {
    let (ut, bits) = env.untyped(17)?;
    let n = 4096u64.min(1 << (bits - 5));
    let cnode = thousands(env, ut, n)?;
    step(CNODE.absolute_cptr(ut.cptr()).revoke(), "revoke")?;
    let probe = env.slots(1)?;
    for i in [0, n / 2, n - 1] {
        let r = slot(probe).copy(&cnode.absolute_cptr_with_depth(i, 12), CapRights::ALL);
        ensure!(
            r.is_err_and(|e| e == Error::FailedLookup),
            "slot {i} of the CNode is not empty after revoke: {r:?}"
        );
    }
    Ok(())
}

pub fn full_size_back(env: &Env) -> TestResult {
    let (ut, bits) = env.untyped(13)?;
    let s = env.slots(2)?;
    let dst = CNODE.absolute_cptr_with_depth(0, 0);
    step(
        ut.untyped_retype(ObjectType::Untyped, u64::from(bits), &dst, s, 1),
        "whole-size child",
    )?;
    step(CNODE.absolute_cptr(ut.cptr()).revoke(), "revoke")?;
    expect_type(s, CapType::Null)?;
    step(
        ut.untyped_retype(ObjectType::Untyped, u64::from(bits), &dst, s + 1, 1),
        "whole-size child again",
    )
}

pub fn nested(env: &Env) -> TestResult {
    let (ut, _) = env.untyped(16)?;
    let s = env.slots(1)?;
    let dst = CNODE.absolute_cptr_with_depth(0, 0);
    step(
        ut.untyped_retype(ObjectType::Untyped, 14, &dst, s, 1),
        "child untyped",
    )?;
    let child: Cap<Untyped> = Cap::from_cptr(CPtr::from_bits(s));
    let objs = env.slots(20)?;
    step(
        child.untyped_retype(ObjectType::Notification, 0, &dst, objs, 20),
        "grandchildren",
    )?;
    let copy = env.slots(1)?;
    step(
        slot(copy).copy(&slot(objs + 3), CapRights::ALL),
        "copy of a grandchild",
    )?;
    step(
        CNODE.absolute_cptr(ut.cptr()).revoke(),
        "revoke the grandparent",
    )?;
    for i in 0..20 {
        expect_type(objs + i, CapType::Null)?;
    }
    expect_type(copy, CapType::Null)?;
    expect_type(s, CapType::Null)
}

pub fn cnode_holding_itself(env: &Env) -> TestResult {
    let (ut, _) = env.untyped(12)?;
    let c = env.slots(1)?;
    step(
        ut.untyped_retype(
            ObjectType::CNode,
            2,
            &CNODE.absolute_cptr_with_depth(0, 0),
            c,
            1,
        ),
        "retype",
    )?;
    let cnode: Cap<CNode> = Cap::from_cptr(CPtr::from_bits(c));
    for i in 0..4 {
        step(
            cnode
                .absolute_cptr_with_depth(i, 2)
                .copy(&slot(c), CapRights::ALL),
            "copy the CNode into itself",
        )?;
    }
    step(slot(c).delete(), "delete the last outside cap")?;
    expect_type(c, CapType::Null)?;
    // The CNode lives on through the caps it holds to itself; revoking its
    // untyped deletes them, and destroying it must terminate.
    step(CNODE.absolute_cptr(ut.cptr()).revoke(), "revoke")?;
    let s = env.slots(1)?;
    step(
        ut.untyped_retype(
            ObjectType::CNode,
            2,
            &CNODE.absolute_cptr_with_depth(0, 0),
            s,
            1,
        ),
        "the memory is free again",
    )
}

/// Two CNodes each holding the only other cap to the other live on once
/// their outside caps are deleted (their untyped has no room for a
/// whole-size child); revoking the untyped destroys both, and the whole
/// untyped is free again.
pub fn cnode_cycle(env: &Env) -> TestResult {
    let (ut, bits) = env.untyped(12)?;
    let pair = env.slots(2)?;
    let dst = CNODE.absolute_cptr_with_depth(0, 0);
    step(
        ut.untyped_retype(ObjectType::CNode, 2, &dst, pair, 2),
        "retype two CNodes",
    )?;
    let a: Cap<CNode> = Cap::from_cptr(CPtr::from_bits(pair));
    let b: Cap<CNode> = Cap::from_cptr(CPtr::from_bits(pair + 1));
    step(
        a.absolute_cptr_with_depth(0, 2)
            .copy(&slot(pair + 1), CapRights::ALL),
        "B into A",
    )?;
    step(
        b.absolute_cptr_with_depth(0, 2)
            .copy(&slot(pair), CapRights::ALL),
        "A into B",
    )?;
    step(slot(pair).delete(), "delete A's outside cap")?;
    step(slot(pair + 1).delete(), "delete B's outside cap")?;
    expect_type(pair, CapType::Null)?;
    expect_type(pair + 1, CapType::Null)?;
    let whole = env.slots(1)?;
    let r = ut.untyped_retype(ObjectType::Untyped, u64::from(bits), &dst, whole, 1);
    crate::support::expect_error(
        r,
        Error::NotEnoughMemory,
        "the untyped while the pair lives",
    )?;
    step(
        CNODE.absolute_cptr(ut.cptr()).revoke(),
        "revoke the untyped",
    )?;
    step(
        ut.untyped_retype(ObjectType::Untyped, u64::from(bits), &dst, whole, 1),
        "the whole untyped after the revoke",
    )
}

pub fn revoke_preempted(env: &Env) -> TestResult {
    let (ut, bits) = env.untyped(17)?;
    let n = 2000u64.min(1 << (bits - 5));
    let cnode = thousands(env, ut, n)?;
    DEBUG
        .debug_set_preempt_every(3)
        .map_err(|e| alloc::format!("preemption knob: {e}"))?;
    let r = CNODE.absolute_cptr(ut.cptr()).revoke();
    let restarts = DEBUG
        .debug_set_preempt_every(0)
        .map_err(|e| alloc::format!("preemption knob: {e}"))?;
    step(r, "preempted revoke")?;
    ensure!(restarts > 100, "only {restarts} preemptions happened");
    let probe = env.slots(1)?;
    let r = slot(probe).copy(&cnode.absolute_cptr_with_depth(n - 1, 12), CapRights::ALL);
    ensure!(
        r.is_err_and(|e| e == Error::FailedLookup),
        "last slot not empty: {r:?}"
    );
    Ok(())
}
