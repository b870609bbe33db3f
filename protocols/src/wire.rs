//! How a protocol message is laid out in one IPC message, and the encoder and
//! decoder that every stub and dispatcher share. Pure: no system calls, so
//! every check here runs under `cargo test`.
//!
//! ```text
//! label:  bits 0-7 op | 8-15 version | 16-31 protocol | 32 relayed | 33-51 zero
//! words:  [relay activity]  fixed args...  [byte count  bytes...]
//!          if relayed       zerocopy,      if the op has variable-length args:
//!                           each from a    postcard, packed little-endian
//!                           word boundary  into the words that follow
//! caps:   the op's caps, in declaration order (extra caps 0..3)
//! ```
//!
//! A reply's label is [`REPLY_OK`] (words as above, no relay word), or an
//! error: [`REPLY_ERROR`] with the protocol's error code in word 0, or
//! [`REPLY_RPC_ERROR`] with the three words of an [`RpcError`].
//!
//! The decoder trusts nothing: the word count must match the layout exactly,
//! the byte count must match the words that carry it, fixed arguments must be
//! valid values of their type with zero padding, postcard data must decode
//! within its type's bound (heapless capacities) and leave no bytes over, and
//! caps must be there and of the declared type. Each failure is a distinct
//! [`RpcError`]; none panics.

use keel_abi::invocation::{MAX_EXTRA_CAPS, MAX_MESSAGE_LENGTH, MESSAGE_REGISTERS_IN_REGS};
use serde::de::DeserializeOwned;
use serde::Serialize;
use zerocopy::{Immutable, IntoBytes, KnownLayout, TryFromBytes};

use crate::badge::ActivityId;
use crate::cap::{CapKind, Grant, Granted, ReceivedCap};
use crate::error::RpcError;

/// Words in one message.
pub const MAX_WORDS: usize = MAX_MESSAGE_LENGTH;
/// Words the kernel carries in registers.
pub const REGISTER_WORDS: usize = MESSAGE_REGISTERS_IN_REGS;
/// Caps in one message.
pub const MAX_CAPS: usize = MAX_EXTRA_CAPS;
/// Reply label: success.
pub const REPLY_OK: u64 = 0;
/// Reply label: the protocol's own error, its code in word 0.
pub const REPLY_ERROR: u64 = 1;
/// Reply label: an [`RpcError`] in words 0-2.
pub const REPLY_RPC_ERROR: u64 = 2;

const RELAYED: u64 = 1 << 32;

/// Words a fixed-size argument of type `T` takes.
pub const fn words_of<T>() -> usize {
    core::mem::size_of::<T>().div_ceil(8)
}

/// One message as the transport carries it. `C` is how caps are named: a
/// CPtr (`u64`) on the way out, a [`ReceivedCap`] on the way in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message<C> {
    /// The label.
    pub label: u64,
    /// Words used; the rest of `words` means nothing.
    pub length: usize,
    /// The message registers.
    pub words: [u64; MAX_WORDS],
    /// The caps.
    pub caps: heapless::Vec<C, MAX_CAPS>,
}

/// A message to send: caps named by CPtr.
pub type OutMessage = Message<u64>;
/// A message received: caps as they arrived.
pub type InMessage = Message<ReceivedCap>;

impl<C> Message<C> {
    /// An empty message with label 0.
    pub const fn new() -> Self {
        Message {
            label: 0,
            length: 0,
            words: [0; MAX_WORDS],
            caps: heapless::Vec::new(),
        }
    }

    /// The words used, or `None` when `length` is past [`MAX_WORDS`].
    #[inline(always)]
    pub fn used(&self) -> Option<&[u64]> {
        self.words.get(..self.length)
    }
}

impl<C> Default for Message<C> {
    fn default() -> Self {
        Self::new()
    }
}

/// A request as a server receives it: the sender's badge and its message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Incoming {
    /// The badge of the cap it came through (or a notification's word).
    pub badge: u64,
    /// The message.
    pub message: InMessage,
}

/// The fields of a request's label word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label {
    /// The protocol; 0 (which names none) when a bit past the relay flag is set.
    pub protocol: u16,
    /// Its version.
    pub version: u8,
    /// The operation.
    pub op: u8,
    /// Whether word 0 names the activity charged.
    pub relayed: bool,
}

impl Label {
    /// Splits a label word.
    #[inline(always)]
    pub const fn split(label: u64) -> Label {
        Label {
            protocol: if label >> 33 != 0 {
                0
            } else {
                (label >> 16) as u16
            },
            version: (label >> 8) as u8,
            op: label as u8,
            relayed: label & RELAYED != 0,
        }
    }
}

/// What the label of a request says, with the activity a relayed one names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The protocol (0 names none).
    pub protocol: u16,
    /// Its version.
    pub version: u8,
    /// The operation.
    pub op: u8,
    /// The activity named by a relaying caller, if any.
    pub relay: Option<ActivityId>,
}

impl Header {
    /// The label word (the relay activity travels in word 0).
    #[inline(always)]
    pub const fn label(self) -> u64 {
        (self.op as u64)
            | ((self.version as u64) << 8)
            | ((self.protocol as u64) << 16)
            | if self.relay.is_some() { RELAYED } else { 0 }
    }

    /// Reads a request's label and, when it is relayed, its word 0.
    ///
    /// # Errors
    /// `WrongLength` when a relayed request has no word 0, `Undecodable`
    /// (argument 255) when word 0 is no activity.
    #[inline(always)]
    pub fn parse(message: &InMessage) -> Result<Header, RpcError> {
        let Label {
            protocol,
            version,
            op,
            relayed,
        } = Label::split(message.label);
        let relay = if !relayed {
            None
        } else {
            let word =
                message
                    .used()
                    .and_then(|w| w.first().copied())
                    .ok_or(RpcError::WrongLength {
                        words: message.length.min(255) as u8,
                    })?;
            let activity = u16::try_from(word).map_err(|_| RpcError::Undecodable { arg: 255 })?;
            Some(ActivityId(activity))
        };
        Ok(Header {
            protocol,
            version,
            op,
            relay,
        })
    }

    /// Words before the arguments.
    #[inline(always)]
    pub const fn prefix_words(self) -> usize {
        if self.relay.is_some() {
            1
        } else {
            0
        }
    }
}

/// The shape of one side of an operation, computed from its declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Words of fixed-size arguments.
    pub fixed_words: usize,
    /// Whether variable-length arguments follow (a byte count, then bytes).
    pub has_data: bool,
    /// Caps taken.
    pub caps: usize,
}

impl Layout {
    /// True when this side is fixed-size values only, in at most the four
    /// words the kernel carries in registers (and no caps): a reply of
    /// this layout can be decoded straight from the registers.
    #[inline(always)]
    pub const fn in_registers(self) -> bool {
        self.fixed_only() && self.fixed_words <= REGISTER_WORDS
    }

    /// True when this side is fixed-size values only (no variable-length
    /// data, no caps), so its words are as many as the layout says.
    #[inline(always)]
    pub const fn fixed_only(self) -> bool {
        !self.has_data && self.caps == 0
    }

    /// True when this side fits in one message after `prefix` words.
    #[inline(always)]
    pub const fn fits(self, prefix: usize) -> bool {
        prefix + self.fixed_words + self.has_data as usize <= MAX_WORDS && self.caps <= MAX_CAPS
    }
}

/// Writes one side of an operation into a message, in declaration order.
pub struct Encoder<'m> {
    msg: &'m mut OutMessage,
    word_at: usize,
    fixed_end: usize,
    data_bytes: usize,
    has_data: bool,
}

impl<'m> Encoder<'m> {
    /// Starts `msg` with `label`, the word `prefix` (a relayed request's
    /// activity) first if there is one, for arguments of `layout`.
    ///
    /// # Errors
    /// `TooLong` when the layout does not fit in a message.
    #[inline(always)]
    pub fn new(
        msg: &'m mut OutMessage,
        label: u64,
        prefix: Option<u64>,
        layout: Layout,
    ) -> Result<Self, RpcError> {
        let prefix_words = usize::from(prefix.is_some());
        if !layout.fits(prefix_words) {
            return Err(RpcError::TooLong);
        }
        let fixed_end = prefix_words + layout.fixed_words;
        msg.label = label;
        msg.caps.clear();
        if let Some(word) = prefix {
            msg.words[0] = word;
        }
        Ok(Encoder {
            msg,
            word_at: prefix_words,
            fixed_end,
            data_bytes: 0,
            has_data: layout.has_data,
        })
    }

    /// Appends a fixed-size argument, from the next word boundary.
    ///
    /// # Errors
    /// `TooLong` past the layout's fixed words.
    #[inline(always)]
    pub fn fixed<T: IntoBytes + Immutable>(&mut self, value: &T) -> Result<(), RpcError> {
        let end = self.word_at + words_of::<T>();
        if end > self.fixed_end {
            return Err(RpcError::TooLong);
        }
        let dst = self.msg.words[self.word_at..end].as_mut_bytes();
        dst.fill(0);
        dst[..core::mem::size_of::<T>()].copy_from_slice(value.as_bytes());
        self.word_at = end;
        Ok(())
    }

    /// Appends a variable-length argument as postcard.
    ///
    /// # Errors
    /// `TooLong` when it does not fit in the message (or the layout has no data).
    pub fn data<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RpcError> {
        if !self.has_data {
            return Err(RpcError::TooLong);
        }
        let area = self.msg.words[self.fixed_end + 1..].as_mut_bytes();
        let used = postcard::to_slice(value, &mut area[self.data_bytes..])
            .map_err(|_| RpcError::TooLong)?
            .len();
        self.data_bytes += used;
        Ok(())
    }

    /// Appends a cap.
    ///
    /// # Errors
    /// `TooLong` past [`MAX_CAPS`].
    pub fn cap<K: CapKind>(&mut self, cap: &Grant<K>) -> Result<(), RpcError> {
        self.msg
            .caps
            .push(cap.cptr())
            .map_err(|_| RpcError::TooLong)
    }

    /// Writes the byte count and the length; bytes past the data are zeroed.
    #[inline(always)]
    pub fn finish(self) {
        let mut length = self.fixed_end;
        if self.has_data {
            let data_words = self.data_bytes.div_ceil(8);
            let area = self.msg.words[self.fixed_end + 1..].as_mut_bytes();
            area[self.data_bytes..data_words * 8].fill(0);
            self.msg.words[self.fixed_end] = self.data_bytes as u64;
            length += 1 + data_words;
        }
        self.msg.length = length;
    }
}

/// Reads one side of an operation from a message, in declaration order.
pub struct Decoder<'m> {
    words: &'m [u64],
    caps: &'m [ReceivedCap],
    data: &'m [u8],
    word_at: usize,
    data_at: usize,
    cap_at: usize,
    arg: u8,
}

impl<'m> Decoder<'m> {
    /// Checks `msg` (after `prefix` words) against `layout`.
    ///
    /// # Errors
    /// `WrongLength` when the words do not fit the layout, `UnexpectedCaps`
    /// or `MissingCap` when the number of caps does not.
    #[inline(always)]
    pub fn new(msg: &'m InMessage, prefix: usize, layout: Layout) -> Result<Self, RpcError> {
        // The usual message of fixed-size arguments only, exactly as long
        // as its layout and with its caps, passes on two comparisons; any
        // other goes through the checks below in their order.
        if !layout.has_data
            && msg.length == prefix + layout.fixed_words
            && msg.caps.len() == layout.caps
        {
            if let Some(words) = msg.words.get(prefix..msg.length) {
                return Ok(Decoder::over(words, &msg.caps, &[]));
            }
        }
        let wrong_length = RpcError::WrongLength {
            words: msg.length.min(255) as u8,
        };
        let words = msg
            .used()
            .and_then(|w| w.get(prefix..))
            .ok_or(wrong_length)?;
        if msg.caps.len() > layout.caps {
            return Err(RpcError::UnexpectedCaps {
                count: msg.caps.len() as u8,
            });
        }
        if msg.caps.len() < layout.caps {
            return Err(RpcError::MissingCap {
                index: msg.caps.len() as u8,
            });
        }
        let data = if layout.has_data {
            let count = *words.get(layout.fixed_words).ok_or(wrong_length)?;
            let carried = &words[layout.fixed_words + 1..];
            if count.div_ceil(8) != carried.len() as u64 {
                return Err(wrong_length);
            }
            &carried.as_bytes()[..count as usize]
        } else {
            if words.len() != layout.fixed_words {
                return Err(wrong_length);
            }
            &[]
        };
        Ok(Decoder::over(&words[..layout.fixed_words], &msg.caps, data))
    }

    /// A decoder of fixed-size values only, exactly `words`: a reply whose
    /// layout is [`Layout::in_registers`], read from the registers, or a
    /// request of fixed-size arguments only read from an
    /// [`Arrival`](crate::registers::Arrival) (the
    /// caller checked its length and that it carried no caps).
    #[inline(always)]
    pub fn fixed_only(words: &'m [u64]) -> Self {
        Decoder::over(words, &[], &[])
    }

    #[inline(always)]
    fn over(words: &'m [u64], caps: &'m [ReceivedCap], data: &'m [u8]) -> Self {
        Decoder {
            words,
            caps,
            data,
            word_at: 0,
            data_at: 0,
            cap_at: 0,
            arg: 0,
        }
    }

    #[inline(always)]
    fn next_arg(&mut self) -> u8 {
        let arg = self.arg;
        self.arg = self.arg.saturating_add(1);
        arg
    }

    /// The next fixed-size argument.
    ///
    /// # Errors
    /// `Undecodable` when the bytes are no valid `T` or its padding is not zero.
    #[inline(always)]
    pub fn fixed<T: TryFromBytes + KnownLayout + Immutable>(&mut self) -> Result<T, RpcError> {
        let arg = self.next_arg();
        let undecodable = RpcError::Undecodable { arg };
        let end = self.word_at + words_of::<T>();
        let bytes = self
            .words
            .get(self.word_at..end)
            .ok_or(undecodable)?
            .as_bytes();
        self.word_at = end;
        let (value, padding) = bytes.split_at(core::mem::size_of::<T>());
        if padding.iter().any(|&b| b != 0) {
            return Err(undecodable);
        }
        T::try_read_from_bytes(value).map_err(|_| undecodable)
    }

    /// The next variable-length argument.
    ///
    /// # Errors
    /// `Undecodable` when the bytes are no `T`, or exceed its bounds.
    pub fn data<T: DeserializeOwned>(&mut self) -> Result<T, RpcError> {
        let arg = self.next_arg();
        let rest = self.data.get(self.data_at..).unwrap_or_default();
        let (value, left) =
            postcard::take_from_bytes(rest).map_err(|_| RpcError::Undecodable { arg })?;
        self.data_at = self.data.len() - left.len();
        Ok(value)
    }

    /// The next cap.
    ///
    /// # Errors
    /// `MissingCap` when there is none, `WrongCapType` when it is no `K`.
    pub fn cap<K: CapKind>(&mut self) -> Result<Granted<K>, RpcError> {
        self.next_arg();
        let index = self.cap_at as u8;
        let cap = *self
            .caps
            .get(self.cap_at)
            .ok_or(RpcError::MissingCap { index })?;
        self.cap_at += 1;
        Granted::check(cap).ok_or(RpcError::WrongCapType {
            index,
            got: cap.kind(),
        })
    }

    /// Ends decoding.
    ///
    /// # Errors
    /// `TrailingBytes` when data was left over.
    #[inline(always)]
    pub fn finish(self) -> Result<(), RpcError> {
        if self.data_at == self.data.len() {
            Ok(())
        } else {
            Err(RpcError::TrailingBytes)
        }
    }
}
