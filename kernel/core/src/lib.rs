//! keel-kernel-core: the parts of the Keel kernel that do not touch hardware.
//!
//! Everything here builds for the host and is tested there with `cargo test`:
//! physical-memory region arithmetic and the boot allocator, the split of free
//! memory into Untyped blocks, and the capability core: the two-word cap
//! encoding, CNode slots and the derivation tree, CSpace lookup, the CNode
//! operations, delete and revoke with Zombies and preemption, Untyped retype,
//! thread queues, the endpoint, notification and Reply state machines, and
//! the sporadic-server refill arithmetic of MCS scheduling contexts. Object
//! memory is reached only through [`object_memory::ObjectMemory`]. The
//! bare-metal kernel (`keel-kernel`) calls into this crate; this crate never
//! calls the kernel except through the traits it implements: [`ObjectMemory`],
//! [`cspace::ObjectHooks`], [`cspace::Preempt`], [`thread_queue::QueueLinks`],
//! [`endpoint::EndpointThreads`], [`notification::NotificationThreads`],
//! [`reply::ReplyThreads`] and [`reply::Donation`].
#![no_std]
#![forbid(unsafe_code)]

#[cfg(any(test, feature = "test-memory"))]
extern crate alloc;

pub mod cap;
pub mod cspace;
pub mod endpoint;
pub mod error;
pub mod memory;
#[cfg(test)]
mod model_test;
pub mod notification;
pub mod object_memory;
pub mod refill;
pub mod reply;
#[cfg(test)]
mod test_threads;
#[cfg(test)]
mod testutil;
pub mod thread_queue;
pub mod untyped;

pub use cap::Cap;
pub use cspace::{ObjectHooks, Preempt, Progress};
pub use error::SyscallError;
pub use object_memory::ObjectMemory;
