//! The console protocol's client side over the loopback transport (how
//! `write_text` splits text into lines) and the receive loop: replies owed
//! after requests, none after notification signals. The console server's
//! own behaviour (tags, refusals, its bounded table) is tested with it, in
//! servers/console/core.

use std::collections::VecDeque;

use keel_protocols::badge::SignalBadge;
use keel_protocols::console::{
    dispatch, dispatch_registers, ConsoleClient, ConsoleError, ConsoleServer, Line, Tag, LINE_MAX,
    PROTOCOL, VERSION,
};
use keel_protocols::loopback::Loopback;
use keel_protocols::registers::{Arrival, RegisterReply};
use keel_protocols::server::Answer;
use keel_protocols::wire::{Header, Incoming, OutMessage, REPLY_OK, REPLY_RPC_ERROR};
use keel_protocols::{
    ActivityId, Caller, ClientBadge, ClientId, Rights, RpcError, ServeLoop, ServerTransport,
    Service, SignalSet,
};

/// Records what it is asked; checks nothing.
#[derive(Default)]
struct Console {
    out: Vec<String>,
    flushes: usize,
    signals: Vec<SignalSet>,
}

impl ConsoleServer for Console {
    fn write_line(&mut self, _: &Caller, text: Line) -> Result<(), ConsoleError> {
        self.out.push(text.as_str().to_string());
        Ok(())
    }

    fn flush(&mut self, _: &Caller) -> Result<(), ConsoleError> {
        self.flushes += 1;
        Ok(())
    }

    fn set_tag(&mut self, _: &Caller, _: Tag) -> Result<(), ConsoleError> {
        Ok(())
    }
}

impl Service for Console {
    fn handle(&mut self, request: &Incoming, reply: &mut OutMessage) {
        dispatch(self, request, reply);
    }

    fn handle_registers(
        &mut self,
        request: &Arrival,
        past: impl FnOnce(&mut [u64]) -> bool,
    ) -> Option<RegisterReply> {
        dispatch_registers(self, request, past)
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

#[test]
fn write_text_splits_lines_and_long_text() {
    let mut console = Console::default();
    let long: String = "é".repeat(LINE_MAX); // two bytes each: two full lines
    run(&mut console, 1, |c| {
        assert_eq!(c.write_text("one\ntwo"), Ok(()));
        assert_eq!(c.write_text(&long), Ok(()));
    });
    assert_eq!(console.out[..2], ["one", "two"]);
    let pieces: Vec<&str> = console.out[2..].iter().map(String::as_str).collect();
    assert_eq!(pieces.len(), 2);
    assert!(pieces.iter().all(|p| p.len() <= LINE_MAX));
    assert_eq!(pieces.concat(), long);
}

/// A scripted endpoint: hands out queued messages, records what was sent.
#[derive(Default)]
struct Script {
    queue: VecDeque<Incoming>,
    /// The message last handed out.
    current: Incoming,
    /// For each receive: the reply sent with it, if it was a ReplyRecv,
    /// and whether it went in registers.
    log: Vec<Option<(OutMessage, bool)>>,
}

impl ServerTransport for Script {
    fn exchange(&mut self, answer: Answer<'_>) -> Arrival {
        self.log.push(match answer {
            Answer::Nothing => None,
            Answer::Message(reply) => Some((reply.clone(), false)),
            Answer::Registers(reply) => Some((reply.into(), true)),
        });
        self.current = self.queue.pop_front().expect("the test queued enough");
        self.current.arrival()
    }

    fn read(&mut self, _arrival: &Arrival, into: &mut Incoming) {
        *into = self.current.clone();
    }

    fn read_past(&mut self, into: &mut [u64]) -> bool {
        self.current.read_past(into)
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
    // A flush one word long: malformed, left to the whole-message path.
    let mut malformed = request_from(3);
    malformed.message.length = 1;
    script.queue.push_back(malformed);
    script.queue.push_back(request_from(4));
    let mut console = Console::default();
    let mut serve_loop = ServeLoop::new();
    for _ in 0..5 {
        serve_loop.step(&mut script, &mut console);
    }
    assert_eq!(console.flushes, 3);
    assert_eq!(console.signals.len(), 1);
    assert_eq!(console.signals[0].iter().collect::<Vec<_>>(), [3, 5]);
    // First a Recv; then the first flush's reply, in registers; then a
    // Recv, as the signal is owed nothing; the second flush's reply; the
    // malformed flush's error, from the message buffer.
    let sent: Vec<_> = script
        .log
        .iter()
        .map(|r| {
            r.as_ref()
                .map(|(r, regs)| (r.label, r.used().map(<[u64]>::to_vec), *regs))
        })
        .collect();
    let wrong_length = RpcError::WrongLength { words: 1 }.to_words().to_vec();
    assert_eq!(
        sent,
        [
            None,
            Some((REPLY_OK, Some(vec![]), true)),
            None,
            Some((REPLY_OK, Some(vec![]), true)),
            Some((REPLY_RPC_ERROR, Some(wrong_length), false)),
        ]
    );
}
