//! Host tests of the teardown report: the cost table, the Linux ratios,
//! Figure 2 and the quota overhead.

use super::*;
use crate::bench::app::parse_sample;

fn samples(lines: &[&str]) -> Vec<Sample> {
    lines.iter().filter_map(|l| parse_sample(l)).collect()
}

#[test]
fn costs_bound_every_sample() {
    let mut lines = vec![
        "BENCH reclaim-empty 0 1000".to_string(),
        "BENCH reclaim-empty 0 1200".to_string(),
        "BENCH reclaim-cnode-slot 1 1500".to_string(),
        "BENCH reclaim-cnode-slot 1024 52_100".replace('_', ""),
    ];
    for (row, _) in KINDS {
        lines.push(format!("BENCH reclaim-{row} 1 1600"));
        lines.push(format!("BENCH reclaim-{row} 16 3000"));
        lines.push(format!("BENCH reclaim-{row} 16 4300"));
        lines.push(format!("BENCH reclaim-{row}-longest-stretch 1 400"));
        lines.push(format!("BENCH reclaim-{row}-longest-stretch 16 440"));
    }
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let r = report_from(&samples(&lines), "tcg-icount").unwrap();
    assert_eq!(r.revoke_fixed, 1200);
    // Median empty 1100: N = 1 gives 500, N = 16 gives (4300 - 1100) / 16 = 200.
    assert!(r.kinds.iter().all(|k| k.per_object == 500));
    // (52100 - 1100) / 1024, rounded up.
    assert_eq!(r.per_cnode_slot, 50);
    assert!((r.summary.longest_stretch_growth - 1.1).abs() < 1e-9);
    assert_eq!(r.summary.deadline_met_percent, None);
    let mut with_kills = lines.clone();
    with_kills.extend([
        "BENCH kill-measured 0 900",
        "BENCH kill-deadline 0 1000",
        "BENCH kill-measured 1 1100",
        "BENCH kill-deadline 1 1000",
    ]);
    let k = report_from(&samples(&with_kills), "tcg-icount").unwrap();
    assert_eq!(k.summary.deadline_met_percent, Some(50.0));
    let kills = k.kills.unwrap();
    assert_eq!((kills.processes, kills.met), (2, 1));
    assert!((kills.tightness_max - 1.1).abs() < 1e-9);
    assert!(k.measurements.iter().all(|m| !m.name.starts_with("kill-")));
    let src = table_source(&r);
    assert!(src.starts_with("CostTable::new(\n    1200,"));
    assert!(src.contains("cost(500, 50), // CNode"));
    assert_eq!(src.matches("cost(").count(), 13);
}

#[test]
fn linux_ratios_take_the_medians() {
    let mut lines = vec!["BENCH reclaim-empty 0 1000".to_string()];
    lines.push("BENCH reclaim-cnode-slot 4 2000".into());
    for (row, _) in KINDS {
        lines.push(format!("BENCH reclaim-{row} 10 3000"));
    }
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let mut r = report_from(&samples(&lines), "tcg-icount").unwrap();
    let linux: TeardownBaseline = serde_json::from_str(
        r#"{"kernel": "6.1", "fixed": 50000.0, "kinds": [
            {"kind": "eventfd", "per_object": 100.0, "intercept": 0.0, "points": []},
            {"kind": "thread", "per_object": 2000.0, "intercept": 0.0, "points": []}]}"#,
    )
    .unwrap();
    compare(&mut r, &linux);
    // Every kind's slope is (3000 - 1000) / 10 = 200.
    assert_eq!(r.linux_pairs.len(), 2);
    assert_eq!(r.summary.per_object_over_linux_max, Some(2.0));
    assert_eq!(r.summary.fixed_over_linux, Some(0.02));
}

#[test]
fn a_missing_row_is_an_error() {
    let s = samples(&["BENCH reclaim-empty 0 1000", "BENCH reclaim-tcb 1 2000"]);
    let e = report_from(&s, "tcg-icount").unwrap_err().to_string();
    assert!(e.contains("reclaim-endpoint"), "{e}");
}

/// The rows every report needs, for tests of the other parts.
fn reclaim_lines() -> Vec<String> {
    let mut lines = vec![
        "BENCH reclaim-empty 0 1000".to_string(),
        "BENCH reclaim-cnode-slot 4 2000".to_string(),
    ];
    for (row, _) in KINDS {
        lines.push(format!("BENCH reclaim-{row} 10 3000"));
    }
    lines
}

#[test]
fn figure2_pairs_both_ways_by_kind_and_n() {
    let mut lines = reclaim_lines();
    lines.extend(
        [
            "BENCH fig2-tcb-each 1 900",
            "BENCH fig2-tcb-group 1 1000",
            "BENCH fig2-tcb-each 10 9000",
            "BENCH fig2-tcb-each 10 11000",
            "BENCH fig2-tcb-group 10 2000",
            "BENCH fig2-mix-each 1000 800000",
            "BENCH fig2-mix-group 1000 400000",
            "BENCH fig2-mix-each 100 80000",
            "BENCH fig2-mix-group 100 40000",
            // Measured one way only: left out.
            "BENCH fig2-reply-each 1 700",
        ]
        .map(String::from),
    );
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let r = report_from(&samples(&lines), "tcg-icount").unwrap();
    let got: Vec<(&str, u64, f64)> = r
        .figure2
        .iter()
        .map(|f| (f.kind.as_str(), f.n, f.ratio))
        .collect();
    assert_eq!(
        got,
        [
            ("tcb", 1, 0.9),
            ("tcb", 10, 5.0),
            ("mix", 100, 2.0),
            ("mix", 1000, 2.0)
        ]
    );
    assert_eq!(r.figure2[1].each, 10_000.0);
    let top: Vec<(&str, u64)> = figure2::largest(&r.figure2)
        .iter()
        .map(|f| (f.kind.as_str(), f.n))
        .collect();
    assert_eq!(top, [("tcb", 10), ("mix", 1000)]);
    assert!(r.measurements.iter().all(|m| !m.name.starts_with("fig2-")));
    let svg = figure2::figure("x86_64", &r.figure2).to_svg();
    assert!(svg.contains("tcb: teardown of N objects") && svg.contains("one revoke of the group"));
}

#[test]
fn quota_overhead_is_the_median_rounds_charge_over_the_rest() {
    let mut lines = reclaim_lines();
    let rounds = [(0, 1100, 100), (1, 1030, 30), (2, 1020, 20)];
    for (i, total, charge) in rounds {
        lines.push(format!("BENCH quota-alloc-charged {i} {total}"));
        lines.push(format!("BENCH quota-charge {i} {charge}"));
    }
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let r = report_from(&samples(&lines), "tcg-icount").unwrap();
    let q = r.quota.as_ref().unwrap();
    // Round 1: 30 over 1000 uncharged.
    assert_eq!(r.summary.quota_overhead_percent, Some(3.0));
    assert_eq!((q.rounds, q.percent_max), (3, 10.0));
    assert_eq!(
        (q.charged_median, q.uncharged_median, q.charge_median),
        (1030.0, 1000.0, 30.0)
    );
    assert!(r.measurements.iter().all(|m| !m.name.starts_with("quota-")));
    let without = report_from(&samples(&lines[..reclaim_lines().len()]), "tcg-icount").unwrap();
    assert_eq!(without.summary.quota_overhead_percent, None);
}
