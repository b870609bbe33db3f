//! An in-memory transport for host tests: a client stub's Call goes straight
//! to a server's dispatch function and back, carried as the kernel carries
//! it (the label, `length` words and nothing past them, caps as the receiver
//! would see them), so a test exercises stub, encoder, decoder, dispatch,
//! reply and reply decoder without a kernel.

use crate::cap::ReceivedCap;
use crate::client::Transport;
use crate::error::RpcError;
use crate::wire::{InMessage, Incoming, Message, OutMessage, MAX_WORDS};

/// A client's endpoint cap, connected in memory to a server.
pub struct Loopback<S, R> {
    badge: u64,
    serve: S,
    resolve: R,
}

impl<S, R> Loopback<S, R>
where
    S: FnMut(&Incoming, &mut OutMessage),
    R: FnMut(u64) -> Option<ReceivedCap>,
{
    /// A connection whose requests arrive with `badge` and are answered by
    /// `serve`; `resolve` says what a sent CPtr arrives as (`None`: the
    /// kernel finds no cap there, and, as it does, transfers no more caps).
    pub fn new(badge: u64, serve: S, resolve: R) -> Self {
        Loopback {
            badge,
            serve,
            resolve,
        }
    }

    /// Changes the badge later requests arrive with.
    pub fn set_badge(&mut self, badge: u64) {
        self.badge = badge;
    }
}

/// What the receiver of `sent` gets: at most [`MAX_WORDS`] words, the words
/// past `length` zero, the caps that resolve, up to the first that does not.
fn carry(sent: &OutMessage, resolve: &mut impl FnMut(u64) -> Option<ReceivedCap>) -> InMessage {
    let length = sent.length.min(MAX_WORDS);
    let mut got = Message::new();
    got.label = sent.label;
    got.length = length;
    got.words[..length].copy_from_slice(&sent.words[..length]);
    // No more than were sent, so they fit.
    got.caps = sent.caps.iter().map_while(|&cptr| resolve(cptr)).collect();
    got
}

impl<S, R> Transport for Loopback<S, R>
where
    S: FnMut(&Incoming, &mut OutMessage),
    R: FnMut(u64) -> Option<ReceivedCap>,
{
    fn call(&mut self, request: &OutMessage, reply: &mut InMessage) -> Result<(), RpcError> {
        let incoming = Incoming {
            badge: self.badge,
            message: carry(request, &mut self.resolve),
        };
        let mut answer = OutMessage::new();
        (self.serve)(&incoming, &mut answer);
        *reply = carry(&answer, &mut self.resolve);
        Ok(())
    }
}
