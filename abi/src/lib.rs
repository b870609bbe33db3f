//! keel-abi: everything the Keel kernel and user space must agree on, defined once.
//!
//! System-call numbers, error codes, capability types, the BootInfo page and the
//! boot archive layout live here as plain `#[repr(C)]`/`#[repr(uN)]` types with
//! zerocopy derives. Kernel-internal representations (packed cap words, derivation
//! links, run queues) never appear here.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "manifest")]
extern crate alloc;

pub mod archive;
pub mod bootinfo;
pub mod cap;
pub mod elf;
pub mod error;
pub mod fault;
pub mod invocation;
#[cfg(feature = "manifest")]
pub mod manifest;
mod numbered;
pub mod object;
#[cfg(feature = "manifest")]
pub mod process;
pub mod registers;
pub mod sched;
pub mod syscall;
pub mod vspace;

pub use bootinfo::{Arch, BootInfo};
pub use cap::{CapType, InitCap};
pub use error::Error;
pub use invocation::{CapRights, IpcBuffer, Label, LookupFailure, MessageInfo};
pub use object::ObjectType;
pub use syscall::Syscall;

/// Size of the smallest page on every supported architecture.
pub const PAGE_SIZE: usize = 4096;
