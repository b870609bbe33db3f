//! The memory managers' logic, apart from the system calls so that it runs
//! under `cargo test` (as the kernel keeps its logic in `kernel/core`).
//!
//! A slave owns a partition of untyped memory and serves pages from it with
//! a [`buddy`] allocator whose blocks are untyped caps: a split retypes a
//! block into its two halves, a merge revokes the parent once both halves
//! are free, so freed memory is reusable and the partition's fragmentation
//! is measurable; a client may also hold blocks as untyped caps of its
//! own ([`grants`]). The master picks each new client's slave by one of the
//! [`routing`] policies of the MMS paper (watermarks, or round-robin to
//! compare).

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod areas;
pub mod buddy;
pub mod grants;
pub mod routing;
