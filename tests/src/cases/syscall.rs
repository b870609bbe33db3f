//! SYSCALL: the system calls this kernel has, and the errors for those it has not.

use crate::{ensure, Env, TestResult};
use keel_abi::invocation::MAX_MESSAGE_LENGTH;
use keel_abi::{CapRights, Error, Label, MessageInfo, Syscall};
use keel_sys::cap::init_thread::DEBUG;
use keel_sys::{raw_syscall, CPtr};

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
