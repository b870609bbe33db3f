//! MM: the memory managers, in systems keel-init starts from manifests of
//! the test's (the test's thread is init). A slave serves pages from its
//! partition; the memory client (`mm-client`, whose scenarios its `arg`
//! picks) reaches it through keel-rt and its faults go to it; the test
//! reads the partition through a cap of its own ([`load`]). The test's
//! thread also attaches itself to slaves, with the root task's VSpace, to
//! map pages in its own address space and to script loads ([`Attached`]).

use crate::support::step;
use crate::system::{archive, badge, client_cap, manifest_of, program, sched, set_up_sized};
use crate::{ensure, Env, TestResult};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use keel_abi::fault::FaultType;
use keel_abi::manifest::{
    Activity, Manifest, MemoryLimit, MemoryManagers, MemoryPolicy, Restart, Role,
};
use keel_init::supervise::Failure;
use keel_init::{Event, State, System};
use keel_protocols::cap::Grant;
use keel_protocols::memory::{rights, Load, MemoryClient, MemoryError};
use keel_protocols::mm_master::MasterClient;
use keel_protocols::sys::EndpointClient;
use keel_protocols::Rights;
use keel_sys::cap::init_thread;

/// log2 of each slave's partition (1 MiB: 256 pages).
pub const PARTITION_BITS: u8 = 20;
/// Pages in a partition.
pub const PARTITION_PAGES: u64 = 1 << (PARTITION_BITS - 12);
/// The slaves' priority: above the master and the client.
const SLAVE_PRIORITY: u8 = 120;
/// The master's, above the client.
const MASTER_PRIORITY: u8 = 110;
/// The client's.
const CLIENT_PRIORITY: u8 = 100;
/// The client's activity.
const CLIENT_ACTIVITY: u16 = 3;
/// Read and write.
pub const RW: u8 = rights::READ | rights::WRITE;

/// A system of `slaves` slaves (programs 1..=slaves), the master with
/// `policy` when there is one, and the memory client with `limit` pages
/// for its activity when `client` is set.
pub fn mm_manifest(
    slaves: usize,
    policy: Option<MemoryPolicy>,
    client: bool,
    limit: Option<u64>,
) -> Manifest {
    let mut programs: Vec<_> = (0..slaves)
        .map(|_| {
            program(
                "mm-slave",
                Role::Server,
                sched(SLAVE_PRIORITY, false),
                Restart::Never,
            )
        })
        .collect();
    let master = policy.map(|_| {
        programs.push(program(
            "mm-master",
            Role::Server,
            sched(MASTER_PRIORITY, false),
            Restart::Never,
        ));
        programs.len() as u16
    });
    let mut clients = vec![];
    if client {
        let mut c = program(
            "mm-client",
            Role::App,
            sched(CLIENT_PRIORITY, false),
            Restart::Never,
        );
        c.debug = true;
        programs.push(c);
        clients.push(programs.len() as u16);
    }
    let activities = clients
        .iter()
        .map(|&c| Activity {
            name: "client".into(),
            id: CLIENT_ACTIVITY,
            budget_us: 1000,
            period_us: 1000,
            priority: CLIENT_PRIORITY,
            members: vec![c],
            may_exceed_when_idle: false,
        })
        .collect();
    let memory = MemoryManagers {
        slaves: (1..=slaves as u16).collect(),
        master,
        partition_bits: PARTITION_BITS,
        policy: policy.unwrap_or(MemoryPolicy::RoundRobin),
        clients,
        limits: limit
            .map(|pages| MemoryLimit {
                activity: CLIENT_ACTIVITY,
                pages,
            })
            .into_iter()
            .collect(),
    };
    Manifest {
        activities,
        memory: Some(memory),
        ..manifest_of("mm-tests", programs, vec![], vec![])
    }
}

/// A memory-protocol client of the test's to program `index`, minted
/// with client `client` of activity `activity` and `rights`.
pub fn memory_client(
    env: &Env,
    system: &System,
    index: usize,
    client: u16,
    activity: u16,
    rights: Rights,
) -> Result<MemoryClient<EndpointClient>, String> {
    let cap = client_cap(env, system, index, badge(client, activity, rights).bits())?;
    let transport = EndpointClient::new(cap, None).map_err(|e| format!("a client: {e}"))?;
    Ok(MemoryClient::new(transport))
}

/// Slave `index`'s partition as it reports it.
pub fn load(env: &Env, system: &System, index: usize) -> Result<Load, String> {
    let mut c = memory_client(env, system, index, 900, 0, Rights::NONE)?;
    c.load().map_err(|e| format!("slave {index}'s load: {e:?}"))
}

/// Checks slave `index`'s partition is whole: all free, one block.
pub fn expect_whole(env: &Env, system: &System, index: usize) -> TestResult {
    let l = load(env, system, index)?;
    ensure!(
        l.allocated == 0 && l.free_blocks == 1 && l.largest_free == l.total,
        "slave {index}'s partition is not whole again: {l:?}"
    );
    ensure!(
        l.total == PARTITION_PAGES << 12,
        "slave {index}'s partition is {} bytes",
        l.total
    );
    Ok(())
}

/// Runs the memory client (the last program) with scenario `arg` and
/// returns what init saw of its end. With `master`, two slaves and the
/// master (round-robin) run, init asks the master for the client's slave
/// (slave 0, the first pick), and the master must have read the slaves.
fn run_client(env: &Env, arg: u64, limit: Option<u64>, master: bool) -> Result<Event, String> {
    let policy = master.then_some(MemoryPolicy::RoundRobin);
    Ok(run_scenario(env, arg, limit, policy)?.end)
}

/// How a scenario of the memory client went.
pub struct Run {
    /// What init saw of its end.
    pub end: Event,
    /// The slave (program index) of each relocation init made, `None` for
    /// one refused.
    pub moves: Vec<Option<usize>>,
}

/// Runs the memory client with scenario `arg`, under `limit`, with two
/// slaves and the master of `policy` when there is one (else one slave);
/// checks every slave serves and has its partition whole after the
/// client's end.
pub fn run_scenario(
    env: &Env,
    arg: u64,
    limit: Option<u64>,
    policy: Option<MemoryPolicy>,
) -> Result<Run, String> {
    let slaves = if policy.is_some() { 2 } else { 1 };
    let manifest = mm_manifest(slaves, policy, true, limit);
    let archive = archive(env)?;
    let client = manifest.programs.len() - 1;
    let mut system = set_up_sized(env, &manifest, &archive, 23 + u8::from(policy.is_some()))?;
    system.set_arg(client, arg);
    step(system.start_all(), "start the system")?;
    let mut end = None;
    let mut moves = Vec::new();
    while end.is_none() {
        match system.step() {
            e @ (Event::Exited { .. } | Event::Stopped { .. }) => end = Some(e),
            Event::Relocated { to, .. } => moves.push(to),
            Event::Refused => return Err("init refused a message".into()),
            _ => {}
        }
    }
    for slave in 1..=slaves {
        ensure!(
            system.program(slave).map(|p| p.state) == Some(State::Running),
            "slave {slave} is not serving after its client ended"
        );
        expect_whole(env, &system, slave)?;
    }
    if policy.is_some() {
        let cap = client_cap(env, &system, 3, badge(904, 0, Rights::NONE).bits())?;
        let transport = EndpointClient::new(cap, None).map_err(|e| format!("a client: {e}"))?;
        let seen = MasterClient::new(transport).load(0);
        ensure!(
            seen.is_ok_and(|l| l.total == PARTITION_PAGES << 12),
            "the master never read slave 0 to route the client: {seen:?}"
        );
    }
    let end = end.ok_or("the client never ended")?;
    Ok(Run { end, moves })
}

/// Checks the client exited with status 0.
pub fn expect_exit(event: Event) -> TestResult {
    ensure!(
        matches!(event, Event::Exited { status: 0, .. }),
        "the client ended as {event:?} (its status is the first check that failed)"
    );
    Ok(())
}

/// Checks the client stopped on a VM fault (its slave sent it on).
fn expect_vm_fault(event: Event) -> TestResult {
    ensure!(
        matches!(
            event,
            Event::Stopped {
                failure: Failure::Fault {
                    kind: FaultType::VmFault,
                    ..
                },
                ..
            }
        ),
        "the client ended as {event:?}, not by a VM fault"
    );
    Ok(())
}

/// MM0002: a delayed area has nothing mapped until a page is touched; a
/// touch maps exactly that page, a second touch of it nothing more; its
/// first read is zero; free returns it all.
pub fn delayed_area_filled_on_touch(env: &Env) -> TestResult {
    expect_exit(run_client(env, keel_mm_client::DELAYED, None, false)?)
}

/// MM0012: with a master, init routes the client through it (it reads
/// the slaves' loads) to slave 0, where the delayed scenario runs as in
/// MM0002.
pub fn client_routed_by_the_master(env: &Env) -> TestResult {
    expect_exit(run_client(env, keel_mm_client::DELAYED, None, true)?)
}

/// MM0003: a page allocated read-only reads as zero and a write to it
/// faults, the fault reaching init as the client's.
pub fn read_only_page_refuses_writes(env: &Env) -> TestResult {
    expect_vm_fault(run_client(
        env,
        keel_mm_client::WRITE_READ_ONLY,
        None,
        false,
    )?)
}

/// MM0004: a freed page is unmapped: reading it again faults.
pub fn freed_page_faults(env: &Env) -> TestResult {
    expect_vm_fault(run_client(env, keel_mm_client::TOUCH_FREED, None, false)?)
}

/// MM0005: areas of 1, 3, 16 and 5 pages split the partition; each keeps
/// what was written; freed in another order (and the client's paging
/// structures at its exit) the partition is one block again.
pub fn split_and_merge_return_one_block(env: &Env) -> TestResult {
    expect_exit(run_client(env, keel_mm_client::MANY_AREAS, None, false)?)
}

/// MM0006: a client that dies holding immediate and delayed memory (a
/// touch outside its areas, sent on to init) gets it all back into the
/// partition when init tears it down.
pub fn dead_clients_memory_returns(env: &Env) -> TestResult {
    expect_vm_fault(run_client(env, keel_mm_client::DIE_HOLDING, None, false)?)
}

/// MM0007: the client under a limit of 4 pages for its activity: its
/// first area (with the paging structures it needs) is refused with
/// `LimitExceeded`, it exits with that check's status, and nothing of the
/// partition is lost.
pub fn limit_refuses_the_client(env: &Env) -> TestResult {
    let event = run_client(env, keel_mm_client::MANY_AREAS, Some(4), false)?;
    ensure!(
        matches!(
            event,
            Event::Exited {
                status: 50..=53,
                ..
            }
        ),
        "the client under a 4-page limit ended as {event:?}, expected a refused allocation"
    );
    Ok(())
}

/// The test's thread as a client of a slave: attached with the root
/// task's VSpace as client `client` of `activity`.
pub struct Attached {
    /// Its requests.
    pub client: MemoryClient<EndpointClient>,
    /// The admin connection it was attached through.
    pub admin: MemoryClient<EndpointClient>,
}

/// Attaches the test's thread to slave `index` as client `client`.
pub fn attach(
    env: &Env,
    system: &System,
    index: usize,
    client: u16,
    activity: u16,
) -> Result<Attached, String> {
    let mut admin = memory_client(env, system, index, 901, 0, Rights::ADMIN)?;
    let vspace = Grant::new(init_thread::VSPACE.cptr().bits());
    admin
        .attach(vspace, client, activity)
        .map_err(|e| format!("attach the test to slave {index}: {e:?}"))?;
    let client = memory_client(env, system, index, client, activity, Rights::NONE)?;
    Ok(Attached { client, admin })
}

/// Starts `manifest`'s system from a 2^24-byte pool.
pub fn start_big<'a>(
    env: &Env,
    manifest: &'a Manifest,
    archive: &'a keel_abi::archive::Archive<'a>,
) -> Result<System<'a>, String> {
    let mut system = set_up_sized(env, manifest, archive, 24)?;
    step(system.start_all(), "start the system")?;
    Ok(system)
}

/// Where the test maps pages in its own address space.
pub const TEST_AREA: u64 = 0x0000_2000_0000_0000;

/// MM0001: pages allocated at once are mapped before the reply with the
/// rights asked: read-write pages keep what is written and read zero
/// first; the area shows in the use; freed, the partition is whole.
pub fn immediate_pages_readable_and_writable(env: &Env) -> TestResult {
    let (manifest, archive) = (mm_manifest(1, None, false, None), archive(env)?);
    let system = start_big(env, &manifest, &archive)?;
    let mut t = attach(env, &system, 1, 7, 2)?;
    step_mm(t.client.allocate(TEST_AREA, 16, RW), "allocate 16 pages")?;
    for page in 0..16u64 {
        let word = (TEST_AREA + page * 4096) as *mut u64;
        // SAFETY: the slave mapped these 16 pages read-write in the root
        // task's VSpace before replying; nothing else uses the range.
        let first = unsafe { word.read_volatile() };
        ensure!(
            first == 0,
            "page {page} did not read zero first: {first:#x}"
        );
        // SAFETY: as above.
        unsafe { word.write_volatile(page + 1) };
    }
    for page in 0..16u64 {
        // SAFETY: as above.
        let got = unsafe { ((TEST_AREA + page * 4096) as *const u64).read_volatile() };
        ensure!(got == page + 1, "page {page} reads {got}");
    }
    let u = step_mm(t.client.usage(), "usage")?;
    ensure!(
        u.areas == 1 && u.client_pages >= 16 && u.activity_pages == u.client_pages,
        "the use after 16 pages: {u:?}"
    );
    step_mm(t.client.free(TEST_AREA), "free")?;
    step_mm(t.admin.detach(7), "detach")?;
    expect_whole(env, &system, 1)
}

/// The protocol's answer as the test's.
pub fn step_mm<T>(r: Result<T, MemoryError>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e:?}"))
}

/// MM0008: every bad request gets its error and the slave goes on,
/// losing nothing: a free of what was never allocated, a double free,
/// overlapping areas, unaligned and kernel-range addresses, sizes of 0
/// and 2^63, rights without read, a second attach of a client, a request
/// of a client never attached; then a good request is served.
pub fn bad_input_refused(env: &Env) -> TestResult {
    let (manifest, archive) = (mm_manifest(1, None, false, None), archive(env)?);
    let system = start_big(env, &manifest, &archive)?;
    let mut t = attach(env, &system, 1, 7, 2)?;
    let c = &mut t.client;
    step_mm(c.allocate(TEST_AREA, 4, RW), "allocate")?;
    let before = step_mm(c.usage(), "usage")?;
    let a = TEST_AREA;
    let cases: [(&str, Result<(), MemoryError>, MemoryError); 11] = [
        (
            "free never allocated",
            c.free(a + 0x10_0000),
            MemoryError::NotAllocated,
        ),
        (
            "free inside an area",
            c.free(a + 0x1000),
            MemoryError::NotAllocated,
        ),
        (
            "overlapping",
            c.allocate(a + 0x3000, 2, RW),
            MemoryError::Overlaps,
        ),
        (
            "overlapping delayed",
            c.reserve(a - 0x1000, 2, RW),
            MemoryError::Overlaps,
        ),
        (
            "unaligned",
            c.allocate(a + 0x10_0010, 1, RW),
            MemoryError::Unaligned,
        ),
        (
            "kernel range",
            c.allocate(0xffff_8000_0000_0000, 1, RW),
            MemoryError::KernelRange,
        ),
        (
            "past the user half",
            c.reserve((1 << 47) - 0x1000, 2, RW),
            MemoryError::KernelRange,
        ),
        (
            "size 0",
            c.allocate(a + 0x10_0000, 0, RW),
            MemoryError::BadSize,
        ),
        (
            "size 2^63",
            c.reserve(a + 0x10_0000, 1 << 63, RW),
            MemoryError::BadSize,
        ),
        (
            "no read right",
            c.allocate(a + 0x10_0000, 1, rights::WRITE),
            MemoryError::BadRights,
        ),
        (
            "unknown rights",
            c.allocate(a + 0x10_0000, 1, 0x80 | RW),
            MemoryError::BadRights,
        ),
    ];
    for (what, got, want) in cases {
        ensure!(
            got == Err(want),
            "{what}: answered {got:?}, expected {want:?}"
        );
    }
    step_mm(c.free(a), "free")?;
    ensure!(
        c.free(a) == Err(MemoryError::NotAllocated),
        "a double free was not refused"
    );
    let after = step_mm(c.usage(), "usage after")?;
    ensure!(
        after.areas == 0 && after.client_pages + 4 == before.client_pages,
        "the bad requests changed the use: {before:?} then {after:?}"
    );
    let vspace = Grant::new(init_thread::VSPACE.cptr().bits());
    let again = t.admin.attach(vspace, 7, 2);
    ensure!(
        again == Err(MemoryError::AlreadyAttached),
        "attaching client 7 twice answered {again:?}"
    );
    let mut stranger = memory_client(env, &system, 1, 8, 2, Rights::NONE)?;
    let got = stranger.allocate(a, 1, RW);
    ensure!(
        got == Err(MemoryError::NotAttached),
        "a client never attached was answered {got:?}"
    );
    let c = &mut t.client;
    step_mm(c.allocate(a, 2, RW), "a good request after the bad")?;
    step_mm(c.free(a), "free it")?;
    step_mm(t.admin.detach(7), "detach")?;
    expect_whole(env, &system, 1)
}

/// MM0009: an activity's limit refuses what would pass it, charging
/// nothing, and what fits is served; the use is the activity's.
pub fn limit_refuses_past_it(env: &Env) -> TestResult {
    let (manifest, archive) = (mm_manifest(1, None, false, None), archive(env)?);
    let system = start_big(env, &manifest, &archive)?;
    let mut t = attach(env, &system, 1, 7, 5)?;
    step_mm(t.admin.set_limit(5, 12), "set the limit")?;
    step_mm(
        t.client.allocate(TEST_AREA, 4, RW),
        "4 pages under a 12-page limit",
    )?;
    let held = step_mm(t.client.usage(), "usage")?;
    ensure!(
        held.activity_limit == 12 && held.activity_pages <= 12,
        "{held:?}"
    );
    let got = t.client.allocate(TEST_AREA + 0x10_0000, 12, RW);
    ensure!(
        got == Err(MemoryError::LimitExceeded),
        "12 more pages answered {got:?}"
    );
    let after = step_mm(t.client.usage(), "usage after")?;
    ensure!(
        after.activity_pages == held.activity_pages && after.areas == 1,
        "a refused request charged something: {held:?} then {after:?}"
    );
    let room = 12 - held.activity_pages;
    step_mm(
        t.client.allocate(TEST_AREA + 0x10_0000, room, RW),
        "what fits under the limit",
    )?;
    step_mm(t.admin.detach(7), "detach")?;
    expect_whole(env, &system, 1)
}
