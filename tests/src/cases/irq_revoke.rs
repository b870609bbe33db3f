//! IRQ0012: a revoke preempted by a device's interrupt (sel4test
//! PREEMPT_REVOKE with a real interrupt): the IRQ thread, above the
//! revoking thread's priority, runs in the middle of the revoke.

use super::irq::{badged_notification, device};
use super::retype::make;
use crate::support::{slot, step};
use crate::thread::{count, shared};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::{AtomicU64, Ordering};
use keel_abi::{CapRights, ObjectType};
use keel_sys::cap::Notification;
use keel_sys::{CPtr, Cap};

fn cap<T: keel_sys::cap::CapKind>(s: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(s))
}

/// What [`probe_revoke`] saw: 0 not run yet, 1 the revoke had already
/// deleted the last child it deletes, 2 that child was still there.
static MID_REVOKE: AtomicU64 = AtomicU64::new(0);
/// The root slot of the revoked children's CNode, and a probe slot.
static CHILDREN: AtomicU64 = AtomicU64::new(0);
static PROBE: AtomicU64 = AtomicU64::new(0);

/// Thread `i`: waits for the device's interrupt on its notification, then
/// looks whether child 0 of the revoke (the first made, so the last a
/// revoke deletes) is still there, by copying it.
extern "C" fn probe_revoke(i: u64) -> ! {
    let n: Cap<Notification> = cap(shared(i).cap.load(Ordering::SeqCst));
    n.wait();
    let children: Cap<keel_sys::cap::CNode> = cap(CHILDREN.load(Ordering::SeqCst));
    let first = children.absolute_cptr_with_depth(0, REVOKED_RADIX);
    let there = slot(PROBE.load(Ordering::SeqCst))
        .copy(&first, CapRights::ALL)
        .is_ok();
    MID_REVOKE.store(1 + u64::from(there), Ordering::SeqCst);
    crate::thread::report_and_stop(i, 0)
}

/// log2 of the children [`revoke_preempted_by_a_device_interrupt`] revokes.
const REVOKED_RADIX: u64 = 14;

/// sel4test PREEMPT_REVOKE with a real interrupt: a revoke of 16,384
/// endpoints is preempted by a device's interrupt (fired just before it),
/// and the IRQ thread, above the revoking thread's priority, runs in the
/// middle of it (the first child is still there), before the revoke, made
/// again, completes.
pub fn revoke_preempted_by_a_device_interrupt(env: &Env) -> TestResult {
    let d = device(env)?;
    let n = badged_notification(env, d)?;
    let (ut, _) = env.untyped(20)?;
    let children = make(env, 20, ObjectType::CNode, REVOKED_RADIX, 1)?;
    let dst = keel_sys::cap::init_thread::CNODE.absolute_cptr(CPtr::from_bits(children));
    let total = 1u64 << REVOKED_RADIX;
    let mut made = 0;
    while made < total {
        let k = (total - made).min(keel_abi::object::RETYPE_FAN_OUT_LIMIT);
        step(
            ut.untyped_retype(ObjectType::Endpoint, 0, &dst, made, k),
            "retype endpoints",
        )?;
        made += k;
    }
    CHILDREN.store(children, Ordering::SeqCst);
    PROBE.store(env.slots(1)?, Ordering::SeqCst);
    MID_REVOKE.store(0, Ordering::SeqCst);
    let t = crate::thread::spawn(env, probe_revoke, 0, 0, 200)?;
    shared(0).cap.store(n.cptr().bits(), Ordering::SeqCst);
    step(t.tcb_resume(), "resume the IRQ thread")?;
    crate::thread::set_own_priority(100)?;
    step(d.handler.irq_handler_ack(), "ack")?;
    d.fire()?;
    let revoked = keel_sys::cap::init_thread::CNODE
        .absolute_cptr(ut.cptr())
        .revoke();
    crate::thread::set_own_priority(255)?;
    step(revoked, "the revoke")?;
    ensure!(count(0) == 1, "the IRQ thread did not run");
    ensure!(
        MID_REVOKE.load(Ordering::SeqCst) == 2,
        "the IRQ thread ran only once the revoke was over"
    );
    d.quiet()
}
