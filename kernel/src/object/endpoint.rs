//! Endpoints: synchronous IPC. The state machine (an endpoint's state and its
//! queue of senders or receivers, in priority order) is the capability core's
//! (`keel_kernel_core::endpoint`, host-tested); this module connects it to the
//! kernel's threads, scheduler and message transfer (`crate::ipc`).

use crate::ipc::queue::{tcb, KernelThreads};
use crate::ipc::{self, Caps};
use crate::object::handle::{EndpointRef, Thread};
use crate::object::memory::KernelMemory;
use crate::object::tcb::ThreadState;
use crate::preemption::KernelPreempt;
use crate::sched;
use keel_abi::CapRights;
use keel_kernel_core::cap::Cap;
use keel_kernel_core::cspace::Progress;
use keel_kernel_core::endpoint::{Blocked, Endpoint, EndpointThreads, PendingSend, SendMode};

impl EndpointThreads for KernelThreads {
    fn set_pending_send(&mut self, thread: u64, send: PendingSend) {
        let t = tcb(thread);
        t.set_ipc_badge(send.badge);
        t.set_ipc_can_grant(send.can_grant);
        t.set_ipc_is_call(send.is_call);
        t.set_ipc_can_grant_reply(send.can_grant_reply);
    }

    fn pending_send(&self, thread: u64) -> PendingSend {
        let t = tcb(thread);
        PendingSend {
            badge: t.ipc_badge(),
            can_grant: t.ipc_can_grant(),
            is_call: t.ipc_is_call(),
            can_grant_reply: t.ipc_can_grant_reply(),
        }
    }

    #[inline(always)]
    fn block(&mut self, thread: u64, ep: u64, how: Blocked) {
        let state = match how {
            Blocked::Send => ThreadState::BlockedOnSend,
            Blocked::Receive => ThreadState::BlockedOnReceive,
        };
        sched::set_thread_state(tcb(thread), state);
        tcb(thread).set_blocked_on(ep);
    }

    #[inline(always)]
    fn unblocked(&mut self, thread: u64) {
        tcb(thread).set_blocked_on(0);
    }

    fn transfer(&mut self, sender: u64, receiver: u64, badge: u64, grant_ep: Option<u64>) {
        let caps = grant_ep.map_or(Caps::None, |ep| Caps::Granted { endpoint: Some(ep) });
        ipc::transfer(tcb(sender), tcb(receiver), badge, caps);
    }

    fn make_runnable(&mut self, thread: u64) {
        sched::make_runnable(tcb(thread));
    }

    fn wait_for_reply(&mut self, caller: u64, callee: u64) {
        ipc::wait_for_reply(tcb(caller), tcb(callee));
    }

    fn make_inactive(&mut self, thread: u64) {
        // A Call that can never be answered is made again if its caller is
        // restarted (seL4's restart PC).
        ipc::rewind(tcb(thread));
        sched::make_inactive(tcb(thread));
    }

    fn deliver_nothing(&mut self, receiver: u64) {
        ipc::deliver_nothing(tcb(receiver));
    }

    fn restart(&mut self, thread: u64) {
        ipc::restart(tcb(thread));
    }
}

/// How a thread sends on an endpoint.
#[derive(Clone, Copy, Debug)]
pub struct Sending {
    /// Wait for a receiver (a Call always does).
    pub blocking: bool,
    /// A Call: wait for the receiver's reply afterwards, if the cap allows.
    pub is_call: bool,
    /// Lend a waiting receiver without a scheduling context the sender's
    /// (the send half of NBSendRecv and NBSendWait, as in seL4 MCS).
    pub donates: bool,
}

/// `sender` sends on the endpoint `cap` names (with its badge; caps go
/// along with its grant right; a Call waits for the reply only with its
/// grant or grant-reply right; with `donates` a passive receiver runs on
/// the sender's context). Without `blocking` and no receiver waiting, the
/// message is dropped.
pub fn send(sender: Thread, cap: &Cap, how: Sending) {
    let rights = cap.rights();
    let send = PendingSend {
        badge: cap.badge(),
        can_grant: rights.contains(CapRights::GRANT),
        is_call: how.is_call,
        can_grant_reply: rights.contains(CapRights::GRANT_REPLY),
    };
    let mode = SendMode {
        blocking: how.blocking,
        donates: how.donates,
    };
    Endpoint::at(cap.paddr()).send(
        &mut KernelMemory,
        &mut KernelThreads,
        sender.addr(),
        send,
        mode,
    );
}

/// `receiver` receives on the endpoint `ep`. Without `blocking` and no
/// sender waiting, it gets an empty message with badge 0.
pub fn receive(ep: EndpointRef, receiver: Thread, blocking: bool) {
    Endpoint::at(ep.addr()).receive(
        &mut KernelMemory,
        &mut KernelThreads,
        receiver.addr(),
        blocking,
    );
}

/// The first receiver waiting on the endpoint, if receivers wait.
#[inline]
pub fn waiting_receiver(ep: EndpointRef) -> Option<Thread> {
    Endpoint::at(ep.addr())
        .waiting_receiver(&KernelMemory)
        .map(tcb)
}

/// True when senders wait on the endpoint.
#[inline]
pub fn has_senders(ep: EndpointRef) -> bool {
    Endpoint::at(ep.addr()).has_senders(&KernelMemory)
}

/// True when no thread waits on the endpoint.
#[inline(always)]
pub fn is_idle(ep: EndpointRef) -> bool {
    Endpoint::at(ep.addr()).is_idle(&KernelMemory)
}

/// Queues `thread` as the one receiver on the endpoint, which [`is_idle`].
#[inline(always)]
pub fn block_only_receiver(ep: EndpointRef, thread: Thread) {
    Endpoint::at(ep.addr()).block_only_receiver(
        &mut KernelMemory,
        &mut KernelThreads,
        thread.addr(),
    );
}

/// `thread`, queued on the endpoint, has a new priority: it takes its new place.
pub fn reorder(ep: EndpointRef, thread: Thread) {
    Endpoint::at(ep.addr()).reorder(&mut KernelMemory, &mut KernelThreads, thread.addr());
}

/// Takes `thread` off the endpoint's queue, leaving the endpoint idle if it
/// was the last one.
#[inline(always)]
pub fn take_off(ep: EndpointRef, thread: Thread) {
    Endpoint::at(ep.addr()).take_off(&mut KernelMemory, &mut KernelThreads, thread.addr());
}

/// [`take_off`] for `first`, the thread at the front of the queue (as
/// [`waiting_receiver`] found it).
#[inline(always)]
pub fn take_first(ep: EndpointRef, first: Thread) {
    Endpoint::at(ep.addr()).take_first(&mut KernelMemory, &mut KernelThreads, first.addr());
}

/// One step of destroying the endpoint: it is closed to new waiters and
/// its first queued thread runs its system call again (which then finds
/// the cap closing, or gone). True once none is left.
pub fn close_step(ep: EndpointRef) -> bool {
    Endpoint::at(ep.addr()).close_step(&mut KernelMemory, &mut KernelThreads)
}

/// True while the endpoint is being destroyed: IPC through its cap is
/// refused as through an empty slot.
pub fn is_closing(ep: EndpointRef) -> bool {
    Endpoint::at(ep.addr()).is_closing(&KernelMemory)
}

/// Every queued sender that sent with `badge` runs its Send again, one per
/// unit of work: preempted, `caller` keeps where its walk stands and the
/// call is made again (it goes on from there).
pub fn cancel_badged_sends(ep: EndpointRef, badge: u64, caller: Thread) -> Progress {
    let walk = Endpoint::at(ep.addr()).cancel_badged_sends(
        &mut KernelMemory,
        &mut KernelThreads,
        badge,
        caller.cancel_walk(),
        &mut KernelPreempt,
    );
    caller.set_cancel_walk(walk.err().unwrap_or_default());
    match walk {
        Ok(()) => Progress::Done,
        Err(_) => Progress::Preempted,
    }
}
