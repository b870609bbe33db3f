//! SYSCALL: the system calls this kernel has, and the errors for those it has not.

use crate::{ensure, Env, TestResult};
use keel_abi::{Error, Syscall};
use keel_sys::{debug, raw_syscall, CPtr};

pub fn debug_calls(_env: &Env) -> TestResult {
    let [err, ..] = raw_syscall(
        Syscall::DebugPutChar as u64,
        [u64::from(b'.'), 0, 0, 0, 0, 0],
    );
    ensure!(err == 0, "put-char returned error word {err}");
    debug::put_char(b'\n');
    debug::name_thread("root-task").map_err(|e| alloc::format!("name_thread: {e}"))?;
    Ok(())
}

pub fn identify_out_of_range(env: &Env) -> TestResult {
    let slots = 1u64 << env.boot_info.root_cnode_size_bits;
    for slot in [slots, slots + 1, u64::MAX] {
        let result = debug::cap_identify(CPtr::from_bits(slot));
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
        [0x4000_0000_0000, 8, 0, 0, 0, 0],
    )[0];
    ensure!(
        Error::check(unmapped) == Err(Error::InvalidArgument),
        "unmapped pointer gave error word {unmapped}"
    );
    let wrapping = raw_syscall(
        Syscall::DebugNameThread as u64,
        [u64::MAX - 2, 8, 0, 0, 0, 0],
    )[0];
    ensure!(
        Error::check(wrapping) == Err(Error::InvalidArgument),
        "wrapping pointer gave error word {wrapping}"
    );
    let long = "a-thread-name-longer-than-32-bytes!";
    ensure!(
        debug::name_thread(long) == Err(Error::RangeError),
        "over-long name accepted"
    );
    ensure!(
        debug::name_thread("root-task").is_ok(),
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
