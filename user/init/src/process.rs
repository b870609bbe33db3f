//! Init's part in the process server (the program the manifest names
//! `process`): what it gives it beyond a server's caps. Its program untyped
//! is larger than the others' ([`keel_protocols::process::SERVER_BITS`]);
//! at each start init retypes from it the pool the server carves its
//! processes' groups from and a small untyped for the server's own objects,
//! so the server's teardown takes every process it started too. A process
//! server the description makes a memory client gets no pool: its groups
//! are untyped blocks its slave grants (its `memory` connection).
//!
//! ```text
//!  named cap     what
//!  pool          untyped, 2^POOL_BITS: the processes' reclamation groups
//!                (none for a memory client: its slave grants them)
//!  untyped       untyped, 2^OWN_BITS: the server's Reply objects
//!  sched-control SchedControl: its processes' scheduling contexts
//!  asid-pool     the ASID pool its processes' VSpaces are assigned from
//!  region        "archive": the boot archive, read-only at ARCHIVE_VADDR
//!  spare slots   SPARE_SLOTS from the first loader slot
//! ```
//!
//! Once the process server serves, init starts the description's apps
//! through it ([`Spawner`]), so each has a reclamation group and a quota
//! and shows in the server's `list`: init offers it the app's connections,
//! spawns it, and learns of its end from the notification it registered
//! (bound to init's thread, so it arrives on init's endpoint receive).
//! Init's connection has the admin right; an app whose description
//! connects it to the process server with `rights = ["admin"]` (the shell)
//! gets its own connection with that right, to list and kill every
//! process, init's included.

use alloc::format;
use alloc::vec::Vec;
use keel_abi::manifest::Role;
use keel_abi::process::MappedRegion;
use keel_abi::{CapRights, ObjectType, PAGE_SIZE};
use keel_loader::SharedFrame;
use keel_protocols::badge::{ActivityId, ClientBadge, ClientId, Rights, SignalBadge};
use keel_protocols::cap::Grant;
use keel_protocols::process::{
    how, ConnectionName, Ended, Name, ProcessClient, SpawnArgs, ADMIN, ARCHIVE_VADDR, KEEL_RT,
    OWN_BITS, POOL_BITS, SPARE_SLOTS,
};
use keel_protocols::sys::EndpointClient;
use keel_sys::cap::{init_thread, Endpoint, Notification, Untyped};
use keel_sys::{CPtr, Cap};

use crate::devices::is_timer_client;
use crate::memory::{retype, Slots, PROCESS_OWN, PROCESS_POOL};
use crate::start::{Grants, CLIENT_RIGHTS, FIRST_LOADER};
use crate::{refused, Context, Event, InitError, State, System};

impl System<'_> {
    /// The manifest's process server, if it names one.
    pub(crate) fn process_server(&self) -> Option<usize> {
        self.manifest.process.map(usize::from)
    }

    /// Retypes the process server's pool (none for a memory client: its
    /// slave grants its groups) and own untyped from its program untyped
    /// `untyped`, first of all (the pool is aligned to its size: at the
    /// untyped's start it wastes nothing).
    pub(crate) fn process_memory(
        &self,
        index: usize,
        untyped: Cap<Untyped>,
    ) -> Result<(), InitError> {
        let block = self.programs[index].block;
        if !self.is_memory_client(index) {
            retype(
                untyped,
                ObjectType::Untyped,
                POOL_BITS.into(),
                block + PROCESS_POOL,
                1,
            )?;
        }
        retype(
            untyped,
            ObjectType::Untyped,
            OWN_BITS.into(),
            block + PROCESS_OWN,
            1,
        )
    }

    /// What the process server (program `index`) gets beyond a server's
    /// caps (see the module documentation).
    pub(crate) fn process_grants(&self, g: &mut Grants, index: usize) -> Result<(), InitError> {
        let block = self.programs[index].block;
        if !self.is_memory_client(index) {
            let pool = g.give(block + PROCESS_POOL, CapRights::ALL, 0);
            g.named("pool", pool);
        }
        let own = g.give(block + PROCESS_OWN, CapRights::ALL, 0);
        g.named("untyped", own);
        let control = g.give(init_thread::SCHED_CONTROL.cptr().bits(), CapRights::ALL, 0);
        g.named("sched-control", control);
        let asids = g.give(init_thread::ASID_POOL.cptr().bits(), CapRights::ALL, 0);
        g.named("asid-pool", asids);
        g.slots.spare = Some((FIRST_LOADER, FIRST_LOADER + SPARE_SLOTS));
        Ok(())
    }

    /// The boot archive's frames, mapped read-only at [`ARCHIVE_VADDR`],
    /// and what the process server's page says of them; nothing when init
    /// was not given them.
    pub(crate) fn archive_frames(&self, frames: &mut Vec<SharedFrame>) -> Option<MappedRegion> {
        let archive = self.res.archive.as_ref()?;
        for (i, slot) in archive.slots.clone().enumerate() {
            frames.push(SharedFrame {
                frame: Cap::from_cptr(CPtr::from_bits(slot)),
                vaddr: ARCHIVE_VADDR + (i * PAGE_SIZE) as u64,
                rights: CapRights::READ,
            });
        }
        Some(MappedRegion {
            name: "archive".into(),
            vaddr: ARCHIVE_VADDR,
            size: archive.size,
            writable: false,
        })
    }
}

/// The client number of init's own connection to the process server
/// (below the numbers of the server's processes, above any the build tool
/// gives a described connection).
pub const INIT_CLIENT: u16 = keel_protocols::process::CHILD_CLIENT_BASE - 1;
/// The group of an app init starts through the process server: as large
/// as the untyped init's own loader builds a program from.
pub const APP_MEMORY: u64 = 1 << crate::PROGRAM_BITS;
/// The reclamation quota of such an app, in instructions of teardown: its
/// initial objects (a 1,024-slot CNode and some 500 mapped pages charge
/// about 0.8 M) and room for what it allocates later.
pub const APP_QUOTA: u64 = 1 << 23;

/// What init keeps to start apps through the process server: its
/// connection (with the admin right, which it may pass to a spawned
/// shell), a slot for the connection being offered, and the notification
/// the server signals when one of init's processes ends.
pub(crate) struct Spawner {
    client: ProcessClient<EndpointClient>,
    /// A slot of init's where a connection is minted to be offered.
    scratch: u64,
    /// The notification, bound to init's thread once the server has it.
    notification: Cap<Notification>,
    /// Its badged copy (a signal badge) handed to the server.
    signal: u64,
    /// Whether the notification is bound and registered.
    registered: bool,
}

impl Spawner {
    /// Makes init's connection to the process server (program `server`,
    /// whose endpoint is `endpoint`) and the notification; registers
    /// nothing yet.
    pub(crate) fn new(
        slots: &mut Slots,
        pool: Cap<Untyped>,
        endpoint: Cap<Endpoint>,
    ) -> Result<Self, InitError> {
        let notification = slots.make::<Notification>(pool, ObjectType::Notification, 0)?;
        let taken = slots.take(3)?;
        let (connection, scratch, signal) = (taken.start, taken.start + 1, taken.start + 2);
        let id = ClientId::new(INIT_CLIENT).ok_or(refused("number init's connection"))?;
        let badge = ClientBadge::new(id, ActivityId(0), Rights::ADMIN);
        mint(
            connection,
            endpoint.cptr().bits(),
            CLIENT_RIGHTS,
            badge.bits(),
        )?;
        let event = SignalBadge::event(0).map_err(|_| refused("make init's signal badge"))?;
        mint(
            signal,
            notification.cptr().bits(),
            CapRights::WRITE,
            event.bits(),
        )?;
        let transport = EndpointClient::new(Cap::from_cptr(CPtr::from_bits(connection)), None)
            .map_err(|_| refused("make init's process-server client"))?;
        Ok(Spawner {
            client: ProcessClient::new(transport),
            scratch,
            notification,
            signal,
            registered: false,
        })
    }

    /// Binds the notification to init's thread and hands it to the server.
    fn register(&mut self) -> Result<(), InitError> {
        if self.registered {
            return Ok(());
        }
        init_thread::TCB
            .tcb_bind_notification(self.notification)
            .context("bind init's process-end notification")?;
        self.client
            .notify(Grant::new(self.signal))
            .map_err(|_| refused("register init's process-end notification"))?;
        self.registered = true;
        Ok(())
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        if self.registered {
            let _ = init_thread::TCB.tcb_unbind_notification();
        }
    }
}

/// Mints `src` of init's into init's slot `dst`.
fn mint(dst: u64, src: u64, rights: CapRights, badge: u64) -> Result<(), InitError> {
    init_thread::CNODE
        .absolute_cptr(CPtr::from_bits(dst))
        .mint(
            &init_thread::CNODE.absolute_cptr(CPtr::from_bits(src)),
            rights,
            badge,
        )
        .context("mint a cap for init's process-server connection")
}

impl System<'_> {
    /// Whether init starts app `index` through the process server (and
    /// carves it no untyped of its own): the description starts one, and
    /// the app needs nothing only init's loader gives (a memory manager's
    /// attachment, an activity's scheduling, the notification a timer
    /// client hands its server when it cannot make one from its group
    /// through its own process-server connection).
    pub(crate) fn spawns(&self, index: usize) -> bool {
        let member = self.activity_containing(index).is_some();
        // A timer client needs a notification: made by init's loader, or by
        // the app itself from its group through the process server.
        let notification_ok =
            !is_timer_client(self.manifest, index) || self.reaches_process_server(index);
        self.spawner.is_some()
            && self.manifest.programs[index].role == Role::App
            && !self.is_memory_client(index)
            && notification_ok
            && !member
    }

    /// Whether app `index` has a connection of its own to the process
    /// server.
    fn reaches_process_server(&self, index: usize) -> bool {
        let server = self.process_server();
        self.manifest
            .connections
            .iter()
            .any(|c| usize::from(c.client) == index && Some(usize::from(c.server)) == server)
    }

    /// Starts app `index` through the process server: its connections
    /// offered first (one to the process server itself becomes the
    /// process's own, with the admin right if the description gives it),
    /// then spawned in a group of [`APP_MEMORY`] with [`APP_QUOTA`].
    pub(crate) fn spawn_app(&mut self, index: usize) -> Result<(), InitError> {
        let p = &self.manifest.programs[index];
        let sched = p
            .sched
            .ok_or(refused("start the root task (the kernel does)"))?;
        let server = self
            .process_server()
            .ok_or(refused("find the process server"))?;
        if self.programs[server].state != State::Running {
            return Err(refused(
                "start an app through the process server before it serves (give the app a \
                 priority below the server's)",
            ));
        }
        let mut flags = KEEL_RT;
        let Some(spawner) = self.spawner.as_mut() else {
            return Err(refused("start an app without a process server"));
        };
        spawner.register()?;
        for c in self.manifest.connections.iter() {
            if usize::from(c.client) != index {
                continue;
            }
            if usize::from(c.server) == server {
                let rights = ClientBadge::from_bits(c.badge).map_or(Rights::NONE, |b| b.rights());
                if rights.contains(Rights::ADMIN) {
                    flags |= ADMIN;
                }
                continue;
            }
            let endpoint = self.programs[usize::from(c.server)]
                .endpoint
                .ok_or(refused("connect to a program that is not a server"))?;
            mint(
                spawner.scratch,
                endpoint.cptr().bits(),
                CLIENT_RIGHTS,
                c.badge,
            )?;
            let name = ConnectionName::try_from(c.name.as_str())
                .map_err(|_| refused("offer a connection (its name is too long)"))?;
            let offered = spawner.client.offer(&name, Grant::new(spawner.scratch));
            let _ = init_thread::CNODE
                .absolute_cptr(CPtr::from_bits(spawner.scratch))
                .delete();
            offered.map_err(|_| refused("offer an app's connection to the process server"))?;
        }
        let args = SpawnArgs {
            memory: APP_MEMORY,
            quota: APP_QUOTA,
            arg: self.programs[index].arg,
            priority: sched.priority,
            flags,
            ..SpawnArgs::default()
        };
        let name = Name::try_from(p.name.as_str()).map_err(|_| refused("name the app"))?;
        let spawned = match spawner.client.spawn(args, &name) {
            Ok(s) => s,
            Err(e) => {
                self.say(&format!(
                    "init: the process server refused {}: {e:?}",
                    p.name
                ));
                return Err(refused("spawn an app through the process server"));
            }
        };
        self.programs[index].pid = Some(spawned.pid);
        self.programs[index].state = State::Running;
        self.say(&format!(
            "init: started {} through the process server (pid {}, priority {}, deadline {} instructions)",
            p.name, spawned.pid, sched.priority, spawned.deadline
        ));
        Ok(())
    }

    /// The process server signalled: marks each app it started for init
    /// that has ended, reaping it (a wait that answers at once). Returns
    /// the first exit.
    pub(crate) fn reap_spawned(&mut self) -> Event {
        let Some(spawner) = self.spawner.as_mut() else {
            return Event::Refused;
        };
        let Ok(listed) = spawner.client.list() else {
            return Event::Refused;
        };
        let mut event = Event::Refused;
        for program in 0..self.programs.len() {
            let Some(pid) = self.programs[program].pid else {
                continue;
            };
            if listed.iter().any(|e| e.pid == pid && e.state == 0) {
                continue;
            }
            let Some(spawner) = self.spawner.as_mut() else {
                break;
            };
            let name = &self.manifest.programs[program].name;
            // Ended, or already reaped by an admin's kill or wait.
            let (state, line) = match spawner.client.wait(pid) {
                Ok(Ended {
                    how: how::EXITED,
                    status,
                }) => {
                    let status = u32::try_from(status).unwrap_or(u32::MAX);
                    if event == Event::Refused {
                        event = Event::Exited { program, status };
                    }
                    (
                        State::Exited(status),
                        format!("init: {name} exited with status {status}"),
                    )
                }
                Ok(Ended {
                    how: how::FAULTED,
                    status,
                }) => (
                    State::Stopped,
                    format!("init: {name} faulted (fault type {status})"),
                ),
                _ => (
                    State::Stopped,
                    format!("init: {name} (pid {pid}) was killed"),
                ),
            };
            self.programs[program].pid = None;
            self.programs[program].state = state;
            self.say(&line);
        }
        event
    }
}
