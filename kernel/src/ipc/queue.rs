//! The kernel's threads as the capability core's thread queues and state
//! machines see them (`keel_kernel_core::thread_queue`, host-tested): each
//! thread's queue links and the priority that orders its place live in its
//! TCB, and a link the kernel stored is made a [`Thread`] again by [`tcb`].

use crate::object::handle::Thread;
use keel_kernel_core::thread_queue::QueueLinks;

/// The thread at `object`, a link the kernel stored from a [`Thread`] (in a
/// queue, a Reply object, a binding, the current thread): queues and
/// bindings hold only live TCB objects (a TCB's finalisation takes it off
/// every one first).
#[inline(always)]
pub(crate) fn tcb(object: u64) -> Thread {
    Thread::linked(object)
}

/// The kernel's threads as the capability core's queues and state machines
/// see them: queue links live in each TCB's `ipc_next`/`ipc_prev`, and
/// its priority orders the queues it waits in.
pub(crate) struct KernelThreads;

impl QueueLinks for KernelThreads {
    fn next(&self, thread: u64) -> u64 {
        tcb(thread).ipc_next()
    }

    fn prev(&self, thread: u64) -> u64 {
        tcb(thread).ipc_prev()
    }

    fn set_next(&mut self, thread: u64, next: u64) {
        tcb(thread).set_ipc_next(next);
    }

    fn set_prev(&mut self, thread: u64, prev: u64) {
        tcb(thread).set_ipc_prev(prev);
    }

    #[inline(always)]
    fn priority(&self, thread: u64) -> u64 {
        tcb(thread).priority()
    }
}
