//! INIT, SERVER, PROTOCOL and SUPERVISE: a described system started by
//! keel-init (the probe server, passive, and the peer, its client), the
//! caps each program gets, requests through the generated stubs and
//! malformed ones sent raw, and supervision of a server that crashes or
//! exits while serving (the test's thread is the supervisor; a client
//! thread calls).

use crate::support::{slot, step};
use crate::system::{
    badge, client_cap, expect_malformed_refused, expect_state, label, probe_client, probe_manifest,
    raw, start, with_client, Operation, PEER, PEER_BADGE, PROBE,
};
use crate::thread::{report_and_stop, shared};
use crate::{ensure, Env, TestResult};
use alloc::format;
use alloc::string::String;
use core::sync::atomic::Ordering;
use keel_abi::fault::FaultType;
use keel_abi::{CapRights, CapType, Error};
use keel_init::{supervise::Failure, Event, State, CNODE_RADIX, FIRST_LOADER};
use keel_probe::{ProbeClient, ProbeError};
use keel_protocols::badge::BadgeError;
use keel_protocols::badge::Rights;
use keel_protocols::cap::Grant;
use keel_protocols::sys::EndpointClient;
use keel_protocols::RpcError;
use keel_sys::{CPtr, Cap};

/// What program `index`'s CNode holds in each slot, read by copying each
/// slot into one of the test's and identifying the copy.
fn census(
    env: &Env,
    system: &keel_init::System,
    index: usize,
) -> Result<alloc::vec::Vec<CapType>, String> {
    let process = system
        .program(index)
        .and_then(|p| p.process)
        .ok_or("the program is not running")?;
    let scratch = env.slots(1)?;
    let mut kinds = alloc::vec::Vec::new();
    for i in 0..1u64 << CNODE_RADIX {
        let from = process.cnode.absolute_cptr_with_depth(i, CNODE_RADIX);
        match slot(scratch).copy(&from, CapRights::ALL) {
            Ok(()) => {
                kinds.push(crate::support::identify(scratch)?);
                step(slot(scratch).delete(), "empty the scratch slot")?;
            }
            Err(e) if e.error() == Error::FailedLookup => kinds.push(CapType::Null),
            Err(e) => return Err(format!("copy slot {i} of program {index}: {e}")),
        }
    }
    Ok(kinds)
}

/// Checks a census: exactly `given` in slots 0.. below [`FIRST_LOADER`],
/// and nothing but frames and paging structures from it on.
fn expect_caps(kinds: &[CapType], given: &[CapType], who: &str) -> TestResult {
    for (i, &kind) in kinds.iter().enumerate().take(FIRST_LOADER as usize) {
        let want = given.get(i).copied().unwrap_or(CapType::Null);
        ensure!(
            kind == want,
            "{who}: slot {i} holds {kind:?}, the description gives {want:?}"
        );
    }
    for (i, &kind) in kinds.iter().enumerate().skip(FIRST_LOADER as usize) {
        let loader = matches!(
            kind,
            CapType::Null
                | CapType::Frame
                | CapType::PageTable
                | CapType::PageDirectory
                | CapType::PageUpperDirectory
        );
        ensure!(
            loader,
            "{who}: slot {i} holds {kind:?}, which no description gives"
        );
    }
    Ok(())
}

/// INIT0001: each program holds exactly the caps its description names,
/// its Debug cap with exactly the rights it should have.
pub fn caps_as_described(env: &Env) -> TestResult {
    let (manifest, archive) = (probe_manifest(1), crate::system::archive(env)?);
    let system = start(env, &manifest, &archive)?;
    expect_state(&system, PROBE, State::Running)?;
    expect_state(&system, PEER, State::Running)?;
    use CapType::*;
    // TCB, CNode, VSpace, init, Debug, endpoint, Reply.
    let probe = [Null, Tcb, CNode, VSpace, Endpoint, Debug, Endpoint, Reply];
    expect_caps(&census(env, &system, PROBE)?, &probe, "probe")?;
    // The same, then its connection to the probe.
    let peer = [
        Null, Tcb, CNode, VSpace, Endpoint, Debug, Endpoint, Reply, Endpoint,
    ];
    expect_caps(&census(env, &system, PEER)?, &peer, "peer")?;
    debug_rights(env, &system, PROBE, true)?;
    debug_rights(env, &system, PEER, false)
}

/// Checks what program `index`'s Debug cap (slot 5) allows: identifying
/// caps always, printing only with `debug = true` (`prints`), halting and
/// the kernel's knobs never.
fn debug_rights(env: &Env, system: &keel_init::System, index: usize, prints: bool) -> TestResult {
    let process = system
        .program(index)
        .and_then(|p| p.process)
        .ok_or("the program is not running")?;
    let copy = env.slots(1)?;
    step(
        slot(copy).copy(
            &process.cnode.absolute_cptr_with_depth(5, CNODE_RADIX),
            CapRights::ALL,
        ),
        "copy the program's Debug cap",
    )?;
    let debug: Cap<keel_sys::cap::Debug> = Cap::from_cptr(CPtr::from_bits(copy));
    let kind = debug.debug_cap_identify(CPtr::from_bits(copy));
    ensure!(
        kind == Ok(CapType::Debug),
        "program {index}: identifying through its cap gave {kind:?}"
    );
    let printed = debug.debug_put_char(b'\n');
    ensure!(
        printed.is_ok() == prints,
        "program {index}: printing gave {printed:?}"
    );
    let knob = debug.debug_longest_kernel_stretch();
    ensure!(
        knob.is_err(),
        "program {index}: its Debug cap reads a kernel knob ({knob:?})"
    );
    Ok(())
}

/// INIT0002: a connection's cap carries the description's badge, and the
/// probe, which has no connection, holds no cap to the peer.
pub fn connection_badge(env: &Env) -> TestResult {
    let (manifest, archive) = (probe_manifest(1), crate::system::archive(env)?);
    let system = start(env, &manifest, &archive)?;
    let peer = system
        .program(PEER)
        .and_then(|p| p.process)
        .ok_or("the peer is not running")?;
    let copy = env.slots(1)?;
    step(
        slot(copy).copy(
            &peer.cnode.absolute_cptr_with_depth(8, CNODE_RADIX),
            CapRights::ALL,
        ),
        "copy the peer's connection",
    )?;
    let mut client = probe_client(Cap::from_cptr(CPtr::from_bits(copy)))?;
    let [word, activity] = step(client.whoami(), "whoami through the peer's cap")?;
    ensure!(
        word == PEER_BADGE.bits(),
        "the probe saw badge {word:#x}, minted {:#x}",
        PEER_BADGE.bits()
    );
    ensure!(
        activity == 4,
        "the probe charged activity {activity}, the badge names 4"
    );
    Ok(())
}

/// SERVER0007: a request and reply through the generated stubs to a
/// passive server, which runs on the caller's donated budget.
pub fn stub_round_trip(env: &Env) -> TestResult {
    let (manifest, archive) = (probe_manifest(1), crate::system::archive(env)?);
    let system = start(env, &manifest, &archive)?;
    let probe = system
        .program(PROBE)
        .and_then(|p| p.process)
        .ok_or("no probe")?;
    // Passive: init unbound its context, so binding it again succeeds.
    step(
        probe.sched_context.sched_context_bind(probe.tcb),
        "bind the probe's context again (it must be unbound)",
    )?;
    step(probe.sched_context.sched_context_unbind(), "unbind it")?;
    let b = badge(3, 7, Rights::NONE);
    let mut client = probe_client(client_cap(env, &system, PROBE, b.bits())?)?;
    for v in [0u64, 41, u64::MAX - 1] {
        let got = step(client.echo(v), "echo")?;
        ensure!(got == v + 1, "echo({v}) answered {got}");
    }
    let who = step(client.whoami(), "whoami")?;
    ensure!(who == [b.bits(), 7], "whoami answered {who:?}");
    Ok(())
}

/// The probe's `echo`, as malformed requests vary it.
const ECHO: Operation = Operation {
    protocol: keel_probe::PROTOCOL,
    version: keel_probe::VERSION,
    op: 1,
    words: 1,
};

/// PROTOCOL0001: every malformed request gets the error naming what was
/// wrong, and the server goes on serving.
pub fn malformed_requests(env: &Env) -> TestResult {
    let (manifest, archive) = (probe_manifest(1), crate::system::archive(env)?);
    let system = start(env, &manifest, &archive)?;
    let ep = client_cap(env, &system, PROBE, badge(3, 0, Rights::NONE).bits())?;
    let mut client = probe_client(ep)?;
    expect_malformed_refused(ep, ECHO, &[0, 3], || {
        let got = step(client.echo(1), "echo")?;
        ensure!(got == 2, "echo(1) answered {got}");
        Ok(())
    })
}

/// PROTOCOL0002: a badge without the right an operation needs is refused;
/// with it the operation runs; an unbadged cap names no client.
pub fn badge_rights(env: &Env) -> TestResult {
    let (manifest, archive) = (probe_manifest(1), crate::system::archive(env)?);
    let system = start(env, &manifest, &archive)?;
    let mut plain = probe_client(client_cap(
        env,
        &system,
        PROBE,
        badge(3, 0, Rights::NONE).bits(),
    )?)?;
    let refused = plain.admin();
    let want = ProbeError::Rpc(RpcError::NoRight {
        needed: Rights::ADMIN,
    });
    ensure!(
        refused == Err(want),
        "admin without the right answered {refused:?}"
    );
    let mut admin = probe_client(client_cap(
        env,
        &system,
        PROBE,
        badge(4, 0, Rights::ADMIN).bits(),
    )?)?;
    step(admin.admin(), "admin with the right")?;
    let unbadged = client_cap(env, &system, PROBE, 0)?;
    let got = raw(
        unbadged,
        label(ECHO.protocol, ECHO.version, ECHO.op),
        ECHO.words,
    )?;
    ensure!(
        got == RpcError::BadBadge(BadgeError::NoClient),
        "an unbadged request answered {got:?}"
    );
    Ok(())
}

/// INIT0003: a shared region is the same memory in both programs, with
/// the rights each was given: the peer reads what the probe wrote, and
/// its write to its read-only mapping faults.
pub fn shared_region(env: &Env) -> TestResult {
    let (manifest, archive) = (probe_manifest(1), crate::system::archive(env)?);
    let mut system = start(env, &manifest, &archive)?;
    let mut probe = probe_client(client_cap(
        env,
        &system,
        PROBE,
        badge(3, 0, Rights::NONE).bits(),
    )?)?;
    let peer_ep = client_cap(env, &system, PEER, badge(3, 0, Rights::NONE).bits())?;
    let mut peer = probe_client(peer_ep)?;
    step(probe.poke(8, 0x5eed_f00d), "write through the probe")?;
    let seen = step(peer.peek(8), "read through the peer")?;
    ensure!(seen == 0x5eed_f00d, "the peer read {seen:#x}");
    let events = with_client(env, &mut system, poke_once, peer_ep, 1)?;
    let vm_fault = matches!(
        events[0],
        Event::Stopped {
            program: PEER,
            failure: Failure::Fault {
                kind: FaultType::VmFault,
                ..
            }
        }
    );
    ensure!(
        vm_fault,
        "the peer's write to its read-only mapping led to {events:?}"
    );
    let answer = shared(0).value.load(Ordering::SeqCst);
    ensure!(
        answer == SERVER_FAILED,
        "the client's poke was answered {answer:#x}"
    );
    ensure!(
        step(probe.peek(8), "read through the probe")? == 0x5eed_f00d,
        "the region changed"
    );
    Ok(())
}

/// What a client thread stores for `ServerFailed`.
const SERVER_FAILED: u64 = 0xfa11;

/// The code a client thread stores for a result.
fn code<T>(r: Result<T, ProbeError>) -> u64 {
    match r {
        Ok(_) => 1,
        Err(ProbeError::Rpc(RpcError::ServerFailed)) => SERVER_FAILED,
        Err(_) => 2,
    }
}

/// The client's probe, through the cap in its shared `cap`.
fn client() -> Option<ProbeClient<EndpointClient>> {
    probe_client(crate::thread::endpoint_of(0)).ok()
}

extern "C" fn poke_once(_: u64) -> ! {
    let r = client().map_or(0, |mut c| code(c.poke(0, 1)));
    report_and_stop(0, r)
}

/// Makes the probe fail with `fail`, then echoes: stores the failed
/// request's code in the high half and the echo's in the low half.
fn fail_then_echo<T>(
    fail: impl FnOnce(&mut ProbeClient<EndpointClient>) -> Result<T, ProbeError>,
) -> ! {
    let Some(mut c) = client() else {
        report_and_stop(0, 0)
    };
    let failed = code(fail(&mut c));
    let echoed = match c.echo(6) {
        Ok(7) => 1,
        other => code(other),
    };
    report_and_stop(0, failed << 32 | echoed)
}

extern "C" fn crash_then_echo(_: u64) -> ! {
    fail_then_echo(|c| c.crash())
}

extern "C" fn quit_then_echo(_: u64) -> ! {
    fail_then_echo(|c| c.quit(5))
}

/// Runs client `entry` (which makes the probe fail, then echoes) against
/// the probe system, and checks that the failure was `failure` and led to
/// a restart, that the client saw ServerFailed and then the new instance's
/// echo, and that init counts one restart of a running probe.
fn restarts_then_serves(
    env: &Env,
    entry: extern "C" fn(u64) -> !,
    failure: impl Fn(&Failure) -> bool,
) -> TestResult {
    let (manifest, archive) = (probe_manifest(2), crate::system::archive(env)?);
    let mut system = start(env, &manifest, &archive)?;
    let ep = client_cap(env, &system, PROBE, badge(3, 0, Rights::NONE).bits())?;
    let events = with_client(env, &mut system, entry, ep, 1)?;
    let restarted = matches!(
        &events[0],
        Event::Restarted { program: PROBE, failure: f } if failure(f)
    );
    ensure!(restarted, "the failure led to {events:?}");
    let got = shared(0).value.load(Ordering::SeqCst);
    ensure!(
        got == SERVER_FAILED << 32 | 1,
        "the client saw {got:#x}: want ServerFailed, then the new instance's echo"
    );
    expect_state(&system, PROBE, State::Running)?;
    ensure!(
        system.program(PROBE).map(|p| p.restarts) == Some(1),
        "restarts not counted"
    );
    Ok(())
}

/// SUPERVISE0001: a server that crashes while serving is restarted; the
/// request in flight is answered ServerFailed, and the next one reaches
/// the new instance.
pub fn crash_restarts(env: &Env) -> TestResult {
    restarts_then_serves(env, crash_then_echo, |f| {
        matches!(
            f,
            Failure::Fault {
                kind: FaultType::VmFault,
                ..
            }
        )
    })
}

/// Crashes the probe three times; stores how many were answered
/// ServerFailed.
extern "C" fn crash_thrice(_: u64) -> ! {
    let Some(mut c) = client() else {
        report_and_stop(0, 0)
    };
    let failed = (0..3).filter(|_| code(c.crash()) == SERVER_FAILED).count();
    report_and_stop(0, failed as u64)
}

/// SUPERVISE0002: a server that keeps crashing is restarted up to its
/// limit, then stopped with a report; every crashed request gets an error.
pub fn crash_loop_stops(env: &Env) -> TestResult {
    let (manifest, archive) = (probe_manifest(2), crate::system::archive(env)?);
    let mut system = start(env, &manifest, &archive)?;
    let ep = client_cap(env, &system, PROBE, badge(3, 0, Rights::NONE).bits())?;
    let events = with_client(env, &mut system, crash_thrice, ep, 3)?;
    let kinds: alloc::vec::Vec<bool> = events
        .iter()
        .map(|e| matches!(e, Event::Restarted { program: PROBE, .. }))
        .collect();
    ensure!(
        kinds == [true, true, false],
        "events {events:?}: want two restarts, then a stop"
    );
    ensure!(
        matches!(events[2], Event::Stopped { program: PROBE, .. }),
        "events {events:?}"
    );
    expect_state(&system, PROBE, State::Stopped)?;
    let failed = shared(0).value.load(Ordering::SeqCst);
    ensure!(
        failed == 3,
        "{failed} of 3 crashed requests were answered ServerFailed"
    );
    Ok(())
}

/// SUPERVISE0003: a server that exits while serving counts as failed: it
/// is restarted, the request gets ServerFailed, the next is served.
pub fn server_exit_restarts(env: &Env) -> TestResult {
    restarts_then_serves(env, quit_then_echo, |f| *f == Failure::Exit(5))
}

/// PROTOCOL0003: an operation taking a cap gets `MissingCap` without one
/// and `WrongCapType` naming what came for another type, checked by a
/// server init started (through the read right of its Debug cap); a cap of
/// the right type is taken, and the server goes on serving.
pub fn cap_arguments(env: &Env) -> TestResult {
    let (manifest, archive) = (probe_manifest(1), crate::system::archive(env)?);
    let system = start(env, &manifest, &archive)?;
    let ep = client_cap(env, &system, PROBE, badge(3, 0, Rights::NONE).bits())?;
    let mut probe = probe_client(ep)?;
    let ntfn = crate::cases::retype::make(env, 12, keel_abi::ObjectType::Notification, 0, 1)?;
    step(probe.take(Grant::new(ntfn)), "give a notification")?;
    let wrong = probe.take(Grant::new(ep.cptr().bits()));
    let want = ProbeError::Rpc(RpcError::WrongCapType {
        index: 0,
        got: CapType::Endpoint,
    });
    ensure!(
        wrong == Err(want),
        "an endpoint for a notification was answered {wrong:?}"
    );
    let op = label(keel_probe::PROTOCOL, keel_probe::VERSION, 8);
    let missing = raw(ep, op, 0)?;
    ensure!(
        missing == RpcError::MissingCap { index: 0 },
        "no cap was answered {missing:?}"
    );
    step(probe.take(Grant::new(ntfn)), "give the notification again")?;
    ensure!(step(probe.echo(1), "echo")? == 2, "echo broke");
    Ok(())
}
