//! The drivers benchmark, started in the root task's place by `cargo xtask
//! bench drivers` under QEMU `-icount` (the cycle counter counts guest
//! instructions, one a nanosecond of virtual time).
//!
//! Interrupt latency ([`irq`]): from a device's interrupt to the first
//! instruction of the user-level thread that handles it, as sel4bench's
//! `irquser` measures it. The device is the timer the timer server drives
//! (x86_64: the PIT's channel 0 through I/O APIC pin 2; aarch64: the EL1
//! physical timer, PPI 30); this thread, below the handler, arms it and
//! spins storing the cycle counter, so the last value stored is the
//! interrupt's time (to one turn of the loop); the handler thread, waiting
//! on the handler's notification, reads the counter as it wakes.
//!
//! Sleep round trip: keel-init starts the timer server as system.toml
//! describes it, and this thread, its client through keel-rt's `Timer`,
//! times `sleep(0)` (the clock read, a timeout already due, the signal, the
//! wait and the read of the expiry: every step of a sleep but the waiting)
//! and `sleep(100 us)` less the 100 us (how late a real sleep wakes: the
//! device's tick, the interrupt, the server's work and the wake-up).
//!
//! Lines: `BENCH irq-latency 0 <instructions>`, `BENCH sleep-round-trip 0
//! <instructions>`, `BENCH sleep-late 100000 <instructions>`, `BENCH
//! counter-overhead 0 <instructions>`.
#![no_std]
#![no_main]

extern crate alloc;

mod irq;

use core::time::Duration;
use keel_abi::archive::Archive;
use keel_abi::{BootInfo, ObjectType};
use keel_bench::system::{around, client_cap, described, init_step};
use keel_bench::{at, counter_overhead, failed, smallest_untyped, Failure, Step};
use keel_init::{Resources, System, SCRATCH_VADDR};
use keel_protocols::{ActivityId, ClientBadge, ClientId, Rights};
use keel_rt::println;
use keel_rt::time::Timer;
use keel_sys::arch::cycle_counter;
use keel_sys::cap::{init_thread, CapKind, Notification, Untyped};
use keel_sys::{CPtr, Cap, Error};

keel_rt::main!(main);

/// Samples per measurement.
const RUNS: usize = 101;
/// This thread's priority while it spins, below the interrupt handler;
/// then back at init's (it is init for the timer server, and init must be
/// above the programs it starts to hear their `ready`).
const SPIN_PRIORITY: u64 = 100;
const INIT_PRIORITY: u64 = 255;
/// log2 size of the untyped init starts the timer server from.
const POOL_BITS: u8 = 23;
/// Empty slots init gets; the benchmark takes the rest.
const INIT_SLOTS: u64 = 64;
/// The real sleep timed, ns.
const SLEEP_NS: u64 = 100_000;

fn cap<T: CapKind>(s: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(s))
}

fn main(boot_info: &'static BootInfo) -> u32 {
    keel_bench::finish(run(boot_info))
}

/// The root task's untyped for the benchmark's objects and its empty slots.
pub struct Objects {
    untyped: Cap<Untyped>,
    next: u64,
    end: u64,
}

impl Objects {
    /// The next `n` empty slots.
    ///
    /// # Errors
    /// `NotEnoughMemory` when the empty range is used up.
    pub fn slots(&mut self, n: u64) -> Step<u64> {
        let first = self.next;
        if first + n > self.end {
            return Err(failed("too few empty slots", Error::NotEnoughMemory));
        }
        self.next += n;
        Ok(first)
    }

    /// One object of `ty` (`size_bits` where it has a size) in a fresh slot.
    ///
    /// # Errors
    /// Too few slots, or the retype failed.
    pub fn make(&mut self, ty: ObjectType, size_bits: u64) -> Step<u64> {
        let slot = self.slots(1)?;
        let here = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
        at(
            "retype",
            self.untyped.untyped_retype(ty, size_bits, &here, slot, 1),
        )?;
        Ok(slot)
    }
}

fn run(boot_info: &'static BootInfo) -> Step<()> {
    let overhead = counter_overhead();
    println!("BENCH counter-overhead 0 {overhead}");
    at(
        "lower this thread's priority",
        init_thread::TCB.tcb_set_priority(init_thread::TCB, SPIN_PRIORITY),
    )?;
    let own: Cap<Untyped> = cap(smallest_untyped(boot_info, 16, None)?);
    let pool = smallest_untyped(boot_info, POOL_BITS, Some(own.cptr().bits()))?;
    let first = boot_info.empty.start;
    let mut objects = Objects {
        untyped: own,
        next: first + INIT_SLOTS,
        end: boot_info.empty.end,
    };
    irq::measure(&mut objects, overhead)?;
    at(
        "raise this thread's priority",
        init_thread::TCB.tcb_set_priority(init_thread::TCB, INIT_PRIORITY),
    )?;

    let archive = Archive::parse(keel_rt::boot_archive(boot_info))
        .map_err(|_| failed("the boot archive", Error::InvalidArgument))?;
    let timer = described(&archive, "timer")
        .ok_or_else(|| Failure::new("system.toml describes no timer server"))?;
    let manifest = around("bench-drivers", timer);
    let res = Resources {
        pool: cap(pool),
        slots: first..first + INIT_SLOTS,
        scratch_vaddr: SCRATCH_VADDR,
        debug: init_thread::DEBUG,
        archive: None,
        devices: alloc::vec::Vec::new(),
    };
    let mut system = init_step(System::new(&manifest, &archive, res))?;
    system.set_verbose(false);
    init_step(system.start_all())?;
    let id = ClientId::new(1).ok_or_else(|| Failure::new("client 1"))?;
    let client = client_cap(
        &system,
        1,
        objects.slots(1)?,
        ClientBadge::new(id, ActivityId(1), Rights::NONE),
    )?;
    let ntfn: Cap<Notification> = cap(objects.make(ObjectType::Notification, 0)?);
    let mut timer = Timer::new(client, ntfn)
        .map_err(|e| Failure::new(alloc::format!("connect to the timer: {e:?}")))?;
    for _ in 0..RUNS {
        let t0 = cycle_counter();
        let r = timer.sleep(Duration::ZERO);
        let t1 = cycle_counter();
        r.map_err(|e| Failure::new(alloc::format!("sleep-round-trip 0: {e:?}")))?;
        println!(
            "BENCH sleep-round-trip 0 {}",
            (t1 - t0).saturating_sub(overhead)
        );
    }
    for _ in 0..RUNS {
        let t0 = cycle_counter();
        let r = timer.sleep(Duration::from_nanos(SLEEP_NS));
        let t1 = cycle_counter();
        r.map_err(|e| Failure::new(alloc::format!("sleep-late {SLEEP_NS}: {e:?}")))?;
        let took = (t1 - t0).saturating_sub(overhead);
        if took < SLEEP_NS {
            return Err(Failure::new(alloc::format!(
                "sleep-late {SLEEP_NS}: woke after {took}"
            )));
        }
        println!("BENCH sleep-late {SLEEP_NS} {}", took - SLEEP_NS);
    }
    Ok(())
}
