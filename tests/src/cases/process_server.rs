//! PROCESS0100-0103, QUOTA0001-0002: the process server started by
//! keel-init (the test's thread in init's place), spawning keel-spawnee
//! from the boot archive, each process in a reclamation group of its own.
//! The test's thread runs below the processes it spawns (and the server
//! above them), so a spawned process has reached whatever it blocks in, or
//! exited, by the time spawn's reply is read. "The pool is whole" is
//! checked by spawning one process whose group is the whole pool: the
//! buddy allocator has it only when every block came back and merged.

use crate::support::step;
use crate::system::{badge, client_cap, manifest_of, program, sched};
use crate::thread::set_own_priority;
use crate::{ensure, Env, TestResult};
use alloc::format;
use alloc::string::String;
use keel_abi::manifest::{Manifest, Program, Restart, Role};
use keel_protocols::process::{
    how, Ended, ProcessClient, ProcessError, SpawnArgs, Spawned, KEEL_RT, POOL_BITS,
};
use keel_protocols::sys::EndpointClient;
use keel_protocols::Rights;
use keel_spawnee::{alloc_status, arg, MODE_ALLOC_ALL, MODE_EXIT, MODE_PROBE, MODE_RECV};

/// The process server's index in the test's manifest.
pub const SERVER: usize = 1;
/// Its priority: above its processes, whose faults it takes.
pub const SERVER_PRIORITY: u8 = 200;
/// The spawned processes' priority: above the test's thread.
pub const CHILD_PRIORITY: u8 = 100;
/// The test's thread while the server runs: below its processes.
const TEST_PRIORITY: u64 = 50;
/// The test thread's priority otherwise.
pub const DRIVER_PRIORITY: u64 = 255;
/// A spawnee's group: 128 KiB.
pub const SMALL: u64 = 1 << 17;
/// A quota no spawnee comes near.
pub const PLENTY: u64 = 1 << 40;
/// log2 of the untyped the test's system is made from: the process
/// server's 2^(POOL_BITS + 1) and init's own objects.
pub const SYSTEM_BITS: u8 = POOL_BITS + 2;

/// A client of the process server.
pub type Client = ProcessClient<EndpointClient>;

/// The process server's program: active at `priority`, with a Debug cap.
pub fn server(priority: u8) -> Program {
    let mut server = program(
        "process",
        Role::Server,
        sched(priority, false),
        Restart::Never,
    );
    server.debug = true;
    server
}

/// The system: the process server alone.
pub fn manifest() -> Manifest {
    Manifest {
        process: Some(SERVER as u16),
        ..manifest_of(
            "process-tests",
            alloc::vec![server(SERVER_PRIORITY)],
            alloc::vec![],
            alloc::vec![],
        )
    }
}

/// A client of the process server at program `server` with the badge of
/// client `client` and `rights`.
pub fn client_of(
    env: &Env,
    system: &keel_init::System,
    server: usize,
    client: u16,
    rights: Rights,
) -> Result<Client, String> {
    let cap = client_cap(env, system, server, badge(client, 0, rights).bits())?;
    let transport = EndpointClient::new(cap, None).map_err(|e| format!("a client: {e}"))?;
    Ok(ProcessClient::new(transport))
}

/// A client with the badge of client `client`.
pub fn client(env: &Env, system: &keel_init::System, client: u16) -> Result<Client, String> {
    client_of(env, system, SERVER, client, Rights::NONE)
}

/// Puts the test's thread back at the driver's priority when dropped.
pub struct Lowered;

impl Lowered {
    /// Lowers the test's thread below the processes.
    pub fn new() -> Result<Lowered, String> {
        set_own_priority(TEST_PRIORITY)?;
        Ok(Lowered)
    }
}

impl Drop for Lowered {
    fn drop(&mut self) {
        let _ = set_own_priority(DRIVER_PRIORITY);
    }
}

/// Starts the process server from the test's memory and binds `$c` to a
/// client (client 1) with the test's thread lowered.
macro_rules! started {
    ($env:expr, $system:ident, $c:ident) => {
        use crate::cases::process_server as ps;
        let m = ps::manifest();
        let archive = crate::system::archive($env)?;
        let mut $system = crate::system::set_up_sized($env, &m, &archive, ps::SYSTEM_BITS)?;
        // Init's place is above everything it starts (an earlier test may
        // have left the thread lower): the server's one-way `ready` finds
        // it waiting.
        crate::thread::set_own_priority(ps::DRIVER_PRIORITY)?;
        crate::support::step($system.start_all(), "start the process server")?;
        crate::system::expect_state(&$system, ps::SERVER, keel_init::State::Running)?;
        let mut $c = ps::client($env, &$system, 1)?;
        let _lowered = ps::Lowered::new()?;
    };
}
pub(crate) use started;

/// Spawns keel-spawnee with argument `argument`.
pub fn spawn_with(
    c: &mut Client,
    argument: u64,
    memory: u64,
    quota: u64,
    priority: u8,
) -> Result<Spawned, ProcessError> {
    let args = SpawnArgs {
        memory,
        quota,
        arg: argument,
        priority,
        ..SpawnArgs::default()
    };
    c.spawn(args, &"spawnee".try_into().unwrap_or_default())
}

/// Spawns keel-spawnee in a small group with plenty of quota, above the test.
pub fn spawn(c: &mut Client, argument: u64) -> Result<Spawned, String> {
    spawn_with(c, argument, SMALL, PLENTY, CHILD_PRIORITY)
        .map_err(|e| format!("spawn {argument:#x}: {e:?}"))
}

/// Waits for `pid`; fails unless it ended `expected`.
pub fn wait_for(c: &mut Client, pid: u64, expected: Ended) -> TestResult {
    let got = c.wait(pid).map_err(|e| format!("wait {pid:#x}: {e:?}"))?;
    ensure!(
        got == expected,
        "process {pid:#x} ended {got:?}, expected {expected:?}"
    );
    Ok(())
}

/// An exit with `status`.
pub const fn exited(status: u64) -> Ended {
    Ended {
        how: how::EXITED,
        status,
    }
}

/// Fails unless the pool is one whole block: a process whose group is the
/// whole pool spawns, runs and exits.
pub fn pool_is_whole(c: &mut Client) -> TestResult {
    let s = spawn_with(c, arg(MODE_EXIT, 7), 1 << POOL_BITS, PLENTY, CHILD_PRIORITY)
        .map_err(|e| format!("a process with the whole pool (is a block lost?): {e:?}"))?;
    wait_for(c, s.pid, exited(7))
}

/// PROCESS0100: spawn, wait and the exit status, whether the process
/// exits before the wait (its end kept for the wait) or after (the wait's
/// reply kept until it does); a reaped pid is no process; a keel-rt
/// program (hello) runs and exits through the server too.
pub fn spawn_wait_exit(env: &Env) -> TestResult {
    started!(env, system, c);
    let early = spawn(&mut c, arg(MODE_EXIT, 42))?;
    ensure!(
        early.deadline > early.charged && early.charged > 0,
        "spawned {early:?}"
    );
    wait_for(&mut c, early.pid, exited(42))?;
    let late = spawn_with(&mut c, arg(MODE_EXIT, 9), SMALL, PLENTY, 1)
        .map_err(|e| format!("spawn below the test: {e:?}"))?;
    wait_for(&mut c, late.pid, exited(9))?;
    ensure!(
        c.wait(early.pid) == Err(ProcessError::NoSuchProcess),
        "a reaped process is still waited for"
    );
    // A keel-rt program: its ProcessInfo page names the server as its init,
    // and returning from main is its exit.
    let args = SpawnArgs {
        memory: 1 << 21,
        quota: PLENTY,
        priority: CHILD_PRIORITY,
        flags: KEEL_RT,
        ..SpawnArgs::default()
    };
    let hello = c
        .spawn(args, &"hello".try_into().unwrap_or_default())
        .map_err(|e| format!("spawn hello: {e:?}"))?;
    wait_for(&mut c, hello.pid, exited(0))?;
    pool_is_whole(&mut c)
}

/// PROCESS0101: list names the caller's processes with their state,
/// group size and charges, and no one else's.
pub fn list_processes(env: &Env) -> TestResult {
    started!(env, system, c);
    let a = spawn(&mut c, arg(MODE_RECV, 0))?;
    let b = spawn(&mut c, arg(MODE_EXIT, 3))?;
    let mut other = client(env, &system, 2)?;
    let theirs = spawn(&mut other, arg(MODE_RECV, 0))?;
    let list = c.list().map_err(|e| format!("list: {e:?}"))?;
    ensure!(
        list.len() == 2,
        "{} processes listed, expected 2",
        list.len()
    );
    let entry = |pid| list.iter().find(|e| e.pid == pid);
    let (Some(ea), Some(eb)) = (entry(a.pid), entry(b.pid)) else {
        return Err(format!("list {list:?} lacks {:#x} or {:#x}", a.pid, b.pid));
    };
    ensure!(
        ea.name == "spawnee" && ea.state == 0 && ea.memory == SMALL && ea.quota == PLENTY,
        "running entry {ea:?}"
    );
    ensure!(
        ea.charged >= a.charged,
        "entry {ea:?} charged less than at spawn {a:?}"
    );
    ensure!(
        eb.state == how::EXITED && eb.memory == 0,
        "exited entry {eb:?}"
    );
    ensure!(
        entry(theirs.pid).is_none(),
        "another client's process is listed"
    );
    step(c.kill(a.pid).map_err(|e| format!("{e:?}")), "kill")?;
    wait_for(&mut c, b.pid, exited(3))?;
    step(
        other.kill(theirs.pid).map_err(|e| format!("{e:?}")),
        "kill theirs",
    )?;
    let left = c.list().map_err(|e| format!("list: {e:?}"))?;
    ensure!(left.is_empty(), "{} processes left", left.len());
    pool_is_whole(&mut c)
}

/// PROCESS0102: a process cannot reach another's objects: a spawnee cannot
/// wait for or kill its sibling, its CNode holds no untyped, control cap or
/// other process's object, and another client cannot act on the caller's
/// processes.
pub fn cannot_reach_others(env: &Env) -> TestResult {
    started!(env, system, c);
    let target = spawn(&mut c, arg(MODE_RECV, 0))?;
    let prober = spawn(&mut c, arg(MODE_PROBE, target.pid))?;
    wait_for(&mut c, prober.pid, exited(0))?;
    let mut other = client(env, &system, 2)?;
    ensure!(
        other.kill(target.pid) == Err(ProcessError::NoSuchProcess)
            && other.wait(target.pid) == Err(ProcessError::NoSuchProcess),
        "another client acted on the caller's process"
    );
    let list = c.list().map_err(|e| format!("list: {e:?}"))?;
    ensure!(
        list.iter().any(|e| e.pid == target.pid && e.state == 0),
        "the target is not running: {list:?}"
    );
    step(c.kill(target.pid).map_err(|e| format!("{e:?}")), "kill")?;
    pool_is_whole(&mut c)
}

/// PROCESS0103: malformed and unauthorised requests get error replies and
/// the server goes on: an unknown program, a group past the pool, a wait
/// for no process, an object asked for by a client with no group.
pub fn refusals(env: &Env) -> TestResult {
    started!(env, system, c);
    let unknown = c.spawn(
        SpawnArgs::default(),
        &"no-such".try_into().unwrap_or_default(),
    );
    ensure!(
        unknown == Err(ProcessError::NoSuchProgram),
        "unknown program: {unknown:?}"
    );
    let huge = spawn_with(&mut c, 0, 1 << (POOL_BITS + 1), PLENTY, CHILD_PRIORITY);
    ensure!(
        huge == Err(ProcessError::BadArgument),
        "a group past the pool: {huge:?}"
    );
    let nobody = c.wait(0x1234_5678);
    ensure!(
        nobody == Err(ProcessError::NoSuchProcess),
        "wait for no process: {nobody:?}"
    );
    let groupless = c.alloc_object(keel_abi::ObjectType::Endpoint as u64, 0);
    ensure!(
        groupless == Err(ProcessError::NotAProcess),
        "object for a client: {groupless:?}"
    );
    pool_is_whole(&mut c)
}

/// The charge of a small spawnee's initial objects.
pub fn initial_charge(c: &mut Client) -> Result<u64, String> {
    let s = spawn(c, arg(MODE_EXIT, 0))?;
    wait_for(c, s.pid, exited(0))?;
    Ok(s.charged)
}

/// QUOTA0001: allocations are charged and refused past the quota with
/// QuotaExceeded, and what was made is reclaimed with the group: the pool
/// is whole after.
pub fn allocation_past_quota_refused(env: &Env) -> TestResult {
    started!(env, system, c);
    let initial = initial_charge(&mut c)?;
    let extra = 100_000;
    let kind = keel_abi::ObjectType::Endpoint as u64;
    let s = spawn_with(
        &mut c,
        arg(MODE_ALLOC_ALL, kind),
        SMALL,
        initial + extra,
        CHILD_PRIORITY,
    )
    .map_err(|e| format!("spawn: {e:?}"))?;
    let ended = c.wait(s.pid).map_err(|e| format!("wait: {e:?}"))?;
    let made = ended.status & 0xff_ffff;
    let refused = alloc_status(made as u32, 4) as u64;
    ensure!(
        ended.how == how::EXITED && ended.status == refused && made >= 1,
        "the allocations ended {ended:?}: {made} made, expected QuotaExceeded (4) after some"
    );
    pool_is_whole(&mut c)
}

/// QUOTA0002: a spawn whose initial objects do not fit its quota is
/// refused, leaving nothing: the pool is whole and the table slot free.
pub fn spawn_past_quota_refused(env: &Env) -> TestResult {
    started!(env, system, c);
    let initial = initial_charge(&mut c)?;
    let refused = spawn_with(
        &mut c,
        arg(MODE_EXIT, 0),
        SMALL,
        initial - 1,
        CHILD_PRIORITY,
    );
    ensure!(
        refused == Err(ProcessError::QuotaExceeded),
        "a spawn one instruction short: {refused:?}"
    );
    let fits = spawn_with(&mut c, arg(MODE_EXIT, 5), SMALL, initial, CHILD_PRIORITY)
        .map_err(|e| format!("a spawn with exactly its charge: {e:?}"))?;
    ensure!(
        fits.charged == initial,
        "charged {} then {initial}",
        fits.charged
    );
    wait_for(&mut c, fits.pid, exited(5))?;
    let list = c.list().map_err(|e| format!("list: {e:?}"))?;
    ensure!(list.is_empty(), "left behind: {list:?}");
    pool_is_whole(&mut c)
}
