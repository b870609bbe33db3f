//! The quota charge's share of an allocation. A process blocked in Recv
//! (so the server holds it as running) is asked objects for: this thread
//! calls the process server's `alloc_object` through a cap badged as that
//! process, a whole round trip (IPC, the server's checks, the admission
//! against the quota, the retype into the process's group and CNode, the
//! charge). In the same round it times the charge alone, the same
//! `keel-process-core` calls the server makes on the same table
//! ([`Quota::admit`] then [`Quota::charge`]); the uncharged allocation is
//! the round trip less that. It prints `BENCH quota-alloc-charged <i>
//! <ticks>` and `BENCH quota-charge <i> <ticks>` per round.

use core::hint::black_box;

use crate::processes::spawn;
use crate::Slots;
use keel_abi::ObjectType;
use keel_bench::system::client_cap;
use keel_bench::{Failure, Step};
use keel_init::System;
use keel_process_core::cost::CostTable;
use keel_process_core::quota::Quota;
use keel_process_core::table::Pid;
use keel_protocols::badge::{ActivityId, ClientBadge, ClientId, Rights};
use keel_protocols::process::{ProcessClient, CHILD_CLIENT_BASE};
use keel_protocols::sys::EndpointClient;
use keel_rt::println;
use keel_spawnee::{arg, MODE_RECV};
use keel_sys::arch::{cycle_counter, ARCH};

/// Rounds (an allocation each: within the spawnee's CNode).
const ROUNDS: u64 = 33;
/// A quota no round comes near.
const UNLIMITED: u64 = u64::MAX >> 1;
/// The kind allocated.
const KIND: ObjectType = ObjectType::Notification;

/// Times `ROUNDS` allocations and charges with the process server
/// `system` runs, as client `client` spawning the process asked for.
pub(crate) fn run(
    system: &System,
    client: &mut ProcessClient<EndpointClient>,
    slots: &mut Slots,
    overhead: u64,
) -> Step<()> {
    let process = spawn(client, arg(MODE_RECV, 0), UNLIMITED)?;
    let index = u16::try_from(Pid::from_raw(process.pid).index())
        .map_err(|_| Failure::new("a pid beyond the badges"))?;
    let id = CHILD_CLIENT_BASE
        .checked_add(index)
        .and_then(ClientId::new)
        .ok_or_else(|| Failure::new("the spawned process's badge"))?;
    let badge = ClientBadge::new(id, ActivityId(0), Rights::NONE);
    let cap = client_cap(system, 1, slots.take(1), badge)?;
    let transport = EndpointClient::new(cap, None)
        .map_err(|e| Failure::new(alloc::format!("the process's cap: {e}")))?;
    let mut as_process = ProcessClient::new(transport);
    let table = CostTable::for_arch(ARCH);
    let mut quota = Quota::new(UNLIMITED);
    for i in 0..ROUNDS {
        let t0 = cycle_counter();
        let made = as_process.alloc_object(KIND as u64, 0);
        let t1 = cycle_counter();
        made.map_err(|e| Failure::new(alloc::format!("alloc_object: {e:?}")))?;
        // Opaque to the optimiser, as the server's table and request are.
        let (costs, kind, bits) = (black_box(&table), black_box(KIND), black_box(0));
        let t2 = cycle_counter();
        let charged = quota
            .admit(costs, kind, bits, 1)
            .and_then(|cost| quota.charge(cost));
        let t3 = cycle_counter();
        charged.map_err(|e| Failure::new(alloc::format!("the charge: {e:?}")))?;
        let round_trip = (t1 - t0).saturating_sub(overhead);
        let charge = (t3 - t2).saturating_sub(overhead);
        println!("BENCH quota-alloc-charged {i} {round_trip}");
        println!("BENCH quota-charge {i} {charge}");
    }
    client
        .kill(process.pid)
        .map_err(|e| Failure::new(alloc::format!("kill the allocating process: {e:?}")))?;
    Ok(())
}
