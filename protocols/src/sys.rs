//! The keel-sys transport: a client's [`Transport`] is Call on its endpoint
//! cap, a server's [`ServerTransport`] is Recv and ReplyRecv with its Reply
//! object. The first four words travel in registers, the rest in the IPC
//! buffer; caps are named in the IPC buffer and received into one slot, the
//! receive slot, which the receiver must empty (move the cap out, or delete
//! it) before the next message. A server init started announces itself
//! with its first receive ([`EndpointServer::announcing`], or
//! [`announce_ready`] for a receive loop of its own). This is the only
//! module that makes system calls.

use keel_abi::invocation::MESSAGE_REGISTERS_IN_REGS;
use keel_abi::{CapType, MessageInfo};
use keel_sys::cap::{Debug, Endpoint, Reply};
use keel_sys::ipc::{read_mrs, set_cap, set_receive_path, unwrapped_badge, write_mrs, Received};
use keel_sys::{AbsoluteCPtr, CPtr, Cap};

use crate::cap::ReceivedCap;
use crate::client::{Short, Transport};
use crate::error::RpcError;
use crate::init::ready_message;
use crate::registers::Arrival;
use crate::server::{Answer, ServeLoop, ServerTransport, Service};
use crate::wire::{
    InMessage, Incoming, OutMessage, MAX_CAPS, MAX_WORDS, REPLY_OK, REPLY_RPC_ERROR,
};

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
    /// The Debug cap (its read right) through which the kernel says what
    /// type a received cap is; init gives every program one
    /// (`ProcessSlots::debug`). Without it, every transferred cap reads as
    /// `Null` (missing), so a protocol taking caps refuses them.
    pub identify_with: Option<Cap<Debug>>,
}

impl ReceiveSlot {
    /// Slot `index` of the receiver's own CNode `cnode`, laid out as init
    /// lays out a program's (its guard takes the bits above its radix, so a
    /// slot's CPtr is its number), with `identify_with`'s Debug cap.
    pub fn in_own_cnode(cnode: u64, index: u64, identify_with: Option<Cap<Debug>>) -> Self {
        ReceiveSlot {
            cnode: CPtr::from_bits(cnode),
            index,
            depth: 64,
            cptr: CPtr::from_bits(index),
            identify_with,
        }
    }
}

/// Writes `msg`'s words past the registers and its caps into the IPC buffer,
/// and returns its message info and register words. Inlined into each
/// transport: a short message without caps (the usual request and reply)
/// touches no IPC buffer and calls nothing.
#[inline(always)]
fn stage(msg: &OutMessage) -> Result<(MessageInfo, [u64; 4]), RpcError> {
    let mut length = msg.length;
    if length > MESSAGE_REGISTERS_IN_REGS {
        length = length.min(MAX_WORDS);
        let past = &msg.words[MESSAGE_REGISTERS_IN_REGS..length];
        write_mrs(MESSAGE_REGISTERS_IN_REGS, past).map_err(RpcError::Kernel)?;
    }
    if !msg.caps.is_empty() {
        stage_caps(&msg.caps)?;
    }
    let info = MessageInfo::new(msg.label, 0, msg.caps.len() as u64, length as u64);
    let mut regs = [0; MESSAGE_REGISTERS_IN_REGS];
    regs.copy_from_slice(&msg.words[..MESSAGE_REGISTERS_IN_REGS]);
    Ok((info, regs))
}

/// Names `caps` as the extra caps of the next message.
#[inline(never)]
fn stage_caps(caps: &[u64]) -> Result<(), RpcError> {
    for (i, &cptr) in caps.iter().enumerate() {
        set_cap(i, CPtr::from_bits(cptr)).map_err(RpcError::Kernel)?;
    }
    Ok(())
}

/// Names `slot` as where received caps go (the kernel reads the path from
/// the IPC buffer at each receive, so once is enough).
fn arm(slot: Option<ReceiveSlot>) -> Result<(), RpcError> {
    match slot {
        Some(s) => set_receive_path(s.cnode, s.index, s.depth).map_err(RpcError::Kernel),
        None => Ok(()),
    }
}

/// A received message as the protocol layer sees what arrived.
#[inline(always)]
pub fn arrival(got: &Received) -> Arrival {
    Arrival {
        badge: got.badge,
        label: got.info.label(),
        length: got.info.length(),
        caps: got.info.extra_caps(),
        unwrapped: got.info.caps_unwrapped() as u8,
        registers: got.mrs,
    }
}

/// Reads a received message: registers, the rest from the IPC buffer, and
/// its caps ([`take_caps`]). Inlined into each transport: a short message
/// without caps touches no IPC buffer and calls nothing.
#[inline(always)]
fn take(got: &Arrival, slot: &Option<ReceiveSlot>, into: &mut InMessage) {
    let sent = got.length;
    into.label = got.label;
    into.words[..MESSAGE_REGISTERS_IN_REGS].copy_from_slice(&got.registers);
    into.length = sent;
    if sent > MESSAGE_REGISTERS_IN_REGS {
        let sent = sent.min(MAX_WORDS);
        into.length = sent;
        let past = &mut into.words[MESSAGE_REGISTERS_IN_REGS..sent];
        if read_mrs(MESSAGE_REGISTERS_IN_REGS, past).is_err() {
            // Words past the registers that cannot be read (no IPC
            // buffer) are cut off, so the decoder reports the message's
            // length as wrong (as `Arrival::words` reports it).
            into.length = MESSAGE_REGISTERS_IN_REGS;
        }
    }
    into.caps.clear();
    if got.caps != 0 {
        take_caps(got.caps, got.unwrapped, slot, &mut into.caps);
    }
}

/// Reads `count` caps of a message (bit `i` of `unwrapped` set: cap `i`
/// arrived unwrapped): each as unwrapped (its badge) or transferred into
/// `slot` (its type as the kernel identifies it; `Null` when nothing
/// arrived there).
#[inline(never)]
fn take_caps(
    count: usize,
    unwrapped: u8,
    slot: &Option<ReceiveSlot>,
    into: &mut heapless::Vec<ReceivedCap, MAX_CAPS>,
) {
    for i in 0..count.min(MAX_CAPS) {
        let cap = if unwrapped & (1 << i) != 0 {
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
        };
        // At most MAX_CAPS, the capacity.
        let _fits = into.push(cap);
    }
}

/// A server's first receive as init expects it: sends Init `ready` one-way
/// through `init` and waits on `endpoint` with `reply`, in one system call
/// (NBSendRecv), so init, reading `ready`, knows the server already waits.
/// Returns the first message received, as the server's own receive would.
/// [`EndpointServer::announcing`] does this; a server with a receive loop
/// of its own (raw Recv and ReplyRecv) calls it directly.
#[inline(always)]
pub fn announce_ready(init: Cap<Endpoint>, endpoint: Cap<Endpoint>, reply: Cap<Reply>) -> Received {
    // `ready` carries no caps and no words past the registers, so nothing
    // goes through the IPC buffer.
    let ready = ready_message();
    let length = ready.length.min(MESSAGE_REGISTERS_IN_REGS);
    let info = MessageInfo::new(ready.label, 0, 0, length as u64);
    let mut regs = [0; MESSAGE_REGISTERS_IN_REGS];
    regs[..length].copy_from_slice(&ready.words[..length]);
    init.nb_send_recv(info, regs, endpoint, Some(reply))
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
    #[inline(always)]
    fn call(&mut self, request: &OutMessage, reply: &mut InMessage) -> Result<(), RpcError> {
        let (info, regs) = stage(request)?;
        let got = self.endpoint.call(info, regs);
        take(&arrival(&got), &self.receive, reply);
        Ok(())
    }

    #[inline(always)]
    fn call_short(&mut self, words: usize, request: &OutMessage, reply: &mut InMessage) -> Short {
        let (info, regs) = stage(request)?;
        let got = self.endpoint.call(info, regs);
        let usual = got.info.label() == REPLY_OK
            && got.info.length() == words
            && got.info.extra_caps() == 0;
        if usual {
            return Ok(Some(got.mrs));
        }
        take(&arrival(&got), &self.receive, reply);
        Ok(None)
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

    /// Deletes whatever cap is left in the receive slot (one a refused
    /// request brought), so the slot is empty for the next message. Does
    /// nothing for a server without a receive slot, or when it is empty.
    pub fn empty_receive_slot(&self) {
        if let Some(slot) = self.receive {
            let at = AbsoluteCPtr {
                root: Cap::from_cptr(slot.cnode),
                index: slot.index,
                depth: slot.depth,
            };
            let _ = at.delete();
        }
    }
}

/// Serves forever, as [`ServeLoop::step`] does, a server whose requests may
/// bring caps: after each message the receive slot is emptied
/// ([`EndpointServer::empty_receive_slot`]).
pub fn serve_emptying(transport: &mut EndpointServer, service: &mut impl Service) -> ! {
    let mut serving = ServeLoop::new();
    loop {
        serving.step(transport, service);
        transport.empty_receive_slot();
    }
}

impl ServerTransport for EndpointServer {
    #[inline(always)]
    fn exchange(&mut self, answer: Answer<'_>) -> Arrival {
        let got = match answer {
            Answer::Nothing => match self.announce.take() {
                Some(init) => announce_ready(init, self.endpoint, self.reply),
                None => self.endpoint.recv(Some(self.reply)),
            },
            Answer::Message(reply) => {
                let (info, regs) = stage(reply).unwrap_or_else(|e| {
                    // The reply could not be staged: answer with why, in registers.
                    let [kind, a, b] = e.to_words();
                    (MessageInfo::new(REPLY_RPC_ERROR, 0, 0, 3), [kind, a, b, 0])
                });
                self.endpoint.reply_recv(info, regs, self.reply)
            }
            Answer::Registers(reply) => {
                let info = MessageInfo::new(reply.label, 0, 0, reply.length as u64);
                self.endpoint.reply_recv(info, reply.words, self.reply)
            }
        };
        arrival(&got)
    }

    #[inline(always)]
    fn read(&mut self, arrival: &Arrival, into: &mut Incoming) {
        into.badge = arrival.badge;
        take(arrival, &self.receive, &mut into.message);
    }

    #[inline(always)]
    fn read_past(&mut self, into: &mut [u64]) -> bool {
        read_mrs(MESSAGE_REGISTERS_IN_REGS, into).is_ok()
    }
}
