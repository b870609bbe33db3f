//! The pool the reclamation groups are carved from: keel-mm-core's buddy
//! allocator over the one untyped init gave the server, each block an
//! untyped cap in the slot its node number names. A group is one block;
//! releasing it revokes the block's cap (deleting every object of the
//! process) and leaves it a free block of its size. Merging with its free
//! buddy waits for a spawn that finds no block large enough (keel-mm-core's
//! `Buddy::alloc`), so a kill's time holds only the process's own
//! reclamation, never the merges up the tree (each a revoke of a parent
//! block), and the pool is one whole untyped again whenever a spawn needs
//! it whole.

use keel_mm_core::buddy::{self, Block, Buddy, Region};
use keel_protocols::process::{MIN_GROUP_BITS, POOL_BITS};
use keel_sys::cap::{CNode, Untyped};
use keel_sys::{AbsoluteCPtr, CPtr, Cap, InvocationError};

/// Slots the pool's block caps take: one per node of the buddy tree.
pub const SLOTS: u64 = 2 << (POOL_BITS - MIN_GROUP_BITS);

/// The block caps: node `n`'s untyped is in slot `base + n`.
struct Caps {
    cnode: Cap<CNode>,
    base: u64,
}

impl Caps {
    fn slot(&self, block: Block) -> u64 {
        self.base + block.node(POOL_BITS)
    }

    fn at(&self, block: Block) -> AbsoluteCPtr {
        self.cnode.absolute_cptr(CPtr::from_bits(self.slot(block)))
    }
}

impl buddy::Untyped for Caps {
    type Error = InvocationError;

    fn split(&mut self, parent: Block) -> Result<(), InvocationError> {
        let [low, _] = parent.halves();
        let untyped: Cap<Untyped> = Cap::from_cptr(CPtr::from_bits(self.slot(parent)));
        untyped.untyped_retype(
            keel_abi::ObjectType::Untyped,
            u64::from(low.order),
            &self.cnode.absolute_cptr_with_depth(0, 0),
            self.slot(low),
            2,
        )
    }

    fn merge(&mut self, parent: Block) -> Result<(), InvocationError> {
        self.at(parent).revoke()
    }

    fn reclaim(&mut self, block: Block) -> Result<(), InvocationError> {
        self.at(block).revoke()
    }
}

/// The pool: the allocator and the caps it works on.
pub struct Pool {
    buddy: Buddy,
    caps: Caps,
}

/// Why the pool refused.
pub type PoolError = buddy::Error<InvocationError>;

impl Pool {
    /// A pool over the untyped `pool` (of `2^POOL_BITS` bytes), which moves
    /// to the first of the [`SLOTS`] slots from `base + 1` on.
    ///
    /// # Errors
    /// The move's failure.
    pub fn new(cnode: Cap<CNode>, pool: u64, base: u64) -> Result<Pool, InvocationError> {
        let caps = Caps { cnode, base };
        let whole = Block {
            region: 0,
            order: POOL_BITS,
            index: 0,
        };
        caps.at(whole)
            .move_(&cnode.absolute_cptr(CPtr::from_bits(pool)))?;
        let region = Region {
            base: 0,
            bits: POOL_BITS,
        };
        let buddy = Buddy::new(&[region], MIN_GROUP_BITS)
            .map_err(|_| InvocationError::from(keel_abi::Error::InvalidArgument))?;
        Ok(Pool { buddy, caps })
    }

    /// A block of `2^order` bytes for the process in table slot `owner`.
    ///
    /// # Errors
    /// `Exhausted`, `BadOrder`, or a split's failure.
    pub fn alloc(&mut self, order: u8, owner: u32) -> Result<Block, PoolError> {
        self.buddy.alloc(order, owner, &mut self.caps)
    }

    /// Revokes `block` and returns it to the pool unmerged.
    ///
    /// # Errors
    /// As `Buddy::release`.
    pub fn release(&mut self, block: Block) -> Result<(), PoolError> {
        self.buddy.release(block, &mut self.caps)
    }

    /// The untyped cap of `block`.
    pub fn untyped(&self, block: Block) -> Cap<Untyped> {
        Cap::from_cptr(CPtr::from_bits(self.caps.slot(block)))
    }
}
