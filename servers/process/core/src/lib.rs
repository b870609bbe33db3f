//! The process server's logic, apart from the system calls so that it runs
//! under `cargo test` (as the kernel keeps its logic in `kernel/core`).
//!
//! Every process's kernel objects come from its own reclamation group, and
//! killing it is one revoke of that group. The revoke's time is bounded by
//! what the group holds, so each allocation is charged its object kind's
//! worst-case reclamation [`cost`] against the process's [`quota`], and is
//! refused once the quota would be passed; the deadline declared at spawn
//! is the quota plus the teardown's fixed part. The [`table`] names the
//! processes and keeps their states and exit statuses.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod calibrated;
pub mod cost;
pub mod quota;
pub mod table;

pub use calibrated::MARGIN_PERCENT;

#[cfg(test)]
mod tests;
