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
