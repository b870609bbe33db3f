//! Host tests of the benchmarks' figures: each draws what its bench measured,
//! as well-formed SVG with the bars and points it should have.

use super::super::app::{parse_sample, summarise, Sample};
use super::super::plot::tests::well_formed;
use super::super::{sched, servers};
use super::*;

fn measurements(lines: &[&str], unit: &str, accel: &str) -> Vec<Measurement> {
    let samples: Vec<Sample> = lines.iter().filter_map(|l| parse_sample(l)).collect();
    summarise(&samples, unit, accel)
}

/// The figure's SVG, checked well-formed, and its number of bars and points.
fn drawn(f: &Figure) -> (String, usize, usize) {
    let svg = f.to_svg();
    if let Err(e) = well_formed(&svg) {
        panic!("{e}\n{svg}");
    }
    let bars = svg.matches(r#"class="bar""#).count();
    let points = svg.matches(r#"class="point""#).count();
    (svg, bars, points)
}

#[test]
fn ipc_groups_round_trips_by_kind_and_length_fast_beside_slow() {
    let mut m = measurements(
        &[
            "BENCH counter-overhead 0 3",
            "BENCH null-syscall 0 515",
            "BENCH call+replyrecv-fast 0 1076",
            "BENCH call-fast 0 528",
            "BENCH call+replyrecv-fast 10 2042",
            "BENCH call+replyrecv-slow 0 1826",
            "BENCH call+replyrecv-slow 10 1992",
            "BENCH call+replyrecv-xas-passive-slow 0 1659",
            "BENCH call+replyrecv-xas-passive-fast 0 468",
            "BENCH call+replyrecv-xas-passive-cold-fast 0 604",
            "BENCH signal-wait 0 606",
        ],
        "instructions",
        "tcg-icount",
    );
    m.extend(measurements(
        &["BENCH call+replyrecv-xas-passive-fast 0 900"],
        "cycles",
        "kvm",
    ));
    let figure = ipc("x86_64", &m);
    let Chart::Bars(tcg) = &figure.charts[0] else {
        panic!("bars expected");
    };
    let labels: Vec<&str> = tcg.groups.iter().map(|g| g.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "same address space, 0 words",
            "same address space, 10 words",
            "xas-passive, 0 words",
            "xas-passive-cold, 0 words"
        ]
    );
    let passive: Vec<(usize, f64)> = tcg.groups[2]
        .bars
        .iter()
        .map(|b| (b.series, b.value))
        .collect();
    assert_eq!(passive, [(0, 468.0), (1, 1659.0)], "fast above slow");
    let (svg, bars, _) = drawn(&figure);
    assert_eq!(bars, 7 + 1);
    for label in [
        "bench ipc on x86_64",
        "round trip (tcg-icount)",
        "round trip (kvm)",
        "null syscall (515)",
        "guest instructions, median",
        "cycles, median",
        "fast path",
    ] {
        assert!(svg.contains(label), "{label} missing");
    }
}

#[test]
fn caps_plots_both_revoke_curves_and_the_single_operations() {
    let m = measurements(
        &[
            "BENCH counter-overhead 0 3",
            "BENCH retype 1 1287",
            "BENCH copy 1 1099",
            "BENCH revoke 1 1395",
            "BENCH revoke-longest-stretch 1 834",
            "BENCH revoke 100 54063",
            "BENCH revoke-longest-stretch 100 838",
            "BENCH revoke 100000 53212699",
            "BENCH revoke-longest-stretch 100000 838",
        ],
        "instructions",
        "tcg-icount",
    );
    let (svg, bars, points) = drawn(&caps("aarch64", &m));
    assert_eq!((bars, points), (3, 6));
    for label in [
        "longest stretch between preemption points",
        "log scale",
        "retype",
    ] {
        assert!(svg.contains(label), "{label} missing");
    }
}

#[test]
fn sched_puts_configured_beside_measured_for_each_thread() {
    let samples: Vec<Sample> = [
        "BENCH counter-overhead 0 3",
        "BENCH call-active-server 0 1065",
        "BENCH call-passive-server 0 448",
        "BENCH share-50 500000 500200",
        "BENCH share-17 170000 169734",
        "BENCH enforcement 0 607",
    ]
    .iter()
    .filter_map(|l| parse_sample(l))
    .collect();
    let r = sched::report_from(&samples, "tcg-icount").unwrap();
    let (svg, bars, _) = drawn(&sched("x86_64", &r));
    assert_eq!(bars, 2 * 2 + 3, "two threads, three costs");
    for label in [
        "share-50",
        "50.00%",
        "50.02%",
        "17.00%",
        "0.421",
        "enforcement",
    ] {
        assert!(svg.contains(label), "{label} missing");
    }
    assert!(!svg.contains(COUNTER_OVERHEAD));
}

#[test]
fn servers_plots_raw_beside_stub_and_the_ratios_against_the_target() {
    let samples: Vec<Sample> = [
        "BENCH counter-overhead 0 3",
        "BENCH call-raw 0 497",
        "BENCH call-stub 0 579",
        "BENCH call-raw 8 1193",
        "BENCH call-stub 8 1353",
        "BENCH restart 0 136103",
    ]
    .iter()
    .filter_map(|l| parse_sample(l))
    .collect();
    let r = servers::report_from(&samples, "tcg-icount").unwrap();
    let (svg, bars, _) = drawn(&servers("x86_64", &r));
    assert_eq!(bars, 4 + 2);
    for label in [
        "empty request",
        "8 words",
        "keel-protocols stub",
        "1.165×",
        "target (1.100×)",
        "136,103",
    ] {
        assert!(svg.contains(label), "{label} missing");
    }
}

#[test]
fn boot_plots_time_with_its_spread_and_the_sizes() {
    let m = [
        Measurement::from_samples(
            "qemu start to root-task banner (tcg)",
            "ms",
            &[310.0, 290.0, 350.0],
        ),
        Measurement::from_samples("kernel image file (incl. boot archive)", "KiB", &[1024.0]),
    ];
    let (svg, bars, _) = drawn(&boot("x86_64", &m));
    assert_eq!(bars, 2);
    for label in ["median of 3 boots", "310 ms", "1,024 KiB"] {
        assert!(svg.contains(label), "{label} missing");
    }
}

#[test]
fn no_results_give_well_formed_figures() {
    for figure in [boot("x86_64", &[]), caps("x86_64", &[]), ipc("x86_64", &[])] {
        let (svg, bars, points) = drawn(&figure);
        assert_eq!((bars, points), (0, 0), "{svg}");
    }
}
