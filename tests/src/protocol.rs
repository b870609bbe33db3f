//! What the driver (in the root task) and a test process agree on: the test
//! process's CSpace layout, where it finds which test to run, and how it
//! reports. Both halves are in this crate, so they cannot drift apart.
//!
//! The test process's CNode has `2^`[`CNODE_RADIX`] slots; CPtrs are slot
//! numbers, and the root task's initial-cap slots mean the same thing:
//!
//! | slot | holds |
//! |------|-------|
//! | 1, 2, 3 | its TCB, CNode and VSpace (`InitCap` numbering) |
//! | 7 | its IPC buffer's frame |
//! | 8 | SchedControl (`InitCap::SchedControl`) |
//! | 9 | the root task's ASID pool (`InitCap::InitThreadAsidPool`) |
//! | 10 | its own scheduling context (`InitCap::InitThreadSchedContext`) |
//! | [`SLOT_DEBUG`] (11) | a copy of the root task's Debug cap (`InitCap::Debug`), unless the test is `NoDebug` |
//! | [`SLOT_REPORT`] | the driver's endpoint, badged [`REPORT_BADGE`], write only |
//! | [`FIRST_UNTYPED`].. | its untypeds, one per entry of [`UNTYPED_BITS`] |
//! | [`FIRST_LOADER`].. | keel-loader's frames and paging structures |
//! | [`EMPTY_START`].. | empty, for the test |
//!
//! Its BootInfo page (at `BOOTINFO_VADDR`, read-only) describes exactly this,
//! and the page's last word, at [`TEST_INDEX_OFFSET`], is the index in
//! [`crate::cases::TESTS`] of the test to run. It reports with one Send on
//! [`SLOT_REPORT`]: label [`LABEL_PASS`], or [`LABEL_FAIL`] with the reason
//! as bytes (see [`pack_reason`]); a fault of its thread reaches the driver
//! on the same endpoint badged [`FAULT_BADGE`].

use alloc::string::String;
use alloc::vec::Vec;

/// log2 of the test process's CNode size.
pub const CNODE_RADIX: u64 = 12;
/// The first slot of caps keel-loader gives (SchedControl, then the ASID pool).
pub const FIRST_GIVEN: u64 = keel_abi::InitCap::SchedControl as u64;
/// Where keel-loader puts the test process's own scheduling context.
pub const SLOT_SCHED_CONTEXT: u64 = keel_abi::InitCap::InitThreadSchedContext as u64;
/// The Debug cap (the driver copies it once the process is built).
pub const SLOT_DEBUG: u64 = keel_abi::InitCap::Debug as u64;
/// The report endpoint (the driver mints it once the process is built).
pub const SLOT_REPORT: u64 = keel_abi::cap::FIRST_FREE_INIT_SLOT;
/// The first untyped.
pub const FIRST_UNTYPED: u64 = 16;
/// The first of keel-loader's slots.
pub const FIRST_LOADER: u64 = 64;
/// The first empty slot.
pub const EMPTY_START: u64 = 1024;
/// Where in the BootInfo page the test index is.
pub const TEST_INDEX_OFFSET: usize = keel_abi::PAGE_SIZE - 8;
/// Sizes (log2) of the test process's untypeds, largest first: enough that
/// every test finds as many distinct untypeds of the sizes it asks for as it
/// found among the root task's.
pub const UNTYPED_BITS: &[u8] = &[
    23, 21, 17, 17, 16, 16, 14, 14, 14, 14, 13, 13, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
    12, 12, 12, 12,
];
/// log2 of the untyped keel-loader builds the process from.
pub const PROCESS_BITS: u8 = 22;
/// log2 of the untyped everything of one test comes from.
pub const TEST_BITS: u8 = 24;

/// Badge of the report endpoint cap.
pub const REPORT_BADGE: u64 = 1;
/// Badge of the fault endpoint cap.
pub const FAULT_BADGE: u64 = 2;
/// Report label: the test passed.
pub const LABEL_PASS: u64 = 0;
/// Report label: the test failed; the message carries the reason.
pub const LABEL_FAIL: u64 = 1;
/// Most message words a report uses (the IPC maximum).
pub const MAX_WORDS: usize = 120;

/// The reason as message words: the byte length, then the bytes, eight to a
/// word, little-endian; cut to fit [`MAX_WORDS`].
pub fn pack_reason(reason: &str) -> Vec<u64> {
    let max = (MAX_WORDS - 1) * 8;
    let mut end = reason.len().min(max);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let bytes = &reason.as_bytes()[..end];
    let mut words = Vec::with_capacity(1 + end.div_ceil(8));
    words.push(end as u64);
    for chunk in bytes.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        words.push(u64::from_le_bytes(w));
    }
    words
}

/// The reason [`pack_reason`] packed (lossy on bad UTF-8, empty on a bad length).
pub fn unpack_reason(words: &[u64]) -> String {
    let Some((&len, rest)) = words.split_first() else {
        return String::new();
    };
    let bytes: Vec<u8> = rest.iter().flat_map(|w| w.to_le_bytes()).collect();
    let len = (len as usize).min(bytes.len());
    String::from_utf8_lossy(&bytes[..len]).into_owned()
}
