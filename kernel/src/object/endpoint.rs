//! Endpoints: synchronous IPC. An endpoint object (32 bytes) holds its state
//! and one FIFO queue, of senders or of receivers. Send, Receive and Call
//! rendezvous here; the message itself is moved by `crate::ipc`.

use crate::ipc::queue::{tcb, Queue};
use crate::ipc::{self, Caps};
use crate::object::memory::KernelMemory;
use crate::object::tcb::ThreadState;
use crate::sched;
use keel_kernel_core::object_memory::ObjectMemory;

const STATE: u64 = 0;
const QUEUE: u64 = 8;

const IDLE: u64 = 0;
const SENDERS: u64 = 1;
const RECEIVERS: u64 = 2;

fn state(ep: u64) -> u64 {
    KernelMemory.read(ep + STATE)
}

fn set_state(ep: u64, state: u64) {
    KernelMemory.write(ep + STATE, state);
}

fn queue(ep: u64) -> Queue {
    Queue::at(ep + QUEUE)
}

/// `sender` sends on the endpoint `ep` through a cap with `badge` (and the
/// grant right if `can_grant`). With `is_call`, it then waits for the
/// receiver's reply. Without `blocking` and no receiver waiting, the message
/// is dropped.
pub fn send(ep: u64, sender: u64, badge: u64, can_grant: bool, blocking: bool, is_call: bool) {
    let caps = if can_grant {
        Caps::Granted { endpoint: ep }
    } else {
        Caps::None
    };
    if state(ep) == RECEIVERS {
        let receiver = queue(ep)
            .first()
            .expect("invariant: a receiving endpoint has receivers");
        take_off(ep, receiver);
        ipc::transfer(sender, receiver, badge, caps);
        sched::make_runnable(receiver);
        if is_call {
            ipc::wait_for_reply(sender, receiver);
        }
    } else if blocking || is_call {
        let t = tcb(sender);
        t.ipc_badge = badge;
        t.ipc_is_call = is_call;
        t.ipc_can_grant = can_grant;
        block(ep, sender, ThreadState::BlockedOnSend, SENDERS);
    }
}

/// `receiver` receives on the endpoint `ep`. Without `blocking` and no
/// sender waiting, it gets an empty message with badge 0.
pub fn receive(ep: u64, receiver: u64, blocking: bool) {
    if state(ep) == SENDERS {
        let sender = queue(ep)
            .first()
            .expect("invariant: a sending endpoint has senders");
        take_off(ep, sender);
        let t = tcb(sender);
        let (badge, is_call) = (t.ipc_badge, t.ipc_is_call);
        let caps = if t.ipc_can_grant {
            Caps::Granted { endpoint: ep }
        } else {
            Caps::None
        };
        ipc::transfer(sender, receiver, badge, caps);
        if is_call {
            ipc::wait_for_reply(sender, receiver);
        } else {
            sched::make_runnable(sender);
        }
    } else if blocking {
        block_receiver(ep, receiver);
    } else {
        ipc::deliver_nothing(receiver);
    }
}

/// The first receiver waiting on the endpoint, if receivers wait.
pub fn waiting_receiver(ep: u64) -> Option<u64> {
    (state(ep) == RECEIVERS)
        .then(|| queue(ep).first())
        .flatten()
}

/// True when senders wait on the endpoint.
pub fn has_senders(ep: u64) -> bool {
    state(ep) == SENDERS
}

/// Queues `thread` as a receiver on the endpoint.
pub fn block_receiver(ep: u64, thread: u64) {
    block(ep, thread, ThreadState::BlockedOnReceive, RECEIVERS);
}

fn block(ep: u64, thread: u64, how: ThreadState, queue_state: u64) {
    sched::dequeue(thread);
    let t = tcb(thread);
    t.state = how;
    t.blocked_on = ep;
    queue(ep).append(thread);
    set_state(ep, queue_state);
}

/// Takes `thread` off the endpoint's queue, leaving the endpoint idle if it
/// was the last one.
pub fn take_off(ep: u64, thread: u64) {
    queue(ep).remove(thread);
    tcb(thread).blocked_on = 0;
    if queue(ep).is_empty() {
        set_state(ep, IDLE);
    }
}

/// The endpoint is being destroyed: every queued thread is made to run its
/// system call again, which then finds the cap gone.
pub fn cancel_all(ep: u64) {
    while let Some(thread) = queue(ep).first() {
        take_off(ep, thread);
        ipc::restart(thread);
    }
}

/// Takes every queued sender that sent with `badge` off the endpoint and makes
/// it run its Send again (seL4's `cancelBadgedSends`; badge 0 cancels nothing).
/// Like seL4's, it walks the whole queue in one step.
pub fn cancel_badged_sends(ep: u64, badge: u64) {
    if badge == 0 || state(ep) != SENDERS {
        return;
    }
    let mut next = queue(ep).first();
    while let Some(thread) = next {
        next = match tcb(thread).ipc_next {
            0 => None,
            t => Some(t),
        };
        if tcb(thread).ipc_badge == badge {
            take_off(ep, thread);
            ipc::restart(thread);
        }
    }
}
