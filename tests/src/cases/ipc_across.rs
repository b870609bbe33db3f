//! IPC0300-0302: sel4test's inter-address-space IPC sweeps. A child process
//! (the `child` program) and the root task exchange messages of every
//! length from 0 to 120 words: Send + Recv, NBSend + Recv, and Call
//! answered by a Send on the Reply object then a Recv. The child is the
//! sender (caller) at priority 98 to 102, the root task the receiver at
//! 100, started with the sender first and the receiver first; every word,
//! length and label is checked on the side that receives it. Each round
//! runs a new child from one untyped, torn down by revoking it.

use super::retype::make;
use crate::process::{cap, child_image, resources, CHILD_UNTYPED_BITS};
use crate::support::{reply_object, slot, step};
use crate::thread::{set_own_priority, yield_times};
use crate::{ensure, Env, TestResult};
use alloc::format;
use alloc::string::String;
use keel_abi::{CapRights, ObjectType};
use keel_child::{compose, intact, DONE_LABEL, LONGEST};
use keel_child::{MODE_CALL_EVERY_LENGTH, MODE_NB_SEND_EVERY_LENGTH, MODE_SEND_EVERY_LENGTH};
use keel_loader::{GivenCap, ProcessConfig};
use keel_sys::cap::{Endpoint, Reply};
use keel_sys::{CPtr, Cap};

/// The receiver's priority; the sender's is swept around it.
const RECEIVER_PRIORITY: u64 = 100;
/// The priority the suite runs tests at, given back at the end.
const TEST_PRIORITY: u64 = 255;

/// The receiver's side of one round, given the data endpoint, the
/// endpoint the child ends on and the sender's priority.
type Receive<'a> = &'a dyn Fn(Cap<Endpoint>, Cap<Endpoint>, u64) -> TestResult;

/// Runs the child in `mode` at every sender priority, sender first and
/// receiver first, with `receive` as the root task's side.
fn sweep(env: &Env, mode: u64, receive: Receive) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 2)?;
    let done = ep + 1;
    let given = [ep, done].map(|s| GivenCap {
        cptr: CPtr::from_bits(s),
        rights: CapRights::ALL,
        badge: 0,
    });
    let (ut, _) = env.untyped(CHILD_UNTYPED_BITS)?;
    let res = resources(env, ut)?;
    let image = child_image(env)?;
    let result = (98..=102).try_for_each(|priority| {
        [true, false].into_iter().try_for_each(|sender_first| {
            set_own_priority(RECEIVER_PRIORITY)?;
            let cfg = ProcessConfig {
                priority,
                arg: mode,
                caps: &given,
                ..ProcessConfig::default()
            };
            keel_loader::spawn(image, &res, &cfg)
                .map_err(|e| format!("spawning the child: {e}"))?;
            if sender_first {
                // A sender at the receiver's priority runs into its first
                // send before the receiver's first receive.
                yield_times(1)?;
            }
            receive(cap(ep), cap(done), priority)
                .map_err(|e| format!("sender at {priority}, sender first {sender_first}: {e}"))?;
            step(slot(ut.cptr().bits()).revoke(), "tear the child down")
        })
    });
    set_own_priority(TEST_PRIORITY)?;
    result
}

/// Receives the child's closing message on `done`; returns its word.
fn closing(done: Cap<Endpoint>) -> Result<u64, String> {
    let r = done.recv(None);
    ensure!(
        r.info.label() == DONE_LABEL,
        "the closing message {:?}",
        r.info
    );
    Ok(r.mrs[0])
}

/// Receives every length on `ep`, checking each.
fn receive_every_length(ep: Cap<Endpoint>, reply: Option<Cap<Reply>>) -> TestResult {
    for len in 0..=LONGEST {
        let r = ep.recv(reply);
        ensure!(intact(&r, len, 0), "length {len} arrived as {:?}", r.info);
        if let Some(reply) = reply {
            let (info, first) = compose(len, 1);
            reply.reply(info, first);
        }
    }
    Ok(())
}

pub fn send_recv_across_address_spaces(env: &Env) -> TestResult {
    sweep(env, MODE_SEND_EVERY_LENGTH, &|ep, done, _| {
        receive_every_length(ep, None)?;
        closing(done).map(|_| ())
    })
}

/// seL4's IPC1004: a receiver above the sender waits for each message; one
/// at or below it does not wait, and every NBSend is dropped.
pub fn nb_send_recv_across_address_spaces(env: &Env) -> TestResult {
    sweep(env, MODE_NB_SEND_EVERY_LENGTH, &|ep, done, priority| {
        if priority < RECEIVER_PRIORITY {
            receive_every_length(ep, None)?;
        }
        closing(done)?;
        let late = ep.nb_recv(None);
        ensure!(
            late.info.label() == 0 && late.info.length() == 0,
            "an NBSend was kept for a receiver that was not waiting: {:?}",
            late.info
        );
        Ok(())
    })
}

pub fn call_reply_recv_across_address_spaces(env: &Env) -> TestResult {
    let reply = reply_object(env)?;
    sweep(env, MODE_CALL_EVERY_LENGTH, &|ep, done, _| {
        receive_every_length(ep, Some(reply))?;
        let wrong = closing(done)?;
        ensure!(wrong == 0, "{wrong} answers reached the child wrong");
        Ok(())
    })
}
