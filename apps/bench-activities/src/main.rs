//! The activities benchmark, started in the root task's place by `cargo
//! xtask bench activities` under QEMU `-icount` (one instruction, one
//! nanosecond of virtual time; the cycle counter counts instructions).
//! This program is init: keel-init starts the scheduler server from a
//! manifest made here, with three activities entitled to 50%, 33% and 17%
//! of what activities may have (45%, 29.7% and 15.3% of a core: 10% is kept
//! back). Their threads are CPU-bound threads of this program, made without
//! a context and admitted through the scheduler protocol, so the scheduler
//! server holds every context they run on; a background thread below them
//! on a context of its own takes the time they leave, so no time is idle.
//!
//! Vortex's Figure 8: for [`WINDOWS`] windows of one second of accounted
//! time each activity's share, read through the server's usage query; then
//! again with activity 1 running four threads. The window's time is every
//! context's: the activities' (from the server), the background thread's,
//! the scheduler server's and this thread's (read with `Consumed`).
//!
//! Then Vortex's Figure 11 ([`fig11`]): requests through a chain of
//! servers ([`chain`]) that keep consumption records, every server passive
//! and again with the middle one active.
//!
//! Lines: `BENCH fig8-<threads>-a<activity> <entitled ppm> <measured ppm>`
//! per window (threads 1 or 4), `BENCH usage-query 0 <instructions>`,
//! `BENCH timeout-fault 0 <instructions>` (the scheduler server's time per
//! timeout fault over a window, less its usage queries), `BENCH
//! counter-overhead 0 <instructions>`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use keel_abi::archive::Archive;
use keel_abi::manifest::{Activity, Manifest, Program, Restart, Role, Sched};
use keel_abi::{BootInfo, ObjectType};
use keel_bench::system::{client_cap, init_step};
use keel_bench::{at, counter_overhead, failed, prepare_thread, smallest_untyped, Failure, Step};
use keel_init::{Resources, System, SCRATCH_VADDR};
use keel_protocols::cap::Grant;
use keel_protocols::scheduler::{SchedulerClient, USAGE};
use keel_protocols::sys::EndpointClient;
use keel_protocols::{ActivityId, ClientBadge, ClientId, Rights};
use keel_rt::println;
use keel_sys::arch::cycle_counter;
use keel_sys::cap::{init_thread, CapKind, SchedContext, Tcb, Untyped};
use keel_sys::sched::SchedContextFlags;
use keel_sys::tcb::UserContext;
use keel_sys::{CPtr, Cap, Error};

mod chain;
mod fig11;

keel_rt::main!(main);

/// The scheduler server's index in the manifest.
const SCHEDULER: usize = 1;
/// Its priority, above the activities whose faults it takes. It runs on a
/// round-robin context (never throttled): on a sporadic one of 1 ms every
/// 10 ms its many short runs split its refills, it was throttled while
/// faults waited for its answer, and the activities lost whole periods
/// (measured: 22.5% of a 45% entitlement).
const SCHEDULER_PRIORITY: u8 = 200;
/// The activities' threads' priorities, one each, the largest entitlement
/// highest (with one period for all and 90% of the core between them,
/// fixed priorities in this order serve every budget every period).
pub(crate) const ACTIVITY_PRIORITIES: [u8; 3] = [102, 101, 100];
/// The background thread's: below every activity.
const BACKGROUND_PRIORITY: u64 = 10;
/// The activities' period, µs.
pub(crate) const PERIOD_US: u32 = 10_000;
/// Their budgets: 50%, 33% and 17% of the 90% of a core activities may have.
const BUDGETS_US: [u32; 3] = [4_500, 2_970, 1_530];
/// One window, µs of accounted time.
const WINDOW_US: u64 = 1_000_000;
/// Windows per experiment.
const WINDOWS: usize = 10;
/// This thread wakes once per this period to read the use, on a budget far
/// below what it could use.
const CONTROLLER_PERIOD_US: u64 = 100_000;
const CONTROLLER_BUDGET_US: u64 = 500;
/// Usage queries timed.
const QUERIES: usize = 101;
/// log2 size of the untyped init starts the scheduler server from.
const POOL_BITS: u8 = 22;
/// Empty slots init gets; the benchmark takes the rest.
const INIT_SLOTS: u64 = 64;
/// Threads this program makes: 4 + 1 + 1 activity threads and the
/// background for Figure 8; three clients and two chains of servers for
/// Figure 11.
const THREADS: usize = 7 + 3 + chain::CHAINS * chain::HOPS * chain::POOL;
const STACK_SIZE: usize = 4 * 1024;

#[repr(C, align(16))]
struct Stacks(UnsafeCell<[[u8; STACK_SIZE]; THREADS]>);
// SAFETY: each stack is used by one thread only; this thread only takes addresses.
unsafe impl Sync for Stacks {}
static STACKS: Stacks = Stacks(UnsafeCell::new([[0; STACK_SIZE]; THREADS]));

fn stack_top(i: usize) -> u64 {
    STACKS.0.get() as u64 + ((i + 1) * STACK_SIZE) as u64
}

pub(crate) fn cap<T: CapKind>(s: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(s))
}

fn main(boot_info: &'static BootInfo) -> u32 {
    keel_bench::finish(run(boot_info))
}

/// Yields forever (the background thread: enters the kernel all the time).
extern "C" fn yielding(_: u64) -> ! {
    loop {
        let _ = keel_sys::r#yield();
    }
}

/// Spins forever.
extern "C" fn spin(_: u64) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// The root task's placeholder, then the scheduler server (on a round-robin
/// context of its own, never throttled: see [`SCHEDULER_PRIORITY`]), and
/// the three activities.
fn manifest() -> Manifest {
    let program = |name: &str, role, sched| Program {
        name: name.to_string(),
        role,
        start: role != Role::RootTask,
        sched,
        restart: Restart::Never,
        debug: true,
        maps: vec![],
        irqs: vec![],
        ioports: vec![],
    };
    let sched = Sched {
        priority: SCHEDULER_PRIORITY,
        budget_us: 1000,
        period_us: 1000,
        passive: false,
    };
    let activities = BUDGETS_US
        .iter()
        .enumerate()
        .map(|(i, &budget_us)| Activity {
            name: alloc::format!("a{}", i + 1),
            id: i as u16 + 1,
            budget_us,
            period_us: PERIOD_US,
            priority: ACTIVITY_PRIORITIES[i],
            members: vec![],
            may_exceed_when_idle: false,
        })
        .collect();
    let programs = vec![
        program("root-task", Role::RootTask, None),
        program("scheduler", Role::Server, Some(sched)),
    ];
    Manifest {
        activities,
        scheduler: Some(SCHEDULER as u16),
        ..Manifest::new("bench-activities", programs)
    }
}

/// Slots and objects this benchmark makes.
pub(crate) struct Objects {
    ut: Cap<Untyped>,
    next: u64,
    end: u64,
    stacks: usize,
}

impl Objects {
    /// An empty slot.
    pub(crate) fn slot(&mut self) -> Step<u64> {
        let slot = self.next;
        if slot >= self.end {
            return Err(failed("too few empty slots", Error::NotEnoughMemory));
        }
        self.next += 1;
        Ok(slot)
    }

    /// An object of type `ty` in a new slot.
    pub(crate) fn make(&mut self, ty: ObjectType, size_bits: u64) -> Step<u64> {
        let slot = self.slot()?;
        let here = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
        at(
            "retype",
            self.ut.untyped_retype(ty, size_bits, &here, slot, 1),
        )?;
        Ok(slot)
    }

    /// A spinning thread at `priority` with its registers written, not started.
    fn spinner(&mut self, priority: u64) -> Step<Cap<Tcb>> {
        self.thread(priority, spin)
    }

    /// A thread running `entry` at `priority`, its registers written, not started.
    fn thread(&mut self, priority: u64, entry: extern "C" fn(u64) -> !) -> Step<Cap<Tcb>> {
        self.thread_with(priority, entry, 0)
    }

    /// A thread running `entry(arg)` at `priority`, not started.
    pub(crate) fn thread_with(
        &mut self,
        priority: u64,
        entry: extern "C" fn(u64) -> !,
        arg: u64,
    ) -> Step<Cap<Tcb>> {
        let t: Cap<Tcb> = cap(self.make(ObjectType::Tcb, 0)?);
        at(
            "space",
            t.tcb_set_space(
                CPtr::from_bits(0),
                init_thread::CNODE,
                0,
                init_thread::VSPACE,
            ),
        )?;
        at("priority", t.tcb_set_priority(init_thread::TCB, priority))?;
        if self.stacks == THREADS {
            return Err(Failure::new("more threads than stacks"));
        }
        let ctx = UserContext::new_thread(entry, stack_top(self.stacks), arg);
        self.stacks += 1;
        at("registers", t.tcb_write_all_registers(false, &ctx))?;
        Ok(t)
    }
}

pub(crate) type Client = SchedulerClient<EndpointClient>;

/// Each activity's use so far, µs.
fn uses(c: &mut Client) -> Step<[u64; 3]> {
    let mut out = [0; 3];
    for (i, u) in out.iter_mut().enumerate() {
        *u = c
            .usage(i as u16 + 1)
            .map_err(|e| Failure::new(alloc::format!("usage of a{}: {e:?}", i + 1)))?
            .consumed_us;
    }
    Ok(out)
}

/// Timeout faults so far, over every activity.
fn timeouts(c: &mut Client) -> Step<u64> {
    let mut n = 0;
    for a in 1..=3u16 {
        n += u64::from(
            c.usage(a)
                .map_err(|e| Failure::new(alloc::format!("usage of a{a}: {e:?}")))?
                .timeouts,
        );
    }
    Ok(n)
}

/// The contexts read with `Consumed`: the background thread's, the
/// scheduler server's, this thread's.
struct Others {
    contexts: [Cap<SchedContext>; 3],
}

impl Others {
    fn read(&self) -> Step<[u64; 3]> {
        let mut out = [0; 3];
        for (sc, o) in self.contexts.iter().zip(out.iter_mut()) {
            *o = at("consumed", sc.sched_context_consumed())?;
        }
        Ok(out)
    }
}

/// One experiment: [`WINDOWS`] windows of each activity's share, printed
/// as `fig8-<label>-a<i>`; and the scheduler server's time per timeout
/// fault, less the queries this thread made, per window.
fn experiment(c: &mut Client, others: &Others, label: u32, query_instructions: u64) -> Step<()> {
    for _ in 0..WINDOWS {
        let start = uses(c)?;
        let faults = timeouts(c)?;
        others.read()?;
        let mut other = [0u64; 3];
        let mut used = [0u64; 3];
        let mut queries = 2 * 3;
        while used.iter().sum::<u64>() + other.iter().sum::<u64>() < WINDOW_US {
            // Sleep until the next refill: the activities run meanwhile.
            at("yield", keel_sys::r#yield())?;
            for (o, d) in other.iter_mut().zip(others.read()?) {
                *o += d;
            }
            let now = uses(c)?;
            queries += 3;
            for ((u, n), s) in used.iter_mut().zip(now).zip(start) {
                *u = n - s;
            }
        }
        let total = used.iter().sum::<u64>() + other.iter().sum::<u64>();
        for (i, budget) in BUDGETS_US.iter().enumerate() {
            let entitled = u64::from(*budget) * 1_000_000 / u64::from(PERIOD_US);
            println!(
                "BENCH fig8-{label}-a{} {entitled} {}",
                i + 1,
                used[i] * 1_000_000 / total
            );
        }
        let faults = timeouts(c)? - faults;
        queries += 3;
        let server_us = other[1].saturating_sub(queries * query_instructions / 1000);
        if let Some(per_fault) = (server_us * 1000).checked_div(faults) {
            println!("BENCH timeout-fault 0 {per_fault}");
        }
    }
    Ok(())
}

fn run(boot_info: &'static BootInfo) -> Step<()> {
    let overhead = counter_overhead();
    println!("BENCH counter-overhead 0 {overhead}");
    let archive = Archive::parse(keel_rt::boot_archive(boot_info))
        .map_err(|_| failed("the boot archive", Error::InvalidArgument))?;
    let manifest = manifest();
    let own: Cap<Untyped> = cap(smallest_untyped(boot_info, 17, None)?);
    let pool = smallest_untyped(boot_info, POOL_BITS, Some(own.cptr().bits()))?;
    let first = boot_info.empty.start;
    let res = Resources {
        pool: cap(pool),
        slots: first..first + INIT_SLOTS,
        scratch_vaddr: SCRATCH_VADDR,
        debug: init_thread::DEBUG,
        archive: None,
        devices: Vec::new(),
    };
    let mut objects = Objects {
        ut: own,
        next: first + INIT_SLOTS,
        end: boot_info.empty.end,
        stacks: 0,
    };
    let mut system = init_step(System::new(&manifest, &archive, res))?;
    system.set_verbose(false);
    init_step(system.start_all())?;
    let scheduler_sc = system
        .program(SCHEDULER)
        .and_then(|p| p.process)
        .map(|p| p.sched_context)
        .ok_or_else(|| Failure::new("the scheduler server is not running"))?;
    let slot = objects.next;
    objects.next += 1;
    let badge = ClientBadge::new(ClientId::MAX, ActivityId(0), Rights::ADMIN.union(USAGE));
    let transport = EndpointClient::new(client_cap(&system, SCHEDULER, slot, badge)?, None)
        .map_err(|e| Failure::new(alloc::format!("a client: {e:?}")))?;
    let mut c = SchedulerClient::new(transport);

    // The usage query, with nothing else running.
    let mut query_ticks = Vec::with_capacity(QUERIES);
    for _ in 0..QUERIES {
        let t0 = cycle_counter();
        let r = c.usage(1);
        let t1 = cycle_counter();
        r.map_err(|e| Failure::new(alloc::format!("usage-query 0: {e:?}")))?;
        query_ticks.push((t1 - t0).saturating_sub(overhead));
    }
    for t in &query_ticks {
        println!("BENCH usage-query 0 {t}");
    }
    query_ticks.sort_unstable();
    let query_instructions = query_ticks[QUERIES / 2];

    // The background thread, on a whole core of its own below everyone.
    let background = objects.thread(BACKGROUND_PRIORITY, yielding)?;
    let bg_sc: Cap<SchedContext> = cap(objects.make(
        ObjectType::SchedContext,
        keel_abi::object::MIN_SCHED_CONTEXT_BITS.into(),
    )?);
    let slice = keel_abi::sched::ROOT_TIMESLICE_US;
    prepare_thread(background, bg_sc, BACKGROUND_PRIORITY, slice, slice)?;
    let mut threads = vec![background];
    for a in 1..=3u16 {
        threads.push(admitted(&mut objects, &mut c, a)?);
    }
    at("start the background", background.tcb_resume())?;
    let me = init_thread::SCHED_CONTEXT;
    let configure = |budget, period| {
        init_thread::SCHED_CONTROL.sched_control_configure_flags(
            me,
            budget,
            period,
            0,
            0,
            SchedContextFlags::NONE,
        )
    };
    at(
        "the controller's budget",
        configure(CONTROLLER_BUDGET_US, CONTROLLER_PERIOD_US),
    )?;
    let others = Others {
        contexts: [bg_sc, scheduler_sc, me],
    };
    experiment(&mut c, &others, 1, query_instructions)?;
    for _ in 0..3 {
        threads.push(admitted(&mut objects, &mut c, 1)?);
    }
    experiment(&mut c, &others, 4, query_instructions)?;
    let quiet = || {
        at(
            "the controller's budget",
            configure(CONTROLLER_BUDGET_US, CONTROLLER_PERIOD_US),
        )
    };
    let loud = || at("the controller's timeslice", configure(slice, slice));
    // Figure 8's threads stop: their activities keep a small entitlement
    // meanwhile, which they would otherwise use.
    for t in threads.drain(1..) {
        at("stop an activity thread", t.tcb_suspend())?;
    }
    let contexts = fig11::Contexts([bg_sc, scheduler_sc, me]);
    threads.extend(fig11::run(&mut objects, &mut c, contexts, &quiet, &loud)?);
    for t in threads {
        at("stop a thread", t.tcb_suspend())?;
    }
    at("the controller's timeslice back", configure(slice, slice))
}

/// A spinning thread admitted to activity `a` and started.
fn admitted(objects: &mut Objects, c: &mut Client, a: u16) -> Step<Cap<Tcb>> {
    let t = objects.spinner(ACTIVITY_PRIORITIES[usize::from(a - 1)].into())?;
    c.admit(Grant::new(t.cptr().bits()), a)
        .map_err(|e| Failure::new(alloc::format!("admit to a{a}: {e:?}")))?;
    at("start an activity thread", t.tcb_resume())?;
    Ok(t)
}
