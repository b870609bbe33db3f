//! What travels in registers alone: a message as the kernel hands it over
//! ([`Arrival`]: the badge, the label, the counts of words and caps, and
//! the words carried in registers, before anything is read from the IPC
//! buffer) and a reply that fits in registers ([`RegisterReply`]). A
//! server's receive loop answers the usual request of an operation of
//! fixed-size arguments from these (see [`crate::server`]), without the
//! 120-word message buffers of [`crate::wire`].

use zerocopy::{Immutable, IntoBytes};

use crate::cap::ReceivedCap;
use crate::error::RpcError;
use crate::wire::{words_of, Incoming, OutMessage, REGISTER_WORDS, REPLY_OK};

impl Incoming {
    /// What of this message a receiver gets in registers, as a transport
    /// over the kernel hands it over (an in-memory transport's
    /// [`ServerTransport::exchange`](crate::ServerTransport::exchange)).
    pub fn arrival(&self) -> Arrival {
        let mut registers = [0; REGISTER_WORDS];
        registers.copy_from_slice(&self.message.words[..REGISTER_WORDS]);
        let unwrapped = self
            .message
            .caps
            .iter()
            .enumerate()
            .fold(0, |bits, (i, cap)| {
                bits | (u8::from(matches!(cap, ReceivedCap::Unwrapped { .. })) << i)
            });
        Arrival {
            badge: self.badge,
            label: self.message.label,
            length: self.message.length,
            caps: self.message.caps.len(),
            unwrapped,
            registers,
        }
    }

    /// Reads this message's words past the registers into `into` (an
    /// in-memory transport's
    /// [`ServerTransport::read_past`](crate::ServerTransport::read_past)):
    /// false when the message has fewer.
    pub fn read_past(&self, into: &mut [u64]) -> bool {
        let past = self
            .message
            .used()
            .and_then(|w| w.get(REGISTER_WORDS..REGISTER_WORDS + into.len()));
        past.map(|w| into.copy_from_slice(w)).is_some()
    }
}

/// A message as the kernel hands it over, before anything is read from
/// the IPC buffer: the badge, the label, how many words and caps were
/// sent, and the words that came in registers (those past `length` mean
/// nothing). A server reads the rest only when it needs it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Arrival {
    /// The badge of the cap it came through (or a notification's word).
    pub badge: u64,
    /// The label.
    pub label: u64,
    /// Words sent.
    pub length: usize,
    /// Caps sent.
    pub caps: usize,
    /// Bit `i` set: cap `i` arrived unwrapped (as its badge).
    pub unwrapped: u8,
    /// Message words 0 to [`REGISTER_WORDS`], carried in registers.
    pub registers: [u64; REGISTER_WORDS],
}

impl Arrival {
    /// Fills `words` with the message's first `words.len()` words: the
    /// registers, then the words past them through `past` (which reads
    /// them into the slice it is given, false when it cannot).
    ///
    /// # Errors
    /// `WrongLength` (of [`REGISTER_WORDS`] words) when `past` could not:
    /// what the decoder reports of a message read whole, which a transport
    /// cuts to its registers when it cannot read the words past them.
    #[inline(always)]
    pub fn words(
        &self,
        words: &mut [u64],
        past: impl FnOnce(&mut [u64]) -> bool,
    ) -> Result<(), RpcError> {
        let in_registers = words.len().min(REGISTER_WORDS);
        words[..in_registers].copy_from_slice(&self.registers[..in_registers]);
        if words.len() <= REGISTER_WORDS || past(&mut words[REGISTER_WORDS..]) {
            Ok(())
        } else {
            Err(RpcError::WrongLength {
                words: REGISTER_WORDS as u8,
            })
        }
    }
}

/// A reply carried in registers alone: a label and at most
/// [`REGISTER_WORDS`] words, no caps. Every error reply is one, and so is
/// the usual reply of an operation whose reply layout is
/// [`Layout::in_registers`](crate::wire::Layout::in_registers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegisterReply {
    /// The label.
    pub label: u64,
    /// Words used.
    pub length: usize,
    /// The words; those past `length` are zero.
    pub words: [u64; REGISTER_WORDS],
}

impl RegisterReply {
    /// The usual reply, carrying the fixed-size `value`.
    ///
    /// # Errors
    /// `TooLong` when it does not fit in registers.
    #[inline(always)]
    pub fn ok<T: IntoBytes + Immutable>(value: &T) -> Result<Self, RpcError> {
        let mut words = [0; REGISTER_WORDS];
        let bytes = value.as_bytes();
        let area = words.as_mut_bytes().get_mut(..bytes.len());
        area.ok_or(RpcError::TooLong)?.copy_from_slice(bytes);
        Ok(RegisterReply {
            label: REPLY_OK,
            length: words_of::<T>(),
            words,
        })
    }
}

impl From<RegisterReply> for OutMessage {
    fn from(reply: RegisterReply) -> Self {
        let mut message = OutMessage::new();
        message.label = reply.label;
        message.length = reply.length;
        message.words[..REGISTER_WORDS].copy_from_slice(&reply.words);
        message
    }
}
