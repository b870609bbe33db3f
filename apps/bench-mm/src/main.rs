//! The memory managers' benchmark, started in the root task's place by
//! `cargo xtask bench mm` under QEMU `-icount` (the cycle counter counts
//! guest instructions). This program is init: keel-init starts four
//! slaves from a manifest made here, and this program attaches itself to
//! each, with its own VSpace, as clients 1 to 16, each with an address
//! range of its own. A configuration of `s` slaves and `c` clients gives
//! client `k` slave `k mod s`; a run has each client in turn allocate an
//! area of `p` pages (immediate: mapped before the reply) and free it,
//! each pair timed. Every client's paging structures are made by a pair
//! before the runs, so a pair is the steady state.
//!
//! Lines: `BENCH immediate-<p>p-<s>s <c> <instructions>` per pair,
//! `BENCH counter-overhead 0 <instructions>`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;
use keel_abi::archive::Archive;
use keel_abi::manifest::{
    Manifest, MemoryManagers, MemoryPolicy, Program, Restart, Role, Sched, Start,
};
use keel_abi::BootInfo;
use keel_bench::system::{client_cap, init_step};
use keel_bench::{counter_overhead, failed, smallest_untyped, Failure, Step};
use keel_init::{Resources, System, SCRATCH_VADDR};
use keel_protocols::cap::Grant;
use keel_protocols::memory::{rights, MemoryClient};
use keel_protocols::sys::EndpointClient;
use keel_protocols::{ActivityId, ClientBadge, ClientId, Rights};
use keel_rt::println;
use keel_sys::arch::cycle_counter;
use keel_sys::cap::init_thread;
use keel_sys::{CPtr, Cap, Error};

keel_rt::main!(main);

/// Pairs per client per configuration.
const RUNS: usize = 5;
/// Slaves started.
const SLAVES: usize = 4;
/// Clients.
const CLIENTS: u16 = 16;
/// log2 of each slave's partition (4 MiB: room for 256 pages and the
/// paging structures of 16 clients).
const PARTITION_BITS: u8 = 22;
/// log2 of the pool init starts the slaves from.
const POOL_BITS: u8 = 25;
/// Empty slots init gets; the benchmark takes the rest.
const INIT_SLOTS: u64 = 128;
/// The slaves' priority: this thread's.
const SLAVE_PRIORITY: u8 = 255;
/// Where client `k`'s range starts: `AREAS + k << 32`.
const AREAS: u64 = 0x0000_2000_0000_0000;

fn main(boot_info: &'static BootInfo) -> u32 {
    keel_bench::finish(run(boot_info))
}

/// The root task's placeholder, then the slaves.
fn manifest() -> Manifest {
    let slave = |name: &str, role| Program {
        name: name.to_string(),
        role,
        start: role != Role::RootTask,
        sched: (role != Role::RootTask).then_some(Sched {
            priority: SLAVE_PRIORITY,
            budget_us: 1000,
            period_us: 1000,
            passive: false,
        }),
        restart: Restart::Never,
        debug: true,
        maps: vec![],
        irqs: vec![],
        ioports: vec![],
    };
    let mut programs = vec![slave("root-task", Role::RootTask)];
    programs.extend((0..SLAVES).map(|_| slave("mm-slave", Role::Server)));
    Manifest {
        system: "bench-mm".to_string(),
        programs,
        connections: vec![],
        regions: vec![],
        activities: vec![],
        scheduler: None,
        serial: None,
        process: None,
        accounting: alloc::vec::Vec::new(),
        memory: Some(MemoryManagers {
            slaves: (1..=SLAVES as u16).collect(),
            master: None,
            partition_bits: PARTITION_BITS,
            policy: MemoryPolicy::RoundRobin,
            clients: vec![],
            limits: vec![],
        }),
        start: Start::System,
    }
}

/// A memory client through a cap to slave `index` minted with `badge`
/// into slot `s`.
fn connect(
    system: &System,
    index: usize,
    s: u64,
    badge: ClientBadge,
) -> Step<MemoryClient<EndpointClient>> {
    let transport = EndpointClient::new(client_cap(system, index, s, badge)?, None)
        .map_err(|e| Failure::new(alloc::format!("a client: {e:?}")))?;
    Ok(MemoryClient::new(transport))
}

fn badge(client: u16, rights: Rights) -> Step<ClientBadge> {
    let id = ClientId::new(client).ok_or_else(|| Failure::new("client 0"))?;
    Ok(ClientBadge::new(id, ActivityId(1), rights))
}

/// One allocate+free pair of `pages` pages at `at`.
fn pair(c: &mut MemoryClient<EndpointClient>, at: u64, pages: u64) -> Step<()> {
    c.allocate(at, pages, rights::READ | rights::WRITE)
        .map_err(|e| Failure::new(alloc::format!("allocate {pages} pages: {e:?}")))?;
    c.free(at)
        .map_err(|e| Failure::new(alloc::format!("free {pages} pages: {e:?}")))
}

fn run(boot_info: &'static BootInfo) -> Step<()> {
    let overhead = counter_overhead();
    println!("BENCH counter-overhead 0 {overhead}");
    let archive = Archive::parse(keel_rt::boot_archive(boot_info))
        .map_err(|_| failed("the boot archive", Error::InvalidArgument))?;
    let manifest = manifest();
    let pool = smallest_untyped(boot_info, POOL_BITS, None)?;
    let first = boot_info.empty.start;
    let res = Resources {
        pool: Cap::from_cptr(CPtr::from_bits(pool)),
        slots: first..first + INIT_SLOTS,
        scratch_vaddr: SCRATCH_VADDR,
        debug: init_thread::DEBUG,
        archive: None,
    };
    let mut next = first + INIT_SLOTS;
    let mut system = init_step(System::new(&manifest, &archive, res))?;
    system.set_verbose(false);
    init_step(system.start_all())?;
    // clients[s][k - 1]: client k's connection to slave s.
    let mut clients: Vec<Vec<MemoryClient<EndpointClient>>> = Vec::new();
    for s in 0..SLAVES {
        let mut admin = connect(&system, s + 1, next, badge(u16::MAX, Rights::ADMIN)?)?;
        next += 1;
        let mut row = Vec::new();
        for k in 1..=CLIENTS {
            let vspace = Grant::new(init_thread::VSPACE.cptr().bits());
            admin
                .attach(vspace, k, 1)
                .map_err(|e| Failure::new(alloc::format!("attach: {e:?}")))?;
            let mut c = connect(&system, s + 1, next, badge(k, Rights::NONE)?)?;
            next += 1;
            pair(&mut c, AREAS + (u64::from(k) << 32), 1)?;
            row.push(c);
        }
        clients.push(row);
    }
    for pages in [1u64, 16, 256] {
        for slaves in [1usize, 2, 4] {
            for count in [1u16, 2, 4, 8, 16] {
                for _ in 0..RUNS {
                    for k in 1..=count {
                        let c = &mut clients[usize::from(k) % slaves][usize::from(k) - 1];
                        let at = AREAS + (u64::from(k) << 32);
                        let t0 = cycle_counter();
                        pair(c, at, pages)?;
                        let t1 = cycle_counter();
                        let n = (t1 - t0).saturating_sub(overhead);
                        println!("BENCH immediate-{pages}p-{slaves}s {count} {n}");
                    }
                }
            }
        }
    }
    Ok(())
}
