//! The validation pass: turns the parsed file ([`super::parse::File`]) into a
//! checked [`System`], or fails with an error that names the file, the entry
//! (`program "console"`, `connection 2`, `region "ring"`, `program "hello"
//! map 1`) and what to change. Everything init would otherwise find out at
//! boot is refused here: unknown names, connections to non-servers, calls
//! that would not run the server above its client, budgets above periods,
//! overlapping mappings, interrupts given twice.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{bail, Context, Result};
use keel_abi::manifest::{IoPorts, Irq, MapRights, Restart, Role, Sched};
use keel_abi::Arch;
use keel_protocols::badge::{ActivityId, ClientBadge, ClientId, Rights};

use super::activity::{self, Activity};
use super::devices;
use super::memory;
use super::parse;
use super::{check_name, Connection, Map, Program, Region, System};

/// Page size every region and mapping is measured in.
pub const PAGE_SIZE: u64 = 4096;
/// Lowest address a region may be mapped at: below it lie each program's
/// image (from 4 MiB), stack, IPC buffer, BootInfo page and boot archive.
pub const MAP_BASE: u64 = 0x4000_0000;
/// End of the user half of the address space (47 bits on both architectures).
pub const MAP_END: u64 = 1 << 47;
/// Budget and period when a program gives neither, in microseconds.
pub const DEFAULT_BUDGET_US: u32 = 1000;
/// Priority when a program gives none.
pub const DEFAULT_PRIORITY: u8 = 100;
/// Restarts allowed with `restart = "always"` and no `restart_limit`.
pub const DEFAULT_RESTART_LIMIT: u8 = 3;
/// Notification event bits a program's interrupts may use (0 to 62).
pub const MAX_EVENTS: u8 = keel_protocols::badge::MAX_EVENTS;
/// The highest priority a program init starts may have: init itself runs
/// at 255, above everything it supervises.
pub const MAX_PROGRAM_PRIORITY: u8 = 254;
/// The connection rights system.toml knows, with their badge bits.
pub const CONNECTION_RIGHTS: [(&str, u8); 8] = [
    ("relay", Rights::RELAY.bits()),
    ("admin", Rights::ADMIN.bits()),
    ("protocol-0", 1 << 2),
    ("protocol-1", 1 << 3),
    ("protocol-2", 1 << 4),
    ("protocol-3", 1 << 5),
    ("protocol-4", 1 << 6),
    ("protocol-5", 1 << 7),
];
/// The mapping rights system.toml knows.
const MAP_RIGHTS: [(&str, MapRights); 4] = [
    ("r", rights(false, false)),
    ("rw", rights(true, false)),
    ("rx", rights(false, true)),
    ("rwx", rights(true, true)),
];

const fn rights(write: bool, execute: bool) -> MapRights {
    MapRights {
        read: true,
        write,
        execute,
    }
}

/// Checks `file` (read from `path`) and builds the [`System`].
///
/// # Errors
/// The first problem found, naming `path`, the entry and the fix.
pub fn validate(file: parse::File, path: &Path) -> Result<System> {
    let f = path.display().to_string();
    if file.system.name.trim().is_empty() {
        bail!("{f}: [system] name is empty; give the system a name");
    }
    let regions = regions(&f, &file.region)?;
    devices::check_device_regions(&f, &regions)?;
    let mut activities = activity::activities(&f, &file.activity, &file.program)?;
    let order = program_order(&file.program);
    let programs = programs(&f, file.program, &regions, &activities)?;
    for a in &mut activities {
        for m in &mut a.members {
            *m = order[*m];
        }
    }
    activity::check_scheduler(&f, &programs, &activities)?;
    activity::check_accounting(&f, &programs)?;
    super::process_server::check(&f, &programs)?;
    devices::check_irqs(&f, &programs)?;
    devices::check_ioports(&f, &programs)?;
    devices::check_serial_device(&f, &programs)?;
    let connections = connections(&f, &file.connection, &programs)?;
    check_used(&f, &programs, &connections, &regions)?;
    let memory = memory::memory(&f, file.memory, &programs, &activities)?;
    Ok(System {
        name: file.system.name,
        programs,
        connections,
        regions,
        activities,
        memory,
    })
}

/// Each raw program's index in [`System::programs`]: the root task first,
/// then the others in file order.
fn program_order(raw: &[parse::Program]) -> Vec<usize> {
    let mut next = 1;
    raw.iter()
        .map(|p| {
            if p.role == Role::RootTask {
                0
            } else {
                next += 1;
                next - 1
            }
        })
        .collect()
}

/// An i64 from the file as a `T` in `min..=max`, or an error naming `what` and the range.
pub(super) fn in_range<T>(value: i64, min: T, max: T, what: &str) -> Result<T>
where
    T: TryFrom<i64>,
    i64: From<T>,
{
    let (lo, hi) = (i64::from(min), i64::from(max));
    match T::try_from(value) {
        Ok(v) if (lo..=hi).contains(&value) => Ok(v),
        _ => bail!("{what} = {value} is out of range; use {lo} to {hi}"),
    }
}

fn regions(f: &str, raw: &[parse::Region]) -> Result<Vec<Region>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for r in raw {
        let entry = format!("{f}: region \"{}\"", r.name);
        check_name(&r.name).with_context(|| entry.clone())?;
        if !seen.insert(r.name.as_str()) {
            bail!("{entry} is defined twice; region names must be unique: rename or remove one");
        }
        if r.size <= 0 || !(r.size as u64).is_multiple_of(PAGE_SIZE) {
            bail!(
                "{entry}: size = {} is not a positive multiple of the 4 KiB page size; \
                 round it up to {}",
                r.size,
                (r.size.max(1) as u64).div_ceil(PAGE_SIZE) * PAGE_SIZE
            );
        }
        let phys_addr = match r.phys_addr {
            Some(a) if a < 0 || !(a as u64).is_multiple_of(PAGE_SIZE) => bail!(
                "{entry}: phys_addr = {a:#x} is not page-aligned; give the 4 KiB-aligned \
                 address of the device's registers"
            ),
            a => a.map(|a| a as u64),
        };
        let arch = r
            .arch
            .as_deref()
            .map(devices::arch)
            .transpose()
            .with_context(|| entry.clone())?;
        out.push(Region {
            name: r.name.clone(),
            size: r.size as u64,
            phys_addr,
            arch,
        });
    }
    Ok(out)
}

/// Every program, root task first, then the others in file order; a
/// member of an activity (`activities` name members by raw index) is
/// charged to it and scheduled by it, another app gets an activity of its
/// own, numbered after the declared ones in file order.
fn programs(
    f: &str,
    raw: Vec<parse::Program>,
    regions: &[Region],
    activities: &[Activity],
) -> Result<Vec<Program>> {
    let member_of = |i: usize| activities.iter().find(|a| a.members.contains(&i));
    let mut seen = HashSet::new();
    for p in &raw {
        let entry = format!("{f}: program \"{}\"", p.name);
        check_name(&p.name).with_context(|| entry.clone())?;
        if !seen.insert(p.name.as_str()) {
            bail!("{entry} is defined twice; program names must be unique: rename or remove one");
        }
        if p.crate_name.trim().is_empty() {
            bail!("{entry} has an empty `crate`; name its cargo package");
        }
    }
    let roots: Vec<&str> = raw
        .iter()
        .filter(|p| p.role == Role::RootTask)
        .map(|p| p.name.as_str())
        .collect();
    match roots.len() {
        1 => {}
        0 => bail!(
            "{f}: no program has role = \"root-task\"; add exactly one [[program]] with \
             role = \"root-task\" (e.g. crate = \"keel-root-task\")"
        ),
        n => bail!(
            "{f}: {n} programs have role = \"root-task\" ({}); keep exactly one",
            roots.join(", ")
        ),
    }
    let (root, others): (Vec<_>, Vec<_>) = raw
        .into_iter()
        .enumerate()
        .partition(|(_, p)| p.role == Role::RootTask);
    let mut apps = activities.len();
    let mut out = Vec::new();
    for (i, p) in root.into_iter().chain(others) {
        let entry = format!("{f}: program \"{}\"", p.name);
        let member = member_of(i);
        let activity = match (member, p.role) {
            (Some(a), _) => a.id,
            (None, Role::App) => {
                apps += 1;
                u16::try_from(apps).with_context(|| {
                    format!("{entry}: more than 65535 apps and activities; remove some")
                })?
            }
            _ => 0,
        };
        let (sched, restart, start) = if p.role == Role::RootTask {
            root_task_keys(&entry, &p)?;
            (None, Restart::Never, true)
        } else {
            let sched = match member {
                Some(a) => a.member_sched(),
                None => sched(&p).with_context(|| entry.clone())?,
            };
            let restart = restart(&p).with_context(|| entry.clone())?;
            (Some(sched), restart, p.start.unwrap_or(true))
        };
        let maps = maps(&entry, &p.map, regions)?;
        let irqs = p
            .irq
            .iter()
            .enumerate()
            .map(|(i, irq)| {
                let what = format!("{entry} irq {}", i + 1);
                Ok(Irq {
                    irq: in_range(irq.irq, 0, u32::MAX, "irq").with_context(|| what.clone())?,
                    event: in_range(irq.event, 0, MAX_EVENTS - 1, "event")
                        .with_context(|| what.clone())?,
                    arch: irq
                        .arch
                        .as_deref()
                        .map(devices::arch)
                        .transpose()
                        .with_context(|| what.clone())?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let ioports = p
            .ioport
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let what = format!("{entry} ioport {}", i + 1);
                let first = in_range(r.first, 0, 0xffff, "first").with_context(|| what.clone())?;
                let last = in_range(r.last, 0, 0xffff, "last").with_context(|| what.clone())?;
                if last < first {
                    bail!("{what}: last ({last:#x}) is below first ({first:#x}); swap them");
                }
                Ok(IoPorts { first, last })
            })
            .collect::<Result<Vec<_>>>()?;
        out.push(Program {
            name: p.name,
            crate_name: p.crate_name,
            role: p.role,
            start,
            sched,
            restart,
            debug: p.debug.unwrap_or(false),
            sched_control: p.sched_control.unwrap_or(false),
            serial_device: p.serial_device.unwrap_or(false),
            process_server: p.process_server.unwrap_or(false),
            accounting: p.accounting.unwrap_or(false),
            activity,
            maps,
            irqs,
            ioports,
        });
    }
    Ok(out)
}

/// The kernel starts and schedules the root task: none of the keys that say
/// how init starts a program apply to it.
fn root_task_keys(entry: &str, p: &parse::Program) -> Result<()> {
    let given = [
        ("start", p.start.is_some()),
        ("priority", p.priority.is_some()),
        ("budget_us", p.budget_us.is_some()),
        ("period_us", p.period_us.is_some()),
        ("passive", p.passive.is_some()),
        ("restart", p.restart.is_some()),
        ("restart_limit", p.restart_limit.is_some()),
        ("sched_control", p.sched_control.is_some()),
        ("serial_device", p.serial_device.is_some()),
        ("process_server", p.process_server.is_some()),
        ("accounting", p.accounting.is_some()),
        ("[[program.map]]", !p.map.is_empty()),
        ("[[program.irq]]", !p.irq.is_empty()),
        ("[[program.ioport]]", !p.ioport.is_empty()),
    ];
    if let Some((key, _)) = given.iter().find(|(_, set)| *set) {
        bail!(
            "{entry}: {key} does not apply to the root task, which the kernel starts and \
             schedules and nothing restarts; remove it"
        );
    }
    Ok(())
}

fn sched(p: &parse::Program) -> Result<Sched> {
    let priority = match p.priority {
        Some(v) => in_range(v, 0u8, MAX_PROGRAM_PRIORITY, "priority").context(
            "priorities run from 0 (lowest) to 254; 255 is init's, which must preempt \
             every program it starts and supervises",
        )?,
        None => DEFAULT_PRIORITY,
    };
    let budget_us = match p.budget_us.or(p.period_us) {
        Some(v) => in_range(v, 1u32, u32::MAX, "budget_us")?,
        None => DEFAULT_BUDGET_US,
    };
    let period_us = match p.period_us {
        Some(v) => in_range(v, 1u32, u32::MAX, "period_us")?,
        None => budget_us,
    };
    if budget_us > period_us {
        bail!(
            "budget_us = {budget_us} is above period_us = {period_us}; a program cannot \
             use more than its whole period: lower budget_us or raise period_us"
        );
    }
    let passive = p.passive.unwrap_or(false);
    if passive && p.role != Role::Server {
        bail!(
            "passive = true, but only a server can be passive (it runs on its callers' \
             budgets); set role = \"server\" or remove passive"
        );
    }
    Ok(Sched {
        priority,
        budget_us,
        period_us,
        passive,
    })
}

fn restart(p: &parse::Program) -> Result<Restart> {
    match (p.restart, p.restart_limit) {
        (Some(parse::Restart::Always), limit) => Ok(Restart::Always {
            limit: match limit {
                Some(l) => in_range(l, 1u8, u8::MAX, "restart_limit")?,
                None => DEFAULT_RESTART_LIMIT,
            },
        }),
        (_, Some(_)) => bail!(
            "restart_limit is set but restart is not \"always\"; set restart = \"always\" \
             or remove restart_limit"
        ),
        _ => Ok(Restart::Never),
    }
}

fn maps(entry: &str, raw: &[parse::Map], regions: &[Region]) -> Result<Vec<Map>> {
    let mut out: Vec<Map> = Vec::new();
    for (i, m) in raw.iter().enumerate() {
        let entry = format!("{entry} map {}", i + 1);
        let Some(region) = regions.iter().position(|r| r.name == m.region) else {
            let known: Vec<&str> = regions.iter().map(|r| r.name.as_str()).collect();
            bail!(
                "{entry}: region \"{}\" is not defined; add a [[region]] with that name or \
                 map one of: {}",
                m.region,
                if known.is_empty() {
                    "(none)".to_string()
                } else {
                    known.join(", ")
                }
            );
        };
        let r = &regions[region];
        let vaddr = m.vaddr as u64;
        if m.vaddr < 0 || !vaddr.is_multiple_of(PAGE_SIZE) {
            bail!(
                "{entry}: vaddr = {:#x} is not page-aligned; use a multiple of 0x1000",
                m.vaddr
            );
        }
        if vaddr < MAP_BASE || vaddr.checked_add(r.size).is_none_or(|end| end > MAP_END) {
            bail!(
                "{entry}: region \"{}\" at vaddr = {vaddr:#x} ({:#x} bytes) leaves the window \
                 regions are mapped in; keep it within {MAP_BASE:#x}..{MAP_END:#x}",
                r.name,
                r.size
            );
        }
        let text = m.rights.as_deref().unwrap_or("rw");
        let Some(&(_, rights)) = MAP_RIGHTS.iter().find(|(name, _)| *name == text) else {
            bail!(
                "{entry}: rights = \"{text}\" is not known; use \"r\", \"rw\", \"rx\" or \"rwx\""
            );
        };
        let device = r.phys_addr.is_some();
        if device && m.cached == Some(true) {
            bail!(
                "{entry}: region \"{}\" is device memory, which is always mapped uncached; \
                 remove cached = true",
                r.name
            );
        }
        let end = vaddr + r.size;
        // Regions of different architectures never meet in one program.
        let meets = |o: &Region| {
            Arch::ALL
                .iter()
                .any(|&a| r.applies_to(a) && o.applies_to(a))
        };
        if let Some((j, other)) = out.iter().enumerate().find(|(_, o)| {
            o.vaddr < end && vaddr < o.vaddr + regions[o.region].size && meets(&regions[o.region])
        }) {
            bail!(
                "{entry} (region \"{}\" at {vaddr:#x}..{end:#x}) overlaps map {} (region \"{}\" \
                 at {:#x}..{:#x}); move one of them so they do not overlap",
                r.name,
                j + 1,
                regions[other.region].name,
                other.vaddr,
                other.vaddr + regions[other.region].size
            );
        }
        out.push(Map {
            region,
            vaddr,
            rights,
            cached: m.cached.unwrap_or(!device),
        });
    }
    Ok(out)
}

fn connections(
    f: &str,
    raw: &[parse::Connection],
    programs: &[Program],
) -> Result<Vec<Connection>> {
    let names: Vec<&str> = programs.iter().map(|p| p.name.as_str()).collect();
    let find = |entry: &str, end: &str, name: &str| -> Result<usize> {
        names.iter().position(|n| *n == name).with_context(|| {
            format!(
                "{entry}: {end} \"{name}\" is not a program; name one of: {}",
                names.join(", ")
            )
        })
    };
    let mut clients_of: HashMap<usize, u16> = HashMap::new();
    let mut cap_names: HashSet<(usize, String)> = HashSet::new();
    let mut out = Vec::new();
    for (i, c) in raw.iter().enumerate() {
        let entry = format!("{f}: connection {} ({} -> {})", i + 1, c.client, c.server);
        let client = find(&entry, "client", &c.client)?;
        let server = find(&entry, "server", &c.server)?;
        let (cp, sp) = (&programs[client], &programs[server]);
        if cp.role == Role::RootTask || sp.role == Role::RootTask {
            bail!(
                "{entry}: the root task gets its caps from the kernel, not from connections; \
                 remove this connection"
            );
        }
        if sp.role != Role::Server {
            bail!(
                "{entry}: \"{}\" has role = \"{}\" and accepts no connections; connect to a \
                 program with role = \"server\" (or make it one)",
                sp.name,
                sp.role
            );
        }
        if client == server {
            bail!("{entry}: a program cannot connect to itself; remove this connection");
        }
        let name = c.name.clone().unwrap_or_else(|| sp.name.clone());
        check_name(&name).with_context(|| entry.clone())?;
        if !cap_names.insert((client, name.clone())) {
            bail!(
                "{entry}: \"{}\" already has a connection named \"{name}\"; give this one \
                 another name (name = \"...\")",
                cp.name
            );
        }
        let mut rights = 0u8;
        for r in &c.rights {
            let Some(&(_, bit)) = CONNECTION_RIGHTS.iter().find(|(n, _)| n == r) else {
                let known: Vec<&str> = CONNECTION_RIGHTS.iter().map(|(n, _)| *n).collect();
                bail!(
                    "{entry}: right \"{r}\" is not known; use any of: {}",
                    known.join(", ")
                );
            };
            rights |= bit;
        }
        let (cs, ss) = (sched_of(cp), sched_of(sp));
        if ss.priority <= cs.priority {
            bail!(
                "{entry}: server \"{}\" (priority {}) must have a higher priority than its \
                 client \"{}\" (priority {}): a call runs the server at its own priority; \
                 raise the server's priority above {} or lower the client's",
                sp.name,
                ss.priority,
                cp.name,
                cs.priority,
                cs.priority
            );
        }
        if cp.start && !sp.start {
            bail!(
                "{entry}: the client is started at boot but server \"{}\" has start = false; \
                 start the server too or set start = false on the client",
                sp.name
            );
        }
        let n = clients_of.entry(server).or_insert(0);
        *n = n.checked_add(1).with_context(|| {
            format!(
                "{entry}: server \"{}\" has more than 65535 clients",
                sp.name
            )
        })?;
        let id = ClientId::new(*n).expect("invariant: client numbers start at 1");
        out.push(Connection {
            client,
            server,
            name,
            badge: ClientBadge::new(id, ActivityId(cp.activity), Rights::from_bits(rights)),
        });
    }
    Ok(out)
}

fn sched_of(p: &Program) -> Sched {
    p.sched
        .expect("invariant: connections() refused the root task, the only program without one")
}

/// A passive server nobody calls never runs; a region nobody maps is a mistake.
fn check_used(
    f: &str,
    programs: &[Program],
    connections: &[Connection],
    regions: &[Region],
) -> Result<()> {
    for (i, p) in programs.iter().enumerate() {
        if p.sched.is_some_and(|s| s.passive) && !connections.iter().any(|c| c.server == i) {
            bail!(
                "{f}: program \"{}\" is passive but no [[connection]] names it as server, so \
                 no caller would ever lend it a budget; add a connection or remove passive",
                p.name
            );
        }
    }
    for (i, r) in regions.iter().enumerate() {
        if !programs
            .iter()
            .any(|p| p.maps.iter().any(|m| m.region == i))
        {
            bail!(
                "{f}: region \"{}\" is mapped by no program; add a [[program.map]] with \
                 region = \"{}\" or remove the region",
                r.name,
                r.name
            );
        }
    }
    Ok(())
}
