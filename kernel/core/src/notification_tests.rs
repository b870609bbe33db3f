//! Host tests of the notification state machine against a model of threads
//! and scheduling contexts that records what the state machine asked of them.

extern crate std;

use super::*;
use crate::object_memory::TestMemory;
use crate::test_threads::{model_fields, MapDonation, MapLinks};
use proptest::prelude::*;
use std::collections::{BTreeMap, VecDeque};
use std::vec::Vec;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Running,
    /// Waits on the notification at this address.
    Waiting(u64),
    /// Receives on an endpoint.
    Receiving,
}

#[derive(Default)]
struct Threads {
    links: MapLinks,
    state: BTreeMap<u64, State>,
    /// (thread, word) in delivery order.
    delivered: Vec<(u64, u64)>,
    restarted: Vec<u64>,
    cancelled: Vec<u64>,
    bound: BTreeMap<u64, u64>,
    donation: MapDonation,
    forgotten: Vec<u64>,
}

model_fields!(Threads {
    links: links,
    donation: donation
});

impl NotificationThreads for Threads {
    fn receiving(&self, t: u64) -> bool {
        self.state(t) == State::Receiving
    }
    fn cancel_ipc(&mut self, t: u64) {
        self.cancelled.push(t);
        self.state.insert(t, State::Running);
    }
    fn deliver(&mut self, t: u64, word: u64) {
        self.delivered.push((t, word));
    }
    fn make_runnable(&mut self, t: u64) {
        self.state.insert(t, State::Running);
    }
    fn block(&mut self, t: u64, ntfn: u64) {
        assert_eq!(self.state(t), State::Running, "only a running thread waits");
        self.state.insert(t, State::Waiting(ntfn));
    }
    fn unblocked(&mut self, t: u64) {
        assert!(
            matches!(self.state(t), State::Waiting(_)),
            "{t:#x} was not waiting"
        );
        self.state.insert(t, State::Running);
    }
    fn restart(&mut self, t: u64) {
        self.restarted.push(t);
    }
    fn bound_notification(&self, t: u64) -> u64 {
        self.bound.get(&t).copied().unwrap_or(0)
    }
    fn set_bound_notification(&mut self, t: u64, ntfn: u64) {
        self.bound.insert(t, ntfn);
    }
    fn forget_notification(&mut self, c: u64) {
        self.forgotten.push(c);
    }
}

impl Threads {
    fn state(&self, t: u64) -> State {
        self.state.get(&t).copied().unwrap_or_default()
    }
}

const NTFN: u64 = 0x1000;
const SC: u64 = 0x8000;

fn setup() -> (TestMemory, Threads, Notification) {
    (
        TestMemory::new(NTFN, 2 << NOTIFICATION_BITS),
        Threads::default(),
        Notification::at(NTFN),
    )
}

#[test]
fn signals_accumulate_until_a_wait_takes_them() {
    let (mut mem, mut th, n) = setup();
    assert_eq!(n.state(&mem), NotificationState::Idle);
    n.signal(&mut mem, &mut th, 0b001);
    n.signal(&mut mem, &mut th, 0b100);
    assert_eq!(n.state(&mem), NotificationState::Active);
    n.wait(&mut mem, &mut th, 0x100, true);
    assert_eq!(th.delivered, [(0x100, 0b101)]);
    assert_eq!(
        th.state(0x100),
        State::Running,
        "a pending word never blocks"
    );
    assert_eq!(n.state(&mem), NotificationState::Idle);
    assert_eq!(n.take_word(&mut mem), None);
}

#[test]
fn waiters_are_woken_in_order_each_with_its_signal() {
    let (mut mem, mut th, n) = setup();
    for t in [0x100, 0x200, 0x300] {
        n.wait(&mut mem, &mut th, t, true);
        assert_eq!(th.state(t), State::Waiting(NTFN));
    }
    assert_eq!(n.state(&mem), NotificationState::Waiting);
    for badge in [1, 2, 3] {
        n.signal(&mut mem, &mut th, badge);
    }
    assert_eq!(th.delivered, [(0x100, 1), (0x200, 2), (0x300, 3)]);
    assert!([0x100, 0x200, 0x300]
        .iter()
        .all(|&t| th.state(t) == State::Running));
    assert_eq!(n.state(&mem), NotificationState::Idle);
}

#[test]
fn waiters_are_woken_by_priority_and_a_new_priority_moves_one() {
    let (mut mem, mut th, n) = setup();
    for (t, p) in [(0x100, 50), (0x200, 60), (0x300, 50), (0x400, 50)] {
        th.links.set_priority(t, p);
        n.wait(&mut mem, &mut th, t, true);
    }
    th.links.set_priority(0x400, 55);
    n.reorder(&mut mem, &mut th, 0x400);
    for badge in [1, 2, 3, 4] {
        n.signal(&mut mem, &mut th, badge);
    }
    assert_eq!(
        th.delivered,
        [(0x200, 1), (0x400, 2), (0x100, 3), (0x300, 4)]
    );
}

#[test]
fn polling_never_blocks() {
    let (mut mem, mut th, n) = setup();
    n.wait(&mut mem, &mut th, 0x100, false);
    assert_eq!(th.delivered, [(0x100, 0)]);
    assert_eq!(n.state(&mem), NotificationState::Idle);
    n.signal(&mut mem, &mut th, 6);
    n.wait(&mut mem, &mut th, 0x100, false);
    assert_eq!(th.delivered[1], (0x100, 6));
}

#[test]
fn a_cancelled_waiter_leaves_the_others_in_order() {
    let (mut mem, mut th, n) = setup();
    for t in [0x100, 0x200, 0x300] {
        n.wait(&mut mem, &mut th, t, true);
    }
    n.take_off(&mut mem, &mut th, 0x200);
    assert_eq!(th.state(0x200), State::Running);
    n.signal(&mut mem, &mut th, 1);
    n.take_off(&mut mem, &mut th, 0x300);
    assert_eq!(n.state(&mem), NotificationState::Idle, "the last one left");
    n.signal(&mut mem, &mut th, 2);
    assert_eq!(th.delivered, [(0x100, 1)]);
    assert_eq!(n.take_word(&mut mem), Some(2));
}

#[test]
fn the_bound_thread_gets_signals_while_it_receives_on_an_endpoint() {
    let (mut mem, mut th, n) = setup();
    assert_eq!(n.bind(&mut mem, &mut th, 0x100), Ok(()));
    assert_eq!(th.bound_notification(0x100), NTFN);
    // Not receiving: the word keeps the signal.
    n.signal(&mut mem, &mut th, 1);
    assert!(th.delivered.is_empty());
    assert_eq!(n.take_word(&mut mem), Some(1));
    // Receiving: its IPC is cancelled and it gets the badge.
    th.state.insert(0x100, State::Receiving);
    n.signal(&mut mem, &mut th, 2);
    assert_eq!(th.cancelled, [0x100]);
    assert_eq!(th.delivered, [(0x100, 2)]);
    assert_eq!(th.state(0x100), State::Running);
    assert_eq!(n.state(&mem), NotificationState::Idle);
}

#[test]
fn binding_is_refused_while_busy() {
    let (mut mem, mut th, n) = setup();
    let other = Notification::at(NTFN + (1 << NOTIFICATION_BITS));
    n.bind(&mut mem, &mut th, 0x100).unwrap();
    assert_eq!(n.bind(&mut mem, &mut th, 0x200), Err(BindError::Busy));
    assert_eq!(other.bind(&mut mem, &mut th, 0x100), Err(BindError::Busy));
    n.unbind(&mut mem, &mut th);
    assert_eq!(Notification::bound_to(&th, 0x100), None);
    n.wait(&mut mem, &mut th, 0x300, true);
    assert_eq!(
        n.bind(&mut mem, &mut th, 0x200),
        Err(BindError::Busy),
        "threads wait on it"
    );
    n.signal(&mut mem, &mut th, 1);
    assert_eq!(n.bind(&mut mem, &mut th, 0x200), Ok(()));
    assert_eq!(Notification::bound_to(&th, 0x200), Some(n));
}

#[test]
fn a_passive_waiter_runs_on_the_bound_context_and_returns_it() {
    let (mut mem, mut th, n) = setup();
    n.set_sched_context(&mut mem, SC);
    n.wait(&mut mem, &mut th, 0x100, true);
    n.signal(&mut mem, &mut th, 1);
    assert_eq!(
        th.context_of(0x100),
        SC,
        "woken onto the notification's context"
    );
    n.wait(&mut mem, &mut th, 0x100, true);
    assert_eq!(th.holder(SC), 0, "waiting again gives it back");
    // A thread with its own context keeps it; a context in use is not lent.
    th.donate(0x9000, 0, 0x200);
    n.wait(&mut mem, &mut th, 0x200, true);
    th.donate(SC, 0, 0x300);
    n.signal(&mut mem, &mut th, 2);
    n.signal(&mut mem, &mut th, 3);
    assert_eq!(th.context_of(0x100), 0, "{SC:#x} was held by 0x300");
    assert_eq!(th.context_of(0x200), 0x9000);
    assert_eq!(th.holder(SC), 0x300);
}

#[test]
fn deleting_unbinds_everything_and_restarts_waiters_one_per_step() {
    let (mut mem, mut th, n) = setup();
    n.bind(&mut mem, &mut th, 0x900).unwrap();
    n.set_sched_context(&mut mem, SC);
    for t in [0x100, 0x200] {
        n.wait(&mut mem, &mut th, t, true);
    }
    // The first step closes it and unbinds; each releases one waiter.
    assert!(!n.close_step(&mut mem, &mut th));
    assert_eq!(th.restarted, [0x100]);
    assert_eq!(th.bound_notification(0x900), 0);
    assert_eq!((n.bound(&mem), n.sched_context(&mem)), (0, 0));
    assert_eq!(th.forgotten, [SC]);
    // A closing notification drops signals and cannot be bound.
    n.signal(&mut mem, &mut th, 1);
    assert_eq!(th.state(0x200), State::Waiting(NTFN));
    assert_eq!(n.bind(&mut mem, &mut th, 0x901), Err(BindError::Busy));
    assert!(n.close_step(&mut mem, &mut th));
    assert_eq!(th.restarted, [0x100, 0x200]);
    assert_eq!(th.state(0x100), State::Running);
    assert_eq!(th.forgotten, [SC]);
    assert_eq!(n.state(&mem), NotificationState::Idle);
    assert!(n.is_closing(&mem));
}

/// One step of the property test.
#[derive(Clone, Debug)]
enum Op {
    Signal(u64),
    Wait(u64),
    Poll(u64),
    Cancel(u64),
    Priority(u64, u64),
}

fn op() -> impl Strategy<Value = Op> {
    let thread = (1u64..6).prop_map(|t| t * 0x100);
    prop_oneof![
        (0u64..16).prop_map(Op::Signal),
        thread.clone().prop_map(Op::Wait),
        thread.clone().prop_map(Op::Poll),
        thread.clone().prop_map(Op::Cancel),
        (thread, 0u64..3).prop_map(|(t, p)| Op::Priority(t, p)),
    ]
}

proptest! {
    /// Against a model (waiters in priority order, first come first served
    /// within one, and a pending word): every signal reaches the first
    /// waiter or the word, every wait takes the word or queues, a new
    /// priority moves a waiter, and the state always says which.
    #[test]
    fn matches_a_model(ops in proptest::collection::vec(op(), 1..80)) {
        let (mut mem, mut th, n) = setup();
        let mut waiters: VecDeque<u64> = VecDeque::new();
        let mut priority: BTreeMap<u64, u64> = BTreeMap::new();
        let queue = |waiters: &mut VecDeque<u64>, priority: &BTreeMap<u64, u64>, t: u64| {
            let p = |t: &u64| priority.get(t).copied().unwrap_or(0);
            let at = waiters.iter().position(|w| p(w) < p(&t)).unwrap_or(waiters.len());
            waiters.insert(at, t);
        };
        let mut pending: Option<u64> = None;
        let mut expected: Vec<(u64, u64)> = Vec::new();
        for op in ops {
            match op {
                Op::Signal(badge) => {
                    n.signal(&mut mem, &mut th, badge);
                    match waiters.pop_front() {
                        Some(t) => expected.push((t, badge)),
                        None => pending = Some(pending.unwrap_or(0) | badge),
                    }
                }
                Op::Wait(t) | Op::Poll(t) if !waiters.contains(&t) => {
                    let blocking = matches!(op, Op::Wait(_));
                    n.wait(&mut mem, &mut th, t, blocking);
                    match pending.take() {
                        Some(word) => expected.push((t, word)),
                        None if blocking => queue(&mut waiters, &priority, t),
                        None => expected.push((t, 0)),
                    }
                }
                Op::Cancel(t) if waiters.contains(&t) => {
                    n.take_off(&mut mem, &mut th, t);
                    waiters.retain(|&w| w != t);
                }
                Op::Priority(t, p) => {
                    th.links.set_priority(t, p);
                    priority.insert(t, p);
                    if waiters.contains(&t) {
                        n.reorder(&mut mem, &mut th, t);
                        waiters.retain(|&w| w != t);
                        queue(&mut waiters, &priority, t);
                    }
                }
                _ => {}
            }
            prop_assert_eq!(&th.delivered, &expected);
            let state = match (waiters.is_empty(), pending) {
                (false, _) => NotificationState::Waiting,
                (true, Some(_)) => NotificationState::Active,
                (true, None) => NotificationState::Idle,
            };
            prop_assert_eq!(n.state(&mem), state);
            for t in (1u64..6).map(|t| t * 0x100) {
                let waiting = if waiters.contains(&t) { State::Waiting(NTFN) } else { State::Running };
                prop_assert_eq!(th.state(t), waiting);
            }
        }
    }
}
