//! The notification state machine: a notification object holds a state
//! (idle, waiters queued, a word pending), the word of bits Signal ORs
//! badges into, a queue of waiters (highest priority first, first come
//! first served within a priority), the thread bound to it (which also
//! gets signals while it receives on an endpoint) and the scheduling context
//! bound to it (MCS: a passive thread a signal wakes runs on it). What
//! happens to threads (blocking, waking, delivering the word, lending the
//! context) is the kernel's, behind [`NotificationThreads`], so the state
//! machine runs the same on the host.

use crate::object_memory::ObjectMemory;
use crate::reply::Donation;
use crate::thread_queue::{QueueLinks, ThreadQueue};
use core::mem::{offset_of, size_of};
use keel_abi::object::NOTIFICATION_BITS;

/// The words of a notification object, in memory order. The state machine
/// reaches each through its offset here.
#[repr(C)]
pub struct NotificationLayout {
    /// [`NotificationState`] as a number.
    pub state: u64,
    /// The bits signalled and not yet taken.
    pub word: u64,
    /// The waiters' queue: head and tail (see [`ThreadQueue`]).
    pub queue: [u64; 2],
    /// The thread bound to it (0: none).
    pub bound: u64,
    /// The scheduling context bound to it (0: none).
    pub sched_context: u64,
    /// Non-zero while it is being destroyed: signals are dropped, and the
    /// kernel refuses waits and binding.
    pub closing: u64,
    /// How many interrupt lines signal it, so its delete looks for them
    /// only when there are some.
    pub irq_lines: u64,
}

const _: () = assert!(size_of::<NotificationLayout>() == 64);
const _: () = assert!(size_of::<NotificationLayout>() <= 1 << NOTIFICATION_BITS);

const STATE: u64 = offset_of!(NotificationLayout, state) as u64;
const WORD: u64 = offset_of!(NotificationLayout, word) as u64;
const QUEUE: u64 = offset_of!(NotificationLayout, queue) as u64;
const BOUND: u64 = offset_of!(NotificationLayout, bound) as u64;
const SCHED_CONTEXT: u64 = offset_of!(NotificationLayout, sched_context) as u64;
const CLOSING: u64 = offset_of!(NotificationLayout, closing) as u64;
const IRQ_LINES: u64 = offset_of!(NotificationLayout, irq_lines) as u64;

/// Where a notification stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum NotificationState {
    /// No word pending, nobody waiting (a fresh object: all zero).
    Idle = 0,
    /// Threads wait on it; no word is pending.
    Waiting = 1,
    /// A word is pending; nobody waits.
    Active = 2,
}

/// What the state machine asks of the kernel's threads.
pub trait NotificationThreads: QueueLinks + Donation {
    /// `thread` waits to receive on an endpoint.
    fn receiving(&self, thread: u64) -> bool;
    /// Takes `thread` out of the IPC it is blocked in.
    fn cancel_ipc(&mut self, thread: u64);
    /// Gives `thread` `word` as the badge of an empty message.
    fn deliver(&mut self, thread: u64, word: u64);
    /// `thread` may run.
    fn make_runnable(&mut self, thread: u64);
    /// `thread` stops running and waits on the notification at `ntfn`.
    fn block(&mut self, thread: u64, ntfn: u64);
    /// `thread` no longer waits on a notification.
    fn unblocked(&mut self, thread: u64);
    /// `thread` runs its system call again (its notification is going away).
    fn restart(&mut self, thread: u64);
    /// The notification bound to `thread` (0: none).
    fn bound_notification(&self, thread: u64) -> u64;
    /// Records `ntfn` (0: none) as the notification bound to `thread`.
    fn set_bound_notification(&mut self, thread: u64, ntfn: u64);
    /// The scheduling context `context` no longer has a notification bound.
    fn forget_notification(&mut self, context: u64);
}

/// Why a notification cannot be bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindError {
    /// The notification or the thread is bound already, or threads wait on it.
    Busy,
}

/// The notification object at a physical address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notification(u64);

impl Notification {
    /// The notification at `paddr`.
    pub const fn at(paddr: u64) -> Notification {
        Notification(paddr)
    }

    /// The notification bound to `thread`, if any.
    pub fn bound_to(threads: &impl NotificationThreads, thread: u64) -> Option<Notification> {
        match threads.bound_notification(thread) {
            0 => None,
            ntfn => Some(Notification(ntfn)),
        }
    }

    fn read(self, mem: &impl ObjectMemory, field: u64) -> u64 {
        mem.read(self.0 + field)
    }

    fn write(self, mem: &mut impl ObjectMemory, field: u64, value: u64) {
        mem.write(self.0 + field, value);
    }

    fn queue(self) -> ThreadQueue {
        ThreadQueue::at(self.0 + QUEUE)
    }

    fn set_state(self, mem: &mut impl ObjectMemory, state: NotificationState) {
        self.write(mem, STATE, state as u64);
    }

    /// Where it stands.
    pub fn state(self, mem: &impl ObjectMemory) -> NotificationState {
        match self.read(mem, STATE) {
            1 => NotificationState::Waiting,
            2 => NotificationState::Active,
            _ => NotificationState::Idle,
        }
    }

    /// The thread bound to it (0: none).
    pub fn bound(self, mem: &impl ObjectMemory) -> u64 {
        self.read(mem, BOUND)
    }

    /// How many interrupt lines signal it.
    pub fn irq_lines(self, mem: &impl ObjectMemory) -> u64 {
        self.read(mem, IRQ_LINES)
    }

    /// One more interrupt line signals it (`1`), or one fewer (`-1`).
    pub fn count_irq_line(self, mem: &mut impl ObjectMemory, change: i64) {
        let lines = self.irq_lines(mem).wrapping_add_signed(change);
        self.write(mem, IRQ_LINES, lines);
    }

    /// The scheduling context bound to it (0: none).
    pub fn sched_context(self, mem: &impl ObjectMemory) -> u64 {
        self.read(mem, SCHED_CONTEXT)
    }

    /// Records `context` (0: none) as the scheduling context bound to it.
    pub fn set_sched_context(self, mem: &mut impl ObjectMemory, context: u64) {
        self.write(mem, SCHED_CONTEXT, context);
    }

    /// Signals with `badge`: wakes the first waiter, or the bound thread if
    /// it receives on an endpoint, or ORs the badge into the word.
    pub fn signal<M: ObjectMemory, T: NotificationThreads>(
        self,
        mem: &mut M,
        threads: &mut T,
        badge: u64,
    ) {
        if self.is_closing(mem) {
            return;
        }
        if self.state(mem) == NotificationState::Waiting {
            let waiter = self
                .queue()
                .first(mem)
                .expect("invariant: a waiting notification has waiters");
            self.take_off(mem, threads, waiter);
            self.wake(mem, threads, waiter, badge);
            return;
        }
        let bound = self.bound(mem);
        if bound != 0 && threads.receiving(bound) {
            threads.cancel_ipc(bound);
            self.wake(mem, threads, bound, badge);
            return;
        }
        self.write(mem, WORD, self.read(mem, WORD) | badge);
        self.set_state(mem, NotificationState::Active);
    }

    /// A signal with `word` wakes `thread`, which waited for it.
    fn wake<M: ObjectMemory, T: NotificationThreads>(
        self,
        mem: &M,
        threads: &mut T,
        thread: u64,
        word: u64,
    ) {
        threads.deliver(thread, word);
        threads.make_runnable(thread);
        self.lend_context(mem, threads, thread);
    }

    /// Takes the pending word if there is one (it becomes idle).
    pub fn take_word(self, mem: &mut impl ObjectMemory) -> Option<u64> {
        if self.state(mem) != NotificationState::Active {
            return None;
        }
        let word = self.read(mem, WORD);
        self.write(mem, WORD, 0);
        self.set_state(mem, NotificationState::Idle);
        Some(word)
    }

    /// A signal woke `thread`: without a context of its own it runs on the
    /// notification's, if no thread holds that one (seL4's
    /// `maybeDonateSchedContext`).
    fn lend_context<T: NotificationThreads>(
        self,
        mem: &impl ObjectMemory,
        threads: &mut T,
        thread: u64,
    ) {
        let context = self.sched_context(mem);
        if context != 0 && threads.context_of(thread) == 0 && threads.holder(context) == 0 {
            threads.donate(context, 0, thread);
        }
    }

    /// `thread` blocks to wait on the notification (or on an endpoint with
    /// it bound): a context it was lent by the notification goes back
    /// (seL4's `maybeReturnSchedContext`).
    pub fn return_context<T: NotificationThreads>(
        self,
        mem: &impl ObjectMemory,
        threads: &mut T,
        thread: u64,
    ) {
        let context = self.sched_context(mem);
        if context != 0 && threads.context_of(thread) == context {
            threads.donate(context, thread, 0);
        }
    }

    /// `thread` waits on the notification (or, without `blocking`, polls
    /// it): it takes a pending word, or queues, or (polling) gets 0.
    pub fn wait<M: ObjectMemory, T: NotificationThreads>(
        self,
        mem: &mut M,
        threads: &mut T,
        thread: u64,
        blocking: bool,
    ) {
        if let Some(word) = self.take_word(mem) {
            threads.deliver(thread, word);
        } else if blocking {
            self.return_context(mem, threads, thread);
            threads.block(thread, self.0);
            self.queue().insert(mem, threads, thread);
            self.set_state(mem, NotificationState::Waiting);
        } else {
            threads.deliver(thread, 0);
        }
    }

    /// `thread`, waiting here, has a new priority: it takes its new place.
    pub fn reorder<M: ObjectMemory, T: NotificationThreads>(
        self,
        mem: &mut M,
        threads: &mut T,
        thread: u64,
    ) {
        self.queue().reorder(mem, threads, thread);
    }

    /// Takes `thread` off the waiters, leaving the notification idle if it
    /// was the last.
    pub fn take_off<M: ObjectMemory, T: NotificationThreads>(
        self,
        mem: &mut M,
        threads: &mut T,
        thread: u64,
    ) {
        self.queue().remove(mem, threads, thread);
        threads.unblocked(thread);
        if self.queue().first(mem).is_none() {
            self.set_state(mem, NotificationState::Idle);
        }
    }

    /// Binds the notification to `thread`.
    ///
    /// # Errors
    /// [`BindError::Busy`] when either is bound already or threads wait on it.
    pub fn bind<M: ObjectMemory, T: NotificationThreads>(
        self,
        mem: &mut M,
        threads: &mut T,
        thread: u64,
    ) -> Result<(), BindError> {
        if self.bound(mem) != 0
            || threads.bound_notification(thread) != 0
            || self.state(mem) == NotificationState::Waiting
            || self.is_closing(mem)
        {
            return Err(BindError::Busy);
        }
        self.write(mem, BOUND, thread);
        threads.set_bound_notification(thread, self.0);
        Ok(())
    }

    /// Unbinds the notification from its thread.
    pub fn unbind<M: ObjectMemory, T: NotificationThreads>(self, mem: &mut M, threads: &mut T) {
        let bound = self.bound(mem);
        self.write(mem, BOUND, 0);
        if bound != 0 {
            threads.set_bound_notification(bound, 0);
        }
    }

    /// One step of destroying the notification. The first closes it
    /// (signals are dropped from then on; the kernel refuses waits on it and
    /// binding it, as on the empty slot its cap is about to leave) and
    /// unbinds its thread and its scheduling context; each restarts one
    /// waiter, which runs its system call again. True once no waiter is
    /// left.
    pub fn close_step<M: ObjectMemory, T: NotificationThreads>(
        self,
        mem: &mut M,
        threads: &mut T,
    ) -> bool {
        if !self.is_closing(mem) {
            self.write(mem, CLOSING, 1);
            self.unbind(mem, threads);
            let context = self.sched_context(mem);
            if context != 0 {
                self.set_sched_context(mem, 0);
                threads.forget_notification(context);
            }
        }
        if let Some(thread) = self.queue().first(mem) {
            self.take_off(mem, threads, thread);
            threads.restart(thread);
        }
        self.queue().first(mem).is_none()
    }

    /// True while the notification is being destroyed.
    pub fn is_closing(self, mem: &impl ObjectMemory) -> bool {
        self.read(mem, CLOSING) != 0
    }
}

#[cfg(test)]
#[path = "notification_tests.rs"]
mod tests;
