//! IPC where Keel once differed from seL4: a send through an endpoint cap
//! without the write right (dropped for Send and NBSend, an InvalidCapability
//! answer for Call, never a fault), and Wait, NBWait and NBSendWait on an
//! endpoint (a receive without a Reply object, as in seL4 MCS).

use super::ipc::{call_and_count, mint, receive_once, server, stop_self};
use super::retype::make;
use crate::thread::{count, endpoint_of, shared, yield_times};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::{CapRights, Error, MessageInfo, ObjectType};
use keel_sys::cap::Endpoint;
use keel_sys::ipc::Received;
use keel_sys::{CPtr, Cap};

/// Packs what a test checks of a received message into one word: MR0, the
/// badge, the label and the length.
fn packed(r: &Received) -> u64 {
    r.mrs[0] | (r.badge << 16) | (r.info.label() << 32) | ((r.info.length() as u64) << 56)
}

/// Sends and NBSends through `shared(i).cap` and counts; then Calls through
/// it, stores the first word of the answer, counts again and stops.
extern "C" fn send_then_call(i: u64) -> ! {
    let ep = endpoint_of(i);
    ep.send(MessageInfo::new(5, 0, 0, 1), [7, 0, 0, 0]);
    ep.nb_send(MessageInfo::new(5, 0, 0, 1), [8, 0, 0, 0]);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    let r = ep.call(MessageInfo::new(5, 0, 0, 1), [9, 0, 0, 0]);
    shared(i).value.store(r.info.word(), Ordering::SeqCst);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    stop_self(i)
}

pub fn send_without_write_right(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let read_only = mint(
        env,
        ep,
        0,
        CapRights::READ
            .union(CapRights::GRANT)
            .union(CapRights::GRANT_REPLY),
    )?;
    server(env, receive_once, 1, ep)?;
    yield_times(1)?;
    server(env, send_then_call, 0, read_only.cptr().bits())?;
    yield_times(2)?;
    ensure!(
        count(0) == 2,
        "the sender stopped after {} of its two steps (a fault?)",
        count(0)
    );
    ensure!(count(1) == 0, "the receiver got a message");
    let answer = shared(0).value.load(Ordering::SeqCst);
    ensure!(
        answer == Error::InvalidCapability as u64,
        "the Call was answered with {answer:#x}, not InvalidCapability"
    );
    Ok(())
}

/// NBWaits on `shared(i).cap` (nothing is there) and stores what it got;
/// then Waits twice, storing each message (packed) and counting.
extern "C" fn wait_three_times(i: u64) -> ! {
    let ep = endpoint_of(i);
    let s = shared(i);
    let r = ep.nb_wait();
    s.value
        .store(r.info.word() | r.badge | r.mrs[0], Ordering::SeqCst);
    s.counter.fetch_add(1, Ordering::SeqCst);
    for _ in 0..2 {
        let r = ep.wait();
        s.value.store(packed(&r), Ordering::SeqCst);
        s.counter.fetch_add(1, Ordering::SeqCst);
    }
    stop_self(i)
}

pub fn wait_on_endpoint(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    server(env, wait_three_times, 0, ep)?;
    yield_times(1)?;
    ensure!(count(0) == 1, "NBWait on an empty endpoint did not return");
    let empty = shared(0).value.load(Ordering::SeqCst);
    ensure!(empty == 0, "NBWait on an empty endpoint gave {empty:#x}");
    // NBSend: a waiter that is not there must fail the test, not hang it.
    mint(env, ep, 0x33, CapRights::ALL)?.nb_send(MessageInfo::new(9, 0, 0, 1), [77, 0, 0, 0]);
    yield_times(2)?;
    ensure!(count(0) == 2, "Wait did not take the Send");
    let got = shared(0).value.load(Ordering::SeqCst);
    let sent = 77 | (0x33 << 16) | (9 << 32) | (1 << 56);
    ensure!(got == sent, "Wait received {got:#x}, not {sent:#x}");
    // A Call reaches the waiter, which has no Reply object: the message is
    // delivered and the caller is left without an answer.
    server(env, call_and_count, 1, ep)?;
    yield_times(2)?;
    ensure!(count(0) == 3, "the second Wait did not take the Call");
    let got = shared(0).value.load(Ordering::SeqCst);
    ensure!(got & 0xffff == 41, "Wait received {got:#x} from the Call");
    ensure!(
        count(1) == 0,
        "a Call to a waiter without a Reply object was answered"
    );
    Ok(())
}

/// NBSendWaits: sends 21 on `shared(i).cap`, then waits on the endpoint in
/// `shared(i).value`; stores what it received (packed), counts and stops.
extern "C" fn send_and_wait(i: u64) -> ! {
    let s = shared(i);
    let src: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(s.value.load(Ordering::SeqCst)));
    let r = endpoint_of(i).nb_send_wait(MessageInfo::new(0, 0, 0, 1), [21, 0, 0, 0], src);
    s.value.store(packed(&r), Ordering::SeqCst);
    s.counter.fetch_add(1, Ordering::SeqCst);
    stop_self(i)
}

pub fn nb_send_wait_on_endpoint(env: &Env) -> TestResult {
    let (ep_out, ep_in) = (
        make(env, 12, ObjectType::Endpoint, 0, 1)?,
        make(env, 12, ObjectType::Endpoint, 0, 1)?,
    );
    server(env, receive_once, 0, ep_out)?;
    yield_times(1)?;
    // `spawn` clears the shared words; set them before the thread first runs.
    server(env, send_and_wait, 1, ep_out)?;
    shared(1).value.store(ep_in, Ordering::SeqCst);
    yield_times(2)?;
    ensure!(count(0) == 1, "the send half did not reach the receiver");
    let first = shared(0).value.load(Ordering::SeqCst) & 0xffff_ffff;
    ensure!(first == 21, "the receiver got MR0 {first}");
    ensure!(count(1) == 0, "NBSendWait returned with nothing to receive");
    mint(env, ep_in, 0x44, CapRights::ALL)?.nb_send(MessageInfo::new(3, 0, 0, 1), [55, 0, 0, 0]);
    yield_times(2)?;
    ensure!(count(1) == 1, "the wait half did not take the Send");
    let got = shared(1).value.load(Ordering::SeqCst);
    let sent = 55 | (0x44 << 16) | (3 << 32) | (1 << 56);
    ensure!(got == sent, "NBSendWait received {got:#x}, not {sent:#x}");
    Ok(())
}
