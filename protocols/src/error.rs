//! [`RpcError`]: what the protocol layer itself reports, whatever the
//! protocol: malformed requests (each kind named, with the detail a client
//! needs to see what it got wrong), refused rights, full server tables, and
//! failures of the transport. Every protocol's own error enum wraps it, so a
//! stub returns one error type. This module also fixes how an error travels
//! in a reply: three words, a kind and two details.

use keel_abi::CapType;

use crate::badge::{BadgeError, Rights};

/// An error of the protocol layer, from the server's decoder or the client's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RpcError {
    /// The label names a protocol the server does not speak.
    WrongProtocol {
        /// The server's protocol.
        expected: u16,
        /// The request's.
        got: u16,
    },
    /// The client was built against another version of the protocol.
    VersionMismatch {
        /// The server's version.
        server: u8,
        /// The client's.
        client: u8,
    },
    /// The protocol has no operation with this number.
    UnknownOperation {
        /// The number asked for.
        op: u8,
    },
    /// The message's word count does not fit the operation's layout.
    WrongLength {
        /// Words received.
        words: u8,
    },
    /// An argument (counted from 0, in declaration order) did not decode.
    Undecodable {
        /// Which.
        arg: u8,
    },
    /// Bytes were left over after the last variable-length argument.
    TrailingBytes,
    /// Arguments or reply do not fit in one message.
    TooLong,
    /// A capability the operation takes was not transferred.
    MissingCap {
        /// Its index among the operation's caps.
        index: u8,
    },
    /// A transferred capability is of another type than the operation takes.
    WrongCapType {
        /// Its index among the operation's caps.
        index: u8,
        /// The type received.
        got: CapType,
    },
    /// More capabilities arrived than the operation takes.
    UnexpectedCaps {
        /// How many arrived.
        count: u8,
    },
    /// The badge names no client, or is malformed.
    BadBadge(BadgeError),
    /// The caller's badge lacks a right the operation needs.
    NoRight {
        /// The rights needed.
        needed: Rights,
    },
    /// A fixed-capacity table or queue of the server is full.
    Full,
    /// The kernel refused the IPC itself.
    Kernel(keel_abi::Error),
    /// The reply did not decode (a server of another build, or a broken one).
    BadReply,
    /// The server failed (faulted or exited) while the request was in
    /// flight; its supervisor answered for it. The next request reaches the
    /// server's new instance, if the description restarts it.
    ServerFailed,
}

fn badge_error_code(e: BadgeError) -> u64 {
    match e {
        BadgeError::NoClient => 1,
        BadgeError::Reserved => 2,
        BadgeError::WrongKind => 3,
        BadgeError::NoSuchEvent => 4,
    }
}

fn badge_error_from(code: u64) -> Option<BadgeError> {
    Some(match code {
        1 => BadgeError::NoClient,
        2 => BadgeError::Reserved,
        3 => BadgeError::WrongKind,
        4 => BadgeError::NoSuchEvent,
        _ => return None,
    })
}

impl RpcError {
    /// The three reply words: kind, then two details.
    pub fn to_words(self) -> [u64; 3] {
        use RpcError::*;
        match self {
            WrongProtocol { expected, got } => [1, expected.into(), got.into()],
            VersionMismatch { server, client } => [2, server.into(), client.into()],
            UnknownOperation { op } => [3, op.into(), 0],
            WrongLength { words } => [4, words.into(), 0],
            Undecodable { arg } => [5, arg.into(), 0],
            TrailingBytes => [6, 0, 0],
            TooLong => [7, 0, 0],
            MissingCap { index } => [8, index.into(), 0],
            WrongCapType { index, got } => [9, index.into(), got as u64],
            UnexpectedCaps { count } => [10, count.into(), 0],
            BadBadge(e) => [11, badge_error_code(e), 0],
            NoRight { needed } => [12, needed.bits().into(), 0],
            Full => [13, 0, 0],
            Kernel(e) => [14, e as u64, 0],
            BadReply => [15, 0, 0],
            ServerFailed => [16, 0, 0],
        }
    }

    /// Reads the three reply words back; `None` for a kind or detail this
    /// build does not know.
    pub fn from_words([kind, a, b]: [u64; 3]) -> Option<RpcError> {
        use RpcError::*;
        let byte = |w: u64| u8::try_from(w).ok();
        let half = |w: u64| u16::try_from(w).ok();
        Some(match kind {
            1 => WrongProtocol {
                expected: half(a)?,
                got: half(b)?,
            },
            2 => VersionMismatch {
                server: byte(a)?,
                client: byte(b)?,
            },
            3 => UnknownOperation { op: byte(a)? },
            4 => WrongLength { words: byte(a)? },
            5 => Undecodable { arg: byte(a)? },
            6 => TrailingBytes,
            7 => TooLong,
            8 => MissingCap { index: byte(a)? },
            9 => WrongCapType {
                index: byte(a)?,
                got: CapType::try_from(b).ok()?,
            },
            10 => UnexpectedCaps { count: byte(a)? },
            11 => BadBadge(badge_error_from(a)?),
            12 => NoRight {
                needed: Rights::from_bits(byte(a)?),
            },
            13 => Full,
            14 => Kernel(keel_abi::Error::try_from(a).ok()?),
            15 => BadReply,
            16 => ServerFailed,
            _ => return None,
        })
    }
}

impl core::fmt::Display for RpcError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self, f)
    }
}

/// A protocol's error enum, as the `protocol!` macro declares it: the
/// protocol's own errors, each with a nonzero code, and one variant that
/// carries an [`RpcError`].
pub trait ProtocolError: From<RpcError> + Copy {
    /// The code of one of the protocol's own errors; `None` for an [`RpcError`].
    fn code(self) -> Option<u64>;
    /// The [`RpcError`] this carries, if it is one.
    fn rpc(self) -> Option<RpcError>;
    /// The protocol's own error with this code, if there is one.
    fn from_code(code: u64) -> Option<Self>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_words() {
        let all = [
            RpcError::WrongProtocol {
                expected: 1,
                got: 0xffff,
            },
            RpcError::VersionMismatch {
                server: 2,
                client: 1,
            },
            RpcError::UnknownOperation { op: 255 },
            RpcError::WrongLength { words: 120 },
            RpcError::Undecodable { arg: 3 },
            RpcError::TrailingBytes,
            RpcError::TooLong,
            RpcError::MissingCap { index: 2 },
            RpcError::WrongCapType {
                index: 1,
                got: CapType::Frame,
            },
            RpcError::UnexpectedCaps { count: 3 },
            RpcError::BadBadge(BadgeError::Reserved),
            RpcError::NoRight {
                needed: Rights::ADMIN,
            },
            RpcError::Full,
            RpcError::Kernel(keel_abi::Error::InvalidCapability),
            RpcError::BadReply,
            RpcError::ServerFailed,
        ];
        for e in all {
            assert_eq!(RpcError::from_words(e.to_words()), Some(e));
        }
    }

    #[test]
    fn unknown_words_are_refused() {
        assert_eq!(RpcError::from_words([0, 0, 0]), None);
        assert_eq!(RpcError::from_words([99, 0, 0]), None);
        assert_eq!(RpcError::from_words([3, 256, 0]), None);
        assert_eq!(RpcError::from_words([9, 0, 999]), None);
        assert_eq!(RpcError::from_words([11, 0, 0]), None);
    }
}
