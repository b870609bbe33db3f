//! Thread queues kept in endpoint and notification objects: a head and tail
//! word in the object, links in each queued TCB. FIFO order.

use crate::object::memory::KernelMemory;
use crate::object::tcb::{tcb_at, Tcb};
use keel_kernel_core::object_memory::ObjectMemory;

/// A queue whose head word is at `head` and tail word at `head + 8`.
#[derive(Clone, Copy)]
pub struct Queue {
    head: u64,
}

pub(crate) fn tcb(object: u64) -> &'static mut Tcb {
    // SAFETY: queues hold only live TCB objects (a TCB's finalisation takes it
    // off every queue first), and each reference is used for one step with no
    // other reference to the same TCB live meanwhile.
    unsafe { tcb_at(object) }
}

impl Queue {
    /// The queue whose head word is at physical address `head`.
    pub fn at(head: u64) -> Queue {
        Queue { head }
    }

    /// The first thread, if any.
    pub fn first(&self) -> Option<u64> {
        match KernelMemory.read(self.head) {
            0 => None,
            t => Some(t),
        }
    }

    /// True when no thread is queued.
    pub fn is_empty(&self) -> bool {
        self.first().is_none()
    }

    /// Adds a thread at the back.
    pub fn append(&self, object: u64) {
        let mut mem = KernelMemory;
        let tail = mem.read(self.head + 8);
        let t = tcb(object);
        t.ipc_prev = tail;
        t.ipc_next = 0;
        match tail {
            0 => mem.write(self.head, object),
            tail => tcb(tail).ipc_next = object,
        }
        mem.write(self.head + 8, object);
    }

    /// Takes a queued thread out.
    pub fn remove(&self, object: u64) {
        let mut mem = KernelMemory;
        let t = tcb(object);
        let (prev, next) = (t.ipc_prev, t.ipc_next);
        t.ipc_prev = 0;
        t.ipc_next = 0;
        match prev {
            0 => mem.write(self.head, next),
            prev => tcb(prev).ipc_next = next,
        }
        match next {
            0 => mem.write(self.head + 8, prev),
            next => tcb(next).ipc_prev = prev,
        }
    }
}
