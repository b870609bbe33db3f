//! The badge layout, defined once for every Keel server: what the 64-bit
//! badge of an endpoint cap says about the client that holds it, and what the
//! badge of a notification cap says about the event it signals. This module
//! only packs and unpacks words; which badges are minted for whom is init's
//! business, and what a server does with them is the server's.
//!
//! ```text
//! endpoint badge (bit 63 clear):
//!   63  62........40  39....32  31.......16  15........0
//!   0   reserved (0)  rights    activity     client (>0)
//!
//! notification badge (bit 63 set):
//!   63  62....................................0
//!   1   one bit per event source (exactly one in a minted badge)
//! ```
//!
//! A notification ORs the badges of every Signal into one word, so packed
//! fields would merge into nonsense (client 1 | client 2 reads as client 3).
//! Notification badges therefore carry no fields: each source is one bit, and
//! the OR of any signals is exactly the set of sources. Bit 63 is set in every
//! notification badge and in no endpoint badge, so a server whose thread has
//! a bound notification tells a signal delivery (bit 63 set, whatever was
//! ORed) from a client's message (bit 63 clear) by the word alone.

use core::fmt;

const CLIENT_SHIFT: u32 = 0;
const ACTIVITY_SHIFT: u32 = 16;
const RIGHTS_SHIFT: u32 = 32;
const FIELD_MASK: u64 = 0xffff;
const RIGHTS_MASK: u64 = 0xff;
/// Set in every notification badge, clear in every endpoint badge.
pub const SIGNAL_FLAG: u64 = 1 << 63;
/// Bits of an endpoint badge that must be zero.
const RESERVED: u64 = !(SIGNAL_FLAG | (RIGHTS_MASK << RIGHTS_SHIFT) | 0xffff_ffff);
/// Event sources one notification can tell apart.
pub const MAX_EVENTS: u8 = 63;

/// Why a word is not a badge of the kind asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadgeError {
    /// Client 0 names no client: an unbadged cap, or a badge init never minted.
    NoClient,
    /// A reserved bit is set.
    Reserved,
    /// An endpoint badge was expected and the signal flag is set (or the reverse).
    WrongKind,
    /// An event number past [`MAX_EVENTS`].
    NoSuchEvent,
}

/// A client (connection): one per endpoint cap init mints. Never 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(u16);

impl ClientId {
    /// The highest client number.
    pub const MAX: ClientId = ClientId(u16::MAX);

    /// Client `id`, or `None` for 0, which names no client.
    pub const fn new(id: u16) -> Option<ClientId> {
        if id == 0 {
            None
        } else {
            Some(ClientId(id))
        }
    }

    /// The number.
    pub const fn get(self) -> u16 {
        self.0
    }
}

/// An activity: what CPU time, pages and requests are charged to, across
/// every server a request passes through. Activity 0 is the system's own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActivityId(pub u16);

/// Rights a badge carries. The low two are common to every protocol; bits 2-7
/// are the protocol's own ([`Rights::protocol`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rights(u8);

impl Rights {
    /// No rights: an ordinary client.
    pub const NONE: Rights = Rights(0);
    /// May name another activity on whose behalf it asks (servers forwarding work).
    pub const RELAY: Rights = Rights(1 << 0);
    /// May use a protocol's administrative operations.
    pub const ADMIN: Rights = Rights(1 << 1);

    /// Protocol-defined right `n` (0..6), bit `n + 2`; `None` past 5.
    pub const fn protocol(n: u8) -> Option<Rights> {
        if n < 6 {
            Some(Rights(1 << (n + 2)))
        } else {
            None
        }
    }

    /// From the raw bits.
    pub const fn from_bits(bits: u8) -> Rights {
        Rights(bits)
    }

    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Both sets together.
    pub const fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }

    /// True when every right in `other` is in `self`.
    pub const fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }
}

/// The badge of a client's endpoint cap: its client, the activity it is
/// charged to, and its rights.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientBadge(u64);

impl ClientBadge {
    /// The badge init mints for `client`, charged to `activity`, with `rights`.
    pub const fn new(client: ClientId, activity: ActivityId, rights: Rights) -> ClientBadge {
        ClientBadge(
            ((client.0 as u64) << CLIENT_SHIFT)
                | ((activity.0 as u64) << ACTIVITY_SHIFT)
                | ((rights.0 as u64) << RIGHTS_SHIFT),
        )
    }

    /// Reads a received badge as a client's.
    ///
    /// # Errors
    /// `WrongKind` with the signal flag set, `Reserved` with a reserved bit
    /// set, `NoClient` for client 0.
    pub const fn from_bits(bits: u64) -> Result<ClientBadge, BadgeError> {
        if bits & SIGNAL_FLAG != 0 {
            Err(BadgeError::WrongKind)
        } else if bits & RESERVED != 0 {
            Err(BadgeError::Reserved)
        } else if (bits >> CLIENT_SHIFT) & FIELD_MASK == 0 {
            Err(BadgeError::NoClient)
        } else {
            Ok(ClientBadge(bits))
        }
    }

    /// The word to mint.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// The client.
    pub const fn client(self) -> ClientId {
        ClientId(((self.0 >> CLIENT_SHIFT) & FIELD_MASK) as u16)
    }

    /// The activity its requests are charged to.
    pub const fn activity(self) -> ActivityId {
        ActivityId(((self.0 >> ACTIVITY_SHIFT) & FIELD_MASK) as u16)
    }

    /// Its rights.
    pub const fn rights(self) -> Rights {
        Rights(((self.0 >> RIGHTS_SHIFT) & RIGHTS_MASK) as u8)
    }
}

impl fmt::Debug for ClientBadge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBadge")
            .field("client", &self.client().0)
            .field("activity", &self.activity().0)
            .field("rights", &self.rights().0)
            .finish()
    }
}

/// The badge of a notification cap: the signal flag and one event bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignalBadge(u64);

impl SignalBadge {
    /// The badge for event source `event` (0..63).
    ///
    /// # Errors
    /// `NoSuchEvent` for `event` past [`MAX_EVENTS`].
    pub const fn event(event: u8) -> Result<SignalBadge, BadgeError> {
        if event < MAX_EVENTS {
            Ok(SignalBadge(SIGNAL_FLAG | (1 << event)))
        } else {
            Err(BadgeError::NoSuchEvent)
        }
    }

    /// The word to mint.
    pub const fn bits(self) -> u64 {
        self.0
    }
}

/// What a notification word says after any number of Signals: the set of
/// event sources that signalled since the last Wait.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignalSet(u64);

impl SignalSet {
    /// True when source `event` signalled.
    pub const fn contains(self, event: u8) -> bool {
        event < MAX_EVENTS && self.0 & (1 << event) != 0
    }

    /// The event bits, without the flag.
    pub const fn events(self) -> u64 {
        self.0
    }

    /// The sources that signalled, lowest first.
    pub fn iter(self) -> impl Iterator<Item = u8> {
        (0..MAX_EVENTS).filter(move |&e| self.contains(e))
    }
}

/// What a received badge word is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivered {
    /// A client's message through its endpoint cap.
    Client(ClientBadge),
    /// A notification's word: the sources that signalled.
    Signals(SignalSet),
}

/// Tells a client's badge from a notification word (see the module doc).
///
/// # Errors
/// As [`ClientBadge::from_bits`] for a word without the signal flag.
#[inline(always)]
pub const fn classify(bits: u64) -> Result<Delivered, BadgeError> {
    if bits & SIGNAL_FLAG != 0 {
        Ok(Delivered::Signals(SignalSet(bits & !SIGNAL_FLAG)))
    } else {
        match ClientBadge::from_bits(bits) {
            Ok(b) => Ok(Delivered::Client(b)),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn client(n: u16) -> ClientId {
        ClientId::new(n).expect("nonzero")
    }

    #[test]
    fn fields_pack_and_unpack_at_their_bounds() {
        for (c, a, r) in [(1, 0, 0), (0xffff, 0xffff, 0xff), (7, 300, 3)] {
            let b = ClientBadge::new(client(c), ActivityId(a), Rights::from_bits(r));
            assert_eq!(b.client().get(), c);
            assert_eq!(b.activity(), ActivityId(a));
            assert_eq!(b.rights().bits(), r);
            assert_eq!(ClientBadge::from_bits(b.bits()), Ok(b));
            assert_eq!(b.bits() & (SIGNAL_FLAG | RESERVED), 0);
        }
        let full = ClientBadge::new(client(0xffff), ActivityId(0xffff), Rights::from_bits(0xff));
        assert_eq!(full.bits(), 0xff_ffff_ffff);
    }

    #[test]
    fn malformed_words_are_not_client_badges() {
        assert_eq!(ClientId::new(0), None);
        assert_eq!(ClientBadge::from_bits(0), Err(BadgeError::NoClient));
        assert_eq!(ClientBadge::from_bits(5 << 16), Err(BadgeError::NoClient));
        assert_eq!(
            ClientBadge::from_bits(1 | 1 << 40),
            Err(BadgeError::Reserved)
        );
        assert_eq!(
            ClientBadge::from_bits(1 | 1 << 62),
            Err(BadgeError::Reserved)
        );
        assert_eq!(
            ClientBadge::from_bits(1 | SIGNAL_FLAG),
            Err(BadgeError::WrongKind)
        );
        assert_eq!(classify(0), Err(BadgeError::NoClient));
    }

    #[test]
    fn rights() {
        let both = Rights::RELAY.union(Rights::ADMIN);
        assert!(both.contains(Rights::ADMIN) && both.contains(Rights::NONE));
        assert!(!Rights::RELAY.contains(Rights::ADMIN));
        assert_eq!(Rights::protocol(0), Some(Rights::from_bits(4)));
        assert_eq!(Rights::protocol(5), Some(Rights::from_bits(0x80)));
        assert_eq!(Rights::protocol(6), None);
    }

    #[test]
    fn signal_badges_are_one_bit_and_the_flag() {
        assert_eq!(SignalBadge::event(0).map(|b| b.bits()), Ok(SIGNAL_FLAG | 1));
        assert_eq!(
            SignalBadge::event(62).map(|b| b.bits()),
            Ok(SIGNAL_FLAG | 1 << 62)
        );
        assert_eq!(SignalBadge::event(63), Err(BadgeError::NoSuchEvent));
        assert_eq!(
            ClientBadge::from_bits(SIGNAL_FLAG | 1),
            Err(BadgeError::WrongKind)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn ored_signals_are_exactly_the_set_of_sources(events in proptest::collection::vec(0u8..63, 1..20)) {
            let word = events
                .iter()
                .map(|&e| SignalBadge::event(e).expect("in range").bits())
                .fold(0, |w, b| w | b);
            let Ok(Delivered::Signals(set)) = classify(word) else {
                panic!("a signal word classified as a client: {word:#x}");
            };
            let mut want: Vec<u8> = events.clone();
            want.sort_unstable();
            want.dedup();
            prop_assert_eq!(set.iter().collect::<Vec<_>>(), want);
        }

        #[test]
        fn client_badges_round_trip_and_never_read_as_signals(c in 1u16.., a: u16, r: u8) {
            let b = ClientBadge::new(client(c), ActivityId(a), Rights::from_bits(r));
            prop_assert_eq!(classify(b.bits()), Ok(Delivered::Client(b)));
            prop_assert_eq!((b.client().get(), b.activity().0, b.rights().bits()), (c, a, r));
        }

        #[test]
        fn any_word_classifies_without_panicking(word: u64) {
            match classify(word) {
                Ok(Delivered::Client(b)) => prop_assert_eq!(b.bits(), word),
                Ok(Delivered::Signals(s)) => prop_assert_eq!(s.events() | SIGNAL_FLAG, word),
                Err(_) => prop_assert!(word & SIGNAL_FLAG == 0),
            }
        }
    }
}
