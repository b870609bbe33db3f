//! SCHED_CONTEXT0110-0113: a call chain client -> passive proxy -> passive
//! server, the server spinning on the client's lent context, cut by
//! deleting its Reply objects in order and out of order, or the context
//! itself. Who holds the context afterwards shows in which thread runs
//! and in which `UnbindObject` succeeds.
//!
//! Test thread 0 is the client, 1 the proxy, 2 the server, all at the root
//! task's priority (255). seL4 removes a Reply object from the middle of a
//! call stack by breaking the stack there; from its top, by returning the
//! context to the Reply object's caller.

use super::donation::passive_server;
use super::ipc::{call_and_count, stop_self};
use super::lent_context::{
    bind_fresh, cap, context_of, spinning, stays_at, stopped, take_and_spin,
};
use super::retype::make;
use crate::support::{expect_error, slot, step};
use crate::thread::{count, endpoint_of, reply_of, restart_after_syscall, shared, spawn};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::{Error, MessageInfo, ObjectType};
use keel_sys::cap::{Endpoint, Tcb};
use keel_sys::Cap;

const CLIENT: u64 = 0;
const PROXY: u64 = 1;
const SERVER: u64 = 2;

/// Takes one Call on `shared(i).cap`, counts, Calls the endpoint
/// `shared(i).value` on, counts when that returns, and stops.
extern "C" fn forward_once(i: u64) -> ! {
    let _ = endpoint_of(i).recv(reply_of(i));
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    let next: Cap<Endpoint> = cap(shared(i).value.load(Ordering::SeqCst));
    let _ = next.call(MessageInfo::new(0, 0, 0, 1), [1, 0, 0, 0]);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    stop_self(i)
}

/// The chain, running: the server spins on the client's context.
struct Chain {
    client: Cap<Tcb>,
    proxy: Cap<Tcb>,
    server: Cap<Tcb>,
}

fn chain(env: &Env) -> Result<Chain, alloc::string::String> {
    let (outer, inner) = (
        make(env, 12, ObjectType::Endpoint, 0, 1)?,
        make(env, 12, ObjectType::Endpoint, 0, 1)?,
    );
    let server = passive_server(env, take_and_spin, SERVER, inner, 0)?;
    let proxy = passive_server(env, forward_once, PROXY, outer, inner)?;
    let client = spawn(env, call_and_count, CLIENT as usize, CLIENT, 255)?;
    shared(CLIENT).cap.store(outer, Ordering::SeqCst);
    step(client.tcb_resume(), "start the client")?;
    spinning(SERVER, "the server at the end of the chain")?;
    ensure!(
        count(PROXY) == 1 && count(SERVER) == 1,
        "the proxy took {} Calls and the server {}",
        count(PROXY),
        count(SERVER)
    );
    Ok(Chain {
        client,
        proxy,
        server,
    })
}

fn delete_reply(i: u64, whose: &str) -> TestResult {
    let reply = shared(i).reply.load(Ordering::SeqCst);
    step(
        slot(reply).delete(),
        &alloc::format!("delete the {whose}'s Reply object"),
    )
}

/// The client's context is bound to `holder` (and not to `not`): unbinding
/// it from `not` fails, from `holder` succeeds; it is left unbound.
fn held_by(holder: Cap<Tcb>, not: Cap<Tcb>, what: &str) -> TestResult {
    let sc = context_of(CLIENT);
    expect_error(
        sc.sched_context_unbind_object(not),
        Error::IllegalOperation,
        &alloc::format!("{what}: unbind from the wrong thread"),
    )?;
    step(
        sc.sched_context_unbind_object(holder),
        &alloc::format!("{what}: unbind from its holder"),
    )
}

/// seL4 SCHED_CONTEXT_0011: deleting the server's Reply object stops the
/// server and returns the context to the proxy; deleting the proxy's then
/// returns it to the client, which runs once restarted.
pub fn replies_deleted_in_order(env: &Env) -> TestResult {
    let c = chain(env)?;
    delete_reply(SERVER, "server")?;
    stopped(SERVER, "the server after its Reply object went")?;
    stays_at(PROXY, 1, 1, "the proxy, its Call cut")?;
    expect_error(
        context_of(CLIENT).sched_context_unbind_object(c.server),
        Error::IllegalOperation,
        "the context left the server",
    )?;
    delete_reply(PROXY, "proxy")?;
    held_by(c.client, c.proxy, "the context came back to the client")?;
    step(
        context_of(CLIENT).sched_context_bind(c.client),
        "bind it again",
    )?;
    stays_at(CLIENT, 0, 1, "the client, its Call cut")?;
    restart_after_syscall(c.client)?;
    stays_at(CLIENT, 1, 1, "the restarted client")
}

/// seL4 SCHED_CONTEXT_0012: deleting the proxy's Reply object first breaks
/// the chain under the server, which runs on; deleting the server's then
/// stops it and leaves the context with the proxy: the client has lost it
/// and does not run when restarted.
pub fn replies_deleted_out_of_order(env: &Env) -> TestResult {
    let c = chain(env)?;
    delete_reply(PROXY, "proxy")?;
    spinning(SERVER, "the server, the chain broken below it")?;
    delete_reply(SERVER, "server")?;
    stopped(SERVER, "the server after its Reply object went")?;
    restart_after_syscall(c.client)?;
    stays_at(CLIENT, 0, 2, "the client whose context stayed up the chain")?;
    stays_at(PROXY, 1, 0, "the proxy, its Call cut")?;
    held_by(c.proxy, c.client, "the context went to the proxy")?;
    step(
        context_of(CLIENT).sched_context_bind(c.client),
        "give it to the client",
    )?;
    stays_at(CLIENT, 1, 1, "the client given its context")
}

/// seL4 SCHED_CONTEXT_0013: deleting the client's context stops the server
/// spinning on it; with the server's Reply object gone, a new context runs
/// the proxy on; moved to the client, it runs the client too.
pub fn context_deleted_on_chain(env: &Env) -> TestResult {
    let c = chain(env)?;
    step(
        slot(context_of(CLIENT).cptr().bits()).delete(),
        "delete the client's context",
    )?;
    stopped(SERVER, "the server after the context went")?;
    delete_reply(SERVER, "server")?;
    stays_at(PROXY, 1, 2, "the proxy without a context")?;
    let sc = bind_fresh(env, c.proxy)?;
    restart_after_syscall(c.proxy)?;
    stays_at(PROXY, 2, 1, "the proxy on a new context")?;
    step(
        sc.sched_context_unbind_object(c.proxy),
        "take it from the proxy",
    )?;
    step(sc.sched_context_bind(c.client), "give it to the client")?;
    stays_at(CLIENT, 0, 1, "the client still waiting for the proxy")?;
    step(c.client.tcb_suspend(), "stop the client's Call")?;
    restart_after_syscall(c.client)?;
    stays_at(CLIENT, 1, 1, "the restarted client")?;
    stopped(SERVER, "the server at the end")
}

/// Suspending the proxy, which waits on the server's Reply object at the
/// top of the call stack, breaks the stack there: the server runs on, and
/// deleting the proxy's Reply object then stops the client without giving
/// it the context, which the server keeps (seL4's `reply_remove_tcb`).
pub fn cancelled_caller_breaks_the_chain(env: &Env) -> TestResult {
    let c = chain(env)?;
    step(c.proxy.tcb_suspend(), "suspend the proxy")?;
    spinning(SERVER, "the server, its caller suspended")?;
    delete_reply(PROXY, "proxy")?;
    spinning(SERVER, "the server, the client's Reply object gone")?;
    held_by(c.server, c.client, "the context stayed with the server")?;
    stopped(SERVER, "the server without the context")?;
    step(
        context_of(CLIENT).sched_context_bind(c.client),
        "give it to the client",
    )?;
    stays_at(
        CLIENT,
        0,
        1,
        "the client, stopped by its Reply object's deletion",
    )?;
    restart_after_syscall(c.client)?;
    stays_at(CLIENT, 1, 1, "the restarted client")
}
