//! Init's part in memory management, when the manifest names memory
//! managers: each slave gets its partition (retyped from the pool once),
//! spare slots for it and a CNode large enough; the master gets a cap to
//! every slave and its policy. Each memory client is given a slave when it
//! starts (the master's pick, or the slaves in turn without a master): a
//! connection named `memory` to it, its fault endpoint leading to it, and
//! init attaches it there with its VSpace before it runs. A client torn
//! down is detached first, which returns all its memory.
//!
//! ```text
//!  init                    master                 slave s                client
//!   |-- route(activity) --->| reads every slave's load                       |
//!   |<------- s ------------|                       |                        |
//!   |-- build the client: `memory` cap to s, fault endpoint badged for it -->|
//!   |-- attach(vspace, client, activity) --------->|                        |
//!   |-- forward_faults(init's cap for the client)->|                        |
//!   |   ... the client dies ...                     |                        |
//!   |-- detach(client) --------------------------->| frees every area       |
//! ```
//!
//! A client whose slave runs out of memory is moved to another slave
//! ([`crate::relocation`]); it is then attached to every slave it was on,
//! and detached from each when it ends.

use alloc::format;
use alloc::vec::Vec;
use keel_abi::manifest::{MemoryManagers, MemoryPolicy};
use keel_abi::{CapRights, ObjectType};
use keel_protocols::cap::Grant;
use keel_protocols::memory::{fault_badge, slave_slots, MemoryClient};
use keel_protocols::mm_master::{policy_word, slave_name, MasterClient};
use keel_protocols::{ActivityId, ClientBadge, ClientId, Rights};
use keel_sys::cap::init_thread;
use keel_sys::CPtr;

use crate::memory::{retype, INIT_EP, MM_FAULT_EP, PARTITION};
use crate::start::{Grants, CLIENT_RIGHTS, CNODE_RADIX, FIRST_LOADER};
use crate::{refused, Context, InitError, System};

/// Slots beyond its spare ones a slave's CNode keeps for keel-loader (its
/// image, 1 MiB heap, stack and paging structures).
const LOADER_SLOTS: u64 = 640;

/// A memory client's place at the memory managers, while it runs.
#[derive(Clone, Debug)]
pub(crate) struct MemoryLink {
    /// The slave its requests go to (its program index).
    pub(crate) slave: usize,
    /// The slot of the client's CNode holding its cap to `slave` (its
    /// `memory` connection).
    pub(crate) slot: u64,
    /// The slaves it was moved from, oldest first: they keep the areas it
    /// made there.
    pub(crate) former: Vec<usize>,
}

impl MemoryLink {
    /// Every slave the client is attached to, newest first.
    pub(crate) fn slaves(&self) -> impl Iterator<Item = usize> + '_ {
        core::iter::once(self.slave).chain(self.former.iter().rev().copied())
    }
}

impl System<'_> {
    fn managers(&self) -> Option<&MemoryManagers> {
        self.manifest.memory.as_ref()
    }

    /// Slave `index`'s number among the slaves, if it is one.
    fn slave_number(&self, index: usize) -> Option<usize> {
        self.managers()?
            .slaves
            .iter()
            .position(|&s| usize::from(s) == index)
    }

    /// True when init makes program `index` a memory client.
    pub(crate) fn is_memory_client(&self, index: usize) -> bool {
        self.managers()
            .is_some_and(|m| m.clients.iter().any(|&c| usize::from(c) == index))
    }

    /// The activity a program's badges carry: its activity's, else the
    /// system's.
    pub(crate) fn activity_of(&self, index: usize) -> u16 {
        self.activity_containing(index).map_or(0, |a| a.id)
    }

    /// Retypes each slave's partition from the pool into its block.
    pub(crate) fn carve_partitions(&mut self) -> Result<(), InitError> {
        let Some(m) = self.managers() else {
            return Ok(());
        };
        for &s in &m.slaves {
            let block = self.programs[usize::from(s)].block;
            retype(
                self.res.pool,
                ObjectType::Untyped,
                m.partition_bits.into(),
                block + PARTITION,
                1,
            )?;
        }
        Ok(())
    }

    /// The log2 of program `index`'s CNode: larger for a slave, whose
    /// spare slots grow with its partition.
    pub(crate) fn cnode_radix(&self, index: usize) -> u64 {
        let Some(bits) = self
            .slave_number(index)
            .and_then(|_| self.managers().map(|m| m.partition_bits))
        else {
            return CNODE_RADIX;
        };
        let needed = FIRST_LOADER + slave_slots(bits) + LOADER_SLOTS;
        u64::from(needed.next_power_of_two().trailing_zeros()).max(CNODE_RADIX)
    }

    /// The word program `index` finds in its page: a slave's partition
    /// bits, the master's policy, else what [`System::set_arg`] set.
    pub(crate) fn arg_of(&self, index: usize) -> u64 {
        let Some(m) = self.managers() else {
            return self.programs[index].arg;
        };
        if self.slave_number(index).is_some() {
            return m.partition_bits.into();
        }
        if m.master.map(usize::from) == Some(index) {
            return policy_word(match m.policy {
                MemoryPolicy::RoundRobin => None,
                MemoryPolicy::Watermark { low, high } => Some((low, high)),
            });
        }
        self.programs[index].arg
    }

    /// What a slave, the master or a client gets beyond a program's caps.
    pub(crate) fn manager_grants(&mut self, g: &mut Grants, index: usize) -> Result<(), InitError> {
        let Some(m) = self.managers().cloned() else {
            return Ok(());
        };
        let block = self.programs[index].block;
        if self.slave_number(index).is_some() {
            // The partition whole again (what the last instance made of
            // it went with that instance's CNode).
            init_thread::CNODE
                .absolute_cptr(CPtr::from_bits(block + PARTITION))
                .revoke()
                .context("take back a slave's partition")?;
            let partition = g.give(block + PARTITION, CapRights::ALL, 0);
            g.named("partition", partition);
            g.slots.spare = Some((FIRST_LOADER, FIRST_LOADER + slave_slots(m.partition_bits)));
        }
        if m.master.map(usize::from) == Some(index) {
            let badge = ClientBadge::new(ClientId::MAX, ActivityId(0), Rights::NONE);
            for (n, &s) in m.slaves.iter().enumerate() {
                let endpoint = self
                    .server_endpoint(s.into())
                    .ok_or(refused("make a program that is not a server a slave"))?;
                let slot = g.give(endpoint.cptr().bits(), CLIENT_RIGHTS, badge.bits());
                g.named(&slave_name(n), slot);
            }
        }
        if self.is_memory_client(index) {
            let slave = self.pick_slave(index)?;
            let (endpoint, badge) = self.client_badge(index, slave)?;
            let slot = g.give(endpoint, CLIENT_RIGHTS, badge.bits());
            g.named("memory", slot);
            self.programs[index].memory = Some(MemoryLink {
                slave,
                slot,
                former: Vec::new(),
            });
            self.mint_fault_endpoint(index, slave)?;
        }
        Ok(())
    }

    /// The endpoint (init's slot) of `slave` and the badge of memory
    /// client `index`'s cap to it: its client number and activity.
    pub(crate) fn client_badge(
        &self,
        index: usize,
        slave: usize,
    ) -> Result<(u64, ClientBadge), InitError> {
        let endpoint = self
            .server_endpoint(slave)
            .ok_or(refused("make a program that is not a server a slave"))?;
        let client = ClientId::new(index as u16).ok_or(refused("number a memory client"))?;
        let activity = ActivityId(self.activity_of(index));
        Ok((
            endpoint.cptr().bits(),
            ClientBadge::new(client, activity, Rights::NONE),
        ))
    }

    /// Mints memory client `index`'s fault endpoint (in its block): the
    /// endpoint of `slave`, badged for its faults.
    pub(crate) fn mint_fault_endpoint(&self, index: usize, slave: usize) -> Result<(), InitError> {
        let (endpoint, badge) = self.client_badge(index, slave)?;
        let cnode = init_thread::CNODE;
        let fault_ep =
            cnode.absolute_cptr(CPtr::from_bits(self.programs[index].block + MM_FAULT_EP));
        let _ = fault_ep.delete();
        fault_ep
            .mint(
                &cnode.absolute_cptr(CPtr::from_bits(endpoint)),
                CLIENT_RIGHTS,
                fault_badge(badge.client()),
            )
            .context("mint a memory client's fault endpoint")
    }

    /// The fault endpoint of program `index`: its slave's for a memory
    /// client, else init's.
    pub(crate) fn fault_slot(&self, index: usize) -> u64 {
        let block = self.programs[index].block;
        match self.is_memory_client(index) {
            true => block + MM_FAULT_EP,
            false => block + INIT_EP,
        }
    }

    /// The slave a new client goes to: the master's pick, or the slaves
    /// in turn (by program number) when there is no master running.
    fn pick_slave(&mut self, index: usize) -> Result<usize, InitError> {
        let m = self
            .managers()
            .cloned()
            .ok_or(refused("find the memory managers"))?;
        if m.slaves.is_empty() {
            return Err(refused("give a memory client a slave (there is none)"));
        }
        let fallback = usize::from(m.slaves[index % m.slaves.len()]);
        let Some(master) = m.master.map(usize::from) else {
            return Ok(fallback);
        };
        let Some(transport) = self.admin_transport(master)? else {
            return Ok(fallback);
        };
        let activity = self.activity_of(index);
        match MasterClient::new(transport).route(activity) {
            Ok(n) => m
                .slaves
                .get(usize::from(n))
                .map(|&s| usize::from(s))
                .ok_or(refused("route a memory client (no such slave)")),
            Err(e) => {
                self.say(&format!("init: the memory master routes no client: {e:?}"));
                Err(InitError {
                    step: "route a memory client (the master refused)",
                    error: keel_abi::Error::NotEnoughMemory.into(),
                })
            }
        }
    }

    /// Memory client `index` was built: attaches it to its slave.
    pub(crate) fn attach_client(&mut self, index: usize) -> Result<(), InitError> {
        match self.programs[index].memory.as_ref().map(|l| l.slave) {
            Some(slave) => self.attach_to(index, slave),
            None => Ok(()),
        }
    }

    /// Attaches memory client `index` to `slave` with its VSpace, and has
    /// the slave send the client's unresolved faults to init.
    pub(crate) fn attach_to(&mut self, index: usize, slave: usize) -> Result<(), InitError> {
        let Some(process) = self.programs[index].process else {
            return Ok(());
        };
        let activity = self.activity_of(index);
        let block = self.programs[index].block;
        let transport = self
            .admin_transport(slave)?
            .ok_or(refused("attach a memory client (its slave is not running)"))?;
        let mut client = MemoryClient::new(transport);
        let vspace = Grant::new(process.vspace.cptr().bits());
        client
            .attach(vspace, index as u16, activity)
            .map_err(|_| refused("attach a memory client to its slave"))?;
        client
            .forward_faults(Grant::new(block + INIT_EP), index as u16)
            .map_err(|_| refused("send a memory client's faults to init"))
    }

    /// Memory client `index` is being torn down: each of its slaves frees
    /// all its memory there (the newest first: older slaves' paging
    /// structures may hold newer slaves' pages).
    pub(crate) fn detach_client(&mut self, index: usize) {
        let Some(link) = self.programs[index].memory.take() else {
            return;
        };
        for slave in link.slaves() {
            let transport = match self.admin_transport(slave) {
                Ok(Some(t)) => t,
                _ => {
                    self.say("init: a memory client's slave is gone; its memory went with it");
                    continue;
                }
            };
            if let Err(e) = MemoryClient::new(transport).detach(index as u16) {
                self.say(&format!("init: detaching a memory client failed: {e:?}"));
            }
        }
    }

    /// Slave `index` serves: tells it the activities' limits.
    pub(crate) fn slave_ready(&mut self, index: usize) {
        if self.slave_number(index).is_none() {
            return;
        }
        let Some(m) = self.managers().cloned() else {
            return;
        };
        let Ok(Some(transport)) = self.admin_transport(index) else {
            return;
        };
        let mut client = MemoryClient::new(transport);
        for l in &m.limits {
            if let Err(e) = client.set_limit(l.activity, l.pages) {
                self.say(&format!("init: a memory limit was refused: {e:?}"));
            }
        }
        if self.programs[index].restarts > 0 {
            self.reattach_clients(index);
        }
    }
}
