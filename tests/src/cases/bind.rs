//! BIND and notifications: signal, wait and poll, badges ORed together, and a
//! notification bound to a thread that waits on an endpoint.

use super::retype::make;
use crate::support::{expect_error, slot, step};
use crate::thread::{count, set_own_priority, shared, spawn, yield_times};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::{CapRights, Error, MessageInfo, ObjectType};
use keel_sys::cap::{init_thread, Endpoint, Notification, Tcb};
use keel_sys::{CPtr, Cap};

fn ntfn(s: u64) -> Cap<Notification> {
    Cap::from_cptr(CPtr::from_bits(s))
}

fn badged(env: &Env, n: u64, badge: u64) -> Result<Cap<Notification>, alloc::string::String> {
    let s = env.slots(1)?;
    step(slot(s).mint(&slot(n), CapRights::ALL, badge), "mint")?;
    Ok(ntfn(s))
}

/// Waits on its notification once, records the word, stops.
extern "C" fn wait_once(i: u64) -> ! {
    let word = ntfn(shared(i).cap.load(Ordering::SeqCst)).wait();
    shared(i).value.store(word, Ordering::SeqCst);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    let me: Cap<Tcb> = Cap::from_cptr(CPtr::from_bits(shared(i).tcb.load(Ordering::SeqCst)));
    let _ = me.tcb_suspend();
    keel_rt::halt(93)
}

/// Receives once on its endpoint (while its bound notification may fire), records the badge, stops.
extern "C" fn receive_once(i: u64) -> ! {
    let ep = crate::thread::endpoint_of(i);
    let r = ep.recv(None);
    shared(i).value.store(r.badge, Ordering::SeqCst);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    let me: Cap<Tcb> = Cap::from_cptr(CPtr::from_bits(shared(i).tcb.load(Ordering::SeqCst)));
    let _ = me.tcb_suspend();
    keel_rt::halt(94)
}

pub fn signal_then_poll(env: &Env) -> TestResult {
    let n = make(env, 12, ObjectType::Notification, 0, 1)?;
    ensure!(ntfn(n).poll() == 0, "a fresh notification had a word");
    badged(env, n, 0b01)?.signal();
    badged(env, n, 0b10)?.signal();
    let word = ntfn(n).poll();
    ensure!(word == 0b11, "badges ORed to {word:#b}");
    ensure!(ntfn(n).poll() == 0, "polling did not clear the word");
    badged(env, n, 0b100)?.signal();
    ensure!(
        ntfn(n).wait() == 0b100,
        "wait did not return the pending word at once"
    );
    Ok(())
}

pub fn signal_wakes_waiter(env: &Env) -> TestResult {
    let n = make(env, 12, ObjectType::Notification, 0, 1)?;
    let t = spawn(env, wait_once, 0, 0, 255)?;
    shared(0).cap.store(n, Ordering::SeqCst);
    step(t.tcb_resume(), "resume")?;
    yield_times(1)?;
    ensure!(count(0) == 0, "the waiter did not block");
    badged(env, n, 0x40)?.signal();
    yield_times(1)?;
    ensure!(
        count(0) == 1 && shared(0).value.load(Ordering::SeqCst) == 0x40,
        "the waiter got {:#x}",
        shared(0).value.load(Ordering::SeqCst)
    );
    Ok(())
}

pub fn bound_notification_wakes_receiver(env: &Env) -> TestResult {
    let n = make(env, 12, ObjectType::Notification, 0, 1)?;
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let t = spawn(env, receive_once, 0, 0, 255)?;
    shared(0).cap.store(ep, Ordering::SeqCst);
    step(t.tcb_bind_notification(ntfn(n)), "bind")?;
    step(t.tcb_resume(), "resume")?;
    yield_times(1)?;
    ensure!(count(0) == 0, "the receiver did not block");
    badged(env, n, 0x8)?.signal();
    yield_times(1)?;
    ensure!(
        count(0) == 1,
        "the signal did not reach the receiving thread"
    );
    ensure!(
        shared(0).value.load(Ordering::SeqCst) == 0x8,
        "badge {:#x}",
        shared(0).value.load(Ordering::SeqCst)
    );
    Ok(())
}

pub fn pending_signal_ends_receive(env: &Env) -> TestResult {
    let n = make(env, 12, ObjectType::Notification, 0, 1)?;
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    badged(env, n, 0x3)?.signal();
    let t = spawn(env, receive_once, 0, 0, 255)?;
    shared(0).cap.store(ep, Ordering::SeqCst);
    step(t.tcb_bind_notification(ntfn(n)), "bind")?;
    step(t.tcb_resume(), "resume")?;
    yield_times(1)?;
    ensure!(
        count(0) == 1 && shared(0).value.load(Ordering::SeqCst) == 0x3,
        "a pending signal did not end the receive"
    );
    Ok(())
}

pub fn bind_errors(env: &Env) -> TestResult {
    let n = make(env, 12, ObjectType::Notification, 0, 2)?;
    let t = spawn(env, wait_once, 0, 0, 1)?;
    expect_error(
        t.tcb_unbind_notification(),
        Error::IllegalOperation,
        "unbinding with none bound",
    )?;
    step(t.tcb_bind_notification(ntfn(n)), "bind")?;
    expect_error(
        t.tcb_bind_notification(ntfn(n + 1)),
        Error::IllegalOperation,
        "binding a second notification",
    )?;
    let other = spawn(env, wait_once, 1, 1, 1)?;
    expect_error(
        other.tcb_bind_notification(ntfn(n)),
        Error::IllegalOperation,
        "binding a bound notification",
    )?;
    let not_ntfn = ntfn(make(env, 12, ObjectType::Endpoint, 0, 1)?);
    expect_error(
        other.tcb_bind_notification(not_ntfn),
        Error::InvalidCapability,
        "binding an endpoint",
    )?;
    let s = env.slots(1)?;
    step(
        slot(s).mint(&slot(n + 1), CapRights::WRITE, 0),
        "a send-only copy",
    )?;
    expect_error(
        other.tcb_bind_notification(ntfn(s)),
        Error::IllegalOperation,
        "binding without the read right",
    )?;
    step(t.tcb_unbind_notification(), "unbind")?;
    step(
        other.tcb_bind_notification(ntfn(n)),
        "bind to the other thread",
    )
}

/// A thread with a bound notification that was signalled gets the word,
/// as the badge, from an NBRecv on an endpoint with no sender, and the
/// word is cleared; with nothing pending the NBRecv returns badge 0.
pub fn nb_recv_takes_bound_word(env: &Env) -> TestResult {
    let n = make(env, 12, ObjectType::Notification, 0, 1)?;
    let ep: Cap<Endpoint> =
        Cap::from_cptr(CPtr::from_bits(make(env, 12, ObjectType::Endpoint, 0, 1)?));
    let me = init_thread::TCB;
    step(me.tcb_bind_notification(ntfn(n)), "bind to oneself")?;
    let checks = (|| -> TestResult {
        badged(env, n, 0x5)?.signal();
        let r = ep.nb_recv(None);
        ensure!(
            r.badge == 0x5,
            "NBRecv returned badge {:#x}, not the word 0x5",
            r.badge
        );
        ensure!(ntfn(n).poll() == 0, "the word was not cleared");
        let r = ep.nb_recv(None);
        ensure!(
            r.badge == 0,
            "NBRecv with nothing pending returned badge {:#x}",
            r.badge
        );
        Ok(())
    })();
    step(me.tcb_unbind_notification(), "unbind")?;
    checks
}

/// Waits on its notification (root slot `cap`, bound to it) forever: after
/// each word, records it, counts, and signals the acknowledgement
/// notification in the next slot.
extern "C" fn wait_and_acknowledge(i: u64) -> ! {
    let n = shared(i).cap.load(Ordering::SeqCst);
    loop {
        let word = ntfn(n).wait();
        shared(i).value.store(word, Ordering::SeqCst);
        shared(i).counter.fetch_add(1, Ordering::SeqCst);
        ntfn(n + 1).signal();
    }
}

/// A thread bound to a notification Waits on that same notification and
/// gets 10 signals, each with its own badge, one at a time: with the
/// signaller below the waiter's priority and above it.
pub fn bound_waiter_on_its_own_notification(env: &Env) -> TestResult {
    set_own_priority(100)?;
    for (i, priority) in [(0, 150), (1, 50)] {
        let n = make(env, 12, ObjectType::Notification, 0, 2)?;
        let ack = badged(env, n + 1, 1)?;
        step(
            slot(n + 1).delete(),
            "keep only the badged acknowledgement cap",
        )?;
        step(slot(n + 1).move_(&slot(ack.cptr().bits())), "move it back")?;
        let t = spawn(env, wait_and_acknowledge, i as usize, i, priority)?;
        shared(i).cap.store(n, Ordering::SeqCst);
        step(t.tcb_bind_notification(ntfn(n)), "bind")?;
        step(t.tcb_resume(), "resume")?;
        for k in 0..10u64 {
            badged(env, n, 1 << k)?.signal();
            ensure!(
                ntfn(n + 1).wait() == 1,
                "priority {priority}: no acknowledgement"
            );
            let word = shared(i).value.load(Ordering::SeqCst);
            ensure!(
                count(i) == k + 1 && word == 1 << k,
                "priority {priority}, signal {k}: {} words, the last {word:#x}",
                count(i)
            );
        }
        step(t.tcb_suspend(), "stop the waiter")?;
    }
    Ok(())
}

/// Receives on its endpoint (`shared(i).cap`) forever, while its bound
/// notification may fire: records each badge and MR0 (in the upper half of
/// `value`), counts.
extern "C" fn receive_forever(i: u64) -> ! {
    let ep = crate::thread::endpoint_of(i);
    loop {
        let r = ep.recv(None);
        shared(i)
            .value
            .store(r.badge | (r.mrs[0] << 32), Ordering::SeqCst);
        shared(i).counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// A thread bound to a notification, receiving on an endpoint, gets 10
/// sends and 10 signals in turn, each told apart by its badge: a send's
/// badge (and its word), a signal's word.
pub fn bound_receiver_takes_sends_and_signals(env: &Env) -> TestResult {
    set_own_priority(100)?;
    let n = make(env, 12, ObjectType::Notification, 0, 1)?;
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let t = spawn(env, receive_forever, 0, 0, 150)?;
    shared(0).cap.store(ep, Ordering::SeqCst);
    step(t.tcb_bind_notification(ntfn(n)), "bind")?;
    step(t.tcb_resume(), "resume")?;
    for k in 0..10u64 {
        let sender = env.slots(1)?;
        step(
            slot(sender).mint(&slot(ep), CapRights::ALL, 0x1000 + k),
            "mint",
        )?;
        let sender: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(sender));
        sender.send(MessageInfo::new(0, 0, 0, 1), [7 + k, 0, 0, 0]);
        let seen = shared(0).value.load(Ordering::SeqCst);
        ensure!(
            count(0) == 2 * k + 1 && seen == (0x1000 + k) | ((7 + k) << 32),
            "send {k}: {} messages, the last {seen:#x}",
            count(0)
        );
        badged(env, n, 1 << k)?.signal();
        let seen = shared(0).value.load(Ordering::SeqCst) & 0xffff_ffff;
        ensure!(
            count(0) == 2 * k + 2 && seen == 1 << k,
            "signal {k}: {} messages, the last {seen:#x}",
            count(0)
        );
    }
    step(t.tcb_suspend(), "stop the receiver")
}
