//! What keel-spawnee does, by its argument: the low byte is the mode, the
//! rest its parameter ([`arg`]). Shared with the tests that spawn it.
#![no_std]

/// Exit with the parameter as status (Init `exit` to the process server).
pub const MODE_EXIT: u64 = 0;
/// Make an endpoint from its group and Send on it: blocked for good.
pub const MODE_SEND: u64 = 1;
/// Make an endpoint from its group and Recv on it: blocked for good.
pub const MODE_RECV: u64 = 2;
/// Spawn a spawnee of its own in [`MODE_RECV`] and wait for it: blocked
/// in a Call to the process server.
pub const MODE_CALL: u64 = 3;
/// Read an unmapped address: a fault the process server takes.
pub const MODE_FAULT: u64 = 4;
/// Make objects of kind `parameter` (a `keel_abi::ObjectType` number) until
/// the server refuses; exit with [`alloc_status`] of how many it made and
/// the refusal's error code.
pub const MODE_ALLOC_ALL: u64 = 5;
/// Try to act on process `parameter` (not its own child) with wait and
/// kill, and look through the first [`PROBE_SLOTS`] slots of its CNode for
/// caps that are not its own (untyped, control caps, another thread,
/// CNode, VSpace or endpoint); exit with the number of attempts that were
/// not refused and caps found (0 when it reached nothing).
pub const MODE_PROBE: u64 = 6;
/// The slots [`MODE_PROBE`] looks through (its CNode has at least 256).
pub const PROBE_SLOTS: u64 = 256;
/// Make a mix of objects chosen by the seed `parameter` (endpoints,
/// notifications, frames, page tables, CNodes, threads), then Recv: blocked
/// until killed.
pub const MODE_MIX: u64 = 7;
/// The status a process that could not reach its server exits with.
pub const STATUS_NO_SERVER: u32 = 0xdead;

/// The argument for `mode` with `parameter`.
pub const fn arg(mode: u64, parameter: u64) -> u64 {
    mode | parameter << 8
}

/// The exit status of [`MODE_ALLOC_ALL`]: `made` objects, then refused
/// with error `code` (the protocol's code, 0 for none).
pub const fn alloc_status(made: u32, code: u32) -> u32 {
    made | code << 24
}

/// How many objects of kind `k` the mix of `seed` makes, for slot `k` of
/// [`MIX_KINDS`]: 0 to 3, from a small hash of the seed.
pub const fn mix_count(seed: u64, k: usize) -> u64 {
    (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (8 + 2 * k)) & 3
}

/// The kinds [`MODE_MIX`] makes, as `(ObjectType number, size_bits)`:
/// endpoint, notification, small frame, page table, CNode of 16 slots,
/// TCB, Reply.
pub const MIX_KINDS: [(u64, u64); 7] = [(2, 0), (3, 0), (11, 0), (10, 0), (4, 4), (1, 0), (6, 0)];
