//! The slave's state and its answers to the memory protocol: the buddy
//! allocator over the partition, each attached client (its VSpace cap, its
//! areas, where its unresolved faults go) and the pages charged to each
//! activity. Every request either completes or leaves the state as it was:
//! an allocation that fails part-way frees what it took.

use alloc::vec::Vec;
use keel_mm_core::areas::{pieces, Area, AreaError, Areas, Ledger, PAGE_BITS};
use keel_mm_core::buddy::{Block, Buddy, Error as BuddyError};
use keel_mm_core::grants::{GrantError, Grants};
use keel_protocols::cap::{
    Endpoint as EndpointKind, Grant, Granted, ReceivedCap, Untyped as UntypedKind,
    VSpace as VSpaceKind,
};
use keel_protocols::memory::{
    check_area, check_rights, Load, MemoryError, MemoryServer, Usage, MAX_CLIENTS, MAX_GRANTS,
};
use keel_protocols::{Caller, ClientId};
use keel_sys::cap::{CNode, Endpoint, VSpace};
use keel_sys::{CPtr, Cap};

use crate::partition::{kernel, Partition};

/// Slots per client: its VSpace and its fault-forwarding endpoint (the
/// protocol's `slave_slots` counts them).
const CLIENT_SLOTS: u64 = 2;

/// One attached client.
struct Client {
    id: u16,
    activity: u16,
    /// Its VSpace cap and forwarding endpoint live at `slots`, `slots + 1`.
    slots: u64,
    forward: bool,
    areas: Areas,
    /// Blocks granted as untyped caps, by the client's key.
    granted: Grants,
}

impl Client {
    /// Pages it holds: its areas' and its granted blocks'.
    fn pages(&self) -> u64 {
        self.areas.pages() + self.granted.pages()
    }
}

/// A slave: its partition and its clients.
pub struct Slave {
    partition: Partition,
    buddy: Buddy,
    ledger: Ledger,
    clients: Vec<Client>,
    /// The first of the clients' slots ([`MAX_CLIENTS`] × [`CLIENT_SLOTS`]).
    client_slots: u64,
    /// Requests refused for want of memory.
    refused: u64,
}

fn from_buddy<E>(e: BuddyError<E>) -> MemoryError {
    match e {
        BuddyError::Exhausted | BuddyError::BadOrder => MemoryError::OutOfMemory,
        BuddyError::NotAllocated | BuddyError::Untyped(_) => MemoryError::Kernel,
    }
}

impl Slave {
    /// A slave over `partition` (its root block already in place), with
    /// client slots from `client_slots`.
    pub fn new(partition: Partition, buddy: Buddy, client_slots: u64) -> Slave {
        Slave {
            partition,
            buddy,
            ledger: Ledger::default(),
            clients: Vec::new(),
            client_slots,
            refused: 0,
        }
    }

    fn index_of(&self, id: u16) -> Option<usize> {
        self.clients.iter().position(|c| c.id == id)
    }

    fn caller_index(&self, caller: &Caller) -> Result<usize, MemoryError> {
        self.index_of(caller.badge.client().get())
            .ok_or(MemoryError::NotAttached)
    }

    fn vspace(&self, i: usize) -> Cap<VSpace> {
        Cap::from_cptr(CPtr::from_bits(self.clients[i].slots))
    }

    /// Returns `block` of client `i` to the partition, unmerged (see
    /// `Buddy::release`): the next request of its size reuses it.
    fn give_back(&mut self, i: usize, block: Block) -> Result<(), MemoryError> {
        self.buddy
            .release(block, &mut &self.partition)
            .map_err(from_buddy)?;
        self.ledger
            .refund(self.clients[i].activity, block.size() >> PAGE_BITS);
        Ok(())
    }

    /// Takes back a block granted to client `i`: revoked first, so the
    /// client's copy and everything made from it are deleted (a one-page
    /// block's release alone deletes only the frame slot, which a granted
    /// block leaves empty), then freed.
    fn take_back(&mut self, i: usize, block: Block) -> Result<(), MemoryError> {
        self.partition.revoke(block).map_err(kernel)?;
        self.give_back(i, block)
    }

    /// A block of `order` for client `id`, charged to `activity`; a refusal
    /// for want of memory is counted (the load the master reads).
    fn take_counted(&mut self, id: u16, activity: u16, order: u8) -> Result<Block, MemoryError> {
        take(
            &mut self.buddy,
            &mut self.ledger,
            &self.partition,
            id,
            activity,
            order,
        )
        .inspect_err(|e| {
            if *e == MemoryError::OutOfMemory {
                self.refused += 1;
            }
        })
    }

    /// Allocates a block of `order` for client `i`'s area at `start`, and
    /// maps it at `vaddr`; the block is recorded in the area first, so a
    /// failed mapping is undone by freeing the area.
    fn fill(&mut self, i: usize, start: u64, vaddr: u64, order: u8) -> Result<(), MemoryError> {
        let (id, activity) = (self.clients[i].id, self.clients[i].activity);
        let block = self.take_counted(id, activity, order)?;
        let area = self.clients[i]
            .areas
            .get_mut(start)
            .ok_or(MemoryError::Kernel)?;
        area.blocks.push((vaddr, block));
        let bits = area.rights;
        let vspace = self.vspace(i);
        let mut tables = Vec::new();
        let (buddy, ledger, partition) = (&mut self.buddy, &mut self.ledger, &self.partition);
        let mapped = partition.map_block(block, vspace, vaddr, bits, || {
            let table = take(buddy, ledger, partition, id, activity, PAGE_BITS)?;
            tables.push(table);
            Ok(table)
        });
        self.clients[i].areas.tables.extend(tables);
        mapped
    }

    /// Unmaps and frees `area`'s blocks (client `i`'s).
    fn release(&mut self, i: usize, area: Area) -> Result<(), MemoryError> {
        for (_, block) in area.blocks {
            self.give_back(i, block)?;
        }
        Ok(())
    }

    fn new_area(
        &mut self,
        caller: &Caller,
        vaddr: u64,
        pages: u64,
        bits: u8,
        delayed: bool,
    ) -> Result<usize, MemoryError> {
        let i = self.caller_index(caller)?;
        check_rights(bits)?;
        let end = check_area(vaddr, pages)?;
        self.clients[i]
            .areas
            .insert(vaddr, end, bits, delayed)
            .map_err(|_| MemoryError::Overlaps)?;
        Ok(i)
    }

    /// A page fault of client `id` at `addr`: maps a page of its delayed
    /// area there. False when the fault is not the slave's to resolve
    /// (outside every area, on a page already mapped, an immediate area,
    /// or no memory left), after forwarding it to where the client's
    /// faults go.
    pub fn fault(&mut self, id: ClientId, addr: u64) -> bool {
        let Some(i) = self.index_of(id.get()) else {
            return false;
        };
        let page = addr & !((1 << PAGE_BITS) - 1);
        let start = match self.clients[i].areas.containing_mut(addr) {
            Some(a) if a.delayed && !a.is_mapped(page) => a.start,
            _ => return false,
        };
        self.fill(i, start, page, PAGE_BITS).is_ok()
    }

    /// Where client `id`'s unresolved faults go, if anywhere.
    pub fn forward_to(&self, id: ClientId) -> Option<Cap<Endpoint>> {
        let c = &self.clients[self.index_of(id.get())?];
        c.forward
            .then(|| Cap::from_cptr(CPtr::from_bits(c.slots + 1)))
    }

    fn cnode(&self) -> Cap<CNode> {
        self.partition.cnode
    }
}

/// A refused grant, as the protocol says it.
fn grant_error(e: GrantError) -> MemoryError {
    match e {
        GrantError::Held => MemoryError::Held,
        GrantError::Full => MemoryError::Full,
    }
}

/// Allocates a block of `order` for client `id`, charged to `activity`.
fn take(
    buddy: &mut Buddy,
    ledger: &mut Ledger,
    mut partition: &Partition,
    id: u16,
    activity: u16,
    order: u8,
) -> Result<Block, MemoryError> {
    let pages = 1u64
        .checked_shl((order - PAGE_BITS).into())
        .unwrap_or(u64::MAX);
    ledger
        .charge(activity, pages)
        .map_err(|_| MemoryError::LimitExceeded)?;
    buddy
        .alloc(order, id.into(), &mut partition)
        .inspect_err(|_| ledger.refund(activity, pages))
        .map_err(from_buddy)
}

/// Moves a received cap into `slot`.
fn keep(cnode: Cap<CNode>, cap: ReceivedCap, slot: u64) -> Result<(), MemoryError> {
    let ReceivedCap::Transferred { cptr, .. } = cap else {
        return Err(MemoryError::Kernel);
    };
    let at = |s| cnode.absolute_cptr(CPtr::from_bits(s));
    at(slot).move_(&at(cptr)).map_err(kernel)
}

impl MemoryServer for Slave {
    fn allocate(
        &mut self,
        caller: &Caller,
        vaddr: u64,
        pages: u64,
        rights: u8,
    ) -> Result<(), MemoryError> {
        let i = self.new_area(caller, vaddr, pages, rights, false)?;
        for (offset, order) in pieces(pages) {
            let at = vaddr + (offset << PAGE_BITS);
            if let Err(e) = self.fill(i, vaddr, at, order) {
                if let Ok(area) = self.clients[i].areas.remove(vaddr) {
                    self.release(i, area)?;
                }
                return Err(e);
            }
        }
        Ok(())
    }

    fn reserve(
        &mut self,
        caller: &Caller,
        vaddr: u64,
        pages: u64,
        rights: u8,
    ) -> Result<(), MemoryError> {
        self.new_area(caller, vaddr, pages, rights, true)
            .map(|_| ())
    }

    fn free(&mut self, caller: &Caller, vaddr: u64) -> Result<(), MemoryError> {
        let i = self.caller_index(caller)?;
        let area = self.clients[i]
            .areas
            .remove(vaddr)
            .map_err(|_: AreaError| MemoryError::NotAllocated)?;
        self.release(i, area)
    }

    fn usage(&mut self, caller: &Caller) -> Result<Usage, MemoryError> {
        let i = self.caller_index(caller)?;
        let c = &self.clients[i];
        let (held, limit) = self.ledger.of(c.activity);
        let u = self.buddy.usage();
        Ok(Usage {
            client_pages: c.pages(),
            activity_pages: held,
            activity_limit: limit,
            partition_bytes: u.total,
            free_bytes: u.free,
            largest_free: u.largest_free,
            free_blocks: u.free_blocks as u64,
            areas: c.areas.len() as u64,
        })
    }

    fn attach(
        &mut self,
        _caller: &Caller,
        vspace: Granted<VSpaceKind>,
        client: u16,
        activity: u16,
    ) -> Result<(), MemoryError> {
        if ClientId::new(client).is_none() || self.index_of(client).is_some() {
            return Err(MemoryError::AlreadyAttached);
        }
        let free = (0..MAX_CLIENTS)
            .map(|k| self.client_slots + k * CLIENT_SLOTS)
            .find(|s| self.clients.iter().all(|c| c.slots != *s))
            .ok_or(MemoryError::Full)?;
        keep(self.cnode(), vspace.received(), free)?;
        self.clients.push(Client {
            id: client,
            activity,
            slots: free,
            forward: false,
            areas: Areas::default(),
            granted: Grants::default(),
        });
        Ok(())
    }

    fn forward_faults(
        &mut self,
        _caller: &Caller,
        endpoint: Granted<EndpointKind>,
        client: u16,
    ) -> Result<(), MemoryError> {
        let i = self.index_of(client).ok_or(MemoryError::NotAttached)?;
        let slot = self.clients[i].slots + 1;
        let _ = self.cnode().absolute_cptr(CPtr::from_bits(slot)).delete();
        keep(self.cnode(), endpoint.received(), slot)?;
        self.clients[i].forward = true;
        Ok(())
    }

    fn detach(&mut self, _caller: &Caller, client: u16) -> Result<u64, MemoryError> {
        let i = self.index_of(client).ok_or(MemoryError::NotAttached)?;
        let pages = self.clients[i].pages();
        for start in self.clients[i].areas.starts() {
            let area = self.clients[i]
                .areas
                .remove(start)
                .map_err(|_| MemoryError::Kernel)?;
            self.release(i, area)?;
        }
        while let Some(table) = self.clients[i].areas.tables.pop() {
            self.give_back(i, table)?;
        }
        while let Some(block) = self.clients[i].granted.pop() {
            self.take_back(i, block)?;
        }
        let slots = self.clients[i].slots;
        for s in [slots, slots + 1] {
            let _ = self.cnode().absolute_cptr(CPtr::from_bits(s)).delete();
        }
        self.clients.swap_remove(i);
        self.buddy
            .coalesce_all(&mut &self.partition)
            .map_err(from_buddy)?;
        Ok(pages)
    }

    fn load(&mut self, _caller: &Caller) -> Result<Load, MemoryError> {
        let u = self.buddy.usage();
        Ok(Load {
            total: u.total,
            allocated: u.total - u.free,
            largest_free: u.largest_free,
            free_blocks: u.free_blocks as u64,
            clients: self.clients.len() as u64,
            refused: self.refused,
        })
    }

    fn grant_untyped(
        &mut self,
        caller: &Caller,
        key: u64,
        order: u8,
    ) -> Result<Grant<UntypedKind>, MemoryError> {
        let i = self.caller_index(caller)?;
        let c = &self.clients[i];
        c.granted.admit(key, MAX_GRANTS).map_err(grant_error)?;
        if order < PAGE_BITS {
            return Err(MemoryError::BadSize);
        }
        let (id, activity) = (c.id, c.activity);
        let block = self.take_counted(id, activity, order)?;
        if let Err(e) = self.clients[i].granted.insert(key, block) {
            self.give_back(i, block)?;
            return Err(grant_error(e));
        }
        // The reply copies the block's cap; the slave's stays in the tree.
        let p = &self.partition;
        Ok(Grant::new(p.nodes + block.node(p.bits)))
    }

    fn return_untyped(&mut self, caller: &Caller, key: u64) -> Result<(), MemoryError> {
        let i = self.caller_index(caller)?;
        let block = self.clients[i]
            .granted
            .remove(key)
            .ok_or(MemoryError::NotAllocated)?;
        self.take_back(i, block)
    }

    fn set_limit(
        &mut self,
        _caller: &Caller,
        activity: u16,
        pages: u64,
    ) -> Result<(), MemoryError> {
        self.ledger.set_limit(activity, pages);
        Ok(())
    }
}
