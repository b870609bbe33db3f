//! CNODEOP: copy, mint, move, mutate, rotate, delete, revoke, cancel badged
//! sends and their errors.

use super::retype::make;
use crate::support::{expect_detail, expect_error, expect_type, identify, slot, step};
use crate::thread::{count, count_once, shared, spawn, yield_times};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::{CapRights, CapType, Error, InitCap, MessageInfo, ObjectType};
use keel_sys::cap::{CNode, Endpoint};
use keel_sys::{CPtr, Cap};

pub fn copy(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let d = env.slots(1)?;
    step(slot(d).copy(&slot(ep), CapRights::ALL), "copy")?;
    expect_type(d, CapType::Endpoint)?;
    expect_type(ep, CapType::Endpoint)
}

/// Copy onto an occupied slot is DeleteFirst, from a full source or an
/// empty one (the destination is checked first), and both caps stay.
pub fn copy_to_occupied(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 2)?;
    let empty = env.slots(1)?;
    expect_error(
        slot(ep + 1).copy(&slot(ep), CapRights::ALL),
        Error::DeleteFirst,
        "copy onto a cap",
    )?;
    expect_error(
        slot(ep + 1).copy(&slot(empty), CapRights::ALL),
        Error::DeleteFirst,
        "copy of an empty slot onto a cap",
    )?;
    expect_type(ep, CapType::Endpoint)?;
    expect_type(ep + 1, CapType::Endpoint)?;
    expect_type(empty, CapType::Null)
}

pub fn copy_from_empty(env: &Env) -> TestResult {
    let s = env.slots(2)?;
    let detail = expect_detail(
        slot(s + 1).copy(&slot(s), CapRights::ALL),
        Error::FailedLookup,
        "copy from an empty slot",
    )?;
    ensure!(
        detail[0] & keel_abi::invocation::ErrorDetail::LOOKUP_SOURCE != 0,
        "lookup not marked as the source: {detail:?}"
    );
    Ok(())
}

/// The badge a server sees on a Call through the endpoint cap in root slot `s`.
fn badge_seen_through(s: u64) -> u64 {
    let cap: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(s));
    cap.call(MessageInfo::new(0, 0, 0, 1), [0; 4]).mrs[1]
}

/// A minted badge is the one a server sees; a badged cap cannot be given
/// another badge (the slot stays empty), and a copy of it keeps its badge.
pub fn mint_badge(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    super::ipc::server(env, super::ipc::echo_server, 0, ep)?;
    yield_times(1)?;
    let d = env.slots(2)?;
    step(
        slot(d).mint(&slot(ep), CapRights::ALL, 0x42),
        "mint with badge",
    )?;
    expect_type(d, CapType::Endpoint)?;
    ensure!(
        badge_seen_through(d) == 0x42,
        "the server saw badge {:#x} through the minted cap",
        badge_seen_through(d)
    );
    expect_error(
        slot(d + 1).mint(&slot(d), CapRights::ALL, 0x43),
        Error::IllegalOperation,
        "re-badging",
    )?;
    expect_type(d + 1, CapType::Null)?;
    step(
        slot(d + 1).copy(&slot(d), CapRights::ALL),
        "copy of the badged cap",
    )?;
    let seen = badge_seen_through(d + 1);
    ensure!(
        seen == 0x42,
        "the server saw badge {seen:#x} through the copy"
    );
    let plain = badge_seen_through(ep);
    ensure!(plain == 0, "the unbadged original carries badge {plain:#x}");
    expect_error(
        slot(d).mint(&slot(ep), CapRights::ALL, 0x44),
        Error::DeleteFirst,
        "mint onto an occupied slot",
    )?;
    ensure!(
        badge_seen_through(d) == 0x42,
        "mint onto an occupied slot changed its cap"
    );
    let empty = env.slots(2)?;
    let detail = expect_detail(
        slot(empty + 1).mint(&slot(empty), CapRights::ALL, 0x45),
        Error::FailedLookup,
        "mint from an empty slot",
    )?;
    ensure!(
        detail[0] & keel_abi::invocation::ErrorDetail::LOOKUP_SOURCE != 0,
        "mint's lookup not marked as the source: {detail:?}"
    );
    expect_type(empty + 1, CapType::Null)
}

pub fn move_cap(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let d = env.slots(1)?;
    step(slot(d).move_(&slot(ep)), "move")?;
    expect_type(d, CapType::Endpoint)?;
    expect_type(ep, CapType::Null)?;
    expect_error(
        slot(ep).move_(&slot(ep)),
        Error::FailedLookup,
        "move from the emptied slot",
    )?;
    // Onto an occupied slot: DeleteFirst, and both caps stay where they were.
    let n = make(env, 12, ObjectType::Notification, 0, 1)?;
    expect_error(
        slot(n).move_(&slot(d)),
        Error::DeleteFirst,
        "move onto an occupied slot",
    )?;
    expect_type(d, CapType::Endpoint)?;
    expect_type(n, CapType::Notification)
}

pub fn mutate(env: &Env) -> TestResult {
    // Mutate cannot badge: as in seL4, it is a move that may only set a CNode's guard.
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let d = env.slots(2)?;
    expect_error(
        slot(d).mutate(&slot(ep), 7),
        Error::IllegalOperation,
        "mutate of an endpoint",
    )?;
    expect_type(ep, CapType::Endpoint)?;
    expect_error(
        slot(d + 1).mutate(&slot(d), 0),
        Error::FailedLookup,
        "mutate from an empty slot",
    )?;
    // A CNode moved with a 3-bit guard 0b101 is then reached only through that guard.
    let c = make(env, 12, ObjectType::CNode, 2, 1)?;
    step(
        slot(d).mutate(&slot(c), (0b101 << 6) | 3),
        "mutate a CNode with a guard",
    )?;
    expect_type(c, CapType::Null)?;
    let guarded: keel_sys::Cap<keel_sys::cap::CNode> =
        keel_sys::Cap::from_cptr(keel_sys::CPtr::from_bits(d));
    step(
        guarded
            .absolute_cptr_with_depth((0b101 << 2) | 1, 5)
            .copy(&slot(ep), CapRights::ALL),
        "copy through the guard",
    )?;
    let r = guarded
        .absolute_cptr_with_depth((0b100 << 2) | 1, 5)
        .copy(&slot(ep), CapRights::ALL);
    expect_error(r, Error::FailedLookup, "copy through the wrong guard")?;
    expect_error(
        slot(d).mutate(&slot(InitCap::IrqControl as u64), 0),
        Error::DeleteFirst,
        "mutate onto an occupied slot",
    )?;
    expect_type(d, CapType::CNode)?;
    expect_type(InitCap::IrqControl as u64, CapType::IrqControl)?;
    // Caps with nothing to set move unchanged.
    step(
        slot(d + 1).mutate(&slot(InitCap::IrqControl as u64), 0),
        "mutate IRQ control",
    )?;
    step(
        slot(InitCap::IrqControl as u64).move_(&slot(d + 1)),
        "move it back",
    )?;
    expect_type(InitCap::IrqControl as u64, CapType::IrqControl)
}

// seL4's Rotate applies `updateCapData` with preserve: endpoint and
// notification caps cannot be rotated (they could be badged that way), so these
// tests rotate TCB and frame caps, which carry no data.

pub fn rotate_three(env: &Env) -> TestResult {
    let tcb = make(env, 12, ObjectType::Tcb, 0, 1)?;
    let frame = make(env, 13, ObjectType::SmallPage, 0, 1)?;
    let dest = env.slots(1)?;
    // dest <- pivot (frame), pivot <- src (TCB).
    step(slot(dest).rotate(0, &slot(frame), 0, &slot(tcb)), "rotate")?;
    expect_type(dest, CapType::Frame)?;
    expect_type(frame, CapType::Tcb)?;
    expect_type(tcb, CapType::Null)
}

pub fn rotate_swap(env: &Env) -> TestResult {
    let tcb = make(env, 12, ObjectType::Tcb, 0, 1)?;
    let frame = make(env, 13, ObjectType::SmallPage, 0, 1)?;
    step(
        slot(tcb).rotate(0, &slot(frame), 0, &slot(tcb)),
        "swap by rotate",
    )?;
    expect_type(tcb, CapType::Frame)?;
    expect_type(frame, CapType::Tcb)
}

/// Copies the endpoint in `ep` into slot 1 of the CNode whose cap is in root
/// slot `cnode`, addressed through a `guard` of `guard_bits` bits in front of
/// `radix` bits.
fn copy_through_guard(cnode: u64, guard: u64, guard_bits: u64, radix: u64, ep: u64) -> TestResult {
    let guarded: Cap<CNode> = Cap::from_cptr(CPtr::from_bits(cnode));
    let dest = guarded.absolute_cptr_with_depth((guard << radix) | 1, guard_bits + radix);
    step(
        dest.copy(&slot(ep), CapRights::ALL),
        "copy through the guard",
    )
}

pub fn rotate_sel4_word_order(env: &Env) -> TestResult {
    // Two CNodes told apart by their radix (2 and 3 bits), rotated with
    // seL4's words written directly: dest index, depth, badge; pivot index,
    // depth, badge; src index, depth. The dest badge is the guard of the cap
    // that lands in dest (the pivot's), the pivot badge that of the cap that
    // lands in the pivot (the source's).
    let two = make(env, 12, ObjectType::CNode, 2, 1)?;
    let three = make(env, 12, ObjectType::CNode, 3, 1)?;
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let dest = env.slots(1)?;
    let root = slot(dest).root.cptr();
    let (dest_guard, pivot_guard) = ((0b101 << 6) | 3, (0b10 << 6) | 2);
    let words = [dest, 64, dest_guard, two, 64, pivot_guard, three, 64];
    step(
        keel_sys::invoke(root, keel_abi::Label::CNodeRotate, &words, &[root, root]),
        "rotate with seL4's words",
    )?;
    expect_type(three, CapType::Null)?;
    // dest: the 2-bit CNode behind guard 0b101; the pivot slot: the 3-bit one
    // behind guard 0b10.
    copy_through_guard(dest, 0b101, 3, 2, ep)?;
    copy_through_guard(two, 0b10, 2, 3, ep)?;
    let wrong: Cap<CNode> = Cap::from_cptr(CPtr::from_bits(dest));
    expect_error(
        wrong
            .absolute_cptr_with_depth((0b10 << 2) | 1, 4)
            .copy(&slot(ep), CapRights::ALL),
        Error::FailedLookup,
        "the pivot's guard on dest",
    )
}

pub fn rotate_errors(env: &Env) -> TestResult {
    let tcb = make(env, 13, ObjectType::Tcb, 0, 3)?;
    let empty = env.slots(1)?;
    expect_error(
        slot(empty).rotate(0, &slot(tcb), 0, &slot(tcb)),
        Error::IllegalOperation,
        "pivot equal to source",
    )?;
    expect_error(
        slot(tcb).rotate(0, &slot(tcb), 0, &slot(tcb + 1)),
        Error::IllegalOperation,
        "pivot equal to dest",
    )?;
    expect_error(
        slot(empty).rotate(0, &slot(tcb), 0, &slot(empty)),
        Error::FailedLookup,
        "empty source",
    )?;
    expect_error(
        slot(tcb + 2).rotate(0, &slot(tcb), 0, &slot(tcb + 1)),
        Error::DeleteFirst,
        "destination occupied",
    )?;
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    expect_error(
        slot(empty).rotate(0, &slot(tcb), 0, &slot(ep)),
        Error::IllegalOperation,
        "an endpoint as source",
    )
}

pub fn delete(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    step(slot(ep).delete(), "delete")?;
    expect_type(ep, CapType::Null)?;
    step(slot(ep).delete(), "delete of an empty slot")
}

pub fn revoke_copies(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let d = env.slots(3)?;
    for i in 0..3 {
        step(slot(d + i).copy(&slot(ep), CapRights::ALL), "copy")?;
    }
    step(slot(ep).revoke(), "revoke")?;
    expect_type(ep, CapType::Endpoint)?;
    for i in 0..3 {
        expect_type(d + i, CapType::Null)?;
    }
    // Revoking an empty slot succeeds and leaves it empty.
    step(slot(d).revoke(), "revoke of an empty slot")?;
    expect_type(d, CapType::Null)
}

pub fn revoke_badged_parent(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let d = env.slots(5)?;
    step(slot(d).mint(&slot(ep), CapRights::ALL, 1), "mint badge 1")?;
    step(
        slot(d + 1).copy(&slot(d), CapRights::ALL),
        "copy of badge 1",
    )?;
    step(
        slot(d + 2).copy(&slot(d + 1), CapRights::ALL),
        "copy of the copy",
    )?;
    step(
        slot(d + 3).mint(&slot(ep), CapRights::ALL, 2),
        "mint badge 2",
    )?;
    step(slot(d + 4).copy(&slot(ep), CapRights::ALL), "unbadged copy")?;
    step(slot(d).revoke(), "revoke badge 1's parent")?;
    expect_type(d, CapType::Endpoint)?;
    expect_type(d + 1, CapType::Null)?;
    expect_type(d + 2, CapType::Null)?;
    expect_type(d + 3, CapType::Endpoint)?;
    expect_type(d + 4, CapType::Endpoint)?;
    // Revoking the original takes every badged and unbadged copy.
    step(slot(ep).revoke(), "revoke the original")?;
    for i in 0..5 {
        expect_type(d + i, CapType::Null)?;
    }
    expect_type(ep, CapType::Endpoint)
}

pub fn uncopyable_caps(env: &Env) -> TestResult {
    let d = env.slots(1)?;
    let r = slot(d).copy(&slot(InitCap::IrqControl as u64), CapRights::ALL);
    expect_error(r, Error::IllegalOperation, "copy of IRQ control")?;
    ensure!(identify(d)? == CapType::Null, "a cap appeared");
    Ok(())
}

/// Threads 0, 1 and 2 queue a send each on `ep`, with badges 9, 7 and none,
/// through caps then deleted, so a cancelled sender's restarted Send faults
/// and stops instead of queueing again. Cancelling through the unbadged cap
/// cancels nothing (not even the unbadged send); through a badge-9 cap,
/// thread 0's send alone; on a notification it is IllegalOperation.
pub fn cancel_badged_sends(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let senders = env.slots(3)?;
    for (i, badge) in [(0u64, 9u64), (1, 7), (2, 0)] {
        step(
            slot(senders + i).mint(&slot(ep), CapRights::ALL, badge),
            "mint a sender's cap",
        )?;
        let t = spawn(env, send_number, i as usize, i, 255)?;
        shared(i).cap.store(senders + i, Ordering::SeqCst);
        step(t.tcb_resume(), "resume a sender")?;
    }
    yield_times(1)?;
    ensure!((0..3).all(|i| count(i) == 0), "a sender did not block");
    for i in 0..3 {
        step(slot(senders + i).delete(), "delete a sender's cap")?;
    }
    step(
        slot(ep).cancel_badged_sends(),
        "cancel through the unbadged cap",
    )?;
    let d = env.slots(1)?;
    step(slot(d).mint(&slot(ep), CapRights::ALL, 9), "mint")?;
    step(slot(d).cancel_badged_sends(), "cancel badge 9")?;
    yield_times(1)?;
    let endpoint: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(ep));
    let mut left: alloc::vec::Vec<(u64, u64)> = (0..3)
        .map(|_| endpoint.nb_recv(None))
        .filter(|r| r.info.length() == 1)
        .map(|r| (r.mrs[0], r.badge))
        .collect();
    left.sort_unstable();
    ensure!(
        left == [(1, 7), (2, 0)],
        "the sends left (sender, badge) are {left:?}, expected thread 1's and thread 2's"
    );
    yield_times(1)?;
    let counts = [count(0), count(1), count(2)];
    // The cancelled sender made its Send again on its deleted cap, which
    // drops it (seL4: InvalidCapability, heard only by a Call), and went on.
    ensure!(
        counts == [1, 1, 1],
        "counts {counts:?}: the cancelled sender still waits, or another was not released"
    );
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    expect_error(
        slot(ntfn).cancel_badged_sends(),
        Error::IllegalOperation,
        "on a notification",
    )
}

/// Sends its number once on the endpoint `shared(i).cap`, then counts and stops.
extern "C" fn send_number(i: u64) -> ! {
    let ep = crate::thread::endpoint_of(i);
    ep.send(MessageInfo::new(0, 0, 0, 1), [i, 0, 0, 0]);
    count_once(i)
}

pub fn cancel_badged_sends_rights(env: &Env) -> TestResult {
    // Threads 0 and 1 queue a send each with badge 5; then their caps are
    // deleted, so a cancelled sender's restarted Send faults instead of
    // queueing again.
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let senders = env.slots(2)?;
    for i in 0..2 {
        step(
            slot(senders + i).mint(&slot(ep), CapRights::ALL, 5),
            "mint a sender's cap",
        )?;
        let t = spawn(env, send_number, i as usize, i, 255)?;
        shared(i).cap.store(senders + i, Ordering::SeqCst);
        step(t.tcb_resume(), "resume a sender")?;
    }
    yield_times(1)?;
    ensure!(count(0) + count(1) == 0, "a sender did not block");
    for i in 0..2 {
        step(slot(senders + i).delete(), "delete a sender's cap")?;
    }
    // A badge-5 cap missing any one right is refused and cancels nothing.
    let canceller = env.slots(1)?;
    let rights = [
        CapRights::WRITE,
        CapRights::READ,
        CapRights::GRANT,
        CapRights::GRANT_REPLY,
    ];
    for missing in rights {
        let fewer = CapRights::from_bits(CapRights::ALL.bits() & !missing.bits());
        step(
            slot(canceller).mint(&slot(ep), fewer, 5),
            "mint with fewer rights",
        )?;
        expect_error(
            slot(canceller).cancel_badged_sends(),
            Error::IllegalOperation,
            "cancel through a cap missing a right",
        )?;
        step(slot(canceller).delete(), "delete the canceller")?;
    }
    yield_times(1)?;
    let endpoint: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(ep));
    let r = endpoint.nb_recv(None);
    ensure!(
        r.badge == 5 && r.info.length() == 1 && r.mrs[0] == 0,
        "the first sender is no longer queued: {r:?}"
    );
    // With every right the other sender's send is cancelled.
    step(
        slot(canceller).mint(&slot(ep), CapRights::ALL, 5),
        "mint with every right",
    )?;
    step(
        slot(canceller).cancel_badged_sends(),
        "cancel with every right",
    )?;
    yield_times(1)?;
    let r = endpoint.nb_recv(None);
    ensure!(
        r.badge == 0 && r.info.length() == 0,
        "a cancelled send arrived: {r:?}"
    );
    ensure!(
        count(1) == 1,
        "the cancelled sender's Send, made again on its deleted cap, was not dropped"
    );
    Ok(())
}
