//! Host tests of the Reply object state machine against a model of threads
//! and scheduling contexts: nested donating Calls and the orders in which
//! replies, deletions and cancelled callers unwind them.

extern crate std;

use super::*;
use crate::object_memory::TestMemory;
use crate::test_threads::{model_fields, MapDonation};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::vec::Vec;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Running,
    Receiving,
    WaitingReply,
    Inactive,
}

#[derive(Default)]
struct Threads {
    state: BTreeMap<u64, State>,
    reply: BTreeMap<u64, u64>,
    grant: BTreeSet<u64>,
    donation: MapDonation,
    stack: BTreeMap<u64, u64>,
}

model_fields!(Threads { donation: donation });

impl ReplyThreads for Threads {
    fn reply_of(&self, t: u64) -> u64 {
        self.reply.get(&t).copied().unwrap_or(0)
    }
    fn set_reply_of(&mut self, t: u64, reply: u64) {
        self.reply.insert(t, reply);
    }
    fn waits_for_reply(&self, t: u64) -> bool {
        self.state(t) == State::WaitingReply
    }
    fn set_waiting_for_reply(&mut self, t: u64) {
        self.state.insert(t, State::WaitingReply);
    }
    fn receive_can_grant(&self, t: u64) -> bool {
        self.grant.contains(&t)
    }
    fn dequeue(&mut self, _t: u64) {}
    fn make_inactive(&mut self, t: u64) {
        self.state.insert(t, State::Inactive);
    }
    fn call_stack(&self, c: u64) -> u64 {
        self.stack.get(&c).copied().unwrap_or(0)
    }
    fn set_call_stack(&mut self, c: u64, reply: u64) {
        self.stack.insert(c, reply);
    }
}

impl Threads {
    fn state(&self, t: u64) -> State {
        self.state.get(&t).copied().unwrap_or_default()
    }
}

/// Scheduling context of the client `C`.
const SC: u64 = 0x8000;
const C: u64 = 0x100;
const REPLIES: u64 = 0x1000;

/// Server `k` (1..) and the Reply object it receives with.
const fn server(k: u64) -> u64 {
    0x100 * (k + 1)
}
const fn reply(k: u64) -> u64 {
    REPLIES + (k << REPLY_BITS)
}

/// Memory for eight Reply objects; `C` runs on `SC`, the servers are passive.
fn setup() -> (TestMemory, Threads) {
    let mut th = Threads::default();
    th.donate(SC, 0, C);
    (TestMemory::new(REPLIES, 8 << REPLY_BITS), th)
}

/// Server `k` receives with its Reply object.
fn receive(mem: &mut TestMemory, th: &mut Threads, k: u64) {
    Reply::at(reply(k)).start_receive(mem, th, server(k));
    th.state.insert(server(k), State::Receiving);
}

/// `caller` Calls server `k`, which is receiving, and the server runs.
fn call(mem: &mut TestMemory, th: &mut Threads, caller: u64, k: u64) {
    receive(mem, th, k);
    assert!(push(mem, th, caller, server(k), true));
    th.state.insert(server(k), State::Running);
}

/// The call stack of `SC` from the top, checking both links on the way.
fn stack(mem: &TestMemory, th: &Threads) -> Vec<u64> {
    let mut out = Vec::new();
    let mut above = SC | SC_TAG;
    let mut at = th.call_stack(SC);
    while at != 0 {
        assert_eq!(Reply::at(at).above(mem), above, "link above {at:#x}");
        assert!(!out.contains(&at), "{at:#x} twice on the stack");
        out.push(at);
        above = at;
        at = Reply::at(at).below(mem);
    }
    out
}

/// A Reply object off every stack and naming nobody.
fn unused(mem: &TestMemory, r: u64) -> bool {
    let r = Reply::at(r);
    (r.thread(mem), r.below(mem), r.above(mem), r.can_grant(mem)) == (0, 0, 0, false)
}

#[test]
fn nested_calls_stack_the_context_and_replies_unwind_it() {
    let (mut mem, mut th) = setup();
    call(&mut mem, &mut th, C, 1);
    assert_eq!(
        (th.holder(SC), th.state(C)),
        (server(1), State::WaitingReply)
    );
    call(&mut mem, &mut th, server(1), 2);
    assert_eq!(th.holder(SC), server(2));
    assert_eq!(stack(&mem, &th), [reply(2), reply(1)]);
    assert_eq!(Reply::at(reply(2)).pop(&mut mem, &mut th), Some(server(1)));
    assert_eq!(th.holder(SC), server(1));
    assert!(!Reply::at(reply(2)).is_top_of(&mem, SC) && unused(&mem, reply(2)));
    assert!(Reply::at(reply(1)).is_top_of(&mem, SC));
    assert_eq!(Reply::at(reply(1)).pop(&mut mem, &mut th), Some(C));
    assert_eq!(th.holder(SC), C);
    assert_eq!((stack(&mem, &th), th.reply_of(C)), (Vec::new(), 0));
    assert!(unused(&mem, reply(1)));
    assert_eq!(
        Reply::at(reply(1)).pop(&mut mem, &mut th),
        None,
        "answered once"
    );
}

#[test]
fn a_reply_deleted_before_its_caller_is_answered_stops_the_caller() {
    let (mut mem, mut th) = setup();
    call(&mut mem, &mut th, C, 1);
    Reply::at(reply(1)).remove(&mut mem, &mut th);
    assert_eq!(th.state(C), State::Inactive);
    assert_eq!(th.holder(SC), C, "the context went back first");
    assert_eq!((th.context_of(server(1)), th.reply_of(C)), (0, 0));
    assert!(unused(&mem, reply(1)) && stack(&mem, &th).is_empty());
}

#[test]
fn a_reply_deleted_after_its_caller_is_answered_or_gone_changes_nothing() {
    let (mut mem, mut th) = setup();
    call(&mut mem, &mut th, C, 1);
    Reply::at(reply(1)).pop(&mut mem, &mut th);
    th.state.insert(C, State::Running);
    Reply::at(reply(1)).remove(&mut mem, &mut th);
    assert_eq!((th.state(C), th.holder(SC)), (State::Running, C));
    // The caller destroyed first: the server keeps the context.
    call(&mut mem, &mut th, C, 1);
    cancel_caller(&mut mem, &mut th, C);
    assert!(unused(&mem, reply(1)) && stack(&mem, &th).is_empty());
    Reply::at(reply(1)).remove(&mut mem, &mut th);
    assert_eq!(th.holder(SC), server(1));
    assert_eq!(th.state(C), State::WaitingReply, "remove found nobody");
    assert_eq!(Reply::at(reply(1)).pop(&mut mem, &mut th), None);
}

#[test]
fn deleting_a_reply_in_the_middle_breaks_the_chain() {
    let (mut mem, mut th) = setup();
    call(&mut mem, &mut th, C, 1);
    call(&mut mem, &mut th, server(1), 2);
    call(&mut mem, &mut th, server(2), 3);
    Reply::at(reply(2)).remove(&mut mem, &mut th);
    assert_eq!(th.state(server(1)), State::Inactive);
    assert_eq!(th.holder(SC), server(3), "the context stays where it runs");
    assert_eq!(stack(&mem, &th), [reply(3)], "the chain is cut below");
    assert_eq!(Reply::at(reply(1)).above(&mem), 0);
    assert_eq!(Reply::at(reply(3)).pop(&mut mem, &mut th), Some(server(2)));
    assert_eq!(th.holder(SC), server(2));
    assert!(stack(&mem, &th).is_empty());
    // Answered from below the break, the caller gets no context back.
    assert_eq!(Reply::at(reply(1)).pop(&mut mem, &mut th), Some(C));
    assert_eq!(th.holder(SC), server(2));
    assert!(unused(&mem, reply(1)));
}

#[test]
fn a_cancelled_caller_leaves_its_context_with_the_server() {
    let (mut mem, mut th) = setup();
    call(&mut mem, &mut th, C, 1);
    call(&mut mem, &mut th, server(1), 2);
    // At the top: the stack breaks there; the one below leads nowhere.
    cancel_caller(&mut mem, &mut th, server(1));
    assert!(stack(&mem, &th).is_empty());
    assert!(unused(&mem, reply(2)));
    assert_eq!(Reply::at(reply(2)).pop(&mut mem, &mut th), None);
    assert_eq!(th.holder(SC), server(2));
    // Deleting the Reply object below returns nothing to its caller.
    Reply::at(reply(1)).remove(&mut mem, &mut th);
    assert_eq!((th.state(C), th.holder(SC)), (State::Inactive, server(2)));
    assert!(unused(&mem, reply(1)));
}

#[test]
fn receiving_again_with_a_reply_a_caller_waits_on_stops_the_caller() {
    let (mut mem, mut th) = setup();
    call(&mut mem, &mut th, C, 1);
    receive(&mut mem, &mut th, 1);
    assert_eq!((th.state(C), th.holder(SC)), (State::Inactive, C));
    assert_eq!(Reply::at(reply(1)).thread(&mem), server(1));
    assert_eq!(th.reply_of(server(1)), reply(1));
}

#[test]
fn a_reply_object_taken_by_another_receiver_leaves_the_first() {
    let (mut mem, mut th) = setup();
    receive(&mut mem, &mut th, 1);
    Reply::at(reply(1)).start_receive(&mut mem, &mut th, server(2));
    assert_eq!(th.reply_of(server(1)), 0);
    assert!(receives_with(&mem, server(2), reply(1)));
    end_receive(&mut mem, &mut th, server(1));
    assert!(
        receives_with(&mem, server(2), reply(1)),
        "not the first's any more"
    );
    end_receive(&mut mem, &mut th, server(2));
    assert_eq!(
        (th.reply_of(server(2)), Reply::at(reply(1)).thread(&mem)),
        (0, 0)
    );
}

#[test]
fn a_call_to_a_callee_without_a_reply_object_stops_the_caller() {
    let (mut mem, mut th) = setup();
    assert!(!push(&mut mem, &mut th, C, server(1), true));
    assert_eq!((th.state(C), th.holder(SC)), (State::Inactive, C));
    // A Reply object naming someone else is no better.
    receive(&mut mem, &mut th, 1);
    th.reply.insert(server(2), reply(1));
    assert!(!push(&mut mem, &mut th, server(3), server(2), true));
    assert_eq!(th.state(server(3)), State::Inactive);
}

#[test]
fn no_donation_without_can_donate_or_to_a_callee_with_a_context() {
    let (mut mem, mut th) = setup();
    receive(&mut mem, &mut th, 1);
    assert!(push(&mut mem, &mut th, C, server(1), false));
    assert_eq!((th.holder(SC), th.state(C)), (C, State::WaitingReply));
    assert_eq!(Reply::at(reply(1)).pop(&mut mem, &mut th), Some(C));
    th.donate(0x9000, 0, server(2));
    receive(&mut mem, &mut th, 2);
    assert!(push(&mut mem, &mut th, C, server(2), true));
    assert!(stack(&mem, &th).is_empty());
    assert_eq!((th.holder(SC), th.holder(0x9000)), (C, server(2)));
}

#[test]
fn a_deleted_context_cuts_the_chain_at_the_top() {
    let (mut mem, mut th) = setup();
    call(&mut mem, &mut th, C, 1);
    call(&mut mem, &mut th, server(1), 2);
    detach_context(&mut mem, &mut th, SC);
    assert_eq!(
        (th.call_stack(SC), Reply::at(reply(2)).above(&mem)),
        (0, SC_TAG)
    );
    th.donate(SC, server(2), 0);
    assert_eq!(Reply::at(reply(2)).pop(&mut mem, &mut th), Some(server(1)));
    assert_eq!(th.holder(SC), 0, "nothing to give back");
    assert!(unused(&mem, reply(2)));
    assert_eq!(Reply::at(reply(1)).above(&mem), SC_TAG, "the new top");
    assert_eq!(Reply::at(reply(1)).pop(&mut mem, &mut th), Some(C));
}

#[test]
fn the_grant_right_of_the_receive_goes_with_the_reply() {
    let (mut mem, mut th) = setup();
    th.grant.insert(server(1));
    call(&mut mem, &mut th, C, 1);
    assert!(Reply::at(reply(1)).can_grant(&mem));
    Reply::at(reply(1)).pop(&mut mem, &mut th);
    assert!(!Reply::at(reply(1)).can_grant(&mem));
    call(&mut mem, &mut th, C, 2);
    assert!(!Reply::at(reply(2)).can_grant(&mem));
}

/// One step of the property test; each names a frame by its index from the
/// bottom of the stack (modulo the depth).
#[derive(Clone, Copy, Debug)]
enum Op {
    Call,
    Reply(usize),
    Delete(usize),
    Cancel(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Call),
        1 => (0usize..8).prop_map(Op::Reply),
        1 => (0usize..8).prop_map(Op::Delete),
        1 => (0usize..8).prop_map(Op::Cancel),
    ]
}

proptest! {
    /// Nested donating Calls, and replies, deletions and cancelled callers
    /// anywhere in the chain, against a model: the stack of (Reply, caller)
    /// frames, the frames cut off below a break (their callers still wait,
    /// but lead to no context), and the thread holding the context.
    #[test]
    fn matches_a_model(ops in proptest::collection::vec(op(), 1..60)) {
        let (mut mem, mut th) = setup();
        let mut frames: Vec<(u64, u64)> = Vec::new();
        let mut cut: Vec<(u64, u64)> = Vec::new();
        let mut holder = C;
        let mut inactive: BTreeSet<u64> = BTreeSet::new();
        let mut next_server = 1;
        for op in ops {
            match op {
                Op::Call if !inactive.contains(&holder) && next_server < 8 => {
                    call(&mut mem, &mut th, holder, next_server);
                    frames.push((reply(next_server), holder));
                    holder = server(next_server);
                    next_server += 1;
                }
                Op::Reply(i) | Op::Delete(i) | Op::Cancel(i)
                    if !frames.is_empty() || !cut.is_empty() =>
                {
                    let i = i % (frames.len() + cut.len());
                    // Answered or deleted at the top, the context goes back.
                    let gives_back = i + 1 == frames.len() && !matches!(op, Op::Cancel(_));
                    let (r, caller) = if i < frames.len() {
                        let frame = frames.remove(i);
                        if !gives_back {
                            // A break: what was below leaves the stack.
                            cut.extend(frames.drain(..i));
                        }
                        frame
                    } else {
                        cut.remove(i - frames.len())
                    };
                    match op {
                        Op::Reply(_) => {
                            prop_assert_eq!(Reply::at(r).pop(&mut mem, &mut th), Some(caller));
                            th.state.insert(caller, State::Running);
                            inactive.remove(&caller);
                        }
                        Op::Delete(_) => {
                            Reply::at(r).remove(&mut mem, &mut th);
                            inactive.insert(caller);
                        }
                        _ => {
                            cancel_caller(&mut mem, &mut th, caller);
                            th.state.insert(caller, State::Inactive);
                            inactive.insert(caller);
                        }
                    }
                    if gives_back {
                        holder = caller;
                    }
                }
                _ => {}
            }
            let expected: Vec<u64> = frames.iter().rev().map(|f| f.0).collect();
            prop_assert_eq!(stack(&mem, &th), expected);
            prop_assert_eq!(th.holder(SC), holder);
            prop_assert_eq!(th.context_of(holder), SC);
            for &(r, caller) in frames.iter().chain(&cut) {
                prop_assert_eq!(Reply::at(r).thread(&mem), caller);
                prop_assert_eq!(th.reply_of(caller), r);
                prop_assert_eq!(th.state(caller), State::WaitingReply);
            }
            for &(r, _) in &cut {
                prop_assert!(Reply::at(r).above(&mem) & SC_TAG == 0, "{:#x} leads to the context", r);
            }
            for k in 1..next_server {
                if !frames.iter().chain(&cut).any(|f| f.0 == reply(k)) {
                    prop_assert!(unused(&mem, reply(k)), "{:#x} left linked", reply(k));
                }
            }
            for &t in &inactive {
                prop_assert_eq!(th.state(t), State::Inactive);
            }
        }
    }
}
