//! IPC that carries capabilities: a cap sent through a granting endpoint cap
//! arrives as a copy, nothing without the grant right, a badged cap to the
//! receiving endpoint arrives unwrapped as its badge, nothing into an occupied
//! slot, and a reply carries a cap only when the server received with grant.

use super::ipc::{mint, stop_self};
use super::retype::make;
use crate::support::{slot, step};
use crate::thread::{count, endpoint_of, give_reply, reply_of, shared, spawn};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::{CapRights, MessageInfo, ObjectType};
use keel_sys::cap::{Endpoint, Tcb};
use keel_sys::{CPtr, Cap};

/// Sends one message naming extra cap `shared(i).value` through
/// `shared(i).cap` (through its own IPC buffer), then stops.
extern "C" fn send_with_cap(i: u64) -> ! {
    let cap = CPtr::from_bits(shared(i).value.load(Ordering::SeqCst));
    let _ = keel_sys::ipc::set_cap(0, cap);
    endpoint_of(i).send(MessageInfo::new(9, 0, 1, 1), [1, 0, 0, 0]);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    stop_self(i)
}

/// Creates (suspended) thread 0 running `entry`, with
/// `shared(0).cap = through` and `shared(0).value = cap`.
fn spawn_sender(
    env: &Env,
    entry: extern "C" fn(u64) -> !,
    through: u64,
    cap: u64,
) -> Result<Cap<Tcb>, alloc::string::String> {
    let t = spawn(env, entry, 0, 0, 255)?;
    shared(0).cap.store(through, Ordering::SeqCst);
    shared(0).value.store(cap, Ordering::SeqCst);
    give_reply(env, 0)?;
    Ok(t)
}

/// Starts `send_with_cap` sending `cap` through the endpoint cap `through`,
/// receives the message in the root task into `dest`, and returns it.
fn receive_cap(
    env: &Env,
    through: u64,
    cap: u64,
    ep: u64,
    dest: u64,
) -> Result<keel_sys::ipc::Received, alloc::string::String> {
    let t = spawn_sender(env, send_with_cap, through, cap)?;
    keel_sys::ipc::set_receive_path(keel_sys::cap::init_thread::CNODE.cptr(), dest, 64)
        .map_err(|e| alloc::format!("receive path: {e}"))?;
    step(t.tcb_resume(), "resume")?;
    Ok(Cap::<Endpoint>::from_cptr(CPtr::from_bits(ep)).recv(None))
}

pub fn cap_transfer_with_grant(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    let dest = env.slots(1)?;
    let r = receive_cap(env, ep, ntfn, ep, dest)?;
    ensure!(
        r.info.extra_caps() == 1 && r.info.caps_unwrapped() == 0,
        "info {:?}",
        r.info
    );
    crate::support::expect_type(dest, keel_abi::CapType::Notification)?;
    // The received cap is a copy: revoking the original takes it.
    step(slot(ntfn).revoke(), "revoke the original")?;
    crate::support::expect_type(dest, keel_abi::CapType::Null)
}

pub fn no_transfer_without_grant(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let no_grant = mint(env, ep, 0, CapRights::READ.union(CapRights::WRITE))?;
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    let dest = env.slots(1)?;
    let r = receive_cap(env, no_grant.cptr().bits(), ntfn, ep, dest)?;
    ensure!(
        r.info.extra_caps() == 0,
        "{} caps came without the grant right",
        r.info.extra_caps()
    );
    crate::support::expect_type(dest, keel_abi::CapType::Null)
}

pub fn badged_cap_to_same_endpoint_unwrapped(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let badged = mint(env, ep, 0x99, CapRights::ALL)?;
    let dest = env.slots(1)?;
    let r = receive_cap(env, ep, badged.cptr().bits(), ep, dest)?;
    ensure!(
        r.info.extra_caps() == 1 && r.info.caps_unwrapped() == 1,
        "info {:?}",
        r.info
    );
    let badge = keel_sys::ipc::unwrapped_badge(0).map_err(|e| alloc::format!("{e}"))?;
    ensure!(badge == 0x99, "unwrapped badge {badge:#x}");
    crate::support::expect_type(dest, keel_abi::CapType::Null)
}

pub fn occupied_receive_slot(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    let occupied = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let r = receive_cap(env, ep, ntfn, ep, occupied)?;
    ensure!(
        r.info.extra_caps() == 0,
        "a cap was received into an occupied slot"
    );
    crate::support::expect_type(occupied, keel_abi::CapType::Endpoint)
}

/// Takes one Call through `shared(i).cap`, answers it naming extra cap
/// `shared(i).value` (through its own IPC buffer), then stops.
extern "C" fn reply_with_cap(i: u64) -> ! {
    let ep = endpoint_of(i);
    let Some(reply) = reply_of(i) else {
        stop_self(i)
    };
    let _ = ep.recv(Some(reply));
    let _ = keel_sys::ipc::set_cap(0, CPtr::from_bits(shared(i).value.load(Ordering::SeqCst)));
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    reply.reply(MessageInfo::new(0, 0, 1, 1), [5, 0, 0, 0]);
    stop_self(i)
}

/// Starts `reply_with_cap` receiving through `through`, Calls it on `ep`
/// from the root task with the receive slot `dest`, and returns the reply.
fn reply_cap(
    env: &Env,
    through: u64,
    cap: u64,
    ep: u64,
    dest: u64,
) -> Result<keel_sys::ipc::Received, alloc::string::String> {
    let t = spawn_sender(env, reply_with_cap, through, cap)?;
    step(t.tcb_resume(), "resume")?;
    keel_sys::ipc::set_receive_path(keel_sys::cap::init_thread::CNODE.cptr(), dest, 64)
        .map_err(|e| alloc::format!("receive path: {e}"))?;
    let r =
        Cap::<Endpoint>::from_cptr(CPtr::from_bits(ep)).call(MessageInfo::new(1, 0, 0, 0), [0; 4]);
    ensure!(count(0) == 1, "the server did not take the Call");
    Ok(r)
}

pub fn reply_carries_cap_with_grant(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    let dest = env.slots(1)?;
    let r = reply_cap(env, ep, ntfn, ep, dest)?;
    ensure!(
        r.info.extra_caps() == 1 && r.mrs[0] == 5,
        "reply {:?} {:?}",
        r.info,
        r.mrs
    );
    crate::support::expect_type(dest, keel_abi::CapType::Notification)
}

pub fn reply_carries_no_cap_without_grant(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let no_grant = mint(env, ep, 0, CapRights::READ.union(CapRights::WRITE))?;
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    let dest = env.slots(1)?;
    let r = reply_cap(env, no_grant.cptr().bits(), ntfn, ep, dest)?;
    ensure!(
        r.info.extra_caps() == 0 && r.mrs[0] == 5,
        "reply {:?} {:?}: a cap came back although the server received without the grant right",
        r.info,
        r.mrs
    );
    crate::support::expect_type(dest, keel_abi::CapType::Null)
}
