//! IPC where Keel once differed from seL4: a send through an endpoint cap
//! without the write right is dropped for Send and NBSend and answered with
//! InvalidCapability for Call, never a fault.

use super::ipc::{endpoint_of, mint, receive_once, server, stop_self};
use super::retype::make;
use crate::thread::{count, shared, yield_times};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::{CapRights, Error, MessageInfo, ObjectType};

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
