//! Host tests of `bench mm`'s report: the rows, the Linux ratios (like
//! with like), Table 2 and the summary's keys.

use super::*;
use crate::bench::app::parse_sample;

fn samples() -> Vec<Sample> {
    let mut lines = Vec::new();
    for p in PAGES {
        lines.push(format!("BENCH immediate-{p}p-1s 1 {}", p * 1000));
        lines.push(format!("BENCH immediate-{p}p-1s 1 {}", p * 1000 + 10));
        lines.push(format!("BENCH immediate-{p}p-2s 4 {}", p * 900));
        lines.push(format!("BENCH delayed-{p}p-1s 1 {}", p * 3000));
        lines.push(format!("BENCH delayed-{p}p-4s 16 {}", p * 3100));
    }
    for (policy, overloaded) in [("rr", 400), ("wm80", 300), ("wm90", 200), ("wm95", 100)] {
        lines.push(format!(
            "BENCH balance-{policy}-overloaded 4000 {overloaded}"
        ));
        lines.push(format!("BENCH balance-{policy}-refused 200 10"));
        lines.push(format!("BENCH balance-{policy}-oom 190 12"));
        lines.push(format!("BENCH balance-{policy}-moved 48 7"));
    }
    lines.iter().filter_map(|l| parse_sample(l)).collect()
}

#[test]
fn ratios_come_from_the_linux_baseline_like_with_like_or_are_null() {
    let r = report_from(&samples(), "tcg-icount", LinuxBaseline::NOT_MEASURED).unwrap();
    assert_eq!(r.summary.immediate_1_over_linux, None);
    assert_eq!(r.summary.delayed_256_over_linux, None);
    assert_eq!(
        r.summary.immediate_instructions,
        [1005.0, 16005.0, 256005.0]
    );
    assert_eq!(r.summary.delayed_instructions, [3000.0, 48000.0, 768000.0]);
    // Immediate against MAP_POPULATE, delayed against plain mmap.
    let linux = LinuxBaseline {
        per_pair: Some([[2010.0, 32010.0, 256005.0], [6000.0, 24000.0, 768000.0]]),
    };
    let r = report_from(&samples(), "tcg-icount", linux).unwrap();
    assert_eq!(r.summary.immediate_1_over_linux, Some(0.5));
    assert_eq!(r.summary.immediate_256_over_linux, Some(1.0));
    assert_eq!(r.summary.delayed_1_over_linux, Some(0.5));
    assert_eq!(r.summary.delayed_16_over_linux, Some(2.0));
    let delayed = r
        .against_linux
        .iter()
        .find(|a| a.mode == Mode::Delayed)
        .unwrap();
    assert_eq!(delayed.linux_mode, MemoryMode::Immediate);
    assert_eq!(Mode::Immediate.linux(), MemoryMode::Populate);
    let t = r
        .throughput
        .iter()
        .find(|t| t.slaves == 2 && t.pages == 16)
        .unwrap();
    assert_eq!(
        (t.mode, t.clients, t.instructions_per_pair),
        (Mode::Immediate, 4, 14400.0)
    );
    let t = r
        .throughput
        .iter()
        .find(|t| t.mode == Mode::Delayed && t.slaves == 4)
        .unwrap();
    assert_eq!((t.pages, t.clients), (1, 16));
    let json = serde_json::to_value(&r).unwrap();
    for key in [
        "immediate_1_over_linux",
        "immediate_16_over_linux",
        "immediate_256_over_linux",
        "delayed_1_over_linux",
        "overloaded_ratio_rr",
        "overloaded_ratio_watermark_80",
        "overloaded_ratio_watermark_90",
        "overloaded_ratio_watermark_95",
    ] {
        assert!(json["summary"].get(key).is_some(), "{key}");
    }
    let figure = chart("x86_64", &r);
    assert_eq!(figure.charts.len(), Mode::ALL.len() * PAGES.len());
    let Chart::Bars(bars) = &figure.charts[PAGES.len()] else {
        panic!("not a bar chart");
    };
    assert_eq!(bars.series.len(), SLAVES.len(), "{:?}", bars.series);
    assert!(bars.title.starts_with("Delayed"), "{}", bars.title);
}

#[test]
fn table_2_rows_and_the_summary_ratios() {
    let r = report_from(&samples(), "tcg-icount", LinuxBaseline::NOT_MEASURED).unwrap();
    assert_eq!(r.summary.overloaded_ratio_rr, Some(0.1));
    assert_eq!(r.summary.overloaded_ratio_watermark_80, Some(0.075));
    assert_eq!(r.summary.overloaded_ratio_watermark_90, Some(0.05));
    assert_eq!(r.summary.overloaded_ratio_watermark_95, Some(0.025));
    let wm90 = r.load_balance.iter().find(|b| b.policy == "wm90").unwrap();
    assert_eq!(
        (wm90.low_permille, wm90.high_permille),
        (Some(900), Some(950))
    );
    assert_eq!(
        (wm90.refused, wm90.requests, wm90.refused_ratio),
        (10, 200, 0.05)
    );
    assert_eq!((wm90.out_of_memory, wm90.moves), (12, 7));
    let rr = &r.load_balance[0];
    assert_eq!((rr.policy.as_str(), rr.low_permille), ("rr", None));
    // The experiment's lines are not throughput measurements.
    assert!(r
        .measurements
        .iter()
        .all(|m| !m.name.starts_with("balance")));
}

#[test]
fn a_missing_row_is_an_error_naming_it() {
    for missing in ["immediate-16p-1s", "delayed-256p-1s", "balance-wm80-oom"] {
        let s: Vec<Sample> = samples()
            .into_iter()
            .filter(|s| s.name != missing)
            .collect();
        let e = report_from(&s, "tcg-icount", LinuxBaseline::NOT_MEASURED)
            .unwrap_err()
            .to_string();
        assert!(e.contains(missing), "{e}");
    }
}
