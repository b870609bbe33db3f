//! `cargo xtask bench teardown`: boots the `bench-teardown` app under
//! `-icount` and turns its rows into the process server's reclamation cost
//! table. Each row is one revoke of a group holding N objects of one kind in
//! their dearest state; a kind's cost per object is the largest
//! `(revoke - empty revoke) / N` of any sample (a CNode's cost per slot
//! comes from one full CNode), so the table bounds every sample it was made
//! from. It prints the table as `keel-process-core` holds it
//! (`servers/process/core/src/calibrated.rs`), writes
//! `target/bench/teardown-<arch>.json` and plots each kind's revoke and
//! longest stretch against N in `target/bench/teardown-<arch>.svg`.
//!
//! Against Linux (`bench linux`'s SIGKILL-to-`waitpid` figures, measured
//! under the same QEMU flags), each Keel kind with a Linux counterpart
//! (notification and eventfd, endpoint and pipe, thread and thread, mapped
//! frame and touched one-page mapping) compares median per-object slopes,
//! and the fixed parts compare the revoke of an empty group with killing a
//! process that made nothing. Without the Linux baseline (no network, no
//! cross compiler) those ratios are `null` and the bench says why. The
//! app then spawns a thousand processes through the process server (random
//! object mixes, or blocked in Send or Recv) and kills each: `kills` holds
//! every measured teardown beside its declared deadline, and the summary
//! the share that met it. The paper's Figure 2 ([`figure2`]: each object's
//! cap deleted in turn against one group revoke, per kind and N) goes in
//! `figure2` and `target/bench/teardown-figure2-<arch>.svg`; the quota
//! charge's share of an allocation through the process server ([`quota`])
//! in `quota` and the summary's `quota_overhead_percent`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};
use serde::Serialize;

use super::app::{run_icount, summarise, AppBenchArgs, Sample};
use super::linux::{self, ObjectKind, TeardownBaseline};
use super::plot::{Chart, Figure, Format, LineChart, Scale, Series};
use super::Measurement;

pub mod figure2;
pub mod quota;

use figure2::Figure2Row;
use quota::QuotaOverhead;

/// The row of a revoke of the empty group.
const EMPTY: &str = "empty";
/// The row whose N is the number of filled slots of one CNode.
const CNODE_SLOT: &str = "cnode-slot";

/// Each row's kind, as `keel_abi::ObjectType` names it.
const KINDS: [(&str, &str); 12] = [
    ("tcb", "Tcb"),
    ("endpoint", "Endpoint"),
    ("notification", "Notification"),
    ("cnode", "CNode"),
    ("sched-context", "SchedContext"),
    ("reply", "Reply"),
    ("vspace", "VSpace"),
    ("page-upper-directory", "PageUpperDirectory"),
    ("page-directory", "PageDirectory"),
    ("page-table", "PageTable"),
    ("small-page", "SmallPage"),
    ("large-page", "LargePage"),
];

/// One kind's calibrated cost.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct KindCost {
    /// The bench row (`reclaim-<row>`).
    pub row: String,
    /// The `ObjectType` it calibrates.
    pub object_type: String,
    /// Instructions per object: the largest of any sample.
    pub per_object: u64,
    /// The median samples' slope, for comparison with the worst case.
    pub per_object_median: f64,
    /// The longest stretch without a preemption point at the largest N over
    /// that at the smallest.
    pub longest_stretch_growth: f64,
}

/// Keel's kinds with a Linux counterpart.
const LINUX_PAIRS: [(&str, ObjectKind); 4] = [
    ("Notification", ObjectKind::Eventfd),
    ("Endpoint", ObjectKind::Pipe),
    ("Tcb", ObjectKind::Thread),
    ("SmallPage", ObjectKind::Mapping),
];

/// One kind's per-object cost beside its Linux counterpart's.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LinuxPair {
    /// Keel's `ObjectType`.
    pub keel: String,
    /// What the Linux process held.
    pub linux: ObjectKind,
    /// Keel's median slope, instructions per object.
    pub keel_per_object: f64,
    /// Linux's slope.
    pub linux_per_object: f64,
    /// Keel over Linux.
    pub ratio: f64,
}

/// The spawned processes' teardowns against their deadlines.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Kills {
    /// Processes killed.
    pub processes: usize,
    /// Those whose measured teardown was within the declared deadline.
    pub met: usize,
    /// Measured over declared: the median.
    pub tightness_median: f64,
    /// Measured over declared: the largest.
    pub tightness_max: f64,
    /// The median measured teardown, in instructions.
    pub measured_median: f64,
}

/// The ticks of rows `a` and `b` with the same N, in N's order (one per N:
/// each round has its own).
fn paired(samples: &[Sample], a: &str, b: &str) -> Vec<(u64, u64)> {
    let of = |name: &str| -> BTreeMap<u64, u64> {
        samples
            .iter()
            .filter(|s| s.name == name)
            .map(|s| (s.n, s.ticks))
            .collect()
    };
    let (first, second) = (of(a), of(b));
    first
        .iter()
        .filter_map(|(n, &x)| Some((x, *second.get(n)?)))
        .collect()
}

/// The `kill-measured` and `kill-deadline` rows, paired by their N.
fn kills(samples: &[Sample]) -> Option<Kills> {
    let pairs = paired(samples, "kill-measured", "kill-deadline");
    if pairs.is_empty() {
        return None;
    }
    let ratios: Vec<f64> = pairs
        .iter()
        .map(|&(m, d)| m as f64 / d.max(1) as f64)
        .collect();
    let spread = Measurement::from_samples("", "", &ratios);
    let measured: Vec<u64> = pairs.iter().map(|&(m, _)| m).collect();
    Some(Kills {
        processes: pairs.len(),
        met: pairs.iter().filter(|&&(m, d)| m <= d).count(),
        tightness_median: spread.median,
        tightness_max: spread.max,
        measured_median: median(&measured),
    })
}

/// The figures the issue asks for. Those a run could not measure are `None`
/// (the Linux ratios without the Linux baseline, the rest when the run
/// lacked their rows).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    /// The worst kind's per-object slope, Keel over Linux.
    pub per_object_over_linux_max: Option<f64>,
    /// The fixed part of a teardown, Keel over Linux.
    pub fixed_over_linux: Option<f64>,
    /// Spawned processes whose teardown met the declared deadline.
    pub deadline_met_percent: Option<f64>,
    /// Instructions the quota charge adds to an allocation through the
    /// process server, in percent: the median over the rounds.
    pub quota_overhead_percent: Option<f64>,
    /// The largest longest-stretch growth of any kind.
    pub longest_stretch_growth: f64,
}

/// Everything `bench teardown` reports for one architecture.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TeardownReport {
    /// How QEMU ran the guest.
    pub accelerator: String,
    /// The summary.
    pub summary: Summary,
    /// The revoke of the empty group: the table's fixed part.
    pub revoke_fixed: u64,
    /// Instructions per CNode slot (a full CNode's revoke over its slots).
    pub per_cnode_slot: u64,
    /// Every kind's cost.
    pub kinds: Vec<KindCost>,
    /// The spawned processes' teardowns, when the run had them.
    pub kills: Option<Kills>,
    /// Figure 2: each kind at each N, object by object and by one revoke.
    pub figure2: Vec<Figure2Row>,
    /// The quota charge against the allocation, when the run had it.
    pub quota: Option<QuotaOverhead>,
    /// The Linux kernel compared with, if its baseline was there.
    pub linux_kernel: Option<String>,
    /// Keel's kinds beside their Linux counterparts.
    pub linux_pairs: Vec<LinuxPair>,
    /// Every row's figures.
    pub measurements: Vec<Measurement>,
}

/// Samples by row name and N.
type Rows = BTreeMap<String, BTreeMap<u64, Vec<u64>>>;

fn rows(samples: &[Sample]) -> Rows {
    let mut rows = Rows::new();
    for s in samples {
        if let Some(row) = s.name.strip_prefix("reclaim-") {
            let by_n = rows.entry(row.to_string()).or_default();
            by_n.entry(s.n).or_default().push(s.ticks);
        }
    }
    rows
}

fn median(v: &[u64]) -> f64 {
    Measurement::from_samples("", "", &v.iter().map(|&t| t as f64).collect::<Vec<_>>()).median
}

/// The largest `(sample - fixed) / n` over a row's samples with `n > 0`, and
/// the same of the medians.
fn per_object(by_n: &BTreeMap<u64, Vec<u64>>, fixed: f64) -> (u64, f64) {
    let mut worst = 0u64;
    let mut median_worst = 0f64;
    for (&n, ticks) in by_n.iter().filter(|(n, _)| **n > 0) {
        let top = ticks.iter().copied().max().unwrap_or(0) as f64;
        worst = worst.max(((top - fixed).max(0.0) / n as f64).ceil() as u64);
        median_worst = median_worst.max((median(ticks) - fixed).max(0.0) / n as f64);
    }
    (worst, median_worst)
}

/// The median longest stretch at the row's largest N over that at its
/// smallest.
fn stretch_growth(rows: &Rows, row: &str) -> f64 {
    let Some(by_n) = rows.get(&format!("{row}-longest-stretch")) else {
        return f64::NAN;
    };
    match (by_n.values().next(), by_n.values().last()) {
        (Some(first), Some(last)) if median(first) > 0.0 => median(last) / median(first),
        _ => f64::NAN,
    }
}

/// The report of one architecture's samples.
///
/// # Errors
/// A row missing from the run.
pub fn report_from(samples: &[Sample], accel: &str) -> Result<TeardownReport> {
    let rows = rows(samples);
    let reclaim_rows: Vec<Sample> = samples
        .iter()
        .filter(|s| {
            !["kill-", figure2::PREFIX, "quota-"]
                .iter()
                .any(|p| s.name.starts_with(p))
        })
        .map(|s| Sample {
            name: s.name.clone(),
            n: s.n,
            ticks: s.ticks,
        })
        .collect();
    let kills = kills(samples);
    let quota = quota::overhead(samples);
    let Some(empty) = rows.get(EMPTY).and_then(|by_n| by_n.get(&0)) else {
        bail!("the run has no reclaim-{EMPTY} row");
    };
    let revoke_fixed = empty.iter().copied().max().unwrap_or(0);
    let fixed = median(empty);
    let mut kinds = Vec::new();
    for (row, object_type) in KINDS {
        let Some(by_n) = rows.get(row) else {
            bail!("the run has no reclaim-{row} row");
        };
        let (worst, median_slope) = per_object(by_n, fixed);
        kinds.push(KindCost {
            row: row.to_string(),
            object_type: object_type.to_string(),
            per_object: worst,
            per_object_median: median_slope,
            longest_stretch_growth: stretch_growth(&rows, row),
        });
    }
    let Some((&full, ticks)) = rows.get(CNODE_SLOT).and_then(|by_n| by_n.iter().last()) else {
        bail!("the run has no reclaim-{CNODE_SLOT} row");
    };
    let top = ticks.iter().copied().max().unwrap_or(0) as f64;
    let per_cnode_slot = ((top - fixed).max(0.0) / full as f64).ceil() as u64;
    let longest_stretch_growth = kinds
        .iter()
        .map(|k| k.longest_stretch_growth)
        .chain([stretch_growth(&rows, CNODE_SLOT)])
        .filter(|g| g.is_finite())
        .fold(0.0, f64::max);
    Ok(TeardownReport {
        accelerator: accel.to_string(),
        summary: Summary {
            per_object_over_linux_max: None,
            fixed_over_linux: None,
            deadline_met_percent: kills
                .as_ref()
                .map(|k| 100.0 * k.met as f64 / k.processes as f64),
            quota_overhead_percent: quota.as_ref().map(|q| q.percent_median),
            longest_stretch_growth,
        },
        revoke_fixed,
        per_cnode_slot,
        kinds,
        kills,
        figure2: figure2::rows(samples),
        quota,
        linux_kernel: None,
        linux_pairs: Vec::new(),
        measurements: summarise(&reclaim_rows, "instructions", accel),
    })
}

/// Fills in the comparison with Linux's teardown figures.
pub fn compare(r: &mut TeardownReport, linux: &TeardownBaseline) {
    r.linux_pairs = LINUX_PAIRS
        .iter()
        .filter_map(|&(keel, kind)| {
            let ours = r.kinds.iter().find(|k| k.object_type == keel)?;
            let theirs = linux.per_object(kind)?;
            Some(LinuxPair {
                keel: keel.to_string(),
                linux: kind,
                keel_per_object: ours.per_object_median,
                linux_per_object: theirs,
                ratio: ours.per_object_median / theirs,
            })
        })
        .collect();
    r.summary.per_object_over_linux_max = r.linux_pairs.iter().map(|p| p.ratio).reduce(f64::max);
    let fixed = r
        .measurements
        .iter()
        .find(|m| m.name == format!("reclaim-{EMPTY}"))
        .map(|m| m.median);
    r.summary.fixed_over_linux = fixed.map(|f| f / linux.fixed);
    r.linux_kernel = Some(linux.kernel.clone());
}

/// The table as `keel-process-core`'s `calibrated.rs` writes it for one
/// architecture: `KindCost`s in `ObjectType` order (Untyped first, never
/// charged).
pub fn table_source(r: &TeardownReport) -> String {
    let mut out = format!("CostTable::new(\n    {},\n    [\n", r.revoke_fixed);
    out.push_str("        cost(0, 0), // Untyped: never charged\n");
    for k in &r.kinds {
        let slot = if k.object_type == "CNode" {
            r.per_cnode_slot
        } else {
            0
        };
        out.push_str(&format!(
            "        cost({}, {slot}), // {}\n",
            k.per_object, k.object_type
        ));
    }
    out.push_str("    ],\n)");
    out
}

fn figure(arch: &str, r: &TeardownReport) -> Figure {
    let series = |suffix: &str| -> Vec<Series> {
        KINDS
            .iter()
            .map(|(row, _)| row.to_string())
            .chain([CNODE_SLOT.to_string()])
            .map(|row| Series {
                points: r
                    .measurements
                    .iter()
                    .filter(|m| m.name == format!("reclaim-{row}{suffix}"))
                    .filter_map(|m| Some((m.n? as f64, m.median)))
                    .collect(),
                name: row,
            })
            .collect()
    };
    let chart = |title: &str, note: &str, suffix: &str| LineChart {
        title: title.into(),
        note: Some(note.into()),
        x_label: "N, objects in the group (log scale)".into(),
        y_label: "instructions, median (log scale)".into(),
        x_scale: Scale::Log,
        y_scale: Scale::Log,
        format: Format::COUNT,
        series: series(suffix),
    };
    Figure {
        title: format!("cargo xtask bench teardown on {arch}"),
        charts: vec![
            Chart::Lines(chart(
                "One revoke of a group of N objects of one kind",
                "linear in N: the slope is the kind's reclamation cost per object",
                "",
            )),
            Chart::Lines(chart(
                "The kernel's longest stretch without a preemption point in that revoke",
                "must stay flat in N",
                "-longest-stretch",
            )),
        ],
    }
}

/// `cargo xtask bench teardown`.
///
/// # Errors
/// A failed build or run, or a missing row.
pub fn run(root: &Path, args: &AppBenchArgs) -> Result<()> {
    run_icount(root, "teardown", args, |arch, samples, accel| {
        let mut r = report_from(samples, accel)?;
        match linux::teardown_baseline(root, arch) {
            Ok(baseline) => compare(&mut r, &baseline),
            Err(e) => println!("\nno comparison with Linux on {arch}: {e:#}"),
        }
        super::print_table(&r.measurements);
        println!("\nreclamation costs on {arch} (instructions, worst sample):");
        println!(
            "{:<24} {:>12} {:>14} {:>16}",
            "kind", "per object", "median slope", "stretch growth"
        );
        for k in &r.kinds {
            println!(
                "{:<24} {:>12} {:>14.1} {:>16.2}",
                k.object_type, k.per_object, k.per_object_median, k.longest_stretch_growth
            );
        }
        println!(
            "per CNode slot: {}; revoke of the empty group: {}",
            r.per_cnode_slot, r.revoke_fixed
        );
        if let Some(k) = &r.kills {
            println!(
                "\n{} processes spawned and killed: {} within their declared deadline; \
                 measured over declared: median {:.3}, largest {:.3}; median teardown {:.0}",
                k.processes, k.met, k.tightness_median, k.tightness_max, k.measured_median
            );
        }
        figure2::print(arch.name(), &r.figure2);
        if let Some(q) = &r.quota {
            quota::print(arch.name(), q);
        }
        if let Some(kernel) = &r.linux_kernel {
            println!("\nagainst Linux {kernel} (median instructions per object):");
            for p in &r.linux_pairs {
                let linux = format!("{:?}", p.linux);
                println!(
                    "{:<14} {:>8.0}   {linux:<10} {:>8.0}   {:>5.2}",
                    p.keel, p.keel_per_object, p.linux_per_object, p.ratio
                );
            }
            let worst = r.summary.per_object_over_linux_max.unwrap_or(f64::NAN);
            let fixed = r.summary.fixed_over_linux.unwrap_or(f64::NAN);
            println!("per object, worst ratio {worst:.3}; fixed part {fixed:.4}");
        }
        println!(
            "\nthe table for servers/process/core/src/calibrated.rs ({arch}):\n{}",
            table_source(&r)
        );
        figure2::write_plot(root, arch.name(), &r.figure2)?;
        let chart = figure(arch.name(), &r);
        Ok((r, chart))
    })
}

#[cfg(test)]
mod tests;
