//! keel-sys: Keel's system calls and typed capabilities for user programs, the
//! role rust-sel4's `sel4` crate plays on seL4. One function per system call;
//! invocations return `Result<_, InvocationError>` (the error with its
//! detail words), other calls `Result<_, keel_abi::Error>`. Every thread has
//! its own IPC buffer (see [`set_ipc_buffer`]).
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod arch;
pub mod bare;
pub mod cap;
pub mod debug;
mod error;
pub mod invocation;
pub mod ipc;
pub mod ipc_buffer;
pub mod irq;
pub mod sched;
pub mod tcb;
pub mod vspace;

pub use cap::{CPtr, Cap};
pub use error::InvocationError;
pub use invocation::{invoke, AbsoluteCPtr};
pub use ipc_buffer::{give_ipc_buffer, set_ipc_buffer};
pub use keel_abi::{BootInfo, CapType, Error, Syscall};

/// Makes system call `number` with raw argument words and returns the raw
/// result words (error word first). For tests and for calls keel-sys does not
/// wrap yet; prefer the typed functions.
pub fn raw_syscall(number: u64, args: [u64; 6]) -> [u64; 6] {
    arch::syscall(number, args)
}

/// Makes a system call and turns its error word into a `Result`.
fn call(syscall: Syscall, args: [u64; 6]) -> Result<[u64; 2], Error> {
    let [err, a, b, ..] = arch::syscall(syscall as u64, args);
    Error::check(err).map(|()| [a, b])
}

/// Gives up the rest of the current refill (MCS; for a round-robin context,
/// the rest of its timeslice): the thread goes to the back of its priority's
/// queue, or waits in the release queue for its next refill.
///
/// # Errors
/// None: the kernel answers every Yield with success.
pub fn r#yield() -> Result<(), Error> {
    call(Syscall::Yield, [0; 6]).map(|_| ())
}
