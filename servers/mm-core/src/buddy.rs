//! A buddy allocator whose blocks are untyped caps.
//!
//! The partition is a list of [`Region`]s, one untyped cap each (a power of
//! two in size, aligned to it), as init hands them to a slave. Every block
//! is a power-of-two piece of a region, aligned to its size, and is free,
//! split or allocated. Allocating takes the smallest free block that fits
//! (lowest address first) and splits it down, each split a retype of the
//! block's untyped cap into its two halves ([`Untyped::split`]). Freeing
//! first reclaims the block (a revoke of its cap deletes what was made of
//! it, [`Untyped::reclaim`]), then merges it with its buddy while the buddy
//! is free too (a revoke of the parent deletes both halves,
//! [`Untyped::merge`]). A partition whose blocks are all freed is one free
//! block per region again. [`Buddy::release`] frees without merging, for a
//! caller that would rather reuse blocks of the sizes it frees than pay
//! for merges (the kernel clears what a revoked parent's halves used); an
//! allocation that finds no block large enough merges first, and
//! [`Buddy::coalesce_all`] merges everything that can be.
//!
//! A failed cap operation leaves the tree as consistent as before it: an
//! allocation whose split fails merges back what it split and allocates
//! nothing; a free whose reclaim fails leaves the block allocated; a free
//! whose merge fails leaves both halves free (usable, merged by a later
//! free).

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

/// One untyped cap of the partition: `2^bits` bytes at `base`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Physical address, aligned to the region's size.
    pub base: u64,
    /// log2 of the size.
    pub bits: u8,
}

/// A block: the `index`-th block of `2^order` bytes in region `region`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Block {
    /// The region's index in the partition.
    pub region: usize,
    /// log2 of the block's size.
    pub order: u8,
    /// Which block of its size, from the region's start.
    pub index: u64,
}

impl Block {
    /// Block `index` of size 2^`order` in region 0 (for tests).
    #[cfg(test)]
    pub(crate) fn in_region_0(order: u8, index: u64) -> Block {
        Block {
            region: 0,
            order,
            index,
        }
    }

    /// The block's size in bytes.
    pub const fn size(&self) -> u64 {
        1 << self.order
    }

    /// The block's offset in its region.
    pub const fn offset(&self) -> u64 {
        self.index << self.order
    }

    /// The block's number in its region's tree, counted as a binary heap
    /// (the whole region is 1, a block `n`'s halves are `2n` and `2n + 1`):
    /// a slave names the slot of the block's untyped cap by it.
    pub const fn node(&self, region_bits: u8) -> u64 {
        (1 << (region_bits - self.order)) + self.index
    }

    /// The two halves of the block.
    pub fn halves(&self) -> [Block; 2] {
        let half = |index| Block {
            region: self.region,
            order: self.order - 1,
            index,
        };
        [half(2 * self.index), half(2 * self.index + 1)]
    }

    /// The block this one is a half of.
    pub const fn parent(&self) -> Block {
        Block {
            region: self.region,
            order: self.order + 1,
            index: self.index / 2,
        }
    }

    /// The other half of the parent.
    pub const fn buddy(&self) -> Block {
        Block {
            index: self.index ^ 1,
            ..*self
        }
    }
}

/// The cap operations the allocator asks for; the slave performs them on
/// the blocks' untyped caps, tests record them.
pub trait Untyped {
    /// Why an operation failed.
    type Error;

    /// Retypes the free block `parent` into its two halves.
    ///
    /// # Errors
    /// The retype's failure; the block then stays free and whole.
    fn split(&mut self, parent: Block) -> Result<(), Self::Error>;

    /// Revokes `parent`, whose halves are both free: it is whole again.
    ///
    /// # Errors
    /// The revoke's failure; the halves then stay free.
    fn merge(&mut self, parent: Block) -> Result<(), Self::Error>;

    /// Revokes the allocated `block`, deleting whatever was made of it.
    ///
    /// # Errors
    /// The revoke's failure; the block then stays allocated.
    fn reclaim(&mut self, block: Block) -> Result<(), Self::Error>;
}

/// Why an allocator operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error<E> {
    /// No free block of the order asked for, or larger.
    Exhausted,
    /// The order is below the allocator's smallest or above its largest
    /// region.
    BadOrder,
    /// The block is not allocated (never was, or already freed).
    NotAllocated,
    /// A cap operation failed.
    Untyped(E),
}

/// A region not aligned to its size, or smaller than the smallest block:
/// its index in the list given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadRegion(pub usize);

/// Who an allocated block is charged to (the slave's client number).
pub type Owner = u32;

/// How much of the partition is used, and how fragmented what is free is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Bytes in the partition.
    pub total: u64,
    /// Bytes free.
    pub free: u64,
    /// The largest free block, in bytes.
    pub largest_free: u64,
    /// How many free blocks there are.
    pub free_blocks: usize,
}

impl Usage {
    /// External fragmentation in thousandths: how much of the free memory
    /// is outside the largest free block (0 when nothing is free).
    pub fn fragmentation_permille(&self) -> u64 {
        match self.free {
            0 => 0,
            free => 1000 - self.largest_free * 1000 / free,
        }
    }
}

/// The allocator over one partition.
pub struct Buddy {
    regions: Vec<Region>,
    min_order: u8,
    /// Free blocks, ordered by size, then address: `(order, region, index)`.
    free: BTreeSet<(u8, usize, u64)>,
    allocated: BTreeMap<Block, Owner>,
}

fn key(b: Block) -> (u8, usize, u64) {
    (b.order, b.region, b.index)
}

impl Buddy {
    /// An allocator over `regions`, whose smallest block is `2^min_order`
    /// bytes; each region starts as one free block.
    ///
    /// # Errors
    /// The first region not aligned to its size or smaller than the
    /// smallest block.
    pub fn new(regions: &[Region], min_order: u8) -> Result<Buddy, BadRegion> {
        let bad =
            |r: &Region| r.bits < min_order || r.bits >= 64 || r.base & ((1u64 << r.bits) - 1) != 0;
        if let Some(i) = regions.iter().position(bad) {
            return Err(BadRegion(i));
        }
        let free = regions
            .iter()
            .enumerate()
            .map(|(region, r)| (r.bits, region, 0))
            .collect();
        Ok(Buddy {
            regions: regions.to_vec(),
            min_order,
            free,
            allocated: BTreeMap::new(),
        })
    }

    /// The partition's regions.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The physical address of `block`.
    pub fn address(&self, block: Block) -> u64 {
        self.regions[block.region].base + block.offset()
    }

    /// Allocates a block of `2^order` bytes charged to `owner`.
    ///
    /// # Errors
    /// `BadOrder`, `Exhausted`, or a split's failure (nothing is allocated
    /// then, and what was split is merged back where it can be).
    pub fn alloc<U: Untyped>(
        &mut self,
        order: u8,
        owner: Owner,
        caps: &mut U,
    ) -> Result<Block, Error<U::Error>> {
        let largest = self.regions.iter().map(|r| r.bits).max().unwrap_or(0);
        if order < self.min_order || order > largest {
            return Err(Error::BadOrder);
        }
        if self.free.range((order, 0, 0)..).next().is_none() {
            // Blocks released without merging may make one large enough.
            self.coalesce_all(caps)?;
        }
        let &(found, region, index) = self
            .free
            .range((order, 0, 0)..)
            .next()
            .ok_or(Error::Exhausted)?;
        let mut block = Block {
            region,
            order: found,
            index,
        };
        while block.order > order {
            if let Err(e) = caps.split(block) {
                // Both halves of every split made so far are free again
                // but for the path down to `block`: merge back up.
                let _ = self.coalesce(block, caps);
                return Err(Error::Untyped(e));
            }
            self.free.remove(&key(block));
            let [low, high] = block.halves();
            self.free.insert(key(low));
            self.free.insert(key(high));
            block = low;
        }
        self.free.remove(&key(block));
        self.allocated.insert(block, owner);
        Ok(block)
    }

    /// Frees `block`: reclaims it, then merges it with its buddies.
    ///
    /// # Errors
    /// `NotAllocated`; a reclaim's failure (the block stays allocated); a
    /// merge's failure (the block is free, not merged).
    pub fn free<U: Untyped>(&mut self, block: Block, caps: &mut U) -> Result<(), Error<U::Error>> {
        if !self.allocated.contains_key(&block) {
            return Err(Error::NotAllocated);
        }
        caps.reclaim(block).map_err(Error::Untyped)?;
        self.allocated.remove(&block);
        self.free.insert(key(block));
        self.coalesce(block, caps)
    }

    /// Frees `block` without merging it with its buddy: it stays a free
    /// block of its order, which the next allocation of that order takes
    /// without a split. Merging waits for an allocation that finds no block
    /// large enough, or [`Buddy::coalesce_all`]: a merge revokes the parent,
    /// and the kernel clears what the parent's halves used, so merging at
    /// every free would clear the partition over and over.
    ///
    /// # Errors
    /// `NotAllocated`; a reclaim's failure (the block stays allocated).
    pub fn release<U: Untyped>(
        &mut self,
        block: Block,
        caps: &mut U,
    ) -> Result<(), Error<U::Error>> {
        if !self.allocated.contains_key(&block) {
            return Err(Error::NotAllocated);
        }
        caps.reclaim(block).map_err(Error::Untyped)?;
        self.allocated.remove(&block);
        self.free.insert(key(block));
        Ok(())
    }

    /// Merges every free block with its buddy, and up, while the buddy is
    /// free: the partition as eager freeing would have left it.
    ///
    /// # Errors
    /// A merge's failure (the blocks not merged stay free).
    pub fn coalesce_all<U: Untyped>(&mut self, caps: &mut U) -> Result<(), Error<U::Error>> {
        let blocks: Vec<(u8, usize, u64)> = self.free.iter().copied().collect();
        for (order, region, index) in blocks {
            if self.free.contains(&(order, region, index)) {
                self.coalesce(
                    Block {
                        region,
                        order,
                        index,
                    },
                    caps,
                )?;
            }
        }
        Ok(())
    }

    /// Frees every block charged to `owner` (a client that died); returns
    /// how many bytes came back.
    ///
    /// # Errors
    /// The first failure of [`Buddy::free`]; the blocks not yet freed stay
    /// charged to `owner`, so the call can be made again.
    pub fn free_owner<U: Untyped>(
        &mut self,
        owner: Owner,
        caps: &mut U,
    ) -> Result<u64, Error<U::Error>> {
        let blocks: Vec<Block> = self.blocks_of(owner).collect();
        let mut bytes = 0;
        for block in blocks {
            self.free(block, caps)?;
            bytes += block.size();
        }
        Ok(bytes)
    }

    /// The blocks charged to `owner`.
    pub fn blocks_of(&self, owner: Owner) -> impl Iterator<Item = Block> + '_ {
        self.allocated
            .iter()
            .filter(move |(_, o)| **o == owner)
            .map(|(b, _)| *b)
    }

    /// Who `block` is charged to, if it is allocated.
    pub fn owner(&self, block: Block) -> Option<Owner> {
        self.allocated.get(&block).copied()
    }

    /// How much is used and how fragmented the free memory is.
    pub fn usage(&self) -> Usage {
        let total = self.regions.iter().map(|r| 1u64 << r.bits).sum();
        let free = self.free.iter().map(|&(order, _, _)| 1u64 << order).sum();
        let largest_free = self.free.iter().next_back().map_or(0, |&(o, _, _)| 1 << o);
        Usage {
            total,
            free,
            largest_free,
            free_blocks: self.free.len(),
        }
    }

    /// How many free blocks there are of each order, smallest order first.
    pub fn free_by_order(&self) -> impl Iterator<Item = (u8, usize)> + '_ {
        let largest = self.regions.iter().map(|r| r.bits).max().unwrap_or(0);
        (self.min_order..=largest).map(|order| {
            let n = self.free.range((order, 0, 0)..(order + 1, 0, 0)).count();
            (order, n)
        })
    }

    /// Merges the free `block` with its buddy, and up, while the buddy is
    /// free.
    fn coalesce<U: Untyped>(
        &mut self,
        mut block: Block,
        caps: &mut U,
    ) -> Result<(), Error<U::Error>> {
        while block.order < self.regions[block.region].bits {
            let buddy = block.buddy();
            if !self.free.contains(&key(buddy)) {
                break;
            }
            let parent = block.parent();
            caps.merge(parent).map_err(Error::Untyped)?;
            self.free.remove(&key(block));
            self.free.remove(&key(buddy));
            self.free.insert(key(parent));
            block = parent;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
