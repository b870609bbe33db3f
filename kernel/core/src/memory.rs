//! Physical memory at boot: a set of free regions, subtraction of reserved
//! ranges, a bump allocator for the frames the kernel needs to build the root
//! task, and the split of what is left into size-aligned Untyped blocks.
//!
//! This module owns no memory; it only does the arithmetic on addresses.

use keel_abi::bootinfo::MemRegion;

/// Most disjoint free regions tracked at boot.
pub const MAX_FREE_REGIONS: usize = 64;
/// Smallest Untyped block handed out (one page).
pub const MIN_UNTYPED_BITS: u8 = 12;
/// Largest Untyped block handed out (seL4's x86_64/aarch64 limit is 47; 2^40 is plenty here).
pub const MAX_UNTYPED_BITS: u8 = 40;

/// Why a boot memory operation failed. These are configuration or kernel bugs,
/// never caused by user space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// More disjoint regions than [`MAX_FREE_REGIONS`].
    TooManyRegions,
    /// No free region can satisfy the request.
    OutOfMemory,
}

/// A set of disjoint, sorted, page-aligned free physical regions.
#[derive(Clone, Debug)]
pub struct FreeMemory {
    regions: [MemRegion; MAX_FREE_REGIONS],
    count: usize,
}

const PAGE: u64 = keel_abi::PAGE_SIZE as u64;

impl Default for FreeMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl FreeMemory {
    /// An empty set.
    pub const fn new() -> Self {
        FreeMemory {
            regions: [MemRegion { start: 0, end: 0 }; MAX_FREE_REGIONS],
            count: 0,
        }
    }

    /// The free regions, sorted by address.
    pub fn regions(&self) -> &[MemRegion] {
        &self.regions[..self.count]
    }

    /// Adds RAM, shrunk inward to page boundaries and merged with neighbours.
    ///
    /// # Errors
    /// [`MemoryError::TooManyRegions`] when the table is full.
    pub fn add(&mut self, region: MemRegion) -> Result<(), MemoryError> {
        let start = region.start.div_ceil(PAGE) * PAGE;
        let end = region.end / PAGE * PAGE;
        if start >= end {
            return Ok(());
        }
        // Remove any overlap first so the set stays disjoint, then insert sorted.
        self.remove(MemRegion { start, end })?;
        if self.count == MAX_FREE_REGIONS {
            return Err(MemoryError::TooManyRegions);
        }
        let at = self.regions[..self.count]
            .iter()
            .position(|r| r.start > start)
            .unwrap_or(self.count);
        self.regions.copy_within(at..self.count, at + 1);
        self.regions[at] = MemRegion { start, end };
        self.count += 1;
        self.merge();
        Ok(())
    }

    /// Removes a range (grown outward to page boundaries) from the set.
    ///
    /// # Errors
    /// [`MemoryError::TooManyRegions`] when splitting a region overflows the table.
    pub fn remove(&mut self, range: MemRegion) -> Result<(), MemoryError> {
        let start = range.start / PAGE * PAGE;
        let end = range.end.div_ceil(PAGE) * PAGE;
        let mut i = 0;
        while i < self.count {
            let r = self.regions[i];
            if end <= r.start || r.end <= start {
                i += 1;
                continue;
            }
            let left = MemRegion {
                start: r.start,
                end: start,
            };
            let right = MemRegion {
                start: end,
                end: r.end,
            };
            match (left.start < left.end, right.start < right.end) {
                (true, true) => {
                    if self.count == MAX_FREE_REGIONS {
                        return Err(MemoryError::TooManyRegions);
                    }
                    self.regions.copy_within(i + 1..self.count, i + 2);
                    self.regions[i] = left;
                    self.regions[i + 1] = right;
                    self.count += 1;
                    i += 2;
                }
                (true, false) => {
                    self.regions[i] = left;
                    i += 1;
                }
                (false, true) => {
                    self.regions[i] = right;
                    i += 1;
                }
                (false, false) => {
                    self.regions.copy_within(i + 1..self.count, i);
                    self.count -= 1;
                }
            }
        }
        Ok(())
    }

    /// Takes `size` bytes aligned to `align` (a power of two, at least a page)
    /// from the lowest region that fits, and returns the physical address.
    ///
    /// # Errors
    /// [`MemoryError::OutOfMemory`] when nothing fits.
    pub fn alloc(&mut self, size: u64, align: u64) -> Result<u64, MemoryError> {
        let align = align.max(PAGE);
        let size = size.div_ceil(PAGE) * PAGE;
        let found = self.regions().iter().find_map(|r| {
            let start = r.start.checked_add(align - 1)? & !(align - 1);
            let end = start.checked_add(size)?;
            (end <= r.end).then_some(start)
        });
        let start = found.ok_or(MemoryError::OutOfMemory)?;
        self.remove(MemRegion {
            start,
            end: start + size,
        })?;
        Ok(start)
    }

    /// Total free bytes.
    pub fn total(&self) -> u64 {
        self.regions().iter().map(|r| r.end - r.start).sum()
    }

    fn merge(&mut self) {
        let mut i = 0;
        while i + 1 < self.count {
            if self.regions[i].end == self.regions[i + 1].start {
                self.regions[i].end = self.regions[i + 1].end;
                self.regions.copy_within(i + 2..self.count, i + 1);
                self.count -= 1;
            } else {
                i += 1;
            }
        }
    }
}

/// Splits `region` into the fewest size-aligned power-of-two blocks, in address
/// order, as seL4 does when it turns free memory into Untyped capabilities.
pub fn untyped_blocks(region: MemRegion) -> impl Iterator<Item = (u64, u8)> {
    let mut at = region.start;
    core::iter::from_fn(move || {
        if at >= region.end || region.end - at < (1 << MIN_UNTYPED_BITS) {
            return None;
        }
        let align_bits = if at == 0 {
            MAX_UNTYPED_BITS as u32
        } else {
            at.trailing_zeros()
        };
        let fit_bits = 63 - (region.end - at).leading_zeros();
        let bits = align_bits.min(fit_bits).min(MAX_UNTYPED_BITS as u32) as u8;
        let block = (at, bits);
        at += 1 << bits;
        Some(block)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> MemRegion {
        MemRegion { start, end }
    }

    #[test]
    fn add_merges_and_remove_splits() {
        let mut f = FreeMemory::new();
        f.add(r(0x10_0000, 0x20_0000)).unwrap();
        f.add(r(0x20_0000, 0x30_0000)).unwrap();
        assert_eq!(f.regions(), &[r(0x10_0000, 0x30_0000)]);
        f.remove(r(0x18_0000, 0x18_0001)).unwrap();
        assert_eq!(
            f.regions(),
            &[r(0x10_0000, 0x18_0000), r(0x18_1000, 0x30_0000)]
        );
        f.add(r(0x50_0000, 0x50_0fff)).unwrap(); // less than a page: nothing
        assert_eq!(f.regions().len(), 2);
        assert_eq!(f.total(), 0x20_0000 - 0x1000);
    }

    #[test]
    fn alloc_respects_alignment_and_exhaustion() {
        let mut f = FreeMemory::new();
        f.add(r(0x1000, 0x40_0000)).unwrap();
        let a = f.alloc(0x1000, 0x20_0000).unwrap();
        assert_eq!(a, 0x20_0000);
        assert_eq!(
            f.regions(),
            &[r(0x1000, 0x20_0000), r(0x20_1000, 0x40_0000)]
        );
        assert_eq!(f.alloc(0x100_0000, 0x1000), Err(MemoryError::OutOfMemory));
    }

    #[test]
    fn untyped_blocks_cover_exactly_and_are_aligned() {
        for (start, end) in [
            (0x1000u64, 0x7_3000u64),
            (0x40_0000, 0x2000_0000),
            (0, 0x9f000),
        ] {
            let mut at = start;
            for (pa, bits) in untyped_blocks(r(start, end)) {
                assert_eq!(pa, at, "blocks are contiguous");
                assert_eq!(pa % (1 << bits), 0, "block aligned to its size");
                at += 1 << bits;
            }
            assert_eq!(at, end);
        }
        assert_eq!(untyped_blocks(r(0x1000, 0x1fff)).count(), 0);
    }

    #[test]
    fn removing_reserved_ranges_leaves_no_overlap() {
        let mut f = FreeMemory::new();
        f.add(r(0, 0x1000_0000)).unwrap();
        let reserved = [
            r(0x10_0000, 0x23_4567),
            r(0x800_0000, 0x800_1000),
            r(0xfff_f000, 0x2000_0000),
        ];
        for res in reserved {
            f.remove(res).unwrap();
        }
        for free in f.regions() {
            for res in reserved {
                assert!(!free.overlaps(&res), "{free:?} overlaps {res:?}");
            }
        }
    }
}
