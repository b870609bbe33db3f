//! `cargo xtask bench mm`: boots the `bench-mm` app under `-icount` and
//! reports, per architecture, immediate allocate+free pairs of 1, 16 and
//! 256 pages through the memory-manager slaves, with 1, 2 and 4 slaves and
//! 1 to 16 clients, in guest instructions per pair and in pairs per
//! million guest instructions (MMS's metric). JSON in
//! `target/bench/mm-<arch>.json` (a `summary` and every row), a bar chart
//! of throughput against clients per slave count in `mm-<arch>.svg`.
//!
//! The summary's `immediate_*_over_linux` are Keel's instructions per pair
//! (one slave, one client) over Linux's for mmap + touch + munmap of the
//! same size, from `bench linux`'s baseline (measured, or its cached JSON);
//! without it (no network, no cross compiler) they are `null` and the
//! bench says why. The load-balance
//! ratios (`overloaded_ratio_*`) are not measured yet and are `null`.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::app::{run_icount, summarise, AppBenchArgs, Sample};
use super::plot::{Bar, BarChart, Chart, Figure, Format, Group};
use super::Measurement;
use crate::arch::Arch;

/// The page counts measured.
pub const PAGES: [u64; 3] = [1, 16, 256];
/// The slave counts.
pub const SLAVES: [u64; 3] = [1, 2, 4];

/// Linux's guest instructions per mmap + touch + munmap pair of 1, 16 and
/// 256 pages on one architecture, as the Linux baseline measures them
/// under the same QEMU and `-icount` flags; `None` until it has.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinuxBaseline {
    /// Per pair, for [`PAGES`] in order.
    pub per_pair: Option<[f64; 3]>,
}

impl LinuxBaseline {
    /// No Linux figures (the ratios are then `null`).
    pub const NOT_MEASURED: LinuxBaseline = LinuxBaseline { per_pair: None };
}

/// The figures the issue asks for.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    /// Keel's instructions per 1-page pair over Linux's.
    pub immediate_1_over_linux: Option<f64>,
    /// The same for 16 pages.
    pub immediate_16_over_linux: Option<f64>,
    /// The same for 256 pages.
    pub immediate_256_over_linux: Option<f64>,
    /// Share of time a slave was overloaded under round-robin (not measured).
    pub overloaded_ratio_rr: Option<f64>,
    /// The same under watermarks with LowMem 90% (not measured).
    pub overloaded_ratio_watermark_90: Option<f64>,
    /// Keel's median instructions per pair, one slave and one client, for
    /// [`PAGES`] in order.
    pub immediate_instructions: [f64; 3],
}

/// One configuration's throughput.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Throughput {
    /// Pages per pair.
    pub pages: u64,
    /// Slaves.
    pub slaves: u64,
    /// Clients.
    pub clients: u64,
    /// Median guest instructions per pair.
    pub instructions_per_pair: f64,
    /// Pairs per million guest instructions.
    pub pairs_per_million: f64,
}

/// Everything `bench mm` reports for one architecture.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MmReport {
    /// How QEMU ran the guest.
    pub accelerator: String,
    /// The headline figures.
    pub summary: Summary,
    /// Every configuration's throughput.
    pub throughput: Vec<Throughput>,
    /// Every measurement, in guest instructions.
    pub measurements: Vec<Measurement>,
}

/// The row name of immediate pairs of `pages` pages over `slaves` slaves.
fn row(pages: u64, slaves: u64) -> String {
    format!("immediate-{pages}p-{slaves}s")
}

/// Builds the report from the app's samples and Linux's figures.
///
/// # Errors
/// When a measurement the app must print is missing.
pub fn report_from(samples: &[Sample], accel: &str, linux: LinuxBaseline) -> Result<MmReport> {
    let measurements = summarise(samples, "instructions", accel);
    let mut throughput = Vec::new();
    for m in &measurements {
        let Some((pages, slaves)) = PAGES
            .iter()
            .flat_map(|&p| SLAVES.iter().map(move |&s| (p, s)))
            .find(|&(p, s)| m.name == row(p, s))
        else {
            continue;
        };
        throughput.push(Throughput {
            pages,
            slaves,
            clients: m.n.unwrap_or(1),
            instructions_per_pair: m.median,
            pairs_per_million: 1e6 / m.median.max(1.0),
        });
    }
    let single = |pages: u64| {
        throughput
            .iter()
            .find(|t| t.pages == pages && t.slaves == 1 && t.clients == 1)
            .map(|t| t.instructions_per_pair)
            .with_context(|| format!("the app reported no `{} 1`", row(pages, 1)))
    };
    let immediate_instructions = [single(1)?, single(16)?, single(256)?];
    let over = |i: usize| linux.per_pair.map(|l| immediate_instructions[i] / l[i]);
    let summary = Summary {
        immediate_1_over_linux: over(0),
        immediate_16_over_linux: over(1),
        immediate_256_over_linux: over(2),
        overloaded_ratio_rr: None,
        overloaded_ratio_watermark_90: None,
        immediate_instructions,
    };
    Ok(MmReport {
        accelerator: accel.to_string(),
        summary,
        throughput,
        measurements,
    })
}

/// Throughput against clients, one chart per page count, one series per
/// slave count (as MMS's Figures 6 and 7).
fn chart(arch: &str, r: &MmReport) -> Figure {
    let charts = PAGES
        .iter()
        .map(|&pages| {
            let mut groups: Vec<Group> = Vec::new();
            for t in r.throughput.iter().filter(|t| t.pages == pages) {
                let label = format!("{} clients", t.clients);
                let bar = Bar {
                    series: SLAVES.iter().position(|&s| s == t.slaves).unwrap_or(0),
                    value: t.pairs_per_million,
                    range: None,
                };
                match groups.iter_mut().find(|g| g.label == label) {
                    Some(g) => g.bars.push(bar),
                    None => groups.push(Group {
                        label,
                        bars: vec![bar],
                    }),
                }
            }
            Chart::Bars(BarChart {
                title: format!("Immediate allocate + free of {pages} pages"),
                note: None,
                axis_label: "pairs per million guest instructions, median".into(),
                format: Format {
                    decimals: 1,
                    suffix: "",
                },
                series: SLAVES.iter().map(|s| format!("{s} slaves")).collect(),
                groups,
                references: Vec::new(),
            })
        })
        .collect();
    Figure {
        title: format!("cargo xtask bench mm on {arch}"),
        charts,
    }
}

/// `cargo xtask bench mm`.
///
/// # Errors
/// A failed build or run, or a missing measurement.
pub fn run(root: &Path, args: &AppBenchArgs) -> Result<()> {
    run_icount(root, "mm", args, |arch, samples, accel| {
        let r = report_from(samples, accel, linux_baseline(root, arch))?;
        println!("\nmm on {arch}:");
        for t in &r.throughput {
            println!(
                "  {:>3} pages, {} slaves, {:>2} clients: {:>9.0} instructions per pair, {:>7.1} pairs per million",
                t.pages, t.slaves, t.clients, t.instructions_per_pair, t.pairs_per_million
            );
        }
        let figure = chart(arch.name(), &r);
        Ok((r, figure))
    })
}

/// Linux's immediate-mode figures for `arch` from `bench linux`'s
/// baseline; none, said on the console, when it cannot be had.
fn linux_baseline(root: &Path, arch: Arch) -> LinuxBaseline {
    let baseline = match super::linux::memory_baseline(root, arch) {
        Ok(b) => b,
        Err(e) => {
            println!("\nno comparison with Linux on {arch}: {e:#}");
            return LinuxBaseline::NOT_MEASURED;
        }
    };
    let per = |pages| baseline.instructions(super::linux::MemoryMode::Immediate, pages);
    match (per(PAGES[0]), per(PAGES[1]), per(PAGES[2])) {
        (Some(a), Some(b), Some(c)) => LinuxBaseline {
            per_pair: Some([a, b, c]),
        },
        _ => {
            println!("\nno comparison with Linux on {arch}: its baseline lacks a page count");
            LinuxBaseline::NOT_MEASURED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::app::parse_sample;

    fn samples() -> Vec<Sample> {
        let mut lines = Vec::new();
        for p in PAGES {
            lines.push(format!("BENCH immediate-{p}p-1s 1 {}", p * 1000));
            lines.push(format!("BENCH immediate-{p}p-1s 1 {}", p * 1000 + 10));
            lines.push(format!("BENCH immediate-{p}p-2s 4 {}", p * 900));
        }
        lines.iter().filter_map(|l| parse_sample(l)).collect()
    }

    #[test]
    fn ratios_come_from_the_linux_baseline_or_are_null() {
        let r = report_from(&samples(), "tcg-icount", LinuxBaseline::NOT_MEASURED).unwrap();
        assert_eq!(r.summary.immediate_1_over_linux, None);
        assert_eq!(
            r.summary.immediate_instructions,
            [1005.0, 16005.0, 256005.0]
        );
        let linux = LinuxBaseline {
            per_pair: Some([2010.0, 32010.0, 256005.0]),
        };
        let r = report_from(&samples(), "tcg-icount", linux).unwrap();
        assert_eq!(r.summary.immediate_1_over_linux, Some(0.5));
        assert_eq!(r.summary.immediate_256_over_linux, Some(1.0));
        let t = r
            .throughput
            .iter()
            .find(|t| t.slaves == 2 && t.pages == 16)
            .unwrap();
        assert_eq!((t.clients, t.instructions_per_pair), (4, 14400.0));
        let json = serde_json::to_value(&r).unwrap();
        for key in [
            "immediate_1_over_linux",
            "immediate_16_over_linux",
            "immediate_256_over_linux",
            "overloaded_ratio_rr",
            "overloaded_ratio_watermark_90",
        ] {
            assert!(json["summary"].get(key).is_some(), "{key}");
        }
        assert!(!chart("x86_64", &r).charts.is_empty());
    }

    #[test]
    fn a_missing_row_is_an_error_naming_it() {
        let s: Vec<Sample> = samples()
            .into_iter()
            .filter(|s| s.name != "immediate-16p-1s")
            .collect();
        let e = report_from(&s, "tcg-icount", LinuxBaseline::NOT_MEASURED)
            .unwrap_err()
            .to_string();
        assert!(e.contains("immediate-16p-1s 1"), "{e}");
    }
}
