//! Thread queues kept in endpoint and notification objects: the capability
//! core's [`ThreadQueue`] (host-tested) over kernel object memory, with each
//! thread's links in its TCB.

use crate::object::handle::Thread;
use crate::object::memory::KernelMemory;
use keel_kernel_core::thread_queue::{QueueLinks, ThreadQueue};

/// A queue whose head and tail words (the core's `QueueWords`) are at an
/// address in an endpoint or notification object.
#[derive(Clone, Copy)]
pub struct Queue(ThreadQueue);

/// The thread at `object`, a link the kernel stored from a [`Thread`] (in a
/// queue, a Reply object, a binding, the current thread): queues and
/// bindings hold only live TCB objects (a TCB's finalisation takes it off
/// every one first).
#[inline(always)]
pub(crate) fn tcb(object: u64) -> Thread {
    Thread::linked(object)
}

/// The kernel's threads as the capability core's queues and state machines
/// see them: queue links live in each TCB's `ipc_next`/`ipc_prev`.
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
}

impl Queue {
    /// The queue whose `QueueWords` are at physical address `words`.
    pub fn at(words: u64) -> Queue {
        Queue(ThreadQueue::at(words))
    }

    /// The first thread, if any.
    pub fn first(&self) -> Option<u64> {
        self.0.first(&KernelMemory)
    }

    /// True when no thread is queued.
    pub fn is_empty(&self) -> bool {
        self.first().is_none()
    }

    /// Adds a thread at the back.
    pub fn append(&self, thread: u64) {
        self.0.append(&mut KernelMemory, &mut KernelThreads, thread);
    }

    /// Takes a queued thread out.
    pub fn remove(&self, thread: u64) {
        self.0.remove(&mut KernelMemory, &mut KernelThreads, thread);
    }
}
