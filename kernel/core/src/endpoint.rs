//! The endpoint state machine: an endpoint object holds a state (idle, senders
//! waiting, receivers waiting) and one queue of threads, highest priority
//! first and first come first served within a priority (seL4 MCS's order);
//! Send, Receive and Call rendezvous on it. What happens to threads (blocking,
//! waking, moving the message, linking a caller to its callee, lending a
//! scheduling context) is the kernel's, behind [`EndpointThreads`], so the
//! state machine runs the same on the host.

use crate::cspace::Preempt;
use crate::object_memory::ObjectMemory;
use crate::reply::Donation;
use crate::thread_queue::{QueueLinks, QueueWords, ThreadQueue};

/// An endpoint object's layout: its state, its queue of senders or
/// receivers, and where a preempted CancelBadgedSends goes on.
#[repr(C)]
pub struct EndpointObject {
    /// Idle, senders waiting or receivers waiting.
    pub state: u64,
    /// The waiting threads.
    pub queue: QueueWords,
    /// The queued sender a preempted CancelBadgedSends looks at next (0:
    /// none). Kept valid: a sender that leaves the queue hands it to the
    /// one behind it, and a change of order in the queue clears it.
    pub cancel_cursor: u64,
}

const _: () =
    assert!(core::mem::size_of::<EndpointObject>() <= 1 << keel_abi::object::ENDPOINT_BITS);
const STATE: u64 = core::mem::offset_of!(EndpointObject, state) as u64;
const QUEUE: u64 = core::mem::offset_of!(EndpointObject, queue) as u64;
const CURSOR: u64 = core::mem::offset_of!(EndpointObject, cancel_cursor) as u64;

const IDLE: u64 = 0;
const SENDERS: u64 = 1;
const RECEIVERS: u64 = 2;
/// Set with the state while the endpoint is being destroyed: no thread may
/// queue on it again, and it reads as neither idle nor with a receiver or
/// sender waiting.
const CLOSING: u64 = 4;

/// What a sender sends with, kept while it waits in the queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PendingSend {
    /// The badge of the cap it sent through.
    pub badge: u64,
    /// The cap had the grant right.
    pub can_grant: bool,
    /// It is a Call: it waits for a reply afterwards, if it may.
    pub is_call: bool,
    /// The cap had the grant-reply right. A Call through a cap with
    /// neither grant nor grant-reply can never be answered: once its
    /// message is delivered the caller is left inactive (seL4's rule).
    pub can_grant_reply: bool,
}

impl PendingSend {
    /// A Call that may wait for its reply.
    const fn waits_for_reply(&self) -> bool {
        self.can_grant || self.can_grant_reply
    }
}

/// How a send that is not a Call behaves beyond its message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendMode {
    /// Without a receiver waiting, queue (a Call always does) rather than
    /// drop the message.
    pub blocking: bool,
    /// Lend a waiting receiver without a scheduling context the sender's.
    pub donates: bool,
}

/// How a thread waits on an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// To send.
    Send,
    /// To receive.
    Receive,
}

/// What the state machine asks of the kernel's threads.
pub trait EndpointThreads: QueueLinks + Donation {
    /// Keeps what `thread` sends with while it waits.
    fn set_pending_send(&mut self, thread: u64, send: PendingSend);
    /// What a waiting sender sends with.
    fn pending_send(&self, thread: u64) -> PendingSend;
    /// `thread` stops running and waits on the endpoint at `ep`.
    fn block(&mut self, thread: u64, ep: u64, how: Blocked);
    /// `thread` no longer waits on an endpoint.
    fn unblocked(&mut self, thread: u64);
    /// Moves `sender`'s message to `receiver` with `badge`; caps go along
    /// (against `grant_ep`) only when the sender's cap had the grant right.
    fn transfer(&mut self, sender: u64, receiver: u64, badge: u64, grant_ep: Option<u64>);
    /// `thread` may run.
    fn make_runnable(&mut self, thread: u64);
    /// `caller` waits for `callee`'s reply.
    fn wait_for_reply(&mut self, caller: u64, callee: u64);
    /// `thread` stops: a Call it made can never be answered.
    fn make_inactive(&mut self, thread: u64);
    /// A non-blocking receive found nothing.
    fn deliver_nothing(&mut self, receiver: u64);
    /// `thread` runs its system call again (its endpoint is going away).
    fn restart(&mut self, thread: u64);
}

/// The endpoint object at a physical address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint(u64);

impl Endpoint {
    /// The endpoint at `paddr`.
    pub const fn at(paddr: u64) -> Endpoint {
        Endpoint(paddr)
    }

    fn state(&self, mem: &impl ObjectMemory) -> u64 {
        mem.read(self.0 + STATE)
    }

    fn queue(&self) -> ThreadQueue {
        ThreadQueue::at(self.0 + QUEUE)
    }

    /// `sender` sends. With a receiver waiting the message goes to it (and a
    /// Call then waits for the reply; a send that `donates`, the send half of
    /// NBSendRecv or NBSendWait, lends a receiver without a scheduling
    /// context the sender's, as seL4 MCS does); otherwise a blocking send or
    /// a Call queues, and a non-blocking send is dropped.
    pub fn send<M: ObjectMemory, T: EndpointThreads>(
        &self,
        mem: &mut M,
        threads: &mut T,
        sender: u64,
        send: PendingSend,
        how: SendMode,
    ) {
        if let Some(receiver) = self.waiting_receiver(mem) {
            self.take_first(mem, threads, receiver);
            threads.transfer(
                sender,
                receiver,
                send.badge,
                send.can_grant.then_some(self.0),
            );
            if how.donates && !send.is_call && threads.context_of(receiver) == 0 {
                let context = threads.context_of(sender);
                if context != 0 {
                    threads.donate(context, sender, receiver);
                }
            }
            threads.make_runnable(receiver);
            if send.is_call {
                self.call_delivered(threads, sender, receiver, send);
            }
        } else if how.blocking || send.is_call {
            threads.set_pending_send(sender, send);
            self.block(mem, threads, sender, Blocked::Send);
        }
    }

    /// The message of `caller`'s Call reached `receiver`: it waits for the
    /// reply, or, through a cap that cannot carry one, stops.
    fn call_delivered<T: EndpointThreads>(
        &self,
        threads: &mut T,
        caller: u64,
        receiver: u64,
        send: PendingSend,
    ) {
        if send.waits_for_reply() {
            threads.wait_for_reply(caller, receiver);
        } else {
            threads.make_inactive(caller);
        }
    }

    /// `receiver` receives. With a sender waiting its message is taken (a
    /// Call then waits for this receiver's reply, a Send goes on); otherwise a
    /// blocking receive queues and a non-blocking one gets nothing.
    pub fn receive<M: ObjectMemory, T: EndpointThreads>(
        &self,
        mem: &mut M,
        threads: &mut T,
        receiver: u64,
        blocking: bool,
    ) {
        if self.has_senders(mem) {
            let sender = self
                .queue()
                .first(mem)
                .expect("invariant: a sending endpoint has senders");
            self.take_first(mem, threads, sender);
            self.hand_on_cursor(mem, sender);
            let send = threads.pending_send(sender);
            threads.transfer(
                sender,
                receiver,
                send.badge,
                send.can_grant.then_some(self.0),
            );
            if send.is_call {
                self.call_delivered(threads, sender, receiver, send);
            } else {
                threads.make_runnable(sender);
            }
        } else if blocking {
            self.block(mem, threads, receiver, Blocked::Receive);
        } else {
            threads.deliver_nothing(receiver);
        }
    }

    /// The first receiver waiting, if receivers wait.
    pub fn waiting_receiver(&self, mem: &impl ObjectMemory) -> Option<u64> {
        (self.state(mem) == RECEIVERS)
            .then(|| self.queue().first(mem))
            .flatten()
    }

    /// True when senders wait.
    pub fn has_senders(&self, mem: &impl ObjectMemory) -> bool {
        self.state(mem) == SENDERS
    }

    /// Queues `thread` (which is about to stop running) on the endpoint, in
    /// its priority's place.
    #[inline(always)]
    pub fn block<M: ObjectMemory, T: EndpointThreads>(
        &self,
        mem: &mut M,
        threads: &mut T,
        thread: u64,
        how: Blocked,
    ) {
        threads.block(thread, self.0, how);
        self.queue().insert(mem, threads, thread);
        mem.write(
            self.0 + STATE,
            if how == Blocked::Send {
                SENDERS
            } else {
                RECEIVERS
            },
        );
    }

    /// True when no thread waits.
    #[inline(always)]
    pub fn is_idle(&self, mem: &impl ObjectMemory) -> bool {
        self.state(mem) == IDLE
    }

    /// [`Endpoint::block`] as a receiver on an endpoint that
    /// [`Endpoint::is_idle`] (the IPC fast path's case).
    #[inline(always)]
    pub fn block_only_receiver<M: ObjectMemory, T: EndpointThreads>(
        &self,
        mem: &mut M,
        threads: &mut T,
        thread: u64,
    ) {
        threads.block(thread, self.0, Blocked::Receive);
        self.queue().start(mem, threads, thread);
        mem.write(self.0 + STATE, RECEIVERS);
    }

    /// `thread`, queued here, has a new priority: it takes its new place.
    pub fn reorder<M: ObjectMemory, T: EndpointThreads>(
        &self,
        mem: &mut M,
        threads: &mut T,
        thread: u64,
    ) {
        // A walk of CancelBadgedSends cannot tell where the order changed:
        // it starts again from the front.
        mem.write(self.0 + CURSOR, 0);
        self.queue().reorder(mem, threads, thread);
    }

    /// Takes `thread` off the queue, leaving the endpoint idle if it was the last.
    #[inline(always)]
    pub fn take_off<M: ObjectMemory, T: EndpointThreads>(
        &self,
        mem: &mut M,
        threads: &mut T,
        thread: u64,
    ) {
        if mem.read(self.0 + CURSOR) == thread {
            mem.write(self.0 + CURSOR, threads.next(thread));
        }
        self.queue().remove(mem, threads, thread);
        threads.unblocked(thread);
        if self.queue().first(mem).is_none() {
            mem.write(self.0 + STATE, IDLE | (self.state(mem) & CLOSING));
        }
    }

    /// [`Endpoint::take_off`] for `first`, the thread at the front of the
    /// queue (as [`Endpoint::waiting_receiver`] found it).
    #[inline(always)]
    pub fn take_first<M: ObjectMemory, T: EndpointThreads>(
        &self,
        mem: &mut M,
        threads: &mut T,
        first: u64,
    ) {
        let next = self.queue().remove_first(mem, threads, first);
        threads.unblocked(first);
        if next == 0 {
            mem.write(self.0 + STATE, IDLE);
        }
    }

    /// One step of destroying the endpoint: closes it to new waiters (the
    /// kernel refuses IPC on a closing endpoint, as on the empty slot its cap
    /// is about to leave) and restarts its first queued thread, which runs
    /// its system call again. True once no thread is left queued.
    pub fn close_step<M: ObjectMemory, T: EndpointThreads>(
        &self,
        mem: &mut M,
        threads: &mut T,
    ) -> bool {
        if let Some(thread) = self.queue().first(mem) {
            self.take_first(mem, threads, thread);
            self.hand_on_cursor(mem, thread);
            threads.restart(thread);
        }
        mem.write(self.0 + STATE, self.state(mem) | CLOSING);
        self.queue().first(mem).is_none()
    }

    /// True while the endpoint is being destroyed.
    pub fn is_closing(&self, mem: &impl ObjectMemory) -> bool {
        self.state(mem) & CLOSING != 0
    }

    /// `first`, just taken from the front of the queue, was the cursor: it
    /// passes to the new front.
    fn hand_on_cursor(&self, mem: &mut impl ObjectMemory, first: u64) {
        if mem.read(self.0 + CURSOR) == first {
            mem.write(self.0 + CURSOR, self.queue().first(mem).unwrap_or(0));
        }
    }

    /// Every queued sender that sent with `badge` runs its Send again
    /// (seL4's cancelBadgedSends; badge 0 cancels nothing), one sender per
    /// unit of work with a preemption point after each. Preempted, it
    /// returns where its walk stands; made again with that, it goes on from
    /// there if the endpoint's cursor still says so (nothing left the queue
    /// there and nothing was reordered since), and from the front if not
    /// (a sender looked at twice is harmless). Senders that queue during a
    /// preempted walk may be passed over, as if they came after it.
    ///
    /// # Errors
    /// The walk to go on with, when preempted.
    pub fn cancel_badged_sends<M: ObjectMemory, T: EndpointThreads>(
        &self,
        mem: &mut M,
        threads: &mut T,
        badge: u64,
        resume: CancelWalk,
        preempt: &mut impl Preempt,
    ) -> Result<(), CancelWalk> {
        if badge == 0 || !self.has_senders(mem) {
            return Ok(());
        }
        let here = |cursor| CancelWalk {
            endpoint: self.0,
            badge,
            cursor,
        };
        let cursor = mem.read(self.0 + CURSOR);
        let mut next = if cursor != 0 && resume == here(cursor) {
            Some(cursor)
        } else {
            self.queue().first(mem)
        };
        while let Some(thread) = next {
            next = match threads.next(thread) {
                0 => None,
                t => Some(t),
            };
            if threads.pending_send(thread).badge == badge {
                self.take_off(mem, threads, thread);
                threads.restart(thread);
            }
            if let Some(n) = next {
                if preempt.pending() {
                    mem.write(self.0 + CURSOR, n);
                    return Err(here(n));
                }
            }
        }
        mem.write(self.0 + CURSOR, 0);
        Ok(())
    }
}

/// Where a preempted [`Endpoint::cancel_badged_sends`] stands, kept by the
/// thread that made it until it makes it again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CancelWalk {
    /// The endpoint walked.
    pub endpoint: u64,
    /// The badge cancelled.
    pub badge: u64,
    /// The sender to look at next.
    pub cursor: u64,
}

#[cfg(test)]
#[path = "endpoint_tests.rs"]
mod tests;
