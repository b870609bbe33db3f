//! The system description, `system.toml` at the repository root: the
//! programs (crate, role, scheduling, restart policy, debug authority, shared
//! memory mapped, interrupts handled), the connections between them and the
//! shared memory regions, and the activities CPU time is charged to. [`parse`] reads the file, [`validate`] checks it
//! into a [`System`], [`report`] renders what the build tool built; turning
//! it into a boot archive is `build.rs`'s job, through [`System::manifest`].

pub mod activity;
#[cfg(test)]
mod activity_tests;
#[cfg(test)]
mod device_tests;
mod devices;
pub mod memory;
mod parse;
mod process_server;
pub mod report;
#[cfg(test)]
mod tests;
mod validate;

use std::path::Path;

use anyhow::{bail, Context, Result};
use keel_abi::manifest::{self, IoPorts, Irq, Manifest, MapRights, Restart, Sched, Start};
use keel_protocols::badge::{ActivityId, ClientBadge, ClientId, Rights};

pub use activity::Activity;
pub use keel_abi::manifest::Role;

/// Longest program, region or connection name (the boot archive's entry-name limit).
pub const MAX_NAME_LEN: usize = keel_abi::archive::NAME_LEN;

/// A validated program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// Name of the program, also its boot-archive entry name.
    pub name: String,
    /// Cargo package in this workspace that builds it.
    pub crate_name: String,
    /// What it is for.
    pub role: Role,
    /// Started by init at boot (always true for the root task, which the kernel starts).
    pub start: bool,
    /// Scheduling; `None` for the root task.
    pub sched: Option<Sched>,
    /// Restart policy.
    pub restart: Restart,
    /// Gets a Debug cap.
    pub debug: bool,
    /// Is the scheduler server: gets SchedControl (`sched_control = true`).
    pub sched_control: bool,
    /// Is the serial server: init lends it the kernel's UART
    /// (`serial_device = true`).
    pub serial_device: bool,
    /// Is the process server: gets the pool its processes' groups are
    /// carved from and the boot archive (`process_server = true`).
    pub process_server: bool,
    /// Keeps consumption records that the scheduler server reads
    /// (`accounting = true`).
    pub accounting: bool,
    /// The activity its requests are charged to: 0 (the system's own) for the
    /// root task and servers, its activity's number for a member of a
    /// declared activity (1, 2, ... in file order), and the numbers after
    /// those for the other apps, each its own, in file order.
    pub activity: u16,
    /// Regions mapped into it.
    pub maps: Vec<Map>,
    /// Interrupts it handles.
    pub irqs: Vec<Irq>,
    /// I/O port ranges it drives (x86_64).
    pub ioports: Vec<IoPorts>,
}

/// A validated mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Map {
    /// Index into [`System::regions`].
    pub region: usize,
    /// Page-aligned virtual address.
    pub vaddr: u64,
    /// Access rights.
    pub rights: MapRights,
    /// Cacheable.
    pub cached: bool,
}

/// A validated connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// Index of the client in [`System::programs`].
    pub client: usize,
    /// Index of the server in [`System::programs`].
    pub server: usize,
    /// The client's name for the cap.
    pub name: String,
    /// The badge init mints: client number per server, the client's
    /// activity, the rights given.
    pub badge: ClientBadge,
}

/// A validated shared memory region: the manifest's own type.
pub use keel_abi::manifest::Region;

/// A validated system description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct System {
    /// The system's name (goes into the boot manifest).
    pub name: String,
    /// Every program: the root task first (index 0, the boot archive's
    /// default root entry), then the others in file order.
    pub programs: Vec<Program>,
    /// Every connection, in file order.
    pub connections: Vec<Connection>,
    /// Every region, in file order.
    pub regions: Vec<Region>,
    /// Every declared activity, in file order.
    pub activities: Vec<Activity>,
    /// The memory managers, when `[memory]` names them.
    pub memory: Option<manifest::MemoryManagers>,
}

impl System {
    /// Reads and validates `path`.
    ///
    /// # Errors
    /// If the file cannot be read or fails validation (see [`System::parse`]).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "could not read the system description {}; create it (see \"The system \
                 description\" in the README)",
                path.display()
            )
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates system.toml text; `path` is used in error messages.
    ///
    /// # Errors
    /// Unknown keys or wrong types (from the parser), then any validation
    /// error, naming the entry and the fix.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let file: parse::File = toml::from_str(text)
            .with_context(|| format!("{} is not a valid system description", path.display()))?;
        validate::validate(file, path)
    }

    /// Every program with role `app`.
    pub fn apps(&self) -> impl Iterator<Item = &Program> {
        self.programs.iter().filter(|p| p.role == Role::App)
    }

    /// The app called `name`.
    ///
    /// # Errors
    /// If no program with role `app` has that name; the message lists the apps.
    pub fn app(&self, name: &str) -> Result<&Program> {
        if let Some(p) = self.apps().find(|p| p.name == name) {
            return Ok(p);
        }
        let available: Vec<&str> = self.apps().map(|p| p.name.as_str()).collect();
        if available.is_empty() {
            bail!(
                "--app {name}: system.toml has no program with role = \"app\"; add one \
                 ([[program]] name = \"{name}\", crate = \"...\", role = \"app\") or use --app-crate PATH"
            );
        }
        bail!(
            "--app {name}: no program with role = \"app\" is called `{name}`; available apps: {}",
            available.join(", ")
        )
    }

    /// The boot manifest for this system, running `start`; `extra_apps` are
    /// programs packed beside it that system.toml does not describe
    /// (`--app-crate`): apps with default scheduling that init starts, each
    /// with a connection named "console" to the console server when the
    /// system starts one (see [`System::extra_app_connections`]).
    ///
    /// # Errors
    /// If there are more than 65535 programs or regions.
    pub fn manifest(&self, extra_apps: &[&str], start: Start) -> Result<Manifest> {
        let index = |i: usize, what: &str| {
            u16::try_from(i).with_context(|| format!("more than 65535 {what} in the description"))
        };
        let mut programs = Vec::new();
        for p in &self.programs {
            programs.push(manifest::Program {
                name: p.name.clone(),
                role: p.role,
                start: p.start,
                sched: p.sched,
                restart: p.restart,
                debug: p.debug,
                maps: p
                    .maps
                    .iter()
                    .map(|m| {
                        Ok(manifest::Map {
                            region: index(m.region, "regions")?,
                            vaddr: m.vaddr,
                            rights: m.rights,
                            cached: m.cached,
                        })
                    })
                    .collect::<Result<_>>()?,
                irqs: p.irqs.clone(),
                ioports: p.ioports.clone(),
            });
        }
        programs.extend(extra_apps.iter().map(|name| manifest::Program {
            name: (*name).to_string(),
            role: Role::App,
            start: true,
            sched: Some(Sched {
                priority: validate::DEFAULT_PRIORITY,
                budget_us: validate::DEFAULT_BUDGET_US,
                period_us: validate::DEFAULT_BUDGET_US,
                passive: false,
            }),
            restart: Restart::Never,
            debug: false,
            maps: Vec::new(),
            irqs: Vec::new(),
            ioports: Vec::new(),
        }));
        let mut connections = self
            .connections
            .iter()
            .map(|c| {
                Ok(manifest::Connection {
                    client: index(c.client, "programs")?,
                    server: index(c.server, "programs")?,
                    name: c.name.clone(),
                    badge: c.badge.bits(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        connections.extend(self.extra_app_connections(extra_apps.len())?);
        index(programs.len(), "programs")?;
        Ok(Manifest {
            system: self.name.clone(),
            programs,
            connections,
            regions: self.regions.clone(),
            activities: self
                .activities
                .iter()
                .map(|a| {
                    Ok(manifest::Activity {
                        name: a.name.clone(),
                        id: a.id,
                        budget_us: a.budget_us,
                        period_us: a.period_us,
                        priority: a.priority,
                        members: a
                            .members
                            .iter()
                            .map(|&m| index(m, "programs"))
                            .collect::<Result<_>>()?,
                        may_exceed_when_idle: a.may_exceed_when_idle,
                    })
                })
                .collect::<Result<_>>()?,
            scheduler: self
                .programs
                .iter()
                .position(|p| p.sched_control)
                .map(|i| index(i, "programs"))
                .transpose()?,
            serial: self
                .programs
                .iter()
                .position(|p| p.serial_device)
                .map(|i| index(i, "programs"))
                .transpose()?,
            process: self
                .programs
                .iter()
                .position(|p| p.process_server)
                .map(|i| index(i, "programs"))
                .transpose()?,
            accounting: self
                .programs
                .iter()
                .enumerate()
                .filter(|(_, p)| p.accounting)
                .map(|(i, _)| index(i, "programs"))
                .collect::<Result<_>>()?,
            memory: self.memory.clone(),
            start,
        })
    }
}

impl System {
    /// The connections of `count` programs packed after the described ones
    /// (`--app-crate`): each gets one named "console" to the started server
    /// named "console" when it is above the apps' default priority, minted
    /// as the next client of that server and charged to a new activity.
    ///
    /// # Errors
    /// If the indices do not fit the manifest.
    fn extra_app_connections(&self, count: usize) -> Result<Vec<manifest::Connection>> {
        let console = self.programs.iter().position(|p| {
            p.name == "console"
                && p.role == Role::Server
                && p.start
                && p.sched
                    .is_some_and(|s| s.priority > validate::DEFAULT_PRIORITY)
        });
        let Some(server) = console else {
            return Ok(Vec::new());
        };
        let clients = self
            .connections
            .iter()
            .filter(|c| c.server == server)
            .count();
        let used = self.programs.iter().map(|p| usize::from(p.activity)).max();
        let apps = used.unwrap_or(0);
        (0..count)
            .map(|k| {
                let client = u16::try_from(clients + 1 + k)
                    .ok()
                    .and_then(ClientId::new)
                    .context("the console server has more than 65535 clients")?;
                let activity = u16::try_from(apps + 1 + k).context("more than 65535 apps")?;
                Ok(manifest::Connection {
                    client: u16::try_from(self.programs.len() + k)
                        .context("more than 65535 programs in the description")?,
                    server: u16::try_from(server).context("more than 65535 programs")?,
                    name: "console".to_string(),
                    badge: ClientBadge::new(client, ActivityId(activity), Rights::NONE).bits(),
                })
            })
            .collect()
    }
}

/// Checks a program, region or connection name: 1..=48 bytes of `[a-z0-9-]`.
///
/// # Errors
/// Naming what is wrong and what is allowed.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        bail!(
            "name `{name}` is {} bytes long; use 1 to {MAX_NAME_LEN} bytes",
            name.len()
        );
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        bail!("name `{name}` contains {c:?}; use only a-z, 0-9 and '-'");
    }
    Ok(())
}
