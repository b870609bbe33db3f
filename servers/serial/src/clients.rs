//! The clients' notifications, kept in the spare slots init gave the server
//! (keel-serial-core's `Clients`): one slot per client, moved there from
//! the receive slot. A client's notification is gone when the slot no
//! longer holds one: its copy here derives from the client's cap, so it
//! goes when the client's memory is revoked (a signal to the empty slot
//! would be dropped silently, so the server asks the kernel what the slot
//! holds, through its Debug cap's read right).

use keel_abi::CapType;
use keel_protocols::cap::{Granted, Notification as NotificationKind, ReceivedCap};
use keel_protocols::serial::SerialError;
use keel_protocols::table::ClientTable;
use keel_protocols::ClientId;
use keel_serial_core::{Client, Clients};
use keel_sys::cap::{CNode, Debug, Notification};
use keel_sys::{CPtr, Cap};

/// Clients whose notifications the server keeps at once.
pub const KEPT: usize = keel_protocols::serial::SPARE_SLOTS as usize;

/// The kept notifications and the slots they live in.
pub struct Kept {
    cnode: Cap<CNode>,
    debug: Cap<Debug>,
    slots: ClientTable<u64, KEPT>,
    free: heapless::Vec<u64, KEPT>,
}

impl Kept {
    /// Keeps notifications in slots `first..end` of `cnode`, telling what a
    /// slot holds through `debug`.
    pub fn new(cnode: Cap<CNode>, debug: Cap<Debug>, first: u64, end: u64) -> Self {
        let mut free = heapless::Vec::new();
        for slot in (first..end).rev() {
            if free.push(slot).is_err() {
                break;
            }
        }
        Kept {
            cnode,
            debug,
            slots: ClientTable::new(),
            free,
        }
    }

    fn at(&self, slot: u64) -> keel_sys::AbsoluteCPtr {
        self.cnode.absolute_cptr(CPtr::from_bits(slot))
    }
}

impl Clients for Kept {
    fn keep(
        &mut self,
        client: Client,
        notification: Granted<NotificationKind>,
    ) -> Result<(), SerialError> {
        let ReceivedCap::Transferred { cptr, .. } = notification.received() else {
            return Err(SerialError::CannotKeep);
        };
        let id = ClientId::new(client).ok_or(SerialError::CannotKeep)?;
        let slot = match self.slots.get(id) {
            Some(&slot) => {
                let _ = self.at(slot).delete();
                slot
            }
            None => self.free.pop().ok_or(SerialError::CannotKeep)?,
        };
        if self.at(slot).move_(&self.at(cptr)).is_err() {
            let _ = self.free.push(slot);
            self.slots.remove(id);
            return Err(SerialError::CannotKeep);
        }
        if self.slots.insert(id, slot).is_err() {
            let _ = self.at(slot).delete();
            let _ = self.free.push(slot);
            return Err(SerialError::CannotKeep);
        }
        Ok(())
    }

    fn signal(&mut self, client: Client) -> bool {
        let Some(&slot) = ClientId::new(client).and_then(|id| self.slots.get(id)) else {
            return false;
        };
        let cptr = CPtr::from_bits(slot);
        if self.debug.debug_cap_identify(cptr) != Ok(CapType::Notification) {
            return false;
        }
        Cap::<Notification>::from_cptr(cptr).signal();
        true
    }

    fn forget(&mut self, client: Client) {
        if let Some(slot) = ClientId::new(client).and_then(|id| self.slots.remove(id)) {
            let _ = self.at(slot).delete();
            let _ = self.free.push(slot);
        }
    }
}
