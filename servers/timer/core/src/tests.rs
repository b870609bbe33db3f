//! The timeouts table: one-shot and periodic expiry, one signal per client
//! however many of its timeouts expire, limits, cancel and a dead client's
//! timeouts; and a random workload against a model.

use super::*;
use alloc::vec;
use proptest::prelude::*;
use std::collections::BTreeMap as Map;

#[test]
fn a_one_shot_expires_once_and_is_gone() {
    let mut t = Timeouts::new();
    t.set(1, 3, 100, None).unwrap();
    assert_eq!(t.next_deadline(), Some(100));
    assert!(t.expire(99).is_empty());
    assert_eq!(t.expire(100), vec![1]);
    assert_eq!(t.take_expired(1), 1 << 3);
    assert_eq!(t.take_expired(1), 0);
    assert_eq!((t.count(1), t.next_deadline()), (0, None));
}

#[test]
fn a_periodic_timeout_rearms_and_skips_missed_periods() {
    let mut t = Timeouts::new();
    t.set(1, 0, 100, Some(50)).unwrap();
    assert_eq!(t.expire(100), vec![1]);
    assert_eq!(t.next_deadline(), Some(150));
    assert_eq!(t.take_expired(1), 1);
    // Late by two periods: fires once, next deadline after now.
    assert_eq!(t.expire(260), vec![1]);
    assert_eq!(t.next_deadline(), Some(300));
    assert_eq!(t.take_expired(1), 1);
}

#[test]
fn a_client_is_signalled_once_for_many_expiries_until_it_takes_them() {
    let mut t = Timeouts::new();
    t.set(1, 0, 10, None).unwrap();
    t.set(1, 5, 20, None).unwrap();
    t.set(2, 1, 15, None).unwrap();
    assert_eq!(t.expire(30), vec![1, 2]);
    t.set(1, 2, 40, None).unwrap();
    // Client 1 has not taken its expiries: no second signal.
    assert!(t.expire(40).is_empty());
    assert_eq!(t.take_expired(1), (1 << 0) | (1 << 5) | (1 << 2));
    assert_eq!(t.take_expired(2), 1 << 1);
}

#[test]
fn bad_requests_are_refused_and_change_nothing() {
    let mut t = Timeouts::new();
    assert_eq!(t.set(1, 64, 10, None), Err(TimerError::BadNumber));
    assert_eq!(t.set(1, 0, 10, Some(0)), Err(TimerError::ZeroPeriod));
    assert_eq!(t.cancel(1, 0), Err(TimerError::NotSet));
    assert_eq!(t.cancel(1, 200), Err(TimerError::BadNumber));
    for n in 0..TIMEOUTS_PER_CLIENT as u8 {
        t.set(1, n, 1000 + u64::from(n), None).unwrap();
    }
    assert_eq!(t.set(1, 40, 5, None), Err(TimerError::TooMany));
    // Replacing one already set is no new timeout.
    t.set(1, 0, 5, None).unwrap();
    assert_eq!(t.count(1), TIMEOUTS_PER_CLIENT);
    assert_eq!(t.next_deadline(), Some(5));
    t.set(2, 0, 1, None).unwrap();
    assert_eq!(t.count(2), 1);
}

#[test]
fn cancel_and_a_dead_client_leave_the_others() {
    let mut t = Timeouts::new();
    t.set(1, 0, 10, Some(10)).unwrap();
    t.set(1, 1, 20, None).unwrap();
    t.set(2, 0, 30, None).unwrap();
    t.cancel(1, 1).unwrap();
    assert_eq!(t.expire(10), vec![1]);
    assert_eq!(t.remove_client(1), 1);
    assert_eq!(t.take_expired(1), 0);
    assert_eq!(t.next_deadline(), Some(30));
    assert_eq!(t.expire(100), vec![2]);
}

#[derive(Clone, Debug)]
enum Op {
    Set(Client, u8, u64, Option<u64>),
    Cancel(Client, u8),
    Remove(Client),
    Advance(u64),
    Take(Client),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3u64, 0..20u8, 0..1000u64, proptest::option::of(1..300u64))
            .prop_map(|(c, n, d, p)| Op::Set(c, n, d, p)),
        1 => (0..3u64, 0..20u8).prop_map(|(c, n)| Op::Cancel(c, n)),
        1 => (0..3u64).prop_map(Op::Remove),
        3 => (0..400u64).prop_map(Op::Advance),
        2 => (0..3u64).prop_map(Op::Take),
    ]
}

proptest! {
    /// Against a model that checks every timeout at every step: the same
    /// expiries, the same masks, and never more than the limit.
    #[test]
    fn random_workloads_match_a_model(ops in proptest::collection::vec(op(), 1..150)) {
        let mut t = Timeouts::new();
        let mut model: Map<(Client, u8), (u64, Option<u64>)> = Map::new();
        let mut masks: Map<Client, u64> = Map::new();
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Set(c, n, d, p) => {
                    let deadline = now + d;
                    let full = model.keys().filter(|k| k.0 == c).count() >= TIMEOUTS_PER_CLIENT
                        && !model.contains_key(&(c, n));
                    let r = t.set(c, n, deadline, p);
                    if full {
                        prop_assert_eq!(r, Err(TimerError::TooMany));
                    } else {
                        prop_assert_eq!(r, Ok(()));
                        model.insert((c, n), (deadline, p));
                    }
                }
                Op::Cancel(c, n) => {
                    let expected = if model.remove(&(c, n)).is_some() { Ok(()) } else { Err(TimerError::NotSet) };
                    prop_assert_eq!(t.cancel(c, n), expected);
                }
                Op::Remove(c) => {
                    let before = model.len();
                    model.retain(|k, _| k.0 != c);
                    prop_assert_eq!(t.remove_client(c), before - model.len());
                    masks.remove(&c);
                }
                Op::Advance(d) => {
                    now += d;
                    let mut fired: Vec<Client> = Vec::new();
                    let due: Vec<(Client, u8)> = model.iter().filter(|(_, v)| v.0 <= now).map(|(k, _)| *k).collect();
                    for (c, n) in due {
                        let (deadline, period) = model[&(c, n)];
                        match period {
                            Some(p) => { model.insert((c, n), (deadline + p * ((now - deadline) / p + 1), period)); }
                            None => { model.remove(&(c, n)); }
                        }
                        let m = masks.entry(c).or_insert(0);
                        if *m == 0 && !fired.contains(&c) { fired.push(c); }
                        *m |= 1 << n;
                    }
                    let mut got = t.expire(now);
                    got.sort_unstable();
                    fired.sort_unstable();
                    prop_assert_eq!(got, fired);
                }
                Op::Take(c) => {
                    prop_assert_eq!(t.take_expired(c), masks.remove(&c).unwrap_or(0));
                }
            }
            prop_assert_eq!(t.next_deadline(), model.values().map(|v| v.0).min());
        }
    }
}
