//! IPC0400-0404: Calls through chains of passive servers, as sel4test's
//! IPC0011-0015 and IPC0027 make them. A client Calls the first of five
//! passive proxies, each of which Calls the next, the last a passive
//! server: all six run on the client's scheduling context, at their own
//! priorities (the client's, above it or below it), on the slow path or
//! the fast path, for ten rounds. And a Call to a passive server below the
//! client's priority runs it on the client's context whether the client
//! was started before or after the server went passive.
//!
//! Servers go passive as sel4test's do: each starts on a context of its
//! own, tells the root task it is ready with the send half of an
//! NBSendRecv whose receive half it then waits in, and the root task
//! unbinds its context.

use super::retype::make;
use crate::crowd::{seat, stop, Crowd};
use crate::support::step;
use crate::thread::{set_own_priority, TIMESLICE_US};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::{AtomicU64, Ordering};
use keel_abi::{MessageInfo, ObjectType};
use keel_sys::cap::{init_thread::DEBUG, Endpoint, SchedContext};
use keel_sys::{CPtr, Cap};

fn cap<T: keel_sys::cap::CapKind>(bits: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(bits))
}

/// Rounds of a chain test.
const RUNS: u64 = 10;
/// What a client asks, and every server answers.
const ASK: u64 = 12_345_678;
const ANSWER: u64 = 0xdead_beef;
/// Proxies between the client and the server.
const PROXIES: u64 = 5;
/// The client's priority.
const CLIENT: u64 = 10;

fn one_word(w: u64) -> (MessageInfo, [u64; 4]) {
    (MessageInfo::new(0, 0, 0, 1), [w, 0, 0, 0])
}

/// Counts the start of crowd thread `i`, tells the root task it is ready
/// on `seat(i).next` and takes its first Call on `seat(i).ep`: that Call
/// and the Reply object it waits on (a thread without one stops).
fn announce(i: u64) -> (keel_sys::ipc::Received, keel_sys::Cap<keel_sys::cap::Reply>) {
    let s = seat(i);
    let reply = s.reply_object();
    s.counter.fetch_add(1, Ordering::SeqCst);
    let r =
        s.next_endpoint()
            .nb_send_recv(MessageInfo::new(0, 0, 0, 0), [0; 4], s.endpoint(), reply);
    let Some(reply) = reply else { stop(i) };
    (r, reply)
}

/// A passive server on `seat(i).ep`: tells the root task it is ready on
/// `seat(i).next`, then answers every Call of [`ASK`] with [`ANSWER`],
/// counting its start and each Call.
extern "C" fn server(i: u64) -> ! {
    let s = seat(i);
    let (mut r, reply) = announce(i);
    loop {
        s.check(r.mrs[0] == ASK);
        s.counter.fetch_add(1, Ordering::SeqCst);
        let (info, mrs) = one_word(ANSWER);
        r = s.endpoint().reply_recv(info, mrs, reply);
    }
}

/// A passive proxy on `seat(i).ep`: tells the root task it is ready on
/// `seat(i).next`, then passes each Call of [`ASK`] on to `seat(i).next`
/// and answers [`ANSWER`] once that answers it, counting its start and
/// each Call.
extern "C" fn proxy(i: u64) -> ! {
    let s = seat(i);
    let (mut r, reply) = announce(i);
    loop {
        s.check(r.mrs[0] == ASK);
        let (info, mrs) = one_word(ASK);
        let inner = s.next_endpoint().call(info, mrs);
        s.check(inner.mrs[0] == ANSWER);
        s.counter.fetch_add(1, Ordering::SeqCst);
        let (info, mrs) = one_word(ANSWER);
        r = s.endpoint().reply_recv(info, mrs, reply);
    }
}

/// How many Calls a [`client`] makes.
static CALLS: AtomicU64 = AtomicU64::new(0);

/// Calls `seat(i).ep` with [`ASK`] [`CALLS`] times, counting each right
/// answer, then tells the root task on `seat(i).next` and stops.
extern "C" fn client(i: u64) -> ! {
    let s = seat(i);
    for _ in 0..CALLS.load(Ordering::SeqCst) {
        let (info, mrs) = one_word(ASK);
        let a = s.endpoint().call(info, mrs);
        s.check(a.mrs[0] == ANSWER);
        s.counter.fetch_add(1, Ordering::SeqCst);
    }
    s.next_endpoint().send(MessageInfo::new(0, 0, 0, 0), [0; 4]);
    stop(i)
}

/// Starts crowd thread `i` running `entry` (a [`server`] or [`proxy`]) on
/// `sc` at `priority`, receiving on `ep` with `reply` and telling on
/// `next`; waits for it to say it is ready, then makes it passive.
fn start_passive(
    crowd: &Crowd,
    i: u64,
    entry: extern "C" fn(u64) -> !,
    sc: Cap<SchedContext>,
    priority: u64,
    [ep, next, reply]: [u64; 3],
) -> TestResult {
    let s = seat(i);
    s.ep.store(ep, Ordering::SeqCst);
    s.next.store(next, Ordering::SeqCst);
    s.reply.store(reply, Ordering::SeqCst);
    step(
        sc.sched_context_bind(crowd.tcb(i)),
        "bind a server's context",
    )?;
    crowd.start(i, entry, priority)?;
    let _ = cap::<Endpoint>(next).recv(None);
    ensure!(
        s.counter.load(Ordering::SeqCst) == 1,
        "server {i} did not say it was ready"
    );
    step(sc.sched_context_unbind(), "make a server passive")
}

/// sel4test's single_client_server_chain_test: the client at [`CLIENT`],
/// the server at `CLIENT + 5 * diff`, proxy `p` at `server + p * diff`;
/// ten Calls of one word through the chain, on the fast path or (the
/// kernel's fast path switched off) the slow path.
fn chain(env: &Env, fast: bool, diff: i64) -> TestResult {
    set_own_priority(255)?;
    let crowd = Crowd::new(env, PROXIES + 2)?;
    let scs = Crowd::contexts(env, PROXIES + 2, TIMESLICE_US, TIMESLICE_US)?;
    // Endpoints: proxy p receives on eps + p and calls eps + p + 1; the
    // server receives on eps + PROXIES; the client says it is done on the last.
    let eps = make(env, 12, ObjectType::Endpoint, 0, PROXIES + 2)?;
    let replies = make(env, 12, ObjectType::Reply, 0, PROXIES + 1)?;
    let server_priority = CLIENT.saturating_add_signed(diff * PROXIES as i64);
    for p in 0..PROXIES {
        let priority = server_priority.saturating_add_signed(diff * p as i64);
        let i = 1 + p;
        let wiring = [eps + p, eps + p + 1, replies + p];
        start_passive(&crowd, i, proxy, scs[i as usize], priority, wiring)?;
    }
    let last = eps + PROXIES;
    let wiring = [last, last, replies + PROXIES];
    start_passive(&crowd, PROXIES + 1, server, scs[6], server_priority, wiring)?;
    let c = seat(0);
    c.ep.store(eps, Ordering::SeqCst);
    c.next.store(last + 1, Ordering::SeqCst);
    CALLS.store(RUNS, Ordering::SeqCst);
    step(
        scs[0].sched_context_bind(crowd.tcb(0)),
        "bind the client's context",
    )?;
    step(DEBUG.debug_set_fastpath(fast), "set the fast path")?;
    crowd.start(0, client, CLIENT)?;
    let _ = cap::<Endpoint>(last + 1).recv(None);
    step(DEBUG.debug_set_fastpath(true), "fast path back on")?;
    let counts: alloc::vec::Vec<u64> = (0..PROXIES + 2)
        .map(|i| seat(i).counter.load(Ordering::SeqCst))
        .collect();
    let wrong: u64 = (0..PROXIES + 2)
        .map(|i| seat(i).wrong.load(Ordering::SeqCst))
        .sum();
    ensure!(
        counts[0] == RUNS && counts[1..].iter().all(|&n| n == RUNS + 1) && wrong == 0,
        "client, proxies and server counted {counts:?} (expected {RUNS}, then {}), {wrong} wrong words",
        RUNS + 1
    );
    // Each passive thread gave the client's context back: none holds one.
    for (i, sc) in (1..).zip(&scs[1..]) {
        step(
            sc.sched_context_bind(crowd.tcb(i)),
            "bind a passive server its context again",
        )?;
        step(sc.sched_context_unbind(), "unbind it")?;
    }
    crowd.suspend_all()
}

/// Runs [`chain`] with the servers `diffs` each above the client.
fn chains(env: &Env, fast: bool, diffs: &[i64]) -> TestResult {
    for &diff in diffs {
        chain(env, fast, diff).map_err(|e| alloc::format!("servers {diff:+} each: {e}"))?;
    }
    Ok(())
}

pub fn chain_slow_path_same_priority(env: &Env) -> TestResult {
    chains(env, false, &[0])
}

pub fn chain_slow_path_other_priorities(env: &Env) -> TestResult {
    chains(env, false, &[1, -1])
}

pub fn chain_fast_path(env: &Env) -> TestResult {
    chains(env, true, &[1, 0, -1])
}

/// A passive server at 20 and a client at 30 that Calls it once. The
/// server goes passive at 40, above the client, then is lowered to 20; the
/// client is started (resumed) before the server in the second round, after
/// it in the first, and runs once the root task waits. The server answers
/// on the client's context, and gives it back.
pub fn donation_to_server_below_client(env: &Env) -> TestResult {
    set_own_priority(255)?;
    let crowd = Crowd::new(env, 4)?;
    let scs = Crowd::contexts(env, 4, TIMESLICE_US, TIMESLICE_US)?;
    let eps = make(env, 12, ObjectType::Endpoint, 0, 4)?;
    let replies = make(env, 12, ObjectType::Reply, 0, 2)?;
    CALLS.store(1, Ordering::SeqCst);
    for round in 0..2u64 {
        let (c, s) = (2 * round, 2 * round + 1);
        let (ep, done) = (eps + 2 * round, eps + 2 * round + 1);
        let client_first = round == 1;
        seat(c).ep.store(ep, Ordering::SeqCst);
        seat(c).next.store(done, Ordering::SeqCst);
        let sc = scs[c as usize];
        step(
            sc.sched_context_bind(crowd.tcb(c)),
            "bind the client's context",
        )?;
        if client_first {
            crowd.start(c, client, 30)?;
        }
        start_passive(
            &crowd,
            s,
            server,
            scs[s as usize],
            40,
            [ep, done, replies + round],
        )?;
        step(
            crowd
                .tcb(s)
                .tcb_set_priority(keel_sys::cap::init_thread::TCB, 20),
            "lower the passive server",
        )?;
        if !client_first {
            crowd.start(c, client, 30)?;
        }
        let _ = cap::<Endpoint>(done).recv(None);
        let (answered, served) = (
            seat(c).counter.load(Ordering::SeqCst),
            seat(s).counter.load(Ordering::SeqCst),
        );
        let wrong = seat(c).wrong.load(Ordering::SeqCst) + seat(s).wrong.load(Ordering::SeqCst);
        ensure!(
            answered == 1 && served == 2 && wrong == 0,
            "client started {}: {answered} answers, the server counted {served}, {wrong} wrong",
            if client_first { "first" } else { "second" }
        );
        let server_sc = scs[s as usize];
        step(
            server_sc.sched_context_bind(crowd.tcb(s)),
            "give the server a context to finish on",
        )?;
        step(server_sc.sched_context_unbind(), "make it passive again")?;
    }
    Ok(())
}
