//! System-call entry and dispatch. `handle_syscall` is the one place that turns
//! a handler's result into the caller's result registers (or into a restart).

mod debug;
mod fastpath;
pub mod invocation;
mod ipc;

use crate::fault::{UserFault, UserFaultKind};
use crate::object::handle::Thread;
use crate::sched;
use invocation::Outcome;
use keel_abi::syscall::ARG_CAP;
use keel_abi::{CapType, Syscall};
use keel_kernel_core::error::SyscallError;

/// Handles the system call the current thread just made (after the IPC fast
/// path, which the entry tries first), then schedules.
#[inline(always)]
pub fn handle_syscall() -> ! {
    crate::preemption::kernel_entered();
    if let Some(thread) = sched::current() {
        let outcome = dispatch(thread);
        // The call may have destroyed the current thread; then there is no one to answer.
        if let Some(tcb) = sched::current() {
            match outcome {
                Ok(Outcome::Done([a, b])) => tcb.set_syscall_result([0, a, b, 0, 0, 0]),
                Ok(Outcome::Restart) => tcb.restart_syscall(),
                Ok(Outcome::Handled) => {}
                Ok(Outcome::Fault(kind, addr)) => {
                    // A cap fault re-runs the system call once handled; an
                    // unknown system call goes on after it.
                    if matches!(kind, UserFaultKind::CapFault { .. }) {
                        tcb.restart_syscall();
                    }
                    let ip = tcb.ip();
                    crate::fault::handle_user_fault(UserFault { kind, ip, addr })
                }
                Err(e) => {
                    tcb.set_syscall_result([e.error as u64, e.detail[0], e.detail[1], 0, 0, 0])
                }
            }
        }
    }
    crate::preemption::stretch_ends();
    sched::schedule()
}

/// Runs one system call for the current thread. Its fields are read and
/// written one at a time through its handle, so nothing of it is borrowed
/// while the capability core runs (which may finalise that very TCB).
fn dispatch(thread: Thread) -> Result<Outcome, SyscallError> {
    let number = thread.syscall_number();
    let Ok(syscall) = Syscall::try_from(number) else {
        return Ok(Outcome::Fault(UserFaultKind::UnknownSyscall, number));
    };
    match syscall {
        Syscall::Call => {
            // One lookup decides between IPC and an invocation, and serves both.
            let cptr = thread.syscall_arg(ARG_CAP);
            let (slot, cap) = thread.lookup_cap(cptr)?;
            if cap.is(CapType::Endpoint) || cap.is(CapType::Notification) {
                ipc::send_through(thread, syscall, cptr, cap)
            } else {
                invocation::call(thread, slot, cap)
            }
        }
        Syscall::Send | Syscall::NBSend => Ok(ipc::send(thread, syscall)),
        Syscall::Recv | Syscall::NBRecv | Syscall::ReplyRecv | Syscall::Wait | Syscall::NBWait => {
            Ok(ipc::receive(thread, syscall))
        }
        Syscall::Yield => {
            ipc::yield_now();
            Ok(Outcome::Done([0, 0]))
        }
        Syscall::NBSendRecv | Syscall::NBSendWait => Ok(ipc::send_then_receive(thread, syscall)),
        Syscall::DebugPutChar
        | Syscall::DebugHalt
        | Syscall::DebugNameThread
        | Syscall::DebugCapIdentify
        | Syscall::DebugPreemptEvery
        | Syscall::DebugLongestStretch
        | Syscall::DebugFastpath => debug::call(thread, syscall),
    }
}
