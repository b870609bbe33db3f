//! keel-rt and keel-sys with several threads in one program: the heap under
//! preemption, each thread's own IPC buffer, and an invocation's error
//! detail returned with the error rather than kept in a global. The threads
//! run at the test's priority on short round-robin budgets, so the kernel
//! preempts them at arbitrary points (inside the allocator, between filling
//! the IPC buffer and the Call) and they interleave.

use crate::cases::retype::make;
use crate::support::{expect_detail, reply_object, step};
use crate::thread::{report_and_stop, sched_context, shared, spawn_passive};
use crate::{ensure, Env, TestResult};
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use keel_abi::{Error, MessageInfo, ObjectType};
use keel_sys::cap::{init_thread, Endpoint, Tcb};
use keel_sys::ipc::{mr, set_mr};
use keel_sys::{CPtr, Cap};

/// The priority of the test's threads: the test process's own.
const PRIORITY: u64 = 255;
/// The threads' round-robin timeslice: short, so they are preempted often.
const SLICE_US: u64 = 50;
/// Allocation rounds per thread.
const ROUNDS: u64 = 3_000;
/// Blocks a thread keeps alive at once.
const LIVE: usize = 24;
/// Calls per thread.
const CALLS: u64 = 300;
/// Words of each Call (most of them in the IPC buffer).
const LENGTH: usize = 40;
/// Yields the test waits for its threads before it gives up.
const PATIENCE: u64 = 2_000_000;

/// What a thread reports in `value` when it found nothing wrong.
const CLEAN: u64 = u64::MAX;

/// Test threads 0 and 1 set up to run `entry` at [`PRIORITY`], each on a
/// round-robin context of [`SLICE_US`]; not started.
fn pair(env: &Env, entry: extern "C" fn(u64) -> !) -> Result<[Cap<Tcb>; 2], String> {
    let mut tcbs = [init_thread::TCB; 2];
    for (i, tcb) in tcbs.iter_mut().enumerate() {
        let t = spawn_passive(env, entry, i, i as u64, PRIORITY)?;
        let sc = sched_context(env, SLICE_US, SLICE_US)?;
        step(sc.sched_context_bind(t), "bind a short budget")?;
        *tcb = t;
    }
    Ok(tcbs)
}

/// Starts both threads of a [`pair`].
fn resume(tcbs: [Cap<Tcb>; 2]) -> TestResult {
    for t in tcbs {
        step(t.tcb_resume(), "resume")?;
    }
    Ok(())
}

/// Yields until test threads 0 and 1 have both counted once, then checks
/// that both reported [`CLEAN`].
fn await_pair(what: &str) -> TestResult {
    let mut waited = 0;
    while shared(0).counter.load(Ordering::SeqCst) == 0
        || shared(1).counter.load(Ordering::SeqCst) == 0
    {
        ensure!(waited < PATIENCE, "{what}: the threads did not finish");
        step(keel_sys::r#yield(), "yield")?;
        waited += 1;
    }
    for i in 0..2 {
        let v = shared(i).value.load(Ordering::SeqCst);
        ensure!(v == CLEAN, "{what}: thread {i} found a fault at round {v}");
    }
    Ok(())
}

/// The word at `k` of thread `i`'s block or message of round `round`.
fn word(i: u64, round: u64, k: u64) -> u64 {
    (i << 56) | (round << 24) | k
}

/// Whether `block` still holds what thread `i` wrote into it in `round`.
fn intact(block: &[u64], i: u64, round: u64) -> bool {
    block
        .iter()
        .enumerate()
        .all(|(k, &w)| w == word(i, round, k as u64))
}

/// Allocates blocks of varying sizes, fills each with a pattern of its
/// own, keeps [`LIVE`] of them and frees the oldest, checking its pattern:
/// a block another thread was also given, or a heap whose lists were torn,
/// shows as a changed pattern. Returns the first bad round, or [`CLEAN`].
fn churn_rounds(i: u64) -> u64 {
    let mut live: Vec<(u64, Vec<u64>)> = Vec::with_capacity(LIVE);
    for round in 0..ROUNDS {
        let len = 1 + (round * 37 + i * 11) % 160;
        live.push((round, (0..len).map(|k| word(i, round, k)).collect()));
        if live.len() == LIVE {
            let (r, block) = live.remove(0);
            if !intact(&block, i, r) {
                return r;
            }
        }
    }
    live.iter()
        .find(|(r, block)| !intact(block, i, *r))
        .map_or(CLEAN, |(r, _)| *r)
}

/// Test thread `i`: [`churn_rounds`], then reports.
extern "C" fn churn(i: u64) -> ! {
    let result = churn_rounds(i);
    report_and_stop(i, result)
}

pub fn heap_under_preemption(env: &Env) -> TestResult {
    let threads = pair(env, churn)?;
    let before = keel_rt::heap_used();
    resume(threads)?;
    await_pair("allocating")?;
    let after = keel_rt::heap_used();
    ensure!(
        after == before,
        "{before} heap bytes in use before the threads, {after} after"
    );
    Ok(())
}

/// One Call of thread `i`'s round `round`, through its own IPC buffer: the
/// answer must be every word plus one.
fn call_once(ep: Cap<Endpoint>, i: u64, round: u64) -> Result<(), Error> {
    for k in 4..LENGTH {
        set_mr(k, word(i, round, k as u64))?;
    }
    let first = [0, 1, 2, 3].map(|k| word(i, round, k));
    let info = MessageInfo::new(i + 1, 0, 0, LENGTH as u64);
    let r = ep.call(info, first);
    let answered =
        r.info.label() == i + 1 && r.info.length() == LENGTH && r.mrs == first.map(|w| w + 1);
    if !answered {
        return Err(Error::InvalidArgument);
    }
    for k in 4..LENGTH {
        if mr(k)? != word(i, round, k as u64) + 1 {
            return Err(Error::InvalidArgument);
        }
    }
    Ok(())
}

/// Test thread `i`: [`CALLS`] long Calls to the endpoint in `shared(i).cap`
/// (all of them, so that the server's count comes out); reports the first
/// round whose answer was wrong.
extern "C" fn caller(i: u64) -> ! {
    let ep = crate::thread::endpoint_of(i);
    let mut first_bad = CLEAN;
    for round in 0..CALLS {
        if call_once(ep, i, round).is_err() {
            first_bad = first_bad.min(round);
        }
    }
    report_and_stop(i, first_bad)
}

pub fn ipc_buffer_per_thread(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let reply = reply_object(env)?;
    for i in 0..2 {
        shared(i).cap.store(ep, Ordering::SeqCst);
    }
    resume(pair(env, caller)?)?;
    // Serve every Call, adding one to each word, through this thread's own
    // IPC buffer; the callers fill theirs meanwhile.
    let endpoint: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(ep));
    let mut r = endpoint.recv(Some(reply));
    for served in 1..=2 * CALLS {
        let n = r.info.length();
        for k in 4..n {
            let w = step(mr(k), "read a message word")?;
            step(set_mr(k, w + 1), "write an answer word")?;
        }
        let info = MessageInfo::new(r.info.label(), 0, 0, n as u64);
        let answer = r.mrs.map(|w| w + 1);
        if served == 2 * CALLS {
            reply.reply(info, answer);
        } else {
            r = endpoint.reply_recv(info, answer, reply);
        }
    }
    await_pair("calling")
}

/// Test thread `i`: with its MCP at `shared(i).cap`, asks its own TCB (as
/// the authority) for one priority more, [`CALLS`] times; each
/// RangeError must name its own MCP as the largest allowed.
extern "C" fn exceed_mcp(i: u64) -> ! {
    let s = shared(i);
    let mcp = s.cap.load(Ordering::SeqCst);
    let me: Cap<Tcb> = Cap::from_cptr(CPtr::from_bits(s.tcb.load(Ordering::SeqCst)));
    let bad = (0..CALLS).find(|_| {
        let r = me.tcb_set_priority(me, mcp + 1);
        !r.is_err_and(|e| e == Error::RangeError && e.range() == Some((0, mcp)))
    });
    report_and_stop(i, bad.unwrap_or(CLEAN))
}

pub fn error_detail_per_call(env: &Env) -> TestResult {
    let [a, b] = pair(env, exceed_mcp)?;
    for (i, (t, mcp)) in [(a, 40), (b, 90)].into_iter().enumerate() {
        step(t.tcb_set_mc_priority(init_thread::TCB, mcp), "set the MCP")?;
        shared(i as u64).cap.store(mcp, Ordering::SeqCst);
    }
    let detail = expect_detail(
        a.tcb_set_priority(a, 41),
        Error::RangeError,
        "a priority above thread 0's MCP",
    )?;
    ensure!(detail == [0, 40], "the root task saw detail {detail:?}");
    resume([a, b])?;
    await_pair("failing")
}
