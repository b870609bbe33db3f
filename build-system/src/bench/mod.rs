//! `cargo xtask bench ...`: measurements that boot the system and report
//! medians over repeated runs, printed as a table, written as JSON to
//! `target/bench/<what>-<arch>.json` and plotted beside it as
//! `target/bench/<what>-<arch>.svg`. Benchmarks never assert on time; they
//! report it.

mod activities;
mod app;
mod boot;
mod charts;
mod drivers;
mod linux;
mod mm;
mod plot;
mod sched;
mod servers;
mod teardown;

use std::path::Path;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};

use plot::Figure;

/// Options of `cargo xtask bench`.
#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// What to measure.
    #[command(subcommand)]
    pub what: BenchWhat,
}

/// The benchmarks.
#[derive(Subcommand, Clone, Debug)]
pub enum BenchWhat {
    /// Wall-clock time from QEMU start to the root task's banner, and the image size.
    Boot(boot::BootBenchArgs),
    /// Capability operations and revoke of N children, in guest instructions (-icount).
    Caps(app::AppBenchArgs),
    /// IPC round trips, one-way costs and Signal to Wait, in guest instructions
    /// (-icount); on x86_64 also in cycles under KVM, where KVM works.
    Ipc(app::AppBenchArgs),
    /// MCS: shares of 50/33/17% budgets, enforcement cost, passive vs active server Calls (-icount).
    Sched(app::AppBenchArgs),
    /// Requests through keel-protocols' stubs against raw Call/ReplyRecv to a
    /// passive server process, and one server restart (-icount).
    Servers(app::AppBenchArgs),
    /// Activities under the scheduler server: Vortex's Figure 8 shares per
    /// window of 1 s, with one thread and four, and the server's costs (-icount).
    Activities(app::AppBenchArgs),
    /// Teardown: each object kind's reclamation cost (one revoke of a group
    /// of N objects), the process server's cost table (-icount).
    Teardown(app::AppBenchArgs),
    /// Linux on the same emulator and flags (Debian's kernel, a static C /init):
    /// map-touch-unmap and SIGKILL teardown costs that `mm` and `teardown` compare with.
    Linux(linux::LinuxBenchArgs),
    /// User-level drivers: a device interrupt to its handler thread, and a
    /// sleep round trip through the timer server (-icount).
    Drivers(app::AppBenchArgs),
    /// The memory managers: immediate allocate + free pairs of 1, 16 and 256
    /// pages with 1, 2 and 4 slaves and 1 to 16 clients (-icount).
    Mm(app::AppBenchArgs),
}

/// One reported figure.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Measurement {
    /// What was measured.
    pub name: String,
    /// The size parameter, where the measurement has one.
    #[serde(rename = "N", skip_serializing_if = "Option::is_none")]
    pub n: Option<u64>,
    /// Unit of the figures.
    pub unit: String,
    /// Median over the runs.
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Largest value.
    pub max: f64,
    /// Number of runs.
    pub runs: usize,
    /// How QEMU ran the guest (`tcg-icount`, `kvm`), where it matters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accelerator: Option<String>,
}

impl Measurement {
    /// Summarises `samples` (at least one).
    pub fn from_samples(name: &str, unit: &str, samples: &[f64]) -> Measurement {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = match n {
            0 => f64::NAN,
            _ if n % 2 == 1 => sorted[n / 2],
            _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        Measurement {
            name: name.to_string(),
            n: None,
            unit: unit.to_string(),
            median,
            min: sorted.first().copied().unwrap_or(f64::NAN),
            p90: sorted
                .get((n * 9).div_ceil(10).saturating_sub(1))
                .copied()
                .unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
            runs: n,
            accelerator: None,
        }
    }
}

/// `cargo xtask bench`.
///
/// # Errors
/// A failed build or boot.
pub fn run(root: &Path, args: &BenchArgs) -> Result<()> {
    crate::setup::ensure(root)?;
    match &args.what {
        BenchWhat::Boot(a) => boot::run(root, a),
        BenchWhat::Caps(a) => app::run(root, "caps", a, false, charts::caps),
        BenchWhat::Ipc(a) => app::run(root, "ipc", a, true, charts::ipc),
        BenchWhat::Sched(a) => sched::run(root, a),
        BenchWhat::Servers(a) => servers::run(root, a),
        BenchWhat::Mm(a) => mm::run(root, a),
        BenchWhat::Activities(a) => activities::run(root, a),
        BenchWhat::Teardown(a) => teardown::run(root, a),
        BenchWhat::Linux(a) => linux::run(root, a),
        BenchWhat::Drivers(a) => drivers::run(root, a),
    }
}

/// Prints `results` as a table, writes them as JSON to
/// `target/bench/<what>-<arch>.json` and `figure` beside it as `.svg`.
///
/// # Errors
/// If a file cannot be written.
pub fn report(
    root: &Path,
    what: &str,
    arch: &str,
    results: &[Measurement],
    figure: &Figure,
) -> Result<()> {
    // One table per accelerator, in the order they first appear.
    let mut accelerators: Vec<Option<&str>> = Vec::new();
    for m in results {
        if !accelerators.contains(&m.accelerator.as_deref()) {
            accelerators.push(m.accelerator.as_deref());
        }
    }
    for accel in accelerators {
        match accel {
            Some(a) => println!("\n{what} on {arch} ({a}):"),
            None => println!("\n{what} on {arch}:"),
        }
        let table: Vec<Measurement> = results
            .iter()
            .filter(|m| m.accelerator.as_deref() == accel)
            .cloned()
            .collect();
        print_table(&table);
    }
    let json = serde_json::to_string_pretty(results).context("could not encode the results")?;
    write_results(root, what, arch, &json, figure)
}

/// Prints measurements as a table.
pub fn print_table(results: &[Measurement]) {
    println!(
        "{:<40} {:>8} {:>12} {:>12} {:>12} {:>12} {:>5}  unit",
        "measurement", "N", "median", "min", "p90", "max", "runs"
    );
    for m in results {
        let n = m.n.map_or(String::new(), |n| n.to_string());
        println!(
            "{:<40} {:>8} {:>12.1} {:>12.1} {:>12.1} {:>12.1} {:>5}  {}",
            m.name, n, m.median, m.min, m.p90, m.max, m.runs, m.unit
        );
    }
}

/// Writes `json` to `target/bench/<what>-<arch>.json` and `figure` to
/// `target/bench/<what>-<arch>.svg`, and prints both paths.
///
/// # Errors
/// If a file cannot be written.
pub fn write_results(
    root: &Path,
    what: &str,
    arch: &str,
    json: &str,
    figure: &Figure,
) -> Result<()> {
    write_file(root, &format!("{what}-{arch}.json"), json)?;
    write_file(root, &format!("{what}-{arch}.svg"), &figure.to_svg())
}

/// Writes `text` to `target/bench/<name>` under `root` (making the
/// directory), and prints its path.
///
/// # Errors
/// If the directory or the file cannot be written.
pub fn write_file(root: &Path, name: &str, text: &str) -> Result<()> {
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("could not write {}", path.display()))?;
    println!("written to {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let m = Measurement::from_samples("x", "ms", &[5.0, 1.0, 3.0]);
        assert_eq!((m.median, m.min, m.max, m.runs), (3.0, 1.0, 5.0, 3));
        let m = Measurement::from_samples("x", "ms", &[4.0, 1.0, 3.0, 2.0]);
        assert_eq!(m.median, 2.5);
    }
}
