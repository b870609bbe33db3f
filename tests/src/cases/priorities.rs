//! SCHED0400-0401: priorities with crowds of threads. One thread at each of
//! the 256 priorities runs in strict priority order; a caller queued on an
//! endpoint among four others, moved by SetPriority to the bottom, a middle
//! place and the top of the queue, is received there.

use super::retype::make;
use crate::crowd::{seat, stop, Crowd};
use crate::support::{slot, step};
use crate::thread::{set_own_priority, TIMESLICE_US};
use crate::{ensure, Env, TestResult};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use keel_abi::{CapRights, MessageInfo, ObjectType};
use keel_sys::cap::{init_thread, Endpoint, Reply};
use keel_sys::{CPtr, Cap};

fn cap<T: keel_sys::cap::CapKind>(bits: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(bits))
}

/// How many threads have run in [`all_priorities_in_order`].
static RAN: AtomicU64 = AtomicU64::new(0);
/// The priority of the thread that ran `k`-th, plus one (0: none ran).
static ORDER: [AtomicU64; 256] = [const { AtomicU64::new(0) }; 256];

/// Crowd thread `i`, at priority `i`: notes where in the order it ran;
/// the last (priority 0) wakes the root task.
extern "C" fn note_turn(i: u64) -> ! {
    let k = RAN.fetch_add(1, Ordering::SeqCst);
    if let Some(at) = ORDER.get(k as usize) {
        at.store(i + 1, Ordering::SeqCst);
    }
    if i == 0 {
        seat(0)
            .endpoint()
            .send(MessageInfo::new(0, 0, 0, 0), [0; 4]);
    }
    stop(i)
}

/// 256 threads, one at each priority 0..=255, are all started while the
/// root task (at 255) runs; when it blocks they run one after the other,
/// highest first, the lowest waking it.
pub fn all_priorities_in_order(env: &Env) -> TestResult {
    set_own_priority(255)?;
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let crowd = Crowd::new(env, 256)?;
    let scs = Crowd::contexts(env, 256, TIMESLICE_US, TIMESLICE_US)?;
    RAN.store(0, Ordering::SeqCst);
    for at in &ORDER {
        at.store(0, Ordering::SeqCst);
    }
    seat(0).ep.store(ep, Ordering::SeqCst);
    for (i, sc) in (0u64..).zip(&scs) {
        step(sc.sched_context_bind(crowd.tcb(i)), "bind a context")?;
        crowd.start(i, note_turn, i)?;
    }
    let _ = cap::<Endpoint>(ep).recv(None);
    let order: Vec<u64> = ORDER
        .iter()
        .map(|a| a.load(Ordering::SeqCst).wrapping_sub(1))
        .collect();
    let wrong = (0u64..).zip(&order).find(|(k, p)| **p != 255 - k);
    ensure!(
        RAN.load(Ordering::SeqCst) == 256 && wrong.is_none(),
        "{} threads ran; the {}th ran at priority {:?}",
        RAN.load(Ordering::SeqCst),
        wrong.map_or(0, |w| w.0),
        wrong.map(|w| *w.1)
    );
    Ok(())
}

/// Calls `seat(i).ep` with nothing, for ever.
extern "C" fn call_forever(i: u64) -> ! {
    let s = seat(i);
    loop {
        let _ = s.endpoint().call(MessageInfo::new(0, 0, 0, 0), [0; 4]);
        s.counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// Callers and where they wait: five callers at 54..=58, client `i`
/// calling through a cap badged `i + 1`, the root task below them all.
const CALLERS: u64 = 5;
const HIGHEST: u64 = 60;
const LOWEST: u64 = HIGHEST - CALLERS - 2;
const MIDDLE: u64 = HIGHEST - 3;
const ROOT: u64 = 40;

/// Receives the five queued Calls on `ep`, the `k`-th into `replies + k`;
/// returns the callers in the order received.
fn receive_all(ep: Cap<Endpoint>, replies: u64) -> Vec<u64> {
    (0..CALLERS)
        .map(|k| {
            ep.recv(Some(cap::<Reply>(replies + k)))
                .badge
                .wrapping_sub(1)
        })
        .collect()
}

/// Answers the five Calls held in `replies`; each caller, above the root
/// task, runs at once and queues its next Call.
fn answer_all(replies: u64) {
    for k in 0..CALLERS {
        cap::<Reply>(replies + k).reply(MessageInfo::new(0, 0, 0, 0), [0; 4]);
    }
}

/// As sel4test's SCHED0008: a caller whose priority is set while it waits
/// moves to its new place in the endpoint's queue, behind the callers of
/// its new priority: alone, lowered and raised; among four others at
/// 55..=58, moved to the bottom, to a middle place (57, behind the caller
/// already there), to the top, further up, and back down again.
pub fn queued_caller_moved_to_every_place(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let badged = env.slots(CALLERS)?;
    let replies = make(env, 12, ObjectType::Reply, 0, CALLERS)?;
    let crowd = Crowd::new(env, CALLERS)?;
    let scs = Crowd::contexts(env, CALLERS, TIMESLICE_US, TIMESLICE_US)?;
    for (i, sc) in (0..CALLERS).zip(&scs) {
        step(
            slot(badged + i).mint(&slot(ep), CapRights::ALL, i + 1),
            "mint a caller's cap",
        )?;
        seat(i).ep.store(badged + i, Ordering::SeqCst);
        step(sc.sched_context_bind(crowd.tcb(i)), "bind a context")?;
    }
    set_own_priority(ROOT)?;
    let e: Cap<Endpoint> = cap(ep);
    crowd.start(0, call_forever, LOWEST + 1)?;
    for priority in [LOWEST, LOWEST + 1] {
        step(
            crowd.tcb(0).tcb_set_priority(init_thread::TCB, priority),
            "move the lone caller",
        )?;
        let got = e.recv(Some(cap(replies))).badge;
        ensure!(
            got == 1,
            "the lone caller moved to {priority} gave badge {got}"
        );
        cap::<Reply>(replies).reply(MessageInfo::new(0, 0, 0, 0), [0; 4]);
    }
    for i in 1..CALLERS {
        crowd.start(i, call_forever, LOWEST + 1 + i)?;
    }
    let moves = [
        (LOWEST, 4),
        (MIDDLE, 2),
        (HIGHEST - 1, 0),
        (HIGHEST, 0),
        (HIGHEST - 1, 0),
        (MIDDLE, 2),
        (LOWEST, 4),
    ];
    for (priority, place) in moves {
        step(
            crowd.tcb(0).tcb_set_priority(init_thread::TCB, priority),
            "move caller 0",
        )?;
        let order = receive_all(e, replies);
        let mut expected: Vec<u64> = (1..CALLERS).rev().collect();
        expected.insert(place, 0);
        ensure!(
            order == expected,
            "caller 0 moved to priority {priority} was received as {order:?}, not {expected:?}"
        );
        answer_all(replies);
    }
    // The callers, above the root task, would call the endpoint as it goes.
    crowd.suspend_all()?;
    let answered: u64 = (0..CALLERS)
        .map(|i| seat(i).counter.load(Ordering::SeqCst))
        .sum();
    ensure!(
        answered == 2 + 7 * CALLERS,
        "the callers counted {answered} answers, not {}",
        2 + 7 * CALLERS
    );
    Ok(())
}
