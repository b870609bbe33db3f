//! Described systems for the tests of init, its servers and supervision
//! (run in the root task, which has the boot archive mapped): a manifest
//! made in the test ([`manifest_of`]: the root-task placeholder, which the
//! test's thread stands in for, then the test's programs), started by
//! keel-init from an untyped and slots the test takes through [`Env`] (so
//! the driver's revoke tears it all down); a client thread that calls a
//! server while the test's own thread is the supervisor; and malformed
//! requests sent raw to any server. The probe system (the `probe` and
//! `probe-peer` programs of the boot archive, see keel-probe) is here; the
//! console system is in `cases::server`.

use crate::support::step;
use crate::thread::{set_own_priority, shared, spawn};
use crate::{ensure, Env, TestResult};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use keel_abi::archive::Archive;
use keel_abi::manifest::{
    Connection, Manifest, Map, MapRights, Program, Region, Restart, Role, Sched,
};
use keel_abi::{CapRights, MessageInfo};
use keel_init::{DeviceUntyped, Event, Resources, State, System, SCRATCH_VADDR};
use keel_probe::ProbeClient;
use keel_protocols::badge::{ActivityId, ClientBadge, ClientId, Rights};
use keel_protocols::sys::EndpointClient;
use keel_protocols::wire::{Header, REPLY_RPC_ERROR};
use keel_protocols::RpcError;
use keel_sys::cap::{init_thread, Endpoint};
use keel_sys::{CPtr, Cap};

/// The probe server's index in [`probe_manifest`].
pub const PROBE: usize = 1;
/// The second probe's index.
pub const PEER: usize = 2;
/// The probe's priority; the peer's is below it (it is the probe's client).
pub const PROBE_PRIORITY: u8 = 100;
/// The client thread's priority: below the servers', above nothing else.
pub const CLIENT_PRIORITY: u64 = 50;
/// The shared region's size.
pub const REGION_SIZE: u64 = 0x2000;
/// Where the probe maps the shared region.
pub const PROBE_REGION_VADDR: u64 = 0x4000_0000;
/// Where the peer maps it (read-only).
pub const PEER_REGION_VADDR: u64 = 0x6000_0000;
/// The badge of the peer's connection to the probe.
pub const PEER_BADGE: ClientBadge = badge(9, 4, Rights::NONE);

/// A client badge.
pub const fn badge(client: u16, activity: u16, rights: Rights) -> ClientBadge {
    match ClientId::new(client) {
        Some(id) => ClientBadge::new(id, ActivityId(activity), rights),
        None => panic!("client 0 names no client"),
    }
}

/// A program of a test manifest, started by init, without a Debug cap,
/// mappings or interrupts.
pub fn program(name: &str, role: Role, sched: Sched, restart: Restart) -> Program {
    Program {
        name: name.to_string(),
        role,
        start: true,
        sched: Some(sched),
        restart,
        debug: false,
        maps: vec![],
        irqs: vec![],
        ioports: vec![],
    }
}

/// Scheduling at `priority` on a full budget (1 ms every 1 ms), passive
/// (a server that runs on its callers' budgets) or not.
pub fn sched(priority: u8, passive: bool) -> Sched {
    Sched {
        priority,
        budget_us: 1000,
        period_us: 1000,
        passive,
    }
}

/// A connection of program `client` to server `server`, named `name` in
/// the client's page and minted with `badge`.
pub fn connection(client: usize, server: usize, name: &str, badge: ClientBadge) -> Connection {
    Connection {
        client: client as u16,
        server: server as u16,
        name: name.to_string(),
        badge: badge.bits(),
    }
}

/// The manifest of system `name`: program 0 is the root task (the test's
/// thread in init's place, never started), then `programs` from index 1.
pub fn manifest_of(
    name: &str,
    programs: Vec<Program>,
    connections: Vec<Connection>,
    regions: Vec<Region>,
) -> Manifest {
    let root = Program {
        start: false,
        sched: None,
        ..program("root-task", Role::RootTask, sched(0, false), Restart::Never)
    };
    Manifest {
        connections,
        regions,
        ..Manifest::new(name, core::iter::once(root).chain(programs).collect())
    }
}

/// The probe system: the passive probe (restarted up to `limit` times,
/// with a Debug cap, the shared region read-write) and the peer (a server
/// that is the probe's client, never restarted, the region read-only).
pub fn probe_manifest(limit: u8) -> Manifest {
    let region = |vaddr, write| Map {
        region: 0,
        vaddr,
        rights: MapRights {
            read: true,
            write,
            execute: false,
        },
        cached: true,
    };
    let mut probe = program(
        "probe",
        Role::Server,
        sched(PROBE_PRIORITY, true),
        Restart::Always { limit },
    );
    probe.debug = true;
    probe.maps.push(region(PROBE_REGION_VADDR, true));
    let mut peer = program(
        "probe-peer",
        Role::Server,
        sched(PROBE_PRIORITY - 10, false),
        Restart::Never,
    );
    peer.maps.push(region(PEER_REGION_VADDR, false));
    manifest_of(
        "init-tests",
        vec![probe, peer],
        vec![connection(PEER, PROBE, "probe", PEER_BADGE)],
        vec![Region {
            name: "shared".to_string(),
            size: REGION_SIZE,
            phys_addr: None,
            arch: None,
        }],
    )
}

/// The boot archive.
pub fn archive(env: &Env) -> Result<Archive<'static>, String> {
    Archive::parse(keel_rt::boot_archive(env.boot_info))
        .map_err(|e| format!("the boot archive: {e:?}"))
}

/// Sets up `manifest`'s system (quietly) from the test's memory; starts
/// nothing yet.
pub fn set_up<'a>(
    env: &Env,
    manifest: &'a Manifest,
    archive: &'a Archive<'a>,
) -> Result<System<'a>, String> {
    set_up_sized(env, manifest, archive, 23)
}

/// As [`set_up`], from a pool untyped of at least `2^pool_bits` bytes.
pub fn set_up_sized<'a>(
    env: &Env,
    manifest: &'a Manifest,
    archive: &'a Archive<'a>,
    pool_bits: u8,
) -> Result<System<'a>, String> {
    let res = resources(env, manifest, pool_bits, Vec::new())?;
    let mut system = step(System::new(manifest, archive, res), "set the system up")?;
    system.set_verbose(false);
    Ok(system)
}

/// Init's resources for `manifest`'s system: a pool untyped of at least
/// `2^pool_bits` bytes, slots, and `devices` to carve device regions from.
pub fn resources(
    env: &Env,
    manifest: &Manifest,
    pool_bits: u8,
    devices: Vec<DeviceUntyped>,
) -> Result<Resources, String> {
    let (pool, _) = env.untyped(pool_bits)?;
    // A block of 16 per program, and init's own objects.
    let count = (16 * manifest.programs.len() as u64 + 32).max(64);
    // Splitting device untyped down to a region's pages takes two slots a
    // level, for each page.
    let device_pages: u64 = manifest
        .regions
        .iter()
        .filter(|r| r.phys_addr.is_some())
        .map(|r| r.size / keel_abi::PAGE_SIZE as u64)
        .sum();
    let count = count + 40 * device_pages;
    let first = env.slots(count)?;
    Ok(Resources {
        pool,
        slots: first..first + count,
        scratch_vaddr: SCRATCH_VADDR,
        debug: init_thread::DEBUG,
        archive: Some(keel_init::ArchiveFrames::of(env.boot_info)),
        devices,
    })
}

/// Sets up `manifest`'s system and starts its programs.
pub fn start<'a>(
    env: &Env,
    manifest: &'a Manifest,
    archive: &'a Archive<'a>,
) -> Result<System<'a>, String> {
    let mut system = set_up(env, manifest, archive)?;
    step(system.start_all(), "start the system")?;
    Ok(system)
}

/// A cap of the test's to server `index`'s endpoint, minted with `badge`.
pub fn client_cap(
    env: &Env,
    system: &System,
    index: usize,
    badge: u64,
) -> Result<Cap<Endpoint>, String> {
    let endpoint = system
        .server_endpoint(index)
        .ok_or("the program is no server")?;
    let slot = env.slots(1)?;
    step(
        crate::support::slot(slot).mint(
            &init_thread::CNODE.absolute_cptr(endpoint.cptr()),
            CapRights::WRITE
                .union(CapRights::GRANT)
                .union(CapRights::GRANT_REPLY),
            badge,
        ),
        "mint a client cap",
    )?;
    Ok(Cap::from_cptr(CPtr::from_bits(slot)))
}

/// A probe client through `cap`.
pub fn probe_client(cap: Cap<Endpoint>) -> Result<ProbeClient<EndpointClient>, String> {
    let transport = EndpointClient::new(cap, None).map_err(|e| format!("a client: {e}"))?;
    Ok(ProbeClient::new(transport))
}

/// Runs `entry` as client thread 0 at [`CLIENT_PRIORITY`] with `cap` in
/// its shared `cap`, while the test's thread supervises: it takes
/// `failures` failures (waiting, after each restart, until the new instance
/// is ready), then lowers its priority until the client has finished.
/// Returns the events.
pub fn with_client(
    env: &Env,
    system: &mut System,
    entry: extern "C" fn(u64) -> !,
    cap: Cap<Endpoint>,
    failures: usize,
) -> Result<Vec<Event>, String> {
    shared(0).cap.store(cap.cptr().bits(), Ordering::SeqCst);
    let tcb = spawn(env, entry, 0, 0, CLIENT_PRIORITY)?;
    step(tcb.tcb_resume(), "start the client")?;
    let mut events = Vec::new();
    while events.len() < failures {
        let event = system.step();
        if let Event::Restarted { program, .. } = event {
            step(system.until_ready(program), "wait for the new instance")?;
        }
        if event != Event::Refused {
            events.push(event);
        }
    }
    set_own_priority(CLIENT_PRIORITY - 1)?;
    set_own_priority(255)?;
    Ok(events)
}

/// Checks program `index` is in `state`.
pub fn expect_state(system: &System, index: usize, state: State) -> TestResult {
    let got = system.program(index).map(|p| p.state);
    ensure!(
        got == Some(state),
        "program {index} is {got:?}, expected {state:?}"
    );
    Ok(())
}

/// An operation of a server's protocol, sent raw.
#[derive(Clone, Copy)]
pub struct Operation {
    /// The protocol.
    pub protocol: u16,
    /// The server's version of it.
    pub version: u8,
    /// The operation.
    pub op: u8,
    /// How many message words it takes.
    pub words: u64,
}

/// The label of operation `op` of `protocol` at `version`.
pub fn label(protocol: u16, version: u8, op: u8) -> u64 {
    Header {
        protocol,
        version,
        op,
        relay: None,
    }
    .label()
}

/// A raw Call of `label` with `length` words; the RpcError it answers.
pub fn raw(ep: Cap<Endpoint>, label: u64, length: u64) -> Result<RpcError, String> {
    let got = ep.call(MessageInfo::new(label, 0, 0, length), [1, 2, 3, 4]);
    ensure!(
        got.info.label() == REPLY_RPC_ERROR,
        "label {label:#x}: answered label {:#x}",
        got.info.label()
    );
    let [a, b, c, _] = got.mrs;
    RpcError::from_words([a, b, c])
        .ok_or_else(|| format!("label {label:#x}: unreadable error {:?}", got.mrs))
}

/// Sends malformed forms of `op` raw through `ep` (operation 99, which
/// the protocol lacks; another protocol; the next version; `op` with each
/// of `wrong_lengths` words) and checks that each is answered with the
/// error naming what was wrong and that `serving` still succeeds after it.
pub fn expect_malformed_refused(
    ep: Cap<Endpoint>,
    op: Operation,
    wrong_lengths: &[u8],
    mut serving: impl FnMut() -> TestResult,
) -> TestResult {
    let (p, v) = (op.protocol, op.version);
    let mut cases = vec![
        (
            label(p, v, 99),
            op.words,
            RpcError::UnknownOperation { op: 99 },
        ),
        (
            label(p + 1, v, op.op),
            op.words,
            RpcError::WrongProtocol {
                expected: p,
                got: p + 1,
            },
        ),
        (
            label(p, v + 1, op.op),
            op.words,
            RpcError::VersionMismatch {
                server: v,
                client: v + 1,
            },
        ),
    ];
    for &words in wrong_lengths {
        cases.push((
            label(p, v, op.op),
            words.into(),
            RpcError::WrongLength { words },
        ));
    }
    for (label, length, want) in cases {
        let got = raw(ep, label, length)?;
        ensure!(
            got == want,
            "label {label:#x}, {length} words: answered {got:?}, expected {want:?}"
        );
        serving().map_err(|e| format!("serving after label {label:#x}: {e}"))?;
    }
    Ok(())
}
