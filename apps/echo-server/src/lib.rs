//! The Echo protocol and the modes of `keel-echo-server`, shared with the
//! program that starts it (`bench servers`, in the root task's place). The
//! server is a process init starts (keel-init's `System`), a keel-rt
//! program: it finds its endpoint, Reply object and cap to init in its
//! ProcessInfo page, and its mode in the page's argument.
//!
//! Two modes answer the same requests with the same replies, so their round
//! trips compare: [`MODE_STUB`] serves [`Echo`](EchoServer) through
//! keel-protocols' receive loop and generated dispatch, [`MODE_RAW`] answers
//! with ReplyRecv directly: a request of [`RAW_WORDS`] words gets one word
//! back, their [`checksum`]; any other gets an empty reply. Both announce
//! themselves ready to init with their first receive.
#![no_std]

use keel_protocols::protocol;

/// Argument: answer requests with raw ReplyRecv.
pub const MODE_RAW: u64 = 0;
/// Argument: serve [`Echo`](EchoServer) through keel-protocols.
pub const MODE_STUB: u64 = 1;

/// The words of the raw mode's long request.
pub const RAW_WORDS: usize = 8;
/// An address the server never maps: `crash` reads it.
pub const UNMAPPED: u64 = 0x0000_4000_0000_0000;

/// What a long request is answered with: its words folded by rotate and
/// exclusive or, which (unlike a sum) the compiler does not turn into
/// SIMD code, so answering costs no lazy FP/SIMD switch on aarch64.
#[inline]
pub fn checksum(words: &[u64; RAW_WORDS]) -> u64 {
    words.iter().fold(0, |s, &w| s.rotate_left(7) ^ w)
}

protocol! {
    /// A client of the echo server.
    protocol Echo {
        id: 0xbe,
        version: 1,
        client: EchoClient,
        server: EchoServer,
        error: EchoError {},
        ops: {
            /// Answers with nothing: what the protocol layer itself costs.
            1 => empty() -> fixed ();
            /// Answers with the [`checksum`] of eight words (eight
            /// arguments, not one array: each is decoded as a word, where an
            /// array is copied as a block, which on aarch64 goes through the
            /// FP/SIMD registers).
            2 => words8(
                fixed w0: u64, fixed w1: u64, fixed w2: u64, fixed w3: u64,
                fixed w4: u64, fixed w5: u64, fixed w6: u64, fixed w7: u64,
            ) -> fixed u64;
            /// Reads [`UNMAPPED`]: the server faults to init, its
            /// supervisor, which answers the request `ServerFailed` and
            /// restarts it.
            3 => crash() -> fixed ();
        }
    }
}
