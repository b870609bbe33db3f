//! keel-shell-core: the shell's logic, host-testable. [`parse`] turns a
//! line into a command; [`exec`] runs it through the client stubs of the
//! process, scheduler and memory protocols and writes what it found as
//! text. The shell program (keel-shell) feeds it lines from the serial
//! server or a script; the on-target tests feed it lines and read what it
//! wrote.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod exec;
pub mod parse;

pub use exec::{Clock, Flow, Shell};
pub use parse::{parse, Command, ParseError, PidRef};

/// What the shell runs when its starter asks for a script (a nonzero
/// ProcessInfo `arg`) rather than reading the serial server: script
/// `arg - 1`, one command per line.
pub const SCRIPTS: &[&str] = &[
    // 1: the shell's own round: start, list, kill against the deadline,
    // start and wait.
    "ps\nrun spinner\nps\nkill $!\nrun hello\nwait $!\ntop\nfree\nexit\n",
];

#[cfg(test)]
mod tests;
