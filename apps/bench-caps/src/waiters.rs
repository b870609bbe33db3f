//! Deleting an endpoint or a notification that N threads wait on, and
//! CancelBadgedSends over N senders: the whole operation, and the kernel's
//! longest stretch between preemption points during it, which must not
//! grow with N (the kernel handles one waiter per unit of work). The
//! waiters come from `keel_bench::waiters`.

use crate::{slot, timed, RUNS};
use keel_abi::CapRights;
use keel_bench::waiters::{make_object, park, Kind, Room};
use keel_bench::{at, Step};
use keel_rt::println;
use keel_sys::cap::init_thread::{CNODE, DEBUG, SCHED_CONTROL};
use keel_sys::sched::SchedContextFlags;

/// Waiter counts.
pub const WAITERS: [u64; 5] = [1, 10, 100, 1_000, 10_000];

/// Measures deleting an endpoint and a notification with each number of
/// waiters, and CancelBadgedSends over each number of senders (through a
/// cap of badge 1 minted into root slot `badged`), `RUNS` times each.
pub fn run(room: &Room, badged: u64, overhead: u64) -> Step<()> {
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
                make_object(room, kind)?;
                park(room, kind, n, room.object)?;
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
    for n in WAITERS {
        for _ in 0..RUNS {
            make_object(room, Kind::Sender)?;
            at(
                "badged cap",
                slot(badged).mint(&slot(room.object), CapRights::ALL, 1),
            )?;
            park(room, Kind::Sender, n, badged)?;
            at("stretch reset", DEBUG.debug_longest_kernel_stretch())?;
            let t = at(
                "cancel badged sends",
                timed(overhead, || slot(badged).cancel_badged_sends()),
            )?;
            let stretch = at("stretch", DEBUG.debug_longest_kernel_stretch())?;
            println!("BENCH cancel-badged-sends {n} {t}");
            println!("BENCH cancel-badged-sends-longest-stretch {n} {stretch}");
            at(
                "senders gone",
                CNODE.absolute_cptr(room.untyped.cptr()).revoke(),
            )?;
        }
    }
    Ok(())
}
