//! TIMEOUTFAULT0400-0401: timeout faults of passive servers, handled as
//! sel4test's TIMEOUTFAULT0002 and 0003 handle them. A server (and, nested,
//! a proxy before it) runs on its client's context until the budget is
//! gone; the handler answers the caller through the faulted server's Reply
//! object, gives the server its own context back, restores it (its stack
//! copied back, and a timeout-fault reply carrying the registers it had
//! when it went passive, so it runs into its receive again), and makes it
//! passive again; five rounds. A proxy answered on the spent context
//! reports that as its own timeout fault, as in seL4.

use super::retype::make;
use crate::crowd::{seat, stop, Crowd};
use crate::support::{reply_object, slot, step};
use crate::thread::{set_own_priority, TIMESLICE_US};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::fault::{self as layout, FaultType};
use keel_abi::{CapRights, MessageInfo, ObjectType};
use keel_sys::cap::init_thread::SCHED_CONTROL;
use keel_sys::cap::{Endpoint, Reply, SchedContext};
use keel_sys::sched::SchedContextFlags;
use keel_sys::tcb::UserContext;
use keel_sys::{CPtr, Cap};

fn cap<T: keel_sys::cap::CapKind>(bits: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(bits))
}

/// The root task's priority; the servers are one below it, the client two.
const ROOT: u64 = 200;
/// The client's budget and period (µs), and its context's badge.
const BUDGET_US: u64 = 1_000;
const PERIOD_US: u64 = 10_000;
const CLIENT_DATA: u64 = 1;
/// The timeout endpoint's badges of the server and the proxy.
const SERVER_BADGE: u64 = 2;
const PROXY_BADGE: u64 = 3;
/// What the handler answers the client in the server's place.
const FAILED: u64 = u64::MAX;
/// Faults handled per server.
const ROUNDS: u64 = 5;

/// Crowd thread `i`, the server: says it is ready on `seat(i).ep` and
/// receives there with `seat(i).reply` in one NBSendRecv, then spins,
/// counting, never answering.
extern "C" fn spinning_server(i: u64) -> ! {
    let s = seat(i);
    let none = MessageInfo::new(0, 0, 0, 0);
    let _ = s
        .endpoint()
        .nb_send_recv(none, [0; 4], s.endpoint(), s.reply_object());
    loop {
        s.counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// Crowd thread `i`, the proxy: says it is ready on `seat(i).ep` and
/// receives there; passes each Call on to `seat(i).next` and its answer
/// back, for ever.
extern "C" fn proxy(i: u64) -> ! {
    let s = seat(i);
    let Some(reply) = s.reply_object() else {
        stop(i)
    };
    let none = MessageInfo::new(0, 0, 0, 0);
    let _ = s
        .endpoint()
        .nb_send_recv(none, [0; 4], s.endpoint(), Some(reply));
    loop {
        let answer = s.next_endpoint().call(MessageInfo::new(0, 0, 0, 1), [0; 4]);
        s.counter.fetch_add(1, Ordering::SeqCst);
        let _ = s
            .endpoint()
            .reply_recv(MessageInfo::new(0, 0, 0, 1), answer.mrs, reply);
    }
}

/// Crowd thread `i`, the client: Calls `seat(i).ep` for ever, counting
/// the answers that are [`FAILED`], as the handler answers for a server.
extern "C" fn client(i: u64) -> ! {
    let s = seat(i);
    loop {
        let r = s.endpoint().call(MessageInfo::new(0, 0, 0, 0), [0; 4]);
        s.check(r.mrs[0] == FAILED);
        s.counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// A passive server: crowd thread `i` started running `entry` on `sc` at
/// `ROOT - 1` with the timeout endpoint `tfep`, ready and receiving on `ep`
/// with `reply`; returns the registers it had then, its checkpoint.
struct Passive {
    i: u64,
    sc: Cap<SchedContext>,
    ep: u64,
    reply: u64,
    checkpoint: UserContext,
    stack: alloc::vec::Vec<u8>,
}

fn start_passive(
    crowd: &Crowd,
    i: u64,
    entry: extern "C" fn(u64) -> !,
    sc: Cap<SchedContext>,
    [ep, next, tfep]: [u64; 3],
    env: &Env,
) -> Result<Passive, alloc::string::String> {
    let reply = reply_object(env)?.cptr().bits();
    let s = seat(i);
    s.ep.store(ep, Ordering::SeqCst);
    s.next.store(next, Ordering::SeqCst);
    s.reply.store(reply, Ordering::SeqCst);
    let tcb = crowd.tcb(i);
    step(
        tcb.tcb_set_timeout_endpoint(Some(cap(tfep))),
        "give a server its timeout endpoint",
    )?;
    step(sc.sched_context_bind(tcb), "bind a server's context")?;
    crowd.start(i, entry, ROOT - 1)?;
    let _ = cap::<Endpoint>(ep).recv(None);
    // Stopped in its receive, the server is put back on its system call:
    // its registers then say where a restored server goes on (seL4 reports
    // the system call's address for a thread merely blocked in it; Keel
    // does once the thread is stopped). Resumed, it makes the call again.
    let checkpoint = step(tcb.tcb_read_all_registers(true), "checkpoint a server")?;
    let stack = crate::crowd::save_stack(i, checkpoint.sp());
    step(tcb.tcb_resume(), "resume the server")?;
    let _ = cap::<Endpoint>(ep).recv(None);
    step(sc.sched_context_unbind(), "make a server passive")?;
    Ok(Passive {
        i,
        sc,
        ep,
        reply,
        checkpoint,
        stack,
    })
}

/// sel4test's handle_timeout_fault: takes `server`'s timeout fault on
/// `tfep` (badge `badge`, the client's data), answers its caller
/// [`FAILED`] through its Reply object, binds it its own context, restores
/// it with a timeout-fault reply carrying its checkpoint (it runs into its
/// receive again and says it is ready), and makes it passive again.
fn handle(tfep: u64, badge: u64, server: &Passive, fault_reply: Cap<Reply>) -> TestResult {
    let f = cap::<Endpoint>(tfep).recv(Some(fault_reply));
    ensure!(
        f.badge == badge
            && f.info.label() == FaultType::Timeout as u64
            && f.info.length() == layout::TIMEOUT_LENGTH
            && f.mrs[layout::TIMEOUT_DATA] == CLIENT_DATA,
        "expected a timeout fault with badge {badge} and data {CLIENT_DATA}, got label {} \
         length {} badge {} data {}",
        f.info.label(),
        f.info.length(),
        f.badge,
        f.mrs[layout::TIMEOUT_DATA]
    );
    cap::<Reply>(server.reply).reply(MessageInfo::new(0, 0, 0, 1), [FAILED, 0, 0, 0]);
    crate::crowd::restore_stack(server.i, &server.stack);
    step(
        server.sc.sched_context_bind(crate::crowd::tcb_of(server.i)),
        "give the server its context back",
    )?;
    let words = server.checkpoint.words();
    for (i, &w) in words.iter().enumerate().skip(4) {
        step(keel_sys::ipc::set_mr(i, w), "set a message register")?;
    }
    let restore = MessageInfo::new(0, 0, 0, words.len() as u64);
    let ready = cap::<Endpoint>(server.ep).reply_recv(
        restore,
        [words[0], words[1], words[2], words[3]],
        fault_reply,
    );
    ensure!(
        ready.badge == 0,
        "the restored server's ready message had badge {}",
        ready.badge
    );
    step(
        server.sc.sched_context_unbind(),
        "make the server passive again",
    )
}

/// The timeout endpoint and its copies badged for the server and the proxy.
fn timeout_endpoints(env: &Env) -> Result<[u64; 3], alloc::string::String> {
    let tfep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let badged = env.slots(2)?;
    for (s, badge) in [(badged, SERVER_BADGE), (badged + 1, PROXY_BADGE)] {
        step(
            slot(s).mint(&slot(tfep), CapRights::ALL, badge),
            "mint a timeout endpoint",
        )?;
    }
    Ok([tfep, badged, badged + 1])
}

/// Starts crowd thread `i` as the client, Calling `ep`, on a 1 ms budget
/// every 10 ms whose timeout faults carry [`CLIENT_DATA`].
fn start_client(env: &Env, crowd: &Crowd, i: u64, ep: u64) -> TestResult {
    let sc = Crowd::contexts(env, 1, TIMESLICE_US, TIMESLICE_US)?[0];
    step(
        SCHED_CONTROL.sched_control_configure_flags(
            sc,
            BUDGET_US,
            PERIOD_US,
            0,
            CLIENT_DATA,
            SchedContextFlags::NONE,
        ),
        "give the client a 1 ms budget",
    )?;
    seat(i).ep.store(ep, Ordering::SeqCst);
    step(
        sc.sched_context_bind(crowd.tcb(i)),
        "bind the client's context",
    )?;
    crowd.start(i, client, ROOT - 2)
}

/// Fails unless the client saw only [`FAILED`] answers, `rounds` of them or
/// one short (its next Call may not be answered yet).
fn client_answered(rounds: u64) -> TestResult {
    let (answered, wrong) = (
        seat(0).counter.load(Ordering::SeqCst),
        seat(0).wrong.load(Ordering::SeqCst),
    );
    ensure!(
        wrong == 0 && answered + 1 >= rounds && answered <= rounds,
        "the client got {answered} answers ({wrong} wrong) for {rounds} handled faults"
    );
    Ok(())
}

/// As sel4test's TIMEOUTFAULT0002: a passive server spins on its client's
/// 1 ms budget until a timeout fault; the handler answers the client
/// through the server's Reply object, restores the server (its own context
/// bound, its registers put back by the fault reply) and makes it passive
/// again; five times.
pub fn server_restored_after_timeout(env: &Env) -> TestResult {
    set_own_priority(ROOT)?;
    let [tfep, server_tfep, _] = timeout_endpoints(env)?;
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let crowd = Crowd::new(env, 2)?;
    let sc = Crowd::contexts(env, 1, TIMESLICE_US, TIMESLICE_US)?[0];
    let server = start_passive(&crowd, 1, spinning_server, sc, [ep, 0, server_tfep], env)?;
    start_client(env, &crowd, 0, ep)?;
    let fault_reply = reply_object(env)?;
    for round in 1..=ROUNDS {
        handle(tfep, SERVER_BADGE, &server, fault_reply)
            .map_err(|e| alloc::format!("round {round}: {e}"))?;
        client_answered(round)?;
    }
    crowd.suspend_all()
}

/// As sel4test's TIMEOUTFAULT0003: the client Calls a passive proxy that
/// Calls a passive server, both with timeout endpoints; the server's
/// budget runs out, then, answered on the spent context, the proxy's; each
/// is handled as in TIMEOUTFAULT0400, five rounds.
pub fn nested_servers_restored_after_timeouts(env: &Env) -> TestResult {
    set_own_priority(ROOT)?;
    let [tfep, server_tfep, proxy_tfep] = timeout_endpoints(env)?;
    let eps = make(env, 12, ObjectType::Endpoint, 0, 2)?;
    let crowd = Crowd::new(env, 3)?;
    let scs = Crowd::contexts(env, 2, TIMESLICE_US, TIMESLICE_US)?;
    let wiring = [eps + 1, 0, server_tfep];
    let server = start_passive(&crowd, 1, spinning_server, scs[0], wiring, env)?;
    let proxy = start_passive(&crowd, 2, proxy, scs[1], [eps, eps + 1, proxy_tfep], env)?;
    start_client(env, &crowd, 0, eps)?;
    let fault_reply = reply_object(env)?;
    for round in 1..=ROUNDS {
        handle(tfep, SERVER_BADGE, &server, fault_reply)
            .map_err(|e| alloc::format!("round {round}, the server: {e}"))?;
        handle(tfep, PROXY_BADGE, &proxy, fault_reply)
            .map_err(|e| alloc::format!("round {round}, the proxy: {e}"))?;
        client_answered(round)?;
    }
    crowd.suspend_all()
}
