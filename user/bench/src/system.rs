//! Systems a benchmark builds around one server of system.toml, in init's
//! place (keel-init as a library): the server as the boot manifest
//! describes it, started, and client caps to it.

use crate::{at, Failure, Step};
use alloc::vec;
use keel_abi::archive::{Archive, MANIFEST_NAME};
use keel_abi::manifest::{Manifest, Program, Restart, Role, Sched};
use keel_abi::CapRights;
use keel_init::{InitError, System};
use keel_protocols::ClientBadge;
use keel_sys::cap::{init_thread, Endpoint};
use keel_sys::{CPtr, Cap};

/// Program `name` as the boot manifest (system.toml) describes it, with
/// its scheduling, interrupts and I/O ports, for a system a benchmark or a
/// test builds around it (the timer server, with its device); `None` when
/// the archive has no manifest or the manifest no such program.
pub fn described(archive: &Archive, name: &str) -> Option<Program> {
    let entry = archive.find(MANIFEST_NAME)?;
    let manifest = Manifest::decode(archive.data(entry)).ok()?;
    manifest.programs.into_iter().find(|p| p.name == name)
}

/// The system `name`: the root task's placeholder (the benchmark), then
/// `server`, started; the server is program 1.
pub fn around(name: &str, server: Program) -> Manifest {
    let root = Program {
        name: "root-task".into(),
        role: Role::RootTask,
        start: false,
        sched: None::<Sched>,
        restart: Restart::Never,
        debug: false,
        maps: vec![],
        irqs: vec![],
        ioports: vec![],
    };
    let server = Program {
        start: true,
        ..server
    };
    Manifest::new(name, vec![root, server])
}

/// Names init's failed step.
pub fn init_step<T>(r: Result<T, InitError>) -> Step<T> {
    r.or_else(|e| at(e.step, Err(e.error)))
}

/// A cap to server `index`'s endpoint with `badge` and the rights to Call,
/// minted into root slot `slot`.
///
/// # Errors
/// The program is no server, or the mint failed.
pub fn client_cap(
    system: &System,
    index: usize,
    slot: u64,
    badge: ClientBadge,
) -> Step<Cap<Endpoint>> {
    let endpoint = system
        .server_endpoint(index)
        .ok_or_else(|| Failure::new("the program is no server"))?;
    let rights = CapRights::WRITE
        .union(CapRights::GRANT)
        .union(CapRights::GRANT_REPLY);
    at(
        "mint a client's cap",
        init_thread::CNODE
            .absolute_cptr(CPtr::from_bits(slot))
            .mint(
                &init_thread::CNODE.absolute_cptr(endpoint.cptr()),
                rights,
                badge.bits(),
            ),
    )?;
    Ok(Cap::from_cptr(CPtr::from_bits(slot)))
}
