//! The protocol of `keel-child`, shared with the programs that start it (the
//! test suite, the IPC benchmark): the modes its argument selects, what each
//! sends, and where it expects shared memory. The program itself is
//! `main.rs`; it talks only through the caps keel-loader put in its CNode
//! (see `keel_loader::slot`), the first given cap (slot 4) being the one it
//! works with.
#![no_std]

/// Argument: Call the endpoint in slot 4 with label [`REPORT_LABEL`] and
/// words `[REPORT_VALUE, 1, 2, 3]`, then stop (suspend itself).
pub const MODE_REPORT: u64 = 0;
/// Argument: echo server on the endpoint in slot 4. Each reply has the
/// request's label and length; word 0 is the badge the request came with,
/// words 1..4 are the request's, words 4.. the request's plus one.
pub const MODE_ECHO: u64 = 1;
/// Argument: as [`MODE_ECHO`] but words 4.. go back unchanged, and it writes
/// the cycle counter at receive and just before the reply to words 0 and 1
/// of the page at [`SHARED_VADDR`] (for the IPC benchmark).
pub const MODE_TIMED_ECHO: u64 = 2;
/// In the echo modes, the position among the given caps (after the
/// endpoint) of the Reply object the server receives with.
pub const ECHO_REPLY_GIVEN: u64 = 1;
/// Argument: read [`UNMAPPED`]: a page fault for the fault handler.
pub const MODE_FAULT: u64 = 3;
/// Argument: fill the page at [`SHARED_VADDR`] with [`shared_word`]`(i)`,
/// signal the notification in slot 4, then stop.
pub const MODE_WRITE_SHARED: u64 = 4;

/// Argument: Send a message of every length from 0 to
/// [`LONGEST`] words on the endpoint in slot 4, shortest first ([`compose`]
/// with salt 0), then Send [`DONE_LABEL`] on the endpoint in slot 5 and stop.
pub const MODE_SEND_EVERY_LENGTH: u64 = 5;
/// Argument: as [`MODE_SEND_EVERY_LENGTH`], each message with NBSend (the
/// last, on slot 5, with Send).
pub const MODE_NB_SEND_EVERY_LENGTH: u64 = 6;
/// Argument: Call the endpoint in slot 4 with a message of every length,
/// shortest first, and check each answer is the same length's with salt 1
/// ([`intact`]); then Send [`DONE_LABEL`] on the endpoint in slot 5 with
/// word 0 the number of answers that were not.
pub const MODE_CALL_EVERY_LENGTH: u64 = 7;
/// The label of the message that ends the every-length modes.
pub const DONE_LABEL: u64 = 0xd0e;
/// The longest message, in words.
pub const LONGEST: u64 = keel_abi::invocation::MAX_MESSAGE_LENGTH as u64;

/// Word `i` of the message of length `len` (`salt` tells directions apart).
pub const fn length_word(len: u64, i: u64, salt: u64) -> u64 {
    (len << 40) ^ (i << 20) ^ salt ^ 0x5a5a_0000_1234
}

/// Puts the message of length `len` in the caller's message registers past
/// the fourth; returns its info (label `len`) and first four words.
pub fn compose(len: u64, salt: u64) -> (keel_abi::MessageInfo, [u64; 4]) {
    for i in 4..len {
        // A thread's IPC buffer holds all 120 words; this cannot fail.
        let _ = keel_sys::ipc::set_mr(i as usize, length_word(len, i, salt));
    }
    let mut first = [0; 4];
    for (i, w) in (0..len.min(4)).zip(first.iter_mut()) {
        *w = length_word(len, i, salt);
    }
    (keel_abi::MessageInfo::new(len, 0, 0, len), first)
}

/// Whether `r` is the whole message of length `len` [`compose`] made.
pub fn intact(r: &keel_sys::ipc::Received, len: u64, salt: u64) -> bool {
    let head = (0..len.min(4)).all(|i| r.mrs[i as usize] == length_word(len, i, salt));
    let tail =
        (4..len).all(|i| keel_sys::ipc::mr(i as usize).ok() == Some(length_word(len, i, salt)));
    r.info.length() as u64 == len && r.info.label() == len && head && tail
}

/// Where the child looks for a Debug cap to print its failure messages
/// (an unknown mode, a panic) through: the last slot keel-loader gives caps
/// in, so that a starter can put one there without moving the others (the
/// test suite puts an output-only copy there).
pub const DEBUG_SLOT: u64 =
    keel_loader::slot::FIRST_GIVEN + keel_loader::slot::MAX_GIVEN as u64 - 1;

/// The label of [`MODE_REPORT`]'s message.
pub const REPORT_LABEL: u64 = 0x4b;
/// The first word of [`MODE_REPORT`]'s message.
pub const REPORT_VALUE: u64 = 0xc41d_0001;
/// Where the child expects a shared frame (modes that use one).
pub const SHARED_VADDR: u64 = 0x0000_0000_3000_0000;
/// An address the child never maps.
pub const UNMAPPED: u64 = 0x0000_4000_0000_0000;

/// Word `i` of the page [`MODE_WRITE_SHARED`] writes.
pub const fn shared_word(i: u64) -> u64 {
    0x5eed_0000_0000 ^ (i * 0x0101)
}
