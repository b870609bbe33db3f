//! `cargo xtask bench mm`: boots the `bench-mm` app under `-icount` and
//! reports, per architecture, allocate + touch + free pairs of 1, 16 and
//! 256 pages through the memory-manager slaves, immediate (`allocate`:
//! mapped before the reply) and delayed (`reserve`: each touch faults and
//! the slave maps the page), with 1, 2 and 4 slaves and 1 to 16 clients,
//! in guest instructions per pair and in pairs per million guest
//! instructions (MMS's metric); and the load-balance experiment, MMS's
//! Table 2 ([`balance`]). JSON in `target/bench/mm-<arch>.json` (a
//! `summary`, every throughput row, the Linux comparison, the Table 2 rows
//! and every measurement), bar charts of throughput against clients per
//! slave count, one per mode and page count, in `mm-<arch>.svg`.
//!
//! The Linux comparison takes like with like from `bench linux`'s
//! baseline (measured, or its cached JSON): immediate against
//! `mmap(MAP_POPULATE)` + touch + `munmap` (mapped before the call
//! returns), delayed against plain `mmap` + touch + `munmap` (each touch a
//! page fault). Without the baseline (no network, no cross compiler) the
//! ratios are `null` and the bench says why.

mod balance;
#[cfg(test)]
mod tests;

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::app::{run_icount, summarise, AppBenchArgs, Sample};
use super::linux::MemoryMode;
use super::plot::{Bar, BarChart, Chart, Figure, Format, Group};
use super::Measurement;
use crate::arch::Arch;
pub use balance::BalanceRow;

/// The page counts measured.
pub const PAGES: [u64; 3] = [1, 16, 256];
/// The slave counts.
pub const SLAVES: [u64; 3] = [1, 2, 4];

/// How a pair takes its area.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `allocate`: mapped before the reply.
    Immediate,
    /// `reserve`: each page mapped at its first touch.
    Delayed,
}

impl Mode {
    /// Both, in the order the tables list them.
    pub const ALL: [Mode; 2] = [Mode::Immediate, Mode::Delayed];

    fn name(self) -> &'static str {
        match self {
            Mode::Immediate => "immediate",
            Mode::Delayed => "delayed",
        }
    }

    /// The Linux row measuring the same thing.
    pub fn linux(self) -> MemoryMode {
        match self {
            Mode::Immediate => MemoryMode::Populate,
            Mode::Delayed => MemoryMode::Immediate,
        }
    }

    /// How that Linux row maps its pages, for tables.
    fn linux_name(self) -> &'static str {
        match self {
            Mode::Immediate => "mmap(MAP_POPULATE)+touch+munmap",
            Mode::Delayed => "mmap+touch+munmap",
        }
    }
}

/// Linux's guest instructions per map + touch + unmap of [`PAGES`] pages
/// on one architecture, as `bench linux` measures them under the same QEMU
/// and `-icount` flags.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinuxBaseline {
    /// Per [`Mode`] (its [`Mode::linux`] row), per page count in order;
    /// `None` until measured.
    pub per_pair: Option<[[f64; 3]; 2]>,
}

impl LinuxBaseline {
    /// No Linux figures (the ratios are then `null`).
    pub const NOT_MEASURED: LinuxBaseline = LinuxBaseline { per_pair: None };
}

/// The figures the issue asks for.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    /// Keel's immediate instructions per 1-page pair (one slave, one
    /// client) over Linux's with `MAP_POPULATE`.
    pub immediate_1_over_linux: Option<f64>,
    /// The same for 16 pages.
    pub immediate_16_over_linux: Option<f64>,
    /// The same for 256 pages.
    pub immediate_256_over_linux: Option<f64>,
    /// Keel's delayed instructions per 1-page pair over Linux's plain
    /// `mmap` + touch + `munmap`.
    pub delayed_1_over_linux: Option<f64>,
    /// The same for 16 pages.
    pub delayed_16_over_linux: Option<f64>,
    /// The same for 256 pages.
    pub delayed_256_over_linux: Option<f64>,
    /// Share of slave-time overloaded under round-robin (Table 2).
    pub overloaded_ratio_rr: Option<f64>,
    /// The same under watermarks with LowMem 80% (HighMem 95%).
    pub overloaded_ratio_watermark_80: Option<f64>,
    /// The same with LowMem 90%.
    pub overloaded_ratio_watermark_90: Option<f64>,
    /// The same with LowMem 95%.
    pub overloaded_ratio_watermark_95: Option<f64>,
    /// Keel's median immediate instructions per pair, one slave and one
    /// client, for [`PAGES`] in order.
    pub immediate_instructions: [f64; 3],
    /// The same, delayed.
    pub delayed_instructions: [f64; 3],
}

/// One configuration's throughput.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Throughput {
    /// How the pair took its area.
    pub mode: Mode,
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

/// One row against Linux: one slave, one client.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AgainstLinux {
    /// Keel's mode.
    pub mode: Mode,
    /// Pages per pair.
    pub pages: u64,
    /// Keel's median instructions per pair.
    pub keel: f64,
    /// The Linux row it is compared with.
    pub linux_mode: MemoryMode,
    /// Linux's median instructions per pair.
    pub linux: Option<f64>,
    /// `keel / linux`.
    pub ratio: Option<f64>,
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
    /// Keel against Linux, per mode and page count.
    pub against_linux: Vec<AgainstLinux>,
    /// The load-balance experiment, per policy (MMS's Table 2).
    pub load_balance: Vec<BalanceRow>,
    /// Every throughput measurement, in guest instructions.
    pub measurements: Vec<Measurement>,
}

/// The row name of `mode` pairs of `pages` pages over `slaves` slaves.
fn row(mode: Mode, pages: u64, slaves: u64) -> String {
    format!("{}-{pages}p-{slaves}s", mode.name())
}

/// Builds the report from the app's samples and Linux's figures.
///
/// # Errors
/// When a measurement the app must print is missing.
pub fn report_from(samples: &[Sample], accel: &str, linux: LinuxBaseline) -> Result<MmReport> {
    let (balance_samples, pair_samples): (Vec<Sample>, Vec<Sample>) = samples
        .iter()
        .cloned()
        .partition(|s| s.name.starts_with(balance::PREFIX));
    let measurements = summarise(&pair_samples, "instructions", accel);
    let configurations = || {
        Mode::ALL.into_iter().flat_map(|m| {
            PAGES
                .iter()
                .flat_map(move |&p| SLAVES.iter().map(move |&s| (m, p, s)))
        })
    };
    let mut throughput = Vec::new();
    for m in &measurements {
        let Some((mode, pages, slaves)) =
            configurations().find(|&(o, p, s)| m.name == row(o, p, s))
        else {
            continue;
        };
        throughput.push(Throughput {
            mode,
            pages,
            slaves,
            clients: m.n.unwrap_or(1),
            instructions_per_pair: m.median,
            pairs_per_million: 1e6 / m.median.max(1.0),
        });
    }
    let single = |mode: Mode, i: usize| {
        throughput
            .iter()
            .find(|t| t.mode == mode && t.pages == PAGES[i] && t.slaves == 1 && t.clients == 1)
            .map(|t| t.instructions_per_pair)
            .with_context(|| format!("the app reported no `{} 1`", row(mode, PAGES[i], 1)))
    };
    let mut keel = [[0.0; 3]; 2];
    let mut against_linux = Vec::new();
    for (m, mode) in Mode::ALL.into_iter().enumerate() {
        for i in 0..PAGES.len() {
            keel[m][i] = single(mode, i)?;
            let l = linux.per_pair.map(|l| l[m][i]);
            against_linux.push(AgainstLinux {
                mode,
                pages: PAGES[i],
                keel: keel[m][i],
                linux_mode: mode.linux(),
                linux: l,
                ratio: l.map(|l| keel[m][i] / l),
            });
        }
    }
    let load_balance = balance::rows(&balance_samples)?;
    let ratio = |m: usize, i: usize| against_linux[m * PAGES.len() + i].ratio;
    let overloaded = |name: &str| {
        load_balance
            .iter()
            .find(|r| r.policy == name)
            .map(|r| r.overloaded_ratio)
    };
    let summary = Summary {
        immediate_1_over_linux: ratio(0, 0),
        immediate_16_over_linux: ratio(0, 1),
        immediate_256_over_linux: ratio(0, 2),
        delayed_1_over_linux: ratio(1, 0),
        delayed_16_over_linux: ratio(1, 1),
        delayed_256_over_linux: ratio(1, 2),
        overloaded_ratio_rr: overloaded("rr"),
        overloaded_ratio_watermark_80: overloaded("wm80"),
        overloaded_ratio_watermark_90: overloaded("wm90"),
        overloaded_ratio_watermark_95: overloaded("wm95"),
        immediate_instructions: keel[0],
        delayed_instructions: keel[1],
    };
    Ok(MmReport {
        accelerator: accel.to_string(),
        summary,
        throughput,
        against_linux,
        load_balance,
        measurements,
    })
}

/// Throughput against clients, one chart per mode and page count, one
/// series per slave count (as MMS's Figures 6 and 7).
fn chart(arch: &str, r: &MmReport) -> Figure {
    let charts = Mode::ALL
        .into_iter()
        .flat_map(|mode| PAGES.iter().map(move |&pages| (mode, pages)))
        .map(|(mode, pages)| {
            let mut groups: Vec<Group> = Vec::new();
            for t in r
                .throughput
                .iter()
                .filter(|t| t.mode == mode && t.pages == pages)
            {
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
            let how = match mode {
                Mode::Immediate => "Immediate (allocate)",
                Mode::Delayed => "Delayed (reserve, a fault per page)",
            };
            Chart::Bars(BarChart {
                title: format!("{how} + touch + free of {pages} pages"),
                note: None,
                axis_label: "pairs per million guest instructions, median".into(),
                format: Format {
                    decimals: if pages >= 256 { 2 } else { 1 },
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

/// Prints the throughput rows, the comparison with Linux and Table 2.
fn print(arch: Arch, r: &MmReport) {
    println!("\nmm on {arch}:");
    for t in &r.throughput {
        println!(
            "  {:>9} {:>3} pages, {} slaves, {:>2} clients: {:>9.0} instructions per pair, {:>7.1} pairs per million",
            t.mode.name(), t.pages, t.slaves, t.clients, t.instructions_per_pair, t.pairs_per_million
        );
    }
    println!("\nKeel against Linux, instructions per pair (one slave, one client):");
    for a in &r.against_linux {
        let fmt = |v: Option<f64>, d: usize| v.map_or("-".to_string(), |v| format!("{v:.d$}"));
        println!(
            "  {:>9} {:>3} pages: Keel {:>9.0}, Linux {:>33} {:>9}, Keel/Linux {}",
            a.mode.name(),
            a.pages,
            a.keel,
            a.mode.linux_name(),
            fmt(a.linux, 0),
            fmt(a.ratio, 2)
        );
    }
    balance::print(&r.load_balance);
}

/// `cargo xtask bench mm`.
///
/// # Errors
/// A failed build or run, or a missing measurement.
pub fn run(root: &Path, args: &AppBenchArgs) -> Result<()> {
    run_icount(root, "mm", args, |arch, samples, accel| {
        let r = report_from(samples, accel, linux_baseline(root, arch))?;
        print(arch, &r);
        let figure = chart(arch.name(), &r);
        Ok((r, figure))
    })
}

/// Linux's figures for `arch` from `bench linux`'s baseline; none, said on
/// the console, when they cannot be had.
fn linux_baseline(root: &Path, arch: Arch) -> LinuxBaseline {
    let baseline = match super::linux::memory_baseline(root, arch) {
        Ok(b) => b,
        Err(e) => {
            println!("\nno comparison with Linux on {arch}: {e:#}");
            return LinuxBaseline::NOT_MEASURED;
        }
    };
    let mut per_pair = [[0.0; 3]; 2];
    for (m, mode) in Mode::ALL.into_iter().enumerate() {
        for (i, &pages) in PAGES.iter().enumerate() {
            let Some(v) = baseline.instructions(mode.linux(), pages) else {
                println!("\nno comparison with Linux on {arch}: its baseline lacks {pages} pages");
                return LinuxBaseline::NOT_MEASURED;
            };
            per_pair[m][i] = v;
        }
    }
    LinuxBaseline {
        per_pair: Some(per_pair),
    }
}
