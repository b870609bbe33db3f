//! The boot manifest: the validated system description in compact form,
//! written by the build tool from `system.toml` and read by the root task
//! (init). postcard-encoded. Programs are listed root task first, in the
//! order of the boot archive; connections and mappings name programs and
//! regions by their index in these lists, so init resolves nothing by name.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

/// What the root task (init) runs after printing its banner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Start {
    /// The described system: init starts the programs marked `start`
    /// and supervises them until every app has exited.
    System,
    /// The on-target test suite, optionally only the named tests.
    Tests {
        /// Run only these tests (all when empty).
        only: Vec<String>,
        /// Skip every test up to and including this one: the build tool
        /// resumes the suite this way after a test hung.
        resume_after: Option<String>,
    },
}

/// What a program is for. Named in kebab-case as in system.toml (postcard
/// encodes the variant's index, so the names cost nothing in the manifest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The first user program, started by the kernel (init).
    RootTask,
    /// A server: accepts connections from clients.
    Server,
    /// An application.
    App,
}

impl Role {
    /// The role as written in system.toml.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::RootTask => "root-task",
            Role::Server => "server",
            Role::App => "app",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a program is scheduled: its priority and the SchedContext init gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sched {
    /// Priority, 0 (lowest) to 255.
    pub priority: u8,
    /// CPU budget per period, in microseconds (1 to `period_us`).
    pub budget_us: u32,
    /// Replenishment period, in microseconds.
    pub period_us: u32,
    /// Passive: after initialising, the program gives up its SchedContext and
    /// runs only on the one its callers donate.
    pub passive: bool,
}

/// What init does when the program faults or exits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Restart {
    /// Leave it stopped.
    Never,
    /// Start a new instance, at most `limit` times; then stop it and report.
    Always {
        /// Restarts allowed (1 to 255).
        limit: u8,
    },
}

/// Access rights of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapRights {
    /// Readable (always set: a mapping without it is inaccessible).
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable (mapped without execute-never).
    pub execute: bool,
}

/// A memory region mapped into a program's address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Map {
    /// Index of the region in [`Manifest::regions`].
    pub region: u16,
    /// Virtual address of its first byte (page-aligned).
    pub vaddr: u64,
    /// Access rights.
    pub rights: MapRights,
    /// Mapped cacheable (never for a device region).
    pub cached: bool,
}

/// An interrupt delivered to a program as a notification signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Irq {
    /// The interrupt number.
    pub irq: u32,
    /// Event bit (0 to 62) of the program's notification it signals; the
    /// notification cap's badge is keel-protocols' signal badge for it.
    pub event: u8,
    /// The one architecture it applies to (a device's line differs between
    /// them); `None`: both.
    pub arch: Option<crate::Arch>,
}

impl Irq {
    /// True when the interrupt is given on `arch`.
    pub fn applies_to(&self, arch: crate::Arch) -> bool {
        self.arch.is_none_or(|a| a == arch)
    }
}

/// A range of x86_64 I/O ports a program drives, `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoPorts {
    /// The first port.
    pub first: u16,
    /// The last port.
    pub last: u16,
}

/// One program in the boot archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    /// Archive entry name.
    pub name: String,
    /// What the program is for.
    pub role: Role,
    /// Does init start it at boot? (Otherwise it is only packed: started on
    /// request, e.g. by the test driver or in the root task's place.)
    pub start: bool,
    /// Its scheduling; `None` for the root task, which the kernel schedules.
    pub sched: Option<Sched>,
    /// Restart policy.
    pub restart: Restart,
    /// Does it get a Debug cap?
    pub debug: bool,
    /// Memory regions mapped into it.
    pub maps: Vec<Map>,
    /// Interrupts it handles.
    pub irqs: Vec<Irq>,
    /// I/O port ranges it drives (x86_64).
    pub ioports: Vec<IoPorts>,
}

/// An endpoint cap one program (the client) holds to another (the server).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// Index of the client in [`Manifest::programs`].
    pub client: u16,
    /// Index of the server in [`Manifest::programs`].
    pub server: u16,
    /// The name the client knows the cap by (unique per client).
    pub name: String,
    /// The badge to mint, in keel-protocols' layout (client, activity, rights).
    pub badge: u64,
}

/// A memory region shared between programs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    /// Its name.
    pub name: String,
    /// Size in bytes, a multiple of 4 KiB.
    pub size: u64,
    /// Physical address of a device region (from device untyped); `None` for
    /// ordinary memory init allocates.
    pub phys_addr: Option<u64>,
    /// The one architecture it applies to (a device's address differs
    /// between them); `None`: both. Maps of a region for the other
    /// architecture are passed over.
    pub arch: Option<crate::Arch>,
}

impl Region {
    /// True when the region exists on `arch`.
    pub fn applies_to(&self, arch: crate::Arch) -> bool {
        self.arch.is_none_or(|a| a == arch)
    }
}

/// An activity: the unit CPU time is charged to (Vortex's), with its
/// entitlement. The scheduler server gives its member programs' threads
/// scheduling contexts that together never hold more than `budget_us` every
/// `period_us`, however many threads the members make.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// Its name.
    pub name: String,
    /// The activity number its members' badges carry (keel-protocols'
    /// `ActivityId`, 1 and up; 0 is the system's own).
    pub id: u16,
    /// CPU time per period, in microseconds, for all its threads together.
    pub budget_us: u32,
    /// Replenishment period, in microseconds.
    pub period_us: u32,
    /// The priority its threads run at.
    pub priority: u8,
    /// Indices in [`Manifest::programs`] of its member programs.
    pub members: Vec<u16>,
    /// May it run past its budget when nothing else wants the CPU?
    pub may_exceed_when_idle: bool,
}

/// How the master picks a new client's slave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemoryPolicy {
    /// The slaves in turn.
    RoundRobin,
    /// MMS's watermarks, in thousandths of a partition: the least-loaded
    /// slave below `low`, else the most-loaded below `high`.
    Watermark {
        /// LowMem.
        low: u16,
        /// HighMem.
        high: u16,
    },
}

/// The most pages an activity may hold at each slave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryLimit {
    /// The activity's number.
    pub activity: u16,
    /// Pages.
    pub pages: u64,
}

/// The memory managers: which programs are the slaves (each gets a
/// partition of `2^partition_bits` bytes) and the master, the master's
/// policy, the clients init attaches to a slave, and the limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryManagers {
    /// Indices in [`Manifest::programs`] of the slaves, slave 0 first.
    pub slaves: Vec<u16>,
    /// Index of the master, if the system has one (else init gives
    /// clients to the slaves in turn).
    pub master: Option<u16>,
    /// log2 of each slave's partition.
    pub partition_bits: u8,
    /// The master's policy.
    pub policy: MemoryPolicy,
    /// Indices of the programs init makes clients of a slave: each gets a
    /// connection named `memory` and its faults go to its slave.
    pub clients: Vec<u16>,
    /// Activities' limits.
    pub limits: Vec<MemoryLimit>,
}

/// The manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Name of the system description it came from.
    pub system: String,
    /// The programs in the archive, root task first.
    pub programs: Vec<Program>,
    /// Every connection, in description order.
    pub connections: Vec<Connection>,
    /// Every shared memory region.
    pub regions: Vec<Region>,
    /// Every activity declared, in description order.
    pub activities: Vec<Activity>,
    /// Index in [`Manifest::programs`] of the scheduler server: init gives
    /// it SchedControl, memory and spare slots for scheduling contexts, and
    /// admits to it the thread of every activity member it starts.
    pub scheduler: Option<u16>,
    /// Index in [`Manifest::programs`] of the program init lends the
    /// kernel's UART (`InitCap::SerialDevice`): the serial server.
    pub serial: Option<u16>,
    /// Index in [`Manifest::programs`] of the process server: init gives
    /// it a pool of untyped memory for its processes' reclamation groups,
    /// the boot archive mapped read-only, an ASID pool and SchedControl.
    pub process: Option<u16>,
    /// Indices in [`Manifest::programs`] of the servers that keep
    /// consumption records (the Accounting protocol): init adds each to the
    /// servers whose records the scheduler server reads, passive or not as
    /// its scheduling says.
    pub accounting: Vec<u16>,
    /// The memory managers, when the system has them.
    pub memory: Option<MemoryManagers>,
    /// What to run.
    pub start: Start,
}

impl Manifest {
    /// The manifest of system `system` running `programs` (root task
    /// first) and nothing more: no connections, regions or activities, no
    /// scheduler, serial, process or memory servers, no accounting, started
    /// as the described system. Give the rest with struct update syntax:
    /// `Manifest { connections, ..Manifest::new(name, programs) }`.
    pub fn new(system: impl Into<String>, programs: Vec<Program>) -> Self {
        Self {
            system: system.into(),
            programs,
            connections: Vec::new(),
            regions: Vec::new(),
            activities: Vec::new(),
            scheduler: None,
            serial: None,
            process: None,
            accounting: Vec::new(),
            memory: None,
            start: Start::System,
        }
    }

    /// Encodes the manifest.
    ///
    /// # Errors
    /// postcard's error if serialisation fails.
    pub fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_allocvec(self)
    }

    /// Decodes a manifest.
    ///
    /// # Errors
    /// postcard's error for malformed bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn program(name: &str, role: Role) -> Program {
        Program {
            name: name.to_string(),
            role,
            start: role != Role::RootTask,
            sched: None,
            restart: Restart::Never,
            debug: false,
            maps: vec![],
            irqs: vec![],
            ioports: vec![],
        }
    }

    #[test]
    fn manifest_round_trips_and_rejects_garbage() {
        let mut console = program("console", Role::Server);
        console.sched = Some(Sched {
            priority: 200,
            budget_us: 500,
            period_us: 1000,
            passive: true,
        });
        console.restart = Restart::Always { limit: 3 };
        console.irqs.push(Irq {
            irq: 4,
            event: 0,
            arch: Some(crate::Arch::Aarch64),
        });
        let mut hello = program("hello", Role::App);
        hello.debug = true;
        hello.maps.push(Map {
            region: 0,
            vaddr: 0x4000_0000,
            rights: MapRights {
                read: true,
                write: true,
                execute: false,
            },
            cached: true,
        });
        let m = Manifest {
            connections: vec![Connection {
                client: 2,
                server: 1,
                name: "console".to_string(),
                badge: 0x0000_0001_0001_0001,
            }],
            regions: vec![Region {
                name: "ring".to_string(),
                size: 0x2000,
                phys_addr: Some(0xfee0_0000),
                arch: Some(crate::Arch::X86_64),
            }],
            activities: vec![Activity {
                name: "batch".to_string(),
                id: 1,
                budget_us: 5000,
                period_us: 10000,
                priority: 100,
                members: vec![2],
                may_exceed_when_idle: true,
            }],
            scheduler: Some(1),
            process: Some(1),
            start: Start::Tests {
                only: vec!["FAULT0001".to_string()],
                resume_after: Some("IPC0001".to_string()),
            },
            ..Manifest::new(
                "default",
                vec![program("root-task", Role::RootTask), console, hello],
            )
        };
        let bytes = m.encode().unwrap();
        assert_eq!(Manifest::decode(&bytes).unwrap(), m);
        assert!(Manifest::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(Manifest::decode(&[0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn a_new_manifest_has_only_its_name_and_programs() {
        let programs = vec![program("root-task", Role::RootTask)];
        let m = Manifest::new("solo", programs.clone());
        let expected = Manifest {
            system: "solo".to_string(),
            programs,
            connections: vec![],
            regions: vec![],
            activities: vec![],
            scheduler: None,
            serial: None,
            process: None,
            accounting: vec![],
            memory: None,
            start: Start::System,
        };
        assert_eq!(m, expected);
        let with_serial = Manifest {
            serial: Some(0),
            ..Manifest::new(String::from("solo"), m.programs.clone())
        };
        assert_eq!(with_serial.serial, Some(0));
        assert_eq!(with_serial.system, "solo");
        assert!(with_serial.connections.is_empty() && with_serial.memory.is_none());
    }

    #[test]
    fn roles_print_as_in_system_toml() {
        assert_eq!(Role::RootTask.to_string(), "root-task");
        assert_eq!(Role::Server.to_string(), "server");
        assert_eq!(Role::App.to_string(), "app");
    }
}
