//! What a starter of `keel-hello` may ask of it through its ProcessInfo
//! page's `arg` (the program itself is `main.rs`): nothing (0), or to
//! panic after its lines, so that tests see a process's panic reach init.
#![no_std]

/// `arg`: print the lines, then panic with [`PANIC_MESSAGE`].
pub const ARG_PANIC: u64 = 1;
/// What it panics with.
pub const PANIC_MESSAGE: &str = "hello was asked to panic";
