//! PROCESS0300: a process server the description makes a memory client
//! takes its processes' reclamation groups from its slave (untyped blocks
//! of the slave's partition, `grant_untyped`) instead of a pool of init's,
//! and gives each back at the process's end. The test's thread is init:
//! slave 0 (program 1, a 2 MiB partition) and the process server (program
//! 2, a memory client of the slave); the test reads the partition through
//! a cap of its own (keel-protocols' memory `load`).

use crate::cases::mm::{load, mm_manifest};
use crate::cases::process_server::{
    client_of, exited, server, spawn, spawn_with, wait_for, Lowered, CHILD_PRIORITY,
    DRIVER_PRIORITY, PLENTY, SMALL,
};
use crate::support::step;
use crate::system::{archive, expect_state, set_up_sized};
use crate::thread::set_own_priority;
use crate::{ensure, Env, TestResult};
use alloc::format;
use keel_init::State;
use keel_protocols::process::{ProcessError, POOL_BITS};
use keel_protocols::Rights;
use keel_spawnee::{arg, MODE_EXIT, MODE_RECV};

/// The slave's index in the test's manifest.
const SLAVE: usize = 1;
/// The process server's.
const SERVER: usize = 2;
/// The process server's priority: above its processes, below the slave
/// (120), so init starts the slave first (in order of priority) and the
/// server's grants are answered at once.
const SERVER_PRIORITY: u8 = 110;
/// log2 of the slave's partition: 2 MiB, less than the group the refused
/// spawn asks for.
const PARTITION_BITS: u8 = 21;

/// PROCESS0300: after a warm-up spawn (so the server's own heap, which
/// its slave also serves, has grown as far as a spawn makes it), a
/// spawned process's 128 KiB group shows as allocated in the slave's
/// partition; its kill gives it back (the partition's allocated bytes as
/// before); a spawn whose group is larger than the partition is refused
/// with `NoMemory` and counted as refused by the slave, taking nothing;
/// the server serves on (a spawn, its exit) and the partition is as before.
pub fn groups_come_from_the_slave(env: &Env) -> TestResult {
    let mut m = mm_manifest(1, None, false, None);
    m.programs.push(server(SERVER_PRIORITY));
    m.process = Some(SERVER as u16);
    let managers = m.memory.as_mut().ok_or("no memory managers")?;
    managers.partition_bits = PARTITION_BITS;
    managers.clients.push(SERVER as u16);
    let archive = archive(env)?;
    let mut system = set_up_sized(env, &m, &archive, POOL_BITS + 3)?;
    set_own_priority(DRIVER_PRIORITY)?;
    step(system.start_all(), "start the slave and the process server")?;
    expect_state(&system, SLAVE, State::Running)?;
    expect_state(&system, SERVER, State::Running)?;
    let mut c = client_of(env, &system, SERVER, 1, Rights::NONE)?;
    let _lowered = Lowered::new()?;
    let warm = spawn(&mut c, arg(MODE_EXIT, 1))?;
    wait_for(&mut c, warm.pid, exited(1))?;
    let before = load(env, &system, SLAVE)?;
    let s = spawn(&mut c, arg(MODE_RECV, 0))?;
    let held = load(env, &system, SLAVE)?;
    ensure!(
        held.allocated == before.allocated + SMALL,
        "with a process running the slave has {} bytes allocated, expected {} + its group",
        held.allocated,
        before.allocated
    );
    step(c.kill(s.pid).map_err(|e| format!("{e:?}")), "kill")?;
    let after = load(env, &system, SLAVE)?;
    ensure!(
        after.allocated == before.allocated,
        "after the kill the slave has {} bytes allocated, expected {}",
        after.allocated,
        before.allocated
    );
    let huge = spawn_with(
        &mut c,
        arg(MODE_EXIT, 2),
        2 << PARTITION_BITS,
        PLENTY,
        CHILD_PRIORITY,
    );
    ensure!(
        huge.as_ref().err() == Some(&ProcessError::NoMemory),
        "a group past the slave's partition: {huge:?}"
    );
    let refused = load(env, &system, SLAVE)?;
    ensure!(
        refused.allocated == before.allocated && refused.refused == before.refused + 1,
        "the refused spawn left the slave at {refused:?}, before {before:?}"
    );
    let again = spawn(&mut c, arg(MODE_EXIT, 3))?;
    wait_for(&mut c, again.pid, exited(3))?;
    let end = load(env, &system, SLAVE)?;
    ensure!(
        end.allocated == before.allocated,
        "at the end the slave has {} bytes allocated, expected {}",
        end.allocated,
        before.allocated
    );
    Ok(())
}
