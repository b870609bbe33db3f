//! The heap scenarios: keel-rt's heap growing through the slave, and
//! failing cleanly past the activity's limit.

use alloc::vec;
use alloc::vec::Vec;
use keel_abi::bootinfo::{HEAP_END, HEAP_VADDR};
use keel_rt::memory::Memory;

use crate::check;

/// Bytes of the `Vec` that grows the heap: far more than it starts with.
const GROWTH_BYTES: usize = 384 << 10;

/// True when `p` lies in the heap's range.
fn in_heap<T>(p: *const T) -> bool {
    (HEAP_VADDR..HEAP_END).contains(&(p as u64))
}

/// [`keel_mm_client::HEAP_GROWTH`].
pub fn growth(m: &mut Memory) -> Result<(), u32> {
    let before = m.usage().map_err(|_| 60u32)?.client_pages;
    let start = keel_rt::heap_size();
    check(start < GROWTH_BYTES, 61)?;
    let words: Vec<u64> = (0..GROWTH_BYTES as u64 / 8).collect();
    let boxed = vec![0x5au8; 64 << 10].into_boxed_slice();
    check(in_heap(words.as_ptr()) && in_heap(boxed.as_ptr()), 62)?;
    let grown = keel_rt::heap_size();
    check(grown >= GROWTH_BYTES + (64 << 10), 63)?;
    let pages = m.usage().map_err(|_| 64u32)?.client_pages;
    check(pages >= before + (grown - start) as u64 / 4096, 65)?;
    check(words.iter().enumerate().all(|(i, &w)| w == i as u64), 66)?;
    check(boxed.iter().all(|&b| b == 0x5a), 67)?;
    drop(words);
    drop(boxed);
    let again: Vec<u64> = (0..GROWTH_BYTES as u64 / 8).collect();
    check(
        again[GROWTH_BYTES / 8 - 1] == GROWTH_BYTES as u64 / 8 - 1,
        68,
    )?;
    check(keel_rt::heap_size() == grown, 69)?;
    check(m.usage().map_err(|_| 64u32)?.client_pages == pages, 70)
}

/// [`keel_mm_client::HEAP_PAST_LIMIT`]: returns only when a check fails.
pub fn past_limit(m: &mut Memory) -> Result<(), u32> {
    let mut big: Vec<u8> = Vec::new();
    check(big.try_reserve_exact(1 << 20).is_err(), 81)?;
    let u = m.usage().map_err(|_| 82u32)?;
    check(u.activity_pages <= u.activity_limit, 83)?;
    let small = vec![3u8; 4096];
    check(small.iter().all(|&b| b == 3), 84)?;
    let past = vec![7u8; 1 << 20];
    check(past[0] == 7, 85)?;
    Err(86)
}
