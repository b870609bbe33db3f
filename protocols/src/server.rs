//! The server half: who is asking ([`Caller`], from the badge and a relay
//! word), the checks every request passes before its operation's decoder
//! runs ([`accept`]), error replies ([`write_error`]), and the receive loop
//! ([`ServeLoop`], [`serve`]) over a [`ServerTransport`]. Generated dispatch
//! functions are built on these; the loop never panics on what it receives
//! and always answers a Call, with an error when the request was malformed.

use crate::badge::{classify, ActivityId, BadgeError, ClientBadge, Delivered, Rights, SignalSet};
use crate::error::{ProtocolError, RpcError};
use crate::wire::{Header, Incoming, Label, OutMessage, REPLY_ERROR, REPLY_RPC_ERROR};

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
    // The usual request, of this protocol and version and not relayed, is
    // told by one comparison of the label above its operation byte (bits
    // past the relay flag must be zero too).
    let usual = Header {
        protocol,
        version,
        op: 0,
        relay: None,
    }
    .label();
    let label = request.message.label;
    if label & !0xff == usual {
        return Ok(Accepted {
            op: label as u8,
            caller: Caller {
                badge,
                activity: badge.activity(),
            },
            prefix: 0,
        });
    }
    accept_other(request, badge, protocol, version)
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

/// Replaces `reply` with an error reply carrying `error`.
pub fn write_error<E: ProtocolError>(reply: &mut OutMessage, error: E) {
    reply.caps.clear();
    match (error.code(), error.rpc()) {
        (Some(code), _) => {
            reply.label = REPLY_ERROR;
            reply.words[0] = code;
            reply.length = 1;
        }
        (None, rpc) => {
            reply.label = REPLY_RPC_ERROR;
            reply.words[..3].copy_from_slice(&rpc.unwrap_or(RpcError::BadReply).to_words());
            reply.length = 3;
        }
    }
}

/// Receives requests and sends replies: seL4's Recv and ReplyRecv on the
/// server's endpoint, with its Reply object.
pub trait ServerTransport {
    /// Waits for the next request or notification.
    fn recv(&mut self, into: &mut Incoming);
    /// Answers the request last received with `reply`, then waits as `recv`.
    fn reply_recv(&mut self, reply: &OutMessage, into: &mut Incoming);
}

/// What a server does with what it receives.
pub trait Service {
    /// Answers a client's request: writes `reply` (a generated `dispatch` does this).
    fn handle(&mut self, request: &Incoming, reply: &mut OutMessage);
    /// Takes the signals of a bound notification; nothing is answered.
    fn signalled(&mut self, signals: SignalSet);
}

/// The state of a server's receive loop between two messages.
#[derive(Default)]
pub struct ServeLoop {
    incoming: Incoming,
    reply: OutMessage,
    owes_reply: bool,
}

impl ServeLoop {
    /// A loop that has received nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends the reply owed (if any), receives one message and handles it.
    #[inline(always)]
    pub fn step(&mut self, transport: &mut impl ServerTransport, service: &mut impl Service) {
        if self.owes_reply {
            transport.reply_recv(&self.reply, &mut self.incoming);
        } else {
            transport.recv(&mut self.incoming);
        }
        self.owes_reply = answer(service, &self.incoming, &mut self.reply);
    }
}

/// Handles what was received: signals go to the service, a request is
/// answered into `reply`. Returns whether a reply is owed.
#[inline(always)]
fn answer(service: &mut impl Service, incoming: &Incoming, reply: &mut OutMessage) -> bool {
    match classify(incoming.badge) {
        Ok(Delivered::Signals(signals)) => {
            service.signalled(signals);
            false
        }
        _ => {
            service.handle(incoming, reply);
            true
        }
    }
}

/// Serves forever: the body of a server's `main` after set-up. The steps
/// of [`ServeLoop::step`], with whether a reply is owed kept in the flow
/// of the loop rather than in memory.
pub fn serve(transport: &mut impl ServerTransport, service: &mut impl Service) -> ! {
    let mut incoming = Incoming::default();
    let mut reply = OutMessage::new();
    transport.recv(&mut incoming);
    loop {
        if answer(service, &incoming, &mut reply) {
            transport.reply_recv(&reply, &mut incoming);
        } else {
            transport.recv(&mut incoming);
        }
    }
}
