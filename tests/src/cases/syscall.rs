//! SYSCALL: the system calls this kernel has, and the errors for those it
//! has not; every register a call does not answer in comes back as it was,
//! on success and error paths; a Send through a cap to a kernel object
//! invokes it, as in seL4.

use super::retype::make;
use crate::support::{expect_type, slot, step};
use crate::{ensure, Env, TestResult};
use alloc::string::String;
use keel_abi::invocation::MAX_MESSAGE_LENGTH;
use keel_abi::{CapRights, CapType, Error, Label, MessageInfo, ObjectType, Syscall};
use keel_sys::cap::init_thread::{CNODE, DEBUG};
use keel_sys::cap::Notification;
use keel_sys::{raw_syscall, CPtr, Cap};

pub fn debug_calls(_env: &Env) -> TestResult {
    let [err, ..] = raw_syscall(
        Syscall::DebugPutChar as u64,
        [DEBUG.cptr().bits(), u64::from(b'.'), 0, 0, 0, 0],
    );
    ensure!(err == 0, "put-char returned error word {err}");
    DEBUG
        .debug_put_char(b'\n')
        .map_err(|e| alloc::format!("put_char: {e}"))?;
    DEBUG
        .debug_name_thread("root-task")
        .map_err(|e| alloc::format!("name_thread: {e}"))?;
    Ok(())
}

pub fn identify_out_of_range(env: &Env) -> TestResult {
    let slots = 1u64 << env.boot_info.root_cnode_size_bits;
    for slot in [slots, slots + 1, u64::MAX] {
        let result = DEBUG.debug_cap_identify(CPtr::from_bits(slot));
        ensure!(
            result == Err(Error::FailedLookup),
            "slot {slot:#x}: {result:?}"
        );
    }
    Ok(())
}

pub fn name_thread_errors(_env: &Env) -> TestResult {
    let unmapped = raw_syscall(
        Syscall::DebugNameThread as u64,
        [DEBUG.cptr().bits(), 0x4000_0000_0000, 8, 0, 0, 0],
    )[0];
    ensure!(
        Error::check(unmapped) == Err(Error::InvalidArgument),
        "unmapped pointer gave error word {unmapped}"
    );
    let wrapping = raw_syscall(
        Syscall::DebugNameThread as u64,
        [DEBUG.cptr().bits(), u64::MAX - 2, 8, 0, 0, 0],
    )[0];
    ensure!(
        Error::check(wrapping) == Err(Error::InvalidArgument),
        "wrapping pointer gave error word {wrapping}"
    );
    let long = "a-thread-name-longer-than-32-bytes!";
    ensure!(
        DEBUG.debug_name_thread(long) == Err(Error::RangeError),
        "over-long name accepted"
    );
    ensure!(
        DEBUG.debug_name_thread("root-task").is_ok(),
        "valid name refused"
    );
    Ok(())
}

pub fn yield_returns(_env: &Env) -> TestResult {
    for _ in 0..3 {
        keel_sys::r#yield().map_err(|e| alloc::format!("yield: {e}"))?;
    }
    Ok(())
}

/// A CNode Copy whose message info claims 127 words (the field's most) is
/// read as the maximum of 120, as IPC reads it: the copy is made. With 4
/// words, one short of what Copy needs, it is TruncatedMessage.
pub fn length_bounded_at_the_maximum(env: &Env) -> TestResult {
    let ep = super::retype::make(env, 12, keel_abi::ObjectType::Endpoint, 0, 1)?;
    let d = env.slots(1)?;
    let root = keel_sys::cap::init_thread::CNODE.cptr();
    let copy = |length: u64| {
        let mrs = [d, 64, ep, 64, CapRights::ALL.bits()];
        for (i, &w) in mrs.iter().enumerate().skip(4) {
            keel_sys::ipc::set_mr(i, w)?;
        }
        keel_sys::ipc::set_cap(0, root)?;
        let info = MessageInfo::new(Label::CNodeCopy as u64, 0, 1, length);
        let [err, ..] = raw_syscall(
            Syscall::Call as u64,
            [root.bits(), info.word(), mrs[0], mrs[1], mrs[2], mrs[3]],
        );
        Error::check(err)
    };
    ensure!(
        copy(4) == Err(Error::TruncatedMessage),
        "a copy with 4 words was not TruncatedMessage"
    );
    ensure!(
        MessageInfo::new(0, 0, 0, 127).bounded_length() == MAX_MESSAGE_LENGTH,
        "the message info does not bound the length"
    );
    copy(127).map_err(|e| alloc::format!("a copy claiming 127 words: {e}"))?;
    crate::support::expect_type(d, keel_abi::CapType::Endpoint)
}

/// Values the registers a call must keep hold, one run of every call each.
const PATTERNS: [u64; 3] = [
    0x0123_4567_89ab_cdef,
    0xfedc_ba98_7654_3210,
    0x8000_0000_0000_0001,
];

/// Makes system call `number` with `args` and every other register set
/// from `pattern`; fails if the call changed a register it must keep.
fn kept(what: &str, number: Syscall, args: [u64; 8], pattern: u64) -> Result<[u64; 6], String> {
    let (results, changed) =
        keel_sys::arch::syscall_checking_registers(number as u64, args, pattern);
    match changed {
        Some((name, before, after)) => Err(alloc::format!(
            "{what} changed {name}: {before:#x} came back as {after:#x}"
        )),
        None => Ok(results),
    }
}

/// Checks that `results` (a receive's) carry the notification word 1.
fn got_word(what: &str, results: [u64; 6]) -> TestResult {
    ensure!(results[1] == 1, "{what} returned badge {:#x}", results[1]);
    Ok(())
}

/// Checks that `results` (an invocation's) are error `error`.
fn got_error(what: &str, results: [u64; 6], error: Error) -> TestResult {
    ensure!(
        Error::check(results[0]) == Err(error),
        "{what} returned error word {}",
        results[0]
    );
    Ok(())
}

/// Every system call in the forms sel4test's SYSCALL tests make, with every
/// register the call does not answer in set to a pattern: Yield; Send,
/// NBSend, a signal and Call to a CNode with a label it does not have (a
/// failed invocation, answered only to the Call), with no words and with
/// four; DebugPutChar; Recv, ReplyRecv without a Reply object, NBRecv and
/// Wait on a signalled notification; NBSendRecv and NBSendWait that send to
/// the CNode and receive from a signalled notification; NBWait on an empty
/// one; a Call of an empty slot. Each must give back all of them.
pub fn registers_kept(env: &Env) -> TestResult {
    let n = make(env, 12, ObjectType::Notification, 0, 1)?;
    let signaller = env.slots(1)?;
    step(slot(signaller).mint(&slot(n), CapRights::ALL, 1), "mint")?;
    let signal = || Cap::<Notification>::from_cptr(CPtr::from_bits(signaller)).signal();
    let cnode = CNODE.cptr().bits();
    let empty = env.slots(1)?;
    let no_words = MessageInfo::new(0, 0, 0, 0).word();
    let four_words = MessageInfo::new(0, 0, 0, 4).word();
    let words = |info: u64, extra: [u64; 2]| [cnode, info, 11, 12, 13, 14, extra[0], extra[1]];
    for p in PATTERNS {
        kept("Yield", Syscall::Yield, [0; 8], p)?;
        for (info, what) in [(no_words, "no words"), (four_words, "four words")] {
            kept(what, Syscall::Send, words(info, [0, 0]), p)?;
            kept(what, Syscall::NBSend, words(info, [0, 0]), p)?;
            let r = kept(what, Syscall::Call, words(info, [0, 0]), p)?;
            got_error(what, r, Error::IllegalOperation)?;
        }
        kept("signal", Syscall::Send, [cnode, 0, 0, 0, 0, 0, 0, 0], p)?;
        let put = [DEBUG.cptr().bits(), u64::from(b'\n'), 0, 0, 0, 0, 0, 0];
        ensure!(
            kept("put-char", Syscall::DebugPutChar, put, p)?[0] == 0,
            "put-char failed"
        );
        for (what, number) in [
            ("Recv", Syscall::Recv),
            ("ReplyRecv", Syscall::ReplyRecv),
            ("NBRecv", Syscall::NBRecv),
            ("Wait", Syscall::Wait),
        ] {
            signal();
            got_word(
                what,
                kept(what, number, [n, no_words, 0, 0, 0, 0, 0, 0], p)?,
            )?;
        }
        for (what, number) in [
            ("NBSendRecv", Syscall::NBSendRecv),
            ("NBSendWait", Syscall::NBSendWait),
        ] {
            signal();
            got_word(what, kept(what, number, words(four_words, [n, 0]), p)?)?;
        }
        let r = kept("NBWait", Syscall::NBWait, [n, 0, 0, 0, 0, 0, 0, 0], p)?;
        ensure!(
            r[1] == 0,
            "NBWait on an empty notification returned {:#x}",
            r[1]
        );
        let r = kept(
            "empty slot",
            Syscall::Call,
            [empty, no_words, 0, 0, 0, 0, 0, 0],
            p,
        )?;
        got_error("a Call of an empty slot", r, Error::InvalidCapability)?;
    }
    Ok(())
}

/// A Send, an NBSend and the send half of an NBSendRecv through the root
/// CNode's cap with a CNode Copy message each make the copy, as seL4
/// invokes any object a Send names; the NBSendRecv then receives.
pub fn send_invokes_objects(env: &Env) -> TestResult {
    let n = make(env, 12, ObjectType::Notification, 0, 1)?;
    let signaller = env.slots(1)?;
    step(slot(signaller).mint(&slot(n), CapRights::ALL, 1), "mint")?;
    let copy = MessageInfo::new(Label::CNodeCopy as u64, 0, 1, 5).word();
    for (what, number) in [
        ("Send", Syscall::Send),
        ("NBSend", Syscall::NBSend),
        ("NBSendRecv", Syscall::NBSendRecv),
    ] {
        let d = env.slots(1)?;
        keel_sys::ipc::set_mr(4, CapRights::ALL.bits()).map_err(|e| alloc::format!("{e}"))?;
        keel_sys::ipc::set_cap(0, CNODE.cptr()).map_err(|e| alloc::format!("{e}"))?;
        Cap::<Notification>::from_cptr(CPtr::from_bits(signaller)).signal();
        let args = [CNODE.cptr().bits(), copy, d, 64, n, 64, n, 0];
        let r = keel_sys::arch::syscall8(number as u64, args);
        expect_type(d, CapType::Notification).map_err(|e| alloc::format!("{what}: {e}"))?;
        let left = Cap::<Notification>::from_cptr(CPtr::from_bits(n)).poll();
        let (taken, left) = match number {
            Syscall::NBSendRecv => (r[1], left),
            _ => (left, 0),
        };
        ensure!(
            (taken, left) == (1, 0),
            "{what}: the notification's word went {taken:#x} to the call, {left:#x} stayed"
        );
    }
    Ok(())
}
