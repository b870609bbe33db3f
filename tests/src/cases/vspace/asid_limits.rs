//! ASID limits: every pool the ASID table has room for can be made, and one
//! more is DeleteFirst; a pool gives out 512 ASIDs, and the 513th assign is
//! DeleteFirst. Each test deletes what it made, so later tests find the
//! table as it was.

use super::{cap, make, slot, step};
use crate::support::expect_error;
use crate::{ensure, Env, TestResult};
use alloc::string::String;
use keel_abi::vspace::{ASIDS_PER_POOL, ASID_POOL_BITS, ASID_POOL_COUNT};
use keel_abi::{Error, ObjectType};
use keel_sys::cap::{init_thread, AsidPool, VSpace};
use keel_sys::CPtr;

/// 4 KiB untypeds for `n` pools, in consecutive new slots; returns the first.
fn pool_untypeds(env: &Env, n: u64) -> Result<u64, String> {
    let bits = ASID_POOL_BITS + n.next_power_of_two().trailing_zeros() as u8;
    make(env, bits, ObjectType::Untyped, ASID_POOL_BITS.into(), n)
}

/// Makes an ASID pool in a new slot from the 4 KiB untyped in slot `ut`;
/// returns its slot, or the error of the attempt.
fn make_pool(env: &Env, ut: u64) -> Result<Result<u64, Error>, String> {
    let dst = env.slots(1)?;
    let at = init_thread::CNODE.absolute_cptr(CPtr::from_bits(dst));
    let made = init_thread::ASID_CONTROL.asid_control_make_pool(cap(ut), &at);
    Ok(made.map(|()| dst).map_err(Error::from))
}

/// VSpaces in new slots, `n` of them (in batches of at most 256).
fn vspaces(env: &Env, n: u64) -> Result<alloc::vec::Vec<u64>, String> {
    let mut slots = alloc::vec::Vec::new();
    while (slots.len() as u64) < n {
        let batch = (n - slots.len() as u64).min(256);
        let first = make(env, 20, ObjectType::VSpace, 0, batch)?;
        slots.extend(first..first + batch);
    }
    Ok(slots)
}

/// Makes ASID pools until the table is full: at least one more than the
/// pools that exist is made, at most the 127 the table has room for beside
/// the root task's; the next is DeleteFirst. Each new pool gives out an
/// ASID. Once one of them is deleted, a pool can be made again.
pub fn every_pool(env: &Env) -> TestResult {
    let uts = pool_untypeds(env, ASID_POOL_COUNT + 1)?;
    let mut pools = alloc::vec::Vec::new();
    let last = loop {
        match make_pool(env, uts + pools.len() as u64)? {
            Ok(s) => pools.push(s),
            Err(e) => break e,
        }
        ensure!(
            pools.len() < ASID_POOL_COUNT as usize,
            "{} pools made",
            pools.len()
        );
    };
    ensure!(
        last == Error::DeleteFirst,
        "the pool past the last gave {last:?}"
    );
    ensure!(!pools.is_empty(), "no pool could be made");
    let spare = uts + pools.len() as u64;
    let again = make_pool(env, spare)?;
    ensure!(
        again == Err(Error::DeleteFirst),
        "a second pool past the last gave {again:?}"
    );
    let spaces = vspaces(env, pools.len() as u64)?;
    for (&p, &vs) in pools.iter().zip(&spaces) {
        step(
            cap::<AsidPool>(p).asid_pool_assign(cap::<VSpace>(vs)),
            "assign in a new pool",
        )?;
    }
    step(slot(pools[0]).delete(), "delete a pool")?;
    let remade = make_pool(env, spare)?.map_err(|e| alloc::format!("a pool again: {e:?}"))?;
    for &p in pools[1..].iter().chain([&remade]) {
        step(slot(p).delete(), "delete the pools")?;
    }
    for vs in spaces {
        step(slot(vs).delete(), "delete the VSpaces")?;
    }
    Ok(())
}

/// A new pool gives out 512 ASIDs, one to each of 512 VSpaces; the 513th
/// assign is DeleteFirst and leaves that VSpace without an ASID (it can
/// still be assigned once an ASID is free again).
pub fn full_pool(env: &Env) -> TestResult {
    let ut = pool_untypeds(env, 1)?;
    let pool = make_pool(env, ut)?.map_err(|e| alloc::format!("make a pool: {e:?}"))?;
    let n = ASIDS_PER_POOL as usize;
    let spaces = vspaces(env, n as u64 + 1)?;
    let assign = |i: usize| cap::<AsidPool>(pool).asid_pool_assign(cap::<VSpace>(spaces[i]));
    for i in 0..n {
        step(assign(i), &alloc::format!("assign {i}"))?;
    }
    expect_error(assign(n), Error::DeleteFirst, "the 513th assign")?;
    step(slot(spaces[0]).delete(), "free one ASID")?;
    step(assign(n), "assign once an ASID is free")?;
    step(slot(pool).delete(), "delete the pool")?;
    for &vs in &spaces[1..] {
        step(slot(vs).delete(), "delete the VSpaces")?;
    }
    Ok(())
}
