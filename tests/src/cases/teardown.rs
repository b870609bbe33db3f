//! TEARDOWN: deleting an object many threads wait on is bounded work per
//! step. The delete of an endpoint or notification that a thousand threads
//! wait on runs through a preemption point after every waiter it releases
//! (forced here by the kernel's debug knob) and completes when made again;
//! every waiter is released: each runs its system call again on the empty
//! slot and takes the cap fault its handler receives.

use super::fault_handler::Handler;
use super::retype::make;
use crate::crowd::{seat, Crowd};
use crate::support::{slot, step};
use crate::thread::{sched_context, set_own_priority, yield_times, TIMESLICE_US};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::fault::{self as layout, FaultType};
use keel_abi::{CapRights, MessageInfo, ObjectType};
use keel_bench::waiters::{make_object, park, Kind, Room};
use keel_sys::cap::init_thread::{CNODE, DEBUG};
use keel_sys::cap::{Endpoint, Tcb};
use keel_sys::{CPtr, Cap};

/// The waiters.
const WAITERS: u64 = 1000;

fn waiters_released(env: &Env, kind: Kind) -> TestResult {
    let (untyped, _) = env.untyped(22)?;
    let h = Handler::new(env)?;
    let room = Room {
        untyped,
        cnode: CNODE,
        cnode_depth: 64,
        first: env.slots(WAITERS)?,
        object: env.slots(1)?,
        scratch: env.slots(1)?,
        context: sched_context(env, 1000, 1000)?,
        fault_ep: h.ep,
    };
    make_object(&room, kind).map_err(|e| alloc::format!("{e}"))?;
    park(&room, kind, WAITERS, room.object).map_err(|e| alloc::format!("{e}"))?;
    DEBUG
        .debug_set_preempt_every(1)
        .map_err(|e| alloc::format!("preemption knob: {e}"))?;
    let deleted = slot(room.object).delete();
    let restarts = DEBUG
        .debug_set_preempt_every(0)
        .map_err(|e| alloc::format!("preemption knob: {e}"))?;
    step(deleted, "delete the object")?;
    ensure!(
        restarts >= WAITERS - 1,
        "the delete was preempted {restarts} times: not once per waiter"
    );
    for i in 0..WAITERS {
        let waiter: Cap<Tcb> = Cap::from_cptr(CPtr::from_bits(room.first + i));
        step(room.context.sched_context_bind(waiter), "bind a waiter")?;
        yield_times(1)?;
        step(room.context.sched_context_unbind(), "unbind it")?;
    }
    let handler: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(h.ep));
    let mut faults = 0;
    loop {
        let r = handler.nb_recv(None);
        if r.info.label() != FaultType::CapFault as u64 {
            break;
        }
        ensure!(
            r.mrs[layout::CAP_FAULT_ADDR] == room.object,
            "a waiter faulted on {:#x}",
            r.mrs[layout::CAP_FAULT_ADDR]
        );
        faults += 1;
    }
    ensure!(
        faults == WAITERS,
        "{faults} of {WAITERS} waiters ran their system call again"
    );
    Ok(())
}

/// An endpoint with a thousand receivers.
pub fn endpoint_with_a_thousand_waiters(env: &Env) -> TestResult {
    waiters_released(env, Kind::Endpoint)
}

/// A notification with a thousand waiters.
pub fn notification_with_a_thousand_waiters(env: &Env) -> TestResult {
    waiters_released(env, Kind::Notification)
}

/// Senders in the CancelBadgedSends test: the most a crowd has.
const SENDERS: u64 = crate::crowd::MAX as u64;

/// Sends once on `seat(i).ep`, then counts and stops.
extern "C" fn send_once(i: u64) -> ! {
    let s = seat(i);
    s.endpoint()
        .send(MessageInfo::new(0, 0, 0, 1), [i, 0, 0, 0]);
    s.counter.fetch_add(1, Ordering::SeqCst);
    crate::crowd::stop(i)
}

/// CancelBadgedSends over 256 queued senders, half of them of badge 1 (their
/// caps deleted first, so that their Sends, made again, are dropped), with
/// a preemption point forced after every sender: it completes when made
/// again, every badge-1 sender ran its Send again and no badge-2 sender did;
/// the badge-2 messages are all still queued, in order.
pub fn cancel_badged_sends_preempted(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let caps = env.slots(SENDERS)?;
    let crowd = Crowd::new(env, SENDERS)?;
    let contexts = Crowd::contexts(env, SENDERS, TIMESLICE_US, TIMESLICE_US)?;
    for (i, sc) in (0..SENDERS).zip(&contexts) {
        let badge = 1 + i % 2;
        step(
            slot(caps + i).mint(&slot(ep), CapRights::ALL, badge),
            "mint",
        )?;
        seat(i).ep.store(caps + i, Ordering::SeqCst);
        step(sc.sched_context_bind(crowd.tcb(i)), "bind a context")?;
        crowd.start(i, send_once, 100)?;
    }
    set_own_priority(50)?;
    set_own_priority(255)?;
    for i in (0..SENDERS).step_by(2) {
        step(slot(caps + i).delete(), "delete a badge-1 cap")?;
    }
    let canceller = env.slots(1)?;
    step(slot(canceller).mint(&slot(ep), CapRights::ALL, 1), "mint")?;
    DEBUG
        .debug_set_preempt_every(1)
        .map_err(|e| alloc::format!("preemption knob: {e}"))?;
    let cancelled = slot(canceller).cancel_badged_sends();
    let restarts = DEBUG
        .debug_set_preempt_every(0)
        .map_err(|e| alloc::format!("preemption knob: {e}"))?;
    step(cancelled, "cancel badge 1")?;
    ensure!(
        restarts >= SENDERS - 1,
        "the walk was preempted {restarts} times: not once per sender"
    );
    set_own_priority(50)?;
    set_own_priority(255)?;
    let ran = |badge: u64| {
        (0..SENDERS)
            .filter(|i| 1 + i % 2 == badge && seat(*i).counter.load(Ordering::SeqCst) == 1)
            .count() as u64
    };
    ensure!(
        (ran(1), ran(2)) == (SENDERS / 2, 0),
        "{} badge-1 and {} badge-2 senders went on",
        ran(1),
        ran(2)
    );
    let e: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(ep));
    for k in 0..SENDERS / 2 {
        let r = e.nb_recv(None);
        ensure!(
            r.badge == 2 && r.mrs[0] == 2 * k + 1,
            "message {k}: badge {} from sender {}",
            r.badge,
            r.mrs[0]
        );
    }
    crowd.suspend_all()
}
