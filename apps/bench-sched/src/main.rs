//! The MCS scheduling benchmark, started in the root task's place by
//! `cargo xtask bench sched` under QEMU `-icount` (one instruction, one
//! nanosecond of virtual time). It measures:
//!
//! - a Call + reply round trip to a server with its own scheduling context,
//!   and to the same server made passive (running on the caller's context);
//! - the shares three CPU-bound threads get from contexts of 50%, 33% and
//!   17% of one period, over windows of one second of virtual time, as the
//!   kernel accounts them (`SchedContext_Consumed`);
//! - the cost of budget enforcement: from the last instruction a thread runs
//!   before its budget ends to the first the next thread runs (the timer
//!   interrupt, the charge, the switch), seen by the threads themselves,
//!   which stamp the cycle counter in a tight loop.
//!
//! Lines: `BENCH call-active-server 0 <instructions>`, `BENCH
//! call-passive-server 0 <instructions>`, `BENCH share-<percent>
//! <configured ppm> <measured ppm>` per window, `BENCH enforcement 0
//! <instructions>` per switch, `BENCH counter-overhead 0 <instructions>`.
#![no_std]
#![no_main]

extern crate alloc;

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};
use keel_abi::{BootInfo, MessageInfo, ObjectType};
use keel_bench::{answered, at, counter_overhead, prepare_thread, smallest_untyped, Failure, Step};
use keel_rt::println;
use keel_sys::arch::cycle_counter;
use keel_sys::cap::{init_thread, Endpoint, Reply, SchedContext, Tcb, Untyped};
use keel_sys::sched::SchedContextFlags;
use keel_sys::tcb::UserContext;
use keel_sys::{CPtr, Cap, InvocationError};

keel_rt::main!(main);

/// The period of the three contexts, µs.
const PERIOD_US: u64 = 10_000;
/// Their budgets: 50%, 33% and 17% of the period.
const BUDGETS_US: [u64; 3] = [5_000, 3_300, 1_700];
/// The length of one measuring window, µs of accounted time.
const WINDOW_US: u64 = 1_000_000;
/// Windows measured.
const WINDOWS: usize = 3;
/// Calls timed per server kind.
const CALLS: usize = 50;
/// The controller (this thread) wakes once per this period to read the
/// contexts, on a budget far below what it could use.
const CONTROLLER_PERIOD_US: u64 = 100_000;
const CONTROLLER_BUDGET_US: u64 = 500;
/// Priorities: the controller above the measured threads.
const CONTROLLER_PRIORITY: u64 = 255;
const SPINNER_PRIORITY: u64 = 100;
/// log2 size of the scheduling contexts made here.
const SC_BITS: u64 = keel_abi::object::MIN_SCHED_CONTEXT_BITS as u64;
/// Who stamped [`LAST`] last: a spinner's index, or this.
const CONTROLLER: u64 = 3;
/// Enforcement samples kept.
const MAX_GAPS: usize = 512;

const STACK_SIZE: usize = 8 * 1024;

#[repr(C, align(16))]
struct Stacks(UnsafeCell<[[u8; STACK_SIZE]; 4]>);
// SAFETY: each stack is used by one thread only; this thread only takes addresses.
unsafe impl Sync for Stacks {}
static STACKS: Stacks = Stacks(UnsafeCell::new([[0; STACK_SIZE]; 4]));

fn stack_top(i: usize) -> u64 {
    STACKS.0.get() as u64 + ((i + 1) * STACK_SIZE) as u64
}

/// The last cycle-counter stamp of any spinner, and whose it was, in one
/// word (`stamp << 2 | owner`) so a switch between the two cannot split them.
static LAST: AtomicU64 = AtomicU64::new(CONTROLLER);
/// The shortest gap between two stamps of one spinner (one loop iteration).
static STEP: AtomicU64 = AtomicU64::new(u64::MAX);
/// Gaps between one spinner's last stamp and the next spinner's first.
static GAPS: [AtomicU64; MAX_GAPS] = [const { AtomicU64::new(0) }; MAX_GAPS];
static GAP_COUNT: AtomicU64 = AtomicU64::new(0);
/// The server's endpoint and Reply object.
static SERVER_EP: AtomicU64 = AtomicU64::new(0);
static SERVER_REPLY: AtomicU64 = AtomicU64::new(0);

fn cap<T: keel_sys::cap::CapKind>(bits: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(bits))
}

/// Stamps the cycle counter forever; records the gap when the previous
/// stamp was another spinner's (a switch at the end of its budget). A
/// thread switched out between reading the counter and storing the stamp
/// finds a newer stamp when it comes back: that one is skipped.
extern "C" fn spinner(i: u64) -> ! {
    loop {
        let now = cycle_counter();
        let prev = LAST.swap(now << 2 | i, Ordering::Relaxed);
        let (prev_stamp, prev_owner) = (prev >> 2, prev & 3);
        let Some(gap) = now.checked_sub(prev_stamp) else {
            continue;
        };
        if prev_owner == i {
            STEP.fetch_min(gap, Ordering::Relaxed);
        } else if prev_owner != CONTROLLER {
            let n = GAP_COUNT.fetch_add(1, Ordering::Relaxed) as usize;
            if let Some(slot) = GAPS.get(n) {
                slot.store(gap, Ordering::Relaxed);
            }
        }
    }
}

/// Answers every Call at once (a reply of the same length).
extern "C" fn server(_: u64) -> ! {
    let ep: Cap<Endpoint> = cap(SERVER_EP.load(Ordering::SeqCst));
    let reply: Cap<Reply> = cap(SERVER_REPLY.load(Ordering::SeqCst));
    let mut r = ep.recv(Some(reply));
    loop {
        let info = MessageInfo::new(0, 0, 0, r.info.length() as u64);
        r = ep.reply_recv(info, r.mrs, reply);
    }
}

fn main(boot_info: &'static BootInfo) -> u32 {
    keel_bench::finish(run(boot_info))
}

/// Slots and objects this benchmark makes.
struct Objects {
    ut: Cap<Untyped>,
    next: u64,
}

impl Objects {
    fn make(&mut self, ty: ObjectType, size_bits: u64) -> Step<u64> {
        let slot = self.next;
        self.next += 1;
        let here = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
        at(
            "retype",
            self.ut.untyped_retype(ty, size_bits, &here, slot, 1),
        )?;
        Ok(slot)
    }

    /// A thread at `priority` running `entry(arg)` on stack `stack`, on a
    /// context of `budget` µs per `period` µs, started.
    fn thread(
        &mut self,
        entry: extern "C" fn(u64) -> !,
        arg: u64,
        stack: usize,
        priority: u64,
        budget: u64,
        period: u64,
    ) -> Step<(Cap<Tcb>, Cap<SchedContext>)> {
        let t: Cap<Tcb> = cap(self.make(ObjectType::Tcb, 0)?);
        let sc: Cap<SchedContext> = cap(self.make(ObjectType::SchedContext, SC_BITS)?);
        prepare_thread(t, sc, priority, budget, period)?;
        let ctx = UserContext::new_thread(entry, stack_top(stack), arg);
        at("start", t.tcb_write_all_registers(true, &ctx))?;
        Ok((t, sc))
    }
}

fn configure(sc: Cap<SchedContext>, budget: u64, period: u64) -> Result<(), InvocationError> {
    init_thread::SCHED_CONTROL.sched_control_configure_flags(
        sc,
        budget,
        period,
        0,
        0,
        SchedContextFlags::NONE,
    )
}

fn run(boot_info: &'static BootInfo) -> Step<()> {
    let overhead = counter_overhead();
    println!("BENCH counter-overhead 0 {overhead}");
    let ut = smallest_untyped(boot_info, 16, None)?;
    let mut objects = Objects {
        ut: cap(ut),
        next: boot_info.empty.start,
    };
    calls(&mut objects, overhead)?;
    shares(&mut objects)
}

/// Times Calls to a server with its own context, then to it made passive.
fn calls(objects: &mut Objects, overhead: u64) -> Step<()> {
    let ep = objects.make(ObjectType::Endpoint, 0)?;
    SERVER_EP.store(ep, Ordering::SeqCst);
    SERVER_REPLY.store(objects.make(ObjectType::Reply, 0)?, Ordering::SeqCst);
    let slice = keel_abi::sched::ROOT_TIMESLICE_US;
    let (t, sc) = objects.thread(server, 0, 3, CONTROLLER_PRIORITY, slice, slice)?;
    // Let it run into its first receive.
    at("yield", keel_sys::r#yield())?;
    let endpoint: Cap<Endpoint> = cap(ep);
    let info = MessageInfo::new(0, 0, 0, 1);
    for kind in ["active", "passive"] {
        if kind == "passive" {
            at("make the server passive", sc.sched_context_unbind())?;
        }
        let mut ticks = [0u64; CALLS];
        for t in ticks.iter_mut() {
            let t0 = cycle_counter();
            let reply = endpoint.call(info, [1, 0, 0, 0]).info;
            let t1 = cycle_counter();
            answered(format_args!("call-{kind}-server 0"), reply, 0, 1)?;
            *t = (t1 - t0).saturating_sub(overhead);
        }
        for t in ticks {
            println!("BENCH call-{kind}-server 0 {t}");
        }
    }
    at("stop the server", t.tcb_suspend())
}

/// Runs the three spinners against their budgets and reports their shares
/// and the enforcement switches they saw.
fn shares(objects: &mut Objects) -> Step<()> {
    let me = init_thread::SCHED_CONTEXT;
    let mut contexts = [me; 4];
    let mut threads = [init_thread::TCB; 3];
    for (i, budget) in BUDGETS_US.into_iter().enumerate() {
        let (t, sc) = objects.thread(spinner, i as u64, i, SPINNER_PRIORITY, budget, PERIOD_US)?;
        contexts[i] = sc;
        threads[i] = t;
    }
    at(
        "the controller's budget",
        configure(me, CONTROLLER_BUDGET_US, CONTROLLER_PERIOD_US),
    )?;
    for _ in 0..WINDOWS {
        for sc in contexts {
            at("reset consumed", sc.sched_context_consumed())?;
        }
        let mut used = [0u64; 4];
        while used.iter().sum::<u64>() < WINDOW_US {
            // Sleep until the next refill: the spinners run meanwhile.
            at("yield", keel_sys::r#yield())?;
            LAST.store(CONTROLLER, Ordering::Relaxed);
            for (sc, u) in contexts.iter().zip(used.iter_mut()) {
                *u += at("consumed", sc.sched_context_consumed())?;
            }
            LAST.store(CONTROLLER, Ordering::Relaxed);
        }
        let total: u64 = used.iter().sum();
        if used[..BUDGETS_US.len()].contains(&0) {
            return Err(Failure::new(alloc::format!(
                "share-*: a spinner was accounted no time ({used:?})"
            )));
        }
        for (i, budget) in BUDGETS_US.into_iter().enumerate() {
            let configured = budget * 1_000_000 / PERIOD_US;
            let measured = used[i] * 1_000_000 / total.max(1);
            println!(
                "BENCH share-{} {configured} {measured}",
                (configured + 5_000) / 10_000
            );
        }
    }
    for t in threads {
        at("stop a spinner", t.tcb_suspend())?;
    }
    let slice = keel_abi::sched::ROOT_TIMESLICE_US;
    at(
        "the controller's timeslice back",
        configure(me, slice, slice),
    )?;
    // A gap less one loop iteration (which holds one counter read) is the
    // switch itself.
    let step = STEP.load(Ordering::Relaxed);
    let gaps = (GAP_COUNT.load(Ordering::Relaxed) as usize).min(MAX_GAPS);
    if gaps == 0 || step == u64::MAX {
        return Err(Failure::new(
            "enforcement 0: the spinners saw no switch between them",
        ));
    }
    for g in GAPS.iter().take(gaps) {
        let switch = g.load(Ordering::Relaxed).saturating_sub(step);
        println!("BENCH enforcement 0 {switch}");
    }
    Ok(())
}
