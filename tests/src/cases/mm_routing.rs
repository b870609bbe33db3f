//! MM routing: four slaves and the master, with the test's thread as init
//! (the admin) and as the load: it attaches itself to every slave and
//! maps pages in its own address space to give each the load a script
//! says, asking the master after each step which slave a new client goes
//! to, and where an overloaded slave's clients go.

use crate::cases::mm::{
    attach, expect_whole, load, memory_client, mm_manifest, start_big, step_mm, Attached,
    PARTITION_PAGES, RW, TEST_AREA,
};
use crate::system::{archive, badge, client_cap};
use crate::{ensure, Env, TestResult};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use keel_abi::manifest::MemoryPolicy;
use keel_init::System;
use keel_protocols::mm_master::{MasterClient, MasterError};
use keel_protocols::sys::EndpointClient;
use keel_protocols::Rights;

/// Slaves in the system.
const SLAVES: usize = 4;
/// The master's index (after the slaves).
const MASTER: usize = SLAVES + 1;

/// The test's connections: to the master, and attached to each slave.
struct Rig {
    master: MasterClient<EndpointClient>,
    slaves: Vec<Attached>,
    /// Where the next area on each slave goes.
    next: [u64; SLAVES],
}

impl Rig {
    fn new(env: &Env, system: &System) -> Result<Rig, String> {
        let cap = client_cap(env, system, MASTER, badge(902, 0, Rights::ADMIN).bits())?;
        let transport = EndpointClient::new(cap, None).map_err(|e| format!("a client: {e}"))?;
        let mut slaves = Vec::new();
        for s in 0..SLAVES {
            slaves.push(attach(env, system, s + 1, 7, 2)?);
        }
        let next = core::array::from_fn(|s| TEST_AREA + ((s as u64) << 32));
        Ok(Rig {
            master: MasterClient::new(transport),
            slaves,
            next,
        })
    }

    /// Maps `pages` more pages from slave `s`.
    fn add(&mut self, s: usize, pages: u64) -> TestResult {
        let at = self.next[s];
        self.next[s] += (pages + 1) << 12;
        step_mm(
            self.slaves[s].client.allocate(at, pages, RW),
            &format!("{pages} pages from slave {s}"),
        )
        .map(|_| ())
    }

    /// Loads each slave to `permille` of its partition (paging structures
    /// count: the slave's own figure is what the master reads).
    fn load_to(&mut self, env: &Env, system: &System, s: usize, permille: u64) -> TestResult {
        let allocated = load(env, system, s + 1)?.allocated >> 12;
        let want = PARTITION_PAGES * permille / 1000;
        ensure!(
            want >= allocated,
            "slave {s} already holds {allocated} pages"
        );
        if want > allocated {
            self.add(s, want - allocated)?;
        }
        Ok(())
    }

    fn route(&mut self) -> Result<u16, String> {
        self.master
            .route(0)
            .map_err(|e| format!("the master routed no client: {e:?}"))
    }

    /// Detaches from every slave and checks each partition is whole.
    fn finish(mut self, env: &Env, system: &System) -> TestResult {
        for (s, a) in self.slaves.iter_mut().enumerate() {
            step_mm(a.admin.detach(7), "detach")?;
            expect_whole(env, system, s + 1)?;
        }
        Ok(())
    }
}

/// Runs `script` (per step: the slave to load and the load, then the
/// slave the master should pick) against a master with `policy`.
fn scripted(env: &Env, policy: MemoryPolicy, script: &[(usize, u64, u16)]) -> TestResult {
    let (manifest, archive) = (
        mm_manifest(SLAVES, Some(policy), false, None),
        archive(env)?,
    );
    let system = start_big(env, &manifest, &archive)?;
    let mut rig = Rig::new(env, &system)?;
    for (i, &(slave, permille, want)) in script.iter().enumerate() {
        rig.load_to(env, &system, slave, permille)?;
        let got = rig.route()?;
        ensure!(
            got == want,
            "step {i} (slave {slave} at {permille}\u{2030}): the master picked {got}, expected {want}"
        );
    }
    rig.finish(env, &system)
}

/// MM0010: under the watermark policy (LowMem 30%, HighMem 50%) the master
/// picks the least-loaded slave while one is below LowMem, then the
/// most-loaded below HighMem, and none when every slave is past HighMem;
/// round-robin takes the slaves in turn whatever their load.
pub fn routing_follows_the_policy(env: &Env) -> TestResult {
    let watermark = MemoryPolicy::Watermark {
        low: 300,
        high: 500,
    };
    scripted(
        env,
        watermark,
        &[
            (0, 0, 0),
            (0, 400, 1),
            (1, 200, 2),
            (2, 350, 3),
            (3, 350, 1),
            (1, 350, 0),
            (0, 550, 2),
            (1, 450, 1),
        ],
    )?;
    scripted(
        env,
        MemoryPolicy::RoundRobin,
        &[
            (0, 0, 0),
            (0, 400, 1),
            (3, 200, 2),
            (1, 100, 3),
            (2, 300, 0),
        ],
    )
}

/// MM0011: a slave past the overload mark (95%) is overloaded: the master
/// routes no new client to it, moves its clients to the slave the policy
/// picks, and answers a slave that is not overloaded with itself; with
/// every slave overloaded, no slave.
pub fn overloaded_slaves_clients_move(env: &Env) -> TestResult {
    let watermark = MemoryPolicy::Watermark {
        low: 900,
        high: 990,
    };
    let (manifest, archive) = (
        mm_manifest(SLAVES, Some(watermark), false, None),
        archive(env)?,
    );
    let system = start_big(env, &manifest, &archive)?;
    let mut rig = Rig::new(env, &system)?;
    rig.load_to(env, &system, 1, 500)?;
    rig.load_to(env, &system, 2, 200)?;
    rig.load_to(env, &system, 3, 100)?;
    let stays = step_reroute(&mut rig, 1)?;
    ensure!(stays == 1, "a slave at 50% was moved to {stays}");
    rig.load_to(env, &system, 1, 960)?;
    let moved = step_reroute(&mut rig, 1)?;
    ensure!(
        moved == 0,
        "the overloaded slave's clients went to {moved}, expected 0"
    );
    for s in [0, 2, 3] {
        rig.load_to(env, &system, s, 960)?;
    }
    let none = rig.master.reroute(1);
    ensure!(
        none == Err(MasterError::NoSlave),
        "with every slave overloaded, reroute answered {none:?}"
    );
    let none = rig.master.route(0);
    ensure!(
        none == Err(MasterError::NoSlave),
        "with every slave overloaded, route answered {none:?}"
    );
    let mut plain = memory_client(env, &system, 1, 903, 0, Rights::NONE)?;
    ensure!(plain.load().is_ok(), "a slave stopped answering its load");
    rig.finish(env, &system)
}

fn step_reroute(rig: &mut Rig, slave: u16) -> Result<u16, String> {
    rig.master
        .reroute(slave)
        .map_err(|e| format!("reroute({slave}): {e:?}"))
}
