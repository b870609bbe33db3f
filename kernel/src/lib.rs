//! keel-kernel: the Keel microkernel.
//!
//! Design principles, in the order they win when they disagree:
//! 1. The kernel enforces capabilities and holds no policy; user-level servers decide.
//! 2. The kernel allocates nothing after boot: every object comes from Untyped memory.
//! 3. The kernel never panics because of what user space did: every user value is
//!    checked, every user pointer is a claim until translated through its VSpace.
//! 4. No kernel entry runs unbounded work.
//! 5. Architecture code lives only under `arch/`; the rest is the same on every target.
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod arch;
pub mod boot;
pub mod console;
pub mod fault;
pub mod ipc;
pub mod kernel_cell;
pub mod object;
pub mod preemption;
pub mod sched;
pub mod syscall;
pub mod user_mem;

mod panic;
