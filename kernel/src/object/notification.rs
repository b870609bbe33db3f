//! Notifications: a word of bits that Signal ORs a badge into, and Wait takes
//! (blocking while it is zero). The state machine (the object's state and
//! word, its queue of waiters in priority order, the bound thread that also
//! receives signals while it waits on an endpoint, and the bound scheduling
//! context a passive thread woken by a signal runs on) is the capability core's
//! (`keel_kernel_core::notification`, host-tested); this module connects it
//! to the kernel's threads, scheduler and message delivery (`crate::ipc`).

use crate::ipc;
use crate::ipc::queue::{tcb, KernelThreads};
use crate::object::memory::KernelMemory;
use crate::object::sched_context::sc;
use crate::object::tcb::ThreadState;
use crate::sched;
use keel_kernel_core::notification::{Notification, NotificationThreads};

pub use keel_kernel_core::notification::BindError;

impl NotificationThreads for KernelThreads {
    fn receiving(&self, thread: u64) -> bool {
        tcb(thread).state() == ThreadState::BlockedOnReceive
    }

    fn cancel_ipc(&mut self, thread: u64) {
        ipc::cancel(tcb(thread));
    }

    fn deliver(&mut self, thread: u64, word: u64) {
        ipc::deliver_signal(tcb(thread), word);
    }

    fn make_runnable(&mut self, thread: u64) {
        sched::make_runnable(tcb(thread));
    }

    fn block(&mut self, thread: u64, ntfn: u64) {
        sched::set_thread_state(tcb(thread), ThreadState::BlockedOnNotification);
        tcb(thread).set_blocked_on(ntfn);
    }

    fn unblocked(&mut self, thread: u64) {
        tcb(thread).set_blocked_on(0);
    }

    fn restart(&mut self, thread: u64) {
        ipc::restart(tcb(thread));
    }

    fn bound_notification(&self, thread: u64) -> u64 {
        tcb(thread).bound_notification()
    }

    fn set_bound_notification(&mut self, thread: u64, ntfn: u64) {
        tcb(thread).set_bound_notification(ntfn);
    }

    fn forget_notification(&mut self, context: u64) {
        sc(context).set_notification(0);
    }
}

/// Signals the notification with `badge`: wakes the first waiter, or the
/// bound thread if it waits on an endpoint, or ORs the badge into the word.
#[inline(always)]
pub fn signal(ntfn: u64, badge: u64) {
    Notification::at(ntfn).signal(&mut KernelMemory, &mut KernelThreads, badge);
}

/// Takes the pending word if there is one (the notification becomes idle).
#[inline(always)]
pub fn take_word(ntfn: u64) -> Option<u64> {
    Notification::at(ntfn).take_word(&mut KernelMemory)
}

/// The scheduling context bound to the notification (0: none).
pub fn sched_context(ntfn: u64) -> u64 {
    Notification::at(ntfn).sched_context(&KernelMemory)
}

/// Records `sc_object` (0: none) as the context bound to the notification.
pub fn set_sched_context(ntfn: u64, sc_object: u64) {
    Notification::at(ntfn).set_sched_context(&mut KernelMemory, sc_object);
}

/// `thread` blocks to wait on the notification (or on an endpoint with it
/// bound): a context it was lent by the notification goes back (seL4's
/// `maybeReturnSchedContext`).
#[inline(always)]
pub fn return_context(ntfn: u64, thread: u64) {
    Notification::at(ntfn).return_context(&KernelMemory, &mut KernelThreads, thread);
}

/// `thread` waits on the notification (or, without `blocking`, polls it).
#[inline(always)]
pub fn wait(ntfn: u64, thread: u64, blocking: bool) {
    Notification::at(ntfn).wait(&mut KernelMemory, &mut KernelThreads, thread, blocking);
}

/// `thread`, waiting on the notification, has a new priority: it takes its new place.
pub fn reorder(ntfn: u64, thread: u64) {
    Notification::at(ntfn).reorder(&mut KernelMemory, &mut KernelThreads, thread);
}

/// Takes `thread` off the waiters, leaving the notification idle if it was the last.
#[inline(always)]
pub fn take_off(ntfn: u64, thread: u64) {
    Notification::at(ntfn).take_off(&mut KernelMemory, &mut KernelThreads, thread);
}

/// Binds the notification to `thread`.
///
/// # Errors
/// [`BindError::Busy`] when either is bound already or threads wait on it.
pub fn bind(ntfn: u64, thread: u64) -> Result<(), BindError> {
    Notification::at(ntfn).bind(&mut KernelMemory, &mut KernelThreads, thread)
}

/// Unbinds the notification bound to `thread`, if any; returns whether there was one.
pub fn unbind(thread: u64) -> bool {
    let bound = Notification::bound_to(&KernelThreads, thread);
    if let Some(ntfn) = bound {
        ntfn.unbind(&mut KernelMemory, &mut KernelThreads);
    }
    bound.is_some()
}

/// One step of destroying the notification: the first closes it (signals
/// are dropped) and unbinds its thread and context; each releases one
/// waiter, which runs its system call again. True once none is left.
pub fn close_step(ntfn: u64) -> bool {
    Notification::at(ntfn).close_step(&mut KernelMemory, &mut KernelThreads)
}

/// True while the notification is being destroyed: waits and binding are
/// refused as for an empty slot.
pub fn is_closing(ntfn: u64) -> bool {
    Notification::at(ntfn).is_closing(&KernelMemory)
}
