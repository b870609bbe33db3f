//! Moving memory clients between slaves, and giving a restarted slave its
//! clients back.
//!
//! A client whose slave refused it for want of memory asks init to move it
//! (the relocation protocol, on its init endpoint). Init asks the master
//! where the slave's clients go (`reroute`); when that is another slave,
//! init attaches the client there with its VSpace, points the client's
//! thread's faults there (its delayed areas from now on are the new
//! slave's), moves the client's `memory` cap to a free slot of its CNode
//! and mints one badged for the new slave in its place, then answers with
//! the old cap's slot. The areas the client made stay with the slaves
//! that hold them, reachable through those caps, until it frees them or
//! ends (then init detaches it from every slave it was on). Handing areas
//! over instead would move frames between partitions, which the slaves
//! never share.
//!
//! What a move does not carry: a delayed area reserved at the old slave
//! is filled there only while its faults go there, so its pages not yet
//! touched fault into the new slave, which sends the fault on to init as
//! the client's (a clear failure, never another's memory).
//!
//! A slave that crashed and was started again has its partition whole (the
//! old instance's frames are revoked, so unmapped from its clients): init
//! attaches its clients to the new instance, so their next requests are
//! served and a touch of a lost page reaches init as their fault, rather
//! than finding a slave that knows nothing of them.

use alloc::format;
use keel_protocols::memory::MemoryClient;
use keel_protocols::mm_master::MasterClient;
use keel_protocols::relocation::{dispatch, RelocationError, RelocationServer};
use keel_protocols::wire::{Incoming, OutMessage};
use keel_protocols::Caller;
use keel_sys::cap::init_thread;
use keel_sys::CPtr;

use crate::memory::MM_FAULT_EP;
use crate::start::{CLIENT_RIGHTS, RECEIVE_SLOT};
use crate::supervise::Event;
use crate::System;

/// Init answering one relocation request of `program`.
struct Mover<'s, 'a> {
    system: &'s mut System<'a>,
    program: usize,
    to: Option<usize>,
}

impl RelocationServer for Mover<'_, '_> {
    fn relocate(&mut self, _caller: &Caller) -> Result<u64, RelocationError> {
        let (slot, to) = self.system.move_client(self.program)?;
        self.to = Some(to);
        Ok(slot)
    }
}

impl System<'_> {
    /// Answers a relocation request of `program`.
    pub(crate) fn relocation(&mut self, program: usize, incoming: &Incoming) -> Event {
        let mut mover = Mover {
            system: self,
            program,
            to: None,
        };
        let mut reply = OutMessage::new();
        dispatch(&mut mover, incoming, &mut reply);
        let to = mover.to;
        self.owed_reply = Some(reply);
        Event::Relocated { program, to }
    }

    /// The slave the master moves memory client `index`'s slave's clients
    /// to, when that is one the client is not on yet.
    fn new_slave(&mut self, index: usize) -> Result<usize, RelocationError> {
        let link = self.programs[index]
            .memory
            .clone()
            .ok_or(RelocationError::NotAClient)?;
        let m = self
            .manifest
            .memory
            .as_ref()
            .ok_or(RelocationError::NotAClient)?;
        let slaves = m.slaves.clone();
        let from = slaves
            .iter()
            .position(|&s| usize::from(s) == link.slave)
            .ok_or(RelocationError::Failed)?;
        let master = m.master.map(usize::from).ok_or(RelocationError::Stays)?;
        let transport = self
            .admin_transport(master)
            .ok()
            .flatten()
            .ok_or(RelocationError::Stays)?;
        let to = MasterClient::new(transport)
            .reroute(from as u16)
            .map_err(|_| RelocationError::Stays)?;
        let to = slaves
            .get(usize::from(to))
            .map(|&s| usize::from(s))
            .ok_or(RelocationError::Failed)?;
        let on = link.slaves().any(|s| s == to);
        match on {
            true => Err(RelocationError::Stays),
            false => Ok(to),
        }
    }

    /// Moves memory client `index` to the slave the master names (see the
    /// module's text); returns the slot of its CNode that holds its cap to
    /// the old slave now, and the new slave.
    fn move_client(&mut self, index: usize) -> Result<(u64, usize), RelocationError> {
        let to = self.new_slave(index)?;
        let (Some(process), Some(link)) = (
            self.programs[index].process,
            self.programs[index].memory.clone(),
        ) else {
            return Err(RelocationError::NotAClient);
        };
        self.attach_to(index, to)
            .map_err(|_| RelocationError::Failed)?;
        let radix = self.cnode_radix(index);
        let at = |s| process.cnode.absolute_cptr_with_depth(s, radix);
        let moved = (keel_loader::slot::FIRST_GIVEN..RECEIVE_SLOT)
            .rev()
            .find(|&s| at(s).move_(&at(link.slot)).is_ok());
        let (endpoint, badge) = self
            .client_badge(index, to)
            .map_err(|_| RelocationError::Failed)?;
        let minted = moved.is_some_and(|_| {
            at(link.slot)
                .mint(
                    &init_thread::CNODE.absolute_cptr(CPtr::from_bits(endpoint)),
                    CLIENT_RIGHTS,
                    badge.bits(),
                )
                .is_ok()
        });
        let (Some(old), true) = (moved, minted) else {
            if let Some(old) = moved {
                let _ = at(link.slot).move_(&at(old));
            }
            self.detach_from(index, to);
            return Err(RelocationError::Failed);
        };
        let faults = self.mint_fault_endpoint(index, to).is_ok()
            && process
                .tcb
                .tcb_set_space(
                    CPtr::from_bits(self.programs[index].block + MM_FAULT_EP),
                    process.cnode,
                    64 - radix,
                    process.vspace,
                )
                .is_ok();
        if !faults {
            self.say("init: a moved memory client's faults still go to its old slave");
        }
        if let Some(l) = self.programs[index].memory.as_mut() {
            l.former.push(l.slave);
            l.slave = to;
        }
        self.say(&format!(
            "init: moved memory client {} from {} to {}",
            self.manifest.programs[index].name,
            self.manifest.programs[link.slave].name,
            self.manifest.programs[to].name
        ));
        Ok((old, to))
    }

    /// Detaches memory client `index` from `slave` (a move undone).
    fn detach_from(&mut self, index: usize, slave: usize) {
        if let Ok(Some(transport)) = self.admin_transport(slave) {
            let _ = MemoryClient::new(transport).detach(index as u16);
        }
    }

    /// Slave `slave` was started again: attaches to it every client that
    /// was on it, whose areas there went with the old instance.
    pub(crate) fn reattach_clients(&mut self, slave: usize) {
        for index in 0..self.programs.len() {
            let on = self.programs[index]
                .memory
                .as_ref()
                .is_some_and(|l| l.slaves().any(|s| s == slave));
            if !on {
                continue;
            }
            let line = match self.attach_to(index, slave) {
                Ok(()) => format!(
                    "init: {} was restarted: memory client {} attached again; its areas there were lost",
                    self.manifest.programs[slave].name, self.manifest.programs[index].name
                ),
                Err(e) => format!(
                    "init: {} was restarted: memory client {} could not be attached again: {e}",
                    self.manifest.programs[slave].name, self.manifest.programs[index].name
                ),
            };
            self.say(&line);
        }
    }
}
