//! The full path, stub -> encode -> decode -> dispatch -> reply -> decode,
//! over the loopback transport, for every kind of argument and reply, the
//! server answering as its receive loop does (from the registers when it
//! can); then every kind of malformed request, built by hand, gets the
//! error that names it; and which requests are answered from registers.

mod common;

use common::*;
use keel_abi::CapType;
use keel_protocols::badge::{BadgeError, SIGNAL_FLAG};
use keel_protocols::cap::{Endpoint, Frame, Grant, Notification, ReceivedCap};
use keel_protocols::loopback::Loopback;
use keel_protocols::wire::{Header, Incoming, OutMessage, REPLY_RPC_ERROR};
use keel_protocols::{ActivityId, List, Rights, RpcError, Text, Transport};

/// Runs `f` with a client of `server` whose requests carry `badge`.
fn with_client<R>(
    server: &mut TestServer,
    badge: u64,
    f: impl FnOnce(&mut ExerciseClient<&mut dyn Transport>) -> R,
) -> R {
    let mut link = Loopback::new(
        badge,
        |req: &Incoming, reply: &mut OutMessage| {
            answer_as_a_loop(server, req, reply);
        },
        resolve,
    );
    let mut client = ExerciseClient::new(&mut link as &mut dyn Transport);
    f(&mut client)
}

fn plain(client: u16) -> u64 {
    badge(client, 5, Rights::NONE)
}

#[test]
fn fixed_arguments_and_replies_round_trip() {
    let mut server = TestServer::default();
    with_client(&mut server, plain(1), |c| {
        assert_eq!(c.add(u64::MAX - 1, 1, false), Ok(u64::MAX));
        assert_eq!(c.add(2, u32::MAX, false), Ok(2 + u64::from(u32::MAX)));
        let s = Span {
            start: 1 << 40,
            len: 21,
            flags: 0xbeef,
            kind: Kind::Write,
        };
        assert_eq!(c.span(s), Ok(Span { len: 42, ..s }));
        let w: [u64; 120] = core::array::from_fn(|i| i as u64);
        assert_eq!(c.big(w), Ok((0..120).sum()));
        assert_eq!(c.whoami(), Ok([1, 5, 5, 0]));
    });
}

#[test]
fn variable_data_and_caps_round_trip() {
    let mut server = TestServer::default();
    with_client(&mut server, plain(1), |c| {
        let entry = Entry {
            name: Text::try_from("eight ch").expect("fits"),
            values: List::from_slice(&[1, 2, 65535]).expect("fits"),
        };
        assert_eq!(c.store(&entry), Ok(1));
        let a = Text::try_from("ab").expect("fits");
        let b = List::from_slice(&[1, 2, 3, 4]).expect("fits");
        let got = c.mixed(3, &a, &b, Grant::<Notification>::new(150));
        assert_eq!(got, Ok(Text::try_from("ababab:10@150").expect("fits")));
        let empty = Text::new();
        let got = c.mixed(0, &empty, &List::new(), Grant::new(101));
        assert_eq!(got, Ok(Text::try_from(":0@101").expect("fits")));
        let frame = c.swap(Grant::<Endpoint>::new(300), Grant::<Frame>::new(250));
        let frame = frame.map(|f| f.received());
        assert_eq!(
            frame,
            Ok(ReceivedCap::Transferred {
                cptr: 250,
                kind: CapType::Frame
            })
        );
        let frame = c
            .swap(Grant::new(407), Grant::new(250))
            .map(|f| f.received());
        assert_eq!(
            frame,
            Ok(ReceivedCap::Transferred {
                cptr: 207,
                kind: CapType::Frame
            })
        );
    });
    assert_eq!(server.entries.len(), 1);
}

#[test]
fn the_protocols_own_error_reaches_the_client() {
    let mut server = TestServer::default();
    with_client(&mut server, plain(1), |c| {
        assert_eq!(c.add(1, 2, true), Err(ExerciseError::Refused));
    });
}

#[test]
fn a_full_table_is_an_error_reply_and_the_server_goes_on() {
    let mut server = TestServer::default();
    let entry = Entry {
        name: Text::new(),
        values: List::new(),
    };
    for client in 1..=ENTRY_CLIENTS as u16 {
        with_client(&mut server, plain(client), |c| {
            assert!(c.store(&entry).is_ok())
        });
    }
    with_client(&mut server, plain(9), |c| {
        assert_eq!(c.store(&entry), Err(ExerciseError::Rpc(RpcError::Full)));
        assert_eq!(c.add(1, 1, false), Ok(2));
    });
    with_client(&mut server, plain(1), |c| {
        assert_eq!(c.store(&entry), Ok(2))
    });
    assert_eq!(server.entries.len(), ENTRY_CLIENTS);
}

#[test]
fn rights_are_checked_from_the_badge() {
    let mut server = TestServer::default();
    let no_admin = Err(ExerciseError::Rpc(RpcError::NoRight {
        needed: Rights::ADMIN,
    }));
    with_client(&mut server, badge(1, 0, Rights::RELAY), |c| {
        assert_eq!(c.reset(), no_admin)
    });
    with_client(&mut server, badge(1, 0, Rights::ADMIN), |c| {
        assert_eq!(c.reset(), Ok(()))
    });
}

#[test]
fn only_a_relay_may_name_another_activity() {
    let mut server = TestServer::default();
    with_client(&mut server, badge(3, 5, Rights::ADMIN), |c| {
        c.on_behalf_of(Some(ActivityId(77)));
        let no_relay = Err(ExerciseError::Rpc(RpcError::NoRight {
            needed: Rights::RELAY,
        }));
        assert_eq!(c.whoami(), no_relay);
    });
    with_client(&mut server, badge(3, 5, Rights::RELAY), |c| {
        c.on_behalf_of(Some(ActivityId(77)));
        assert_eq!(c.whoami(), Ok([3, 5, 77, 1]));
        assert_eq!(c.add(40, 2, false), Ok(42));
        // A relayed request has one word less for arguments.
        let w = [0; 120];
        assert_eq!(c.big(w), Err(ExerciseError::Rpc(RpcError::TooLong)));
        c.on_behalf_of(None);
        assert_eq!(c.whoami(), Ok([3, 5, 5, 0]));
        assert_eq!(c.big(w), Ok(0));
    });
}

#[test]
fn caps_are_checked_for_presence_and_type() {
    let mut server = TestServer::default();
    with_client(&mut server, plain(1), |c| {
        let missing = c
            .swap(Grant::new(300), Grant::new(999))
            .map(|f| f.received());
        assert_eq!(
            missing,
            Err(ExerciseError::Rpc(RpcError::MissingCap { index: 1 }))
        );
        let missing = c
            .swap(Grant::new(999), Grant::new(250))
            .map(|f| f.received());
        assert_eq!(
            missing,
            Err(ExerciseError::Rpc(RpcError::MissingCap { index: 0 }))
        );
        let wrong = c
            .swap(Grant::new(300), Grant::new(150))
            .map(|f| f.received());
        let want = RpcError::WrongCapType {
            index: 1,
            got: CapType::Notification,
        };
        assert_eq!(wrong, Err(ExerciseError::Rpc(want)));
        let wrong = c.mixed(1, &Text::new(), &List::new(), Grant::new(250));
        let want = RpcError::WrongCapType {
            index: 0,
            got: CapType::Frame,
        };
        assert_eq!(wrong, Err(ExerciseError::Rpc(want)));
    });
}

#[test]
fn another_version_or_protocol_gets_a_clear_error() {
    mod v4 {
        keel_protocols::protocol! {
            /// Exercise as a newer build declares it.
            protocol Exercise {
                id: 42,
                version: 4,
                client: ExerciseClient,
                server: ExerciseServer,
                error: ExerciseError {},
                ops: {
                    /// As in version 3.
                    1 => add(fixed a: u64, fixed b: u32, fixed refuse: bool) -> fixed u64;
                }
            }
        }
    }
    let mut server = TestServer::default();
    let mut link = Loopback::new(
        plain(1),
        |req: &Incoming, reply: &mut OutMessage| dispatch(&mut server, req, reply),
        resolve,
    );
    let mut newer = v4::ExerciseClient::new(&mut link);
    let want = RpcError::VersionMismatch {
        server: 3,
        client: 4,
    };
    assert_eq!(newer.add(1, 2, false), Err(v4::ExerciseError::Rpc(want)));
    let mut console = keel_protocols::console::ConsoleClient::new(&mut link);
    let want = RpcError::WrongProtocol {
        expected: 42,
        got: 1,
    };
    assert_eq!(
        console.flush(),
        Err(keel_protocols::console::ConsoleError::Rpc(want))
    );
}

/// The label of op `op` at this build's protocol and version.
fn label(op: u8) -> u64 {
    Header {
        protocol: PROTOCOL,
        version: VERSION,
        op,
        relay: None,
    }
    .label()
}

/// The RpcError in a reply, or `None` for another reply.
fn rpc_error(reply: &OutMessage) -> Option<RpcError> {
    (reply.label == REPLY_RPC_ERROR && reply.length == 3)
        .then(|| RpcError::from_words([reply.words[0], reply.words[1], reply.words[2]]))
        .flatten()
}

fn rejects(request: Incoming) -> RpcError {
    let reply = answer(&request);
    rpc_error(&reply).unwrap_or_else(|| panic!("accepted: {:?}", reply.label))
}

#[test]
fn malformed_requests_get_errors_that_name_the_fault() {
    let b = plain(1);
    let ok_add = [1, 2, 0];
    assert_eq!(answer(&incoming(b, label(1), &ok_add, &[])).label, 0);

    // Label: op, protocol, version, reserved bits.
    assert_eq!(
        rejects(incoming(b, label(99), &[], &[])),
        RpcError::UnknownOperation { op: 99 }
    );
    assert_eq!(
        rejects(incoming(b, label(0), &[], &[])),
        RpcError::UnknownOperation { op: 0 }
    );
    let other = Header {
        protocol: 9,
        version: VERSION,
        op: 1,
        relay: None,
    }
    .label();
    let want = RpcError::WrongProtocol {
        expected: 42,
        got: 9,
    };
    assert_eq!(rejects(incoming(b, other, &ok_add, &[])), want);
    let reserved = label(1) | 1 << 40;
    let want = RpcError::WrongProtocol {
        expected: 42,
        got: 0,
    };
    assert_eq!(rejects(incoming(b, reserved, &ok_add, &[])), want);
    let old = Header {
        protocol: PROTOCOL,
        version: 2,
        op: 1,
        relay: None,
    }
    .label();
    let want = RpcError::VersionMismatch {
        server: 3,
        client: 2,
    };
    assert_eq!(rejects(incoming(b, old, &ok_add, &[])), want);

    // Length: too few, too many, past the message.
    assert_eq!(
        rejects(incoming(b, label(1), &[1, 2], &[])),
        RpcError::WrongLength { words: 2 }
    );
    assert_eq!(
        rejects(incoming(b, label(1), &[1, 2, 0, 0], &[])),
        RpcError::WrongLength { words: 4 }
    );
    let mut long = incoming(b, label(1), &ok_add, &[]);
    long.message.length = 500;
    assert_eq!(rejects(long), RpcError::WrongLength { words: 255 });

    // Fixed arguments: not a bool, nonzero padding, not a Kind.
    assert_eq!(
        rejects(incoming(b, label(1), &[1, 2, 2], &[])),
        RpcError::Undecodable { arg: 2 }
    );
    assert_eq!(
        rejects(incoming(b, label(1), &[1, 1 << 32, 0], &[])),
        RpcError::Undecodable { arg: 1 }
    );
    let bad_kind = 7u64 << 48 | 4;
    assert_eq!(
        rejects(incoming(b, label(2), &[0, bad_kind], &[])),
        RpcError::Undecodable { arg: 0 }
    );

    // Caps: too many, wrong type.
    let note = ReceivedCap::Transferred {
        cptr: 1,
        kind: CapType::Notification,
    };
    assert_eq!(
        rejects(incoming(b, label(1), &ok_add, &[note])),
        RpcError::UnexpectedCaps { count: 1 }
    );
    assert_eq!(
        rejects(incoming(b, label(5), &[], &[note])),
        RpcError::MissingCap { index: 1 }
    );
    let want = RpcError::WrongCapType {
        index: 0,
        got: CapType::Notification,
    };
    assert_eq!(rejects(incoming(b, label(5), &[], &[note, note])), want);
}

#[test]
fn malformed_data_gets_errors_that_name_the_fault() {
    let b = plain(1);
    // store: [byte count, bytes...]; an Entry is a string then a list.
    let good = u64::from_le_bytes([2, b'h', b'i', 1, 7, 0, 0, 0]);
    assert_eq!(answer(&incoming(b, label(3), &[5, good], &[])).label, 0);
    let trailing = u64::from_le_bytes([2, b'h', b'i', 1, 7, 9, 0, 0]);
    assert_eq!(
        rejects(incoming(b, label(3), &[6, trailing], &[])),
        RpcError::TrailingBytes
    );
    let not_utf8 = u64::from_le_bytes([2, 0xff, 0xfe, 0, 0, 0, 0, 0]);
    assert_eq!(
        rejects(incoming(b, label(3), &[4, not_utf8], &[])),
        RpcError::Undecodable { arg: 0 }
    );
    let too_long_name = [
        9,
        u64::from_le_bytes([9, b'a', b'a', b'a', b'a', b'a', b'a', b'a']),
        0x61,
    ];
    let mut words = too_long_name.to_vec();
    words[0] = 11;
    words[2] = 0x00_61_61;
    assert_eq!(
        rejects(incoming(b, label(3), &words, &[])),
        RpcError::Undecodable { arg: 0 }
    );
    let cut_short = u64::from_le_bytes([2, b'h', b'i', 3, 7, 0, 0, 0]);
    assert_eq!(
        rejects(incoming(b, label(3), &[5, cut_short], &[])),
        RpcError::Undecodable { arg: 0 }
    );
    // Byte counts that do not match the words carrying them.
    assert_eq!(
        rejects(incoming(b, label(3), &[9, good], &[])),
        RpcError::WrongLength { words: 2 }
    );
    assert_eq!(
        rejects(incoming(b, label(3), &[0, good], &[])),
        RpcError::WrongLength { words: 2 }
    );
    assert_eq!(
        rejects(incoming(b, label(3), &[u64::MAX, good], &[])),
        RpcError::WrongLength { words: 2 }
    );
    assert_eq!(
        rejects(incoming(b, label(3), &[], &[])),
        RpcError::WrongLength { words: 0 }
    );
}

#[test]
fn badges_and_relay_words_are_checked_first() {
    let ok_add = [1, 2, 0];
    let no_client = RpcError::BadBadge(BadgeError::NoClient);
    assert_eq!(rejects(incoming(0, label(1), &ok_add, &[])), no_client);
    let reserved = RpcError::BadBadge(BadgeError::Reserved);
    assert_eq!(
        rejects(incoming(plain(1) | 1 << 50, label(1), &ok_add, &[])),
        reserved
    );
    let signal = RpcError::BadBadge(BadgeError::WrongKind);
    assert_eq!(
        rejects(incoming(SIGNAL_FLAG | 1, label(1), &ok_add, &[])),
        signal
    );
    // A bad badge is reported before a bad label.
    assert_eq!(rejects(incoming(0, 12345, &[], &[])), no_client);

    let relay = badge(1, 0, Rights::RELAY);
    let relayed = Header {
        protocol: PROTOCOL,
        version: VERSION,
        op: 1,
        relay: Some(ActivityId(4)),
    }
    .label();
    assert_eq!(
        answer(&incoming(relay, relayed, &[4, 1, 2, 0], &[])).label,
        0
    );
    assert_eq!(
        rejects(incoming(relay, relayed, &[], &[])),
        RpcError::WrongLength { words: 0 }
    );
    let activity_too_big = [1 << 16, 1, 2, 0];
    assert_eq!(
        rejects(incoming(relay, relayed, &activity_too_big, &[])),
        RpcError::Undecodable { arg: 255 }
    );
    let want = RpcError::NoRight {
        needed: Rights::RELAY,
    };
    assert_eq!(
        rejects(incoming(plain(1), relayed, &[4, 1, 2, 0], &[])),
        want
    );
}

#[test]
fn a_reply_that_does_not_decode_is_bad_reply() {
    let mut garbage = |_: &Incoming, reply: &mut OutMessage| {
        reply.label = 9;
        reply.length = 0;
    };
    let mut link = Loopback::new(plain(1), &mut garbage, resolve);
    let mut c = ExerciseClient::new(&mut link);
    assert_eq!(
        c.add(1, 2, false),
        Err(ExerciseError::Rpc(RpcError::BadReply))
    );

    let mut unknown_code = |_: &Incoming, reply: &mut OutMessage| {
        reply.label = keel_protocols::wire::REPLY_ERROR;
        reply.words[0] = 99;
        reply.length = 1;
    };
    let mut link = Loopback::new(plain(1), &mut unknown_code, resolve);
    let mut c = ExerciseClient::new(&mut link);
    assert_eq!(
        c.add(1, 2, false),
        Err(ExerciseError::Rpc(RpcError::BadReply))
    );

    let mut short = |_: &Incoming, reply: &mut OutMessage| {
        reply.label = 0;
        reply.length = 0;
    };
    let mut link = Loopback::new(plain(1), &mut short, resolve);
    let mut c = ExerciseClient::new(&mut link);
    assert_eq!(
        c.add(1, 2, false),
        Err(ExerciseError::Rpc(RpcError::BadReply))
    );

    // The right words for a reply read from the registers, but with a cap
    // the operation does not answer with.
    let mut with_a_cap = |_: &Incoming, reply: &mut OutMessage| {
        reply.label = 0;
        reply.words[0] = 3;
        reply.length = 1;
        reply.caps.push(101).unwrap();
    };
    let mut link = Loopback::new(plain(1), &mut with_a_cap, resolve);
    let mut c = ExerciseClient::new(&mut link);
    assert_eq!(
        c.add(1, 2, false),
        Err(ExerciseError::Rpc(RpcError::BadReply))
    );
}

#[test]
fn usual_requests_of_fixed_arguments_are_answered_from_registers() {
    let from_registers = |request: &Incoming| {
        let mut server = TestServer::default();
        answer_as_a_loop(&mut server, request, &mut OutMessage::new())
    };
    let b = plain(1);
    let admin = badge(1, 5, Rights::ADMIN);
    // add: three words; span: two; whoami, reset: none; big: 120 words,
    // the last 116 past the registers.
    let usual = [
        incoming(b, label(1), &[1, 2, 0], &[]),
        incoming(b, label(1), &[1, 2, 1], &[]),
        incoming(b, label(2), &[1, (1 << 48) | 3], &[]),
        incoming(b, label(7), &[], &[]),
        incoming(admin, label(6), &[], &[]),
        incoming(b, label(8), &[7; 120], &[]),
        // Refusals once the layout is right: a missing right, a value no
        // `bool` is.
        incoming(b, label(6), &[], &[]),
        incoming(b, label(1), &[1, 2, 2], &[]),
    ];
    for request in &usual {
        assert!(from_registers(request), "{:#x}", request.message.label);
    }
    let mut relayed = incoming(b, label(7), &[1], &[]);
    relayed.message.label |= 1 << 32;
    let note = ReceivedCap::Transferred {
        cptr: 1,
        kind: CapType::Notification,
    };
    let whole = [
        // Data or caps in the arguments, or a reply of data or caps.
        incoming(b, label(3), &[0], &[]),
        incoming(b, label(4), &[1, 0], &[note]),
        incoming(b, label(5), &[], &[note, note]),
        // Another length, caps where none are taken, an unknown operation,
        // a relayed request, a bad badge, another version.
        incoming(b, label(1), &[1, 2], &[]),
        incoming(b, label(7), &[0], &[]),
        incoming(b, label(7), &[], &[note]),
        incoming(b, label(99), &[], &[]),
        relayed,
        incoming(0, label(7), &[], &[]),
        incoming(b, label(7) + (1 << 8), &[], &[]),
    ];
    for request in &whole {
        assert!(!from_registers(request), "{:#x}", request.message.label);
    }
}
