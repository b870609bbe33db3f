//! Property tests: random labels, words, byte counts, caps and badges never
//! make a dispatcher panic, and always get a well-formed reply; a request
//! answered from its registers gets the reply the whole-message dispatch
//! gives it; values of every argument kind survive the trip from stub to
//! server and back.

mod common;

use common::*;
use keel_abi::CapType;
use keel_protocols::cap::{Grant, Notification, ReceivedCap};
use keel_protocols::loopback::Loopback;
use keel_protocols::wire::{
    Header, Incoming, OutMessage, MAX_WORDS, REPLY_ERROR, REPLY_OK, REPLY_RPC_ERROR,
};
use keel_protocols::{console, ActivityId, List, Rights, RpcError, Text};
use proptest::prelude::*;

fn any_cap() -> impl Strategy<Value = ReceivedCap> {
    prop_oneof![
        any::<u64>().prop_map(|badge| ReceivedCap::Unwrapped { badge }),
        (any::<u64>(), 0..=18u64).prop_map(|(cptr, k)| ReceivedCap::Transferred {
            cptr,
            kind: CapType::try_from(k).expect("0..=18 are types"),
        }),
    ]
}

/// Labels near the ones the servers speak, and any others.
fn any_label() -> impl Strategy<Value = u64> {
    prop_oneof![
        (0..12u8, any::<bool>(), 0..2u8).prop_map(|(op, relayed, protocol)| {
            let (protocol, version) =
                [(PROTOCOL, VERSION), (console::PROTOCOL, console::VERSION)][usize::from(protocol)];
            let relay = relayed.then_some(ActivityId(1));
            Header {
                protocol,
                version,
                op,
                relay,
            }
            .label()
        }),
        any::<u64>(),
    ]
}

/// Badges that pass, with any rights, and any others.
fn any_badge() -> impl Strategy<Value = u64> {
    prop_oneof![
        (1u16.., any::<u16>(), any::<u8>()).prop_map(|(c, a, r)| badge(c, a, Rights::from_bits(r))),
        any::<u64>(),
    ]
}

/// Words whose byte-count word (at any place) is often plausible.
fn any_words() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(prop_oneof![0..64u64, any::<u64>()], 0..=MAX_WORDS)
}

fn well_formed(reply: &OutMessage) -> bool {
    match reply.label {
        REPLY_OK => reply.length <= MAX_WORDS,
        REPLY_ERROR => reply.length == 1,
        REPLY_RPC_ERROR => {
            reply.length == 3
                && RpcError::from_words([reply.words[0], reply.words[1], reply.words[2]]).is_some()
        }
        _ => false,
    }
}

struct NullConsole;

impl console::ConsoleServer for NullConsole {
    fn write_line(
        &mut self,
        _: &keel_protocols::Caller,
        _: console::Line,
    ) -> Result<(), console::ConsoleError> {
        Ok(())
    }
    fn flush(&mut self, _: &keel_protocols::Caller) -> Result<(), console::ConsoleError> {
        Ok(())
    }
    fn set_tag(
        &mut self,
        _: &keel_protocols::Caller,
        _: console::Tag,
    ) -> Result<(), console::ConsoleError> {
        Err(console::ConsoleError::BadTag)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_requests_never_panic_and_always_get_a_reply(
        badge in any_badge(),
        label in any_label(),
        words in any_words(),
        length_past_words in 0..3usize,
        caps in prop::collection::vec(any_cap(), 0..=3),
    ) {
        let mut request = incoming(badge, label, &words, &caps);
        // Sometimes a length past the words, even past the message.
        request.message.length = words.len() + length_past_words * 60;
        let mut server = TestServer::default();
        let mut reply = OutMessage::new();
        dispatch(&mut server, &request, &mut reply);
        prop_assert!(well_formed(&reply), "{:?} {:?}", reply.label, &reply.words[..3]);
        let mut reply = OutMessage::new();
        console::dispatch(&mut NullConsole, &request, &mut reply);
        prop_assert!(well_formed(&reply));
    }

    #[test]
    fn answers_from_registers_are_the_whole_message_answers(
        badge in any_badge(),
        label in prop_oneof![
            (0..10u8).prop_map(|op| Header { protocol: PROTOCOL, version: VERSION, op, relay: None }.label()),
            (0..4u8).prop_map(|op| {
                Header { protocol: console::PROTOCOL, version: console::VERSION, op, relay: None }.label()
            }),
            any_label(),
        ],
        words in prop_oneof![
            prop::collection::vec(prop_oneof![0..3u64, any::<u64>()], 0..=5),
            prop::collection::vec(any::<u64>(), 119..=120),
        ],
        caps in prop::collection::vec(any_cap(), 0..=1),
    ) {
        let request = incoming(badge, label, &words, &caps);
        let past = |into: &mut [u64]| request.read_past(into);
        let mut whole = OutMessage::new();
        dispatch(&mut TestServer::default(), &request, &mut whole);
        if let Some(short) = dispatch_registers(&mut TestServer::default(), &request.arrival(), past) {
            let short = OutMessage::from(short);
            prop_assert_eq!((short.label, short.used()), (whole.label, whole.used()));
            prop_assert!(whole.caps.is_empty());
        }
        let mut whole = OutMessage::new();
        console::dispatch(&mut NullConsole, &request, &mut whole);
        if let Some(short) = console::dispatch_registers(&mut NullConsole, &request.arrival(), past) {
            let short = OutMessage::from(short);
            prop_assert_eq!((short.label, short.used()), (whole.label, whole.used()));
        }
    }

    #[test]
    fn random_data_bytes_never_panic(
        op in prop::sample::select(vec![3u8, 4]),
        fixed in prop::collection::vec(0..4u64, 0..2),
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        count_skew in -9i64..9,
    ) {
        // A plausible data area: fixed words, a byte count near the truth, bytes.
        let mut words = fixed;
        words.push((bytes.len() as i64 + count_skew).max(0) as u64);
        words.extend(bytes.chunks(8).map(|c| {
            let mut w = [0; 8];
            w[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(w)
        }));
        let note = ReceivedCap::Transferred { cptr: 1, kind: CapType::Notification };
        let label = Header { protocol: PROTOCOL, version: VERSION, op, relay: None }.label();
        let reply = answer(&incoming(badge(1, 0, Rights::NONE), label, &words, &[note]));
        prop_assert!(well_formed(&reply));
    }

    #[test]
    fn every_kind_of_argument_round_trips(
        a in any::<u64>(),
        b in any::<u32>(),
        n in 0..5u8,
        name in "[a-z]{0,8}",
        values in prop::collection::vec(any::<u16>(), 0..=4),
        cptr in 100..200u64,
        relay in prop::option::of(any::<u16>()),
    ) {
        let mut server = TestServer::default();
        let mut link = Loopback::new(
            badge(1, 2, Rights::RELAY),
            |r: &Incoming, o: &mut OutMessage| dispatch(&mut server, r, o),
            resolve,
        );
        let mut c = ExerciseClient::new(&mut link);
        c.on_behalf_of(relay.map(ActivityId));
        prop_assert_eq!(c.add(a, b, false), Ok(a.wrapping_add(u64::from(b))));
        let text = Text::<8>::try_from(name.as_str()).expect("at most 8");
        let list = List::<u16, 4>::from_slice(&values).expect("at most 4");
        let mut want = name.repeat(usize::from(n));
        let sum: u32 = values.iter().map(|&v| u32::from(v)).sum();
        want.push_str(&format!(":{sum}@{cptr}"));
        let got = c.mixed(n, &text, &list, Grant::<Notification>::new(cptr));
        prop_assert_eq!(got.map(|t| t.to_string()), Ok(want));
        let entry = Entry { name: text, values: list };
        prop_assert_eq!(c.store(&entry), Ok(1));
        prop_assert_eq!(server.entries.iter().next().map(|(_, e)| e), Some(&entry));
    }
}
