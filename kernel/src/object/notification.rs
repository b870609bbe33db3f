//! Notifications: a word of bits that Signal ORs a badge into, and Wait takes
//! (blocking while it is zero). A notification object (64 bytes) holds its
//! state, the word, a FIFO queue of waiters and the TCB bound to it, which
//! also receives signals while it waits on an endpoint, and the scheduling
//! context bound to it (MCS): a passive thread woken by a signal runs on that
//! context until it waits on the notification again.

use crate::ipc;
use crate::ipc::queue::{tcb, Queue};
use crate::object::memory::KernelMemory;
use crate::object::tcb::ThreadState;
use crate::sched;
use keel_kernel_core::object_memory::ObjectMemory;

const STATE: u64 = 0;
const WORD: u64 = 8;
const QUEUE: u64 = 16;
const BOUND: u64 = 32;
const SCHED_CONTEXT: u64 = 40;

const IDLE: u64 = 0;
const WAITING: u64 = 1;
const ACTIVE: u64 = 2;

fn read(ntfn: u64, field: u64) -> u64 {
    KernelMemory.read(ntfn + field)
}

fn write(ntfn: u64, field: u64, value: u64) {
    KernelMemory.write(ntfn + field, value);
}

fn queue(ntfn: u64) -> Queue {
    Queue::at(ntfn + QUEUE)
}

/// Signals the notification with `badge`: wakes the first waiter, or the
/// bound thread if it waits on an endpoint, or ORs the badge into the word.
pub fn signal(ntfn: u64, badge: u64) {
    if read(ntfn, STATE) == WAITING {
        let waiter = queue(ntfn)
            .first()
            .expect("invariant: a waiting notification has waiters");
        take_off(ntfn, waiter);
        ipc::deliver_signal(tcb(waiter), badge);
        sched::make_runnable(tcb(waiter));
        lend_context(ntfn, waiter);
        return;
    }
    let bound = read(ntfn, BOUND);
    if bound != 0 && tcb(bound).state() == ThreadState::BlockedOnReceive {
        ipc::cancel(tcb(bound));
        ipc::deliver_signal(tcb(bound), badge);
        sched::make_runnable(tcb(bound));
        lend_context(ntfn, bound);
        return;
    }
    write(ntfn, WORD, read(ntfn, WORD) | badge);
    write(ntfn, STATE, ACTIVE);
}

/// Takes the pending word if there is one (the notification becomes idle).
pub fn take_word(ntfn: u64) -> Option<u64> {
    if read(ntfn, STATE) != ACTIVE {
        return None;
    }
    let word = read(ntfn, WORD);
    write(ntfn, WORD, 0);
    write(ntfn, STATE, IDLE);
    Some(word)
}

/// The scheduling context bound to the notification (0: none).
pub fn sched_context(ntfn: u64) -> u64 {
    read(ntfn, SCHED_CONTEXT)
}

/// Records `sc_object` (0: none) as the context bound to the notification.
pub fn set_sched_context(ntfn: u64, sc_object: u64) {
    write(ntfn, SCHED_CONTEXT, sc_object);
}

/// A signal woke `thread`: without a context of its own it runs on the
/// notification's, if that one is not in use (seL4's
/// `maybeDonateSchedContext`).
fn lend_context(ntfn: u64, thread: u64) {
    let context = sched_context(ntfn);
    if context != 0
        && tcb(thread).sched_context() == 0
        && crate::object::sched_context::sc(context).tcb() == 0
    {
        sched::donate(context, None, Some(tcb(thread)));
    }
}

/// `thread` blocks to wait on the notification (or on an endpoint with it
/// bound): a context it was lent by the notification goes back (seL4's
/// `maybeReturnSchedContext`).
pub fn return_context(ntfn: u64, thread: u64) {
    let context = sched_context(ntfn);
    if context != 0 && tcb(thread).sched_context() == context {
        sched::donate(context, Some(tcb(thread)), None);
    }
}

/// `thread` waits on the notification (or, without `blocking`, polls it).
pub fn wait(ntfn: u64, thread: u64, blocking: bool) {
    if let Some(word) = take_word(ntfn) {
        ipc::deliver_signal(tcb(thread), word);
    } else if blocking {
        return_context(ntfn, thread);
        sched::set_thread_state(tcb(thread), ThreadState::BlockedOnNotification);
        tcb(thread).set_blocked_on(ntfn);
        queue(ntfn).append(thread);
        write(ntfn, STATE, WAITING);
    } else {
        ipc::deliver_signal(tcb(thread), 0);
    }
}

/// Takes `thread` off the waiters, leaving the notification idle if it was the last.
pub fn take_off(ntfn: u64, thread: u64) {
    queue(ntfn).remove(thread);
    tcb(thread).set_blocked_on(0);
    if queue(ntfn).is_empty() {
        write(ntfn, STATE, IDLE);
    }
}

/// Why a notification cannot be bound.
pub enum BindError {
    /// The notification or the thread is bound already, or threads wait on it.
    Busy,
}

/// Binds the notification to `thread`.
///
/// # Errors
/// [`BindError::Busy`] when either is bound already or threads wait on it.
pub fn bind(ntfn: u64, thread: u64) -> Result<(), BindError> {
    if read(ntfn, BOUND) != 0
        || tcb(thread).bound_notification() != 0
        || read(ntfn, STATE) == WAITING
    {
        return Err(BindError::Busy);
    }
    write(ntfn, BOUND, thread);
    tcb(thread).set_bound_notification(ntfn);
    Ok(())
}

/// Unbinds the notification bound to `thread`, if any; returns whether there was one.
pub fn unbind(thread: u64) -> bool {
    let ntfn = tcb(thread).bound_notification();
    if ntfn == 0 {
        return false;
    }
    write(ntfn, BOUND, 0);
    tcb(thread).set_bound_notification(0);
    true
}

/// The notification is being destroyed: waiters run their system call
/// again, and the bound thread is unbound.
pub fn cancel_all(ntfn: u64) {
    while let Some(thread) = queue(ntfn).first() {
        take_off(ntfn, thread);
        ipc::restart(tcb(thread));
    }
    let bound = read(ntfn, BOUND);
    if bound != 0 {
        unbind(bound);
    }
    let context = sched_context(ntfn);
    if context != 0 {
        crate::object::sched_context::unbind_notification(crate::object::sched_context::sc(
            context,
        ));
    }
}
