//! The client half: the [`Transport`] a stub sends through, and [`call`],
//! the one function every generated stub method is built on (encode the
//! arguments, Call, read the reply or the error). A stub never sees a
//! system call; `sys` (keel-sys) and `loopback` (host tests) implement
//! [`Transport`].

use crate::error::{ProtocolError, RpcError};
use crate::wire::{
    Decoder, Encoder, Header, InMessage, Layout, OutMessage, REPLY_ERROR, REPLY_OK, REPLY_RPC_ERROR,
};

/// Sends a request and waits for its reply: seL4's Call on the server's endpoint.
pub trait Transport {
    /// Sends `request` (its caps transferred) and receives the reply into `reply`.
    ///
    /// # Errors
    /// `Kernel` when the kernel refused the IPC.
    fn call(&mut self, request: &OutMessage, reply: &mut InMessage) -> Result<(), RpcError>;
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn call(&mut self, request: &OutMessage, reply: &mut InMessage) -> Result<(), RpcError> {
        (**self).call(request, reply)
    }
}

/// Makes one request: encodes it (`header`, then `encode` for arguments of
/// `args`), calls, and decodes a reply of `reply_layout` with `decode`.
///
/// # Errors
/// `TooLong` when the arguments do not fit; the server's error, whether the
/// protocol's own or an [`RpcError`]; `BadReply` for a reply that does not decode.
pub fn call<E: ProtocolError, R>(
    transport: &mut impl Transport,
    header: Header,
    args: Layout,
    encode: impl FnOnce(&mut Encoder<'_>) -> Result<(), RpcError>,
    reply_layout: Layout,
    decode: impl FnOnce(&mut Decoder<'_>) -> Result<R, RpcError>,
) -> Result<R, E> {
    let mut request = OutMessage::new();
    let relay = header.relay.map(|a| u64::from(a.0));
    let prefix = relay.as_slice();
    let mut encoder = Encoder::new(&mut request, header.label(), prefix, args)?;
    encode(&mut encoder)?;
    encoder.finish();
    let mut reply = InMessage::new();
    transport.call(&request, &mut reply)?;
    read_reply(&reply, reply_layout, decode)
}

/// Reads a reply: a value of `layout`, or the error it carries.
fn read_reply<E: ProtocolError, R>(
    reply: &InMessage,
    layout: Layout,
    decode: impl FnOnce(&mut Decoder<'_>) -> Result<R, RpcError>,
) -> Result<R, E> {
    let words = reply.used().ok_or(RpcError::BadReply)?;
    match (reply.label, words) {
        (REPLY_OK, _) => {
            let mut decoder = Decoder::new(reply, 0, layout).map_err(|_| RpcError::BadReply)?;
            let value = decode(&mut decoder).map_err(|_| RpcError::BadReply)?;
            decoder.finish().map_err(|_| RpcError::BadReply)?;
            Ok(value)
        }
        (REPLY_ERROR, &[code]) => Err(E::from_code(code).ok_or(RpcError::BadReply)?),
        (REPLY_RPC_ERROR, &[kind, a, b]) => Err(RpcError::from_words([kind, a, b])
            .ok_or(RpcError::BadReply)?
            .into()),
        _ => Err(RpcError::BadReply.into()),
    }
}
