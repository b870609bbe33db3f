//! Host tests of the endpoint state machine against a model of threads that
//! records what the state machine asked of them.

extern crate std;

use super::*;
use crate::cspace::NeverPreempt;
use crate::object_memory::TestMemory;
use crate::test_threads::{model_fields, MapDonation, MapLinks};
use std::collections::BTreeMap;
use std::vec::Vec;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Running,
    Blocked(Blocked),
    WaitingReply(u64),
    Inactive,
}

#[derive(Default)]
struct Threads {
    links: MapLinks,
    donation: MapDonation,
    pending: BTreeMap<u64, PendingSend>,
    state: BTreeMap<u64, State>,
    /// (sender, receiver, badge, grant endpoint)
    transfers: Vec<(u64, u64, u64, Option<u64>)>,
    nothing: Vec<u64>,
    restarted: Vec<u64>,
}

model_fields!(Threads {
    links: links,
    donation: donation
});

impl EndpointThreads for Threads {
    fn set_pending_send(&mut self, t: u64, send: PendingSend) {
        self.pending.insert(t, send);
    }
    fn pending_send(&self, t: u64) -> PendingSend {
        self.pending.get(&t).copied().unwrap_or_default()
    }
    fn block(&mut self, t: u64, _ep: u64, how: Blocked) {
        assert_eq!(
            self.state(t),
            State::Running,
            "only a running thread blocks"
        );
        self.state.insert(t, State::Blocked(how));
    }
    fn unblocked(&mut self, t: u64) {
        assert!(
            matches!(self.state(t), State::Blocked(_)),
            "{t:#x} was not blocked"
        );
        self.state.insert(t, State::Running);
    }
    fn transfer(&mut self, s: u64, r: u64, badge: u64, grant: Option<u64>) {
        self.transfers.push((s, r, badge, grant));
    }
    fn make_runnable(&mut self, t: u64) {
        self.state.insert(t, State::Running);
    }
    fn wait_for_reply(&mut self, caller: u64, callee: u64) {
        self.state.insert(caller, State::WaitingReply(callee));
    }
    fn make_inactive(&mut self, t: u64) {
        self.state.insert(t, State::Inactive);
    }
    fn deliver_nothing(&mut self, r: u64) {
        self.nothing.push(r);
    }
    fn restart(&mut self, t: u64) {
        self.restarted.push(t);
    }
}

impl Threads {
    fn state(&self, t: u64) -> State {
        self.state.get(&t).copied().unwrap_or_default()
    }
}

const EP: u64 = 0x1000;
const BLOCKING: SendMode = SendMode {
    blocking: true,
    donates: false,
};
const NON_BLOCKING: SendMode = SendMode {
    blocking: false,
    donates: false,
};

fn setup() -> (TestMemory, Threads, Endpoint) {
    (
        TestMemory::new(EP, 0x40),
        Threads::default(),
        Endpoint::at(EP),
    )
}

fn send(badge: u64, is_call: bool) -> PendingSend {
    PendingSend {
        badge,
        can_grant: false,
        is_call,
        can_grant_reply: true,
    }
}

#[test]
fn queued_senders_are_received_in_order_with_their_badges() {
    let (mut mem, mut th, ep) = setup();
    for (t, badge) in [(0x100, 1), (0x200, 2), (0x300, 3)] {
        ep.send(&mut mem, &mut th, t, send(badge, false), BLOCKING);
        assert_eq!(th.state(t), State::Blocked(Blocked::Send));
    }
    for receiver in [0x900, 0x901, 0x902] {
        ep.receive(&mut mem, &mut th, receiver, true);
    }
    assert_eq!(
        th.transfers,
        [
            (0x100, 0x900, 1, None),
            (0x200, 0x901, 2, None),
            (0x300, 0x902, 3, None)
        ]
    );
    assert!([0x100, 0x200, 0x300]
        .iter()
        .all(|&t| th.state(t) == State::Running));
    assert!(!ep.has_senders(&mem));
    assert_eq!(ep.waiting_receiver(&mem), None);
}

#[test]
fn a_call_links_caller_and_callee_either_way_round() {
    let (mut mem, mut th, ep) = setup();
    // Receiver first: the call goes straight through.
    ep.receive(&mut mem, &mut th, 0x900, true);
    assert_eq!(ep.waiting_receiver(&mem), Some(0x900));
    ep.send(
        &mut mem,
        &mut th,
        0x100,
        PendingSend {
            badge: 5,
            can_grant: true,
            is_call: true,
            can_grant_reply: false,
        },
        BLOCKING,
    );
    assert_eq!(th.transfers, [(0x100, 0x900, 5, Some(EP))]);
    assert_eq!(th.state(0x100), State::WaitingReply(0x900));
    assert_eq!(th.state(0x900), State::Running);
    // Sender first: the call queues, then the receiver takes it.
    ep.send(&mut mem, &mut th, 0x200, send(6, true), NON_BLOCKING);
    assert_eq!(
        th.state(0x200),
        State::Blocked(Blocked::Send),
        "a Call blocks even without `blocking`"
    );
    ep.receive(&mut mem, &mut th, 0x901, true);
    assert_eq!(th.state(0x200), State::WaitingReply(0x901));
}

#[test]
fn a_call_without_grant_or_grant_reply_leaves_the_caller_inactive() {
    let (mut mem, mut th, ep) = setup();
    let no_reply = PendingSend {
        can_grant_reply: false,
        ..send(3, true)
    };
    // Either way round, the message arrives and the caller stops.
    ep.receive(&mut mem, &mut th, 0x900, true);
    ep.send(&mut mem, &mut th, 0x100, no_reply, BLOCKING);
    assert_eq!(th.transfers, [(0x100, 0x900, 3, None)]);
    assert_eq!(th.state(0x100), State::Inactive);
    ep.send(&mut mem, &mut th, 0x200, no_reply, BLOCKING);
    ep.receive(&mut mem, &mut th, 0x901, true);
    assert_eq!(th.transfers[1], (0x200, 0x901, 3, None));
    assert_eq!(th.state(0x200), State::Inactive);
    // Grant alone is enough to wait for the reply.
    let grant_only = PendingSend {
        can_grant: true,
        ..no_reply
    };
    ep.receive(&mut mem, &mut th, 0x902, true);
    ep.send(&mut mem, &mut th, 0x300, grant_only, BLOCKING);
    assert_eq!(th.state(0x300), State::WaitingReply(0x902));
}

#[test]
fn non_blocking_operations_never_queue() {
    let (mut mem, mut th, ep) = setup();
    ep.send(&mut mem, &mut th, 0x100, send(1, false), NON_BLOCKING);
    assert!(th.transfers.is_empty() && th.state(0x100) == State::Running);
    ep.receive(&mut mem, &mut th, 0x900, false);
    assert_eq!(th.nothing, [0x900]);
    assert_eq!(ep.waiting_receiver(&mem), None);
    assert!(!ep.has_senders(&mem));
}

/// Preempts at every point.
struct Always;

impl Preempt for Always {
    fn pending(&mut self) -> bool {
        true
    }
}

/// Queues senders 0x100, 0x200, ... with `badges`, in order.
fn queue_senders(mem: &mut TestMemory, th: &mut Threads, ep: Endpoint, badges: &[u64]) {
    for (i, &badge) in badges.iter().enumerate() {
        let t = 0x100 * (i as u64 + 1);
        ep.send(mem, th, t, send(badge, false), BLOCKING);
    }
}

#[test]
fn cancelling_badged_sends_goes_on_where_it_was_preempted() {
    let (mut mem, mut th, ep) = setup();
    queue_senders(&mut mem, &mut th, ep, &[7, 8, 7, 9, 7]);
    let mut walk = CancelWalk::default();
    let mut calls = 0;
    while let Err(w) = ep.cancel_badged_sends(&mut mem, &mut th, 7, walk, &mut Always) {
        walk = w;
        calls += 1;
        assert!(calls < 10, "the walk does not end");
    }
    // One sender per call: four preemptions, then the last.
    assert_eq!(calls, 4);
    assert_eq!(th.restarted, [0x100, 0x300, 0x500]);
    // Another badge's walk does not go on from this one's cursor.
    let (mut mem, mut th, ep) = setup();
    queue_senders(&mut mem, &mut th, ep, &[7, 8, 7, 8]);
    let walk = ep
        .cancel_badged_sends(&mut mem, &mut th, 7, CancelWalk::default(), &mut Always)
        .unwrap_err();
    assert_eq!(
        ep.cancel_badged_sends(&mut mem, &mut th, 8, walk, &mut NeverPreempt),
        Ok(())
    );
    assert_eq!(th.restarted, [0x100, 0x200, 0x400]);
}

#[test]
fn a_walk_starts_again_when_its_sender_leaves_or_the_order_changes() {
    let (mut mem, mut th, ep) = setup();
    queue_senders(&mut mem, &mut th, ep, &[7, 8, 7, 8, 7]);
    let walk = ep
        .cancel_badged_sends(&mut mem, &mut th, 7, CancelWalk::default(), &mut Always)
        .unwrap_err();
    assert_eq!(walk.cursor, 0x200);
    // The sender it would go on from is received: the cursor moves on.
    ep.receive(&mut mem, &mut th, 0x900, true);
    assert_eq!(th.transfers[0].0, 0x200);
    let walk = ep
        .cancel_badged_sends(&mut mem, &mut th, 7, walk, &mut Always)
        .unwrap_err();
    // From the front again: 0x300 (badge 7) went, 0x400 is next.
    assert_eq!(
        (th.restarted.as_slice(), walk.cursor),
        (&[0x100, 0x300][..], 0x400)
    );
    // A reorder clears the cursor: the walk starts from the front, and
    // still ends with every badge-7 sender gone.
    th.links.set_priority(0x500, 9);
    ep.reorder(&mut mem, &mut th, 0x500);
    assert_eq!(
        ep.cancel_badged_sends(&mut mem, &mut th, 7, walk, &mut NeverPreempt),
        Ok(())
    );
    assert_eq!(th.restarted, [0x100, 0x300, 0x500]);
}

#[test]
fn cancelling_badged_sends_takes_only_that_badge() {
    let (mut mem, mut th, ep) = setup();
    for (t, badge) in [(0x100, 7), (0x200, 8), (0x300, 7), (0x400, 9)] {
        ep.send(&mut mem, &mut th, t, send(badge, false), BLOCKING);
    }
    let whole = |ep: Endpoint, mem: &mut TestMemory, th: &mut Threads, badge| {
        ep.cancel_badged_sends(mem, th, badge, CancelWalk::default(), &mut NeverPreempt)
    };
    assert_eq!(whole(ep, &mut mem, &mut th, 7), Ok(()));
    assert_eq!(th.restarted, [0x100, 0x300]);
    assert_eq!(whole(ep, &mut mem, &mut th, 0), Ok(()));
    assert_eq!(th.restarted.len(), 2, "badge 0 cancels nothing");
    ep.receive(&mut mem, &mut th, 0x900, true);
    ep.receive(&mut mem, &mut th, 0x901, true);
    assert_eq!(
        th.transfers,
        [(0x200, 0x900, 8, None), (0x400, 0x901, 9, None)]
    );
}

#[test]
fn destroying_the_endpoint_restarts_every_waiter_one_per_step() {
    let (mut mem, mut th, ep) = setup();
    for r in [0x900, 0x901, 0x902] {
        ep.receive(&mut mem, &mut th, r, true);
    }
    assert!(!ep.is_closing(&mem));
    assert!(!ep.close_step(&mut mem, &mut th));
    assert_eq!(th.restarted, [0x900]);
    assert!(ep.is_closing(&mem) && !ep.is_idle(&mem));
    assert_eq!(
        ep.waiting_receiver(&mem),
        None,
        "a closing endpoint offers no receiver"
    );
    // A waiter taken off by another operation leaves the endpoint closing.
    ep.take_off(&mut mem, &mut th, 0x902);
    assert!(ep.is_closing(&mem));
    assert!(ep.close_step(&mut mem, &mut th));
    assert!(ep.is_closing(&mem) && !ep.is_idle(&mem));
    assert_eq!(th.restarted, [0x900, 0x901]);
    assert_eq!(ep.waiting_receiver(&mem), None);
    assert!([0x900, 0x901]
        .iter()
        .all(|&t| th.state(t) == State::Running));
}

#[test]
fn waiting_threads_sit_where_the_endpoint_layout_says() {
    let (mut mem, mut th, ep) = setup();
    let word = |field: usize| EP + field as u64;
    let (state, head, tail) = (
        word(core::mem::offset_of!(EndpointObject, state)),
        word(
            core::mem::offset_of!(EndpointObject, queue) + core::mem::offset_of!(QueueWords, head),
        ),
        word(
            core::mem::offset_of!(EndpointObject, queue) + core::mem::offset_of!(QueueWords, tail),
        ),
    );
    ep.receive(&mut mem, &mut th, 0x100, true);
    ep.receive(&mut mem, &mut th, 0x200, true);
    assert_eq!(mem.read(state), RECEIVERS);
    assert_eq!((mem.read(head), mem.read(tail)), (0x100, 0x200));
    ep.send(&mut mem, &mut th, 0x300, send(7, false), BLOCKING);
    assert_eq!((mem.read(head), mem.read(tail)), (0x200, 0x200));
    ep.send(&mut mem, &mut th, 0x400, send(8, false), BLOCKING);
    assert_eq!(mem.read(state), IDLE);
    assert_eq!((mem.read(head), mem.read(tail)), (0, 0));
}

#[test]
fn senders_and_receivers_queue_by_priority_first_come_first_served_within_one() {
    let (mut mem, mut th, ep) = setup();
    for (t, p) in [(0x100, 50), (0x200, 60), (0x300, 50), (0x400, 70)] {
        th.links.set_priority(t, p);
        ep.send(&mut mem, &mut th, t, send(t, false), BLOCKING);
    }
    for receiver in [0x900, 0x901, 0x902, 0x903] {
        ep.receive(&mut mem, &mut th, receiver, true);
    }
    let senders: Vec<u64> = th.transfers.iter().map(|t| t.0).collect();
    assert_eq!(senders, [0x400, 0x200, 0x100, 0x300]);
    th.transfers.clear();
    for (t, p) in [(0x900, 10), (0x901, 20), (0x902, 10)] {
        th.links.set_priority(t, p);
        ep.receive(&mut mem, &mut th, t, true);
    }
    for sender in [0x100, 0x200, 0x300] {
        ep.send(&mut mem, &mut th, sender, send(1, false), NON_BLOCKING);
    }
    let receivers: Vec<u64> = th.transfers.iter().map(|t| t.1).collect();
    assert_eq!(receivers, [0x901, 0x900, 0x902]);
}

#[test]
fn a_new_priority_moves_a_waiting_sender() {
    let (mut mem, mut th, ep) = setup();
    for t in [0x100, 0x200, 0x300] {
        th.links.set_priority(t, 50);
        ep.send(&mut mem, &mut th, t, send(t, false), BLOCKING);
    }
    th.links.set_priority(0x300, 60);
    ep.reorder(&mut mem, &mut th, 0x300);
    th.links.set_priority(0x100, 40);
    ep.reorder(&mut mem, &mut th, 0x100);
    for receiver in [0x900, 0x901, 0x902] {
        ep.receive(&mut mem, &mut th, receiver, true);
    }
    let senders: Vec<u64> = th.transfers.iter().map(|t| t.0).collect();
    assert_eq!(senders, [0x300, 0x200, 0x100]);
    assert!(!ep.has_senders(&mem));
}

#[test]
fn a_donating_send_lends_a_passive_receiver_the_senders_context() {
    let (mut mem, mut th, ep) = setup();
    let donating = SendMode {
        blocking: false,
        donates: true,
    };
    th.donate(0xc0, 0, 0x100);
    // A plain send lends nothing.
    ep.receive(&mut mem, &mut th, 0x900, true);
    ep.send(&mut mem, &mut th, 0x100, send(1, false), BLOCKING);
    assert_eq!((th.context_of(0x100), th.context_of(0x900)), (0xc0, 0));
    // The send half of NBSendRecv lends a receiver without one its context.
    ep.receive(&mut mem, &mut th, 0x901, true);
    ep.send(&mut mem, &mut th, 0x100, send(2, false), donating);
    assert_eq!((th.context_of(0x100), th.context_of(0x901)), (0, 0xc0));
    assert_eq!(th.holder(0xc0), 0x901);
    assert_eq!(th.state(0x901), State::Running);
    // A receiver with a context of its own keeps it; so does the sender.
    th.donate(0xc1, 0, 0x200);
    th.donate(0xc2, 0, 0x902);
    ep.receive(&mut mem, &mut th, 0x902, true);
    ep.send(&mut mem, &mut th, 0x200, send(3, false), donating);
    assert_eq!((th.context_of(0x200), th.context_of(0x902)), (0xc1, 0xc2));
    // Nobody waiting: the message is dropped and the context stays.
    ep.send(&mut mem, &mut th, 0x200, send(4, false), donating);
    assert_eq!(th.context_of(0x200), 0xc1);
    assert_eq!(th.transfers.len(), 3);
}
