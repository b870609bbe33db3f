//! MM heap and moves: keel-rt's global allocator growing the heap of a
//! memory client through its slave, failing cleanly past the client's
//! limit, a client moved to another slave when its own runs out of
//! memory, a restarted slave's clients attached again, and untyped blocks
//! of the partition granted to a client and returned. The memory client (`mm-client`) runs each scenario in a system
//! keel-init starts from the test's manifest (the test's thread is init).

use crate::cases::mm::{expect_exit, expect_whole, mm_manifest, run_scenario};
use crate::support::step;
use crate::system::{archive, set_up_sized};
use crate::{ensure, Env, TestResult};
use keel_abi::fault::FaultType;
use keel_abi::manifest::{MemoryPolicy, Restart};
use keel_init::{init_badge, Event};
use keel_protocols::wire::Incoming;

/// MM0200: a `Vec` and a boxed slice larger than the heap starts with are
/// served from pages the heap asks its slave for: they lie at the heap's
/// address, keep what is written, show in the client's use at its slave,
/// and memory freed is reused without growing again; at the client's end
/// its slave's partition is whole.
pub fn heap_grows_through_the_slave(env: &Env) -> TestResult {
    expect_exit(run_scenario(env, keel_mm_client::HEAP_GROWTH, None, None)?.end)
}

/// MM0300: the client takes a 64 KiB block of its slave's partition as
/// an untyped cap (`grant_untyped`): it arrives in the client's receive
/// slot as an untyped, the slave's usage shows it charged to the client's
/// activity and gone from the free bytes; a second grant under the same
/// key is refused (`Held`); returned, the client's copy is gone (revoked)
/// and charge and free bytes are as at the start; a grant larger than the
/// partition is refused (`OutOfMemory`) and takes nothing; the client
/// exits holding one more block, and after its detach the partition is
/// whole (checked by `run_scenario`).
pub fn untyped_blocks_granted_and_returned(env: &Env) -> TestResult {
    expect_exit(run_scenario(env, keel_mm_client::GRANTED, None, None)?.end)
}

/// MM0201: under a 64-page limit a fallible reservation of 1 MiB is
/// refused and charges nothing past the limit, a small allocation still
/// works, and an infallible 1 MiB `vec!` ends the client through Rust's
/// allocation-error path (keel-rt's panic status) after keel-rt says the
/// slave refused; the slave serves on and its partition is whole.
pub fn heap_past_the_limit_fails_cleanly(env: &Env) -> TestResult {
    let end = run_scenario(env, keel_mm_client::HEAP_PAST_LIMIT, Some(64), None)?.end;
    ensure!(
        matches!(
            end,
            Event::Exited {
                status: keel_rt::PANIC_STATUS,
                ..
            }
        ),
        "the client past its limit ended as {end:?}, expected the allocation-error panic"
    );
    Ok(())
}

/// MM0202: a client that fills its slave (slave 0) until an area is
/// refused for want of memory is moved by init to the slave the master
/// names (slave 1): the area comes from there, the client's old areas
/// keep what was written and are freed through its old slave, its heap
/// grows at the new one; at its end both partitions are whole.
pub fn overloaded_clients_next_allocation_moves(env: &Env) -> TestResult {
    let policy = MemoryPolicy::Watermark {
        low: 900,
        high: 950,
    };
    let run = run_scenario(env, keel_mm_client::MOVED, None, Some(policy))?;
    ensure!(
        run.moves == [Some(2)],
        "init's relocations were {:?}, expected one, to slave 1 (program 2)",
        run.moves
    );
    expect_exit(run.end)
}

/// MM0203: a slave that fails while its client holds an area is started
/// again (its partition whole: the area's frames went with the old
/// instance) and init attaches the client to the new instance: the
/// client's next requests are answered (no area, the old one unknown, a
/// new one served) rather than refused as from a stranger; at its end the
/// partition is whole. The slave's failure is a fault init is handed in
/// the client's pause (a relocation request, which stays: one slave).
pub fn restarted_slaves_clients_attached_again(env: &Env) -> TestResult {
    let mut manifest = mm_manifest(1, None, true, None);
    manifest.programs[1].restart = Restart::Always { limit: 1 };
    let archive = archive(env)?;
    let client = manifest.programs.len() - 1;
    let mut system = set_up_sized(env, &manifest, &archive, 23)?;
    system.set_arg(client, keel_mm_client::RESTARTED);
    step(system.start_all(), "start the system")?;
    let mut crashed = false;
    let end = loop {
        match system.step() {
            e @ (Event::Exited { .. } | Event::Stopped { .. }) => break e,
            Event::Relocated { to: None, .. } if !crashed => {
                crashed = true;
                let mut fault = Incoming {
                    badge: init_badge(1).ok_or("no badge for the slave")?.bits(),
                    ..Incoming::default()
                };
                fault.message.label = FaultType::VmFault as u64;
                let got = system.handle(&fault);
                ensure!(
                    matches!(got, Event::Restarted { program: 1, .. }),
                    "the failed slave was not started again: {got:?}"
                );
                step(system.until_ready(1), "wait for the new slave")?;
            }
            Event::Refused => return Err("init refused a message".into()),
            _ => {}
        }
    };
    ensure!(crashed, "the client never paused for the slave's failure");
    expect_whole(env, &system, 1)?;
    expect_exit(end)
}
