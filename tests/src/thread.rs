//! Threads for tests: stacks, the state a test thread shares with the root
//! task, and starting a thread in the root task's CSpace and VSpace.

use crate::support::step;
use crate::{Env, TestResult};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};
use keel_abi::ObjectType;
use keel_sys::cap::{init_thread, Tcb};
use keel_sys::tcb::UserContext;
use keel_sys::{CPtr, Cap};

const STACK_SIZE: usize = 16 * 1024;

/// A stack for a test thread.
#[repr(C, align(16))]
struct Stack(UnsafeCell<[u8; STACK_SIZE]>);
// SAFETY: each stack is used by at most one thread at a time; the root task
// only takes its address.
unsafe impl Sync for Stack {}

static STACKS: [Stack; 3] = [const { Stack(UnsafeCell::new([0; STACK_SIZE])) }; 3];

/// The top of test stack `i` (0..3).
pub fn stack_top(i: usize) -> u64 {
    STACKS[i].0.get() as u64 + STACK_SIZE as u64
}

/// What a test thread shares with the root task.
pub struct Shared {
    /// Counts the thread's rounds.
    pub counter: AtomicU64,
    /// The thread's own TCB cap.
    pub tcb: AtomicU64,
    /// A cap the thread works with (an endpoint or notification CPtr).
    pub cap: AtomicU64,
    /// A value the thread reports.
    pub value: AtomicU64,
}

static SHARED: [Shared; 2] = [const {
    Shared {
        counter: AtomicU64::new(0),
        tcb: AtomicU64::new(0),
        cap: AtomicU64::new(0),
        value: AtomicU64::new(0),
    }
}; 2];

/// The shared state of test thread `i` (0 or 1).
pub fn shared(i: u64) -> &'static Shared {
    &SHARED[i as usize % SHARED.len()]
}

/// As [`spawn`], with the endpoint in root slot `fault_ep` as its fault handler.
pub fn spawn_with_handler(
    env: &Env,
    entry: extern "C" fn(u64) -> !,
    stack: usize,
    i: u64,
    priority: u64,
    fault_ep: u64,
) -> Result<Cap<Tcb>, alloc::string::String> {
    let tcb = spawn(env, entry, stack, i, priority)?;
    let ep = CPtr::from_bits(fault_ep);
    step(
        tcb.tcb_set_space(ep, init_thread::CNODE, 0, init_thread::VSPACE),
        "set the fault endpoint",
    )?;
    Ok(tcb)
}

/// A thread in the root task's CSpace and VSpace, at `priority`, not yet started.
pub fn spawn(
    env: &Env,
    entry: extern "C" fn(u64) -> !,
    stack: usize,
    i: u64,
    priority: u64,
) -> Result<Cap<Tcb>, alloc::string::String> {
    let s = crate::cases::retype::make(env, 12, ObjectType::Tcb, 0, 1)?;
    let tcb: Cap<Tcb> = Cap::from_cptr(CPtr::from_bits(s));
    step(
        tcb.tcb_set_space(
            CPtr::from_bits(0),
            init_thread::CNODE,
            0,
            init_thread::VSPACE,
        ),
        "set space",
    )?;
    step(
        tcb.tcb_set_priority(init_thread::TCB, priority),
        "set priority",
    )?;
    let ctx = UserContext::new_thread(entry, stack_top(stack), i);
    step(tcb.tcb_write_all_registers(false, &ctx), "write registers")?;
    let sh = shared(i);
    sh.counter.store(0, Ordering::SeqCst);
    sh.value.store(0, Ordering::SeqCst);
    sh.tcb.store(s, Ordering::SeqCst);
    Ok(tcb)
}

/// How many rounds test thread `i` has counted.
pub fn count(i: u64) -> u64 {
    shared(i).counter.load(Ordering::SeqCst)
}

/// Yields `n` times.
pub fn yield_times(n: usize) -> TestResult {
    for _ in 0..n {
        step(keel_sys::r#yield(), "yield")?;
    }
    Ok(())
}
