//! Starting one program: the caps the description names, minted or copied
//! into its CNode by keel-loader; its shared regions; its process-information
//! page; its scheduling. Everything of the instance is retyped from the
//! program's own untyped, so one revoke of it ends the instance.
//!
//! The program's CNode (2^[`CNODE_RADIX`] slots, a slot number is a CPtr):
//!
//! | slot | holds |
//! |------|-------|
//! | 1, 2, 3 | its TCB, CNode, VSpace |
//! | 4 | init's endpoint with its client badge (also its fault endpoint) |
//! | 5 | its Debug cap: the read right (identify its own caps), and the write right (print) for `debug = true` |
//! | 6.. | a server's endpoint and Reply object, its interrupts' notification and handlers, its I/O port caps, its connections, in that order |
//! | [`RECEIVE_SLOT`] | empty: where caps it receives go |
//! | [`FIRST_LOADER`].. | a server's spare slots ([`SERVER_SPARE_SLOTS`]; the scheduler server's more), for caps its clients hand it |
//! | after those | keel-loader's: paging structures, frames |

use alloc::format;
use alloc::vec::Vec;
use keel_abi::cap::SERIAL_PORTS;
use keel_abi::manifest::{Role, Sched};
use keel_abi::process::{
    IoPortCap, IrqCap, MappedRegion, NamedCap, ProcessInfo, ProcessSlots, PROCESS_INFO_VADDR,
    SERIAL_DEVICE_VADDR, SERIAL_REGION,
};
use keel_abi::{Arch, CapRights, ObjectType, PAGE_SIZE};
use keel_loader::{
    slot, Budget, ExtraPage, GivenCap, ProcessConfig, SharedFrame, SlotLayout, CALLER_SLOTS,
};
use keel_protocols::badge::{ActivityId, ClientBadge, ClientId, Rights};
use keel_protocols::{scheduler, serial};
use keel_sys::arch::ARCH;
use keel_sys::cap::{init_thread, Untyped};
use keel_sys::{CPtr, Cap};

use crate::memory::{retype, INIT_EP, LOADER, REPLY, SCHED_UNTYPED, UNTYPED};
use crate::{refused, InitError, State, System};

/// log2 of the slots of a program's CNode (its frames take one each:
/// keel-rt's heap alone is 256 pages).
pub const CNODE_RADIX: u64 = 10;
/// The first slot keel-loader fills with the program's own objects.
pub const FIRST_LOADER: u64 = 32;
/// Empty slots every server gets (`ProcessSlots::spare`) for the caps its
/// clients hand over and it keeps (the timer server's client
/// notifications); the scheduler server gets its own count.
pub const SERVER_SPARE_SLOTS: u64 = 64;
/// The empty slot caps the program receives go to.
pub const RECEIVE_SLOT: u64 = FIRST_LOADER - 1;
/// The rights of a client's cap to a server: send (Call, with caps), and
/// receive the reply; never receive on the server's endpoint.
pub(crate) const CLIENT_RIGHTS: CapRights = CapRights::WRITE
    .union(CapRights::GRANT)
    .union(CapRights::GRANT_REPLY);

/// The badge of program `index`'s caps to init: client `index` (the root
/// task, 0, has none), the system's activity, no rights.
pub fn init_badge(index: usize) -> Option<ClientBadge> {
    let id = u16::try_from(index).ok().and_then(ClientId::new)?;
    Some(ClientBadge::new(id, ActivityId(0), Rights::NONE))
}

/// The caps a program gets, as keel-loader's list and the page's slots.
pub(crate) struct Grants {
    caps: Vec<GivenCap>,
    pub(crate) slots: ProcessSlots,
    connections: Vec<NamedCap>,
    irqs: Vec<IrqCap>,
    ioports: Vec<IoPortCap>,
}

impl Grants {
    /// Gives `cptr` (of init's) with `rights` and `badge`; returns the
    /// program's slot for it.
    pub(crate) fn give(&mut self, cptr: u64, rights: CapRights, badge: u64) -> u64 {
        self.caps.push(GivenCap {
            cptr: CPtr::from_bits(cptr),
            rights,
            badge,
        });
        slot::FIRST_GIVEN + self.caps.len() as u64 - 1
    }

    /// Names the cap at `slot` `name` in the program's page.
    pub(crate) fn named(&mut self, name: &str, slot: u64) {
        self.connections.push(NamedCap {
            name: name.into(),
            slot,
        });
    }
}

impl System<'_> {
    /// Builds program `index` from its untyped and starts it: a server
    /// then runs until it announces `ready`, an app until it exits. An app
    /// of a system whose process server serves is started through it
    /// instead (see [`crate::process`]).
    ///
    /// # Errors
    /// The step that failed (a program without scheduling, not in the
    /// archive, or one keel-loader could not build).
    pub fn start(&mut self, index: usize) -> Result<(), InitError> {
        if self.spawns(index) {
            return self.spawn_app(index);
        }
        let p = self
            .manifest
            .programs
            .get(index)
            .ok_or(refused("find the program to start"))?;
        let sched = p
            .sched
            .ok_or(refused("start the root task (the kernel does)"))?;
        let image = self
            .archive
            .find(&p.name)
            .map(|e| self.archive.data(e))
            .ok_or(refused("find the program in the boot archive"))?;
        let block = self.programs[index].block;
        let untyped: Cap<Untyped> = Cap::from_cptr(CPtr::from_bits(block + UNTYPED));
        let mut grants = self.grants(index, untyped)?;
        self.manager_grants(&mut grants, index)?;
        let (mut shared, mut regions) = self.shared_frames(index);
        let is_process_server = self.process_server() == Some(index);
        if is_process_server {
            regions.extend(self.archive_frames(&mut shared));
        }
        let info = ProcessInfo {
            name: p.name.clone(),
            slots: grants.slots,
            connections: grants.connections,
            regions,
            irqs: grants.irqs,
            ioports: grants.ioports,
            arg: self.arg_of(index),
        };
        let page = info
            .encode_page()
            .map_err(|_| refused("encode the process-information page"))?;
        if page.len() > PAGE_SIZE {
            return Err(refused("fit the process-information page in a page"));
        }
        let extra = [ExtraPage {
            vaddr: PROCESS_INFO_VADDR,
            bytes: &page,
        }];
        let res = keel_loader::Resources {
            untyped,
            cnode: init_thread::CNODE,
            slots: block + LOADER..block + LOADER + CALLER_SLOTS,
            vspace: init_thread::VSPACE,
            scratch_vaddr: self.res.scratch_vaddr,
            asid_pool: init_thread::ASID_POOL,
            authority: init_thread::TCB,
            sched_control: init_thread::SCHED_CONTROL,
        };
        let cfg = ProcessConfig {
            priority: sched.priority.into(),
            fault_ep: Some(CPtr::from_bits(self.fault_slot(index))),
            arg: PROCESS_INFO_VADDR,
            caps: &grants.caps,
            shared_frames: &shared,
            mcp: Some(sched.priority.into()),
            layout: SlotLayout {
                cnode_radix: match is_process_server {
                    true => keel_protocols::process::SERVER_CNODE_RADIX,
                    false => self.cnode_radix(index),
                },
                first_given: slot::FIRST_GIVEN,
                first_loader: grants.slots.spare.map_or(FIRST_LOADER, |(_, end)| end),
            },
            extra_pages: &extra,
            budget: Some(budget(sched)),
            fixed_heap: !self.is_memory_client(index),
            ..ProcessConfig::default()
        };
        if grants.caps.len() as u64 > RECEIVE_SLOT - slot::FIRST_GIVEN {
            return Err(refused("fit the program's caps below its receive slot"));
        }
        let process = keel_loader::spawn(image, &res, &cfg).map_err(|e| InitError {
            step: e.step,
            error: e.error,
        })?;
        let program = &mut self.programs[index];
        if let Some(ntfn) = program.devices.notification {
            // Init runs above every program: the thread has not run yet.
            process
                .tcb
                .tcb_bind_notification(ntfn)
                .map_err(|error| InitError {
                    step: "bind a program's interrupt notification",
                    error,
                })?;
        }
        program.process = Some(process);
        program.state = match p.role {
            Role::Server => State::Starting,
            _ => State::Running,
        };
        self.admit(index)?;
        self.attach_client(index)?;
        if self.verbose {
            let passive = if sched.passive { ", passive" } else { "" };
            self.say(&format!(
                "init: started {} ({}, priority {}{passive})",
                p.name, p.role, sched.priority
            ));
        }
        Ok(())
    }

    /// The caps program `index` gets; makes a server's Reply object from
    /// its untyped (init keeps the original, to answer for the server).
    fn grants(&self, index: usize, untyped: Cap<Untyped>) -> Result<Grants, InitError> {
        let p = &self.manifest.programs[index];
        let block = self.programs[index].block;
        let mut g = Grants {
            caps: Vec::new(),
            slots: ProcessSlots {
                tcb: slot::TCB,
                cnode: slot::CNODE,
                vspace: slot::VSPACE,
                receive: RECEIVE_SLOT,
                ..ProcessSlots::default()
            },
            connections: Vec::new(),
            irqs: Vec::new(),
            ioports: Vec::new(),
        };
        if self.process_server() == Some(index) {
            self.process_memory(index, untyped)?;
        }
        g.slots.init = g.give(block + INIT_EP, CLIENT_RIGHTS, 0);
        let debug_rights = match p.debug {
            true => CapRights::READ.union(CapRights::WRITE),
            false => CapRights::READ,
        };
        g.slots.debug = Some(g.give(self.res.debug.cptr().bits(), debug_rights, 0));
        if let Some(endpoint) = self.programs[index].endpoint {
            retype(untyped, ObjectType::Reply, 0, block + REPLY, 1)?;
            g.slots.endpoint = Some(g.give(endpoint.cptr().bits(), CapRights::ALL, 0));
            g.slots.reply = Some(g.give(block + REPLY, CapRights::ALL, 0));
        }
        let devices = &self.programs[index].devices;
        if let Some(ntfn) = devices.notification {
            g.slots.notification = Some(g.give(ntfn.cptr().bits(), CapRights::ALL, 0));
        }
        for irq in &devices.irqs {
            let handler = g.give(irq.handler, CapRights::ALL, 0);
            g.irqs.push(IrqCap { handler, ..*irq });
        }
        for r in &devices.ioports {
            let slot = g.give(r.slot, CapRights::ALL, 0);
            g.ioports.push(IoPortCap { slot, ..*r });
        }
        if self.scheduler() == Some(index) {
            self.scheduler_grants(&mut g, index, untyped)?;
        } else if p.role == Role::Server {
            g.slots.spare = Some((FIRST_LOADER, FIRST_LOADER + SERVER_SPARE_SLOTS));
        }
        if self.serial() == Some(index) {
            if ARCH == Arch::X86_64 {
                let (first, last) = SERIAL_PORTS;
                let slot = g.give(init_thread::SERIAL_DEVICE.bits(), CapRights::ALL, 0);
                g.ioports.push(IoPortCap { first, last, slot });
            }
            g.slots.spare = Some((FIRST_LOADER, FIRST_LOADER + serial::SPARE_SLOTS));
        }
        if self.process_server() == Some(index) {
            self.process_grants(&mut g, index)?;
        }
        for c in self.manifest.connections.iter() {
            if usize::from(c.client) != index {
                continue;
            }
            let server = self
                .server_endpoint(c.server.into())
                .ok_or(refused("connect to a program that is not a server"))?;
            let slot = g.give(server.cptr().bits(), CLIENT_RIGHTS, c.badge);
            g.connections.push(NamedCap {
                name: c.name.clone(),
                slot,
            });
        }
        Ok(g)
    }

    /// The program init lends the kernel's UART (the serial server).
    fn serial(&self) -> Option<usize> {
        self.manifest.serial.map(usize::from)
    }

    /// What the scheduler server (program `index`) gets beyond a server's
    /// caps: SchedControl, an untyped retyped from its own (so its teardown
    /// takes the contexts it made too), its endpoint badged for timeout
    /// faults, and spare slots.
    fn scheduler_grants(
        &self,
        g: &mut Grants,
        index: usize,
        untyped: Cap<Untyped>,
    ) -> Result<(), InitError> {
        let endpoint = self.programs[index]
            .endpoint
            .ok_or(refused("make a program that is not a server the scheduler"))?;
        let block = self.programs[index].block;
        retype(
            untyped,
            ObjectType::Untyped,
            scheduler::UNTYPED_BITS.into(),
            block + SCHED_UNTYPED,
            1,
        )?;
        let control = g.give(init_thread::SCHED_CONTROL.cptr().bits(), CapRights::ALL, 0);
        g.named("sched-control", control);
        let memory = g.give(block + SCHED_UNTYPED, CapRights::ALL, 0);
        g.named("untyped", memory);
        let timeout = g.give(
            endpoint.cptr().bits(),
            CLIENT_RIGHTS,
            scheduler::TIMEOUT_FAULT_BADGE,
        );
        g.named("timeout", timeout);
        g.slots.spare = Some((FIRST_LOADER, FIRST_LOADER + scheduler::SPARE_SLOTS));
        Ok(())
    }

    /// The frames of program `index`'s shared regions, and what its page
    /// says of them.
    fn shared_frames(&self, index: usize) -> (Vec<SharedFrame>, Vec<MappedRegion>) {
        let mut frames = Vec::new();
        let mut regions = Vec::new();
        for m in &self.manifest.programs[index].maps {
            let region = &self.manifest.regions[usize::from(m.region)];
            if !region.applies_to(ARCH) {
                continue;
            }
            let slots = self.region_frames[usize::from(m.region)].clone();
            let mut rights = CapRights::READ;
            if m.rights.write {
                rights = rights.union(CapRights::WRITE);
            }
            for (i, slot) in slots.enumerate() {
                frames.push(SharedFrame {
                    frame: Cap::from_cptr(CPtr::from_bits(slot)),
                    vaddr: m.vaddr + i as u64 * PAGE_SIZE as u64,
                    rights,
                });
            }
            regions.push(MappedRegion {
                name: region.name.clone(),
                vaddr: m.vaddr,
                size: region.size,
                writable: m.rights.write,
            });
        }
        if self.serial() == Some(index) && ARCH == Arch::Aarch64 {
            // The PL011's page: a device frame, so mapped uncached.
            frames.push(SharedFrame {
                frame: Cap::from_cptr(init_thread::SERIAL_DEVICE),
                vaddr: SERIAL_DEVICE_VADDR,
                rights: CapRights::READ.union(CapRights::WRITE),
            });
            regions.push(MappedRegion {
                name: SERIAL_REGION.into(),
                vaddr: SERIAL_DEVICE_VADDR,
                size: PAGE_SIZE as u64,
                writable: true,
            });
        }
        (frames, regions)
    }
}

/// The scheduling context keel-loader makes for a program.
fn budget(sched: Sched) -> Budget {
    Budget {
        budget_us: sched.budget_us.into(),
        period_us: sched.period_us.into(),
    }
}
