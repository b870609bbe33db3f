//! keel-protocols: what Keel's servers and their clients agree on. The badge
//! layout ([`badge`]: which bits name the client, the activity charged and
//! the rights), the message layout and its checked decoder ([`wire`]), what
//! travels in registers alone ([`registers`]), and [`protocol!`], which
//! turns one declaration per protocol into a typed client stub, a server
//! trait and dispatch functions ([`declare`]).
//!
//! The pure part (everything but `sys`) makes no system calls and runs
//! under `cargo test`: stubs send through a [`Transport`], servers receive
//! through a [`ServerTransport`]; [`loopback`] connects a stub straight to a
//! dispatch function in memory, and `sys` (feature `sys`) carries messages
//! through keel-sys endpoints. Server state is bounded ([`table`]): a full
//! table is an error reply, never growth or a panic. Protocols live in their
//! own modules ([`console`], [`init`], [`memory`], [`mm_master`], [`process`],
//! [`relocation`], [`scheduler`], [`serial`], [`timer`]); [`top`] is the
//! activity table of `top`; [`accounting`] holds the consumption records
//! every server keeps per activity, and [`recorded`] keeps them for any
//! server's service.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod accounting;
pub mod badge;
pub mod cap;
pub mod client;
pub mod console;
pub mod declare;
pub mod error;
pub mod init;
pub mod loopback;
pub mod memory;
pub mod mm_master;
pub mod process;
pub mod recorded;
pub mod registers;
pub mod relocation;
pub mod scheduler;
pub mod serial;
pub mod server;
#[cfg(feature = "sys")]
pub mod sys;
pub mod table;
pub mod timer;
pub mod top;
pub mod wire;

pub use badge::{ActivityId, ClientBadge, ClientId, Rights, SignalBadge, SignalSet};
pub use client::Transport;
pub use error::{ProtocolError, RpcError};
pub use server::{serve, Caller, ServeLoop, ServerTransport, Service};

/// Bounded text, the usual type of a `data` argument: at most `N` bytes.
pub type Text<const N: usize> = heapless::String<N>;
/// A bounded list, for `data` arguments: at most `N` items.
pub type List<T, const N: usize> = heapless::Vec<T, N>;

/// Every protocol's id: requests carry it in their label, so no two
/// protocols may share one (checked when the crate is built).
pub const PROTOCOL_IDS: [(u16, &str); 10] = [
    (console::PROTOCOL, "console"),
    (init::PROTOCOL, "init"),
    (scheduler::PROTOCOL, "scheduler"),
    (timer::PROTOCOL, "timer"),
    (serial::PROTOCOL, "serial"),
    (accounting::PROTOCOL, "accounting"),
    (memory::PROTOCOL, "memory"),
    (process::PROTOCOL, "process"),
    (mm_master::PROTOCOL, "mm-master"),
    (relocation::PROTOCOL, "relocation"),
];

const _: () = {
    let mut i = 0;
    while i < PROTOCOL_IDS.len() {
        let mut j = i + 1;
        while j < PROTOCOL_IDS.len() {
            assert!(
                PROTOCOL_IDS[i].0 != PROTOCOL_IDS[j].0,
                "two protocols share an id"
            );
            j += 1;
        }
        i += 1;
    }
};
