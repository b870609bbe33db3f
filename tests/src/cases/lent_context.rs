//! SCHED_CONTEXT0100-0105: scheduling contexts deleted or unbound while
//! their thread is blocked in IPC, or while they are lent to a passive
//! server: the message still moves, the thread it belongs to does not run
//! without a context, and a context bound later lets it finish.
//!
//! Everything runs at the root task's priority (255), so a thread runs when
//! the root task yields and a spinning one is stopped by its timeslice; a
//! thread that has no context never runs, however often the root task
//! yields.

use super::donation::passive_server;
use super::ipc::{call_and_count, receive_once, stop_self};
use super::retype::make;
use crate::support::{expect_error, slot, step};
use crate::thread::{
    count, endpoint_of, reply_of, restart_after_syscall, sched_context, shared, spawn, yield_times,
    TIMESLICE_US,
};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::{Error, MessageInfo, ObjectType};
use keel_sys::cap::{Endpoint, Notification, SchedContext, Tcb};
use keel_sys::{CPtr, Cap};

pub(super) fn cap<T: keel_sys::cap::CapKind>(bits: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(bits))
}

/// The word test thread `i` sends.
pub(super) fn word_of(i: u64) -> u64 {
    0x5e0d_0000 + i
}

/// Sends [`word_of`] `i` on `shared(i).cap` (two words long), counts, stops.
pub(super) extern "C" fn send_word(i: u64) -> ! {
    endpoint_of(i).send(MessageInfo::new(3, 0, 0, 2), [word_of(i), 7, 0, 0]);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    stop_self(i)
}

/// Takes one message on `shared(i).cap` with its Reply object, counts,
/// then spins for ever, adding to `value`.
pub(super) extern "C" fn take_and_spin(i: u64) -> ! {
    let _ = endpoint_of(i).recv(reply_of(i));
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    loop {
        shared(i).value.fetch_add(1, Ordering::SeqCst);
    }
}

/// Takes one Call on `shared(i).cap`, counts, waits on the notification
/// `shared(i).value`, then answers MR0 + 1 through its Reply object,
/// counts again and stops.
extern "C" fn take_wait_answer(i: u64) -> ! {
    let r = endpoint_of(i).recv(reply_of(i));
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    cap::<Notification>(shared(i).value.load(Ordering::SeqCst)).wait();
    if let Some(reply) = reply_of(i) {
        reply.reply(MessageInfo::new(0, 0, 0, 1), [r.mrs[0] + 1, 0, 0, 0]);
    }
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    stop_self(i)
}

/// NBSendWait on `shared(i).cap`, waiting on that endpoint; counts once it
/// is answered, then stops.
extern "C" fn nb_send_wait_and_count(i: u64) -> ! {
    let ep = endpoint_of(i);
    let r = ep.nb_send_wait(MessageInfo::new(0, 0, 0, 1), [9, 0, 0, 0], ep);
    shared(i).value.store(r.mrs[0], Ordering::SeqCst);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    stop_self(i)
}

/// Test thread `i`'s own scheduling context.
pub(super) fn context_of(i: u64) -> Cap<SchedContext> {
    cap(shared(i).sc.load(Ordering::SeqCst))
}

/// Test thread `i`, which must not run, has not counted past `n` after the
/// root task yields `yields` times.
pub(super) fn stays_at(i: u64, n: u64, yields: usize, what: &str) -> TestResult {
    yield_times(yields)?;
    ensure!(count(i) == n, "{what}: thread {i} counted {}", count(i));
    Ok(())
}

/// Starts `entry` as test thread `i` at priority 255, with `object` in its
/// shared `cap`.
pub(super) fn start_on(
    env: &Env,
    entry: extern "C" fn(u64) -> !,
    i: u64,
    object: u64,
) -> Result<Cap<Tcb>, alloc::string::String> {
    let t = spawn(env, entry, i as usize, i, 255)?;
    shared(i).cap.store(object, Ordering::SeqCst);
    step(t.tcb_resume(), "start a test thread")?;
    Ok(t)
}

/// As [`start_on`], then checks the thread blocked before counting.
pub(super) fn start_blocked(
    env: &Env,
    entry: extern "C" fn(u64) -> !,
    i: u64,
    object: u64,
) -> Result<Cap<Tcb>, alloc::string::String> {
    let t = start_on(env, entry, i, object)?;
    stays_at(i, 0, 1, "a thread starting its wait")?;
    Ok(t)
}

/// `spinner` (a test thread adding to its `value`) does not run while the
/// root task yields.
pub(super) fn stopped(spinner: u64, what: &str) -> TestResult {
    let before = shared(spinner).value.load(Ordering::SeqCst);
    yield_times(3)?;
    let after = shared(spinner).value.load(Ordering::SeqCst);
    ensure!(before == after, "{what}: it went on ({before} -> {after})");
    Ok(())
}

/// `spinner` runs while the root task yields (a thread woken by IPC may
/// queue behind the root task, so it yields more than once).
pub(super) fn spinning(spinner: u64, what: &str) -> TestResult {
    let before = shared(spinner).value.load(Ordering::SeqCst);
    yield_times(3)?;
    let after = shared(spinner).value.load(Ordering::SeqCst);
    ensure!(after > before, "{what}: it did not run");
    Ok(())
}

/// A fresh round-robin context bound to `tcb`.
pub(super) fn bind_fresh(
    env: &Env,
    tcb: Cap<Tcb>,
) -> Result<Cap<SchedContext>, alloc::string::String> {
    let sc = sched_context(env, TIMESLICE_US, TIMESLICE_US)?;
    step(sc.sched_context_bind(tcb), "bind a fresh context")?;
    Ok(sc)
}

/// seL4 IPC0019: a thread blocked in Send whose context is deleted still
/// has its message received, and does not run until it has a context again.
pub fn deleted_under_sender(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let t = start_blocked(env, send_word, 0, ep)?;
    step(
        slot(context_of(0).cptr().bits()).delete(),
        "delete the sender's context",
    )?;
    let r = cap::<Endpoint>(ep).recv(None);
    ensure!(
        r.mrs[..2] == [word_of(0), 7] && r.info.label() == 3 && r.info.length() == 2,
        "the sender's message arrived as {r:?}"
    );
    stays_at(0, 0, 3, "a sender without a context, its message taken")?;
    bind_fresh(env, t)?;
    stays_at(0, 1, 1, "the sender given a new context")
}

/// seL4 IPC0020: a thread blocked in Recv whose context is deleted gets a
/// Send's message but does not run; a new context runs it, with the message.
pub fn deleted_under_receiver(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let t = start_blocked(env, receive_once, 0, ep)?;
    step(
        slot(context_of(0).cptr().bits()).delete(),
        "delete the receiver's context",
    )?;
    cap::<Endpoint>(ep).send(MessageInfo::new(0, 0, 0, 1), [0x77, 0, 0, 0]);
    stays_at(0, 0, 3, "a receiver without a context, sent to")?;
    // The endpoint is idle again: the message went to the receiver.
    let r = cap::<Endpoint>(ep).nb_recv(None);
    ensure!(
        r.badge == 0 && r.info.length() == 0,
        "the Send stayed queued: {r:?}"
    );
    bind_fresh(env, t)?;
    stays_at(0, 1, 1, "the receiver given a new context")?;
    let got = shared(0).value.load(Ordering::SeqCst);
    ensure!(
        got & 0xffff_ffff == 0x77 && got >> 56 == 1,
        "the receiver got {got:#x}, not the one-word message 0x77"
    );
    Ok(())
}

/// seL4 SCHED_CONTEXT_0009: deleting the Reply object of a passive server
/// running on a caller's lent context stops the server at once and gives
/// the context back to the caller, which a restart then runs.
pub fn reply_deleted_under_running_server(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let server = passive_server(env, take_and_spin, 0, ep, 0)?;
    let client = start_on(env, call_and_count, 1, ep)?;
    spinning(0, "the server on the client's context")?;
    ensure!(count(0) == 1, "the server did not take the Call");
    let reply = shared(0).reply.load(Ordering::SeqCst);
    step(slot(reply).delete(), "delete the server's Reply object")?;
    stopped(0, "the server after its Reply object went")?;
    expect_error(
        context_of(1).sched_context_unbind_object(server),
        Error::IllegalOperation,
        "the context left the server",
    )?;
    step(
        context_of(1).sched_context_unbind_object(client),
        "the context is the client's again: unbind it",
    )?;
    step(context_of(1).sched_context_bind(client), "bind it again")?;
    stays_at(1, 0, 2, "the client, unanswered")?;
    restart_after_syscall(client)?;
    stays_at(1, 1, 1, "the client on its returned context")
}

/// seL4 SCHED_CONTEXT_0010: UnbindObject of a context an NBSendWait lent to
/// a passive server stops the server; bound to its client again, the
/// client runs.
pub fn donated_context_unbound_from_server(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let server = passive_server(env, take_and_spin, 0, ep, 0)?;
    let client = spawn(env, nb_send_wait_and_count, 1, 1, 255)?;
    shared(1).cap.store(ep, Ordering::SeqCst);
    step(client.tcb_resume(), "start the client")?;
    spinning(0, "the server on the lent context")?;
    let sc = context_of(1);
    expect_error(
        sc.sched_context_bind(client),
        Error::IllegalOperation,
        "bind the lent context while the server holds it",
    )?;
    step(
        sc.sched_context_unbind_object(server),
        "unbind it from the server",
    )?;
    stopped(0, "the server without the context")?;
    step(sc.sched_context_bind(client), "bind it to the client again")?;
    stays_at(1, 0, 1, "the client still waiting in its receive")?;
    step(client.tcb_suspend(), "stop the client's receive")?;
    restart_after_syscall(client)?;
    stays_at(1, 1, 1, "the client on its context")
}

/// A passive server (thread 0, [`take_wait_answer`]) that took a Call from
/// client thread 1 and now waits on its notification before answering:
/// the server, the client and the notification.
fn server_holding_a_call(env: &Env) -> Result<(Cap<Tcb>, Cap<Tcb>, u64), alloc::string::String> {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    let server = passive_server(env, take_wait_answer, 0, ep, ntfn)?;
    let client = start_on(env, call_and_count, 1, ep)?;
    stays_at(0, 1, 3, "the server taking the Call")?;
    Ok((server, client, ntfn))
}

/// seL4 IPC0023: the caller's context is deleted while a passive server
/// holds it; the server, given a context of its own, answers, and the
/// answer does not run the caller until it has a context again.
pub fn caller_context_deleted_while_lent(env: &Env) -> TestResult {
    let (server, client, ntfn) = server_holding_a_call(env)?;
    step(
        slot(context_of(1).cptr().bits()).delete(),
        "delete the lent context",
    )?;
    cap::<Notification>(ntfn).signal();
    stays_at(0, 1, 2, "the server without a context, signalled")?;
    bind_fresh(env, server)?;
    stays_at(0, 2, 3, "the server given a context")?;
    stays_at(1, 0, 3, "the answered caller without a context")?;
    bind_fresh(env, client)?;
    stays_at(1, 1, 1, "the caller given a context")?;
    let got = shared(1).value.load(Ordering::SeqCst);
    ensure!(got == 42, "the caller got {got}, not the answer 42");
    Ok(())
}

/// seL4 IPC0024: the Reply object goes first (the context comes back to
/// the caller, which stops), then the caller's context: restarted, the
/// caller never runs, until it has a context again.
pub fn reply_then_context_deleted(env: &Env) -> TestResult {
    let (server, client, _) = server_holding_a_call(env)?;
    let reply = shared(0).reply.load(Ordering::SeqCst);
    step(slot(reply).delete(), "delete the server's Reply object")?;
    let sc = context_of(1);
    expect_error(
        sc.sched_context_unbind_object(server),
        Error::IllegalOperation,
        "the context left the server",
    )?;
    step(
        slot(sc.cptr().bits()).delete(),
        "delete the returned context",
    )?;
    restart_after_syscall(client)?;
    stays_at(1, 0, 3, "the restarted client without a context")?;
    bind_fresh(env, client)?;
    stays_at(1, 1, 1, "the client given a context")
}
