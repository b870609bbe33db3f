//! IPC through endpoints and notifications: Send, Recv, Call, ReplyRecv,
//! their non-blocking forms, and Signal, Wait and Poll. The first four message
//! registers travel in machine registers; the rest are in the IPC buffer
//! (see [`set_mr`] and [`mr`]). Named as in rust-sel4.

use crate::cap::{Endpoint, Notification, Reply, Tcb};
use crate::invocation::invoke;
use crate::ipc_buffer::with_ipc_buffer;
use crate::{CPtr, Cap, Error, InvocationError, Syscall};
use keel_abi::invocation::MESSAGE_REGISTERS_IN_REGS;
use keel_abi::{Label, MessageInfo};

/// A received message: its info, the sender's badge (or a notification's
/// word) and the first four message registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Label and length.
    pub info: MessageInfo,
    /// The badge of the cap the sender used, or the signalled bits.
    pub badge: u64,
    /// Message registers 0-3.
    pub mrs: [u64; MESSAGE_REGISTERS_IN_REGS],
}

fn ipc(syscall: Syscall, cptr: u64, info: MessageInfo, mrs: [u64; 4]) -> Received {
    ipc8(syscall, cptr, info, mrs, [0, 0])
}

/// Sets message register `i` (4 and above) in the IPC buffer.
///
/// # Errors
/// `InvalidArgument` for `i` past the buffer or with no IPC buffer registered.
pub fn set_mr(i: usize, value: u64) -> Result<(), Error> {
    with_ipc_buffer(|b| b.msg.get_mut(i).map(|m| *m = value))
        .flatten()
        .ok_or(Error::InvalidArgument)
}

/// Message register `i` (4 and above) of the last message received.
///
/// # Errors
/// `InvalidArgument` for `i` past the buffer or with no IPC buffer registered.
pub fn mr(i: usize) -> Result<u64, Error> {
    with_ipc_buffer(|b| b.msg.get(i).copied())
        .flatten()
        .ok_or(Error::InvalidArgument)
}

/// Sets message registers `first..first + words.len()` (4 and above) in
/// the IPC buffer: [`set_mr`] for many words, finding the buffer once. The
/// words are written one by one, not by `memcpy`, which on aarch64 copies
/// through the FP/SIMD registers and so makes a thread that never touches
/// floating point take the kernel's lazy FP switch.
///
/// # Errors
/// `InvalidArgument` for a range past the buffer (nothing is written) or
/// with no IPC buffer registered.
pub fn write_mrs(first: usize, words: &[u64]) -> Result<(), Error> {
    with_ipc_buffer(|b| {
        b.msg.get_mut(first..first + words.len()).map(|m| {
            for (slot, &word) in m.iter_mut().zip(words) {
                // SAFETY: `slot` is a valid, aligned, exclusive reference
                // into the IPC buffer; the write is volatile only so that
                // it stays a word move.
                unsafe { core::ptr::write_volatile(slot, word) };
            }
        })
    })
    .flatten()
    .ok_or(Error::InvalidArgument)
}

/// Reads message registers `first..first + into.len()` (4 and above) of
/// the last message received: [`mr`] for many words, finding the buffer
/// once, word by word as [`write_mrs`] writes them.
///
/// # Errors
/// `InvalidArgument` for a range past the buffer (nothing is read) or with
/// no IPC buffer registered.
pub fn read_mrs(first: usize, into: &mut [u64]) -> Result<(), Error> {
    with_ipc_buffer(|b| {
        b.msg.get(first..first + into.len()).map(|m| {
            for (word, slot) in into.iter_mut().zip(m) {
                // SAFETY: `slot` is a valid, aligned reference into the IPC
                // buffer; the read is volatile only so that it stays a word
                // move.
                *word = unsafe { core::ptr::read_volatile(slot) };
            }
        })
    })
    .flatten()
    .ok_or(Error::InvalidArgument)
}

/// The Reply object a receive hands to the kernel (MCS): a Call it takes
/// waits on it, and is answered through it. `None` takes no Calls that can
/// be answered (a caller that reaches it is left inactive, as in seL4).
pub type ReplyAuthority = Option<Cap<Reply>>;

fn reply_bits(reply: ReplyAuthority) -> u64 {
    reply.map_or(0, |r| r.cptr().bits())
}

impl Cap<Endpoint> {
    /// Sends, waiting for a receiver.
    pub fn send(self, info: MessageInfo, mrs: [u64; 4]) {
        ipc(Syscall::Send, self.cptr().bits(), info, mrs);
    }

    /// Sends if a receiver waits; otherwise the message is dropped.
    pub fn nb_send(self, info: MessageInfo, mrs: [u64; 4]) {
        ipc(Syscall::NBSend, self.cptr().bits(), info, mrs);
    }

    /// Receives, waiting for a sender; a Call received waits on `reply`.
    pub fn recv(self, reply: ReplyAuthority) -> Received {
        let none = MessageInfo::default();
        ipc8(
            Syscall::Recv,
            self.cptr().bits(),
            none,
            [0; 4],
            [reply_bits(reply), 0],
        )
    }

    /// Receives if a sender waits; otherwise an empty message with badge 0.
    pub fn nb_recv(self, reply: ReplyAuthority) -> Received {
        let none = MessageInfo::default();
        ipc8(
            Syscall::NBRecv,
            self.cptr().bits(),
            none,
            [0; 4],
            [reply_bits(reply), 0],
        )
    }

    /// Sends and waits for the reply.
    pub fn call(self, info: MessageInfo, mrs: [u64; 4]) -> Received {
        ipc(Syscall::Call, self.cptr().bits(), info, mrs)
    }

    /// Replies to the caller waiting on `reply`, then receives on this
    /// endpoint with `reply` again.
    pub fn reply_recv(self, info: MessageInfo, mrs: [u64; 4], reply: Cap<Reply>) -> Received {
        ipc8(
            Syscall::ReplyRecv,
            self.cptr().bits(),
            info,
            mrs,
            [reply.cptr().bits(), 0],
        )
    }

    /// Sends without blocking, then receives on `src` (a Call received
    /// waits on `reply`), in one system call.
    pub fn nb_send_recv(
        self,
        info: MessageInfo,
        mrs: [u64; 4],
        src: Cap<Endpoint>,
        reply: ReplyAuthority,
    ) -> Received {
        ipc8(
            Syscall::NBSendRecv,
            self.cptr().bits(),
            info,
            mrs,
            [src.cptr().bits(), reply_bits(reply)],
        )
    }

    /// Receives, waiting for a sender, without a Reply object: a Call
    /// received cannot be answered, and its caller is left inactive (seL4's
    /// Wait on an endpoint).
    pub fn wait(self) -> Received {
        ipc(
            Syscall::Wait,
            self.cptr().bits(),
            MessageInfo::default(),
            [0; 4],
        )
    }

    /// As [`Self::wait`] if a sender waits; otherwise an empty message with badge 0.
    pub fn nb_wait(self) -> Received {
        ipc(
            Syscall::NBWait,
            self.cptr().bits(),
            MessageInfo::default(),
            [0; 4],
        )
    }

    /// Sends without blocking, then waits on `src` (a notification, or an
    /// endpoint received from without a Reply object), in one system call.
    pub fn nb_send_wait<T: WaitSource>(
        self,
        info: MessageInfo,
        mrs: [u64; 4],
        src: Cap<T>,
    ) -> Received {
        ipc8(
            Syscall::NBSendWait,
            self.cptr().bits(),
            info,
            mrs,
            [src.cptr().bits(), 0],
        )
    }
}

/// What Wait, NBWait and NBSendWait can wait on: a notification, or an
/// endpoint (a receive without a Reply object).
pub trait WaitSource: crate::cap::CapKind {}

impl WaitSource for Endpoint {}
impl WaitSource for Notification {}

impl Cap<Reply> {
    /// Answers the caller waiting on this Reply object (nothing happens if
    /// none waits): seL4's `Send` on a reply cap.
    pub fn reply(self, info: MessageInfo, mrs: [u64; 4]) {
        ipc(Syscall::Send, self.cptr().bits(), info, mrs);
    }
}

/// An IPC system call with the seventh and eighth arguments `extra`.
fn ipc8(
    syscall: Syscall,
    cptr: u64,
    info: MessageInfo,
    mrs: [u64; 4],
    extra: [u64; 2],
) -> Received {
    let args = [
        cptr,
        info.word(),
        mrs[0],
        mrs[1],
        mrs[2],
        mrs[3],
        extra[0],
        extra[1],
    ];
    let [info, badge, m0, m1, m2, m3] = crate::arch::syscall8(syscall as u64, args);
    Received {
        info: MessageInfo::from_word(info),
        badge,
        mrs: [m0, m1, m2, m3],
    }
}

impl Cap<Notification> {
    /// ORs this cap's badge into the notification's word, waking a waiter.
    pub fn signal(self) {
        ipc(
            Syscall::Send,
            self.cptr().bits(),
            MessageInfo::default(),
            [0; 4],
        );
    }

    /// Waits until the word is non-zero; returns and clears it.
    pub fn wait(self) -> u64 {
        ipc(
            Syscall::Wait,
            self.cptr().bits(),
            MessageInfo::default(),
            [0; 4],
        )
        .badge
    }

    /// Returns and clears the word without waiting (0 when nothing was signalled).
    pub fn poll(self) -> u64 {
        ipc(
            Syscall::NBWait,
            self.cptr().bits(),
            MessageInfo::default(),
            [0; 4],
        )
        .badge
    }
}

impl Cap<Tcb> {
    /// Binds `notification` to this thread: signals reach it while it receives on an endpoint.
    ///
    /// # Errors
    /// `IllegalOperation` when either is bound already, or the cap cannot receive.
    pub fn tcb_bind_notification(
        self,
        notification: Cap<Notification>,
    ) -> Result<(), InvocationError> {
        invoke(
            self.cptr(),
            Label::TcbBindNotification,
            &[],
            &[notification.cptr()],
        )
        .map(|_| ())
    }

    /// Unbinds the thread's notification.
    ///
    /// # Errors
    /// `IllegalOperation` when none is bound.
    pub fn tcb_unbind_notification(self) -> Result<(), InvocationError> {
        invoke(self.cptr(), Label::TcbUnbindNotification, &[], &[]).map(|_| ())
    }
}

/// Names `cptr` as extra cap `i` (0..3) of the next message; say how many
/// in the message info's `extra_caps`.
///
/// # Errors
/// `InvalidArgument` for `i` past 3 or with no IPC buffer registered.
pub fn set_cap(i: usize, cptr: CPtr) -> Result<(), Error> {
    with_ipc_buffer(|b| b.caps_or_badges.get_mut(i).map(|c| *c = cptr.bits()))
        .flatten()
        .ok_or(Error::InvalidArgument)
}

/// The badge of extra cap `i` of the last message, when it was unwrapped
/// (bit `i` of the message info's `caps_unwrapped`).
///
/// # Errors
/// `InvalidArgument` for `i` past 3 or with no IPC buffer registered.
pub fn unwrapped_badge(i: usize) -> Result<u64, Error> {
    with_ipc_buffer(|b| b.caps_or_badges.get(i).copied())
        .flatten()
        .ok_or(Error::InvalidArgument)
}

/// Where a received cap goes: slot `index` (resolved to `depth` bits) of the
/// CNode named by `cnode` in this thread's CSpace.
///
/// # Errors
/// `InvalidArgument` with no IPC buffer registered.
pub fn set_receive_path(cnode: CPtr, index: u64, depth: u64) -> Result<(), Error> {
    with_ipc_buffer(|b| {
        b.receive_cnode = cnode.bits();
        b.receive_index = index;
        b.receive_depth = depth;
    })
    .ok_or(Error::InvalidArgument)
}
