//! The cost table the server charges with until the calibration benchmark's
//! table (`CostTable::for_arch`) lands in keel-process-core: per-kind
//! upper estimates, in instructions, set well above what `bench caps`
//! measured for one object's delete (an endpoint's whole delete at N = 1
//! is 807 / 751 instructions on x86_64 / aarch64, a revoke step at most
//! 865), so a deadline declared from them is generous rather than tight.
//! The server's logic takes the table as a value ([`crate::server::Server::new`]),
//! so swapping in the calibrated one changes only this function.

use keel_abi::ObjectType;
use keel_process_core::cost::{CostTable, KindCost};

/// One kind's estimate: `object` instructions, and `per_slot` for CNodes.
const fn kind(object: u64, per_slot: u64) -> KindCost {
    KindCost { object, per_slot }
}

/// The provisional table (the same for both architectures).
pub fn provisional() -> CostTable {
    let mut kinds = [KindCost::default(); ObjectType::ALL.len()];
    for &t in ObjectType::ALL {
        kinds[t as usize] = match t {
            // Refused by the cost function before its entry is read.
            ObjectType::Untyped => kind(0, 0),
            ObjectType::Tcb => kind(4_000, 0),
            ObjectType::Endpoint | ObjectType::Notification => kind(2_000, 0),
            ObjectType::CNode => kind(1_500, 200),
            ObjectType::SchedContext | ObjectType::Reply => kind(1_500, 0),
            ObjectType::VSpace => kind(3_000, 0),
            ObjectType::PageUpperDirectory | ObjectType::PageDirectory | ObjectType::PageTable => {
                kind(2_500, 0)
            }
            ObjectType::SmallPage | ObjectType::LargePage => kind(1_500, 0),
        };
    }
    CostTable::new(30_000, kinds)
}
