//! The console over keel-protocols' loopback transport, as its clients
//! reach it: tagged lines written whole, the bounded tag table, refused
//! lines and tags, malformed requests answered with the generated errors,
//! and random requests that never make it panic.

extern crate std;

use std::format;
use std::string::String;
use std::vec::Vec;

use keel_protocols::console::Serving;
use keel_protocols::console::{ConsoleClient, ConsoleError, Line, Tag, LINE_MAX, TAG_MAX};
use keel_protocols::loopback::Loopback;
use keel_protocols::wire::{Header, Incoming, OutMessage, MAX_WORDS, REPLY_OK, REPLY_RPC_ERROR};
use keel_protocols::{
    console, ActivityId, ClientBadge, ClientId, Rights, RpcError, Service, Transport,
};
use proptest::prelude::*;

use super::*;

/// Records every write; refuses them all when `broken`.
#[derive(Default)]
struct Memory {
    writes: Vec<String>,
    broken: bool,
}

impl Sink for Memory {
    fn write(&mut self, text: &str) -> Result<(), RpcError> {
        if self.broken {
            return Err(RpcError::Kernel(keel_abi_error()));
        }
        self.writes.push(text.into());
        Ok(())
    }
}

/// The kernel error a broken sink reports.
fn keel_abi_error() -> keel_abi::Error {
    keel_abi::Error::InvalidCapability
}

type TestConsole = Console<Memory, 2>;

fn badge(client: u16) -> u64 {
    ClientBadge::new(
        ClientId::new(client).expect("nonzero"),
        ActivityId(1),
        Rights::NONE,
    )
    .bits()
}

/// Runs `f` with a client `client` of `console`.
fn client<R>(
    console: &mut TestConsole,
    client: u16,
    f: impl FnOnce(&mut ConsoleClient<&mut dyn Transport>) -> R,
) -> R {
    let mut link = Loopback::new(
        badge(client),
        |request: &Incoming, reply: &mut OutMessage| Serving(&mut *console).handle(request, reply),
        |_| None,
    );
    f(&mut ConsoleClient::new(&mut link as &mut dyn Transport))
}

fn line(s: &str) -> Line {
    Line::try_from(s).expect("fits a line")
}

fn tag(s: &str) -> Tag {
    Tag::try_from(s).expect("fits a tag")
}

#[test]
fn each_line_is_one_write_with_its_clients_tag() {
    let mut console = TestConsole::new(Memory::default());
    client(&mut console, 1, |c| {
        assert_eq!(c.write_line(&line("before a tag")), Ok(()));
        assert_eq!(c.set_tag(&tag("hello")), Ok(()));
        assert_eq!(c.write_line(&line("héllo, wörld")), Ok(()));
        assert_eq!(c.flush(), Ok(()));
    });
    client(&mut console, 7, |c| {
        assert_eq!(c.write_line(&line("")), Ok(()));
        assert_eq!(c.write_text("two\nlines"), Ok(()));
    });
    client(&mut console, 1, |c| {
        assert_eq!(c.write_line(&line("again")), Ok(()))
    });
    assert_eq!(
        console.sink().writes,
        [
            "[#1] before a tag\n",
            "[hello] héllo, wörld\n",
            "[#7] \n",
            "[#7] two\n",
            "[#7] lines\n",
            "[hello] again\n",
        ]
    );
}

#[test]
fn the_longest_tag_and_line_fit() {
    let mut console = TestConsole::new(Memory::default());
    let long_tag = "t".repeat(TAG_MAX);
    let long_line = "é".repeat(LINE_MAX / 2);
    client(&mut console, 1, |c| {
        assert_eq!(c.set_tag(&tag(&long_tag)), Ok(()));
        assert_eq!(c.write_line(&line(&long_line)), Ok(()));
    });
    assert_eq!(
        console.sink().writes,
        [format!("[{long_tag}] {long_line}\n")]
    );
}

#[test]
fn a_full_tag_table_is_an_error_and_the_client_is_still_served() {
    let mut console = TestConsole::new(Memory::default());
    for n in [1, 2] {
        client(&mut console, n, |c| {
            assert_eq!(c.set_tag(&tag("t")), Ok(()))
        });
    }
    client(&mut console, 3, |c| {
        assert_eq!(
            c.set_tag(&tag("three")),
            Err(ConsoleError::Rpc(RpcError::Full))
        );
        assert_eq!(c.write_line(&line("untagged")), Ok(()));
    });
    client(&mut console, 2, |c| {
        assert_eq!(c.set_tag(&tag("two")), Ok(()));
        assert_eq!(c.write_line(&line("retagged")), Ok(()));
    });
    assert_eq!(console.tagged(), 2);
    assert_eq!(
        console.sink().writes,
        ["[#3] untagged\n", "[two] retagged\n"]
    );
}

#[test]
fn bad_lines_and_tags_are_refused_and_nothing_is_written() {
    let mut console = TestConsole::new(Memory::default());
    client(&mut console, 1, |c| {
        for bad in ["a\nb", "bell\u{7}", "tab\there", "\r"] {
            assert_eq!(
                c.write_line(&line(bad)),
                Err(ConsoleError::ControlCharacter)
            );
        }
        for bad in ["", "two words", "new\nline"] {
            assert_eq!(c.set_tag(&tag(bad)), Err(ConsoleError::BadTag));
        }
    });
    assert!(console.sink().writes.is_empty());
    assert_eq!(console.tagged(), 0);
}

#[test]
fn a_line_the_sink_refuses_gets_the_sinks_error() {
    let mut console = TestConsole::new(Memory {
        broken: true,
        ..Memory::default()
    });
    client(&mut console, 1, |c| {
        assert_eq!(
            c.write_line(&line("lost")),
            Err(ConsoleError::Rpc(RpcError::Kernel(keel_abi_error())))
        );
        assert_eq!(c.set_tag(&tag("still")), Ok(()));
    });
}

/// A request as the console receives it: `words` after a label for `op`.
fn request(badge: u64, protocol: u16, version: u8, op: u8, words: &[u64]) -> Incoming {
    let mut request = Incoming {
        badge,
        ..Incoming::default()
    };
    request.message.label = Header {
        protocol,
        version,
        op,
        relay: None,
    }
    .label();
    request.message.words[..words.len()].copy_from_slice(words);
    request.message.length = words.len();
    request
}

/// The console's answer to `request`.
fn answer(console: &mut TestConsole, request: &Incoming) -> OutMessage {
    let mut reply = OutMessage::new();
    Serving(console).handle(request, &mut reply);
    reply
}

fn rpc_error(reply: &OutMessage) -> Option<RpcError> {
    (reply.label == REPLY_RPC_ERROR && reply.length == 3)
        .then(|| RpcError::from_words([reply.words[0], reply.words[1], reply.words[2]]))
        .flatten()
}

#[test]
fn malformed_requests_get_the_generated_errors_and_the_console_goes_on() {
    let mut console = TestConsole::new(Memory::default());
    let (p, v, b) = (console::PROTOCOL, console::VERSION, badge(1));
    let cases = [
        (
            request(b, p, v, 9, &[]),
            RpcError::UnknownOperation { op: 9 },
        ),
        (
            request(b, p + 1, v, 1, &[]),
            RpcError::WrongProtocol {
                expected: p,
                got: p + 1,
            },
        ),
        (
            request(b, p, v + 1, 2, &[]),
            RpcError::VersionMismatch {
                server: v,
                client: v + 1,
            },
        ),
        (
            request(b, p, v, 2, &[1, 2]),
            RpcError::WrongLength { words: 2 },
        ),
        (
            request(0, p, v, 2, &[]),
            RpcError::BadBadge(keel_protocols::badge::BadgeError::NoClient),
        ),
    ];
    for (bad, expected) in &cases {
        assert_eq!(rpc_error(&answer(&mut console, bad)), Some(*expected));
    }
    // A write_line whose data says it holds more bytes than it carries.
    let garbled = answer(&mut console, &request(b, p, v, 1, &[500, 0]));
    assert!(
        rpc_error(&garbled).is_some(),
        "a garbled line was accepted: {:?}",
        garbled.label
    );
    assert!(console.sink().writes.is_empty());
    client(&mut console, 1, |c| {
        assert_eq!(c.write_line(&line("still serving")), Ok(()))
    });
    assert_eq!(console.sink().writes, ["[#1] still serving\n"]);
}

proptest! {
    #[test]
    fn random_requests_never_panic_and_are_always_answered(
        badge in any::<u64>(),
        label in any::<u64>(),
        words in proptest::collection::vec(any::<u64>(), 0..=MAX_WORDS),
    ) {
        let mut console = TestConsole::new(Memory::default());
        let mut request = Incoming { badge, ..Incoming::default() };
        request.message.label = label;
        request.message.words[..words.len()].copy_from_slice(&words);
        request.message.length = words.len();
        let reply = answer(&mut console, &request);
        prop_assert!(reply.label == REPLY_OK || reply.label == REPLY_RPC_ERROR
            || reply.label == keel_protocols::wire::REPLY_ERROR);
        prop_assert!(console.sink().writes.len() <= 1);
        prop_assert!(console.tagged() <= 1);
    }
}
