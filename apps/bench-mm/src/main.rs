//! The memory managers' benchmark, started in the root task's place by
//! `cargo xtask bench mm` under QEMU `-icount` (the cycle counter counts
//! guest instructions). This program is init: keel-init starts four
//! slaves from a manifest made here, and this program attaches itself to
//! each, with its own VSpace, as clients 1 to 16, each with an address
//! range of its own. A configuration of `s` slaves and `c` clients gives
//! client `k` slave `k mod s`; a run has each client in turn take an area
//! of `p` pages, write a byte to every page and free it, each pair timed:
//! immediate (`allocate`: mapped before the reply, so the writes do not
//! fault) and delayed (`reserve`: each write faults, and the slave, this
//! thread's fault handler for the pair, maps the page). Every client's
//! paging structures are made by a pair before the runs, so a pair is the
//! steady state. Then the load-balance experiment ([`balance`]).
//!
//! Lines: `BENCH <immediate|delayed>-<p>p-<s>s <c> <instructions>` per
//! pair, `BENCH counter-overhead 0 <instructions>`, and [`balance`]'s.
#![no_std]
#![no_main]

extern crate alloc;

mod balance;
mod workload;

use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;
use keel_abi::archive::Archive;
use keel_abi::manifest::{Manifest, MemoryManagers, MemoryPolicy, Program, Restart, Role, Sched};
use keel_abi::{BootInfo, CapRights};
use keel_bench::system::{client_cap, init_step};
use keel_bench::{at, counter_overhead, failed, smallest_untyped, Failure, Step};
use keel_init::{Resources, System, SCRATCH_VADDR};
use keel_protocols::cap::Grant;
use keel_protocols::memory::{fault_badge, rights, MemoryClient, MemoryError};
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
/// Empty slots each system's init gets.
const INIT_SLOTS: u64 = 128;
/// The servers' priority: this thread's.
const SERVER_PRIORITY: u8 = 255;
/// Where client `k`'s range starts: `AREAS + k << 32`.
const AREAS: u64 = 0x0000_2000_0000_0000;
/// log2 of a page.
const PAGE_BITS: u64 = 12;

fn main(boot_info: &'static BootInfo) -> u32 {
    keel_bench::finish(run(boot_info))
}

/// A server as the benchmark's systems run it: at this thread's priority,
/// on a budget of its own.
fn server(name: &str) -> Program {
    Program {
        name: name.to_string(),
        role: Role::Server,
        start: true,
        sched: Some(Sched {
            priority: SERVER_PRIORITY,
            budget_us: 1000,
            period_us: 1000,
            passive: false,
        }),
        restart: Restart::Never,
        debug: true,
        maps: vec![],
        irqs: vec![],
        ioports: vec![],
    }
}

/// The system `name`: the root task's placeholder (this program), then
/// `programs`, with `memory`.
fn manifest(name: &str, programs: Vec<Program>, memory: MemoryManagers) -> Manifest {
    let root = Program {
        role: Role::RootTask,
        start: false,
        sched: None,
        ..server("root-task")
    };
    let mut all = vec![root];
    all.extend(programs);
    Manifest {
        memory: Some(memory),
        ..Manifest::new(name, all)
    }
}

/// The root slots the benchmark hands out, from the end of init's.
pub struct Slots {
    next: u64,
    end: u64,
}

impl Slots {
    /// The next free slot.
    ///
    /// # Errors
    /// The root CNode has no more empty slots.
    pub fn take(&mut self) -> Step<u64> {
        self.take_many(1)
    }

    /// `n` consecutive free slots; returns the first.
    ///
    /// # Errors
    /// The root CNode has too few empty slots left.
    pub fn take_many(&mut self, n: u64) -> Step<u64> {
        if self.next + n > self.end {
            return Err(failed(
                "the root CNode's empty slots",
                Error::NotEnoughMemory,
            ));
        }
        self.next += n;
        Ok(self.next - n)
    }

    /// Resources for one system's init from `pool`.
    ///
    /// # Errors
    /// As [`Slots::take_many`].
    pub fn resources(&mut self, pool: u64) -> Step<Resources> {
        let first = self.take_many(INIT_SLOTS)?;
        Ok(Resources {
            pool: Cap::from_cptr(CPtr::from_bits(pool)),
            slots: first..first + INIT_SLOTS,
            scratch_vaddr: SCRATCH_VADDR,
            debug: init_thread::DEBUG,
            archive: None,
            devices: Vec::new(),
        })
    }
}

/// A memory client through a cap to slave `index` minted with `badge`
/// into slot `s`.
pub fn connect(
    system: &System,
    index: usize,
    s: u64,
    badge: ClientBadge,
) -> Step<MemoryClient<EndpointClient>> {
    let transport = EndpointClient::new(client_cap(system, index, s, badge)?, None)
        .map_err(|e| Failure::new(alloc::format!("a client: {e:?}")))?;
    Ok(MemoryClient::new(transport))
}

/// Client `client`'s badge (activity 1) with `rights`.
pub fn badge(client: u16, rights: Rights) -> Step<ClientBadge> {
    let id = ClientId::new(client).ok_or_else(|| Failure::new("client 0"))?;
    Ok(ClientBadge::new(id, ActivityId(1), rights))
}

/// Attaches this thread, with its VSpace, to the slave behind `admin` as
/// client `k` of activity 1.
///
/// # Errors
/// The slave's refusal.
pub fn attach(admin: &mut MemoryClient<EndpointClient>, k: u16) -> Result<(), MemoryError> {
    let vspace = Grant::new(init_thread::VSPACE.cptr().bits());
    admin.attach(vspace, k, 1)
}

/// A failed step: `what`, and why.
pub fn failure(what: &str, e: impl core::fmt::Debug) -> Failure {
    Failure::new(alloc::format!("{what}: {e:?}"))
}

/// How a pair takes its area.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// `allocate`: every page mapped before the reply.
    Immediate,
    /// `reserve`: each page mapped at its first touch.
    Delayed,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Immediate => "immediate",
            Mode::Delayed => "delayed",
        }
    }
}

/// Writes a byte to each of the `pages` pages at `at`.
fn touch(at: u64, pages: u64) {
    for p in 0..pages {
        let byte = (at + (p << PAGE_BITS)) as *mut u8;
        // SAFETY: the page lies in an area a slave mapped or reserved,
        // read-write, in this thread's VSpace for this write alone; nothing
        // else refers to it. A reserved page faults, its slave maps a zeroed
        // page there and the write runs again.
        unsafe { byte.write_volatile(1) };
    }
}

/// One pair of `pages` pages at `at`: take the area, touch every page,
/// free it.
fn pair(c: &mut MemoryClient<EndpointClient>, mode: Mode, at: u64, pages: u64) -> Step<()> {
    let rw = rights::READ | rights::WRITE;
    match mode {
        Mode::Immediate => c.allocate(at, pages, rw),
        Mode::Delayed => c.reserve(at, pages, rw),
    }
    .map_err(|e| Failure::new(alloc::format!("take {pages} pages: {e:?}")))?;
    touch(at, pages);
    c.free(at)
        .map_err(|e| Failure::new(alloc::format!("free {pages} pages: {e:?}")))
}

/// Makes the slot `fault` (a fault-badged cap, or empty for none) this
/// thread's fault endpoint.
fn fault_to(fault: u64) -> Step<()> {
    at(
        "set the fault endpoint",
        init_thread::TCB.tcb_set_space(
            CPtr::from_bits(fault),
            init_thread::CNODE,
            0,
            init_thread::VSPACE,
        ),
    )
}

/// Mints slave `index`'s endpoint badged for client `k`'s faults into
/// slot `s`.
fn mint_fault(system: &System, index: usize, s: u64, k: u16) -> Step<()> {
    let endpoint = system
        .server_endpoint(index)
        .ok_or_else(|| Failure::new("a slave that is no server"))?;
    let id = ClientId::new(k).ok_or_else(|| Failure::new("client 0"))?;
    let cnode = init_thread::CNODE;
    at(
        "mint a fault endpoint",
        cnode.absolute_cptr(CPtr::from_bits(s)).mint(
            &cnode.absolute_cptr(endpoint.cptr()),
            CapRights::WRITE
                .union(CapRights::GRANT)
                .union(CapRights::GRANT_REPLY),
            fault_badge(id),
        ),
    )
}

/// This thread as client `k` of one slave: its requests and the slot of
/// its fault endpoint there.
struct Client {
    requests: MemoryClient<EndpointClient>,
    fault: u64,
}

fn run(boot_info: &'static BootInfo) -> Step<()> {
    let overhead = counter_overhead();
    println!("BENCH counter-overhead 0 {overhead}");
    let archive = Archive::parse(keel_rt::boot_archive(boot_info))
        .map_err(|_| failed("the boot archive", Error::InvalidArgument))?;
    let memory = MemoryManagers {
        slaves: (1..=SLAVES as u16).collect(),
        master: None,
        partition_bits: PARTITION_BITS,
        policy: MemoryPolicy::RoundRobin,
        clients: vec![],
        limits: vec![],
    };
    let manifest = manifest("bench-mm", vec![server("mm-slave"); SLAVES], memory);
    let pool = smallest_untyped(boot_info, POOL_BITS, None)?;
    let mut slots = Slots {
        next: boot_info.empty.start,
        end: boot_info.empty.end,
    };
    let mut system = init_step(System::new(&manifest, &archive, slots.resources(pool)?))?;
    system.set_verbose(false);
    init_step(system.start_all())?;
    // clients[s][k - 1]: client k's connection to slave s.
    let mut clients: Vec<Vec<Client>> = Vec::new();
    for s in 0..SLAVES {
        let mut admin = connect(
            &system,
            s + 1,
            slots.take()?,
            badge(u16::MAX, Rights::ADMIN)?,
        )?;
        let mut row = Vec::new();
        for k in 1..=CLIENTS {
            attach(&mut admin, k).map_err(|e| failure("attach a client", e))?;
            let mut requests = connect(&system, s + 1, slots.take()?, badge(k, Rights::NONE)?)?;
            let fault = slots.take()?;
            mint_fault(&system, s + 1, fault, k)?;
            pair(
                &mut requests,
                Mode::Immediate,
                AREAS + (u64::from(k) << 32),
                1,
            )?;
            row.push(Client { requests, fault });
        }
        clients.push(row);
    }
    for mode in [Mode::Immediate, Mode::Delayed] {
        for pages in [1u64, 16, 256] {
            for slaves in [1usize, 2, 4] {
                for count in [1u16, 2, 4, 8, 16] {
                    for _ in 0..RUNS {
                        for k in 1..=count {
                            let c = &mut clients[usize::from(k) % slaves][usize::from(k) - 1];
                            if mode == Mode::Delayed {
                                fault_to(c.fault)?;
                            }
                            let at = AREAS + (u64::from(k) << 32);
                            let t0 = cycle_counter();
                            pair(&mut c.requests, mode, at, pages)?;
                            let t1 = cycle_counter();
                            let n = (t1 - t0).saturating_sub(overhead);
                            println!("BENCH {}-{pages}p-{slaves}s {count} {n}", mode.name());
                        }
                    }
                }
            }
        }
    }
    fault_to(0)?;
    balance::run(&archive, boot_info, pool, &mut slots)
}
