//! IPC0030-0036: where seL4 MCS orders and lends and Keel once did not.
//! Endpoint senders and receivers and notification waiters are served
//! highest priority first, first come first served within a priority; a
//! thread whose priority is set while it waits moves to its new place; and
//! the send half of NBSendRecv and NBSendWait lends a passive receiver the
//! sender's scheduling context.
//!
//! The root task drops below the test threads, so each thread runs into
//! its wait as soon as it is resumed and the queue order is the order of
//! the resumes; a woken thread runs at once and stops.

use super::donation::{passive_server, work, WORK_NS};
use super::ipc::{receive_once, stop_self};
use super::retype::make;
use crate::support::step;
use crate::thread::{count, endpoint_of, set_own_priority, shared, spawn};
use crate::{ensure, Env, TestResult};
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use keel_abi::{MessageInfo, ObjectType};
use keel_sys::cap::{init_thread, Endpoint, Notification, SchedContext, Tcb};
use keel_sys::{CPtr, Cap};

fn cap<T: keel_sys::cap::CapKind>(bits: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(bits))
}

/// The priority the root task drops to, below every test thread.
const ROOT: u64 = 10;

/// Sends its index as MR0 on `shared(i).cap`, then stops.
extern "C" fn send_index(i: u64) -> ! {
    endpoint_of(i).send(MessageInfo::new(0, 0, 0, 1), [i, 0, 0, 0]);
    stop_self(i)
}

/// Waits once on the notification `shared(i).cap`, counts, then stops.
extern "C" fn wait_once(i: u64) -> ! {
    cap::<Notification>(shared(i).cap.load(Ordering::SeqCst)).wait();
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    stop_self(i)
}

/// Starts `entry` as test threads 0, 1 and 2 at `priorities`, each given
/// `object`, in that order, with the root task below them; returns their TCBs.
fn start_three(
    env: &Env,
    entry: extern "C" fn(u64) -> !,
    object: u64,
    priorities: [u64; 3],
) -> Result<Vec<Cap<Tcb>>, alloc::string::String> {
    set_own_priority(ROOT)?;
    let mut tcbs = Vec::new();
    for (i, priority) in (0u64..).zip(priorities) {
        let t = spawn(env, entry, i as usize, i, priority)?;
        shared(i).cap.store(object, Ordering::SeqCst);
        step(t.tcb_resume(), "resume a test thread")?;
        tcbs.push(t);
    }
    Ok(tcbs)
}

/// Receives three messages on `ep` and returns their senders' indices.
fn senders_in_order(ep: u64) -> Vec<u64> {
    let e: Cap<Endpoint> = cap(ep);
    (0..3).map(|_| e.recv(None).mrs[0]).collect()
}

/// Signals `ntfn` three times; returns which thread each signal woke.
fn wakers_in_order(ntfn: u64) -> Result<Vec<u64>, alloc::string::String> {
    let n: Cap<Notification> = cap(ntfn);
    let mut order = Vec::new();
    for _ in 0..3 {
        let before: Vec<u64> = (0..3).map(count).collect();
        n.signal();
        let woken: Vec<u64> = (0..3).filter(|&i| count(i) != before[i as usize]).collect();
        ensure!(woken.len() == 1, "a signal woke threads {woken:?}");
        order.push(woken[0]);
    }
    Ok(order)
}

pub fn senders_by_priority(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    start_three(env, send_index, ep, [50, 60, 50])?;
    let order = senders_in_order(ep);
    ensure!(
        order == [1, 0, 2],
        "senders at priorities 50, 60, 50 were received as {order:?}, not [1, 0, 2]"
    );
    Ok(())
}

pub fn receivers_by_priority(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    start_three(env, receive_once, ep, [50, 60, 50])?;
    let e: Cap<Endpoint> = cap(ep);
    for word in [7, 8, 9] {
        e.nb_send(MessageInfo::new(0, 0, 0, 1), [word, 0, 0, 0]);
    }
    let got: Vec<u64> = (0..3)
        .map(|i| shared(i).value.load(Ordering::SeqCst) & 0xffff_ffff)
        .collect();
    ensure!(
        got == [8, 7, 9],
        "receivers at priorities 50, 60, 50 got {got:?}, not [8, 7, 9]"
    );
    Ok(())
}

pub fn waiters_by_priority(env: &Env) -> TestResult {
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    start_three(env, wait_once, ntfn, [50, 60, 50])?;
    let order = wakers_in_order(ntfn)?;
    ensure!(
        order == [1, 0, 2],
        "waiters at priorities 50, 60, 50 were woken as {order:?}, not [1, 0, 2]"
    );
    Ok(())
}

/// Raises thread 2 to 60 with SetPriority and lowers thread 0 to 40 with
/// SetSchedParams, all three waiting at 50 in the order 0, 1, 2. In seL4
/// MCS SetSchedParams also binds a context to a thread that has none, so
/// thread 0's is unbound first and bound again by it.
fn reprioritise(tcbs: &[Cap<Tcb>]) -> TestResult {
    step(
        tcbs[2].tcb_set_priority(init_thread::TCB, 60),
        "raise thread 2",
    )?;
    let sc: Cap<SchedContext> =
        Cap::from_cptr(CPtr::from_bits(shared(0).sc.load(Ordering::SeqCst)));
    step(sc.sched_context_unbind(), "unbind thread 0's context")?;
    step(
        tcbs[0].tcb_set_sched_params(init_thread::TCB, 255, 40, sc.cptr(), CPtr::from_bits(0)),
        "lower thread 0, its context bound again",
    )
}

pub fn new_priority_moves_a_sender(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let tcbs = start_three(env, send_index, ep, [50, 50, 50])?;
    reprioritise(&tcbs)?;
    let order = senders_in_order(ep);
    ensure!(
        order == [2, 1, 0],
        "after 2 was raised and 0 lowered the senders were received as {order:?}"
    );
    Ok(())
}

pub fn new_priority_moves_a_waiter(env: &Env) -> TestResult {
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    let tcbs = start_three(env, wait_once, ntfn, [50, 50, 50])?;
    reprioritise(&tcbs)?;
    let order = wakers_in_order(ntfn)?;
    ensure!(
        order == [2, 1, 0],
        "after 2 was raised and 0 lowered the waiters were woken as {order:?}"
    );
    Ok(())
}

/// Takes one message on `shared(i).cap` (with its Reply object), counts,
/// stores MR0, works [`WORK_NS`], counts again and waits for ever.
extern "C" fn take_and_work(i: u64) -> ! {
    let ep = endpoint_of(i);
    let reply = crate::thread::reply_of(i);
    let r = ep.recv(reply);
    shared(i).value.store(r.mrs[0], Ordering::SeqCst);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    work();
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    loop {
        ep.recv(reply);
    }
}

/// NBSendRecvs MR0 21 on `shared(i).cap`, then receives on the endpoint
/// `shared(i).value` (nothing comes).
extern "C" fn nb_send_recv_once(i: u64) -> ! {
    let src = cap(shared(i).value.load(Ordering::SeqCst));
    endpoint_of(i).nb_send_recv(MessageInfo::new(0, 0, 0, 1), [21, 0, 0, 0], src, None);
    stop_self(i)
}

/// As [`nb_send_recv_once`], with NBSendWait.
extern "C" fn nb_send_wait_once(i: u64) -> ! {
    let src: Cap<Endpoint> = cap(shared(i).value.load(Ordering::SeqCst));
    endpoint_of(i).nb_send_wait(MessageInfo::new(0, 0, 0, 1), [21, 0, 0, 0], src);
    stop_self(i)
}

/// A passive server (thread 0) takes the send half of `client`'s call
/// (thread 1, on a context of its own): it runs, and its work is charged
/// to the client's context (before the fix it never ran: a send lent
/// nothing).
fn send_half_lends(env: &Env, client: extern "C" fn(u64) -> !) -> TestResult {
    let (ep, back) = (
        make(env, 12, ObjectType::Endpoint, 0, 1)?,
        make(env, 12, ObjectType::Endpoint, 0, 1)?,
    );
    let server = passive_server(env, take_and_work, 0, ep, 0)?;
    set_own_priority(100)?;
    let t = spawn(env, client, 1, 1, 200)?;
    shared(1).cap.store(ep, Ordering::SeqCst);
    shared(1).value.store(back, Ordering::SeqCst);
    let sc: Cap<SchedContext> = cap(shared(1).sc.load(Ordering::SeqCst));
    step(
        sc.sched_context_consumed(),
        "reset the client's consumed time",
    )?;
    step(t.tcb_resume(), "resume the client")?;
    ensure!(
        count(0) == 2,
        "the passive server ran {} of its 2 steps",
        count(0)
    );
    let got = shared(0).value.load(Ordering::SeqCst);
    ensure!(got == 21, "the server received MR0 {got}");
    let used = step(
        sc.sched_context_consumed(),
        "read the client's consumed time",
    )?;
    ensure!(
        used >= WORK_NS / 1000 * 9 / 10,
        "the client's context paid {used} µs for the server's {} µs of work",
        WORK_NS / 1000
    );
    // The server still runs on the client's context: stop it before its
    // endpoint goes.
    step(server.tcb_suspend(), "suspend the server")
}

pub fn nb_send_recv_lends_context(env: &Env) -> TestResult {
    send_half_lends(env, nb_send_recv_once)
}

pub fn nb_send_wait_lends_context(env: &Env) -> TestResult {
    send_half_lends(env, nb_send_wait_once)
}
