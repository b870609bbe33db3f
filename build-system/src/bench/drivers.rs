//! `cargo xtask bench drivers`: boots the `bench-drivers` app under
//! `-icount` and reports, per architecture, the latency of a device's
//! interrupt to the first instruction of the user-level thread that
//! handles it (sel4bench's `irquser` method: a spinner below the handler
//! stamps the cycle counter, the handler stamps its wake), and the cost of
//! a sleep round trip through the timer server (keel-rt's `sleep(0)`: the
//! clock, a timeout already due, the signal, the wait, the expiry read),
//! with how late a real sleep of 100 us wakes. JSON in
//! `target/bench/drivers-<arch>.json`: a `summary` object holding exactly
//! `irq_latency_instructions` and `sleep_round_trip_instructions`
//! (medians), then every measurement; a bar per measurement in
//! `drivers-<arch>.svg`.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::app::{run_icount, summarise, AppBenchArgs, Sample};
use super::Measurement;

/// The figures the issue asks for.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    /// Median instructions from a device's interrupt to its handler thread.
    pub irq_latency_instructions: f64,
    /// Median instructions of a sleep round trip through the timer server.
    pub sleep_round_trip_instructions: f64,
}

/// Everything `bench drivers` reports for one architecture.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DriversReport {
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
pub fn report_from(samples: &[Sample], accel: &str) -> Result<DriversReport> {
    let measurements = summarise(samples, "instructions", accel);
    let median = |name: &str| {
        measurements
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.median)
            .with_context(|| format!("the app reported no `{name}`"))
    };
    let summary = Summary {
        irq_latency_instructions: median("irq-latency")?,
        sleep_round_trip_instructions: median("sleep-round-trip")?,
    };
    Ok(DriversReport {
        accelerator: accel.to_string(),
        summary,
        measurements,
    })
}

/// `cargo xtask bench drivers`.
///
/// # Errors
/// A failed build or run, or a missing measurement.
pub fn run(root: &Path, args: &AppBenchArgs) -> Result<()> {
    run_icount(root, "drivers", args, |arch, samples, accel| {
        let r = report_from(samples, accel)?;
        println!("\ndrivers on {arch}:");
        super::print_table(&r.measurements);
        let s = &r.summary;
        println!(
            "interrupt to handler thread: {:.0} instructions; sleep round trip: {:.0} instructions",
            s.irq_latency_instructions, s.sleep_round_trip_instructions
        );
        let figure = super::charts::drivers(arch.name(), &r);
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
    fn the_summary_holds_exactly_the_issue_s_medians() {
        let s = samples(&[
            "BENCH counter-overhead 0 20",
            "BENCH irq-latency 0 900",
            "BENCH irq-latency 0 700",
            "BENCH irq-latency 0 800",
            "BENCH sleep-round-trip 0 3000",
            "BENCH sleep-late 100000 5000",
        ]);
        let r = report_from(&s, "tcg-icount").unwrap();
        assert_eq!(r.summary.irq_latency_instructions, 800.0);
        assert_eq!(r.summary.sleep_round_trip_instructions, 3000.0);
        let json = serde_json::to_value(&r).unwrap();
        let summary = json["summary"].as_object().unwrap();
        let mut keys: Vec<&str> = summary.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["irq_latency_instructions", "sleep_round_trip_instructions"]
        );
    }

    #[test]
    fn a_missing_measurement_is_an_error_naming_it() {
        let s = samples(&["BENCH irq-latency 0 900"]);
        let e = report_from(&s, "tcg-icount").unwrap_err().to_string();
        assert!(e.contains("sleep-round-trip"), "{e}");
    }
}
