//! The console server's logic, apart from the system calls so that it runs
//! under `cargo test` (as the kernel keeps its logic in `kernel/core`): the
//! program, `keel-console`, puts it on its endpoint with its Debug cap as
//! the [`Sink`].
//!
//! [`Console`] serves the Console protocol (`keel_protocols::console`):
//! each line is written as `[tag] text` and a newline in ONE call of the
//! sink, so lines of different clients never interleave (the server is
//! one thread and answers one request at a time). A client's tag is what
//! it last set, kept per client badge in a table of `N` entries; a client
//! without one is shown by its client number (`[#3]`). A full table is an
//! `Rpc(Full)` reply, and every malformed request gets the error reply the
//! generated dispatch gives it; nothing a client sends makes the server
//! panic or grow.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use core::fmt::Write as _;

use keel_protocols::console::{
    valid_line, valid_tag, ConsoleError, ConsoleServer, Line, Tag, LINE_MAX, TAG_MAX,
};
use keel_protocols::table::ClientTable;
use keel_protocols::{Caller, RpcError};

/// Most bytes of one written line: brackets, tag, space, text, newline.
pub const OUTPUT_MAX: usize = TAG_MAX + LINE_MAX + 4;

/// Where the console writes: the kernel console on target, memory in tests.
pub trait Sink {
    /// Writes `text` (one whole line, with its newline) at once.
    ///
    /// # Errors
    /// The error the client's request gets when the text could not be
    /// written (on target, the kernel's refusal).
    fn write(&mut self, text: &str) -> Result<(), RpcError>;
}

/// The console server: its sink and the tags of at most `N` clients.
pub struct Console<S, const N: usize> {
    sink: S,
    tags: ClientTable<Tag, N>,
    output: heapless::String<OUTPUT_MAX>,
}

impl<S: Sink, const N: usize> Console<S, N> {
    /// A console writing to `sink`, with no tags yet.
    pub const fn new(sink: S) -> Self {
        Console {
            sink,
            tags: ClientTable::new(),
            output: heapless::String::new(),
        }
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Clients with a tag.
    pub fn tagged(&self) -> usize {
        self.tags.len()
    }
}

impl<S: Sink, const N: usize> ConsoleServer for Console<S, N> {
    fn write_line(&mut self, caller: &Caller, text: Line) -> Result<(), ConsoleError> {
        if !valid_line(&text) {
            return Err(ConsoleError::ControlCharacter);
        }
        let client = caller.badge.client();
        self.output.clear();
        // OUTPUT_MAX holds the longest tag and line with their decoration.
        let written = match self.tags.get(client) {
            Some(tag) => writeln!(self.output, "[{tag}] {text}"),
            None => writeln!(self.output, "[#{}] {text}", client.get()),
        };
        written.map_err(|_| RpcError::TooLong)?;
        self.sink.write(&self.output)?;
        Ok(())
    }

    fn flush(&mut self, _caller: &Caller) -> Result<(), ConsoleError> {
        // Every line is written before its request is answered: nothing
        // is pending.
        Ok(())
    }

    fn set_tag(&mut self, caller: &Caller, tag: Tag) -> Result<(), ConsoleError> {
        if !valid_tag(&tag) {
            return Err(ConsoleError::BadTag);
        }
        self.tags.insert(caller.badge.client(), tag)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
