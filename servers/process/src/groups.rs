//! Where the processes' reclamation groups come from: the pool init gave
//! the server (keel-mm-core's buddy allocator, see [`crate::pool`]) or,
//! when the description makes the server a memory client, its slave: each
//! group is then a block of the slave's partition granted as an untyped
//! cap (the memory protocol's `grant_untyped`, keyed by the process's
//! table slot and charged to the server's activity there), revoked by the
//! server at the process's end like a pool block and given back
//! (`return_untyped`: the slave revokes it too and frees it).

use alloc::boxed::Box;
use keel_mm_core::buddy::{Block, Error as PoolFailure};
use keel_protocols::cap::ReceivedCap;
use keel_protocols::memory::{MemoryClient, MemoryError};
use keel_protocols::process::ProcessError;
use keel_protocols::sys::EndpointClient;
use keel_sys::cap::{CNode, Untyped};
use keel_sys::{AbsoluteCPtr, CPtr, Cap};

use crate::pool::Pool;

/// Where a process's group came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// A block of the server's pool.
    Pool(Block),
    /// A block the slave granted under this key.
    Granted(u32),
}

/// A process's group: the slot of its untyped cap, its size and where it
/// came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Group {
    slot: u64,
    order: u8,
    source: Source,
}

impl Group {
    /// Its size in bytes.
    pub fn size(self) -> u64 {
        1 << self.order
    }
}

/// The slave the groups come from: the connection, and where the granted
/// caps go.
pub struct Slave {
    client: MemoryClient<EndpointClient>,
    cnode: Cap<CNode>,
    /// The receive slot the grants arrive in.
    receive: u64,
    /// The slot of table slot 0's group (one slot per table slot).
    base: u64,
}

impl Slave {
    /// Groups from the slave `client` reaches, whose replies' caps arrive
    /// in `receive`, kept in slots from `base` on.
    pub fn new(
        client: MemoryClient<EndpointClient>,
        cnode: Cap<CNode>,
        receive: u64,
        base: u64,
    ) -> Slave {
        Slave {
            client,
            cnode,
            receive,
            base,
        }
    }

    fn at(&self, slot: u64) -> AbsoluteCPtr {
        self.cnode.absolute_cptr(CPtr::from_bits(slot))
    }

    /// A block of `2^order` bytes granted under `key`, moved from the
    /// receive slot to the key's own slot.
    fn grant(&mut self, order: u8, key: u32) -> Result<Group, ProcessError> {
        let slot = self.base + u64::from(key);
        let kept = match self.client.grant_untyped(key.into(), order) {
            Ok(got) => match got.received() {
                ReceivedCap::Transferred { cptr, .. } if cptr == self.receive => {
                    self.at(slot).move_(&self.at(cptr)).is_ok()
                }
                _ => false,
            },
            // A reply that did not decode may still have granted it.
            Err(MemoryError::Rpc(_)) => false,
            Err(e) => return Err(slave_error(e)),
        };
        if !kept {
            let _ = self.client.return_untyped(key.into());
            return Err(ProcessError::Kernel);
        }
        Ok(Group {
            slot,
            order,
            source: Source::Granted(key),
        })
    }
}

/// The source of the groups.
pub enum Groups {
    /// The server's pool.
    Pool(Pool),
    /// A slave's partition (the connection is large: boxed).
    Slave(Box<Slave>),
}

/// What a refusal of the slave's means to a spawner: no memory when the
/// slave has no block that large or the server's activity is at its limit
/// there, else a kernel refusal.
fn slave_error(e: MemoryError) -> ProcessError {
    match e {
        MemoryError::OutOfMemory | MemoryError::LimitExceeded => ProcessError::NoMemory,
        _ => ProcessError::Kernel,
    }
}

impl Groups {
    /// A group of `2^order` bytes for the process in table slot `owner`.
    ///
    /// # Errors
    /// `NoMemory` when the pool or the slave has no block that large (or
    /// the slave refuses the charge); `Kernel` for other refusals.
    pub fn alloc(&mut self, order: u8, owner: u32) -> Result<Group, ProcessError> {
        match self {
            Groups::Pool(pool) => match pool.alloc(order, owner) {
                Ok(block) => Ok(Group {
                    slot: pool.untyped(block).cptr().bits(),
                    order,
                    source: Source::Pool(block),
                }),
                Err(PoolFailure::Exhausted | PoolFailure::BadOrder) => Err(ProcessError::NoMemory),
                Err(_) => Err(ProcessError::Kernel),
            },
            Groups::Slave(slave) => slave.grant(order, owner),
        }
    }

    /// Revokes `group` (deleting every object of its process) and returns
    /// it: to the pool unmerged, or to the slave. A failed revoke keeps
    /// the block from both: lost, never handed out twice.
    pub fn release(&mut self, group: Group) {
        match (self, group.source) {
            (Groups::Pool(pool), Source::Pool(block)) => {
                let _ = pool.release(block);
            }
            (Groups::Slave(slave), Source::Granted(key)) => {
                let at = slave.at(group.slot);
                // The slave's revoke deletes the server's cap too; when the
                // slave does not take it back, the server drops its cap.
                if at.revoke().is_ok() && slave.client.return_untyped(key.into()).is_err() {
                    let _ = at.delete();
                }
            }
            // A server's groups all come from the one source it started
            // with: no group of the other kind exists.
            (Groups::Pool(_), Source::Granted(_)) | (Groups::Slave(_), Source::Pool(_)) => {}
        }
    }

    /// The untyped cap of `group`.
    pub fn untyped(&self, group: Group) -> Cap<Untyped> {
        Cap::from_cptr(CPtr::from_bits(group.slot))
    }
}
