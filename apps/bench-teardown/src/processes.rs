//! The deadline rows: processes spawned through the process server (started
//! here, in init's place, as system.toml describes it), each holding a
//! random mix of objects or blocked in Send or Recv, then killed. Each kill
//! prints the teardown the server measured (its revoke of the group and its
//! bookkeeping) and the deadline the process declared at spawn, as
//! `BENCH kill-measured <i> <instructions>` and `BENCH kill-deadline <i>
//! <instructions>`; the build tool counts those within their deadline.

use crate::{cap, Slots};
use keel_abi::archive::Archive;
use keel_abi::{BootInfo, Error, ObjectType};
use keel_bench::system::{around, client_cap, described, init_step};
use keel_bench::{at, failed, Failure, Step};
use keel_init::{ArchiveFrames, Resources, System, SCRATCH_VADDR};
use keel_process_core::cost::CostTable;
use keel_protocols::badge::{ActivityId, ClientBadge, ClientId, Rights};
use keel_protocols::process::{ProcessClient, SpawnArgs, Spawned, POOL_BITS};
use keel_protocols::sys::EndpointClient;
use keel_rt::println;
use keel_spawnee::{arg, MODE_EXIT, MODE_MIX, MODE_RECV, MODE_SEND};
use keel_sys::arch::ARCH;
use keel_sys::cap::init_thread::{DEBUG, TCB};
use keel_sys::cap::Untyped;
use keel_sys::Cap;

/// Processes spawned and killed.
const CYCLES: u64 = 1000;
/// Each one's group: room for the largest mix besides the program.
const GROUP: u64 = 1 << 18;
/// The processes' priority: below the server, above this thread while it
/// spawns, so each has made its objects and blocked by the time spawn's
/// reply is read.
const CHILD_PRIORITY: u8 = 100;
/// This thread's priority while it spawns.
const SPAWNING_PRIORITY: u64 = 50;
/// This thread's priority as init: above everything it starts.
const INIT_PRIORITY: u64 = 255;
/// Slots init works with.
const INIT_SLOTS: u64 = 128;
/// A mix's quota, in initial charges of a spawnee that only exits: room
/// for the largest mix.
const MIX_QUOTA_CHARGES: u64 = 4;

/// Runs the process server made from `from`: the quota charge's rounds
/// ([`crate::quota`]), then the spawn/kill cycles. `overhead` is the
/// counter's own.
pub(crate) fn run(
    boot_info: &'static BootInfo,
    from: Cap<Untyped>,
    slots: &mut Slots,
    overhead: u64,
) -> Step<()> {
    let archive = Archive::parse(keel_rt::boot_archive(boot_info))
        .map_err(|_| failed("the boot archive", Error::InvalidArgument))?;
    let server = described(&archive, "process")
        .ok_or_else(|| Failure::new("system.toml describes no process server"))?;
    let mut manifest = around("bench-teardown", server);
    manifest.process = Some(1);
    let pool = crate::make(
        from,
        slots,
        ObjectType::Untyped,
        u64::from(POOL_BITS) + 2,
        "pool",
    )?;
    let first = slots.take(INIT_SLOTS);
    let res = Resources {
        pool: cap(pool),
        slots: first..first + INIT_SLOTS,
        scratch_vaddr: SCRATCH_VADDR,
        debug: DEBUG,
        archive: Some(ArchiveFrames::of(boot_info)),
        devices: alloc::vec::Vec::new(),
    };
    at("run as init", TCB.tcb_set_priority(TCB, INIT_PRIORITY))?;
    let mut system = init_step(System::new(&manifest, &archive, res))?;
    system.set_verbose(false);
    init_step(system.start_all())?;
    let mut client = connect(&system, slots.take(1))?;
    at("spawn below", TCB.tcb_set_priority(TCB, SPAWNING_PRIORITY))?;
    let exiting = spawn(&mut client, arg(MODE_EXIT, 0), u64::MAX >> 1)?;
    client
        .wait(exiting.pid)
        .map_err(|e| Failure::new(alloc::format!("wait for the exiting spawnee: {e:?}")))?;
    let initial = exiting.charged;
    crate::quota::run(&system, &mut client, slots, overhead)?;
    // A process blocked in Send made one endpoint besides what it was
    // spawned with, one blocked in Recv an endpoint and a Reply object: its
    // quota is exactly that, so its deadline is as tight as the table
    // makes it.
    let table = CostTable::for_arch(ARCH);
    let cost = |kind| {
        table
            .cost(kind, 0, 1)
            .map_err(|e| Failure::new(alloc::format!("the cost of {kind:?}: {e:?}")))
    };
    let sender = initial + cost(ObjectType::Endpoint)?;
    let receiver = sender + cost(ObjectType::Reply)?;
    for i in 0..CYCLES {
        let (mode, quota) = match i % 4 {
            0 => (arg(MODE_SEND, 0), sender),
            1 => (arg(MODE_RECV, 0), receiver),
            _ => (
                arg(MODE_MIX, i.wrapping_mul(0x2545_f491) ^ 0x5a5a),
                MIX_QUOTA_CHARGES * initial,
            ),
        };
        let s = spawn(&mut client, mode, quota)?;
        let t = client
            .kill(s.pid)
            .map_err(|e| Failure::new(alloc::format!("kill {:#x}: {e:?}", s.pid)))?;
        println!("BENCH kill-measured {i} {}", t.measured);
        println!("BENCH kill-deadline {i} {}", t.deadline);
    }
    at(
        "run as init again",
        TCB.tcb_set_priority(TCB, INIT_PRIORITY),
    )
}

/// Spawns keel-spawnee with `argument` and `quota`.
pub(crate) fn spawn(
    c: &mut ProcessClient<EndpointClient>,
    argument: u64,
    quota: u64,
) -> Step<Spawned> {
    let args = SpawnArgs {
        memory: GROUP,
        quota,
        arg: argument,
        priority: CHILD_PRIORITY,
        ..SpawnArgs::default()
    };
    c.spawn(args, &"spawnee".try_into().unwrap_or_default())
        .map_err(|e| Failure::new(alloc::format!("spawn {argument:#x}: {e:?}")))
}

/// A client (client 1) of the process server, through a cap minted into
/// root slot `slot`.
fn connect(system: &System, slot: u64) -> Step<ProcessClient<EndpointClient>> {
    let id = ClientId::new(1).ok_or_else(|| Failure::new("client 1"))?;
    let cap = client_cap(
        system,
        1,
        slot,
        ClientBadge::new(id, ActivityId(0), Rights::NONE),
    )?;
    let transport = EndpointClient::new(cap, None)
        .map_err(|e| Failure::new(alloc::format!("a client: {e}")))?;
    Ok(ProcessClient::new(transport))
}
