//! What a spawner hands the process server besides requests: connections
//! offered for its next spawn (endpoint caps kept in the server's staging
//! slots until the spawn copies them into the new process), and the
//! notification signalled when one of its processes ends. Both are kept
//! in slots of the server's own CNode, at most [`STAGED`] offered caps and
//! [`NOTIFIED`] notifications, so what a client hands over is bounded.

use alloc::vec::Vec;
use keel_abi::process::NamedCap;
use keel_loader::GivenCap;
use keel_protocols::cap::{Endpoint, Granted, Notification, ReceivedCap};
use keel_protocols::process::{ConnectionName, ProcessError, OFFERED_MAX};
use keel_sys::cap::Notification as NotificationCap;
use keel_sys::{AbsoluteCPtr, CPtr, Cap};

use super::Server;

/// Staging slots for offered connections, shared by every client.
pub const STAGED: u64 = 8;
/// Clients that may register a notification at once.
pub const NOTIFIED: u64 = 4;
/// Slots the links take in the server's CNode.
pub const SLOTS: u64 = STAGED + NOTIFIED;

/// One offered connection, waiting for its client's next spawn.
struct Offered {
    /// The client that offered it.
    client: u16,
    /// Its name in the new process's page.
    name: ConnectionName,
    /// Its staging slot.
    slot: u64,
}

/// The offered connections and registered notifications.
pub struct Links {
    /// The first of the [`SLOTS`] slots.
    base: u64,
    offered: Vec<Offered>,
    /// (client, slot) of each registered notification.
    notified: Vec<(u16, u64)>,
}

impl Links {
    /// No links, in the [`SLOTS`] slots from `base`.
    pub fn new(base: u64) -> Self {
        Links {
            base,
            offered: Vec::new(),
            notified: Vec::new(),
        }
    }
}

impl Server<'_> {
    fn own_slot(&self, slot: u64) -> AbsoluteCPtr {
        self.machine.cnode.absolute_cptr(CPtr::from_bits(slot))
    }

    /// Moves a received cap from the receive slot to `slot`.
    fn keep(&self, cap: ReceivedCap, slot: u64) -> Result<(), ProcessError> {
        let ReceivedCap::Transferred { cptr, .. } = cap else {
            // A cap to this server arrives as its badge alone: a process
            // reaches the server through its own connection anyway.
            return Err(ProcessError::BadArgument);
        };
        self.own_slot(slot)
            .move_(&self.own_slot(cptr))
            .map_err(|_| ProcessError::Kernel)
    }

    /// Keeps `cap` for `client`'s next spawn as connection `name`.
    pub(super) fn offer_connection(
        &mut self,
        client: u16,
        name: ConnectionName,
        cap: Granted<Endpoint>,
    ) -> Result<(), ProcessError> {
        let l = &self.links;
        let theirs = l.offered.iter().filter(|o| o.client == client).count();
        if theirs >= OFFERED_MAX
            || l.offered
                .iter()
                .any(|o| o.client == client && o.name == name)
        {
            return Err(ProcessError::BadArgument);
        }
        let slot = (l.base..l.base + STAGED)
            .find(|s| l.offered.iter().all(|o| o.slot != *s))
            .ok_or(ProcessError::Full)?;
        self.keep(cap.received(), slot)?;
        self.links.offered.push(Offered { client, name, slot });
        Ok(())
    }

    /// `client`'s offered connections as keel-loader's caps (from the
    /// process's slot `first` on) and the page's names.
    pub(super) fn offered_to(&self, client: u16, first: u64) -> (Vec<GivenCap>, Vec<NamedCap>) {
        let mut caps = Vec::new();
        let mut names = Vec::new();
        for o in self.links.offered.iter().filter(|o| o.client == client) {
            names.push(NamedCap {
                name: o.name.as_str().into(),
                slot: first + caps.len() as u64,
            });
            caps.push(GivenCap {
                cptr: CPtr::from_bits(o.slot),
                rights: super::CLIENT_RIGHTS,
                badge: 0,
            });
        }
        (caps, names)
    }

    /// Drops `client`'s offered connections (its spawn has copied them,
    /// or failed).
    pub(super) fn drop_offered(&mut self, client: u16) {
        let (theirs, rest) = core::mem::take(&mut self.links.offered)
            .into_iter()
            .partition(|o| o.client == client);
        self.links.offered = rest;
        for o in theirs {
            let _ = self.own_slot(o.slot).delete();
        }
    }

    /// Signals `client`'s notification whenever one of its processes ends.
    pub(super) fn register(
        &mut self,
        client: u16,
        cap: Granted<Notification>,
    ) -> Result<(), ProcessError> {
        let l = &self.links;
        let first = l.base + STAGED;
        let slot = match l.notified.iter().find(|(c, _)| *c == client) {
            Some(&(_, s)) => {
                let _ = self.own_slot(s).delete();
                s
            }
            None => (first..first + NOTIFIED)
                .find(|s| l.notified.iter().all(|(_, t)| t != s))
                .ok_or(ProcessError::Full)?,
        };
        self.links.notified.retain(|(_, s)| *s != slot);
        self.keep(cap.received(), slot)?;
        self.links.notified.push((client, slot));
        Ok(())
    }

    /// Tells `parent` that one of its processes ended. A spawner that is
    /// itself a process has its registration dropped when it ends.
    pub(super) fn tell(&self, parent: u16) {
        if let Some(&(_, slot)) = self.links.notified.iter().find(|(c, _)| *c == parent) {
            Cap::<NotificationCap>::from_cptr(CPtr::from_bits(slot)).signal();
        }
    }

    /// Forgets what `client` (an ended process) handed over.
    pub(super) fn forget_links(&mut self, client: u16) {
        self.drop_offered(client);
        if let Some(i) = self.links.notified.iter().position(|(c, _)| *c == client) {
            let (_, slot) = self.links.notified.swap_remove(i);
            let _ = self.own_slot(slot).delete();
        }
    }
}
