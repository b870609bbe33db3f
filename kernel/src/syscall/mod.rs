//! System-call entry and dispatch. `handle_syscall` is the one place that turns
//! a handler's `Result` into the caller's result registers.

use crate::arch::{Console, Machine, Platform, Serial, UserRegisters, VSpace, AddressSpace};
use crate::object::{cnode::RootCNode, object_mut, tcb::Tcb};
use crate::sched;
use keel_abi::{syscall::THREAD_NAME_MAX, Error, Syscall};

/// Handles the system call the current thread just made, then schedules.
pub fn handle_syscall() -> ! {
    if let Some(tcb) = sched::current() {
        let words = match dispatch(tcb) {
            Ok([a, b]) => [0, a, b],
            Err(e) => [e as u64, 0, 0],
        };
        tcb.context.set_syscall_result(words);
    }
    sched::schedule()
}

fn dispatch(tcb: &mut Tcb) -> Result<[u64; 2], Error> {
    let ctx = &tcb.context;
    let syscall = Syscall::try_from(ctx.syscall_number()).map_err(|_| Error::UnknownSyscall)?;
    match syscall {
        Syscall::DebugPutChar => {
            Serial::put_byte(ctx.syscall_arg(0) as u8);
            Ok([0, 0])
        }
        Syscall::DebugHalt => Machine::halt(ctx.syscall_arg(0) as u32),
        Syscall::DebugNameThread => {
            let len = usize::try_from(ctx.syscall_arg(1)).map_err(|_| Error::InvalidArgument)?;
            if len > THREAD_NAME_MAX {
                return Err(Error::RangeError);
            }
            let mut name = [0u8; THREAD_NAME_MAX];
            let vspace = VSpace::from_root(tcb.vspace_root);
            crate::user_mem::copy_from_user(&vspace, ctx.syscall_arg(0), &mut name[..len])?;
            tcb.set_name(&name[..len]);
            Ok([0, 0])
        }
        Syscall::DebugCapIdentify => {
            // SAFETY: a thread's CSpace root is the CNode created for it at boot;
            // nothing else holds a reference to it during this kernel entry.
            let cnode = unsafe { object_mut::<RootCNode>(tcb.cspace_root) };
            let cap = cnode.get(ctx.syscall_arg(0)).ok_or(Error::FailedLookup)?;
            Ok([cap.kind() as u64, 0])
        }
        // One thread only so far: giving up the CPU returns straight to the caller.
        Syscall::Yield => Ok([0, 0]),
        // No object in this kernel has invocations or IPC queues yet.
        Syscall::Call
        | Syscall::ReplyRecv
        | Syscall::Send
        | Syscall::NBSend
        | Syscall::Recv
        | Syscall::NBRecv
        | Syscall::NBSendRecv
        | Syscall::NBSendWait
        | Syscall::Wait
        | Syscall::NBWait => Err(Error::IllegalOperation),
    }
}
