//! TIMEOUTFAULT: a thread whose budget runs out while it has a timeout
//! endpoint sends a timeout fault there, with its context's badge and the
//! time it used; the handler's reply lets it go on at its next refill.
//!
//! The caller is the handler: it receives with a Reply object and answers
//! with a Send on it. As seL4's TimeoutReply, a reply with label 0 resumes
//! the thread and writes its words into the registers in `TcbWriteRegisters`
//! order; another label leaves the thread stopped.

use super::retype::make;
use crate::support::{expect_error, reply_object, slot, step};
use crate::thread::{
    count, sched_context, set_own_priority, share_out, shared, spawn_passive, spin, stack_top,
};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::fault::{self as layout, FaultType};
use keel_abi::{CapRights, MessageInfo, ObjectType};
use keel_sys::cap::{init_thread, Endpoint, SchedContext, Tcb};
use keel_sys::ipc::Received;
use keel_sys::sched::SchedContextFlags;
use keel_sys::tcb::UserContext;
use keel_sys::{CPtr, Cap};

/// The badge of the handler's endpoint cap.
const HANDLER_BADGE: u64 = 5;

/// An endpoint (slot) and a badged copy of it for threads to fault to.
fn handler_endpoint(env: &Env) -> Result<(Cap<Endpoint>, Cap<Endpoint>), alloc::string::String> {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let badged = env.slots(1)?;
    step(
        slot(badged).mint(&slot(ep), CapRights::ALL, HANDLER_BADGE),
        "mint the handler's cap",
    )?;
    Ok((
        Cap::from_cptr(CPtr::from_bits(ep)),
        Cap::from_cptr(CPtr::from_bits(badged)),
    ))
}

/// A spinning thread `i` at priority 200 with `budget` µs per 10 ms and
/// the context badge `badge`, its timeout endpoint `timeout`, started.
fn spinner(
    env: &Env,
    i: u64,
    badge: u64,
    budget: u64,
    timeout: Option<Cap<Endpoint>>,
) -> Result<(Cap<Tcb>, Cap<SchedContext>), alloc::string::String> {
    let t = spawn_passive(env, spin, i as usize, i, 200)?;
    let sc = sched_context(env, budget, 10_000)?;
    step(
        init_thread::SCHED_CONTROL.sched_control_configure_flags(
            sc,
            budget,
            10_000,
            0,
            badge,
            SchedContextFlags::NONE,
        ),
        "configure with a badge",
    )?;
    step(sc.sched_context_bind(t), "bind")?;
    step(
        t.tcb_set_timeout_endpoint(timeout),
        "set the timeout endpoint",
    )?;
    step(t.tcb_resume(), "resume")?;
    Ok((t, sc))
}

/// Checks `r` is a timeout fault on the handler's cap with `badge`, and
/// returns the consumed time it reports.
fn timeout_fault(r: &Received, badge: u64) -> Result<u64, alloc::string::String> {
    ensure!(
        r.info.label() == FaultType::Timeout as u64 && r.badge == HANDLER_BADGE,
        "expected a timeout fault on badge {HANDLER_BADGE}, got label {} badge {}",
        r.info.label(),
        r.badge
    );
    ensure!(
        r.info.length() == layout::TIMEOUT_LENGTH,
        "timeout fault of {} words",
        r.info.length()
    );
    ensure!(
        r.mrs[layout::TIMEOUT_DATA] == badge,
        "the fault carries badge {:#x}, not the context's {badge:#x}",
        r.mrs[layout::TIMEOUT_DATA]
    );
    Ok(r.mrs[layout::TIMEOUT_CONSUMED])
}

pub fn delivered_with_badge_and_time(env: &Env) -> TestResult {
    let (ep, badged) = handler_endpoint(env)?;
    let (t, _) = spinner(env, 0, 0x77, 1_000, Some(badged))?;
    let r = ep.recv(None);
    step(t.tcb_suspend(), "suspend")?;
    let consumed = timeout_fault(&r, 0x77)?;
    ensure!(
        (900..=1_300).contains(&consumed),
        "a 1 ms budget ran out after {consumed} µs"
    );
    ensure!(count(0) > 0, "the thread never ran");
    Ok(())
}

pub fn reply_resumes_at_next_refill(env: &Env) -> TestResult {
    let (ep, badged) = handler_endpoint(env)?;
    let reply = reply_object(env)?;
    let (t, _) = spinner(env, 0, 1, 1_000, Some(badged))?;
    timeout_fault(&ep.recv(Some(reply)), 1)?;
    let first = count(0);
    reply.reply(MessageInfo::new(0, 0, 0, 0), [0; 4]);
    let r = ep.recv(Some(reply));
    step(t.tcb_suspend(), "suspend")?;
    let consumed = timeout_fault(&r, 1)?;
    ensure!(count(0) > first, "the thread did not run after the reply");
    ensure!(
        (900..=1_300).contains(&consumed),
        "the second refill ran out after {consumed} µs"
    );
    Ok(())
}

pub fn round_robin_raises_none(env: &Env) -> TestResult {
    let (ep, badged) = handler_endpoint(env)?;
    set_own_priority(200)?;
    let t = spawn_passive(env, spin, 0, 0, 200)?;
    let sc = sched_context(env, 1_000, 1_000)?;
    step(sc.sched_context_bind(t), "bind")?;
    step(
        t.tcb_set_timeout_endpoint(Some(badged)),
        "set the timeout endpoint",
    )?;
    step(t.tcb_resume(), "resume")?;
    share_out(20_000, &[sc])?;
    let r = ep.nb_recv(None);
    step(t.tcb_suspend(), "suspend")?;
    ensure!(
        r.badge == 0,
        "a round-robin thread raised a fault (label {})",
        r.info.label()
    );
    ensure!(count(0) > 0, "the round-robin thread never ran");
    Ok(())
}

pub fn no_endpoint_only_throttles(env: &Env) -> TestResult {
    let (ep, badged) = handler_endpoint(env)?;
    let t = spawn_passive(env, spin, 0, 0, 200)?;
    step(
        t.tcb_set_space(badged.cptr(), init_thread::CNODE, 0, init_thread::VSPACE),
        "set the fault endpoint only",
    )?;
    let sc = sched_context(env, 1_000, 10_000)?;
    step(sc.sched_context_bind(t), "bind")?;
    step(t.tcb_resume(), "resume")?;
    set_own_priority(100)?;
    let used = share_out(50_000, &[sc])?;
    let r = ep.nb_recv(None);
    step(t.tcb_suspend(), "suspend")?;
    ensure!(
        r.badge == 0,
        "the fault endpoint heard label {}",
        r.info.label()
    );
    ensure!(
        used[0] >= 3_000,
        "the throttled thread used only {} µs in 50 ms",
        used[0]
    );
    Ok(())
}

pub fn set_and_clear_errors(env: &Env) -> TestResult {
    let (ep, badged) = handler_endpoint(env)?;
    let t = spawn_passive(env, spin, 0, 0, 200)?;
    let not_ep: Cap<Endpoint> = init_thread::CNODE.cast();
    expect_error(
        t.tcb_set_timeout_endpoint(Some(not_ep)),
        keel_abi::Error::InvalidCapability,
        "a CNode as the timeout endpoint",
    )?;
    step(t.tcb_set_timeout_endpoint(Some(badged)), "set")?;
    step(t.tcb_set_timeout_endpoint(None), "clear")?;
    let sc = sched_context(env, 1_000, 10_000)?;
    step(sc.sched_context_bind(t), "bind")?;
    step(t.tcb_resume(), "resume")?;
    set_own_priority(100)?;
    share_out(30_000, &[sc])?;
    let r = ep.nb_recv(None);
    step(t.tcb_suspend(), "suspend")?;
    ensure!(r.badge == 0, "a cleared timeout endpoint got a fault");
    ensure!(count(0) > 0, "the thread never ran");
    Ok(())
}

/// Where the handler restarts a thread: it records that it got there.
extern "C" fn restarted(i: u64) -> ! {
    shared(i).value.store(0xabc, Ordering::SeqCst);
    let me: Cap<Tcb> = Cap::from_cptr(CPtr::from_bits(shared(i).tcb.load(Ordering::SeqCst)));
    let _ = me.tcb_suspend();
    keel_rt::halt(96)
}

pub fn handler_restarts_thread(env: &Env) -> TestResult {
    let (ep, badged) = handler_endpoint(env)?;
    let reply = reply_object(env)?;
    let (t, sc) = spinner(env, 0, 2, 1_000, Some(badged))?;
    timeout_fault(&ep.recv(Some(reply)), 2)?;
    let ctx = UserContext::new_thread(restarted, stack_top(0), 0);
    step(t.tcb_write_all_registers(false, &ctx), "move the thread")?;
    reply.reply(MessageInfo::new(0, 0, 0, 0), [0; 4]);
    set_own_priority(100)?;
    share_out(30_000, &[sc])?;
    ensure!(
        shared(0).value.load(Ordering::SeqCst) == 0xabc,
        "the restarted thread did not run from its new entry"
    );
    Ok(())
}

/// Where TIMEOUTFAULT0009's reply moves a thread: records `mark`, which
/// only the reply's registers give it, and stops.
extern "C" fn moved(mark: u64) -> ! {
    shared(1).value.store(mark, Ordering::SeqCst);
    let me: Cap<Tcb> = Cap::from_cptr(CPtr::from_bits(shared(1).tcb.load(Ordering::SeqCst)));
    let _ = me.tcb_suspend();
    keel_rt::halt(97)
}

pub fn reply_label_and_registers(env: &Env) -> TestResult {
    let (ep, badged) = handler_endpoint(env)?;
    let reply = reply_object(env)?;
    let (refused, sc0) = spinner(env, 0, 3, 1_000, Some(badged))?;
    timeout_fault(&ep.recv(Some(reply)), 3)?;
    reply.reply(MessageInfo::new(1, 0, 0, 0), [0; 4]);
    let before = count(0);
    set_own_priority(100)?;
    share_out(30_000, &[sc0])?;
    let again = ep.nb_recv(None);
    step(refused.tcb_suspend(), "suspend")?;
    ensure!(
        count(0) == before && again.badge == 0,
        "a reply with label 1 resumed the thread"
    );
    let (t, sc1) = spinner(env, 1, 4, 1_000, Some(badged))?;
    timeout_fault(&ep.recv(Some(reply)), 4)?;
    let ctx = UserContext::new_thread(moved, stack_top(1), 0xfeed);
    let words = ctx.words();
    for (i, &w) in words.iter().enumerate().skip(4) {
        step(keel_sys::ipc::set_mr(i, w), "set a message register")?;
    }
    let info = MessageInfo::new(0, 0, 0, words.len() as u64);
    reply.reply(info, [words[0], words[1], words[2], words[3]]);
    share_out(30_000, &[sc1])?;
    let mark = shared(1).value.load(Ordering::SeqCst);
    step(t.tcb_suspend(), "suspend")?;
    ensure!(
        mark == 0xfeed,
        "the thread did not run at the reply's PC with its registers ({mark:#x})"
    );
    Ok(())
}

pub fn each_context_its_badge(env: &Env) -> TestResult {
    let (ep, badged) = handler_endpoint(env)?;
    let (a, _) = spinner(env, 0, 0x10, 1_000, Some(badged))?;
    let (b, _) = spinner(env, 1, 0x20, 1_000, Some(badged))?;
    let first = ep.recv(None);
    let second = ep.recv(None);
    step(a.tcb_suspend(), "suspend a")?;
    step(b.tcb_suspend(), "suspend b")?;
    let mut seen = [
        first.mrs[layout::TIMEOUT_DATA],
        second.mrs[layout::TIMEOUT_DATA],
    ];
    seen.sort_unstable();
    ensure!(
        seen == [0x10, 0x20],
        "the two faults carried badges {seen:x?}"
    );
    for r in [&first, &second] {
        ensure!(
            r.info.label() == FaultType::Timeout as u64,
            "a fault of label {}",
            r.info.label()
        );
    }
    Ok(())
}
