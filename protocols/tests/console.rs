//! The console protocol end to end over the loopback transport, with a test
//! console server (bounded tag table), and the receive loop: replies owed
//! after requests, none after notification signals.

use std::collections::VecDeque;

use keel_protocols::badge::SignalBadge;
use keel_protocols::console::{
    dispatch, valid_line, valid_tag, ConsoleClient, ConsoleError, ConsoleServer, Line, Tag,
    LINE_MAX, PROTOCOL, VERSION,
};
use keel_protocols::loopback::Loopback;
use keel_protocols::table::ClientTable;
use keel_protocols::wire::{Header, Incoming, OutMessage};
use keel_protocols::{
    ActivityId, Caller, ClientBadge, ClientId, Rights, RpcError, ServeLoop, ServerTransport,
    Service, SignalSet,
};

/// Tags for at most two clients.
#[derive(Default)]
struct Console {
    tags: ClientTable<Tag, 2>,
    out: Vec<String>,
    flushes: usize,
    signals: Vec<SignalSet>,
}

impl ConsoleServer for Console {
    fn write_line(&mut self, caller: &Caller, text: Line) -> Result<(), ConsoleError> {
        if !valid_line(&text) {
            return Err(ConsoleError::ControlCharacter);
        }
        let tag = self
            .tags
            .get(caller.badge.client())
            .map_or("?", |t| t.as_str());
        self.out.push(format!("[{tag}] {text}"));
        Ok(())
    }

    fn flush(&mut self, _: &Caller) -> Result<(), ConsoleError> {
        self.flushes += 1;
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

impl Service for Console {
    fn handle(&mut self, request: &Incoming, reply: &mut OutMessage) {
        dispatch(self, request, reply);
    }

    fn signalled(&mut self, signals: SignalSet) {
        self.signals.push(signals);
    }
}

fn badge(client: u16) -> u64 {
    ClientBadge::new(
        ClientId::new(client).expect("nonzero"),
        ActivityId(1),
        Rights::NONE,
    )
    .bits()
}

fn run<R>(
    console: &mut Console,
    client: u16,
    f: impl FnOnce(&mut ConsoleClient<&mut dyn keel_protocols::Transport>) -> R,
) -> R {
    let mut link = Loopback::new(
        badge(client),
        |r: &Incoming, o: &mut OutMessage| dispatch(console, r, o),
        |_| None,
    );
    let mut c = ConsoleClient::new(&mut link as &mut dyn keel_protocols::Transport);
    f(&mut c)
}

fn text<const N: usize>(s: &str) -> heapless::String<N> {
    heapless::String::try_from(s).expect("fits")
}

#[test]
fn lines_carry_the_clients_tag() {
    let mut console = Console::default();
    run(&mut console, 1, |c| {
        assert_eq!(c.write_line(&text("before a tag")), Ok(()));
        assert_eq!(c.set_tag(&text("shell")), Ok(()));
        assert_eq!(c.write_line(&text("héllo, wörld")), Ok(()));
        assert_eq!(c.flush(), Ok(()));
    });
    run(&mut console, 2, |c| {
        assert_eq!(c.write_line(&text("")), Ok(()))
    });
    assert_eq!(
        console.out,
        ["[?] before a tag", "[shell] héllo, wörld", "[?] "]
    );
    assert_eq!(console.flushes, 1);
}

#[test]
fn write_text_splits_lines_and_long_text() {
    let mut console = Console::default();
    let long: String = "é".repeat(LINE_MAX); // two bytes each: two full lines
    run(&mut console, 1, |c| {
        assert_eq!(c.write_text("one\ntwo"), Ok(()));
        assert_eq!(c.write_text(&long), Ok(()));
    });
    assert_eq!(console.out[..2], ["[?] one", "[?] two"]);
    let pieces: Vec<&str> = console.out[2..].iter().map(|l| &l[4..]).collect();
    assert_eq!(pieces.len(), 2);
    assert!(pieces.iter().all(|p| p.len() <= LINE_MAX));
    assert_eq!(pieces.concat(), long);
}

#[test]
fn the_console_refuses_bad_lines_and_tags() {
    let mut console = Console::default();
    run(&mut console, 1, |c| {
        assert_eq!(
            c.write_line(&text("a\nb")),
            Err(ConsoleError::ControlCharacter)
        );
        assert_eq!(
            c.write_line(&text("bell\u{7}")),
            Err(ConsoleError::ControlCharacter)
        );
        assert_eq!(c.set_tag(&text("")), Err(ConsoleError::BadTag));
        assert_eq!(c.set_tag(&text("two words")), Err(ConsoleError::BadTag));
    });
    assert!(console.out.is_empty());
}

#[test]
fn a_full_tag_table_is_an_error_reply() {
    let mut console = Console::default();
    for client in [1, 2] {
        run(&mut console, client, |c| {
            assert_eq!(c.set_tag(&text("t")), Ok(()))
        });
    }
    run(&mut console, 3, |c| {
        assert_eq!(
            c.set_tag(&text("t")),
            Err(ConsoleError::Rpc(RpcError::Full))
        );
        assert_eq!(c.write_line(&text("still served")), Ok(()));
    });
    run(&mut console, 2, |c| {
        assert_eq!(c.set_tag(&text("again")), Ok(()))
    });
    assert_eq!(console.out, ["[?] still served"]);
}

/// A scripted endpoint: hands out queued messages, records what was sent.
#[derive(Default)]
struct Script {
    queue: VecDeque<Incoming>,
    /// For each receive: the reply sent with it, if it was a ReplyRecv.
    log: Vec<Option<OutMessage>>,
}

impl Script {
    fn next(&mut self, into: &mut Incoming) {
        *into = self.queue.pop_front().expect("the test queued enough");
    }
}

impl ServerTransport for Script {
    fn recv(&mut self, into: &mut Incoming) {
        self.log.push(None);
        self.next(into);
    }

    fn reply_recv(&mut self, reply: &OutMessage, into: &mut Incoming) {
        self.log.push(Some(reply.clone()));
        self.next(into);
    }
}

#[test]
fn the_loop_replies_to_requests_and_not_to_signals() {
    // A flush (op 2, no arguments) as the server receives it.
    let request_from = |client: u16| {
        let mut request = Incoming {
            badge: badge(client),
            ..Incoming::default()
        };
        let header = Header {
            protocol: PROTOCOL,
            version: VERSION,
            op: 2,
            relay: None,
        };
        request.message.label = header.label();
        request
    };
    let signal = SignalBadge::event(3).expect("in range").bits()
        | SignalBadge::event(5).expect("in range").bits();
    let mut script = Script::default();
    script.queue.push_back(request_from(1));
    script.queue.push_back(Incoming {
        badge: signal,
        ..Incoming::default()
    });
    script.queue.push_back(request_from(2));
    let mut console = Console::default();
    let mut serve_loop = ServeLoop::new();
    for _ in 0..3 {
        serve_loop.step(&mut script, &mut console);
    }
    assert_eq!(console.flushes, 2);
    assert_eq!(console.signals.len(), 1);
    assert_eq!(console.signals[0].iter().collect::<Vec<_>>(), [3, 5]);
    // First a Recv; then the first flush's reply; then a Recv, as the signal is owed nothing.
    assert!(script.log[0].is_none());
    assert_eq!(
        script.log[1].as_ref().map(|r| (r.label, r.length)),
        Some((0, 0))
    );
    assert!(script.log[2].is_none());
}
