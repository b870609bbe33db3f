//! The debug system calls: console output, halting, thread names, cap
//! identification and the kernel's test knobs (preemption, the fast path,
//! the longest stretch). None is ambient authority: each names a Debug cap
//! in argument `ARG_CAP`, and [`authority`] checks it before anything
//! happens. A call through no Debug cap, or one without the rights
//! `Syscall::debug_rights` asks for, returns an error and changes nothing.

use crate::arch::{Console, Machine, Platform, Serial};
use crate::object::handle::Thread;
use crate::syscall::invocation::Outcome;
use keel_abi::syscall::{ARG_CAP, THREAD_NAME_MAX};
use keel_abi::{CapRights, CapType, Error, Syscall};
use keel_kernel_core::error::SyscallError;

/// Checks that `cptr` names, in `thread`'s CSpace, a Debug cap with `needed`.
///
/// # Errors
/// `FailedLookup` when `cptr` resolves to no slot (as for any cap argument);
/// `InvalidCapability` naming argument 0 when the slot holds no Debug cap
/// (an empty slot included) or one without `needed`: the cap the call named
/// cannot do this, seL4's error for a cap of the wrong type or rights.
fn authority(thread: Thread, cptr: u64, needed: CapRights) -> Result<(), SyscallError> {
    let (_, cap) = thread.lookup_cap(cptr)?;
    if cap.is(CapType::Debug) && cap.rights_field().contains(needed) {
        Ok(())
    } else {
        Err(SyscallError::invalid_capability(ARG_CAP as u64))
    }
}

/// Runs debug call `syscall` (one `Syscall::debug_rights` gives rights for)
/// for `thread`, once the Debug cap its first argument names allows it.
///
/// Kept out of line, so that the rare debug calls add nothing to the frame
/// of the dispatcher every other system call goes through.
///
/// # Errors
/// The authority check's; then each call's own.
#[inline(never)]
pub fn call(thread: Thread, syscall: Syscall) -> Result<Outcome, SyscallError> {
    let needed = syscall
        .debug_rights()
        .ok_or(SyscallError::from(Error::IllegalOperation))?;
    let arg = |n: usize| thread.syscall_arg(n);
    authority(thread, arg(ARG_CAP), needed)?;
    let done = |word: u64| Ok(Outcome::Done([word, 0]));
    match syscall {
        Syscall::DebugPutChar => {
            Serial::put_byte(arg(1) as u8);
            done(0)
        }
        Syscall::DebugHalt => Machine::halt(arg(1) as u32),
        Syscall::DebugNameThread => {
            name_thread(thread, arg(1), arg(2))?;
            done(0)
        }
        Syscall::DebugCapIdentify => {
            let (_, cap) = thread.lookup_cap(arg(1))?;
            done(cap.kind() as u64)
        }
        Syscall::DebugPreemptEvery => done(crate::preemption::set_every(arg(1))),
        Syscall::DebugLongestStretch => done(crate::preemption::take_longest_stretch()),
        Syscall::DebugFastpath => done(u64::from(super::fastpath::set_enabled(arg(1) != 0))),
        _ => Err(Error::IllegalOperation.into()),
    }
}

/// Names `thread` with the `len` bytes at `ptr` in its VSpace.
fn name_thread(thread: Thread, ptr: u64, len: u64) -> Result<(), SyscallError> {
    let len = usize::try_from(len).map_err(|_| SyscallError::from(Error::InvalidArgument))?;
    if len > THREAD_NAME_MAX {
        return Err(SyscallError::range(0, THREAD_NAME_MAX as u64));
    }
    let mut name = [0u8; THREAD_NAME_MAX];
    let vspace = thread
        .running_vspace()
        .ok_or(SyscallError::from(Error::IllegalOperation))?;
    crate::user_mem::copy_from_user(&vspace, ptr, &mut name[..len])?;
    thread.set_name(&name[..len]);
    Ok(())
}
