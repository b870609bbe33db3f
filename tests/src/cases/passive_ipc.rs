//! IPC0100-0103: IPC with threads that have no scheduling context. A
//! message reaches a receiver without one, but it does not run; a sender
//! whose context is taken while it is queued has its message received but
//! stays stopped; a signal to a bound thread without a context waits for
//! one, or runs it on the notification's. Binding a context later lets
//! each go on from where it was.
//!
//! Test threads run at the root task's priority (255).

use super::donation::passive_server;
use super::ipc::{mint, receive_once};
use super::lent_context::{
    bind_fresh, cap, context_of, send_word, start_blocked, stays_at, word_of,
};
use super::retype::make;
use crate::support::step;
use crate::thread::{endpoint_of, shared, spawn};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::{CapRights, MessageInfo, ObjectType};
use keel_sys::cap::{Endpoint, Notification, Tcb};
use keel_sys::Cap;

/// Receives on `shared(i).cap` for ever, adding each message's MR0 to
/// `value` and counting.
extern "C" fn sum_messages(i: u64) -> ! {
    loop {
        let r = endpoint_of(i).recv(None);
        shared(i).value.fetch_add(r.mrs[0], Ordering::SeqCst);
        shared(i).counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// seL4 IPC0017: an NBSend reaches a passive server waiting in Recv but
/// does not run it; Sends then queue; a context bound to the server lets
/// it take the first message and drain every queued sender.
pub fn passive_receiver_drains_once_bound(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let server = passive_server(env, sum_messages, 2, ep, 0)?;
    cap::<Endpoint>(ep).nb_send(MessageInfo::new(0, 0, 0, 1), [100, 0, 0, 0]);
    stays_at(2, 0, 3, "a passive server sent a message")?;
    start_blocked(env, send_word, 0, ep)?;
    start_blocked(env, send_word, 1, ep)?;
    stays_at(0, 0, 2, "a sender to a server that does not receive")?;
    bind_fresh(env, server)?;
    stays_at(2, 3, 3, "the server given a context")?;
    let sum = shared(2).value.load(Ordering::SeqCst);
    ensure!(
        sum == 100 + word_of(0) + word_of(1),
        "the server took messages summing to {sum:#x}"
    );
    stays_at(0, 1, 0, "the first sender, received")?;
    stays_at(1, 1, 0, "the second sender, received")
}

/// seL4 IPC0018: a queued sender whose context is unbound has its message
/// received, and does not run until the context is bound again.
pub fn sender_unbound_while_queued(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let sender = start_blocked(env, send_word, 0, ep)?;
    let sc = context_of(0);
    step(
        sc.sched_context_unbind_object(sender),
        "unbind the sender's context",
    )?;
    let r = cap::<Endpoint>(ep).recv(None);
    ensure!(r.mrs[0] == word_of(0), "a receive took {r:?}");
    stays_at(0, 0, 3, "the received sender without a context")?;
    step(sc.sched_context_bind(sender), "bind the context again")?;
    stays_at(0, 1, 1, "the sender with its context back")
}

/// A thread receiving on an endpoint with `ntfn` bound to it: test thread
/// 0, blocked.
fn bound_receiver(env: &Env, ntfn: u64) -> Result<Cap<Tcb>, alloc::string::String> {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let t = spawn(env, receive_once, 0, 0, 255)?;
    shared(0).cap.store(ep, Ordering::SeqCst);
    step(t.tcb_bind_notification(cap(ntfn)), "bind the notification")?;
    step(t.tcb_resume(), "start the receiver")?;
    stays_at(0, 0, 1, "a receiver with no sender")?;
    Ok(t)
}

/// The badge in the word `receive_once` recorded.
fn badge_received() -> u64 {
    (shared(0).value.load(Ordering::SeqCst) >> 32) & 0xff_ffff
}

/// seL4 BIND005: a signal to a bound thread in endpoint Recv whose context
/// was unbound does not run it; it runs, with the signal, once the context
/// is bound again.
pub fn signal_to_bound_thread_without_context(env: &Env) -> TestResult {
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    let t = bound_receiver(env, ntfn)?;
    let sc = context_of(0);
    step(sc.sched_context_unbind(), "unbind the receiver's context")?;
    let signaller: Cap<Notification> = cap(mint(env, ntfn, 0x41, CapRights::ALL)?.cptr().bits());
    signaller.signal();
    stays_at(0, 0, 3, "a signalled thread without a context")?;
    step(sc.sched_context_bind(t), "bind the context again")?;
    stays_at(0, 1, 1, "the signalled thread with its context")?;
    ensure!(
        badge_received() == 0x41,
        "the thread got badge {:#x}",
        badge_received()
    );
    Ok(())
}

/// seL4 BIND006: a bound thread in endpoint Recv whose context was moved to
/// its notification runs on the notification's context when signalled.
pub fn signal_lends_bound_notification_context(env: &Env) -> TestResult {
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    let t = bound_receiver(env, ntfn)?;
    let sc = context_of(0);
    step(
        sc.sched_context_unbind_object(t),
        "unbind the receiver's context",
    )?;
    step(
        sc.sched_context_bind_notification(cap(ntfn)),
        "bind it to the notification",
    )?;
    let signaller: Cap<Notification> = cap(mint(env, ntfn, 0x52, CapRights::ALL)?.cptr().bits());
    signaller.signal();
    stays_at(0, 1, 1, "the thread signalled through its notification")?;
    ensure!(
        badge_received() == 0x52,
        "the thread got badge {:#x}",
        badge_received()
    );
    Ok(())
}
