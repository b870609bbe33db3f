//! Described systems for the tests of init and supervision (run in the
//! root task, which has the boot archive mapped): a manifest
//! made in the test (the `probe` and `probe-peer` programs of the boot
//! archive, see keel-probe), started by keel-init from an untyped and slots
//! the test takes through [`Env`] (so the driver's revoke tears it all
//! down), and a client thread that calls a server while the test's own
//! thread is the supervisor.

use crate::support::step;
use crate::thread::{set_own_priority, shared, spawn};
use crate::{Env, TestResult};
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use keel_abi::archive::Archive;
use keel_abi::manifest::{
    Connection, Manifest, Map, MapRights, Program, Region, Restart, Role, Sched, Start,
};
use keel_abi::CapRights;
use keel_init::{Event, Resources, State, System, SCRATCH_VADDR};
use keel_probe::ProbeClient;
use keel_protocols::badge::{ActivityId, ClientBadge, ClientId, Rights};
use keel_protocols::sys::EndpointClient;
use keel_sys::cap::{init_thread, Endpoint};
use keel_sys::{CPtr, Cap};

/// The probe server's index in [`manifest`].
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

fn program(name: &str, role: Role, sched: Option<Sched>, restart: Restart) -> Program {
    Program {
        name: name.to_string(),
        role,
        start: role != Role::RootTask,
        sched,
        restart,
        debug: false,
        maps: vec![],
        irqs: vec![],
    }
}

fn server(priority: u8, passive: bool) -> Option<Sched> {
    Some(Sched {
        priority,
        budget_us: 1000,
        period_us: 1000,
        passive,
    })
}

/// The test system: the passive probe (restarted up to `limit` times, with
/// a Debug cap, the shared region read-write) and the peer (a server that
/// is the probe's client, never restarted, the region read-only).
pub fn manifest(limit: u8) -> Manifest {
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
        server(PROBE_PRIORITY, true),
        Restart::Always { limit },
    );
    probe.debug = true;
    probe.maps.push(region(PROBE_REGION_VADDR, true));
    let mut peer = program(
        "probe-peer",
        Role::Server,
        server(PROBE_PRIORITY - 10, false),
        Restart::Never,
    );
    peer.maps.push(region(PEER_REGION_VADDR, false));
    Manifest {
        system: "init-tests".to_string(),
        programs: vec![
            program("root-task", Role::RootTask, None, Restart::Never),
            probe,
            peer,
        ],
        connections: vec![Connection {
            client: PEER as u16,
            server: PROBE as u16,
            name: "probe".to_string(),
            badge: PEER_BADGE.bits(),
        }],
        regions: vec![Region {
            name: "shared".to_string(),
            size: REGION_SIZE,
            phys_addr: None,
        }],
        start: Start::System,
    }
}

/// The boot archive.
pub fn archive(env: &Env) -> Result<Archive<'static>, String> {
    Archive::parse(keel_rt::boot_archive(env.boot_info))
        .map_err(|e| alloc::format!("the boot archive: {e:?}"))
}

/// Sets up `manifest`'s system (quietly) from the test's memory and
/// starts its programs.
pub fn start<'a>(
    env: &Env,
    manifest: &'a Manifest,
    archive: &'a Archive<'a>,
) -> Result<System<'a>, String> {
    let (pool, _) = env.untyped(23)?;
    let first = env.slots(64)?;
    let res = Resources {
        pool,
        slots: first..first + 64,
        scratch_vaddr: SCRATCH_VADDR,
        debug: init_thread::DEBUG,
    };
    let mut system = step(System::new(manifest, archive, res), "set the system up")?;
    system.set_verbose(false);
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
            CapRights::WRITE.union(CapRights::GRANT_REPLY),
            badge,
        ),
        "mint a client cap",
    )?;
    Ok(Cap::from_cptr(CPtr::from_bits(slot)))
}

/// A probe client through `cap`.
pub fn probe_client(cap: Cap<Endpoint>) -> Result<ProbeClient<EndpointClient>, String> {
    let transport = EndpointClient::new(cap, None).map_err(|e| alloc::format!("a client: {e}"))?;
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
    crate::ensure!(
        got == Some(state),
        "program {index} is {got:?}, expected {state:?}"
    );
    Ok(())
}
