//! The report of a built system, as Microkit's tool prints one: for each
//! program its scheduling, restart policy, every capability init gives it
//! (with the badges it mints) and every region mapped into it, then each
//! activity with its entitlement and members. Rendered from the boot
//! manifest itself, so it shows exactly what init will read.

use std::fmt::Write as _;

use keel_abi::manifest::{Manifest, MapRights, Restart, Role};
use keel_protocols::badge::{ClientBadge, SignalBadge};
use keel_protocols::process::{OWN_BITS, POOL_BITS, SPARE_SLOTS as PROCESS_SPARE_SLOTS};
use keel_protocols::scheduler::{SPARE_SLOTS, TIMEOUT_FAULT_BADGE, UNTYPED_BITS};

use super::activity::{percent, ACTIVITY_LIMIT_PERCENT, RESERVED_PERCENT};
use super::validate::CONNECTION_RIGHTS;

/// The report for `manifest`, built from the description at `file`.
pub fn render(manifest: &Manifest, file: &str) -> String {
    let mut out = String::new();
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "system \"{}\" ({file}): {}, {}, {}",
        manifest.system,
        plural(manifest.programs.len(), "program"),
        plural(manifest.connections.len(), "connection"),
        plural(manifest.regions.len(), "region"),
    );
    for (i, p) in manifest.programs.iter().enumerate() {
        let _ = writeln!(out);
        let started = match (p.role, p.start) {
            (Role::RootTask, _) => "started by the kernel",
            (_, true) => "started by init at boot",
            (_, false) => "packed, not started at boot",
        };
        let _ = writeln!(out, "program \"{}\" ({}, {started})", p.name, p.role);
        let sched = match p.sched {
            None => "set by the kernel".to_string(),
            Some(s) => format!(
                "priority {}, budget {} us / period {} us{}",
                s.priority,
                s.budget_us,
                s.period_us,
                if s.passive { ", passive" } else { "" }
            ),
        };
        row(&mut out, "scheduling", &sched);
        let restart = match p.restart {
            Restart::Never => "never".to_string(),
            Restart::Always { limit } => format!("always, at most {limit} times"),
        };
        row(&mut out, "restart", &restart);
        if let Some(a) = manifest
            .activities
            .iter()
            .find(|a| a.members.iter().any(|&m| usize::from(m) == i))
        {
            row(
                &mut out,
                "activity",
                &format!("\"{}\" (activity {}; scheduled by it)", a.name, a.id),
            );
        }
        let mut caps = Vec::new();
        if p.role == Role::RootTask {
            caps.push("the kernel's initial caps (see BootInfo)".to_string());
        } else {
            caps.push("TCB, CNode, VSpace".to_string());
            caps.push("endpoint to init (its fault endpoint; ready, exit)".to_string());
            caps.push(match p.debug {
                true => "Debug (identify its caps, print)".to_string(),
                false => "Debug (identify its caps)".to_string(),
            });
        }
        let clients = manifest
            .connections
            .iter()
            .filter(|c| usize::from(c.server) == i)
            .count();
        if manifest.scheduler.is_some_and(|s| usize::from(s) == i) {
            caps.push(format!(
                "SchedControl, an untyped of {} KiB and {SPARE_SLOTS} spare slots for \
                 scheduling contexts, its endpoint badged {TIMEOUT_FAULT_BADGE:#x} as every \
                 activity thread's timeout endpoint",
                (1u64 << UNTYPED_BITS) / 1024
            ));
        }
        if manifest.serial.is_some_and(|s| usize::from(s) == i) {
            caps.push(format!(
                "the kernel's UART, lent (COM1's ports on x86_64, the PL011's page on \
                 aarch64), and {} spare slots for its clients' notifications",
                keel_protocols::serial::SPARE_SLOTS
            ));
        }
        if manifest.process.is_some_and(|s| usize::from(s) == i) {
            caps.push(format!(
                "an untyped pool of {} MiB for its processes' reclamation groups, an untyped \
                 of {} KiB for its own objects, SchedControl, the ASID pool, the boot archive \
                 (read-only) and {PROCESS_SPARE_SLOTS} spare slots",
                (1u64 << POOL_BITS) >> 20,
                (1u64 << OWN_BITS) / 1024
            ));
        }
        if p.role == Role::Server {
            caps.push(format!(
                "endpoint it serves ({}), Reply object",
                plural(clients, "client")
            ));
        }
        for c in manifest
            .connections
            .iter()
            .filter(|c| usize::from(c.client) == i)
        {
            let server = &manifest.programs[usize::from(c.server)].name;
            caps.push(format!(
                "endpoint \"{}\" to \"{server}\", badge {}",
                c.name,
                badge(c.badge)
            ));
        }
        for irq in &p.irqs {
            let bits = SignalBadge::event(irq.event).map_or(0, |b| b.bits());
            let only = irq
                .arch
                .map_or(String::new(), |a| format!(", {} only", a.name()));
            caps.push(format!(
                "IRQHandler {} -> notification badge {bits:#x} (event {}{only})",
                irq.irq, irq.event
            ));
        }
        for range in &p.ioports {
            caps.push(format!("IOPort {:#x}..={:#x}", range.first, range.last));
        }
        for (n, line) in caps.iter().enumerate() {
            row(&mut out, if n == 0 { "caps" } else { "" }, line);
        }
        if p.maps.is_empty() {
            row(&mut out, "memory", "no shared regions");
        }
        for (n, m) in p.maps.iter().enumerate() {
            let r = &manifest.regions[usize::from(m.region)];
            let mut kind = match r.phys_addr {
                Some(pa) => format!("device {pa:#x}"),
                None => "memory".to_string(),
            };
            if let Some(a) = r.arch {
                kind = format!("{kind} on {}", a.name());
            }
            let line = format!(
                "region \"{}\" ({kind}, {} KiB) at {:#x}..{:#x}, {}{}",
                r.name,
                r.size / 1024,
                m.vaddr,
                m.vaddr + r.size,
                rights(m.rights),
                if m.cached { ", cached" } else { ", uncached" }
            );
            row(&mut out, if n == 0 { "memory" } else { "" }, &line);
        }
    }
    activities(&mut out, manifest);
    out
}

/// Each activity's entitlement, priority and members, and their total
/// against what activities may have.
fn activities(out: &mut String, manifest: &Manifest) {
    if manifest.activities.is_empty() {
        return;
    }
    let total: f64 = manifest
        .activities
        .iter()
        .map(|a| percent(a.budget_us, a.period_us))
        .sum();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "activities: {total:.2}% of a core entitled, of the {ACTIVITY_LIMIT_PERCENT}% they may \
         have ({RESERVED_PERCENT}% kept back for the kernel and servers on budgets of their own)"
    );
    for a in &manifest.activities {
        let members: Vec<&str> = a
            .members
            .iter()
            .map(|&m| manifest.programs[usize::from(m)].name.as_str())
            .collect();
        let _ = writeln!(
            out,
            "activity \"{}\" (activity {}): {:.2}% of a core ({} us every {} us), priority {}, \
             members {}{}",
            a.name,
            a.id,
            percent(a.budget_us, a.period_us),
            a.budget_us,
            a.period_us,
            a.priority,
            members.join(", "),
            if a.may_exceed_when_idle {
                ", may exceed it when the CPU is otherwise idle"
            } else {
                ""
            }
        );
    }
}

fn row(out: &mut String, label: &str, text: &str) {
    let _ = writeln!(out, "  {label:<11} {text}");
}

/// `0x...: client C, activity A, rights a+b`.
fn badge(bits: u64) -> String {
    let Ok(b) = ClientBadge::from_bits(bits) else {
        return format!("{bits:#x} (not a client badge)");
    };
    let names: Vec<&str> = CONNECTION_RIGHTS
        .iter()
        .filter(|(_, bit)| b.rights().bits() & bit != 0)
        .map(|(name, _)| *name)
        .collect();
    format!(
        "{bits:#x} (client {}, activity {}, rights {})",
        b.client().get(),
        b.activity().0,
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join("+")
        }
    )
}

fn rights(r: MapRights) -> String {
    [(r.read, 'r'), (r.write, 'w'), (r.execute, 'x')]
        .iter()
        .filter(|(set, _)| *set)
        .map(|(_, c)| *c)
        .collect()
}
