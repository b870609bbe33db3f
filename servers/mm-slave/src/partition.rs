//! The slave's caps: its partition's blocks as untyped caps, one slot per
//! node of the buddy tree, and the frames and paging structures retyped
//! from allocated blocks, one slot per page of the partition.
//!
//! ```text
//! spare slots: nodes (block n of the tree at nodes + n) | frames (page p at frames + p) | clients
//! ```
//!
//! A split retypes a block's untyped into its two halves' slots, a merge
//! and a reclaim revoke a block's untyped (deleting what was made of it:
//! a frame or paging structure deleted is unmapped; a one-page block's
//! reclaim deletes its one child directly), so the slots of a block's
//! pages are free again whenever the block is.

use keel_abi::vspace::{VmAttributes, PD_SHIFT, PT_SHIFT, PUD_SHIFT};
use keel_abi::{CapRights, Error, LookupFailure, ObjectType};
use keel_mm_core::areas::PAGE_BITS;
use keel_mm_core::buddy::{Block, Untyped as Tree};
use keel_protocols::memory::{rights, MemoryError};
use keel_sys::cap::{
    CNode, PageDirectory, PageTable, PageUpperDirectory, SmallPage, Untyped, VSpace,
};
use keel_sys::{CPtr, Cap, InvocationError};

/// The partition's caps in the slave's CNode.
pub struct Partition {
    /// The slave's CNode.
    pub cnode: Cap<CNode>,
    /// log2 of the partition's size.
    pub bits: u8,
    /// Slot of node 0 of the tree (node 1 is the whole partition).
    pub nodes: u64,
    /// Slot of the partition's first page.
    pub frames: u64,
}

/// What a paging structure missing at a mapping is, from the lookup
/// failure's bits left.
enum Level {
    Upper,
    Directory,
    Table,
}

impl Partition {
    /// Slots the partition needs: two per page for the tree's nodes, one
    /// per page for frames.
    pub const fn slots(bits: u8) -> u64 {
        3 << (bits - PAGE_BITS)
    }

    fn node(&self, block: Block) -> Cap<Untyped> {
        Cap::from_cptr(CPtr::from_bits(self.nodes + block.node(self.bits)))
    }

    fn at(&self, slot: u64) -> keel_sys::AbsoluteCPtr {
        self.cnode.absolute_cptr(CPtr::from_bits(slot))
    }

    /// The slot of page `page` of `block`.
    fn frame_slot(&self, block: Block, page: u64) -> u64 {
        self.frames + (block.offset() >> PAGE_BITS) + page
    }

    /// Retypes the allocated `block` into frames and maps them in `vspace`
    /// from `vaddr` with `bits` (the protocol's rights); a paging structure
    /// found missing is made from a page `table` gives and mapped first.
    ///
    /// # Errors
    /// `AlreadyMapped` when something is mapped at one of the pages; the
    /// error of `table`; `Kernel` for any other refusal. What was mapped
    /// stays mapped (freeing the block unmaps it).
    pub fn map_block(
        &self,
        block: Block,
        vspace: Cap<VSpace>,
        vaddr: u64,
        bits: u8,
        mut table: impl FnMut() -> Result<Block, MemoryError>,
    ) -> Result<(), MemoryError> {
        let pages = block.size() >> PAGE_BITS;
        let dst = self.cnode.absolute_cptr_with_depth(0, 0);
        self.node(block)
            .untyped_retype(
                ObjectType::SmallPage,
                0,
                &dst,
                self.frame_slot(block, 0),
                pages,
            )
            .map_err(kernel)?;
        let mut cap_rights = CapRights::READ;
        if bits & rights::WRITE != 0 {
            cap_rights = cap_rights.union(CapRights::WRITE);
        }
        let attrs = match bits & rights::EXECUTE {
            0 => VmAttributes::DEFAULT.union(VmAttributes::EXECUTE_NEVER),
            _ => VmAttributes::DEFAULT,
        };
        for page in 0..pages {
            let frame: Cap<SmallPage> =
                Cap::from_cptr(CPtr::from_bits(self.frame_slot(block, page)));
            let at = vaddr + (page << PAGE_BITS);
            let mut missing = 0;
            loop {
                match frame.frame_map(vspace, at, cap_rights, attrs) {
                    Ok(()) => break,
                    Err(e) if e.error() == Error::DeleteFirst => {
                        return Err(MemoryError::AlreadyMapped)
                    }
                    // At most three levels can be missing.
                    Err(e) if missing < 3 => {
                        let level = missing_level(&e).ok_or(MemoryError::Kernel)?;
                        self.add_table(table()?, level, vspace, at)?;
                        missing += 1;
                    }
                    Err(_) => return Err(MemoryError::Kernel),
                }
            }
        }
        Ok(())
    }

    /// Retypes the one-page `block` into the paging structure `level`
    /// names and maps it in `vspace` where it covers `vaddr`.
    fn add_table(
        &self,
        block: Block,
        level: Level,
        vspace: Cap<VSpace>,
        vaddr: u64,
    ) -> Result<(), MemoryError> {
        let slot = self.frame_slot(block, 0);
        let ty = match level {
            Level::Upper => ObjectType::PageUpperDirectory,
            Level::Directory => ObjectType::PageDirectory,
            Level::Table => ObjectType::PageTable,
        };
        let dst = self.cnode.absolute_cptr_with_depth(0, 0);
        self.node(block)
            .untyped_retype(ty, 0, &dst, slot, 1)
            .map_err(kernel)?;
        let attrs = VmAttributes::DEFAULT;
        let cptr = CPtr::from_bits(slot);
        match level {
            Level::Upper => {
                Cap::<PageUpperDirectory>::from_cptr(cptr).page_table_map(vspace, vaddr, attrs)
            }
            Level::Directory => {
                Cap::<PageDirectory>::from_cptr(cptr).page_table_map(vspace, vaddr, attrs)
            }
            Level::Table => Cap::<PageTable>::from_cptr(cptr).page_table_map(vspace, vaddr, attrs),
        }
        .map_err(kernel)
    }

    /// Makes `slot` of the slave's CNode the partition's root block.
    ///
    /// # Errors
    /// The kernel's refusal of the move.
    pub fn take_root(&self, slot: u64) -> Result<(), InvocationError> {
        let root = Block {
            region: 0,
            order: self.bits,
            index: 0,
        };
        self.at(self.nodes + root.node(self.bits))
            .move_(&self.at(slot))
    }
}

fn missing_level(e: &InvocationError) -> Option<Level> {
    if e.lookup_failure() != Some(LookupFailure::MissingCapability) {
        return None;
    }
    match e.bits_left()? {
        PUD_SHIFT => Some(Level::Upper),
        PD_SHIFT => Some(Level::Directory),
        PT_SHIFT => Some(Level::Table),
        _ => None,
    }
}

/// A kernel refusal, as the protocol says it.
pub fn kernel(_: InvocationError) -> MemoryError {
    MemoryError::Kernel
}

impl Tree for &Partition {
    type Error = InvocationError;

    fn split(&mut self, parent: Block) -> Result<(), InvocationError> {
        let [low, _] = parent.halves();
        let dst = self.cnode.absolute_cptr_with_depth(0, 0);
        self.node(parent).untyped_retype(
            ObjectType::Untyped,
            (parent.order - 1).into(),
            &dst,
            self.nodes + low.node(self.bits),
            2,
        )
    }

    fn merge(&mut self, parent: Block) -> Result<(), InvocationError> {
        self.revoke(parent)
    }

    /// A one-page block's only child is the frame or paging structure in
    /// its page's slot: deleting that cap is the revoke, without its walk
    /// of the untyped's children (about 450 fewer instructions per page
    /// freed, a sixth of a one-page pair).
    fn reclaim(&mut self, block: Block) -> Result<(), InvocationError> {
        if block.order == PAGE_BITS {
            self.at(self.frame_slot(block, 0)).delete()
        } else {
            self.revoke(block)
        }
    }
}

impl Partition {
    /// Revokes `block`'s cap: every cap derived from it (a copy granted to
    /// a client, and all the client made from that) is deleted.
    ///
    /// # Errors
    /// The kernel's refusal of the revoke.
    pub fn revoke(&self, block: Block) -> Result<(), InvocationError> {
        self.at(self.nodes + block.node(self.bits)).revoke()
    }
}
