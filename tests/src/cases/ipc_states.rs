//! THREADS0100-0106: suspending, resuming and deleting a thread in each
//! state it can be in with IPC: blocked on a send, on a receive, on a
//! reply and on a notification, and running on a context lent through
//! NBSendWait. The thread leaves the queue it was in (the next message
//! goes to another thread), the object it was blocked on works on
//! afterwards, and a context it held can be bound again.
//!
//! Test threads run at the root task's priority (255) unless a test says
//! otherwise, so each runs into its wait when the root task yields.

use super::donation::passive_server;
use super::ipc::{call_and_count, stop_self};
use super::lent_context::{cap, context_of, send_word, start_on, stays_at, word_of};
use super::retype::make;
use crate::support::{expect_error, reply_object, slot, step};
use crate::thread::{count, endpoint_of, give_reply, shared, spawn, yield_times};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::{Error, MessageInfo, ObjectType};
use keel_sys::cap::{init_thread, Endpoint, Notification, Tcb};
use keel_sys::Cap;

/// Starts test thread `i` running `entry` on `object` (see [`start_on`])
/// and lets it run into its wait, or past it when it need not wait.
fn blocked(
    env: &Env,
    entry: extern "C" fn(u64) -> !,
    i: u64,
    object: u64,
) -> Result<Cap<Tcb>, alloc::string::String> {
    let t = start_on(env, entry, i, object)?;
    yield_times(1)?;
    Ok(t)
}

/// Deletes the TCB of test thread `i`.
fn delete_thread(i: u64) -> TestResult {
    step(
        slot(shared(i).tcb.load(Ordering::SeqCst)).delete(),
        "delete a thread",
    )
}

/// Waits once on the notification `shared(i).cap`, records the word in
/// `value`, counts and stops.
extern "C" fn wait_once(i: u64) -> ! {
    let word = cap::<Notification>(shared(i).cap.load(Ordering::SeqCst)).wait();
    shared(i).value.store(word, Ordering::SeqCst);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    stop_self(i)
}

/// seL4 IPC0010: a caller suspended while it waits for its reply is no
/// longer answered through the Reply object; resumed, it makes its Call
/// again; suspended again and deleted, it leaves the endpoint and the Reply
/// object to serve the next caller.
pub fn caller_suspended_mid_call(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let e: Cap<Endpoint> = cap(ep);
    let reply = reply_object(env)?;
    let caller = blocked(env, call_and_count, 0, ep)?;
    let r = e.recv(Some(reply));
    ensure!(r.mrs[0] == 41, "the Call carried {r:?}");
    step(caller.tcb_suspend(), "suspend the caller")?;
    reply.reply(MessageInfo::new(0, 0, 0, 1), [99, 0, 0, 0]);
    stays_at(0, 0, 2, "a suspended caller replied to")?;
    ensure!(
        shared(0).value.load(Ordering::SeqCst) != 99,
        "the reply reached the suspended caller"
    );
    // Resumed, it is back on its Call and makes it again (seL4's restart).
    step(caller.tcb_resume(), "resume the caller")?;
    yield_times(1)?;
    let r = e.nb_recv(Some(reply));
    ensure!(
        r.info.length() == 1 && r.mrs[0] == 41,
        "the resumed caller made no Call again: {r:?}"
    );
    step(caller.tcb_suspend(), "suspend it again")?;
    delete_thread(0)?;
    let next = blocked(env, call_and_count, 1, ep)?;
    let r = e.recv(Some(reply));
    ensure!(r.mrs[0] == 41, "the next Call carried {r:?}");
    reply.reply(MessageInfo::new(0, 0, 0, 1), [42, 0, 0, 0]);
    stays_at(1, 1, 1, "the next caller, answered")?;
    ensure!(
        shared(1).value.load(Ordering::SeqCst) == 42,
        "the next caller got {}",
        shared(1).value.load(Ordering::SeqCst)
    );
    step(next.tcb_suspend(), "stop the next caller")
}

/// seL4's TCB_Resume restarts a thread waiting for a reply as it does an
/// inactive one: the caller leaves the Reply object its Call waits on and
/// makes the Call again; an answer through that Reply object no longer
/// reaches it, the answer to the new Call does.
pub fn caller_resumed_mid_call(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let e: Cap<Endpoint> = cap(ep);
    let first = reply_object(env)?;
    let caller = blocked(env, call_and_count, 0, ep)?;
    let r = e.recv(Some(first));
    ensure!(r.mrs[0] == 41, "the Call carried {r:?}");
    step(
        caller.tcb_resume(),
        "resume the caller waiting for its reply",
    )?;
    yield_times(1)?;
    let second = reply_object(env)?;
    let r = e.nb_recv(Some(second));
    ensure!(
        r.info.length() == 1 && r.mrs[0] == 41,
        "the resumed caller made no Call again: {r:?}"
    );
    first.reply(MessageInfo::new(0, 0, 0, 1), [99, 0, 0, 0]);
    stays_at(0, 0, 2, "answered through the Reply object it left")?;
    second.reply(MessageInfo::new(0, 0, 0, 1), [42, 0, 0, 0]);
    stays_at(0, 1, 1, "answered its new Call")?;
    ensure!(
        shared(0).value.load(Ordering::SeqCst) == 42,
        "the caller got {}",
        shared(0).value.load(Ordering::SeqCst)
    );
    Ok(())
}

/// seL4 SCHED0009: a server suspended while it waits in the endpoint's
/// queue leaves it; the next Calls go to the other server (fast and slow
/// path); deleted, it is gone from the queue for good.
pub fn receiver_suspended_in_queue(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let e: Cap<Endpoint> = cap(ep);
    // Thread 0 is ahead: by priority, and first in.
    let first = spawn(env, super::ipc::echo_server, 0, 0, 200)?;
    let second = spawn(env, super::ipc::echo_server, 1, 1, 100)?;
    for i in [0, 1] {
        give_reply(env, i)?;
    }
    crate::thread::set_own_priority(50)?;
    for (i, t) in [(0, first), (1, second)] {
        shared(i).cap.store(ep, Ordering::SeqCst);
        step(t.tcb_resume(), "start a server")?;
    }
    crate::thread::set_own_priority(255)?;
    let call = |n: u64| e.call(MessageInfo::new(1, 0, 0, 1), [n, 0, 0, 0]);
    ensure!(
        call(1).mrs[0] == 2 && count(0) == 1,
        "the first server did not answer first"
    );
    step(first.tcb_suspend(), "suspend the first server")?;
    for (k, fast) in [(1, true), (2, false)] {
        step(
            init_thread::DEBUG.debug_set_fastpath(fast),
            "fast path setting",
        )?;
        let r = call(10);
        ensure!(
            r.mrs[0] == 11 && count(1) == k && count(0) == 1,
            "fast={fast}: answer {r:?}, the servers answered {} and {}",
            count(0),
            count(1)
        );
    }
    step(
        init_thread::DEBUG.debug_set_fastpath(true),
        "fast path back on",
    )?;
    delete_thread(0)?;
    ensure!(
        call(20).mrs[0] == 21 && count(1) == 3,
        "the second server stopped answering"
    );
    step(second.tcb_suspend(), "stop the second server")
}

/// A sender suspended in the endpoint's queue leaves it: a receive takes
/// the next sender's message; resumed, it sends again, behind the others;
/// deleted, its message never arrives.
pub fn sender_suspended_in_queue(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let e: Cap<Endpoint> = cap(ep);
    let first = blocked(env, send_word, 0, ep)?;
    blocked(env, send_word, 1, ep)?;
    step(first.tcb_suspend(), "suspend the first sender")?;
    let r = e.recv(None);
    ensure!(
        r.mrs[0] == word_of(1),
        "a receive took {r:?}, not the second sender's"
    );
    stays_at(1, 1, 1, "the second sender, received")?;
    stays_at(0, 0, 1, "the suspended sender")?;
    step(first.tcb_resume(), "resume the first sender")?;
    let third = blocked(env, send_word, 2, ep)?;
    for (i, what) in [(0, "the resumed sender's"), (2, "the third sender's")] {
        let r = e.recv(None);
        ensure!(
            r.mrs[0] == word_of(i),
            "a receive took {r:?}, not {what} message"
        );
    }
    stays_at(0, 1, 1, "the resumed sender, received")?;
    step(third.tcb_suspend(), "stop the third sender")?;
    blocked(env, send_word, 0, ep)?;
    step(first.tcb_suspend(), "suspend a new first sender")?;
    delete_thread(0)?;
    let r = e.nb_recv(None);
    ensure!(r.info.length() == 0, "a deleted sender's message: {r:?}");
    Ok(())
}

/// A waiter suspended on a notification leaves it: a signal stays pending
/// and goes to the next waiter; deleted, the notification serves others.
pub fn waiter_suspended_on_notification(env: &Env) -> TestResult {
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    let n: Cap<Notification> = cap(ntfn);
    let badged = env.slots(1)?;
    step(
        slot(badged).mint(&slot(ntfn), keel_abi::CapRights::ALL, 0x30),
        "mint a badged notification cap",
    )?;
    let waiter = blocked(env, wait_once, 0, ntfn)?;
    step(waiter.tcb_suspend(), "suspend the waiter")?;
    cap::<Notification>(badged).signal();
    stays_at(0, 0, 2, "a suspended waiter, signalled")?;
    blocked(env, wait_once, 1, ntfn)?;
    ensure!(
        count(1) == 1 && shared(1).value.load(Ordering::SeqCst) == 0x30,
        "the pending signal did not go to the next waiter"
    );
    delete_thread(0)?;
    blocked(env, wait_once, 2, ntfn)?;
    cap::<Notification>(badged).signal();
    stays_at(2, 1, 1, "a waiter after the deleted one")?;
    ensure!(n.poll() == 0, "the signal stayed pending");
    Ok(())
}

/// Waits with NBSendWait on `shared(i).cap` for one message, counts, then
/// sends MR0 + 1 on the endpoint `shared(i).value` with NBSendWait, waiting
/// on its own endpoint again; counts when that is answered and stops.
extern "C" fn forward_by_nb_send_wait(i: u64) -> ! {
    let ep = endpoint_of(i);
    let r = ep.wait();
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    let next: Cap<Endpoint> = cap(shared(i).value.load(Ordering::SeqCst));
    let _ = next.nb_send_wait(MessageInfo::new(0, 0, 0, 1), [r.mrs[0] + 1, 0, 0, 0], ep);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    stop_self(i)
}

/// Takes one message on `shared(i).cap` without a Reply object, counts,
/// records MR0 in `value` and waits on the notification `value` named
/// before for ever, holding the context it was lent.
extern "C" fn take_and_hold(i: u64) -> ! {
    let hold: Cap<Notification> = cap(shared(i).value.load(Ordering::SeqCst));
    let r = endpoint_of(i).wait();
    shared(i).value.store(r.mrs[0], Ordering::SeqCst);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    loop {
        hold.wait();
    }
}

/// NBSendWait on `shared(i).cap` with MR0 = 1, waiting on the endpoint
/// `shared(i).value`; records MR0 of what wakes it in `value`, counts and
/// stops.
extern "C" fn nb_send_wait_elsewhere(i: u64) -> ! {
    let wait_on: Cap<Endpoint> = cap(shared(i).value.load(Ordering::SeqCst));
    let r = endpoint_of(i).nb_send_wait(MessageInfo::new(0, 0, 0, 1), [1, 0, 0, 0], wait_on);
    shared(i).value.store(r.mrs[0], Ordering::SeqCst);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    stop_self(i)
}

/// seL4 SCHED_CONTEXT_0008: a client's context lent down a chain by
/// NBSendWait (client -> proxy -> server), the server holding it, is free
/// once the server is deleted: bound to the client again, the client runs
/// when its wait is answered.
pub fn server_deleted_holding_lent_context(env: &Env) -> TestResult {
    let (to_proxy, to_server, client_wait, hold) = (
        make(env, 12, ObjectType::Endpoint, 0, 1)?,
        make(env, 12, ObjectType::Endpoint, 0, 1)?,
        make(env, 12, ObjectType::Endpoint, 0, 1)?,
        make(env, 12, ObjectType::Notification, 0, 1)?,
    );
    passive_server(env, take_and_hold, 2, to_server, hold)?;
    passive_server(env, forward_by_nb_send_wait, 1, to_proxy, to_server)?;
    let client = spawn(env, nb_send_wait_elsewhere, 0, 0, 255)?;
    shared(0).cap.store(to_proxy, Ordering::SeqCst);
    shared(0).value.store(client_wait, Ordering::SeqCst);
    step(client.tcb_resume(), "start the client")?;
    yield_times(3)?;
    ensure!(
        count(1) == 1 && count(2) == 1 && shared(2).value.load(Ordering::SeqCst) == 2,
        "the message did not reach the server through the proxy ({} {})",
        count(1),
        count(2)
    );
    let sc = context_of(0);
    expect_error(
        sc.sched_context_bind(client),
        Error::IllegalOperation,
        "bind the context the server holds",
    )?;
    delete_thread(2)?;
    step(
        sc.sched_context_bind(client),
        "bind the freed context to the client",
    )?;
    stays_at(0, 0, 1, "the client still waiting")?;
    cap::<Endpoint>(client_wait).send(MessageInfo::new(0, 0, 0, 1), [5, 0, 0, 0]);
    stays_at(0, 1, 1, "the client, answered")?;
    ensure!(
        shared(0).value.load(Ordering::SeqCst) == 5,
        "the client got {}",
        shared(0).value.load(Ordering::SeqCst)
    );
    Ok(())
}

/// A caller whose Call can never be answered (taken by a Wait without a
/// Reply object, or made through a cap without grant or grant-reply) is
/// left inactive; resumed, it makes the Call again, as seL4 restarts it.
pub fn unanswerable_caller_calls_again(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let e: Cap<Endpoint> = cap(ep);
    let reply = reply_object(env)?;
    let write_only = super::ipc::mint(env, ep, 0x105, keel_abi::CapRights::WRITE)?;
    for (i, through, wait) in [(0, ep, true), (1, write_only.cptr().bits(), false)] {
        let caller = blocked(env, call_and_count, i, through)?;
        let r = if wait { e.wait() } else { e.recv(Some(reply)) };
        ensure!(r.mrs[0] == 41, "wait={wait}: the Call carried {r:?}");
        stays_at(i, 0, 2, "a caller that cannot be answered")?;
        step(caller.tcb_resume(), "resume the caller")?;
        yield_times(1)?;
        let again = e.nb_recv(Some(reply));
        ensure!(
            again.info.length() == 1 && again.mrs[0] == 41,
            "wait={wait}: the resumed caller made no Call again: {again:?}"
        );
        step(caller.tcb_suspend(), "stop the caller")?;
    }
    Ok(())
}
