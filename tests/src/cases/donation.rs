//! SCHED_CONTEXT (donation) and TIMEOUTFAULT through passive servers: a
//! Call to a server without a scheduling context lends it the caller's,
//! the reply gives it back, through chains of servers; deleting a Reply
//! object mid-call gives it back too; a budget that runs out in a server
//! raises the server's timeout fault.
//!
//! A server is made passive the seL4 way: it starts on a context of its
//! own, runs into its first receive, and the context is unbound.

use super::retype::make;
use super::sched_context::near;
use crate::support::{expect_error, reply_object, slot, step};
use crate::thread::{
    count, give_reply, own_sched_context, reply_of, sched_context, set_own_priority, share_out,
    shared, spawn, spawn_passive, yield_times, TIMESLICE_US,
};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::fault::{self as layout, FaultType};
use keel_abi::{CapRights, Error, MessageInfo, ObjectType};
use keel_sys::cap::{init_thread::DEBUG, Endpoint, Notification, SchedContext, Tcb};
use keel_sys::sched::SchedContextFlags;
use keel_sys::{CPtr, Cap};

/// Virtual nanoseconds (instructions under `-icount`) a server works per request.
pub(super) const WORK_NS: u64 = 1_000_000;

fn cap<T: keel_sys::cap::CapKind>(bits: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(bits))
}

/// Works [`WORK_NS`] of virtual time.
pub(super) fn work() {
    let start = keel_sys::arch::cycle_counter();
    while keel_sys::arch::cycle_counter() - start < WORK_NS {}
}

/// Serves Calls on `shared(i).cap`: works [`WORK_NS`], then answers MR0 + 1;
/// with `shared(i).value` non-zero, it first Calls that endpoint with MR0
/// and answers what comes back, plus one.
extern "C" fn server(i: u64) -> ! {
    let ep: Cap<Endpoint> = cap(shared(i).cap.load(Ordering::SeqCst));
    let Some(reply) = reply_of(i) else {
        keel_rt::halt(97)
    };
    let mut r = ep.recv(Some(reply));
    loop {
        shared(i).counter.fetch_add(1, Ordering::SeqCst);
        let next = shared(i).value.load(Ordering::SeqCst);
        let answer = if next == 0 {
            work();
            r.mrs[0] + 1
        } else {
            let inner =
                cap::<Endpoint>(next).call(MessageInfo::new(0, 0, 0, 1), [r.mrs[0], 0, 0, 0]);
            inner.mrs[0] + 1
        };
        r = ep.reply_recv(MessageInfo::new(0, 0, 0, 1), [answer, 0, 0, 0], reply);
    }
}

/// Answers every Call on `shared(i).cap` at once with MR0 + 1, counting.
extern "C" fn echo(i: u64) -> ! {
    let ep: Cap<Endpoint> = cap(shared(i).cap.load(Ordering::SeqCst));
    let Some(reply) = reply_of(i) else {
        keel_rt::halt(97)
    };
    let mut r = ep.recv(Some(reply));
    loop {
        shared(i).counter.fetch_add(1, Ordering::SeqCst);
        r = ep.reply_recv(MessageInfo::new(0, 0, 0, 1), [r.mrs[0] + 1, 0, 0, 0], reply);
    }
}

/// Calls `shared(i).cap` for ever, counting the answers that are right.
extern "C" fn call_forever(i: u64) -> ! {
    let ep: Cap<Endpoint> = cap(shared(i).cap.load(Ordering::SeqCst));
    let mut n = 0;
    loop {
        let r = ep.call(MessageInfo::new(0, 0, 0, 1), [n, 0, 0, 0]);
        if r.mrs[0] == n + 1 {
            shared(i).counter.fetch_add(1, Ordering::SeqCst);
        }
        n += 1;
    }
}

/// Takes one Call on `shared(i).cap`, then waits on the notification
/// `shared(i).value` forever, holding the caller (and its context).
extern "C" fn take_call_and_hold(i: u64) -> ! {
    let ep: Cap<Endpoint> = cap(shared(i).cap.load(Ordering::SeqCst));
    let _ = ep.recv(reply_of(i));
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    let ntfn: Cap<Notification> = cap(shared(i).value.load(Ordering::SeqCst));
    loop {
        ntfn.wait();
    }
}

/// Waits on the notification `shared(i).cap` and counts, forever.
extern "C" fn count_signals(i: u64) -> ! {
    let ntfn: Cap<Notification> = cap(shared(i).cap.load(Ordering::SeqCst));
    loop {
        ntfn.wait();
        shared(i).counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// Calls `shared(i).cap` once with MR0 = 1, counts, and stops.
extern "C" fn call_once(i: u64) -> ! {
    let ep: Cap<Endpoint> = cap(shared(i).cap.load(Ordering::SeqCst));
    let r = ep.call(MessageInfo::new(0, 0, 0, 1), [1, 0, 0, 0]);
    shared(i).value.store(r.mrs[0], Ordering::SeqCst);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    let me: Cap<Tcb> = cap(shared(i).tcb.load(Ordering::SeqCst));
    let _ = me.tcb_suspend();
    keel_rt::halt(98)
}

/// Starts `entry` as thread `i` serving `ep` (`value` as its shared value),
/// runs it into its receive, and makes it passive.
pub(super) fn passive_server(
    env: &Env,
    entry: extern "C" fn(u64) -> !,
    i: u64,
    ep: u64,
    value: u64,
) -> Result<Cap<Tcb>, alloc::string::String> {
    let t = spawn(env, entry, i as usize, i, 255)?;
    shared(i).cap.store(ep, Ordering::SeqCst);
    shared(i).value.store(value, Ordering::SeqCst);
    give_reply(env, i)?;
    step(t.tcb_resume(), "resume the server")?;
    yield_times(1)?;
    let sc: Cap<SchedContext> = cap(shared(i).sc.load(Ordering::SeqCst));
    step(sc.sched_context_unbind(), "make the server passive")?;
    Ok(t)
}

/// A caller on a 10% context that spends all its time in fast-path Calls
/// to a passive server (the kernel switching straight between the two,
/// never reading the clock) still gets 10% of the time, and the server
/// answered every Call.
pub fn fast_calls_keep_to_the_budget(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    passive_server(env, echo, 0, ep, 0)?;
    let client = spawn_passive(env, call_forever, 1, 1, 200)?;
    shared(1).cap.store(ep, Ordering::SeqCst);
    let sc = sched_context(env, 1_000, 10_000)?;
    step(sc.sched_context_bind(client), "bind the client's context")?;
    step(client.tcb_resume(), "resume the client")?;
    set_own_priority(100)?;
    let used = share_out(200_000, &[sc])?;
    step(client.tcb_suspend(), "suspend the client")?;
    let total = used[0] + used[1];
    ensure!(
        near(used[0], total, 100, 15),
        "a 10% caller of a passive server had {} of {total} µs",
        used[0]
    );
    let (answers, served) = (count(1), count(0));
    ensure!(
        answers > 1000 && served.abs_diff(answers) <= 1,
        "{answers} right answers for {served} Calls served"
    );
    Ok(())
}

/// The caller's own context consumed at least the server's work.
fn call_costs_caller(ep: u64, expect: u64) -> TestResult {
    let me = own_sched_context();
    step(me.sched_context_consumed(), "reset")?;
    let r = cap::<Endpoint>(ep).call(MessageInfo::new(0, 0, 0, 1), [5, 0, 0, 0]);
    let used = step(me.sched_context_consumed(), "read")?;
    ensure!(
        r.mrs[0] == expect,
        "the answer was {}, not {expect}",
        r.mrs[0]
    );
    ensure!(
        used >= WORK_NS / 1000 * 9 / 10,
        "the caller's context paid {used} µs for a server's {} µs of work",
        WORK_NS / 1000
    );
    Ok(())
}

pub fn call_lends_context_to_passive_server(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let t = passive_server(env, server, 0, ep, 0)?;
    for fast in [true, false] {
        step(DEBUG.debug_set_fastpath(fast), "fast path setting")?;
        call_costs_caller(ep, 6).map_err(|e| alloc::format!("fast={fast}: {e}"))?;
    }
    step(DEBUG.debug_set_fastpath(true), "fast path back on")?;
    ensure!(count(0) == 2, "the server answered {} calls", count(0));
    // The reply gave the context back: the server has none now.
    let fresh = sched_context(env, TIMESLICE_US, TIMESLICE_US)?;
    step(
        fresh.sched_context_bind(t),
        "bind a context to the passive server",
    )?;
    step(fresh.sched_context_unbind(), "unbind it again")
}

pub fn nested_calls_through_passive_servers(env: &Env) -> TestResult {
    let (outer, inner) = (
        make(env, 12, ObjectType::Endpoint, 0, 1)?,
        make(env, 12, ObjectType::Endpoint, 0, 1)?,
    );
    passive_server(env, server, 1, inner, 0)?;
    passive_server(env, server, 0, outer, inner)?;
    call_costs_caller(outer, 7)?;
    call_costs_caller(outer, 7)?;
    ensure!(
        count(0) == 2 && count(1) == 2,
        "the servers answered {} and {} calls",
        count(0),
        count(1)
    );
    Ok(())
}

pub fn deleting_reply_returns_context(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    passive_server(env, take_call_and_hold, 0, ep, ntfn)?;
    let caller = spawn(env, call_once, 1, 1, 255)?;
    shared(1).cap.store(ep, Ordering::SeqCst);
    let caller_sc: Cap<SchedContext> = cap(shared(1).sc.load(Ordering::SeqCst));
    step(caller.tcb_resume(), "start the caller")?;
    yield_times(2)?;
    ensure!(count(0) == 1, "the passive server did not take the call");
    ensure!(count(1) == 0, "the caller went on without a reply");
    expect_error(
        caller_sc.sched_context_unbind_object(caller),
        Error::IllegalOperation,
        "the lent context is bound to the caller",
    )?;
    let reply = shared(0).reply.load(Ordering::SeqCst);
    step(slot(reply).delete(), "delete the server's Reply object")?;
    // The context is the caller's again, and the caller, never to be
    // answered, is inactive, back on its Call: restarted past it, it goes on.
    step(
        caller_sc.sched_context_unbind_object(caller),
        "unbind the returned context from the caller",
    )?;
    step(caller_sc.sched_context_bind(caller), "bind it again")?;
    yield_times(1)?;
    ensure!(count(1) == 0, "an unanswered caller ran");
    crate::thread::restart_after_syscall(caller)?;
    yield_times(1)?;
    ensure!(
        count(1) == 1,
        "the resumed caller did not run on its context"
    );
    Ok(())
}

pub fn timeout_in_passive_server(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let handler = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let badged = env.slots(1)?;
    step(
        slot(badged).mint(&slot(handler), CapRights::ALL, 9),
        "mint the timeout endpoint",
    )?;
    let server_tcb = passive_server(env, spin_on_call, 0, ep, 0)?;
    step(
        server_tcb.tcb_set_timeout_endpoint(Some(cap(badged))),
        "give the server a timeout endpoint",
    )?;
    let caller = spawn(env, call_once, 1, 1, 200)?;
    shared(1).cap.store(ep, Ordering::SeqCst);
    let caller_sc: Cap<SchedContext> = cap(shared(1).sc.load(Ordering::SeqCst));
    step(
        keel_sys::cap::init_thread::SCHED_CONTROL.sched_control_configure_flags(
            caller_sc,
            1_000,
            10_000,
            0,
            0x5c,
            SchedContextFlags::NONE,
        ),
        "give the caller a 1 ms budget",
    )?;
    step(caller.tcb_resume(), "start the caller")?;
    let r = cap::<Endpoint>(handler).recv(Some(reply_object(env)?));
    ensure!(
        r.info.label() == FaultType::Timeout as u64 && r.badge == 9,
        "expected the server's timeout fault, got label {} badge {}",
        r.info.label(),
        r.badge
    );
    ensure!(
        r.mrs[layout::TIMEOUT_DATA] == 0x5c,
        "the fault names context badge {:#x}, not the caller's",
        r.mrs[layout::TIMEOUT_DATA]
    );
    ensure!(count(0) == 1, "the server did not take the call");
    Ok(())
}

/// Takes one Call on `shared(i).cap` and spins, never answering.
extern "C" fn spin_on_call(i: u64) -> ! {
    let ep: Cap<Endpoint> = cap(shared(i).cap.load(Ordering::SeqCst));
    let _ = ep.recv(reply_of(i));
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    loop {
        shared(i).value.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn signal_lends_notification_context(env: &Env) -> TestResult {
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    let other = make(env, 12, ObjectType::Notification, 0, 1)?;
    let n: Cap<Notification> = cap(ntfn);
    let t = passive_server(env, count_signals, 0, ntfn, 0)?;
    let sc = sched_context(env, TIMESLICE_US, TIMESLICE_US)?;
    step(
        sc.sched_context_bind_notification(n),
        "bind the context to the notification",
    )?;
    expect_error(
        sc.sched_context_bind_notification(cap(other)),
        Error::IllegalOperation,
        "bind a context to a second notification",
    )?;
    for k in 1..=2 {
        n.signal();
        yield_times(1)?;
        ensure!(
            count(0) == k,
            "after {k} signals the thread counted {}",
            count(0)
        );
    }
    // Waiting again gave the context back: it can be bound to the thread.
    step(
        sc.sched_context_bind(t),
        "bind the returned context to the thread",
    )?;
    step(
        sc.sched_context_unbind_object(t),
        "unbind it from the thread",
    )?;
    step(
        sc.sched_context_unbind_notification(n),
        "unbind it from the notification",
    )?;
    n.signal();
    yield_times(1)?;
    ensure!(
        count(0) == 2,
        "a signal without a context to lend woke the thread"
    );
    Ok(())
}

/// Takes Calls on `shared(i).cap`: answers each with MR0 + 1 by a Send on
/// its Reply object (not ReplyRecv), counting, then Waits on the
/// notification in `shared(i).value` before it receives again.
extern "C" fn answer_by_send_then_wait(i: u64) -> ! {
    let ep: Cap<Endpoint> = cap(shared(i).cap.load(Ordering::SeqCst));
    let n: Cap<Notification> = cap(shared(i).value.load(Ordering::SeqCst));
    let Some(reply) = reply_of(i) else {
        keel_rt::halt(97)
    };
    loop {
        let r = ep.recv(Some(reply));
        shared(i).counter.fetch_add(1, Ordering::SeqCst);
        reply.reply(MessageInfo::new(0, 0, 0, 1), [r.mrs[0] + 1, 0, 0, 0]);
        n.wait();
    }
}

/// A passive server that answers a Call with a Send on the Reply object
/// gives the caller's context back with the answer: the caller runs on,
/// and the server stops before its Wait (a signal sent before stays
/// pending) until it is given a context of its own, which it can be, as it
/// holds none; then it goes on to the Wait.
pub fn reply_by_send_returns_context(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let n = make(env, 12, ObjectType::Notification, 0, 1)?;
    let signal = env.slots(1)?;
    step(slot(signal).mint(&slot(n), CapRights::ALL, 1), "mint")?;
    let t = passive_server(env, answer_by_send_then_wait, 0, ep, n)?;
    cap::<Notification>(signal).signal();
    let r = cap::<Endpoint>(ep).call(MessageInfo::new(0, 0, 0, 1), [41, 0, 0, 0]);
    ensure!(r.mrs[0] == 42, "the answer was {}", r.mrs[0]);
    yield_times(2)?;
    ensure!(
        count(0) == 1 && cap::<Notification>(n).poll() == 1,
        "the server went on past its answer without a context"
    );
    cap::<Notification>(signal).signal();
    let fresh = sched_context(env, TIMESLICE_US, TIMESLICE_US)?;
    step(fresh.sched_context_bind(t), "bind the server a context")?;
    yield_times(2)?;
    ensure!(
        cap::<Notification>(n).poll() == 0,
        "the server with a context did not take the signal"
    );
    step(t.tcb_suspend(), "stop the server")
}
