//! The client half: the [`Transport`] a stub sends through, and the
//! [`Connection`] every generated stub is built on (encode the arguments,
//! Call, read the reply or the error). A stub never sees a
//! system call; `sys` (keel-sys) and `loopback` (host tests) implement
//! [`Transport`].

use crate::badge::ActivityId;
use crate::error::{ProtocolError, RpcError};
use crate::wire::{
    Decoder, Encoder, Header, InMessage, Layout, OutMessage, REGISTER_WORDS, REPLY_ERROR, REPLY_OK,
    REPLY_RPC_ERROR,
};

/// What [`Transport::call_short`] returns: the reply's registers when it
/// is the usual one, else `None` (the reply is in the message buffer).
pub type Short = Result<Option<[u64; REGISTER_WORDS]>, RpcError>;

/// Sends a request and waits for its reply: seL4's Call on the server's endpoint.
pub trait Transport {
    /// Sends `request` (its caps transferred) and receives the reply into `reply`.
    ///
    /// # Errors
    /// `Kernel` when the kernel refused the IPC.
    fn call(&mut self, request: &OutMessage, reply: &mut InMessage) -> Result<(), RpcError>;

    /// As [`Transport::call`], for an operation whose reply is `words`
    /// words of fixed-size values ([`Layout::in_registers`]): a reply that
    /// is exactly that (`REPLY_OK`, `words` long, no caps) comes back as
    /// its registers, and `reply` is left alone; any other (an error, a
    /// malformed reply) is read into `reply`, and `None` comes back. A
    /// transport over the kernel overrides it to read the usual reply
    /// without touching a message buffer.
    ///
    /// # Errors
    /// `Kernel` when the kernel refused the IPC.
    #[inline(always)]
    fn call_short(&mut self, words: usize, request: &OutMessage, reply: &mut InMessage) -> Short {
        self.call(request, reply)?;
        let usual = reply.label == REPLY_OK && reply.length == words && reply.caps.is_empty();
        Ok(usual.then(|| core::array::from_fn(|i| reply.words[i])))
    }
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn call(&mut self, request: &OutMessage, reply: &mut InMessage) -> Result<(), RpcError> {
        (**self).call(request, reply)
    }

    #[inline(always)]
    fn call_short(&mut self, words: usize, request: &OutMessage, reply: &mut InMessage) -> Short {
        (**self).call_short(words, request, reply)
    }
}

/// What every generated client holds: its transport, the activity it asks
/// on behalf of, and its two message buffers (kept, not made per call).
pub struct Connection<T> {
    transport: T,
    on_behalf: Option<ActivityId>,
    request: OutMessage,
    reply: InMessage,
}

impl<T: Transport> Connection<T> {
    /// A connection through `transport`, charged to the badge's activity.
    pub const fn new(transport: T) -> Self {
        Connection {
            transport,
            on_behalf: None,
            request: OutMessage::new(),
            reply: InMessage::new(),
        }
    }

    /// Charges later requests to `activity` (the badge needs the relay
    /// right), or to the badge's own activity for `None`.
    pub fn on_behalf_of(&mut self, activity: Option<ActivityId>) {
        self.on_behalf = activity;
    }

    /// The transport.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Makes one request: operation `op` of `protocol` at `version`, with
    /// arguments of layout `args` written by `encode`; then reads a reply of
    /// `reply_layout` with `decode`.
    ///
    /// # Errors
    /// `TooLong` when the arguments do not fit; the server's error, whether
    /// the protocol's own or an [`RpcError`]; `BadReply` for a reply that
    /// does not decode.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn call<E: ProtocolError, R>(
        &mut self,
        protocol: u16,
        version: u8,
        op: u8,
        args: Layout,
        encode: impl FnOnce(&mut Encoder<'_>) -> Result<(), RpcError>,
        reply_layout: Layout,
        decode: impl FnOnce(&mut Decoder<'_>) -> Result<R, RpcError>,
    ) -> Result<R, E> {
        let header = Header {
            protocol,
            version,
            op,
            relay: self.on_behalf,
        };
        let relay = header.relay.map(|a| u64::from(a.0));
        let mut encoder = Encoder::new(&mut self.request, header.label(), relay, args)?;
        encode(&mut encoder)?;
        encoder.finish();
        let words = reply_layout.fixed_words;
        let usual = if reply_layout.in_registers() {
            self.transport
                .call_short(words, &self.request, &mut self.reply)?
        } else {
            self.transport.call(&self.request, &mut self.reply)?;
            None
        };
        match usual {
            Some(registers) => Ok(decoded(Decoder::fixed_only(&registers[..words]), decode)?),
            None => read_reply(&self.reply, reply_layout, decode),
        }
    }
}

/// The value `decode` reads with `decoder`, which must be all there is.
///
/// # Errors
/// `BadReply` when it does not decode or leaves bytes over.
#[inline(always)]
fn decoded<R>(
    mut decoder: Decoder<'_>,
    decode: impl FnOnce(&mut Decoder<'_>) -> Result<R, RpcError>,
) -> Result<R, RpcError> {
    let value = decode(&mut decoder).map_err(|_| RpcError::BadReply)?;
    decoder.finish().map_err(|_| RpcError::BadReply)?;
    Ok(value)
}

/// Reads a reply: a value of `layout`, or the error it carries.
#[inline(always)]
fn read_reply<E: ProtocolError, R>(
    reply: &InMessage,
    layout: Layout,
    decode: impl FnOnce(&mut Decoder<'_>) -> Result<R, RpcError>,
) -> Result<R, E> {
    if reply.label == REPLY_OK {
        let decoder = Decoder::new(reply, 0, layout).map_err(|_| RpcError::BadReply)?;
        return Ok(decoded(decoder, decode)?);
    }
    let words = reply.used().ok_or(RpcError::BadReply)?;
    match (reply.label, words) {
        (REPLY_ERROR, &[code]) => Err(E::from_code(code).ok_or(RpcError::BadReply)?),
        (REPLY_RPC_ERROR, &[kind, a, b]) => Err(RpcError::from_words([kind, a, b])
            .ok_or(RpcError::BadReply)?
            .into()),
        _ => Err(RpcError::BadReply.into()),
    }
}
