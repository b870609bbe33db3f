//! IPC0404 and SCHED_CONTEXT0400-0401: where a lent scheduling context
//! goes when the thread holding it hands it on, waits or is deleted. A
//! passive "stack-spawning" server takes queued Calls one by one and hands
//! each Call's Reply object, with the caller's context, to a new passive
//! server that answers it; a thread deleted while it runs on a
//! notification's context gives the context back to the notification, for
//! its next waiter; a thread whose own context is also its notification's
//! gives it up when it waits there.

use super::retype::make;
use crate::crowd::{seat, stop, Crowd};
use crate::support::{slot, step};
use crate::thread::{count, set_own_priority, shared, spawn, yield_times, TIMESLICE_US};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::{AtomicU64, Ordering};
use keel_abi::{MessageInfo, ObjectType};
use keel_sys::cap::{Endpoint, Notification, Reply, SchedContext, Tcb};
use keel_sys::{CPtr, Cap};

fn cap<T: keel_sys::cap::CapKind>(bits: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(bits))
}

/// Clients, and servers the spawner starts, one per client.
const CLIENTS: u64 = 10;
/// The root task's priority while the clients run; the clients and servers
/// are one above, the spawner two above.
const BASE: u64 = 10;
/// What a server answers.
const ANSWER: u64 = 0x5e_77ed;

/// The spawner's wiring: the endpoint it tells the root task it is ready
/// on, the endpoint clients Call, the endpoint servers start on, the first
/// of the servers' Reply objects, the first of their contexts, and the crowd
/// index of the first server.
static READY: AtomicU64 = AtomicU64::new(0);
static SERVICE: AtomicU64 = AtomicU64::new(0);
static INIT: AtomicU64 = AtomicU64::new(0);
static REPLIES: AtomicU64 = AtomicU64::new(0);
static CONTEXTS: AtomicU64 = AtomicU64::new(0);
static SERVER_TCBS: AtomicU64 = AtomicU64::new(0);

fn wiring(word: &AtomicU64) -> u64 {
    word.load(Ordering::SeqCst)
}

/// Crowd thread `i`: Calls the service once, counts a right answer, stops.
extern "C" fn client(i: u64) -> ! {
    let s = seat(i);
    let a = cap::<Endpoint>(wiring(&SERVICE)).call(MessageInfo::new(0, 0, 0, 0), [0; 4]);
    s.check(a.mrs[0] == ANSWER);
    s.counter.fetch_add(1, Ordering::SeqCst);
    stop(i)
}

/// Crowd thread `i`, a server the spawner starts: says it is ready on the
/// init endpoint and waits there, passive, until the spawner's next send
/// lends it a caller's context; then answers that caller through the Reply
/// object in `seat(i).reply`, counting.
extern "C" fn spawned_server(i: u64) -> ! {
    let s = seat(i);
    let init: Cap<Endpoint> = cap(wiring(&INIT));
    let _ = init.nb_send_wait(MessageInfo::new(0, 0, 0, 0), [0; 4], init);
    s.counter.fetch_add(1, Ordering::SeqCst);
    let reply: Cap<Reply> = cap(s.reply.load(Ordering::SeqCst));
    reply.reply(MessageInfo::new(0, 0, 0, 1), [ANSWER, 0, 0, 0]);
    stop(i)
}

/// Test thread `i`, the spawner: tells the root task it is ready and takes
/// the first Call with server 0's Reply object; then for each Call it
/// starts server `k` on its own context, waits for it to be ready, makes it
/// passive, and takes the next Call with server `k + 1`'s Reply object,
/// the send half of that NBSendRecv lending server `k` the context it holds.
extern "C" fn spawner(i: u64) -> ! {
    let service: Cap<Endpoint> = cap(wiring(&SERVICE));
    let init: Cap<Endpoint> = cap(wiring(&INIT));
    let mut tell: Cap<Endpoint> = cap(wiring(&READY));
    let none = MessageInfo::new(0, 0, 0, 0);
    for k in 0..CLIENTS {
        let reply: Cap<Reply> = cap(wiring(&REPLIES) + k);
        let _ = tell.nb_send_recv(none, [0; 4], service, Some(reply));
        tell = init;
        let sc: Cap<SchedContext> = cap(wiring(&CONTEXTS) + k);
        let server: Cap<Tcb> = cap(wiring(&SERVER_TCBS) + k);
        let started = sc.sched_context_bind(server).is_ok() && server.tcb_resume().is_ok();
        let _ = init.wait();
        let passive = sc.sched_context_unbind().is_ok();
        if !(started && passive) {
            shared(i).value.fetch_add(1, Ordering::SeqCst);
        }
        shared(i).counter.fetch_add(1, Ordering::SeqCst);
    }
    let _ = tell.nb_send_wait(none, [0; 4], service);
    loop {
        let _ = service.wait();
    }
}

/// As sel4test's IPC0022: ten clients queue Calls on a passive spawner
/// above them; it takes them one by one on the caller's context, and hands
/// each Call's Reply object to a new passive server (with the caller's
/// context, by the send half of its next NBSendRecv or NBSendWait), which
/// answers it. Every client is answered once, each by its own server.
pub fn stack_spawning_server(env: &Env) -> TestResult {
    set_own_priority(255)?;
    let eps = make(env, 12, ObjectType::Endpoint, 0, 3)?;
    let replies = make(env, 12, ObjectType::Reply, 0, CLIENTS)?;
    let crowd = Crowd::new(env, 2 * CLIENTS)?;
    let client_scs = Crowd::contexts(env, CLIENTS, TIMESLICE_US, TIMESLICE_US)?;
    let server_scs = Crowd::contexts(env, CLIENTS, TIMESLICE_US, TIMESLICE_US)?;
    for (word, value) in [
        (&READY, eps),
        (&SERVICE, eps + 1),
        (&INIT, eps + 2),
        (&REPLIES, replies),
        (&CONTEXTS, server_scs[0].cptr().bits()),
        (&SERVER_TCBS, crowd.tcb(CLIENTS).cptr().bits()),
    ] {
        word.store(value, Ordering::SeqCst);
    }
    for k in 0..CLIENTS {
        let s = seat(CLIENTS + k);
        s.reply.store(replies + k, Ordering::SeqCst);
        crowd.prepare(CLIENTS + k, spawned_server, BASE + 1)?;
    }
    let t = spawn(env, spawner, 0, 0, BASE + 2)?;
    step(t.tcb_resume(), "start the spawner")?;
    let _ = cap::<Endpoint>(eps).recv(None);
    let spawner_sc: Cap<SchedContext> = cap(shared(0).sc.load(Ordering::SeqCst));
    step(
        spawner_sc.sched_context_unbind(),
        "make the spawner passive",
    )?;
    for (k, sc) in (0..CLIENTS).zip(&client_scs) {
        step(
            sc.sched_context_bind(crowd.tcb(k)),
            "bind a client's context",
        )?;
        crowd.start(k, client, BASE + 1)?;
    }
    // Everything above the root task runs until it is done or stuck.
    set_own_priority(BASE - 2)?;
    let answered: alloc::vec::Vec<u64> = (0..CLIENTS)
        .map(|k| seat(k).counter.load(Ordering::SeqCst))
        .collect();
    let served: alloc::vec::Vec<u64> = (CLIENTS..2 * CLIENTS)
        .map(|k| seat(k).counter.load(Ordering::SeqCst))
        .collect();
    let wrong: u64 = (0..CLIENTS)
        .map(|k| seat(k).wrong.load(Ordering::SeqCst))
        .sum();
    ensure!(
        answered.iter().all(|&n| n == 1) && served.iter().all(|&n| n == 1) && wrong == 0,
        "clients answered {answered:?}, servers answered {served:?}, {wrong} wrong answers; \
         the spawner took {} Calls ({} failed steps)",
        count(0),
        shared(0).value.load(Ordering::SeqCst)
    );
    Ok(())
}

/// Test thread `i`: counts, waits on the notification `shared(i).cap`,
/// counts again and spins.
extern "C" fn wait_then_spin(i: u64) -> ! {
    let s = shared(i);
    s.counter.fetch_add(1, Ordering::SeqCst);
    let _ = cap::<Notification>(s.cap.load(Ordering::SeqCst)).wait();
    s.counter.fetch_add(1, Ordering::SeqCst);
    loop {
        core::hint::spin_loop();
    }
}

/// As sel4test's SCHED_CONTEXT_0006: a thread whose context was moved to
/// a notification runs on it when signalled; deleted while it runs there,
/// it gives the context back to the notification, so a second waiter
/// whose own context was deleted runs on it when signalled.
pub fn deleted_thread_returns_notification_context(env: &Env) -> TestResult {
    set_own_priority(255)?;
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    let n: Cap<Notification> = cap(ntfn);
    let one = spawn(env, wait_then_spin, 0, 0, 255)?;
    shared(0).cap.store(ntfn, Ordering::SeqCst);
    step(one.tcb_resume(), "start the first waiter")?;
    yield_times(1)?;
    ensure!(count(0) == 1, "the first waiter did not start");
    let sc: Cap<SchedContext> = cap(shared(0).sc.load(Ordering::SeqCst));
    step(sc.sched_context_unbind(), "take the first waiter's context")?;
    step(
        sc.sched_context_bind_notification(n),
        "bind it to the notification",
    )?;
    n.signal();
    yield_times(1)?;
    ensure!(
        count(0) == 2,
        "the signal did not run the first waiter on the notification's context"
    );
    step(slot(one.cptr().bits()).delete(), "delete the first waiter")?;
    yield_times(1)?;
    let two = spawn(env, wait_then_spin, 1, 1, 255)?;
    shared(1).cap.store(ntfn, Ordering::SeqCst);
    step(two.tcb_resume(), "start the second waiter")?;
    yield_times(1)?;
    ensure!(count(1) == 1, "the second waiter did not start");
    step(
        slot(shared(1).sc.load(Ordering::SeqCst)).delete(),
        "delete the second waiter's context",
    )?;
    n.signal();
    yield_times(1)?;
    ensure!(
        count(1) == 2,
        "the second waiter did not run on the context the deleted thread gave back"
    );
    step(two.tcb_suspend(), "stop the second waiter")
}

/// Test thread `i`: counts, then waits on the notification
/// `shared(i).cap` and counts each wake, for ever.
extern "C" fn count_waits(i: u64) -> ! {
    let s = shared(i);
    let n: Cap<Notification> = cap(s.cap.load(Ordering::SeqCst));
    loop {
        s.counter.fetch_add(1, Ordering::SeqCst);
        let _ = n.wait();
    }
}

/// As sel4test's SCHED_CONTEXT_0007: a thread without a context, resumed
/// and then bound one, runs; one bound a context and then resumed runs
/// too. And a thread whose context is bound to a notification as well
/// gives it up lazily: when it waits on that notification it is unbound
/// (the context can be bound to it again), and a signal lends it the
/// notification's context, which it gives back when it waits again.
pub fn passive_start_and_lazy_unbind(env: &Env) -> TestResult {
    set_own_priority(255)?;
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    let n: Cap<Notification> = cap(ntfn);
    for (i, resume_first) in [(0u64, true), (1, false)] {
        let t = crate::thread::spawn_passive(env, count_waits, i as usize, i, 255)?;
        shared(i).cap.store(ntfn, Ordering::SeqCst);
        let sc = crate::thread::sched_context(env, TIMESLICE_US, TIMESLICE_US)?;
        if resume_first {
            step(t.tcb_resume(), "resume the passive thread")?;
            step(sc.sched_context_bind(t), "then bind it a context")?;
        } else {
            step(
                sc.sched_context_bind(t),
                "bind the passive thread a context",
            )?;
            step(t.tcb_resume(), "then resume it")?;
        }
        yield_times(1)?;
        ensure!(
            count(i) == 1,
            "the thread {} did not run",
            if resume_first {
                "resumed, then bound"
            } else {
                "bound, then resumed"
            }
        );
        if resume_first {
            step(t.tcb_suspend(), "stop it")?;
            continue;
        }
        // The second thread waits on the notification; bind its context to
        // the notification too, and make it wait again.
        step(t.tcb_suspend(), "stop the waiter")?;
        step(
            sc.sched_context_bind_notification(n),
            "bind its context to the notification as well",
        )?;
        crate::thread::restart_after_syscall(t)?;
        yield_times(1)?;
        ensure!(count(i) == 2, "the waiter did not wait again");
        step(
            sc.sched_context_bind(t),
            "bind the context to the waiter, which gave it up when it waited",
        )?;
        step(sc.sched_context_unbind_object(t), "unbind it again")?;
        n.signal();
        yield_times(1)?;
        ensure!(
            count(i) == 3,
            "a signal did not run the waiter on the notification's context"
        );
        step(
            sc.sched_context_bind(t),
            "bind the context to the waiter, given back at its next wait",
        )?;
        step(t.tcb_suspend(), "stop the waiter")?;
    }
    Ok(())
}
