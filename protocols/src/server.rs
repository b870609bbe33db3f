//! The server half: who is asking ([`Caller`], from the badge and a relay
//! word), the checks every request passes before its operation's decoder
//! runs ([`accept`]), error replies ([`write_error`]), and the receive loop
//! ([`ServeLoop`], [`serve`]) over a [`ServerTransport`]. Generated dispatch
//! functions are built on these; the loop never panics on what it receives
//! and always answers a Call, with an error when the request was malformed.
//!
//! The loop first offers what arrived in registers ([`Arrival`]) to
//! [`Service::handle_registers`]: the usual request of an operation whose
//! arguments are fixed-size values and whose reply fits in registers is
//! answered from them ([`accept_usual`], a generated `dispatch_registers`),
//! without either 120-word message buffer. Any other request (another
//! label, length or cap count) is read whole and goes to
//! [`Service::handle`], which names what is wrong with it; both paths give
//! a request the same answer.

use crate::badge::{classify, ActivityId, BadgeError, ClientBadge, Delivered, Rights, SignalSet};
use crate::error::{ProtocolError, RpcError};
use crate::registers::{Arrival, RegisterReply};
use crate::wire::{
    Header, Incoming, Label, OutMessage, REGISTER_WORDS, REPLY_ERROR, REPLY_RPC_ERROR,
};

/// Who a request is from and whom it is charged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The badge of the cap it came through.
    pub badge: ClientBadge,
    /// The activity charged: the badge's, or the one a relaying caller named.
    pub activity: ActivityId,
}

impl Caller {
    /// True when the request names an activity other than the badge's own
    /// (a server forwarding work for its client).
    pub fn relayed(&self) -> bool {
        self.activity != self.badge.activity()
    }

    /// Checks that the badge carries `needed`.
    ///
    /// # Errors
    /// `NoRight` when it does not.
    #[inline(always)]
    pub fn require(&self, needed: Rights) -> Result<(), RpcError> {
        if self.badge.rights().contains(needed) {
            Ok(())
        } else {
            Err(RpcError::NoRight { needed })
        }
    }
}

/// A request that passed the checks common to every operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The operation asked for.
    pub op: u8,
    /// Who asks.
    pub caller: Caller,
    /// Words before the operation's arguments.
    pub prefix: usize,
}

/// Checks a request for protocol `protocol` at `version`: the badge names a
/// client, the label names this protocol and version, and a relayed request
/// comes from a caller with the relay right.
///
/// # Errors
/// In that order: `BadBadge`, `WrongProtocol`, `VersionMismatch`, `NoRight`
/// (relay), and the relay word's `WrongLength` or `Undecodable`.
#[inline(always)]
pub fn accept(request: &Incoming, protocol: u16, version: u8) -> Result<Accepted, RpcError> {
    let badge = match classify(request.badge) {
        Ok(Delivered::Client(badge)) => badge,
        Ok(Delivered::Signals(_)) => return Err(RpcError::BadBadge(BadgeError::WrongKind)),
        Err(e) => return Err(RpcError::BadBadge(e)),
    };
    match usual(badge, request.message.label, protocol, version) {
        Some((op, caller)) => Ok(Accepted {
            op,
            caller,
            prefix: 0,
        }),
        None => accept_other(request, badge, protocol, version),
    }
}

/// The operation and caller of the usual request, of protocol `protocol`
/// at `version` and not relayed, from a client: what [`accept`] accepts
/// with no word before the arguments. `None` for any other message (left
/// to [`accept`] on the whole message, which refuses it or reads its
/// relay word).
#[inline(always)]
pub fn accept_usual(request: &Arrival, protocol: u16, version: u8) -> Option<(u8, Caller)> {
    match classify(request.badge) {
        Ok(Delivered::Client(badge)) => usual(badge, request.label, protocol, version),
        _ => None,
    }
}

/// The operation and caller when `label` is the usual one (of this
/// protocol and version, not relayed), told by one comparison of the label
/// above its operation byte (bits past the relay flag must be zero too).
#[inline(always)]
fn usual(badge: ClientBadge, label: u64, protocol: u16, version: u8) -> Option<(u8, Caller)> {
    let usual = Header {
        protocol,
        version,
        op: 0,
        relay: None,
    }
    .label();
    (label & !0xff == usual).then(|| {
        let caller = Caller {
            badge,
            activity: badge.activity(),
        };
        (label as u8, caller)
    })
}

/// [`accept`] for a label other than the usual: a relayed request, or one
/// refused with the first thing wrong with it.
#[inline(never)]
fn accept_other(
    request: &Incoming,
    badge: ClientBadge,
    protocol: u16,
    version: u8,
) -> Result<Accepted, RpcError> {
    let label = Label::split(request.message.label);
    if label.protocol != protocol {
        return Err(RpcError::WrongProtocol {
            expected: protocol,
            got: label.protocol,
        });
    }
    if label.version != version {
        return Err(RpcError::VersionMismatch {
            server: version,
            client: label.version,
        });
    }
    let mut caller = Caller {
        badge,
        activity: badge.activity(),
    };
    if label.relayed {
        caller.require(Rights::RELAY)?;
    }
    let header = Header::parse(&request.message)?;
    if let Some(activity) = header.relay {
        caller.activity = activity;
    }
    Ok(Accepted {
        op: header.op,
        caller,
        prefix: header.prefix_words(),
    })
}

/// The error reply carrying `error`: the protocol's code in one word, or
/// the three words of an [`RpcError`].
pub fn error_reply<E: ProtocolError>(error: E) -> RegisterReply {
    match (error.code(), error.rpc()) {
        (Some(code), _) => RegisterReply {
            label: REPLY_ERROR,
            length: 1,
            words: [code, 0, 0, 0],
        },
        (None, rpc) => {
            let [kind, a, b] = rpc.unwrap_or(RpcError::BadReply).to_words();
            RegisterReply {
                label: REPLY_RPC_ERROR,
                length: 3,
                words: [kind, a, b, 0],
            }
        }
    }
}

/// Replaces `reply` with an error reply carrying `error`.
pub fn write_error<E: ProtocolError>(reply: &mut OutMessage, error: E) {
    let error = error_reply(error);
    reply.caps.clear();
    reply.label = error.label;
    reply.length = error.length;
    reply.words[..REGISTER_WORDS].copy_from_slice(&error.words);
}

/// What a server sends with its next receive.
#[derive(Clone, Copy, Debug)]
pub enum Answer<'a> {
    /// Nothing: no reply is owed (the first receive, or after signals).
    Nothing,
    /// This reply, from its message buffer.
    Message(&'a OutMessage),
    /// This reply, in registers.
    Registers(RegisterReply),
}

/// Receives requests and sends replies: seL4's Recv and ReplyRecv on the
/// server's endpoint, with its Reply object.
pub trait ServerTransport {
    /// Sends `answer` to the request last received, if there is one to
    /// send, and waits for the next request or notification (ReplyRecv, or
    /// Recv for [`Answer::Nothing`]). Returns what arrived in registers;
    /// the rest of the message stays to be read, before the next
    /// `exchange`, by [`ServerTransport::read`] or
    /// [`ServerTransport::read_past`].
    fn exchange(&mut self, answer: Answer<'_>) -> Arrival;
    /// Reads the whole message that arrived as `arrival`: its registers,
    /// the words past them and its caps.
    fn read(&mut self, arrival: &Arrival, into: &mut Incoming);
    /// Reads words [`REGISTER_WORDS`] onward of the message last arrived
    /// into `into`, as many as it holds; false when they cannot be read.
    fn read_past(&mut self, into: &mut [u64]) -> bool;
}

/// What a server does with what it receives.
pub trait Service {
    /// Answers a client's request: writes `reply` (a generated `dispatch` does this).
    fn handle(&mut self, request: &Incoming, reply: &mut OutMessage);
    /// Answers a client's request from what arrived in registers, and the
    /// words past them read through `past` (which fills the slice it is
    /// given with words [`REGISTER_WORDS`] onward, false when it cannot),
    /// when it can: a generated `dispatch_registers` does this for the
    /// usual request of an operation of fixed-size arguments whose reply
    /// fits in registers. `None` leaves the request to
    /// [`Service::handle`], read whole; by default every request is.
    #[inline(always)]
    fn handle_registers(
        &mut self,
        request: &Arrival,
        past: impl FnOnce(&mut [u64]) -> bool,
    ) -> Option<RegisterReply> {
        let _ = (request, past);
        None
    }
    /// Takes the signals of a bound notification; nothing is answered.
    fn signalled(&mut self, signals: SignalSet);
}

/// What the last message received is owed.
#[derive(Clone, Copy, Debug, Default)]
enum Owed {
    /// Nothing (none received yet, or it was a notification's signals).
    #[default]
    Nothing,
    /// The reply in the loop's message buffer.
    Message,
    /// This reply, in registers.
    Registers(RegisterReply),
}

impl Owed {
    /// What to send with the next receive, the message buffer being `reply`.
    #[inline(always)]
    fn answer(self, reply: &OutMessage) -> Answer<'_> {
        match self {
            Owed::Nothing => Answer::Nothing,
            Owed::Message => Answer::Message(reply),
            Owed::Registers(answer) => Answer::Registers(answer),
        }
    }
}

/// The state of a server's receive loop between two messages.
#[derive(Default)]
pub struct ServeLoop {
    incoming: Incoming,
    reply: OutMessage,
    owed: Owed,
}

impl ServeLoop {
    /// A loop that has received nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends the reply owed (if any), receives one message and handles it.
    #[inline(always)]
    pub fn step(&mut self, transport: &mut impl ServerTransport, service: &mut impl Service) {
        let arrival = transport.exchange(self.owed.answer(&self.reply));
        self.owed = respond(
            transport,
            service,
            &arrival,
            &mut self.incoming,
            &mut self.reply,
        );
    }
}

/// Handles what arrived: signals go to the service; a request is answered
/// from its registers when the service can, else read whole into
/// `incoming` and answered into `reply`. Returns what is owed.
#[inline(always)]
fn respond(
    transport: &mut impl ServerTransport,
    service: &mut impl Service,
    arrival: &Arrival,
    incoming: &mut Incoming,
    reply: &mut OutMessage,
) -> Owed {
    if let Ok(Delivered::Signals(signals)) = classify(arrival.badge) {
        service.signalled(signals);
        return Owed::Nothing;
    }
    if let Some(answer) = service.handle_registers(arrival, |past| transport.read_past(past)) {
        return Owed::Registers(answer);
    }
    transport.read(arrival, incoming);
    service.handle(incoming, reply);
    Owed::Message
}

/// Serves forever: the body of a server's `main` after set-up. The steps
/// of [`ServeLoop::step`], with what is owed kept in the flow of the loop
/// rather than in memory: what a message is owed is sent in the same pass
/// of the loop, so each kind of answer goes straight to its own receive.
pub fn serve(transport: &mut impl ServerTransport, service: &mut impl Service) -> ! {
    let mut incoming = Incoming::default();
    let mut reply = OutMessage::new();
    let mut arrival = transport.exchange(Answer::Nothing);
    loop {
        let owed = respond(transport, service, &arrival, &mut incoming, &mut reply);
        arrival = transport.exchange(owed.answer(&reply));
    }
}
