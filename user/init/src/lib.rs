//! keel-init: init's mechanisms, as a library the root task (and the test
//! suite) runs. From the boot manifest it starts every program as a process
//! of its own through keel-loader, each from its own untyped and with only
//! the caps the description names, and it is every program's supervisor:
//! their fault handler, and the server of the Init protocol (ready, exit).
//!
//! ```text
//!  pool untyped --carve--> one untyped per program --keel-loader--> process
//!               --retype-> init's endpoint, each server's endpoint,
//!                          shared-region frames (outlive restarts)
//!
//!  init's endpoint <-- faults (label: fault type)   } badge: the program's
//!                  <-- Init requests (ready, exit)  } client badge
//! ```
//!
//! What a program gets (see [`keel_abi::process`], which it reads at
//! [`keel_abi::process::PROCESS_INFO_VADDR`]): its TCB, CNode and VSpace; an
//! endpoint to init badged with its own client badge (which is also its
//! fault endpoint); a server's own endpoint (every right) and a Reply
//! object; one endpoint cap per connection, minted with the connection's
//! badge and the rights to Call; a Debug cap with the read right (to
//! identify caps it receives), and the write right (to print) for
//! `debug = true`; its shared regions (a device region's frames carved
//! out of device untyped at its address, [`device_memory`]); the
//! IRQHandler caps of its interrupts, with the notification they signal
//! (bound to its thread), and the IOPort caps of its I/O port ranges
//! ([`devices`]).
//!
//! Servers start on a scheduling context of their own, announce `ready` as
//! they start receiving (one NBSendRecv), and a passive one then loses its
//! context: it runs on its callers'. Programs start in priority order, so a
//! server (which validation puts above its clients) is serving before its
//! clients run; init runs at priority 255, above all, so it is always
//! waiting on its endpoint when a program runs.
//!
//! Supervision ([`supervise`]): a program that faults, or a server that
//! exits, is torn down with one revoke of its untyped; the client whose
//! request was in flight gets `RpcError::ServerFailed` through a copy of
//! the server's Reply object init kept; the program is started again from
//! the same untyped if its restart policy allows, and its clients' caps,
//! which name the endpoint init made, reach the new instance.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod activities;
mod device_memory;
mod devices;
mod managers;
mod memory;
mod process;
mod relocation;
mod start;
pub mod supervise;

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;
use keel_abi::archive::Archive;
use keel_abi::manifest::{Manifest, Role};
use keel_abi::ObjectType;
use keel_loader::Process;
use keel_protocols::sys::EndpointServer;
use keel_protocols::wire::OutMessage;
use keel_sys::cap::{init_thread, Debug, Endpoint, Reply, Untyped};
use keel_sys::{CPtr, Cap, InvocationError};

pub use device_memory::DeviceUntyped;
use memory::Slots;
pub use process::{APP_MEMORY, APP_QUOTA, INIT_CLIENT};
pub use start::{init_badge, CNODE_RADIX, FIRST_LOADER, RECEIVE_SLOT, SERVER_SPARE_SLOTS};
pub use supervise::Event;

/// log2 of the untyped each program is built from (2 MiB: its image,
/// keel-rt's 1 MiB heap, stack, CNode and paging structures).
pub const PROGRAM_BITS: u8 = 21;
/// Where keel-loader fills frames in init's VSpace.
pub const SCRATCH_VADDR: u64 = 0x0000_6100_0000_0000;

/// What init works with, in the root task's CSpace.
#[derive(Clone, Debug)]
pub struct Resources {
    /// Every program's untyped, endpoint and shared frame comes from this.
    pub pool: Cap<Untyped>,
    /// Empty slots of the root CNode for init's own use.
    pub slots: Range<u64>,
    /// Where keel-loader maps each frame while filling it.
    pub scratch_vaddr: u64,
    /// The Debug cap whose read right init passes on to every program and
    /// whose write right to `debug = true` programs (it keeps the rest, the
    /// rights to halt and to turn the kernel's knobs, for itself).
    pub debug: Cap<Debug>,
    /// The boot archive's frames, for the process server (`None`: a
    /// system without one).
    pub archive: Option<ArchiveFrames>,
    /// The device untyped device regions are carved from.
    pub devices: Vec<DeviceUntyped>,
}

/// The boot archive's frames in the root task's CNode, which init maps
/// read-only into the process server.
#[derive(Clone, Debug)]
pub struct ArchiveFrames {
    /// The slots of its frame caps, in address order.
    pub slots: Range<u64>,
    /// Its size in bytes.
    pub size: u64,
}

impl ArchiveFrames {
    /// The archive's frames as the kernel's BootInfo names them.
    pub fn of(boot_info: &keel_abi::bootinfo::BootInfo) -> Self {
        ArchiveFrames {
            slots: boot_info.archive_frames.start..boot_info.archive_frames.end,
            size: boot_info.archive_size,
        }
    }
}

/// Why init could not do what was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitError {
    /// What init was doing.
    pub step: &'static str,
    /// The kernel's (or keel-loader's) error.
    pub error: InvocationError,
}

/// A step init refuses (its description asks what cannot be done):
/// `InvalidArgument` at `step`.
pub(crate) fn refused(step: &'static str) -> InitError {
    InitError {
        step,
        error: keel_abi::Error::InvalidArgument.into(),
    }
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step, self.error)
    }
}

/// Adds the step to an error.
pub(crate) trait Context<T> {
    /// `Err(e)` becomes an [`InitError`] naming `step`.
    fn context(self, step: &'static str) -> Result<T, InitError>;
}

impl<T, E: Into<InvocationError>> Context<T> for Result<T, E> {
    fn context(self, step: &'static str) -> Result<T, InitError> {
        self.map_err(|e| InitError {
            step,
            error: e.into(),
        })
    }
}

/// Where a program is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Not started (or `start = false`).
    Idle,
    /// Built and running; a server has not announced `ready` yet.
    Starting,
    /// Running (a server: serving).
    Running,
    /// It exited with this status and was torn down.
    Exited(u32),
    /// It failed and its restart policy left it stopped.
    Stopped,
}

/// What init keeps of one program of the manifest.
#[derive(Debug)]
pub struct Supervised {
    /// Its state.
    pub state: State,
    /// Times it was restarted.
    pub restarts: u8,
    /// Its caps in init's CSpace while it runs.
    pub process: Option<Process>,
    /// First of its block of init's slots (see [`memory::BLOCK`]).
    block: u64,
    /// Its own endpoint (a server's), made once: clients' caps name it.
    endpoint: Option<Cap<Endpoint>>,
    /// The word its process-information page passes on (see
    /// [`System::set_arg`]).
    arg: u64,
    /// Its interrupts and I/O ports, made once.
    devices: devices::Devices,
    /// Init's admin cap to it is minted (a server init commands).
    admin_minted: bool,
    /// A memory client's slaves, while it runs.
    memory: Option<managers::MemoryLink>,
    /// Its pid, while it runs as a process of the process server.
    pub pid: Option<u64>,
}

/// A described system being started and supervised.
pub struct System<'a> {
    manifest: &'a Manifest,
    archive: &'a Archive<'a>,
    res: Resources,
    /// Init's endpoint: faults and Init requests arrive here.
    endpoint: Cap<Endpoint>,
    /// Receives on `endpoint`.
    transport: EndpointServer,
    /// One per manifest program (the root task's entry stays idle).
    programs: Vec<Supervised>,
    /// The frames of each region, by slot, in the manifest's order (none
    /// for a region of the other architecture).
    region_frames: Vec<Range<u64>>,
    /// The reply owed to the last Init request (sent with the next receive).
    owed_reply: Option<OutMessage>,
    /// Print one line per start, failure and restart.
    verbose: bool,
    /// Init's connection to the process server, when it starts apps
    /// through one.
    spawner: Option<process::Spawner>,
}

impl<'a> System<'a> {
    /// Makes init's endpoint, the servers' endpoints, the programs' device
    /// caps and the shared regions' frames; starts nothing yet.
    ///
    /// # Errors
    /// The step that failed: too few slots or too little memory, an
    /// interrupt or I/O port range the kernel will not give, or a device
    /// region no device untyped covers or whose page another region has.
    pub fn new(
        manifest: &'a Manifest,
        archive: &'a Archive<'a>,
        res: Resources,
    ) -> Result<Self, InitError> {
        let mut slots = Slots::new(res.slots.clone());
        let endpoint = slots.make::<Endpoint>(res.pool, ObjectType::Endpoint, 0)?;
        let reply = slots.make::<Reply>(res.pool, ObjectType::Reply, 0)?;
        // Without a receive slot, arming cannot fail.
        let transport = EndpointServer::new(endpoint, reply, None).map_err(|_| InitError {
            step: "arm init's receive",
            error: keel_abi::Error::InvalidArgument.into(),
        })?;
        let mut programs = Vec::with_capacity(manifest.programs.len());
        for (i, p) in manifest.programs.iter().enumerate() {
            let block = slots.block()?;
            let endpoint = match p.role {
                Role::Server => Some(slots.make::<Endpoint>(res.pool, ObjectType::Endpoint, 0)?),
                _ => None,
            };
            let timer_client = devices::is_timer_client(manifest, i);
            let devices = devices::Devices::new(p, timer_client, &mut slots, res.pool)?;
            programs.push(Supervised {
                state: State::Idle,
                restarts: 0,
                process: None,
                block,
                endpoint,
                arg: 0,
                devices,
                admin_minted: false,
                memory: None,
                pid: None,
            });
        }
        let mut region_frames = Vec::with_capacity(manifest.regions.len());
        let mut device_memory = device_memory::DeviceMemory::new(&res.devices);
        for r in &manifest.regions {
            region_frames.push(slots.frames(res.pool, &mut device_memory, r)?);
        }
        let spawner = match Self::process_endpoint(manifest, &programs) {
            Some(ep) => Some(process::Spawner::new(&mut slots, res.pool, ep)?),
            None => None,
        };
        let mut system = System {
            manifest,
            archive,
            res,
            endpoint,
            transport,
            programs,
            region_frames,
            owed_reply: None,
            verbose: true,
            spawner,
        };
        system.carve_untypeds()?;
        system.carve_partitions()?;
        Ok(system)
    }

    /// The endpoint of the process server, when the manifest starts one
    /// and some app at boot: init then starts apps through it.
    fn process_endpoint(manifest: &Manifest, programs: &[Supervised]) -> Option<Cap<Endpoint>> {
        let server = usize::from(manifest.process?);
        let apps = manifest
            .programs
            .iter()
            .any(|p| p.role == Role::App && p.start);
        match manifest.programs.get(server)?.start && apps {
            true => programs.get(server)?.endpoint,
            false => None,
        }
    }

    /// Prints (or not) a line per start, failure and restart.
    pub fn set_verbose(&mut self, verbose: bool) {
        self.verbose = verbose;
    }

    /// The manifest.
    pub fn manifest(&self) -> &'a Manifest {
        self.manifest
    }

    /// What init keeps of program `index`.
    pub fn program(&self, index: usize) -> Option<&Supervised> {
        self.programs.get(index)
    }

    /// Init's endpoint (faults and Init requests).
    pub fn endpoint(&self) -> Cap<Endpoint> {
        self.endpoint
    }

    /// The endpoint a server's clients call (`None` for a non-server).
    pub fn server_endpoint(&self, index: usize) -> Option<Cap<Endpoint>> {
        self.programs.get(index).and_then(|p| p.endpoint)
    }

    /// The slots (in init's CSpace) of region `index`'s frames, in address
    /// order: empty for a region of the other architecture.
    pub fn region_frames(&self, index: usize) -> Option<Range<u64>> {
        self.region_frames.get(index).cloned()
    }

    /// Sets the word program `index` finds in its process-information
    /// page the next time it starts (tests and benchmarks use it).
    pub fn set_arg(&mut self, index: usize, arg: u64) {
        if let Some(p) = self.programs.get_mut(index) {
            p.arg = arg;
        }
    }

    /// Prints `line` when verbose.
    pub(crate) fn say(&self, line: &str) {
        if self.verbose {
            let _ = self.res.debug.debug_put_str(line);
            let _ = self.res.debug.debug_put_char(b'\n');
        }
    }

    /// Carves each program's untyped from the pool into its block, and
    /// mints its badged cap to init's endpoint there (not for the apps the
    /// process server builds in groups of their own).
    fn carve_untypeds(&mut self) -> Result<(), InitError> {
        for (index, p) in self.manifest.programs.iter().enumerate() {
            if p.role == Role::RootTask || self.spawns(index) {
                continue;
            }
            let block = self.programs[index].block;
            let bits = match self.process_server() == Some(index) {
                true => keel_protocols::process::SERVER_BITS,
                false => PROGRAM_BITS,
            };
            memory::retype(
                self.res.pool,
                ObjectType::Untyped,
                bits.into(),
                block + memory::UNTYPED,
                1,
            )?;
            let badge = start::init_badge(index).ok_or(InitError {
                step: "number the program (too many programs)",
                error: keel_abi::Error::RangeError.into(),
            })?;
            init_thread::CNODE
                .absolute_cptr(CPtr::from_bits(block + memory::INIT_EP))
                .mint(
                    &init_thread::CNODE.absolute_cptr(self.endpoint.cptr()),
                    keel_abi::CapRights::ALL,
                    badge.bits(),
                )
                .context("mint a program's cap to init")?;
        }
        Ok(())
    }

    /// Starts every program the manifest says to start, in priority order
    /// (servers above their clients), waiting for each server's `ready`.
    ///
    /// # Errors
    /// The first program that could not be built, or a server that failed
    /// for good before it was ready.
    pub fn start_all(&mut self) -> Result<(), InitError> {
        let mut order: Vec<usize> = (0..self.manifest.programs.len())
            .filter(|&i| {
                self.manifest.programs[i].start && self.manifest.programs[i].sched.is_some()
            })
            .collect();
        order.sort_by_key(|&i| {
            core::cmp::Reverse(self.manifest.programs[i].sched.map_or(0, |s| s.priority))
        });
        for index in order {
            self.start(index)?;
            if self.manifest.programs[index].role == Role::Server {
                self.until_ready(index)?;
            }
        }
        Ok(())
    }
}
