//! keel-kernel-core: the parts of the Keel kernel that do not touch hardware.
//!
//! Everything here builds for the host and is tested there with `cargo test`:
//! physical-memory region arithmetic and the boot allocator, the split of free
//! memory into Untyped blocks, ELF program-header parsing for the root task, and
//! the two-word capability encoding. The bare-metal kernel (`keel-kernel`) calls
//! into this crate; this crate never calls the kernel.
#![no_std]
#![forbid(unsafe_code)]

pub mod cap;
pub mod elf;
pub mod memory;
