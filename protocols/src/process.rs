//! The process protocol: what the process server does for its clients.
//! A client spawns a program of the boot archive with a memory size and a
//! reclamation quota, waits for it to end, kills it (learning what the
//! teardown cost against the deadline it declared), and lists its
//! processes; a process the server started asks it for kernel objects,
//! made from its own reclamation group and charged to its quota.
//!
//! ```text
//!  parent                                process server (pool, archive)
//!   |-- spawn("spawnee", args) ---------->| carves a group block, builds the
//!   |<------ Spawned {pid, deadline} -----|  process in it, charges its objects
//!   |-- wait(pid) ----------------------->| keeps the reply until it ends
//!   |                                     |<-- Init exit(status) / fault -- child
//!   |<------ Ended {Exited, status} ------| one revoke of the group
//!   |-- kill(pid) ----------------------->| one revoke, timed
//!   |<------ Teardown {instructions, deadline}
//!  child                                  |
//!   |-- alloc_object(kind, bits) -------->| retyped from its group into its
//!   |<------ slot in its CNode -----------|  CNode, charged to its quota
//! ```
//!
//! A client acts only on the processes it spawned itself (named by its
//! badge's client number), unless its badge carries the admin right
//! (`Rights::ADMIN`): then `wait`, `kill` and `list` reach every process
//! (a shell's `ps` and `kill`). The processes a process spawned end with it.
//!
//! A spawner hands a process connections of its own: it `offer`s each
//! endpoint cap (named) before `spawn`, and the next spawn copies what it
//! offered into the new process's CNode and names it in its ProcessInfo
//! page. A spawner that does not wait in `wait` learns of its processes'
//! ends through the notification it registers with `notify`, signalled
//! whenever one of them ends (init, which must keep serving its own
//! endpoint, does this).

use crate::cap::{Endpoint, Notification};
use crate::{protocol, List, Text};
use serde::{Deserialize, Serialize};
use zerocopy::{Immutable, IntoBytes, KnownLayout, TryFromBytes};

/// The longest program name spawn takes.
pub const NAME_MAX: usize = 24;
/// A program name of the boot archive.
pub type Name = Text<NAME_MAX>;
/// The most processes one `list` reply holds.
pub const LIST_MAX: usize = 12;

/// The client numbers of the process server's own processes start here
/// (client `CHILD_CLIENT_BASE + i` is the process in the server's table slot
/// `i`), above the numbers init gives connections.
pub const CHILD_CLIENT_BASE: u16 = 0x4000;

/// How a process is to be started.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, TryFromBytes, KnownLayout, Immutable,
)]
pub struct SpawnArgs {
    /// Bytes of its reclamation group (rounded up to a power of two): all
    /// its kernel objects and pages come from it.
    pub memory: u64,
    /// Its reclamation quota, in instructions of teardown.
    pub quota: u64,
    /// The program's argument: argument register 0 at entry, or with
    /// [`KEEL_RT`] the `arg` of its ProcessInfo page.
    pub arg: u64,
    /// Its priority, at most the server's.
    pub priority: u8,
    /// [`KEEL_RT`] or 0.
    pub flags: u8,
    /// The activity its badge names (0: the caller's).
    pub activity: u16,
    /// Padding.
    pub pad2: u32,
}

/// A [`SpawnArgs::flags`] bit: the program is built on keel-rt, whose
/// entry takes the address of its ProcessInfo page in argument register 0.
pub const KEEL_RT: u8 = 1;
/// A [`SpawnArgs::flags`] bit: the process's own connection to the server
/// carries the admin right (it may wait for, kill and list every process).
/// Only a caller whose badge has the admin right may ask for it.
pub const ADMIN: u8 = 2;

/// The longest connection name `offer` takes.
pub const CONNECTION_NAME_MAX: usize = 16;
/// A connection's name in the spawned process's ProcessInfo page.
pub type ConnectionName = Text<CONNECTION_NAME_MAX>;
/// The most connections one spawn hands on.
pub const OFFERED_MAX: usize = 4;

/// What spawn answers.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, TryFromBytes, KnownLayout, Immutable,
)]
pub struct Spawned {
    /// The process's id.
    pub pid: u64,
    /// Its declared teardown deadline, in instructions: the teardown's
    /// fixed part plus its quota.
    pub deadline: u64,
    /// What its initial objects were charged.
    pub charged: u64,
}

/// How a process ended, in [`Ended::how`].
pub mod how {
    /// It exited (Init `exit`) with [`super::Ended::status`].
    pub const EXITED: u64 = 1;
    /// It was killed.
    pub const KILLED: u64 = 2;
    /// It faulted; [`super::Ended::status`] is the fault type.
    pub const FAULTED: u64 = 3;
}

/// What wait answers.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, TryFromBytes, KnownLayout, Immutable,
)]
pub struct Ended {
    /// One of [`how`].
    pub how: u64,
    /// The exit status, or the fault type.
    pub status: u64,
}

/// What kill answers.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, TryFromBytes, KnownLayout, Immutable,
)]
pub struct Teardown {
    /// Cycle-counter ticks (instructions under `-icount shift=0`) from
    /// before the group's revoke to after the server's bookkeeping.
    pub measured: u64,
    /// The deadline the process declared at spawn.
    pub deadline: u64,
    /// Processes ended with it (it and those it spawned).
    pub processes: u64,
}

/// One process of a `list` reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its id.
    pub pid: u64,
    /// Its program.
    pub name: Name,
    /// 0 while it runs, else one of [`how`].
    pub state: u64,
    /// Bytes of its group.
    pub memory: u64,
    /// Instructions charged to its quota.
    pub charged: u64,
    /// Its quota.
    pub quota: u64,
    /// Its declared teardown deadline, in instructions.
    pub deadline: u64,
}

/// A `list` reply.
pub type Entries = List<Entry, LIST_MAX>;

protocol! {
    /// A client of the process server.
    protocol Process {
        id: 8,
        version: 1,
        client: ProcessClient,
        server: ProcessServer,
        error: ProcessError {
            /// The boot archive has no program of that name.
            NoSuchProgram = 1,
            /// No process of the caller's has that id.
            NoSuchProcess = 2,
            /// The pool has no free block of the size asked for.
            NoMemory = 3,
            /// The charge would pass the quota: nothing was made.
            QuotaExceeded = 4,
            /// The group is too small for the program's initial objects.
            GroupTooSmall = 5,
            /// A size, kind, priority or quota out of range.
            BadArgument = 6,
            /// Only a process the server started has a group to allocate from.
            NotAProcess = 7,
            /// The server's table, or the process's CNode, is full.
            Full = 8,
            /// The process has already ended (a second kill).
            Ended = 9,
            /// The kernel refused an operation.
            Kernel = 10,
            /// The caller's badge lacks the admin right the request needs.
            NotAdmin = 11,
        },
        ops: {
            /// Starts program `name` of the boot archive in a group of its
            /// own; its initial objects are charged to its quota first.
            1 => spawn(fixed args: SpawnArgs, data name: Name) -> fixed Spawned;
            /// How process `pid` ended; the reply waits until it does.
            2 => wait(fixed pid: u64) -> fixed Ended;
            /// Ends process `pid` (and those it spawned) with one revoke of
            /// each group.
            3 => kill(fixed pid: u64) -> fixed Teardown;
            /// The caller's processes.
            4 => list() -> data Entries;
            /// Makes one object of `kind` (a `keel_abi::ObjectType` number;
            /// `size_bits` for the kinds with a size) from the caller's own
            /// group into its CNode, charged to its quota; answers the slot.
            5 => alloc_object(fixed kind: u64, fixed size_bits: u64) -> fixed u64;
            /// Keeps `connection` (an endpoint cap to another server) for
            /// the caller's next spawn, which hands it to the new process
            /// as its connection `name`; at most [`OFFERED_MAX`] wait.
            6 => offer(data name: ConnectionName, cap connection: Endpoint) -> fixed ();
            /// Signals `notification` whenever one of the caller's
            /// processes ends (replaces an earlier one).
            7 => notify(cap notification: Notification) -> fixed ();
        }
    }
}

/// log2 of the pool init gives the process server: its processes'
/// groups are carved from it (8 MiB).
pub const POOL_BITS: u8 = 23;
/// log2 of the smallest group block (64 KiB: a small program's image,
/// stack, CNode and paging structures).
pub const MIN_GROUP_BITS: u8 = 16;
/// log2 of the untyped init gives the process server for its own objects
/// (the Reply objects of the waits it holds).
pub const OWN_BITS: u8 = 16;
/// log2 of the process server's program untyped: the pool, its own
/// untyped, and its image, heap and the archive's mapping.
pub const SERVER_BITS: u8 = POOL_BITS + 1;
/// log2 of the slots of the process server's CNode (the archive's frames
/// take one each).
pub const SERVER_CNODE_RADIX: u64 = 12;
/// Spare slots init gives the process server, for its group blocks'
/// untyped caps, its processes' caps and its Reply objects.
pub const SPARE_SLOTS: u64 = 640;
/// Where init maps the boot archive (read-only) in the process server.
pub const ARCHIVE_VADDR: u64 = 0x0000_0000_4000_0000;
