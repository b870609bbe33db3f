//! `cargo xtask bench sched`: boots the `bench-sched` app under `-icount`
//! and reports, per architecture, the share each CPU-bound thread got
//! against the share its scheduling context was configured with (medians
//! over the app's windows of one second of virtual time), the cost of budget
//! enforcement, and a Call to a passive server against one to a server with
//! its own context, as a table, as JSON in `target/bench/sched-<arch>.json`
//! and plotted in `target/bench/sched-<arch>.svg`.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::app::{run_icount, summarise, AppBenchArgs, Sample};
use super::Measurement;

/// One thread's share, configured and measured.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Share {
    /// The thread (by its configured share in percent).
    pub name: String,
    /// Budget / period.
    pub configured_share: f64,
    /// Median over the windows of the thread's part of all accounted time.
    pub measured_share: f64,
    /// Smallest and largest over the windows.
    pub min: f64,
    /// Largest over the windows.
    pub max: f64,
    /// Measured less configured, in percentage points (median).
    pub deviation_points: f64,
    /// Windows measured.
    pub windows: usize,
}

/// Everything `bench sched` reports for one architecture.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SchedReport {
    /// How QEMU ran the guest.
    pub accelerator: String,
    /// Per thread.
    pub shares: Vec<Share>,
    /// Enforcement and Call costs, in guest instructions.
    pub overheads: Vec<Measurement>,
    /// Median passive-server Call over median active-server Call.
    pub passive_over_active: f64,
}

/// Builds the report from the app's samples.
///
/// # Errors
/// When a measurement the app must print is missing.
pub fn report_from(samples: &[Sample], accel: &str) -> Result<SchedReport> {
    let (share_lines, cost_lines): (Vec<&Sample>, Vec<&Sample>) =
        samples.iter().partition(|s| s.name.starts_with("share-"));
    let owned = |v: Vec<&Sample>| -> Vec<Sample> {
        v.into_iter()
            .map(|s| Sample {
                name: s.name.clone(),
                n: s.n,
                ticks: s.ticks,
            })
            .collect()
    };
    let shares: Vec<Share> = summarise(&owned(share_lines), "ppm", accel)
        .into_iter()
        .map(|m| {
            let configured = m.n.unwrap_or(0) as f64 / 1e6;
            Share {
                name: m.name.clone(),
                configured_share: configured,
                measured_share: m.median / 1e6,
                min: m.min / 1e6,
                max: m.max / 1e6,
                deviation_points: (m.median / 1e6 - configured) * 100.0,
                windows: m.runs,
            }
        })
        .collect();
    if shares.is_empty() {
        bail!("the app reported no shares");
    }
    let overheads: Vec<Measurement> = summarise(&owned(cost_lines), "instructions", accel)
        .into_iter()
        .map(|mut m| {
            m.n = None;
            m
        })
        .collect();
    let median = |name: &str| {
        overheads
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.median)
            .with_context(|| format!("the app reported no `{name}`"))
    };
    let passive_over_active = median("call-passive-server")? / median("call-active-server")?;
    median("enforcement")?;
    Ok(SchedReport {
        accelerator: accel.to_string(),
        shares,
        overheads,
        passive_over_active,
    })
}

/// `cargo xtask bench sched`.
///
/// # Errors
/// A failed build or run, or a missing measurement.
pub fn run(root: &Path, args: &AppBenchArgs) -> Result<()> {
    run_icount(root, "sched", args, |arch, samples, accel| {
        let r = report_from(samples, accel)?;
        println!("\nsched on {arch}:");
        println!(
            "{:<12} {:>11} {:>11} {:>9} {:>9} {:>10} {:>7}",
            "thread", "configured", "measured", "min", "max", "deviation", "windows"
        );
        for s in &r.shares {
            println!(
                "{:<12} {:>10.2}% {:>10.2}% {:>8.2}% {:>8.2}% {:>+9.2}pp {:>7}",
                s.name,
                s.configured_share * 100.0,
                s.measured_share * 100.0,
                s.min * 100.0,
                s.max * 100.0,
                s.deviation_points,
                s.windows
            );
        }
        super::print_table(&r.overheads);
        println!(
            "passive-server Call / active-server Call: {:.3}",
            r.passive_over_active
        );
        let figure = super::charts::sched(arch.name(), &r);
        Ok((r, figure))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::app::parse_sample;

    #[test]
    fn shares_and_costs_become_a_report() {
        let lines = [
            "BENCH call-active-server 0 1000",
            "BENCH call-passive-server 0 900",
            "BENCH share-50 500000 499000",
            "BENCH share-50 500000 497000",
            "BENCH share-50 500000 498000",
            "BENCH enforcement 0 1500",
        ];
        let samples: Vec<Sample> = lines.iter().filter_map(|l| parse_sample(l)).collect();
        let r = report_from(&samples, "tcg-icount").unwrap();
        assert_eq!(r.shares.len(), 1);
        let s = &r.shares[0];
        assert_eq!(
            (s.configured_share, s.measured_share, s.windows),
            (0.5, 0.498, 3)
        );
        assert!((s.deviation_points + 0.2).abs() < 1e-9);
        assert!((r.passive_over_active - 0.9).abs() < 1e-9);
        assert!(
            report_from(&samples[2..], "x").is_err(),
            "missing call costs"
        );
    }
}
