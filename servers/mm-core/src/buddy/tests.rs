//! The buddy allocator against a model of the untyped caps it asks for:
//! every split, merge and reclaim must be one the caps allow, allocated
//! blocks never overlap and are aligned, and freeing everything gives back
//! one free block per region.

use super::*;
use alloc::vec;
use alloc::vec::Vec;
use proptest::prelude::*;
use std::collections::BTreeSet as Set;

const PAGE: u8 = 12;

/// The untyped caps of the partition as a slave holds them: which blocks
/// have a cap (a region's whole block from the start; halves once split),
/// and which are split. Refuses what the kernel would refuse, and fails
/// the operation numbered `fail_at` (counting from 0) once.
#[derive(Default)]
struct Caps {
    live: Set<Block>,
    split: Set<Block>,
    operations: usize,
    fail_at: Option<usize>,
}

impl Caps {
    fn new(regions: &[Region]) -> Caps {
        let live = (0..regions.len())
            .map(|region| Block {
                region,
                order: regions[region].bits,
                index: 0,
            })
            .collect();
        Caps {
            live,
            ..Caps::default()
        }
    }

    fn step(&mut self) -> Result<(), &'static str> {
        let n = self.operations;
        self.operations += 1;
        if self.fail_at == Some(n) {
            return Err("injected failure");
        }
        Ok(())
    }
}

impl Untyped for Caps {
    type Error = &'static str;

    fn split(&mut self, parent: Block) -> Result<(), Self::Error> {
        assert!(
            self.live.contains(&parent),
            "split of a block without a cap: {parent:?}"
        );
        assert!(!self.split.contains(&parent), "split twice: {parent:?}");
        self.step()?;
        self.split.insert(parent);
        self.live.extend(parent.halves());
        Ok(())
    }

    fn merge(&mut self, parent: Block) -> Result<(), Self::Error> {
        assert!(
            self.split.contains(&parent),
            "merge of an unsplit block: {parent:?}"
        );
        for half in parent.halves() {
            assert!(
                !self.split.contains(&half),
                "merge over a split half: {half:?}"
            );
        }
        self.step()?;
        self.split.remove(&parent);
        for half in parent.halves() {
            self.live.remove(&half);
        }
        Ok(())
    }

    fn reclaim(&mut self, block: Block) -> Result<(), Self::Error> {
        assert!(
            self.live.contains(&block),
            "reclaim of a block without a cap: {block:?}"
        );
        self.step()
    }
}

fn regions() -> [Region; 2] {
    [
        Region {
            base: 0x4000_0000,
            bits: 20,
        },
        Region {
            base: 0x8000_0000,
            bits: 16,
        },
    ]
}

#[test]
fn regions_must_be_aligned_and_at_least_a_page() {
    let unaligned = Region {
        base: 0x1000,
        bits: 16,
    };
    let tiny = Region { base: 0, bits: 11 };
    let good = Region { base: 0, bits: 16 };
    assert_eq!(
        Buddy::new(&[good, unaligned], PAGE).err(),
        Some(BadRegion(1))
    );
    assert_eq!(Buddy::new(&[tiny], PAGE).err(), Some(BadRegion(0)));
}

#[test]
fn one_page_splits_the_smallest_block_that_fits_and_frees_back_whole() {
    let r = regions();
    let mut caps = Caps::new(&r);
    let mut buddy = Buddy::new(&r, PAGE).unwrap();
    let page = buddy.alloc(PAGE, 7, &mut caps).unwrap();
    // The 64 KiB region is the smallest block that fits: 4 splits.
    assert_eq!(
        page,
        Block {
            region: 1,
            order: PAGE,
            index: 0
        }
    );
    assert_eq!(caps.split.len(), 4);
    assert_eq!(buddy.address(page), 0x8000_0000);
    assert_eq!(buddy.owner(page), Some(7));
    let used = buddy.usage();
    assert_eq!(used.free, used.total - 4096);
    buddy.free(page, &mut caps).unwrap();
    assert!(caps.split.is_empty());
    let back = buddy.usage();
    assert_eq!((back.free, back.free_blocks), (back.total, 2));
}

#[test]
fn released_blocks_are_reused_unmerged_and_merged_when_needed() {
    let r = [Region { base: 0, bits: 16 }];
    let mut caps = Caps::new(&r);
    let mut buddy = Buddy::new(&r, PAGE).unwrap();
    let page = buddy.alloc(PAGE, 7, &mut caps).unwrap();
    buddy.release(page, &mut caps).unwrap();
    assert_eq!(caps.split.len(), 4);
    assert_eq!(buddy.release(page, &mut caps), Err(Error::NotAllocated));
    let again = buddy.alloc(PAGE, 7, &mut caps).unwrap();
    assert_eq!((again, caps.split.len()), (page, 4));
    buddy.release(again, &mut caps).unwrap();
    // The whole region is asked for: the released page merges back.
    let whole = buddy.alloc(16, 8, &mut caps).unwrap();
    assert_eq!((whole.order, caps.split.len()), (16, 0));
    buddy.release(whole, &mut caps).unwrap();
    let quarter = buddy.alloc(14, 8, &mut caps).unwrap();
    buddy.release(quarter, &mut caps).unwrap();
    assert_eq!(buddy.usage().free_blocks, 3);
    buddy.coalesce_all(&mut caps).unwrap();
    assert!(caps.split.is_empty());
    let back = buddy.usage();
    assert_eq!((back.free, back.free_blocks), (back.total, 1));
}

#[test]
fn bad_orders_double_frees_and_exhaustion_are_errors() {
    let r = regions();
    let mut caps = Caps::new(&r);
    let mut buddy = Buddy::new(&r, PAGE).unwrap();
    assert_eq!(buddy.alloc(11, 1, &mut caps), Err(Error::BadOrder));
    assert_eq!(buddy.alloc(21, 1, &mut caps), Err(Error::BadOrder));
    let whole = buddy.alloc(20, 1, &mut caps).unwrap();
    assert_eq!(buddy.alloc(17, 1, &mut caps), Err(Error::Exhausted));
    buddy.free(whole, &mut caps).unwrap();
    assert_eq!(buddy.free(whole, &mut caps), Err(Error::NotAllocated));
    let never = Block {
        region: 0,
        order: PAGE,
        index: 3,
    };
    assert_eq!(buddy.free(never, &mut caps), Err(Error::NotAllocated));
    assert_eq!(buddy.usage().free, buddy.usage().total);
}

#[test]
fn fragmentation_is_measured() {
    let r = [Region { base: 0, bits: 16 }];
    let mut caps = Caps::new(&r);
    let mut buddy = Buddy::new(&r, PAGE).unwrap();
    let pages: Vec<Block> = (0..16)
        .map(|_| buddy.alloc(PAGE, 1, &mut caps).unwrap())
        .collect();
    // Free every other page: 8 free pages, none of them adjacent buddies.
    for p in pages.iter().step_by(2) {
        buddy.free(*p, &mut caps).unwrap();
    }
    let u = buddy.usage();
    assert_eq!((u.free, u.largest_free, u.free_blocks), (8 * 4096, 4096, 8));
    assert_eq!(u.fragmentation_permille(), 875);
    assert_eq!(buddy.free_by_order().next(), Some((PAGE, 8)));
}

#[test]
fn a_dead_owners_blocks_all_come_back() {
    let r = regions();
    let mut caps = Caps::new(&r);
    let mut buddy = Buddy::new(&r, PAGE).unwrap();
    let kept = buddy.alloc(14, 1, &mut caps).unwrap();
    for order in [PAGE, 13, 16, PAGE] {
        buddy.alloc(order, 2, &mut caps).unwrap();
    }
    let bytes = buddy.free_owner(2, &mut caps).unwrap();
    assert_eq!(bytes, 4096 + 8192 + 65536 + 4096);
    assert_eq!(buddy.blocks_of(2).count(), 0);
    assert_eq!(buddy.blocks_of(1).collect::<Vec<_>>(), vec![kept]);
    buddy.free(kept, &mut caps).unwrap();
    assert_eq!(buddy.usage().free_blocks, 2);
}

#[test]
fn a_failed_split_allocates_nothing_and_merges_back() {
    let r = regions();
    for fail_at in 0..4 {
        let mut caps = Caps::new(&r);
        caps.fail_at = Some(fail_at);
        let mut buddy = Buddy::new(&r, PAGE).unwrap();
        assert_eq!(
            buddy.alloc(PAGE, 1, &mut caps),
            Err(Error::Untyped("injected failure"))
        );
        assert!(
            caps.split.is_empty(),
            "split {fail_at} failed: {:?} left split",
            caps.split
        );
        assert_eq!(buddy.usage().free_blocks, 2);
    }
}

#[test]
fn a_failed_reclaim_keeps_the_block_allocated() {
    let r = regions();
    let mut caps = Caps::new(&r);
    let mut buddy = Buddy::new(&r, PAGE).unwrap();
    let page = buddy.alloc(PAGE, 1, &mut caps).unwrap();
    caps.fail_at = Some(caps.operations);
    assert_eq!(
        buddy.free(page, &mut caps),
        Err(Error::Untyped("injected failure"))
    );
    assert_eq!(buddy.owner(page), Some(1));
    buddy.free(page, &mut caps).unwrap();
    assert_eq!(buddy.usage().free_blocks, 2);
}

/// One step of a random workload: allocate a block of an order, or free
/// the `n`-th block held (modulo how many are held).
#[derive(Clone, Debug)]
enum Op {
    Alloc(u8, Owner),
    Free(usize),
    FreeOwner(Owner),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (PAGE..=18u8, 0..4u32).prop_map(|(o, w)| Op::Alloc(o, w)),
        2 => any::<usize>().prop_map(Op::Free),
        1 => (0..4u32).prop_map(Op::FreeOwner),
    ]
}

proptest! {
    #[test]
    fn random_workloads_keep_blocks_disjoint_and_give_everything_back(
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let r = regions();
        let mut caps = Caps::new(&r);
        let mut buddy = Buddy::new(&r, PAGE).unwrap();
        let mut held: Vec<(Block, Owner)> = Vec::new();
        for op in ops {
            match op {
                Op::Alloc(order, owner) => match buddy.alloc(order, owner, &mut caps) {
                    Ok(b) => {
                        prop_assert_eq!(b.order, order);
                        prop_assert!(b.offset() + b.size() <= 1 << r[b.region].bits);
                        prop_assert!(caps.live.contains(&b) && !caps.split.contains(&b));
                        held.push((b, owner));
                    }
                    Err(e) => {
                        prop_assert_eq!(e, Error::Exhausted);
                        // Exhausted only when no free block is big enough.
                        prop_assert!(buddy.usage().largest_free < 1 << order);
                    }
                },
                Op::Free(n) if !held.is_empty() => {
                    let (b, _) = held.swap_remove(n % held.len());
                    prop_assert_eq!(buddy.free(b, &mut caps), Ok(()));
                }
                Op::Free(_) => {}
                Op::FreeOwner(owner) => {
                    let theirs: u64 = held.iter().filter(|(_, o)| *o == owner).map(|(b, _)| b.size()).sum();
                    prop_assert_eq!(buddy.free_owner(owner, &mut caps), Ok(theirs));
                    held.retain(|(_, o)| *o != owner);
                }
            }
            // Held blocks are disjoint, and the usage adds up.
            let mut spans: Vec<(u64, u64)> = held.iter().map(|(b, _)| {
                let start = buddy.address(*b);
                (start, start + b.size())
            }).collect();
            spans.sort_unstable();
            prop_assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0));
            let u = buddy.usage();
            let used: u64 = held.iter().map(|(b, _)| b.size()).sum();
            prop_assert_eq!(u.free + used, u.total);
        }
        for (b, _) in held {
            prop_assert_eq!(buddy.free(b, &mut caps), Ok(()));
        }
        prop_assert!(caps.split.is_empty());
        prop_assert_eq!(buddy.usage().free_blocks, r.len());
    }
}
