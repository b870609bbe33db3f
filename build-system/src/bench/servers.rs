//! `cargo xtask bench servers`: boots the `bench-servers` app under
//! `-icount` and reports, per architecture, the round trip of a request
//! through keel-protocols' generated stubs to a passive server process
//! against the raw Call/ReplyRecv round trip to the same kind of server in
//! the same run (empty, and carrying eight words), and what one restart of
//! a server by init (keel-init) costs, from its fault reaching init to the
//! first request the new instance answers. JSON in
//! `target/bench/servers-<arch>.json`: a `summary` object (the two ratios
//! and the restart's median) and every measurement; a plot of both round
//! trips and the ratios against [`STUB_TARGET`] in `servers-<arch>.svg`.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::app::{run_icount, summarise, AppBenchArgs, Sample};
use super::Measurement;

/// The issue's target: a stub round trip costs at most this many raw round trips.
pub const STUB_TARGET: f64 = 1.1;

/// The figures the issue asks for.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    /// Median stub round trip over median raw round trip, empty requests.
    pub stub_over_raw_empty: f64,
    /// The same for requests carrying eight words.
    pub stub_over_raw_8words: f64,
    /// Median instructions of one restart.
    pub restart_instructions: f64,
}

/// Everything `bench servers` reports for one architecture.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ServersReport {
    /// How QEMU ran the guest.
    pub accelerator: String,
    /// The headline figures.
    pub summary: Summary,
    /// Every measurement, in guest instructions.
    pub measurements: Vec<Measurement>,
}

/// Builds the report from the app's samples.
///
/// # Errors
/// When a measurement the app must print is missing.
pub fn report_from(samples: &[Sample], accel: &str) -> Result<ServersReport> {
    let measurements = summarise(samples, "instructions", accel);
    let median = |name: &str, n: u64| {
        measurements
            .iter()
            .find(|m| m.name == name && m.n == Some(n))
            .map(|m| m.median)
            .with_context(|| format!("the app reported no `{name} {n}`"))
    };
    let ratio = |n: u64| -> Result<f64> { Ok(median("call-stub", n)? / median("call-raw", n)?) };
    let summary = Summary {
        stub_over_raw_empty: ratio(0)?,
        stub_over_raw_8words: ratio(8)?,
        restart_instructions: median("restart", 0)?,
    };
    Ok(ServersReport {
        accelerator: accel.to_string(),
        summary,
        measurements,
    })
}

/// `cargo xtask bench servers`.
///
/// # Errors
/// A failed build or run, or a missing measurement.
pub fn run(root: &Path, args: &AppBenchArgs) -> Result<()> {
    run_icount(root, "servers", args, |arch, samples, accel| {
        let r = report_from(samples, accel)?;
        println!("\nservers on {arch}:");
        super::print_table(&r.measurements);
        let s = &r.summary;
        println!(
            "stub / raw round trip: empty {:.3}, 8 words {:.3}; one restart: {:.0} instructions",
            s.stub_over_raw_empty, s.stub_over_raw_8words, s.restart_instructions
        );
        let figure = super::charts::servers(arch.name(), &r);
        Ok((r, figure))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::app::parse_sample;

    fn samples(lines: &[&str]) -> Vec<Sample> {
        lines.iter().filter_map(|l| parse_sample(l)).collect()
    }

    #[test]
    fn ratios_are_of_medians_within_the_run() {
        let s = samples(&[
            "BENCH counter-overhead 0 20",
            "BENCH call-raw 0 400",
            "BENCH call-stub 0 440",
            "BENCH call-raw 8 1000",
            "BENCH call-stub 8 1050",
            "BENCH call-raw 0 500",
            "BENCH call-stub 0 460",
            "BENCH call-raw 8 1000",
            "BENCH call-stub 8 1150",
            "BENCH call-raw 0 420",
            "BENCH call-stub 0 480",
            "BENCH restart 0 90000",
            "BENCH restart 0 70000",
        ]);
        let r = report_from(&s, "tcg-icount").unwrap();
        assert!((r.summary.stub_over_raw_empty - 460.0 / 420.0).abs() < 1e-9);
        assert!((r.summary.stub_over_raw_8words - 1.1).abs() < 1e-9);
        assert_eq!(r.summary.restart_instructions, 80000.0);
        assert_eq!(r.measurements.len(), 6);
    }

    #[test]
    fn the_summary_is_a_top_level_object_with_the_issue_s_names() {
        let s = samples(&[
            "BENCH call-raw 0 400",
            "BENCH call-stub 0 400",
            "BENCH call-raw 8 1000",
            "BENCH call-stub 8 1000",
            "BENCH restart 0 5",
        ]);
        let json = serde_json::to_value(report_from(&s, "tcg-icount").unwrap()).unwrap();
        let summary = json["summary"].as_object().unwrap();
        for key in [
            "stub_over_raw_empty",
            "stub_over_raw_8words",
            "restart_instructions",
        ] {
            assert!(summary[key].is_number(), "{key}");
        }
    }

    #[test]
    fn a_missing_measurement_is_an_error_naming_it() {
        let s = samples(&[
            "BENCH call-raw 0 400",
            "BENCH call-stub 0 400",
            "BENCH call-raw 8 1000",
            "BENCH call-stub 8 1000",
        ]);
        let e = report_from(&s, "tcg-icount").unwrap_err().to_string();
        assert!(e.contains("restart 0"), "{e}");
        let e = report_from(&s[..3], "tcg-icount").unwrap_err().to_string();
        assert!(e.contains("call-stub 8"), "{e}");
    }
}
