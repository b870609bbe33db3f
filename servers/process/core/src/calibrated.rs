//! The reclamation costs measured on each architecture, as
//! `cargo xtask bench teardown --release` prints them (guest instructions
//! under `-icount`; the worst sample of one revoke of a group of 1 to 1,024
//! objects of each kind in its dearest state, see
//! `apps/bench-teardown`). Measured on 2026-12-07 with the kernel of that
//! day; a kernel change that makes a delete dearer needs a new run.
//!
//! The same kernel built again moves these by a few per cent (code
//! layout), so [`CostTable::for_arch`] adds [`MARGIN_PERCENT`] to each.

use crate::cost::{CostTable, KindCost};
use keel_abi::Arch;

/// What is added to each measured cost, in per cent.
pub const MARGIN_PERCENT: u64 = 10;

const fn cost(object: u64, per_slot: u64) -> KindCost {
    KindCost { object, per_slot }
}

const X86_64: CostTable = CostTable::new(
    842,
    [
        cost(0, 0),     // Untyped: never charged
        cost(2122, 0),  // Tcb
        cost(579, 0),   // Endpoint
        cost(598, 0),   // Notification
        cost(842, 372), // CNode
        cost(609, 0),   // SchedContext
        cost(574, 0),   // Reply
        cost(619, 0),   // VSpace
        cost(651, 0),   // PageUpperDirectory
        cost(682, 0),   // PageDirectory
        cost(702, 0),   // PageTable
        cost(703, 0),   // SmallPage
        cost(678, 0),   // LargePage
    ],
);

const AARCH64: CostTable = CostTable::new(
    802,
    [
        cost(0, 0),     // Untyped: never charged
        cost(1799, 0),  // Tcb
        cost(530, 0),   // Endpoint
        cost(542, 0),   // Notification
        cost(713, 319), // CNode
        cost(560, 0),   // SchedContext
        cost(520, 0),   // Reply
        cost(573, 0),   // VSpace
        cost(587, 0),   // PageUpperDirectory
        cost(608, 0),   // PageDirectory
        cost(627, 0),   // PageTable
        cost(637, 0),   // SmallPage
        cost(609, 0),   // LargePage
    ],
);

impl CostTable {
    /// The measured table of `arch`, each cost raised by
    /// [`MARGIN_PERCENT`].
    pub fn for_arch(arch: Arch) -> CostTable {
        let measured = match arch {
            Arch::X86_64 => X86_64,
            Arch::Aarch64 => AARCH64,
        };
        measured.with_margin(MARGIN_PERCENT)
    }
}
