//! IPC0303 and IPC0304: IPC that ends in a fault handler. A receive through
//! an endpoint cap without the read right is a capability fault delivered to
//! the receiver's fault endpoint, for every set of rights without read,
//! while every set with it receives (sel4test's IPCRIGHTS0002); and a
//! passive fault handler runs on the scheduling context the fault lends it,
//! maps the missing page and replies, and the faulter goes on with its
//! store (sel4test's IPC0021).

use super::ipc::stop_self;
use super::retype::make;
use super::vspace::{frames, region, tables, ATTRS, RW};
use crate::process::cap;
use crate::support::{reply_object, slot, step};
use crate::thread::{count, endpoint_of, give_reply, reply_of, report_and_stop, set_own_priority};
use crate::thread::{shared, spawn, spawn_with_handler, stack_top, yield_times};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::{AtomicU64, Ordering};
use keel_abi::fault::{self as layout, FaultType};
use keel_abi::{CapRights, MessageInfo, ObjectType};
use keel_sys::cap::{init_thread, Endpoint, Frame, SchedContext};
use keel_sys::tcb::UserContext;

/// The word the sender sends.
const MAGIC: u64 = 42;

/// Receives on `shared(i).cap` with its Reply object; stores the message's
/// word 0 and counts; receives once more (a rendezvous) and stops.
extern "C" fn receive_twice(i: u64) -> ! {
    let ep = endpoint_of(i);
    let first = ep.recv(reply_of(i));
    shared(i).value.store(first.mrs[0], Ordering::SeqCst);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    let _rendezvous = ep.recv(reply_of(i));
    stop_self(i)
}

/// The four rights, as bits 0..4 of a rights-set number.
const RIGHTS: [CapRights; 4] = [
    CapRights::WRITE,
    CapRights::READ,
    CapRights::GRANT,
    CapRights::GRANT_REPLY,
];

/// The rights set numbered `n` (bit `b` set: `RIGHTS[b]` included).
fn rights_set(n: u64) -> CapRights {
    (0..4)
        .filter(|b| n & (1 << b) != 0)
        .fold(CapRights::NONE, |set, b| set.union(RIGHTS[b as usize]))
}

/// seL4's IPCRIGHTS0002: for each of the 16 rights sets, a thread receives
/// through a cap with that set. With read it gets the message; without, it
/// cap-faults to its fault endpoint (the CPtr it used, in the receive phase)
/// and receives nothing.
pub fn recv_needs_read(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 2)?;
    let fault_ep = ep + 1;
    let fault_reply = reply_object(env)?;
    let minted = env.slots(16)?;
    let t = spawn_with_handler(env, receive_twice, 0, 0, 100, fault_ep)?;
    give_reply(env, 0)?;
    let sender = cap::<Endpoint>(ep);
    for n in 0..16 {
        let rights = rights_set(n);
        let s = minted + n;
        step(slot(s).mint(&slot(ep), rights, 0), "mint")?;
        shared(0).cap.store(s, Ordering::SeqCst);
        shared(0).counter.store(0, Ordering::SeqCst);
        shared(0).value.store(0, Ordering::SeqCst);
        let start = UserContext::new_thread(receive_twice, stack_top(0), 0);
        step(
            t.tcb_write_all_registers(true, &start),
            "start the receiver",
        )?;
        if rights.contains(CapRights::READ) {
            sender.send(MessageInfo::new(0, 0, 0, 1), [MAGIC, 0, 0, 0]);
            sender.send(MessageInfo::new(0, 0, 0, 1), [MAGIC, 0, 0, 0]);
            ensure!(
                count(0) == 1 && shared(0).value.load(Ordering::SeqCst) == MAGIC,
                "{rights:?}: the receiver got {:#x} (count {})",
                shared(0).value.load(Ordering::SeqCst),
                count(0)
            );
        } else {
            let f = cap::<Endpoint>(fault_ep).recv(Some(fault_reply));
            ensure!(
                f.info.label() == FaultType::CapFault as u64,
                "{rights:?}: fault label {}",
                f.info.label()
            );
            ensure!(
                f.mrs[layout::CAP_FAULT_ADDR] == s && f.mrs[layout::CAP_FAULT_IN_RECV_PHASE] == 1,
                "{rights:?}: cap fault on {:#x}, receive phase {}",
                f.mrs[layout::CAP_FAULT_ADDR],
                f.mrs[layout::CAP_FAULT_IN_RECV_PHASE]
            );
            // Not waiting on the endpoint: an NBSend finds no receiver.
            sender.nb_send(MessageInfo::new(0, 0, 0, 1), [MAGIC, 0, 0, 0]);
            set_own_priority(99)?;
            yield_times(1)?;
            set_own_priority(255)?;
            ensure!(
                count(0) == 0,
                "{rights:?}: the receiver went on (count {})",
                count(0)
            );
        }
        step(t.tcb_suspend(), "stop the receiver")?;
        step(slot(s).delete(), "delete the minted cap")?;
    }
    Ok(())
}

/// The frame the passive handler maps, and how often it handled a fault
/// (a map that failed counts 100).
static FRAME: AtomicU64 = AtomicU64::new(0);

/// A fault handler: receives VM faults on `shared(i).cap` with its Reply
/// object, maps [`FRAME`] at the faulting page and replies, forever;
/// counts each fault in `shared(i).counter`.
extern "C" fn map_on_fault(i: u64) -> ! {
    let ep = endpoint_of(i);
    let Some(reply) = reply_of(i) else {
        report_and_stop(i, 0)
    };
    let mut r = ep.recv(Some(reply));
    loop {
        let page = r.mrs[layout::VM_FAULT_ADDR] & !0xfff;
        let frame = cap::<Frame>(FRAME.load(Ordering::SeqCst));
        let mapped = r.info.label() == FaultType::VmFault as u64
            && frame
                .frame_map(init_thread::VSPACE, page, RW, ATTRS)
                .is_ok();
        let add = if mapped { 1 } else { 100 };
        shared(i).counter.fetch_add(add, Ordering::SeqCst);
        r = ep.reply_recv(MessageInfo::new(0, 0, 0, 0), [0; 4], reply);
    }
}

/// Where the faulter stores (`shared(i).value` holds the address).
const STORED: u64 = 0xdead_beef;

/// Stores [`STORED`] at the address in `shared(i).value`, counts and stops.
extern "C" fn store_to_reserved(i: u64) -> ! {
    let at = shared(i).value.load(Ordering::SeqCst);
    // SAFETY: the address lies in a page of a region this test reserved:
    // the store faults until the handler maps the test's frame there.
    unsafe { core::ptr::write_volatile(at as usize as *mut u64, STORED) };
    report_and_stop(i, at)
}

/// seL4's IPC0021: a fault handler made passive (its context unbound while
/// it waits) runs on the faulter's context when the fault arrives, maps
/// the page and replies; the faulter finishes its store.
pub fn passive_fault_handler(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let v = region(27);
    tables(env, v, 3)?;
    FRAME.store(frames(env, 1)?, Ordering::SeqCst);
    let handler = spawn(env, map_on_fault, 1, 1, 200)?;
    shared(1).cap.store(ep, Ordering::SeqCst);
    give_reply(env, 1)?;
    step(handler.tcb_resume(), "start the handler")?;
    let result = (|| {
        set_own_priority(150)?;
        let handler_sc = cap::<SchedContext>(shared(1).sc.load(Ordering::SeqCst));
        step(
            handler_sc.sched_context_unbind(),
            "make the waiting handler passive",
        )?;
        let faulter = spawn_with_handler(env, store_to_reserved, 0, 0, 200, ep)?;
        let at = v + 0x10;
        shared(0).value.store(at, Ordering::SeqCst);
        step(faulter.tcb_resume(), "start the faulter")?;
        yield_times(1)?;
        ensure!(
            count(1) == 1,
            "the passive handler handled {} faults (100 a failed map)",
            count(1)
        );
        ensure!(count(0) == 1, "the faulter did not finish its store");
        // SAFETY: the handler mapped the frame at `v`'s page, read-write.
        let stored = unsafe { core::ptr::read_volatile(at as usize as *const u64) };
        ensure!(stored == STORED, "the page holds {stored:#x}");
        let again = cap::<Endpoint>(ep).nb_recv(None);
        ensure!(again.info.length() == 0, "a second fault: {:?}", again.info);
        Ok(())
    })();
    set_own_priority(255)?;
    result
}
