//! The load-balance experiment (MMS's Table 2): four slaves and the
//! master, once per policy (round-robin, and watermarks with LowMem 80%,
//! 90% and 95%, HighMem 95%), each a system of its own from a fresh pool,
//! run through [`workload`]'s script. This thread is init and every
//! client: it asks the master where each new client goes (`route`),
//! attaches the client there with its own VSpace and a range of its own,
//! and before each allocation asks the master where the client's slave
//! sends it (`reroute`, which moves it only when that slave is
//! overloaded), so clients move as the master says. A refused allocation
//! (no block large enough) is retried once where the master then sends
//! the client; refused again, the client holds nothing until its next
//! resize.
//!
//! Time is the script's clock. At the end of every tick this thread reads
//! each slave's load: a slave is *overloaded* in a tick when its partition
//! is at least HighMem (95%, the master's own mark) allocated, paging
//! structures included, or it refused a request for want of memory during
//! the tick. The overloaded-time ratio is the overloaded slave-ticks over
//! all slave-ticks.
//!
//! Lines, per policy `<p>` (`rr`, `wm80`, `wm90`, `wm95`):
//! `BENCH balance-<p>-overloaded <slave-ticks> <overloaded slave-ticks>`,
//! `BENCH balance-<p>-refused <requests> <refused>` (allocations and
//! arrivals; refused: no memory after rerouting, or no slave to route to),
//! `BENCH balance-<p>-oom <allocation attempts> <out-of-memory answers>`,
//! `BENCH balance-<p>-moved <clients> <moves>`.
//!
//! [`workload`]: crate::workload

use alloc::vec;
use alloc::vec::Vec;
use keel_abi::archive::Archive;
use keel_abi::manifest::{MemoryManagers, MemoryPolicy};
use keel_abi::{BootInfo, ObjectType};
use keel_bench::system::{client_cap, init_step};
use keel_bench::{at, smallest_untyped, Failure, Step};
use keel_init::System;
use keel_protocols::memory::{rights, Load, MemoryClient, MemoryError};
use keel_protocols::mm_master::{MasterClient, MasterError, OVERLOAD_PERMILLE};
use keel_protocols::sys::EndpointClient;
use keel_protocols::Rights;
use keel_rt::println;
use keel_sys::cap::{init_thread, Untyped};
use keel_sys::{CPtr, Cap};

use crate::workload::{script, Action, CLIENTS, TICKS};
use crate::{attach, badge, connect, failure, manifest, server, Slots};

/// Slaves in each system.
const SLAVES: usize = 4;
/// The master's index in the manifest (after the slaves).
const MASTER: usize = SLAVES + 1;
/// log2 of each slave's partition (1 MiB: 256 pages).
const PARTITION_BITS: u8 = 20;
/// log2 of each system's pool.
const SYSTEM_BITS: u8 = 24;
/// HighMem, in thousandths of a partition.
const HIGH: u16 = 950;
/// Where run `r`'s clients map: client `k` from `AREAS + r << 39 + k << 32`.
const AREAS: u64 = 0x0000_3000_0000_0000;
/// A client that holds one page at the start of each run's range from its
/// start to its end, so the paging structures every client's range hangs
/// from belong to no client that leaves.
const RESIDENT: u16 = 999;

/// The policies compared, with their names in the lines.
const POLICIES: [(&str, MemoryPolicy); 4] = [
    ("rr", MemoryPolicy::RoundRobin),
    (
        "wm80",
        MemoryPolicy::Watermark {
            low: 800,
            high: HIGH,
        },
    ),
    (
        "wm90",
        MemoryPolicy::Watermark {
            low: 900,
            high: HIGH,
        },
    ),
    (
        "wm95",
        MemoryPolicy::Watermark {
            low: 950,
            high: HIGH,
        },
    ),
];

/// Runs the experiment under every policy, each system from a pool of its
/// own carved from an untyped other than `taken`.
///
/// # Errors
/// A step that failed (not a refusal, which is counted).
pub fn run(archive: &Archive, boot_info: &BootInfo, taken: u64, slots: &mut Slots) -> Step<()> {
    let whole = smallest_untyped(boot_info, SYSTEM_BITS + 2, Some(taken))?;
    let pools = slots.take_many(POLICIES.len() as u64)?;
    at(
        "carve the systems' pools",
        Cap::<Untyped>::from_cptr(CPtr::from_bits(whole)).untyped_retype(
            ObjectType::Untyped,
            SYSTEM_BITS.into(),
            &init_thread::CNODE.absolute_cptr_with_depth(0, 0),
            pools,
            POLICIES.len() as u64,
        ),
    )?;
    for (r, &(name, policy)) in POLICIES.iter().enumerate() {
        let memory = MemoryManagers {
            slaves: (1..=SLAVES as u16).collect(),
            master: Some(MASTER as u16),
            partition_bits: PARTITION_BITS,
            policy,
            clients: vec![],
            limits: vec![],
        };
        let mut programs = vec![server("mm-slave"); SLAVES];
        programs.push(server("mm-master"));
        let manifest = manifest("bench-mm-balance", programs, memory);
        let res = slots.resources(pools + r as u64)?;
        let mut system = init_step(System::new(&manifest, archive, res))?;
        system.set_verbose(false);
        init_step(system.start_all())?;
        let base = AREAS + ((r as u64) << 39);
        let counts = Run::new(&system, slots, base)?.play()?;
        counts.print(name);
    }
    Ok(())
}

/// What a run counted.
#[derive(Default)]
struct Counts {
    slave_ticks: u64,
    overloaded: u64,
    requests: u64,
    refused: u64,
    attempts: u64,
    out_of_memory: u64,
    clients: u64,
    moves: u64,
}

impl Counts {
    fn print(&self, p: &str) {
        println!(
            "BENCH balance-{p}-overloaded {} {}",
            self.slave_ticks, self.overloaded
        );
        println!(
            "BENCH balance-{p}-refused {} {}",
            self.requests, self.refused
        );
        println!(
            "BENCH balance-{p}-oom {} {}",
            self.attempts, self.out_of_memory
        );
        println!("BENCH balance-{p}-moved {} {}", self.clients, self.moves);
    }
}

/// One workload client: its slave, the slaves it is attached to (its
/// connection to each), and the slave holding its area.
struct Client {
    slave: usize,
    on: [Option<MemoryClient<EndpointClient>>; SLAVES],
    area: Option<usize>,
}

/// One policy's run: this thread's connections and the clients alive.
struct Run<'s, 'a> {
    system: &'s System<'a>,
    slots: &'s mut Slots,
    master: MasterClient<EndpointClient>,
    admin: Vec<MemoryClient<EndpointClient>>,
    /// Each slave's `refused` at its last reading.
    refused: [u64; SLAVES],
    clients: Vec<Option<Client>>,
    base: u64,
    counts: Counts,
}

impl<'s, 'a> Run<'s, 'a> {
    /// Connects to the master and the slaves, and places the resident.
    fn new(system: &'s System<'a>, slots: &'s mut Slots, base: u64) -> Step<Run<'s, 'a>> {
        let admin_badge = badge(u16::MAX, Rights::ADMIN)?;
        let cap = client_cap(system, MASTER, slots.take()?, admin_badge)?;
        let transport = EndpointClient::new(cap, None).map_err(|e| failure("a client", e))?;
        let mut admin = Vec::new();
        for s in 0..SLAVES {
            admin.push(connect(system, s + 1, slots.take()?, admin_badge)?);
        }
        attach(&mut admin[0], RESIDENT).map_err(|e| failure("attach the resident", e))?;
        let mut resident = connect(system, 1, slots.take()?, badge(RESIDENT, Rights::NONE)?)?;
        resident
            .allocate(base, 1, rights::READ | rights::WRITE)
            .map_err(|e| failure("the resident's page", e))?;
        Ok(Run {
            system,
            slots,
            master: MasterClient::new(transport),
            admin,
            refused: [0; SLAVES],
            clients: (0..=CLIENTS).map(|_| None).collect(),
            base,
            counts: Counts::default(),
        })
    }

    /// Plays the script, reading the slaves' loads after every tick.
    fn play(mut self) -> Step<Counts> {
        let events = script();
        let mut next = events.iter().peekable();
        for tick in 0..TICKS {
            let mut refused_now = [false; SLAVES];
            while let Some(e) = next.next_if(|e| e.tick == tick) {
                let k = usize::from(e.client);
                match e.action {
                    Action::Arrive(pages) => {
                        self.counts.requests += 1;
                        self.counts.clients += 1;
                        let joined = match self.master.route(1) {
                            Ok(s) => self.join(e.client, usize::from(s))?,
                            Err(MasterError::NoSlave) => None,
                            Err(e) => return Err(failure("route a client", e)),
                        };
                        match joined {
                            Some(c) => {
                                self.clients[k] = Some(c);
                                self.take(e.client, pages, &mut refused_now)?;
                            }
                            None => self.counts.refused += 1,
                        }
                    }
                    Action::Resize(pages) if self.clients[k].is_some() => {
                        self.release(e.client)?;
                        self.take(e.client, pages, &mut refused_now)?;
                    }
                    Action::Leave if self.clients[k].is_some() => self.leave(e.client)?,
                    _ => {}
                }
            }
            for (s, now) in refused_now.iter().enumerate() {
                let l = self.load(s)?;
                let full = l.allocated * 1000 >= OVERLOAD_PERMILLE * l.total;
                let refused = *now || l.refused > self.refused[s];
                self.refused[s] = l.refused;
                self.counts.slave_ticks += 1;
                self.counts.overloaded += u64::from(full || refused);
            }
        }
        Ok(self.counts)
    }

    fn load(&mut self, s: usize) -> Step<Load> {
        self.admin[s]
            .load()
            .map_err(|e| failure("a slave's load", e))
    }

    /// Client `k` as a client of slave `s`: attached there (`None` when
    /// the slave keeps no more clients).
    fn connection(&mut self, k: u16, s: usize) -> Step<Option<MemoryClient<EndpointClient>>> {
        match attach(&mut self.admin[s], k) {
            Ok(()) => {}
            Err(MemoryError::Full) => return Ok(None),
            Err(e) => return Err(failure("attach a client", e)),
        }
        let slot = self.slots.take()?;
        Ok(Some(connect(
            self.system,
            s + 1,
            slot,
            badge(k, Rights::NONE)?,
        )?))
    }

    /// A new client `k` at slave `s` (`None` when the slave keeps no more
    /// clients).
    fn join(&mut self, k: u16, s: usize) -> Step<Option<Client>> {
        let Some(c) = self.connection(k, s)? else {
            return Ok(None);
        };
        let mut on: [Option<MemoryClient<EndpointClient>>; SLAVES] = Default::default();
        on[s] = Some(c);
        Ok(Some(Client {
            slave: s,
            on,
            area: None,
        }))
    }

    fn client(&mut self, k: u16) -> Step<&mut Client> {
        self.clients[usize::from(k)]
            .as_mut()
            .ok_or_else(|| Failure::new("a client not alive"))
    }

    fn vaddr(&self, k: u16) -> u64 {
        self.base + (u64::from(k) << 32)
    }

    /// Asks the master where client `k`'s slave sends it, and moves it
    /// there (attaching it first if need be); true when it moved.
    fn follow_master(&mut self, k: u16) -> Step<bool> {
        let from = self.client(k)?.slave;
        let to = match self.master.reroute(from as u16) {
            Ok(to) => usize::from(to),
            Err(MasterError::NoSlave) => return Ok(false),
            Err(e) => return Err(failure("reroute", e)),
        };
        if to == from || to >= SLAVES {
            return Ok(false);
        }
        if self.client(k)?.on[to].is_none() {
            let Some(c) = self.connection(k, to)? else {
                return Ok(false);
            };
            self.client(k)?.on[to] = Some(c);
        }
        self.client(k)?.slave = to;
        self.counts.moves += 1;
        Ok(true)
    }

    /// One allocation attempt of `pages` pages for client `k` at its
    /// slave; false when refused for want of memory.
    fn attempt(&mut self, k: u16, pages: u64, refused_now: &mut [bool; SLAVES]) -> Step<bool> {
        let at = self.vaddr(k);
        self.counts.attempts += 1;
        let c = self.client(k)?;
        let s = c.slave;
        let on = c.on[s].as_mut().ok_or_else(|| Failure::new("unattached"))?;
        match on.allocate(at, pages, rights::READ | rights::WRITE) {
            Ok(()) => {
                c.area = Some(s);
                Ok(true)
            }
            Err(MemoryError::OutOfMemory) => {
                self.counts.out_of_memory += 1;
                refused_now[s] = true;
                Ok(false)
            }
            Err(e) => Err(failure("allocate", e)),
        }
    }

    /// Client `k` takes an area of `pages` pages where the master sends
    /// it, retrying once elsewhere if refused.
    fn take(&mut self, k: u16, pages: u64, refused_now: &mut [bool; SLAVES]) -> Step<()> {
        self.counts.requests += 1;
        self.follow_master(k)?;
        if self.attempt(k, pages, refused_now)? {
            return Ok(());
        }
        if self.follow_master(k)? && self.attempt(k, pages, refused_now)? {
            return Ok(());
        }
        self.counts.refused += 1;
        Ok(())
    }

    /// Client `k` frees its area, if it holds one.
    fn release(&mut self, k: u16) -> Step<()> {
        let at = self.vaddr(k);
        let c = self.client(k)?;
        let Some(s) = c.area.take() else {
            return Ok(());
        };
        let on = c.on[s].as_mut().ok_or_else(|| Failure::new("unattached"))?;
        on.free(at).map_err(|e| failure("free", e))
    }

    /// Client `k` frees its area and is detached from every slave.
    fn leave(&mut self, k: u16) -> Step<()> {
        self.release(k)?;
        let c = self.clients[usize::from(k)]
            .take()
            .ok_or_else(|| Failure::new("a client not alive"))?;
        for (s, on) in c.on.iter().enumerate() {
            if on.is_some() {
                self.admin[s].detach(k).map_err(|e| failure("detach", e))?;
            }
        }
        Ok(())
    }
}
