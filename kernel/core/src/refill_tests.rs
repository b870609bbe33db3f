//! Host tests of the refill arithmetic: worked cases, and a property test that
//! simulates a thread running on random bursts and sleeps and checks the
//! sporadic-server guarantee on the schedule it got.

use super::*;
use alloc::vec::Vec;
use keel_abi::Error;
use proptest::prelude::*;

const MIN: u64 = 10;

fn list(r: &Refills) -> Vec<(u64, u64)> {
    r.iter().map(|f| (f.release, f.amount)).collect()
}

#[test]
fn configurations_outside_the_rules_are_range_errors() {
    let range = |r: Result<Refills, SyscallError>| r.map(|_| ()).unwrap_err().error;
    assert_eq!(range(Refills::new(200, 100, 0, MIN, 0)), Error::RangeError);
    assert_eq!(range(Refills::new(5, 100, 0, MIN, 0)), Error::RangeError);
    assert_eq!(range(Refills::new(50, 100, 15, MIN, 0)), Error::RangeError);
    let ok = Refills::new(50, 100, 14, MIN, 0).unwrap();
    assert_eq!(ok.max_refills(), MAX_REFILLS);
}

#[test]
fn a_used_up_budget_comes_back_one_period_after_its_release() {
    let mut r = Refills::new(30, 100, 0, MIN, 0).unwrap();
    assert!(r.ready(0) && r.sufficient(0));
    r.charge(30);
    assert_eq!(list(&r), [(100, 30)]);
    assert!(!r.ready(99));
    assert!(r.ready(100));
}

#[test]
fn a_partly_used_head_is_split() {
    let mut r = Refills::new(30, 100, 0, MIN, 0).unwrap();
    r.charge(10);
    assert_eq!(list(&r), [(10, 20), (100, 10)]);
    // Asleep from 10 to 50: the idle time is not counted as used.
    r.unblock_check(50);
    assert_eq!(list(&r), [(50, 20), (100, 10)]);
    r.charge(20);
    assert_eq!(list(&r), [(100, 10), (150, 20)]);
}

#[test]
fn refills_released_before_the_head_runs_out_merge_into_it() {
    let mut r = Refills::new(30, 100, 2, MIN, 0).unwrap();
    r.charge(10);
    r.unblock_check(95);
    assert_eq!(list(&r), [(95, 30)]);
}

#[test]
fn a_full_list_merges_used_time_into_its_tail() {
    let mut r = Refills::new(40, 100, 0, MIN, 0).unwrap();
    r.charge(10);
    r.unblock_check(20);
    r.charge(10);
    assert_eq!(list(&r), [(30, 20), (120, 20)]);
    assert_eq!(r.iter().count(), r.max_refills());
}

#[test]
fn a_head_below_the_minimum_merges_into_the_next_refill() {
    let mut r = Refills::new(30, 100, 2, MIN, 0).unwrap();
    r.charge(25);
    assert_eq!(list(&r), [(100, 30)]);
}

#[test]
fn an_overrun_delays_the_next_release() {
    let mut r = Refills::new(30, 100, 0, MIN, 0).unwrap();
    r.charge(45);
    assert_eq!(list(&r), [(115, 30)]);
}

#[test]
fn round_robin_is_never_throttled_and_restarts_its_slice() {
    let mut r = Refills::new(50, 50, 0, MIN, 0).unwrap();
    assert!(r.is_round_robin());
    assert!(!r.charge(30), "20 of the slice are left");
    assert_eq!(r.head().amount, 20);
    assert!(r.ready(30) && r.sufficient(0) && !r.sufficient(15));
    assert!(r.charge(15), "the slice ended");
    assert_eq!(r.head().amount, 50);
    assert_eq!(r.iter().map(|f| f.amount).sum::<u64>(), 50);
}

#[test]
fn update_keeps_what_the_head_has_left_up_to_the_new_budget() {
    let mut r = Refills::new(60, 100, 0, MIN, 0).unwrap();
    r.charge(20);
    r.update(30, 200, 1, 20).unwrap();
    assert_eq!(list(&r), [(20, 30)]);
    r.update(80, 200, 1, 25).unwrap();
    assert_eq!(list(&r), [(25, 30), (225, 50)]);
    assert_eq!(r.max_refills(), 3);
    assert!(r.update(300, 200, 1, 30).is_err());
}

/// The most a schedule of `[start, end)` runs inside any window one period long.
fn busiest_window(runs: &[(u64, u64)], period: u64) -> u64 {
    let within = |from: u64| -> u64 {
        let to = from + period;
        runs.iter()
            .map(|&(s, e)| e.min(to).saturating_sub(s.max(from)))
            .sum()
    };
    let starts = runs.iter().map(|&(s, _)| s);
    let ends = runs.iter().map(|&(_, e)| e.saturating_sub(period));
    starts.chain(ends).map(within).max().unwrap_or(0)
}

fn check_invariants(r: &Refills) {
    let refills: Vec<Refill> = r.iter().collect();
    assert!(refills.len() <= r.max_refills(), "{refills:?}");
    assert_eq!(refills.iter().map(|f| f.amount).sum::<u64>(), r.budget());
    assert!(refills[0].amount >= MIN, "{refills:?}");
    assert!(
        refills.windows(2).all(|w| w[0].release <= w[1].release),
        "{refills:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// A thread runs whenever its head is released, for a random burst cut
    /// short by the budget timer, then sleeps a random time (often none).
    #[test]
    fn budget_is_never_exceeded_in_any_window_of_one_period(
        period in MIN..2_000,
        budget_fraction in 1u64..=100,
        extra in 0u64..=(MAX_REFILLS - MIN_REFILLS) as u64,
        steps in proptest::collection::vec((1u64..500, prop_oneof![Just(0u64), 0u64..300]), 1..120),
    ) {
        let budget = (period * budget_fraction / 100).clamp(MIN, period);
        prop_assume!(budget < period);
        let mut r = Refills::new(budget, period, extra, MIN, 0).unwrap();
        let mut now = 0;
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for (burst, sleep) in steps {
            if !r.ready(now) {
                now = r.head().release;
            }
            r.unblock_check(now);
            let ran = burst.min(r.head().amount);
            match runs.last_mut() {
                Some(last) if last.1 == now => last.1 += ran,
                _ => runs.push((now, now + ran)),
            }
            now += ran;
            r.charge(ran);
            check_invariants(&r);
            now += sleep;
        }
        prop_assert!(busiest_window(&runs, period) <= budget, "runs {runs:?}");
    }
}
