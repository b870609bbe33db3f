//! The devices of a system description: I/O port ranges (none overlapping
//! the kernel's ports or another range), interrupts (one handler per line
//! and one source per event, on each architecture), device regions (none
//! overlapping the kernel's device memory or another device region, on
//! each architecture), and the kernel's UART, lent to one program at most
//! (`serial_device`).

use std::collections::{HashMap, HashSet};

use anyhow::{bail, Context, Result};
use keel_abi::bootinfo::{MemRegion, KERNEL_DEVICE_MEMORY};
use keel_abi::cap::KERNEL_IO_PORTS;
use keel_abi::manifest::IoPorts;
use keel_abi::Arch;

use super::validate::MAX_EVENTS;
use super::{Program, Region};

/// On each architecture, no device region overlaps the device memory the
/// kernel keeps (its interrupt controllers and UART) or another device
/// region: a device's registers have one driver.
pub(super) fn check_device_regions(f: &str, regions: &[Region]) -> Result<()> {
    for a in Arch::ALL.iter().copied() {
        let mut given: Vec<(MemRegion, &str)> = Vec::new();
        for r in regions.iter().filter(|r| r.applies_to(a)) {
            let Some(start) = r.phys_addr else {
                continue;
            };
            let entry = format!("{f}: region \"{}\"", r.name);
            let range = MemRegion {
                start,
                end: start.saturating_add(r.size),
            };
            if let Some((_, k)) = KERNEL_DEVICE_MEMORY
                .iter()
                .find(|(ka, k)| *ka == a && k.overlaps(&range))
            {
                bail!(
                    "{entry}: {:#x}..{:#x} overlaps {:#x}..{:#x}, device memory the kernel \
                     keeps for itself on {}; give the region another device's address",
                    range.start,
                    range.end,
                    k.start,
                    k.end,
                    a.name()
                );
            }
            if let Some((o, other)) = given.iter().find(|(o, _)| o.overlaps(&range)) {
                bail!(
                    "{entry}: {:#x}..{:#x} overlaps region \"{other}\" ({:#x}..{:#x}) on {}; \
                     a device's registers have one region: map that one instead",
                    range.start,
                    range.end,
                    o.start,
                    o.end,
                    a.name()
                );
            }
            given.push((range, &r.name));
        }
    }
    Ok(())
}

/// No I/O port range overlaps the kernel's ports or another range.
pub(super) fn check_ioports(f: &str, programs: &[Program]) -> Result<()> {
    let mut given: Vec<(IoPorts, String)> = Vec::new();
    for p in programs {
        for (i, r) in p.ioports.iter().enumerate() {
            let entry = format!("{f}: program \"{}\" ioport {}", p.name, i + 1);
            let overlaps = |a: u16, b: u16| r.first <= b && a <= r.last;
            if let Some((a, b)) = KERNEL_IO_PORTS.iter().find(|(a, b)| overlaps(*a, *b)) {
                bail!(
                    "{entry}: ports {:#x}..={:#x} overlap {a:#x}..={b:#x}, which the kernel \
                     keeps for itself; give the program other ports",
                    r.first,
                    r.last
                );
            }
            if let Some((o, owner)) = given.iter().find(|(o, _)| overlaps(o.first, o.last)) {
                bail!(
                    "{entry}: ports {:#x}..={:#x} overlap {:#x}..={:#x}, already given to \
                     program \"{owner}\"; a port has one driver: give each range once",
                    r.first,
                    r.last,
                    o.first,
                    o.last
                );
            }
            given.push((*r, p.name.clone()));
        }
    }
    Ok(())
}

/// The kernel's UART (`serial_device = true`) is lent to one program at
/// most, and not together with its ports by `[[program.ioport]]` (which
/// [`check_ioports`] refuses anyway, as the kernel's).
pub(super) fn check_serial_device(f: &str, programs: &[Program]) -> Result<()> {
    let holders: Vec<&str> = programs
        .iter()
        .filter(|p| p.serial_device)
        .map(|p| p.name.as_str())
        .collect();
    if holders.len() > 1 {
        bail!(
            "{f}: {} programs have serial_device = true ({}); the kernel lends its UART to \
             one program, the serial server: keep it on one",
            holders.len(),
            holders.join(", ")
        );
    }
    Ok(())
}

/// An `arch` key's value.
pub(super) fn arch(name: &str) -> Result<Arch> {
    Arch::ALL
        .iter()
        .copied()
        .find(|a| a.name() == name)
        .with_context(|| {
            let names: Vec<&str> = Arch::ALL.iter().map(|a| a.name()).collect();
            format!(
                "arch \"{name}\" is not known: use one of {}",
                names.join(", ")
            )
        })
}

/// Each interrupt has one handler; each event bit of a program names one
/// source; on each architecture (an interrupt for one architecture only
/// does not meet one for the other).
pub(super) fn check_irqs(f: &str, programs: &[Program]) -> Result<()> {
    for a in Arch::ALL.iter().copied() {
        let mut owner: HashMap<u32, &str> = HashMap::new();
        for p in programs {
            let mut events = HashSet::new();
            for (i, irq) in p
                .irqs
                .iter()
                .enumerate()
                .filter(|(_, irq)| irq.applies_to(a))
            {
                let entry = format!("{f}: program \"{}\" irq {}", p.name, i + 1);
                if let Some(other) = owner.insert(irq.irq, &p.name) {
                    bail!(
                        "{entry}: interrupt {} is already given to program \"{other}\" on {}; \
                         an interrupt has one handler: remove one of them",
                        irq.irq,
                        a.name()
                    );
                }
                if !events.insert(irq.event) {
                    bail!(
                        "{entry}: event {} is already used by another of its interrupts on \
                         {}; give each interrupt its own event (0 to {})",
                        irq.event,
                        a.name(),
                        MAX_EVENTS - 1
                    );
                }
            }
        }
    }
    Ok(())
}
