//! IPC0110-0115: messages of every length from 0 to 120 words, the first
//! four in registers and the rest through the IPC buffers: Send + Recv (the
//! sender one below, at and one above the receiver's priority; at equal
//! priority both sender first and receiver first), Call + ReplyRecv (fast
//! and slow path, in one address space and across two), Call answered by a
//! Send on the Reply object, NBSend + Recv, and
//! NBSendRecv exchanges. Every word and the delivered length and label are
//! checked.

use super::ipc::stop_self;
use super::lent_context::{cap, stays_at};
use super::retype::make;
use crate::support::step;
use crate::thread::{count, endpoint_of, reply_of, set_own_priority, shared, spawn, yield_times};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::{MessageInfo, ObjectType};
use keel_sys::cap::{init_thread, Endpoint};
use keel_sys::ipc::Received;
use keel_sys::Cap;

use keel_child::{compose, intact, length_word as word, LONGEST};

/// The first length at which the messages `receive` got went wrong.
fn first_bad(
    mut receive: impl FnMut(u64) -> Result<bool, alloc::string::String>,
) -> Result<Option<u64>, alloc::string::String> {
    for len in 0..=LONGEST {
        if !receive(len)? {
            return Ok(Some(len));
        }
    }
    Ok(None)
}

/// Sends the messages of every length, shortest first, on
/// `shared(i).cap`, counting; then stops.
extern "C" fn send_every_length(i: u64) -> ! {
    let ep = endpoint_of(i);
    for len in 0..=LONGEST {
        let (info, first) = compose(len, 0);
        ep.send(info, first);
        shared(i).counter.fetch_add(1, Ordering::SeqCst);
    }
    stop_self(i)
}

/// seL4 IPC0001: Send + Recv of every length, the sender first and the
/// receiver first, the sender one below, at and one above the receiver's
/// priority.
pub fn send_recv_every_length(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let e: Cap<Endpoint> = cap(ep);
    set_own_priority(200)?;
    for priority in [199, 200, 201] {
        for sender_first in [true, false] {
            let t = spawn(env, send_every_length, 0, 0, priority)?;
            shared(0).cap.store(ep, Ordering::SeqCst);
            step(t.tcb_resume(), "start the sender")?;
            let bad = first_bad(|len| {
                if sender_first {
                    // The sender runs into its Send before the receive.
                    yield_times(1)?;
                }
                Ok(intact(&e.recv(None), len, 0))
            })?;
            ensure!(
                bad.is_none(),
                "sender at {priority}, sender first {sender_first}: length {bad:?} arrived wrong"
            );
            step(t.tcb_suspend(), "stop the sender")?;
        }
    }
    Ok(())
}

/// Checks the Call `r` test thread `i` received (counting it, and in
/// `value` counting it wrong unless whole); returns the answer: the same
/// length, each word as the answer direction's (salt 1).
fn check_call(i: u64, r: &Received) -> (MessageInfo, [u64; 4]) {
    let len = r.info.length() as u64;
    if !intact(r, len, 0) {
        shared(i).value.fetch_add(1, Ordering::SeqCst);
    }
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    compose(len, 1)
}

/// Answers every Call on `shared(i).cap` with ReplyRecv (see [`check_call`]).
extern "C" fn answer_every_length(i: u64) -> ! {
    let ep = endpoint_of(i);
    let Some(reply) = reply_of(i) else {
        stop_self(i)
    };
    let mut r = ep.recv(Some(reply));
    loop {
        let (info, first) = check_call(i, &r);
        r = ep.reply_recv(info, first, reply);
    }
}

/// Answers every Call on `shared(i).cap` with a Send on its Reply object,
/// then receives again (see [`check_call`]).
extern "C" fn answer_by_reply_send(i: u64) -> ! {
    let ep = endpoint_of(i);
    let Some(reply) = reply_of(i) else {
        stop_self(i)
    };
    loop {
        let r = ep.recv(Some(reply));
        let (info, first) = check_call(i, &r);
        reply.reply(info, first);
    }
}

/// Calls of every length, both ways, to `server` (test thread 0) one below,
/// at and one above the caller's priority, on the fast and the slow path.
fn call_sweep(env: &Env, server: extern "C" fn(u64) -> !) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let e: Cap<Endpoint> = cap(ep);
    set_own_priority(200)?;
    for priority in [199, 200, 201] {
        let t = spawn(env, server, 0, 0, priority)?;
        crate::thread::give_reply(env, 0)?;
        shared(0).cap.store(ep, Ordering::SeqCst);
        step(t.tcb_resume(), "start the server")?;
        for fast in [true, false] {
            step(
                init_thread::DEBUG.debug_set_fastpath(fast),
                "fast path setting",
            )?;
            let bad = first_bad(|len| {
                let (info, first) = compose(len, 0);
                Ok(intact(&e.call(info, first), len, 1))
            });
            step(
                init_thread::DEBUG.debug_set_fastpath(true),
                "fast path back on",
            )?;
            let bad = bad?;
            ensure!(
                bad.is_none() && shared(0).value.load(Ordering::SeqCst) == 0,
                "server at {priority}, fast {fast}: answer of length {bad:?} wrong, {} Calls wrong",
                shared(0).value.load(Ordering::SeqCst)
            );
        }
        step(t.tcb_suspend(), "stop the server")?;
        ensure!(
            count(0) == 2 * (LONGEST + 1),
            "the server at {priority} answered {} Calls",
            count(0)
        );
    }
    Ok(())
}

/// seL4 IPC0002: Call + ReplyRecv of every length both ways, on the fast
/// path and the slow path, the server one below, at and one above the
/// caller's priority.
pub fn call_reply_every_length(env: &Env) -> TestResult {
    call_sweep(env, answer_every_length)
}

/// seL4 IPC0003: Call, answered by a Send on the Reply object and a Recv,
/// of every length both ways, the server one below, at and one above the
/// caller's priority (fast path setting on and off).
pub fn call_reply_send_every_length(env: &Env) -> TestResult {
    call_sweep(env, answer_by_reply_send)
}

/// Receives on `shared(i).cap` for ever, counting the messages and, in
/// `value`, those that were not whole.
extern "C" fn check_every_message(i: u64) -> ! {
    let ep = endpoint_of(i);
    loop {
        let r = ep.recv(None);
        if !intact(&r, r.info.length() as u64, 0) {
            shared(i).value.fetch_add(1, Ordering::SeqCst);
        }
        shared(i).counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// seL4 IPC0004: NBSend of every length reaches a waiting receiver whole;
/// with no receiver waiting it is dropped.
pub fn nb_send_every_length(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let e: Cap<Endpoint> = cap(ep);
    let t = spawn(env, check_every_message, 0, 0, 255)?;
    shared(0).cap.store(ep, Ordering::SeqCst);
    let (info, first) = compose(LONGEST, 0);
    e.nb_send(info, first);
    step(t.tcb_resume(), "start the receiver")?;
    stays_at(0, 0, 1, "a receiver started after an NBSend")?;
    for len in 0..=LONGEST {
        let (info, first) = compose(len, 0);
        e.nb_send(info, first);
        // The receiver has its message and has not run: nobody waits.
        e.nb_send(info, first);
        stays_at(0, len + 1, 1, "the receiver")?;
    }
    let wrong = shared(0).value.load(Ordering::SeqCst);
    ensure!(wrong == 0, "{wrong} messages arrived wrong");
    Ok(())
}

/// seL4 IPC1002: Call + ReplyRecv of every length to a server in another
/// address space (a `child` process in echo mode: it answers with the
/// label and length it got, the badge in word 0, words 1-3 as sent and
/// each word past the fourth plus one), on the fast path and the slow path.
pub fn call_reply_every_length_across_address_spaces(env: &Env) -> TestResult {
    let ep = super::process::echo_child(env)?;
    let badged = super::ipc::mint(env, ep, 0x1002, keel_abi::CapRights::ALL)?;
    let answered = |len: u64| {
        let (info, first) = compose(len, 0);
        let r = badged.call(info, first);
        let head = (1..len.min(4)).all(|i| r.mrs[i as usize] == word(len, i, 0));
        let tail = (4..len)
            .all(|i| keel_sys::ipc::mr(i as usize).ok() == Some(word(len, i, 0).wrapping_add(1)));
        let badge = len == 0 || r.mrs[0] == 0x1002;
        Ok(r.info.length() as u64 == len && r.info.label() == len && head && tail && badge)
    };
    let mut result = Ok(());
    for fast in [true, false] {
        step(
            init_thread::DEBUG.debug_set_fastpath(fast),
            "fast path setting",
        )?;
        match first_bad(answered) {
            Ok(None) => {}
            Ok(Some(len)) => {
                result = Err(alloc::format!("fast={fast}: length {len} came back wrong"))
            }
            Err(e) => result = Err(e),
        }
        if result.is_err() {
            break;
        }
    }
    step(
        init_thread::DEBUG.debug_set_fastpath(true),
        "fast path back on",
    )?;
    result
}

/// Receives on `shared(i).cap` and answers each message with NBSendRecv
/// on the endpoint `shared(i).value` (the answer direction's words, same
/// length), receiving on `shared(i).cap` again; counts, and adds the
/// messages that were not whole to the count in `reply`.
extern "C" fn ping_pong(i: u64) -> ! {
    let ep = endpoint_of(i);
    let back: Cap<Endpoint> = cap(shared(i).value.load(Ordering::SeqCst));
    let mut r = ep.recv(None);
    loop {
        let len = r.info.length() as u64;
        if !intact(&r, len, 0) {
            shared(i).reply.fetch_add(1, Ordering::SeqCst);
        }
        shared(i).counter.fetch_add(1, Ordering::SeqCst);
        let (info, first) = compose(len, 1);
        r = back.nb_send_recv(info, first, ep, None);
    }
}

/// seL4 IPC0025: two threads exchange messages of every length with
/// NBSendRecv, the other thread one below, at and one above the root
/// task's priority.
pub fn nb_send_recv_every_length(env: &Env) -> TestResult {
    let (there, back) = (
        make(env, 12, ObjectType::Endpoint, 0, 1)?,
        make(env, 12, ObjectType::Endpoint, 0, 1)?,
    );
    let (to, from): (Cap<Endpoint>, Cap<Endpoint>) = (cap(there), cap(back));
    set_own_priority(200)?;
    for priority in [199, 200, 201] {
        let t = spawn(env, ping_pong, 0, 0, priority)?;
        shared(0).cap.store(there, Ordering::SeqCst);
        shared(0).value.store(back, Ordering::SeqCst);
        step(t.tcb_resume(), "start the other thread")?;
        // It waits in its first receive before the exchange starts.
        set_own_priority(100)?;
        set_own_priority(200)?;
        let bad = first_bad(|len| {
            let (info, first) = compose(len, 0);
            Ok(intact(&to.nb_send_recv(info, first, from, None), len, 1))
        })?;
        step(t.tcb_suspend(), "stop the other thread")?;
        let wrong = shared(0).reply.load(Ordering::SeqCst);
        ensure!(
            bad.is_none() && wrong == 0 && count(0) == LONGEST + 1,
            "other thread at {priority}: answer of length {bad:?} wrong, {wrong} messages \
             wrong, {} received",
            count(0)
        );
    }
    Ok(())
}
