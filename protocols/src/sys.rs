//! The keel-sys transport: a client's [`Transport`] is Call on its endpoint
//! cap, a server's [`ServerTransport`] is Recv and ReplyRecv with its Reply
//! object. The first four words travel in registers, the rest in the IPC
//! buffer; caps are named in the IPC buffer and received into one slot, the
//! receive slot, which the receiver must empty (move the cap out, or delete
//! it) before the next message. A server init started announces itself
//! with its first receive ([`EndpointServer::announcing`]). This is the only
//! module that makes system calls.

use keel_abi::invocation::MESSAGE_REGISTERS_IN_REGS;
use keel_abi::{CapType, MessageInfo};
use keel_sys::cap::{Debug, Endpoint, Reply};
use keel_sys::ipc::{mr, set_cap, set_mr, set_receive_path, unwrapped_badge, Received};
use keel_sys::{CPtr, Cap};

use crate::cap::ReceivedCap;
use crate::client::Transport;
use crate::error::RpcError;
use crate::init::ready_message;
use crate::server::ServerTransport;
use crate::wire::{InMessage, Incoming, OutMessage, MAX_WORDS, REPLY_RPC_ERROR};

/// Where a received cap goes: the receive path the kernel needs, and the
/// CPtr the receiver then names the slot by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiveSlot {
    /// The CNode holding the slot.
    pub cnode: CPtr,
    /// The slot's index in it.
    pub index: u64,
    /// Bits of that index to resolve.
    pub depth: u64,
    /// The slot as a CPtr in the receiver's CSpace.
    pub cptr: CPtr,
    /// The Debug cap (read and write rights) through which the kernel says
    /// what type a received cap is. Keel, like seL4, identifies a cap only
    /// for a holder of debug authority; without one, every transferred cap
    /// reads as `Null` (missing), so a protocol taking caps refuses them.
    pub identify_with: Option<Cap<Debug>>,
}

/// Writes `msg`'s words past the registers and its caps into the IPC buffer,
/// and returns its message info and register words.
fn stage(msg: &OutMessage) -> Result<(MessageInfo, [u64; 4]), RpcError> {
    let length = msg.length.min(MAX_WORDS);
    for (i, &word) in msg.words[..length]
        .iter()
        .enumerate()
        .skip(MESSAGE_REGISTERS_IN_REGS)
    {
        set_mr(i, word).map_err(RpcError::Kernel)?;
    }
    for (i, &cptr) in msg.caps.iter().enumerate() {
        set_cap(i, CPtr::from_bits(cptr)).map_err(RpcError::Kernel)?;
    }
    let info = MessageInfo::new(msg.label, 0, msg.caps.len() as u64, length as u64);
    let mut regs = [0; MESSAGE_REGISTERS_IN_REGS];
    regs.copy_from_slice(&msg.words[..MESSAGE_REGISTERS_IN_REGS]);
    Ok((info, regs))
}

/// Names `slot` as where received caps go (the kernel reads the path from
/// the IPC buffer at each receive, so once is enough).
fn arm(slot: Option<ReceiveSlot>) -> Result<(), RpcError> {
    match slot {
        Some(s) => set_receive_path(s.cnode, s.index, s.depth).map_err(RpcError::Kernel),
        None => Ok(()),
    }
}

/// Reads a received message: registers, the rest from the IPC buffer, and
/// each cap as unwrapped (its badge) or transferred into `slot` (its type
/// as the kernel identifies it; `Null` when nothing arrived there).
fn take(got: &Received, slot: Option<ReceiveSlot>, into: &mut InMessage) {
    let sent = got.info.length().min(MAX_WORDS);
    into.label = got.info.label();
    into.words[..MESSAGE_REGISTERS_IN_REGS].copy_from_slice(&got.mrs);
    // Words past the registers that cannot be read (no IPC buffer) are cut
    // off, so the decoder reports the message's length as wrong.
    into.length = sent.min(MESSAGE_REGISTERS_IN_REGS);
    for i in MESSAGE_REGISTERS_IN_REGS..sent {
        match mr(i) {
            Ok(word) => into.words[i] = word,
            Err(_) => break,
        }
        into.length = i + 1;
    }
    // At most three, the capacity.
    into.caps = (0..got.info.extra_caps())
        .map(|i| {
            if got.info.caps_unwrapped() & (1 << i) != 0 {
                ReceivedCap::Unwrapped {
                    badge: unwrapped_badge(i).unwrap_or(0),
                }
            } else {
                let cptr = slot.map_or(CPtr::from_bits(0), |s| s.cptr);
                let kind = slot
                    .and_then(|s| s.identify_with)
                    .and_then(|debug| debug.debug_cap_identify(cptr).ok());
                ReceivedCap::Transferred {
                    cptr: cptr.bits(),
                    kind: kind.unwrap_or(CapType::Null),
                }
            }
        })
        .collect();
}

/// A client's connection: its endpoint cap to the server.
#[derive(Clone, Copy, Debug)]
pub struct EndpointClient {
    endpoint: Cap<Endpoint>,
    receive: Option<ReceiveSlot>,
}

impl EndpointClient {
    /// Calls through `endpoint`; caps in replies go to `receive`.
    ///
    /// # Errors
    /// `Kernel(InvalidArgument)` for a receive slot without an IPC buffer.
    pub fn new(endpoint: Cap<Endpoint>, receive: Option<ReceiveSlot>) -> Result<Self, RpcError> {
        arm(receive)?;
        Ok(EndpointClient { endpoint, receive })
    }
}

impl Transport for EndpointClient {
    fn call(&mut self, request: &OutMessage, reply: &mut InMessage) -> Result<(), RpcError> {
        let (info, regs) = stage(request)?;
        let got = self.endpoint.call(info, regs);
        take(&got, self.receive, reply);
        Ok(())
    }
}

/// A server's side of its endpoint, with the Reply object its Calls wait on.
#[derive(Clone, Copy, Debug)]
pub struct EndpointServer {
    endpoint: Cap<Endpoint>,
    reply: Cap<Reply>,
    receive: Option<ReceiveSlot>,
    /// Init's endpoint, until the first receive has announced the server
    /// ready through it.
    announce: Option<Cap<Endpoint>>,
}

impl EndpointServer {
    /// Receives on `endpoint` with `reply`; caps in requests go to `receive`.
    ///
    /// # Errors
    /// `Kernel(InvalidArgument)` for a receive slot without an IPC buffer.
    pub fn new(
        endpoint: Cap<Endpoint>,
        reply: Cap<Reply>,
        receive: Option<ReceiveSlot>,
    ) -> Result<Self, RpcError> {
        arm(receive)?;
        Ok(EndpointServer {
            endpoint,
            reply,
            receive,
            announce: None,
        })
    }

    /// As [`EndpointServer::new`], for a server init started: its first
    /// receive tells init it is ready (Init `ready`, sent one-way through
    /// `init`) and starts waiting on `endpoint` in the same system call
    /// (NBSendRecv), so init, reading `ready`, knows the server already
    /// waits for requests and may take its scheduling context away. Every
    /// later receive is the usual one.
    ///
    /// # Errors
    /// `Kernel(InvalidArgument)` for a receive slot without an IPC buffer.
    pub fn announcing(
        init: Cap<Endpoint>,
        endpoint: Cap<Endpoint>,
        reply: Cap<Reply>,
        receive: Option<ReceiveSlot>,
    ) -> Result<Self, RpcError> {
        Ok(EndpointServer {
            announce: Some(init),
            ..Self::new(endpoint, reply, receive)?
        })
    }

    fn finish(&self, got: &Received, into: &mut Incoming) {
        into.badge = got.badge;
        take(got, self.receive, &mut into.message);
    }
}

impl ServerTransport for EndpointServer {
    fn recv(&mut self, into: &mut Incoming) {
        let got = match self.announce.take() {
            Some(init) => {
                // `ready` carries no caps and no words past the registers,
                // so nothing goes through the IPC buffer.
                let ready = ready_message();
                let length = ready.length.min(MESSAGE_REGISTERS_IN_REGS);
                let info = MessageInfo::new(ready.label, 0, 0, length as u64);
                let mut regs = [0; MESSAGE_REGISTERS_IN_REGS];
                regs[..length].copy_from_slice(&ready.words[..length]);
                init.nb_send_recv(info, regs, self.endpoint, Some(self.reply))
            }
            None => self.endpoint.recv(Some(self.reply)),
        };
        self.finish(&got, into);
    }

    fn reply_recv(&mut self, reply: &OutMessage, into: &mut Incoming) {
        let (info, regs) = stage(reply).unwrap_or_else(|e| {
            // The reply could not be staged: answer with why, in registers.
            let [kind, a, b] = e.to_words();
            (MessageInfo::new(REPLY_RPC_ERROR, 0, 0, 3), [kind, a, b, 0])
        });
        let got = self.endpoint.reply_recv(info, regs, self.reply);
        self.finish(&got, into);
    }
}
