//! PROCESS and FRAMEDIPC: child processes built by keel-loader from the
//! `child` program in the boot archive, each from its own untyped: reports
//! through an endpoint, two at once, a fault reaching the root task as the
//! handler, teardown by one revoke that gives all memory back, Call and
//! ReplyRecv across address spaces with badges, a frame shared between
//! the root task and a child, and a child in every ASID pool.

use super::retype::make;
use super::vspace::{frames, region, tables};
use crate::process::{cap, child_image, resources, spawn_child, CHILD_UNTYPED_BITS};
use crate::support::{expect_error, identify, reply_object, slot, step};
use crate::thread::yield_times;
use crate::{ensure, Env, TestResult};
use keel_abi::fault::{self as layout, FaultType};
use keel_abi::vspace::VmAttributes;
use keel_abi::{CapRights, CapType, Error, MessageInfo, ObjectType};
use keel_child::*;
use keel_loader::{GivenCap, ProcessConfig, SharedFrame};
use keel_sys::cap::{init_thread, Endpoint, Frame, Notification, Reply};
use keel_sys::{CPtr, Cap};

/// An endpoint and a Reply object to receive with, in fresh root slots.
fn endpoint_and_reply(env: &Env) -> Result<(u64, Cap<Reply>), alloc::string::String> {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    Ok((ep, reply_object(env)?))
}

/// The endpoint in slot `ep`, given with `badge`.
fn given(ep: u64, badge: u64) -> GivenCap {
    GivenCap {
        cptr: CPtr::from_bits(ep),
        rights: CapRights::ALL,
        badge,
    }
}

/// Starts a child in echo mode on a new endpoint (with a Reply object to
/// receive with); returns the endpoint's slot.
pub(super) fn echo_child(env: &Env) -> Result<u64, alloc::string::String> {
    let (ep, reply) = endpoint_and_reply(env)?;
    let caps = [given(ep, 0), given(reply.cptr().bits(), 0)];
    let cfg = ProcessConfig {
        arg: MODE_ECHO,
        caps: &caps,
        ..ProcessConfig::default()
    };
    spawn_child(env, &cfg)?;
    Ok(ep)
}

/// Receives one report on `ep`, checks it, replies; returns its badge.
fn take_report(ep: u64, reply: Cap<Reply>) -> Result<u64, alloc::string::String> {
    let r = cap::<Endpoint>(ep).recv(Some(reply));
    ensure!(
        r.info.label() == REPORT_LABEL && r.info.length() == 4,
        "report label {:#x} length {}",
        r.info.label(),
        r.info.length()
    );
    ensure!(
        r.mrs == [REPORT_VALUE, 1, 2, 3],
        "report words {:x?}",
        r.mrs
    );
    reply.reply(MessageInfo::new(0, 0, 0, 0), [0; 4]);
    Ok(r.badge)
}

pub fn spawn_and_report(env: &Env) -> TestResult {
    let (ep, reply) = endpoint_and_reply(env)?;
    let caps = [given(ep, 0x11)];
    let cfg = ProcessConfig {
        arg: MODE_REPORT,
        caps: &caps,
        ..ProcessConfig::default()
    };
    let (p, _, _) = spawn_child(env, &cfg)?;
    let badge = take_report(ep, reply)?;
    ensure!(badge == 0x11, "badge {badge:#x}");
    ensure!(
        p.slots_used > keel_loader::slot::FIRST_LOADER,
        "the child's CNode holds no loader objects"
    );
    ensure!(
        identify(p.tcb.cptr().bits())? == CapType::Tcb,
        "the root task lost the child's TCB cap"
    );
    Ok(())
}

pub fn two_children(env: &Env) -> TestResult {
    let (ep, reply) = endpoint_and_reply(env)?;
    let (a, b) = ([given(ep, 1)], [given(ep, 2)]);
    for caps in [&a, &b] {
        let cfg = ProcessConfig {
            arg: MODE_REPORT,
            caps,
            ..ProcessConfig::default()
        };
        spawn_child(env, &cfg)?;
    }
    let first = take_report(ep, reply)?;
    let second = take_report(ep, reply)?;
    ensure!(
        first | second == 3 && first != second,
        "badges {first} and {second}"
    );
    Ok(())
}

pub fn fault_reaches_handler(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let fault_ep = env.slots(1)?;
    step(
        slot(fault_ep).mint(&slot(ep), CapRights::ALL, 0x77),
        "mint the fault endpoint",
    )?;
    let caps = [given(ep, 5)];
    let cfg = ProcessConfig {
        arg: MODE_FAULT,
        caps: &caps,
        fault_ep: Some(CPtr::from_bits(fault_ep)),
        ..ProcessConfig::default()
    };
    let (p, ut, bits) = spawn_child(env, &cfg)?;
    let r = cap::<Endpoint>(ep).recv(None);
    ensure!(r.badge == 0x77, "fault badge {:#x}", r.badge);
    ensure!(
        r.info.label() == FaultType::VmFault as u64,
        "label {}",
        r.info.label()
    );
    let addr = r.mrs[layout::VM_FAULT_ADDR];
    ensure!(addr == UNMAPPED, "fault address {addr:#x}");
    ensure!(
        r.mrs[layout::VM_FAULT_IP] >= p.entry & !0xfff,
        "fault IP {:#x}",
        r.mrs[layout::VM_FAULT_IP]
    );
    step(slot(ut.cptr().bits()).revoke(), "tear the child down")?;
    ensure!(
        identify(p.tcb.cptr().bits())? == CapType::Null,
        "the child's TCB cap survived the revoke"
    );
    whole_untyped_again(env, ut, bits)
}

/// Retypes all of `ut` as one untyped (only possible when nothing is left in it).
fn whole_untyped_again(
    env: &Env,
    ut: keel_sys::Cap<keel_sys::cap::Untyped>,
    bits: u8,
) -> TestResult {
    let s = env.slots(1)?;
    let dst = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
    step(
        ut.untyped_retype(ObjectType::Untyped, u64::from(bits), &dst, s, 1),
        "retype the whole untyped after teardown",
    )?;
    step(slot(s).delete(), "delete the whole-untyped cap")
}

pub fn teardown_returns_memory(env: &Env) -> TestResult {
    let (ep, reply) = endpoint_and_reply(env)?;
    let caps = [given(ep, 9)];
    let cfg = ProcessConfig {
        arg: MODE_REPORT,
        caps: &caps,
        ..ProcessConfig::default()
    };
    let (_, ut, bits) = spawn_child(env, &cfg)?;
    take_report(ep, reply)?;
    let dst = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
    let s = env.slots(1)?;
    let full = ut.untyped_retype(ObjectType::Untyped, u64::from(bits), &dst, s, 1);
    expect_error(
        full,
        Error::NotEnoughMemory,
        "whole untyped while the child lives",
    )?;
    step(slot(ut.cptr().bits()).revoke(), "tear the child down")?;
    whole_untyped_again(env, ut, bits)?;
    // And the same untyped builds a child again.
    let again = keel_loader::spawn(
        crate::process::child_image(env)?,
        &resources(env, ut)?,
        &cfg,
    )
    .map_err(|e| alloc::format!("second spawn: {e}"))?;
    take_report(ep, reply)?;
    step(
        slot(ut.cptr().bits()).revoke(),
        "tear the second child down",
    )?;
    ensure!(
        identify(again.tcb.cptr().bits())? == CapType::Null,
        "the second child's TCB survived"
    );
    Ok(())
}

pub fn call_across_address_spaces(env: &Env) -> TestResult {
    let ep = echo_child(env)?;
    let badged = env.slots(2)?;
    for (i, badge) in [0xa1u64, 0xb2].into_iter().enumerate() {
        let s = badged + i as u64;
        step(slot(s).mint(&slot(ep), CapRights::ALL, badge), "mint")?;
    }
    let result = (|| {
        for fast in [true, false] {
            step(
                init_thread::DEBUG.debug_set_fastpath(fast),
                "fast path setting",
            )?;
            for (i, badge) in [0xa1u64, 0xb2].into_iter().enumerate() {
                let server = cap::<Endpoint>(badged + i as u64);
                let r = server.call(MessageInfo::new(7, 0, 0, 3), [40, 41, 42, 43]);
                ensure!(
                    r.info.label() == 7 && r.info.length() == 3,
                    "fast={fast}: reply label {} length {}",
                    r.info.label(),
                    r.info.length()
                );
                ensure!(
                    r.mrs[..3] == [badge, 41, 42],
                    "fast={fast}: reply {:x?}",
                    r.mrs
                );
                for w in 4..10 {
                    step(keel_sys::ipc::set_mr(w, 100 + w as u64), "set_mr")?;
                }
                let r = server.call(MessageInfo::new(8, 0, 0, 10), [1, 2, 3, 4]);
                let words: alloc::vec::Vec<u64> =
                    (4..10).map(|w| keel_sys::ipc::mr(w).unwrap_or(0)).collect();
                let want: alloc::vec::Vec<u64> = (4..10).map(|w| 101 + w).collect();
                ensure!(
                    r.info.length() == 10 && r.mrs == [badge, 2, 3, 4] && words == want,
                    "fast={fast}: long reply {:?} {:x?} {words:?}",
                    r.info,
                    r.mrs
                );
            }
        }
        Ok(())
    })();
    step(
        init_thread::DEBUG.debug_set_fastpath(true),
        "fast path back on",
    )?;
    result
}

/// A fresh frame mapped read-write at `v` in the root task (with the page
/// tables it needs), to share with a child at [`SHARED_VADDR`].
fn frame_to_share(env: &Env, v: u64) -> Result<SharedFrame, alloc::string::String> {
    tables(env, v, 3)?;
    let f = frames(env, 1)?;
    let rw = CapRights::READ.union(CapRights::WRITE);
    step(
        cap::<Frame>(f).frame_map(init_thread::VSPACE, v, rw, VmAttributes::DEFAULT),
        "map the frame in the root task",
    )?;
    Ok(SharedFrame {
        frame: cap(f),
        vaddr: SHARED_VADDR,
        rights: rw,
    })
}

pub fn shared_frame(env: &Env) -> TestResult {
    let v = region(20);
    let shared = [frame_to_share(env, v)?];
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    let caps = [given(ntfn, 0)];
    let cfg = ProcessConfig {
        arg: MODE_WRITE_SHARED,
        caps: &caps,
        shared_frames: &shared,
        ..ProcessConfig::default()
    };
    spawn_child(env, &cfg)?;
    cap::<Notification>(ntfn).wait();
    for i in 0..512u64 {
        // SAFETY: the frame is mapped readable at `v`; the child, its only
        // other user, has finished writing (it signalled).
        let w = unsafe { core::ptr::read_volatile((v + 8 * i) as *const u64) };
        ensure!(w == shared_word(i), "word {i} is {w:#x}");
    }
    Ok(())
}

pub fn loader_errors(env: &Env) -> TestResult {
    let ut = cap(make(env, 12, ObjectType::Untyped, 12, 1)?);
    let res = resources(env, ut)?;
    let cfg = ProcessConfig::default();
    let err = keel_loader::spawn(b"not an elf", &res, &cfg).err();
    ensure!(
        err.is_some_and(|e| e.error == Error::InvalidArgument && e.step.contains("ELF")),
        "a bad image: {err:?}"
    );
    let image = crate::process::child_image(env)?;
    let err = keel_loader::spawn(image, &res, &cfg).err();
    ensure!(
        err.is_some_and(|e| e.error == Error::NotEnoughMemory && e.step.contains("CNode")),
        "a 4 KiB untyped: {err:?}"
    );
    let mut few = res.clone();
    few.slots = few.slots.start..few.slots.start + 2;
    let err = keel_loader::spawn(image, &few, &cfg).err();
    ensure!(
        err.is_some_and(|e| e.error == Error::InvalidArgument),
        "two slots: {err:?}"
    );
    Ok(())
}

/// A child whose ASID pool is deleted never runs again, though it ran (and
/// the kernel had found its VSpace) just before: a message sent to it
/// afterwards wakes nothing that runs, and it writes no more timestamps
/// into the frame it shares with the root task.
pub fn dead_pool_stops_child(env: &Env) -> TestResult {
    let v = region(21);
    let shared = [frame_to_share(env, v)?];
    let pool = env.slots(1)?;
    step(
        init_thread::ASID_CONTROL.asid_control_make_pool(
            cap(make(env, 12, ObjectType::Untyped, 12, 1)?),
            &init_thread::CNODE.absolute_cptr(CPtr::from_bits(pool)),
        ),
        "make an ASID pool",
    )?;
    let (ep, reply) = endpoint_and_reply(env)?;
    let caps = [given(ep, 0), given(reply.cptr().bits(), 0)];
    let cfg = ProcessConfig {
        arg: MODE_TIMED_ECHO,
        caps: &caps,
        shared_frames: &shared,
        ..ProcessConfig::default()
    };
    let (ut, _) = env.untyped(CHILD_UNTYPED_BITS)?;
    let mut res = resources(env, ut)?;
    res.asid_pool = cap(pool);
    keel_loader::spawn(child_image(env)?, &res, &cfg)
        .map_err(|e| alloc::format!("spawning the child: {e}"))?;
    let times = v as usize as *mut u64;
    let server = cap::<Endpoint>(ep);
    let r = server.call(MessageInfo::new(5, 0, 0, 1), [1, 0, 0, 0]);
    ensure!(r.info.label() == 5, "answer label {}", r.info.label());
    // SAFETY: the frame is mapped read-write at `v`; the child writes its
    // timestamps before it answers, and is waiting for the next message.
    let first = unsafe { times.read_volatile() };
    ensure!(first != 0, "the child wrote no timestamp for the Call");
    // SAFETY: as above.
    unsafe { times.write_volatile(0) };
    step(slot(pool).delete(), "delete the child's ASID pool")?;
    server.nb_send(MessageInfo::new(6, 0, 0, 1), [2, 0, 0, 0]);
    yield_times(3)?;
    // SAFETY: as above.
    let after = unsafe { times.read_volatile() };
    ensure!(
        after == 0,
        "the child ran after its ASID pool was deleted (timestamp {after})"
    );
    Ok(())
}

/// The fast path keeps a thread's last cap lookups while no cap anywhere
/// changes: a cap replaced in the slot a client calls through (a new badge,
/// then a different endpoint) is what the very next Call uses.
pub fn replaced_cap_is_used(env: &Env) -> TestResult {
    let ep = echo_child(env)?;
    let s = env.slots(1)?;
    let server = cap::<Endpoint>(s);
    let badge_of_answer = || server.call(MessageInfo::new(3, 0, 0, 1), [0; 4]).mrs[0];
    for badge in [0x51u64, 0x52] {
        step(slot(s).mint(&slot(ep), CapRights::ALL, badge), "mint")?;
        for _ in 0..3 {
            let seen = badge_of_answer();
            ensure!(
                seen == badge,
                "a Call through badge {badge:#x} arrived with {seen:#x}"
            );
        }
        step(slot(s).delete(), "delete the badged cap")?;
    }
    // Another endpoint nobody serves in the same slot: a Call through it
    // must not reach the child (NBSend: nothing waits, nothing blocks).
    let other = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    step(slot(s).mint(&slot(other), CapRights::ALL, 0x53), "mint")?;
    server.nb_send(MessageInfo::new(3, 0, 0, 1), [0; 4]);
    step(slot(s).delete(), "delete")?;
    step(slot(s).mint(&slot(ep), CapRights::ALL, 0x54), "mint")?;
    let seen = badge_of_answer();
    ensure!(seen == 0x54, "the last Call arrived with badge {seen:#x}");
    Ok(())
}

/// seL4's VSPACE0006: an ASID pool made for every one the ASID table has
/// room for, and in each a child process that runs and writes a page it
/// shares with the root task; each child is torn down before the next is
/// built (in the next pool), and the pools are deleted at the end so later
/// tests find the table as it was.
pub fn child_in_every_pool(env: &Env) -> TestResult {
    use keel_abi::vspace::{ASID_POOL_BITS, ASID_POOL_COUNT};
    let v = region(22);
    let shared = [frame_to_share(env, v)?];
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    let caps = [given(ntfn, 0)];
    let cfg = ProcessConfig {
        arg: MODE_WRITE_SHARED,
        caps: &caps,
        shared_frames: &shared,
        ..ProcessConfig::default()
    };
    let (ut, _) = env.untyped(CHILD_UNTYPED_BITS)?;
    let mut res = resources(env, ut)?;
    let bits = ASID_POOL_BITS + ASID_POOL_COUNT.next_power_of_two().trailing_zeros() as u8;
    let pool_uts = make(
        env,
        bits,
        ObjectType::Untyped,
        ASID_POOL_BITS.into(),
        ASID_POOL_COUNT,
    )?;
    let first_pool = env.slots(ASID_POOL_COUNT)?;
    let mut made = 0;
    let result = (|| {
        for n in 0..ASID_POOL_COUNT {
            let pool = first_pool + n;
            let at = init_thread::CNODE.absolute_cptr(CPtr::from_bits(pool));
            match init_thread::ASID_CONTROL.asid_control_make_pool(cap(pool_uts + n), &at) {
                Ok(()) => made += 1,
                Err(e) if Error::from(e) == Error::DeleteFirst => break,
                Err(e) => return Err(alloc::format!("pool {n}: {e}")),
            }
            for i in 0..512u64 {
                // SAFETY: the frame is mapped read-write at `v`; no child runs.
                unsafe { core::ptr::write_volatile((v + 8 * i) as *mut u64, 0) };
            }
            res.asid_pool = cap(pool);
            keel_loader::spawn(child_image(env)?, &res, &cfg)
                .map_err(|e| alloc::format!("the child in pool {n}: {e}"))?;
            cap::<Notification>(ntfn).wait();
            for i in 0..512u64 {
                // SAFETY: as above; the child has signalled that it is done.
                let w = unsafe { core::ptr::read_volatile((v + 8 * i) as *const u64) };
                ensure!(w == shared_word(i), "pool {n}: word {i} is {w:#x}");
            }
            step(slot(ut.cptr().bits()).revoke(), "tear the child down")?;
        }
        Ok(())
    })();
    for pool in first_pool..first_pool + made {
        step(slot(pool).delete(), "delete the pools")?;
    }
    result?;
    ensure!(made >= 2, "only {made} ASID pools could be made");
    Ok(())
}
