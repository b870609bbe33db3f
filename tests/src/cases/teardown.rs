//! TEARDOWN: deleting an object many threads wait on is bounded work per
//! step. The delete of an endpoint or notification that a thousand threads
//! wait on runs through a preemption point after every waiter it releases
//! (forced here by the kernel's debug knob) and completes when made again;
//! every waiter is released: each runs its system call again on the empty
//! slot and takes the cap fault its handler receives.

use super::fault_handler::Handler;
use crate::support::{slot, step};
use crate::thread::{sched_context, yield_times};
use crate::{ensure, Env, TestResult};
use keel_abi::fault::{self as layout, FaultType};
use keel_bench::waiters::{park, Kind, Room};
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
    park(&room, kind, WAITERS).map_err(|e| alloc::format!("{e}"))?;
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
