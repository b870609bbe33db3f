//! What a starter of `keel-mm-client` asks of it through its
//! ProcessInfo page's `arg` (the program itself is `main.rs`), and the
//! statuses it exits with: 0 when every check held, else the number of
//! the first check that failed (each scenario's checks are numbered from
//! its own `arg` times 10). The scenarios that end in a fault never exit:
//! their supervisor sees the fault; the one that ends in an allocation
//! error exits with keel-rt's panic status.
#![no_std]

/// Reserve a delayed area; check nothing is mapped until a page is
/// touched, that a touch maps exactly that page, and that a second touch
/// maps nothing more; free it; exit.
pub const DELAYED: u64 = 1;
/// Allocate a page read-only, read it (zero), then write it: a fault.
pub const WRITE_READ_ONLY: u64 = 2;
/// Allocate a page, write it, free it, then read it: a fault.
pub const TOUCH_FREED: u64 = 3;
/// Allocate 64 pages at once and 8 delayed (2 touched), then touch an
/// address outside every area: a fault, and the client dies holding them.
pub const DIE_HOLDING: u64 = 4;
/// Allocate areas of 1, 3, 16 and 5 pages, check each page holds what was
/// written, free them in another order; exit.
pub const MANY_AREAS: u64 = 5;
/// Grow the heap (keel-rt's, through the slave) by a `Vec` and a boxed
/// slice larger than it starts with: the pages show in the client's use,
/// the memory is at the heap's address and keeps what is written; freed
/// and allocated again, the heap does not grow; exit.
pub const HEAP_GROWTH: u64 = 6;
/// Under a limit: a fallible reservation past it is refused and charges
/// nothing, a small allocation still works, then an infallible one past it
/// fails through Rust's allocation-error path (keel-rt's panic status).
pub const HEAP_PAST_LIMIT: u64 = 7;
/// With two slaves: fill the first until it refuses an area; init moves
/// the client, the area comes from the second; the old areas still hold
/// what was written and free through the old slave; the heap grows at the
/// new one; exit.
pub const MOVED: u64 = 8;
/// Pages of the area that fills the first slave in [`MOVED`].
pub const MOVED_FILL_PAGES: u64 = 200;
/// Pages of the area the first slave refuses in [`MOVED`].
pub const MOVED_AREA_PAGES: u64 = 64;
/// Allocate an area, then ask init to be moved (with one slave it stays:
/// the pause in which the test crashes the slave); the restarted slave
/// knows the client again (init attached it) but not its lost area:
/// `usage` answers with no area, freeing the old one is refused, a new
/// allocation is served; exit.
pub const RESTARTED: u64 = 9;
/// Take a 64 KiB block of the slave's partition as an untyped cap: it
/// arrives as an untyped, is charged to the client's activity and leaves
/// the partition; a second grant under the same key is refused; returned,
/// the client's cap is gone and the charge and free bytes are as before;
/// a grant larger than the partition is refused; then exit holding a
/// grant, which the client's detach returns.
pub const GRANTED: u64 = 10;
/// log2 of the block [`GRANTED`] takes.
pub const GRANTED_ORDER: u8 = 16;
