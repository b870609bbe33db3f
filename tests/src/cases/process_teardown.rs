//! TEARDOWN0100-0105: killing processes of the process server (see
//! `process_server` for the set-up): one revoke of each group, whatever
//! the process was doing, leaves the pool whole and the table slot (and so
//! the badge) free for the next process. The measured teardown is printed
//! against the declared deadline, never asserted: `cargo xtask bench
//! teardown` measures it under `-icount`.

use crate::cases::process_server::{
    exited, initial_charge, pool_is_whole, spawn, spawn_with, started, wait_for, Client,
    CHILD_PRIORITY, SERVER,
};
use crate::system::expect_state;
use crate::{ensure, Env, TestResult};
use alloc::format;
use alloc::string::String;
use keel_abi::fault::FaultType;
use keel_init::State;
use keel_protocols::process::{how, Ended, ProcessError, Teardown};
use keel_spawnee::{arg, MODE_CALL, MODE_EXIT, MODE_FAULT, MODE_MIX, MODE_RECV, MODE_SEND};

/// Kills `pid`; fails unless `processes` ended with it.
fn kill(c: &mut Client, pid: u64, processes: u64) -> Result<Teardown, String> {
    let t = c.kill(pid).map_err(|e| format!("kill {pid:#x}: {e:?}"))?;
    ensure!(
        t.processes == processes && t.measured > 0,
        "kill {pid:#x}: {t:?}, expected {processes} process(es) ended"
    );
    ensure!(
        c.wait(pid) == Err(ProcessError::NoSuchProcess),
        "process {pid:#x} is still there after its kill"
    );
    Ok(t)
}

/// Spawns a spawnee with `argument` (it blocks), kills it and checks the
/// pool is whole.
fn kill_blocked(env: &Env, argument: u64, processes: u64) -> TestResult {
    started!(env, system, c);
    let s = spawn(&mut c, argument)?;
    let t = kill(&mut c, s.pid, processes)?;
    ensure!(
        t.deadline == s.deadline,
        "kill's deadline {t:?}, spawn's {s:?}"
    );
    keel_rt::println!(
        "  teardown of {argument:#x}: {} ticks, deadline {}, initial charge {}",
        t.measured,
        t.deadline,
        s.charged
    );
    let list = c.list().map_err(|e| format!("list: {e:?}"))?;
    ensure!(list.is_empty(), "left behind: {list:?}");
    pool_is_whole(&mut c)
}

/// TEARDOWN0100: a process blocked in Send on an endpoint of its group is
/// killed with one revoke, and the pool is whole.
pub fn kill_blocked_in_send(env: &Env) -> TestResult {
    kill_blocked(env, arg(MODE_SEND, 0), 1)
}

/// TEARDOWN0101: likewise, blocked in Recv with a Reply object.
pub fn kill_blocked_in_recv(env: &Env) -> TestResult {
    kill_blocked(env, arg(MODE_RECV, 0), 1)
}

/// TEARDOWN0102: a process blocked in a Call to the process server (a
/// wait for the process it spawned) is killed: the wait the server kept is
/// dropped, the process it spawned ends with it, and the server serves on.
pub fn kill_blocked_in_call(env: &Env) -> TestResult {
    kill_blocked(env, arg(MODE_CALL, 0), 2)
}

/// TEARDOWN0103: a faulting process is ended by the server, its fault
/// handler: wait answers the fault type, and the pool is whole.
pub fn faulting_process_reclaimed(env: &Env) -> TestResult {
    started!(env, system, c);
    let s = spawn(&mut c, arg(MODE_FAULT, 0))?;
    let expected = Ended {
        how: how::FAULTED,
        status: FaultType::VmFault as u64,
    };
    wait_for(&mut c, s.pid, expected)?;
    expect_state(&system, SERVER, State::Running)?;
    pool_is_whole(&mut c)
}

/// TEARDOWN0104: after a kill the table slot, and with it the badge, is
/// reused by the next process, under a new pid; the old pid names nothing.
pub fn slot_and_badge_reused(env: &Env) -> TestResult {
    started!(env, system, c);
    let first = spawn(&mut c, arg(MODE_RECV, 0))?;
    kill(&mut c, first.pid, 1)?;
    let second = spawn(&mut c, arg(MODE_EXIT, 11))?;
    ensure!(
        second.pid & 0xffff == first.pid & 0xffff && second.pid != first.pid,
        "pids {:#x} then {:#x}: expected the same slot, a new generation",
        first.pid,
        second.pid
    );
    ensure!(
        c.kill(first.pid) == Err(ProcessError::NoSuchProcess),
        "the old pid still names a process"
    );
    wait_for(&mut c, second.pid, exited(11))?;
    pool_is_whole(&mut c)
}

/// A mix's group: room for the largest mix besides the program.
const MIX_GROUP: u64 = 1 << 18;
/// Spawn/kill cycles in TEARDOWN0105.
const CYCLES: u64 = 1000;

/// TEARDOWN0105: spawn/kill cycles of processes that made a random mix of
/// objects lose no memory: the pool is whole after them. Prints how many
/// teardowns met their declared deadline (not asserted: timing is for
/// `bench teardown`).
pub fn cycles_lose_no_memory(env: &Env) -> TestResult {
    started!(env, system, c);
    // Four times a small spawnee's initial charge: room for the largest
    // mix, and a deadline near what a teardown may take.
    let quota = 4 * initial_charge(&mut c)?;
    let (mut met, mut worst) = (0, 0);
    for i in 0..CYCLES {
        let seed = i.wrapping_mul(0x2545_f491) ^ 0x5a5a;
        let s = spawn_with(
            &mut c,
            arg(MODE_MIX, seed),
            MIX_GROUP,
            quota,
            CHILD_PRIORITY,
        )
        .map_err(|e| format!("spawn mix {seed:#x}: {e:?}"))?;
        let t = kill(&mut c, s.pid, 1)?;
        met += u64::from(t.measured <= t.deadline);
        worst = worst.max(t.measured * 1000 / t.deadline.max(1));
    }
    keel_rt::println!(
        "  {CYCLES} spawn/kill cycles: {met} within the deadline, worst {worst} permille of it"
    );
    pool_is_whole(&mut c)
}
