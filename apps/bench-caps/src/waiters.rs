//! Deleting an endpoint or a notification that N threads wait on: the
//! whole delete, and the kernel's longest stretch between preemption points
//! during it, which must not grow with N (the kernel releases one waiter
//! per unit of work). The waiters come from `keel_bench::waiters`.

use crate::{slot, timed, RUNS};
use keel_bench::waiters::{park, Kind, Room};
use keel_bench::{at, Step};
use keel_rt::println;
use keel_sys::cap::init_thread::{CNODE, DEBUG, SCHED_CONTROL};
use keel_sys::sched::SchedContextFlags;

/// Waiter counts.
pub const WAITERS: [u64; 5] = [1, 10, 100, 1_000, 10_000];

/// Measures deleting an endpoint and a notification with each number of
/// waiters, `RUNS` times each.
pub fn run(room: &Room, overhead: u64) -> Step<()> {
    at(
        "waiters' context",
        SCHED_CONTROL.sched_control_configure_flags(
            room.context,
            1000,
            1000,
            0,
            0,
            SchedContextFlags::NONE,
        ),
    )?;
    for kind in [Kind::Endpoint, Kind::Notification] {
        let name = kind.name();
        for n in WAITERS {
            for _ in 0..RUNS {
                park(room, kind, n)?;
                at("stretch reset", DEBUG.debug_longest_kernel_stretch())?;
                let t = at("delete", timed(overhead, || slot(room.object).delete()))?;
                let stretch = at("stretch", DEBUG.debug_longest_kernel_stretch())?;
                println!("BENCH {name}-delete {n} {t}");
                println!("BENCH {name}-delete-longest-stretch {n} {stretch}");
                at(
                    "waiters gone",
                    CNODE.absolute_cptr(room.untyped.cptr()).revoke(),
                )?;
            }
        }
    }
    Ok(())
}
