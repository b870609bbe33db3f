//! Threads for tests: stacks, IPC buffers, the state a test thread shares
//! with the root task, and starting a thread in the root task's CSpace and
//! VSpace.
//!
//! Each test thread has its own IPC buffer: the program's IPC buffer page
//! (at `IPC_BUFFER_VADDR`, its frame cap in the root slot
//! `init_thread::IPC_BUFFER`) holds four 1 KiB buffers; the program's own
//! thread uses the first, test thread `i` the one after it.

use crate::support::step;
use crate::{Env, TestResult};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};
use keel_abi::bootinfo::IPC_BUFFER_VADDR;
use keel_abi::{IpcBuffer, ObjectType};
use keel_sys::cap::{init_thread, Endpoint, Reply, SchedContext, Tcb};
use keel_sys::sched::SchedContextFlags;
use keel_sys::tcb::UserContext;
use keel_sys::{CPtr, Cap};

const STACK_SIZE: usize = 16 * 1024;
/// log2 size of the scheduling contexts tests make.
pub const SC_BITS: u64 = keel_abi::object::MIN_SCHED_CONTEXT_BITS as u64;
/// The timeslice of a test thread's round-robin scheduling context.
pub const TIMESLICE_US: u64 = keel_abi::sched::ROOT_TIMESLICE_US;

/// A stack for a test thread.
#[repr(C, align(16))]
struct Stack(UnsafeCell<[u8; STACK_SIZE]>);
// SAFETY: each stack is used by at most one thread at a time; the root task
// only takes its address.
unsafe impl Sync for Stack {}

static STACKS: [Stack; 5] = [const { Stack(UnsafeCell::new([0; STACK_SIZE])) }; 5];

/// The top of test stack `i` (0..5).
pub fn stack_top(i: usize) -> u64 {
    STACKS[i].0.get() as u64 + STACK_SIZE as u64
}

/// Where test thread `i`'s IPC buffer lies (see the module documentation).
pub fn ipc_buffer_of(i: u64) -> *mut IpcBuffer {
    let quarter = 1 + i % SHARED.len() as u64;
    let at = IPC_BUFFER_VADDR + quarter * core::mem::size_of::<IpcBuffer>() as u64;
    at as usize as *mut IpcBuffer
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
    /// The thread's scheduling context cap (0: none).
    pub sc: AtomicU64,
    /// The Reply object the thread receives Calls with (0: none).
    pub reply: AtomicU64,
}

static SHARED: [Shared; 3] = [const {
    Shared {
        counter: AtomicU64::new(0),
        tcb: AtomicU64::new(0),
        cap: AtomicU64::new(0),
        value: AtomicU64::new(0),
        sc: AtomicU64::new(0),
        reply: AtomicU64::new(0),
    }
}; 3];

/// The shared state of test thread `i` (0, 1 or 2).
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

/// A configured scheduling context: `budget` µs every `period` µs (equal:
/// round robin), not bound yet.
pub fn sched_context(
    env: &Env,
    budget: u64,
    period: u64,
) -> Result<Cap<SchedContext>, alloc::string::String> {
    let s = crate::cases::retype::make(env, 12, ObjectType::SchedContext, SC_BITS, 1)?;
    let sc: Cap<SchedContext> = Cap::from_cptr(CPtr::from_bits(s));
    configure_context(sc, budget, period)?;
    Ok(sc)
}

/// Gives `sc` `budget` µs every `period` µs, with no extra refills, badge
/// or flags.
///
/// # Errors
/// A failed Configure.
pub fn configure_context(sc: Cap<SchedContext>, budget: u64, period: u64) -> TestResult {
    step(
        init_thread::SCHED_CONTROL.sched_control_configure_flags(
            sc,
            budget,
            period,
            0,
            0,
            SchedContextFlags::NONE,
        ),
        "configure a scheduling context",
    )
}

/// A thread in the root task's CSpace and VSpace, at `priority`, with a
/// round-robin scheduling context of [`TIMESLICE_US`], not yet started.
pub fn spawn(
    env: &Env,
    entry: extern "C" fn(u64) -> !,
    stack: usize,
    i: u64,
    priority: u64,
) -> Result<Cap<Tcb>, alloc::string::String> {
    let tcb = spawn_passive(env, entry, stack, i, priority)?;
    give_context(env, tcb, i)?;
    Ok(tcb)
}

/// As [`spawn`], for the TCB already in root slot `tcb_slot`.
pub fn spawn_in(
    env: &Env,
    tcb_slot: u64,
    entry: extern "C" fn(u64) -> !,
    stack: usize,
    i: u64,
    priority: u64,
) -> Result<Cap<Tcb>, alloc::string::String> {
    let tcb = prepare(tcb_slot, entry, stack, i, priority)?;
    give_context(env, tcb, i)?;
    Ok(tcb)
}

/// Binds test thread `i` (`tcb`) a round-robin context of [`TIMESLICE_US`].
fn give_context(env: &Env, tcb: Cap<Tcb>, i: u64) -> TestResult {
    let sc = sched_context(env, TIMESLICE_US, TIMESLICE_US)?;
    step(sc.sched_context_bind(tcb), "bind the scheduling context")?;
    shared(i).sc.store(sc.cptr().bits(), Ordering::SeqCst);
    Ok(())
}

/// As [`spawn`], without a scheduling context: the thread cannot run until
/// one is bound to it (or lent).
pub fn spawn_passive(
    env: &Env,
    entry: extern "C" fn(u64) -> !,
    stack: usize,
    i: u64,
    priority: u64,
) -> Result<Cap<Tcb>, alloc::string::String> {
    let s = crate::cases::retype::make(env, 12, ObjectType::Tcb, 0, 1)?;
    prepare(s, entry, stack, i, priority)
}

/// Test thread `i`: the TCB in root slot `s` set up to run `entry` in the
/// root task's CSpace and VSpace at `priority`, not started.
fn prepare(
    s: u64,
    entry: extern "C" fn(u64) -> !,
    stack: usize,
    i: u64,
    priority: u64,
) -> Result<Cap<Tcb>, alloc::string::String> {
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
    // SAFETY: the buffer lies in the program's IPC buffer page, mapped
    // writable for the program's lifetime from the frame `IPC_BUFFER`
    // names; test thread `i` alone uses this quarter of it.
    let given =
        unsafe { keel_sys::give_ipc_buffer(tcb, ipc_buffer_of(i), init_thread::IPC_BUFFER) };
    step(given, "give the IPC buffer")?;
    let ctx = UserContext::new_thread(entry, stack_top(stack), i);
    step(tcb.tcb_write_all_registers(false, &ctx), "write registers")?;
    let sh = shared(i);
    sh.counter.store(0, Ordering::SeqCst);
    sh.value.store(0, Ordering::SeqCst);
    sh.sc.store(0, Ordering::SeqCst);
    sh.reply.store(0, Ordering::SeqCst);
    sh.tcb.store(s, Ordering::SeqCst);
    Ok(tcb)
}

/// Restarts `tcb`, stopped in a system call, just past it (sel4test's
/// `restart_after_syscall`): the kernel puts a thread stopped in IPC back
/// on its system call, which a plain resume would make again.
///
/// # Errors
/// A failed ReadRegisters or WriteRegisters.
pub fn restart_after_syscall(tcb: Cap<Tcb>) -> TestResult {
    let mut ctx = step(tcb.tcb_read_all_registers(false), "read the registers")?;
    ctx.set_pc(ctx.pc() + keel_sys::arch::SYSCALL_INSTRUCTION_SIZE);
    step(
        tcb.tcb_write_all_registers(true, &ctx),
        "restart past the call",
    )
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

/// Stores `value` for test thread `i`, counts once and suspends the
/// thread for good.
pub fn report_and_stop(i: u64, value: u64) -> ! {
    let s = shared(i);
    s.value.store(value, Ordering::SeqCst);
    s.counter.fetch_add(1, Ordering::SeqCst);
    let me: Cap<Tcb> = Cap::from_cptr(CPtr::from_bits(s.tcb.load(Ordering::SeqCst)));
    loop {
        let _ = me.tcb_suspend();
    }
}

/// Counts once, then suspends itself.
pub extern "C" fn count_once(i: u64) -> ! {
    let s = shared(i);
    s.counter.fetch_add(1, Ordering::SeqCst);
    let me: Cap<Tcb> = Cap::from_cptr(CPtr::from_bits(s.tcb.load(Ordering::SeqCst)));
    let _ = me.tcb_suspend();
    keel_rt::halt(90)
}

/// Counts and yields, forever.
pub extern "C" fn count_and_yield(i: u64) -> ! {
    let s = shared(i);
    loop {
        s.counter.fetch_add(1, Ordering::SeqCst);
        let _ = keel_sys::r#yield();
    }
}

/// Counts in bursts of [`BURST`], yielding after each, forever.
pub extern "C" fn spin_and_yield(i: u64) -> ! {
    let s = shared(i);
    loop {
        for _ in 0..BURST {
            s.counter.fetch_add(1, Ordering::SeqCst);
        }
        let _ = keel_sys::r#yield();
    }
}

/// Counts of one [`spin_and_yield`] burst.
pub const BURST: u64 = 20_000;

/// Counts as fast as it can, forever, never blocking or yielding.
pub extern "C" fn spin(i: u64) -> ! {
    let s = shared(i);
    loop {
        s.counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// The calling thread's own scheduling context (the same slot in the root
/// task and in a test process).
pub fn own_sched_context() -> Cap<SchedContext> {
    init_thread::SCHED_CONTEXT
}

/// Runs the caller until `total_us` of time has been used by it and the
/// contexts `others` together, reading each context's `Consumed` as it
/// goes; returns the time each of `others` used, then the caller's.
/// The caller only runs while `others` leave it time, so this measures
/// the shares the kernel gives them.
///
/// # Errors
/// A failed `Consumed`.
pub fn share_out(
    total_us: u64,
    others: &[Cap<SchedContext>],
) -> Result<alloc::vec::Vec<u64>, alloc::string::String> {
    let me = own_sched_context();
    step(
        me.sched_context_consumed(),
        "reset the caller's consumed time",
    )?;
    let mut used = alloc::vec![0u64; others.len() + 1];
    for sc in others {
        step(sc.sched_context_consumed(), "reset a consumed time")?;
    }
    while used.iter().sum::<u64>() < total_us {
        for (sc, u) in others
            .iter()
            .chain(core::iter::once(&me))
            .zip(used.iter_mut())
        {
            *u += step(sc.sched_context_consumed(), "read a consumed time")?;
        }
    }
    Ok(used)
}

/// Sets the caller's priority (its own TCB is the authority).
///
/// # Errors
/// A failed `SetPriority`.
pub fn set_own_priority(priority: u64) -> TestResult {
    step(
        init_thread::TCB.tcb_set_priority(init_thread::TCB, priority),
        "set the caller's priority",
    )
}

/// Gives test thread `i` a Reply object to receive Calls with (see [`reply_of`]).
///
/// # Errors
/// When no untyped or slot is left.
pub fn give_reply(env: &Env, i: u64) -> TestResult {
    let reply = crate::support::reply_object(env)?;
    shared(i).reply.store(reply.cptr().bits(), Ordering::SeqCst);
    Ok(())
}

/// The endpoint cap test thread `i` was given (`shared(i).cap`).
pub fn endpoint_of(i: u64) -> Cap<Endpoint> {
    Cap::from_cptr(CPtr::from_bits(shared(i).cap.load(Ordering::SeqCst)))
}

/// Test thread `i`'s Reply object, if it was given one.
pub fn reply_of(i: u64) -> Option<Cap<Reply>> {
    match shared(i).reply.load(Ordering::SeqCst) {
        0 => None,
        r => Some(Cap::from_cptr(CPtr::from_bits(r))),
    }
}
