//! The `Exercise` protocol the host tests share: every kind of argument and
//! reply (fixed, data, cap), rights, a bounded table, and an error of its
//! own; a server for it; and the helpers that connect a client to it.
#![allow(dead_code)]

use keel_abi::CapType;
use keel_protocols::cap::{Endpoint, Frame, Grant, Granted, Notification, ReceivedCap};
use keel_protocols::table::ClientTable;
use keel_protocols::wire::{Incoming, OutMessage};
use keel_protocols::{protocol, ActivityId, Caller, ClientBadge, ClientId, List, Rights, Text};
use serde::{Deserialize, Serialize};
use zerocopy::{Immutable, IntoBytes, KnownLayout, TryFromBytes};

/// A kind of span: a fixed argument that not every bit pattern is.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, IntoBytes, TryFromBytes, KnownLayout, Immutable)]
pub enum Kind {
    Read = 1,
    Write = 2,
}

/// A fixed-size struct argument (16 bytes, two words).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, IntoBytes, TryFromBytes, KnownLayout, Immutable)]
pub struct Span {
    pub start: u64,
    pub len: u32,
    pub flags: u16,
    pub kind: Kind,
}

/// A variable-length struct argument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub name: Text<8>,
    pub values: List<u16, 4>,
}

/// Entries the server keeps: one per client, at most this many clients.
pub const ENTRY_CLIENTS: usize = 2;

protocol! {
    /// A client of the test protocol.
    protocol Exercise {
        id: 42,
        version: 3,
        client: ExerciseClient,
        server: ExerciseServer,
        error: ExerciseError {
            /// The server was asked to refuse.
            Refused = 7,
        },
        ops: {
            /// a + b, or `Refused` when `refuse`.
            1 => add(fixed a: u64, fixed b: u32, fixed refuse: bool) -> fixed u64;
            /// The span with its length doubled.
            2 => span(fixed s: Span) -> fixed Span;
            /// Stores the caller's entry; returns how many clients have one.
            3 => store(data e: Entry) -> fixed u32;
            /// `n` copies of `a`, then the sum of `b`, and the notification's slot.
            4 => mixed(fixed n: u8, data a: Text<8>, data b: List<u16, 4>, cap c: Notification)
                -> data Text<48>;
            /// Hands back the frame it was given, or frame 200 + badge when the endpoint cap was unwrapped.
            5 => swap(cap ep: Endpoint, cap frame: Frame) -> cap Frame;
            /// Forgets every entry.
            6 => reset() requires ADMIN -> fixed ();
            /// [client, badge activity, activity charged, relayed].
            7 => whoami() -> fixed [u16; 4];
            /// Takes a whole message of fixed words.
            8 => big(fixed w: [u64; 120]) -> fixed u64;
        }
    }
}

/// The test server.
#[derive(Default)]
pub struct TestServer {
    pub entries: ClientTable<Entry, ENTRY_CLIENTS>,
}

impl ExerciseServer for TestServer {
    fn add(&mut self, _: &Caller, a: u64, b: u32, refuse: bool) -> Result<u64, ExerciseError> {
        if refuse {
            return Err(ExerciseError::Refused);
        }
        Ok(a.wrapping_add(u64::from(b)))
    }

    fn span(&mut self, _: &Caller, s: Span) -> Result<Span, ExerciseError> {
        Ok(Span {
            len: s.len * 2,
            ..s
        })
    }

    fn store(&mut self, caller: &Caller, e: Entry) -> Result<u32, ExerciseError> {
        self.entries.insert(caller.badge.client(), e)?;
        Ok(self.entries.len() as u32)
    }

    fn mixed(
        &mut self,
        _: &Caller,
        n: u8,
        a: Text<8>,
        b: List<u16, 4>,
        c: Granted<Notification>,
    ) -> Result<Text<48>, ExerciseError> {
        use core::fmt::Write;
        let mut out = Text::new();
        let slot = match c.received() {
            ReceivedCap::Transferred { cptr, .. } => cptr,
            ReceivedCap::Unwrapped { badge } => badge,
        };
        for _ in 0..n {
            out.push_str(&a)
                .map_err(|_| keel_protocols::RpcError::Full)?;
        }
        let sum: u32 = b.iter().map(|&v| u32::from(v)).sum();
        write!(out, ":{sum}@{slot}").map_err(|_| keel_protocols::RpcError::Full)?;
        Ok(out)
    }

    fn swap(
        &mut self,
        _: &Caller,
        ep: Granted<Endpoint>,
        frame: Granted<Frame>,
    ) -> Result<Grant<Frame>, ExerciseError> {
        let at = match (ep.received(), frame.received()) {
            (ReceivedCap::Unwrapped { badge }, _) => 200 + badge,
            (_, ReceivedCap::Transferred { cptr, .. }) => cptr,
            (_, ReceivedCap::Unwrapped { badge }) => badge,
        };
        Ok(Grant::new(at))
    }

    fn reset(&mut self, _: &Caller) -> Result<(), ExerciseError> {
        self.entries = ClientTable::new();
        Ok(())
    }

    fn whoami(&mut self, caller: &Caller) -> Result<[u16; 4], ExerciseError> {
        Ok([
            caller.badge.client().get(),
            caller.badge.activity().0,
            caller.activity.0,
            u16::from(caller.relayed()),
        ])
    }

    fn big(&mut self, _: &Caller, w: [u64; 120]) -> Result<u64, ExerciseError> {
        Ok(w.iter().fold(0, |a, &b| a.wrapping_add(b)))
    }
}

/// A client badge.
pub fn badge(client: u16, activity: u16, rights: Rights) -> u64 {
    ClientBadge::new(
        ClientId::new(client).expect("nonzero"),
        ActivityId(activity),
        rights,
    )
    .bits()
}

/// What the test "kernel" finds at a CPtr: 100-199 notifications, 200-299
/// frames, 300-399 endpoints, 400-499 badged caps to the server's own
/// endpoint (unwrapped to badge cptr - 400); nothing elsewhere.
pub fn resolve(cptr: u64) -> Option<ReceivedCap> {
    let kind = match cptr {
        100..=199 => CapType::Notification,
        200..=299 => CapType::Frame,
        300..=399 => CapType::Endpoint,
        400..=499 => return Some(ReceivedCap::Unwrapped { badge: cptr - 400 }),
        _ => return None,
    };
    Some(ReceivedCap::Transferred { cptr, kind })
}

/// A request as a server would receive it.
pub fn incoming(badge: u64, label: u64, words: &[u64], caps: &[ReceivedCap]) -> Incoming {
    let mut request = Incoming {
        badge,
        ..Incoming::default()
    };
    request.message.label = label;
    request.message.length = words.len();
    request.message.words[..words.len()].copy_from_slice(words);
    request.message.caps = caps.iter().copied().collect();
    request
}

/// Answers `request` as a receive loop does: from its registers when
/// `dispatch_registers` can, else read whole by `dispatch`. Returns whether
/// it was answered from the registers.
pub fn answer_as_a_loop(
    server: &mut TestServer,
    request: &Incoming,
    reply: &mut OutMessage,
) -> bool {
    match dispatch_registers(server, &request.arrival(), |past| request.read_past(past)) {
        Some(short) => {
            *reply = short.into();
            true
        }
        None => {
            dispatch(server, request, reply);
            false
        }
    }
}

/// Answers `request` as a receive loop does, with a fresh test server,
/// and returns the reply.
pub fn answer(request: &Incoming) -> OutMessage {
    let mut server = TestServer::default();
    let mut reply = OutMessage::new();
    answer_as_a_loop(&mut server, request, &mut reply);
    reply
}
