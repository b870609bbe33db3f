//! A slave's record of its clients' virtual memory: each client's areas
//! (a reserved range of its address space, the rights its pages get, and
//! the blocks mapped in it so far), the blocks of paging structures made
//! for it, and the pages charged to each activity against its limit. It
//! makes no cap operation: the slave maps what this says to map, and frees
//! what [`Areas::remove`] hands back.

use crate::buddy::Block;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// log2 of a page.
pub const PAGE_BITS: u8 = 12;

/// One area of a client's address space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Area {
    /// First address (page-aligned).
    pub start: u64,
    /// First address past it.
    pub end: u64,
    /// The mapping rights (the memory protocol's bits).
    pub rights: u8,
    /// Filled on fault (delayed) rather than at the request (immediate).
    pub delayed: bool,
    /// The blocks mapped in it: each at the address it is mapped from.
    pub blocks: Vec<(u64, Block)>,
}

impl Area {
    /// Pages mapped in the area.
    pub fn mapped_pages(&self) -> u64 {
        self.blocks.iter().map(|(_, b)| b.size() >> PAGE_BITS).sum()
    }

    /// True when the page at `vaddr` is mapped.
    pub fn is_mapped(&self, vaddr: u64) -> bool {
        self.blocks
            .iter()
            .any(|(at, b)| *at <= vaddr && vaddr < at + b.size())
    }
}

/// Why an area operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AreaError {
    /// The range overlaps an area the client has.
    Overlaps,
    /// No area starts there.
    NotAllocated,
}

/// One client's areas and paging structures.
#[derive(Clone, Debug, Default)]
pub struct Areas {
    areas: BTreeMap<u64, Area>,
    /// Blocks made into paging structures for this client.
    pub tables: Vec<Block>,
}

impl Areas {
    /// Adds an area `[start, end)` with nothing mapped yet.
    ///
    /// # Errors
    /// `Overlaps` when it meets an area already there.
    pub fn insert(
        &mut self,
        start: u64,
        end: u64,
        rights: u8,
        delayed: bool,
    ) -> Result<(), AreaError> {
        let before = self.areas.range(..end).next_back();
        if before.is_some_and(|(_, a)| a.end > start) {
            return Err(AreaError::Overlaps);
        }
        self.areas.insert(
            start,
            Area {
                start,
                end,
                rights,
                delayed,
                blocks: Vec::new(),
            },
        );
        Ok(())
    }

    /// The area holding `vaddr`.
    pub fn containing_mut(&mut self, vaddr: u64) -> Option<&mut Area> {
        self.areas
            .range_mut(..=vaddr)
            .next_back()
            .map(|(_, a)| a)
            .filter(|a| vaddr < a.end)
    }

    /// The area that starts at `start`.
    pub fn get_mut(&mut self, start: u64) -> Option<&mut Area> {
        self.areas.get_mut(&start)
    }

    /// Takes out the area that starts at `start`, with its blocks.
    ///
    /// # Errors
    /// `NotAllocated` when none starts there.
    pub fn remove(&mut self, start: u64) -> Result<Area, AreaError> {
        self.areas.remove(&start).ok_or(AreaError::NotAllocated)
    }

    /// The start of every area.
    pub fn starts(&self) -> Vec<u64> {
        self.areas.keys().copied().collect()
    }

    /// How many areas there are.
    pub fn len(&self) -> usize {
        self.areas.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.areas.is_empty()
    }

    /// Pages the client holds: mapped pages and paging structures.
    pub fn pages(&self) -> u64 {
        let mapped: u64 = self.areas.values().map(Area::mapped_pages).sum();
        mapped
            + self
                .tables
                .iter()
                .map(|b| b.size() >> PAGE_BITS)
                .sum::<u64>()
    }
}

/// A request past an activity's limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitExceeded;

/// Pages charged to each activity, and their limits.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// `activity -> (pages held, limit)`.
    entries: BTreeMap<u16, (u64, u64)>,
}

impl Ledger {
    /// Sets `activity`'s limit (it may be below what it holds: later
    /// charges are refused until it frees enough).
    pub fn set_limit(&mut self, activity: u16, pages: u64) {
        self.entries.entry(activity).or_insert((0, u64::MAX)).1 = pages;
    }

    /// Charges `pages` to `activity`.
    ///
    /// # Errors
    /// `LimitExceeded`, charging nothing, when it would pass its limit.
    pub fn charge(&mut self, activity: u16, pages: u64) -> Result<(), LimitExceeded> {
        let (held, limit) = self.entries.entry(activity).or_insert((0, u64::MAX));
        match held.checked_add(pages) {
            Some(total) if total <= *limit => {
                *held = total;
                Ok(())
            }
            _ => Err(LimitExceeded),
        }
    }

    /// Gives `pages` back to `activity`.
    pub fn refund(&mut self, activity: u16, pages: u64) {
        if let Some((held, _)) = self.entries.get_mut(&activity) {
            *held = held.saturating_sub(pages);
        }
    }

    /// `(pages held, limit)` of `activity`.
    pub fn of(&self, activity: u16) -> (u64, u64) {
        self.entries
            .get(&activity)
            .copied()
            .unwrap_or((0, u64::MAX))
    }
}

/// How `pages` pages split into buddy blocks: one per set bit, largest
/// first, as `(offset in pages, order in bytes)`.
pub fn pieces(pages: u64) -> impl Iterator<Item = (u64, u8)> {
    let mut left = pages;
    let mut offset = 0;
    core::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let bit = 63 - left.leading_zeros() as u8;
        let piece = (offset, bit + PAGE_BITS);
        offset += 1 << bit;
        left &= !(1 << bit);
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(order: u8, index: u64) -> Block {
        Block::in_region_0(order, index)
    }

    #[test]
    fn overlapping_areas_are_refused() {
        let mut a = Areas::default();
        a.insert(0x10000, 0x20000, 3, false).unwrap();
        assert_eq!(
            a.insert(0x1f000, 0x21000, 3, false),
            Err(AreaError::Overlaps)
        );
        assert_eq!(a.insert(0xf000, 0x11000, 3, true), Err(AreaError::Overlaps));
        assert_eq!(a.insert(0x0, 0x30000, 3, true), Err(AreaError::Overlaps));
        a.insert(0x20000, 0x21000, 1, true).unwrap();
        a.insert(0xf000, 0x10000, 1, true).unwrap();
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn lookups_find_the_area_holding_an_address() {
        let mut a = Areas::default();
        a.insert(0x10000, 0x12000, 3, true).unwrap();
        assert!(a.containing_mut(0x11fff).is_some());
        assert!(a.containing_mut(0x12000).is_none());
        assert!(a.containing_mut(0xffff).is_none());
        let area = a.containing_mut(0x10000).unwrap();
        area.blocks.push((0x11000, block(12, 5)));
        assert!(area.is_mapped(0x11800));
        assert!(!area.is_mapped(0x10000));
        a.tables.push(block(12, 9));
        assert_eq!(a.pages(), 2);
        assert_eq!(a.remove(0x11000), Err(AreaError::NotAllocated));
        assert_eq!(a.remove(0x10000).unwrap().mapped_pages(), 1);
        assert_eq!(a.remove(0x10000), Err(AreaError::NotAllocated));
    }

    #[test]
    fn limits_refuse_and_refunds_make_room() {
        let mut l = Ledger::default();
        l.set_limit(2, 10);
        l.charge(2, 8).unwrap();
        assert_eq!(l.charge(2, 3), Err(LimitExceeded));
        assert_eq!(l.of(2), (8, 10));
        l.refund(2, 5);
        l.charge(2, 7).unwrap();
        l.charge(3, u64::MAX).unwrap();
        assert_eq!(l.charge(3, 1), Err(LimitExceeded));
    }

    #[test]
    fn pages_split_into_one_block_per_bit() {
        let p: Vec<_> = pieces(13).collect();
        assert_eq!(p, [(0, 15), (8, 14), (12, 12)]);
        assert_eq!(pieces(0).count(), 0);
        assert_eq!(pieces(256).collect::<Vec<_>>(), [(0, 20)]);
    }
}
