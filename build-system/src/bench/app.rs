//! Benchmarks that are programs on Keel (`bench caps`, `bench ipc`): boot the
//! app in the root task's place under QEMU with `-icount shift=0,sleep=off`, so
//! its cycle counter counts guest instructions, read its
//! `BENCH <name> <N> <ticks>` lines, and summarise them.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use keel_abi::manifest::Start;
use serde::Serialize;

use super::plot::Figure;
use super::{report, Measurement};
use crate::arch::Arch;
use crate::build::{self, BuildArgs};
use crate::qemu::{self, Ending, QemuOptions, ICOUNT};
use crate::test::ArchChoice;

/// Longest the benchmark may run (`bench activities` runs 20 s of virtual
/// time, which x86_64 takes more than half an hour to emulate under `-icount`).
const TIMEOUT: Duration = Duration::from_secs(3600);

/// Options of the app benchmarks.
#[derive(Args, Clone, Debug)]
pub struct AppBenchArgs {
    /// Architecture(s) to measure.
    #[arg(long, value_enum, default_value_t = ArchChoice::All)]
    pub arch: ArchChoice,
    /// Build with the release profile.
    #[arg(long)]
    pub release: bool,
}

/// One `BENCH <name> <N> <ticks>` line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// What was measured.
    pub name: String,
    /// Its size parameter.
    pub n: u64,
    /// Counter ticks.
    pub ticks: u64,
}

/// Parses a benchmark line; other lines give `None`.
pub fn parse_sample(line: &str) -> Option<Sample> {
    let mut words = line.strip_prefix("BENCH ")?.split_whitespace();
    let name = words.next()?.to_string();
    let n = words.next()?.parse().ok()?;
    let ticks = words.next()?.parse().ok()?;
    words.next().is_none().then_some(Sample { name, n, ticks })
}

/// Groups samples by (name, N), in first-seen order, into measurements.
pub fn summarise(samples: &[Sample], unit: &str, accel: &str) -> Vec<Measurement> {
    let mut order = Vec::new();
    let mut groups: BTreeMap<(String, u64), Vec<f64>> = BTreeMap::new();
    for s in samples {
        let key = (s.name.clone(), s.n);
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(s.ticks as f64);
    }
    order
        .into_iter()
        .map(|key| {
            let mut m = Measurement::from_samples(&key.0, unit, &groups[&key]);
            m.n = Some(key.1);
            m.accelerator = Some(accel.to_string());
            m
        })
        .collect()
}

/// Builds the image that starts the app `bench-<what>` (in system.toml).
///
/// # Errors
/// A failed build.
fn build_app(root: &Path, what: &str, arch: Arch, release: bool) -> Result<std::path::PathBuf> {
    let build_args = BuildArgs {
        arch,
        release,
        app: Some(format!("bench-{what}")),
        app_crate: None,
    };
    build::build(root, &build_args, Start::System)
}

/// The QEMU options of every app benchmark: deterministic virtual time.
fn icount_options() -> QemuOptions {
    QemuOptions {
        extra: ICOUNT.map(String::from).to_vec(),
        ..QemuOptions::default()
    }
}

/// Runs the app benchmark `what` (the app `bench-<what>` in system.toml),
/// plotting each architecture's results with `plot`. With `kvm_too`, x86_64 runs a second time under KVM where KVM works
/// (`-enable-kvm -cpu host`, the counter then counts TSC cycles): a second
/// table, and its figures in the same JSON with accelerator `kvm`.
///
/// # Errors
/// A failed build, or a run that failed or did not finish.
pub fn run(
    root: &Path,
    what: &str,
    args: &AppBenchArgs,
    kvm_too: bool,
    plot: fn(&str, &[Measurement]) -> Figure,
) -> Result<()> {
    for arch in args.arch.arches() {
        let kernel = build_app(root, what, arch, args.release)?;
        let samples = boot_and_collect(root, what, arch, &kernel, &icount_options(), "tcg-icount")?;
        let mut results = summarise(&samples, "instructions", "tcg-icount");
        if kvm_too && arch == Arch::X86_64 {
            match qemu::kvm_unusable_reason() {
                Some(why) => println!("\n{what} on {arch} under KVM: skipped: {why}"),
                None => {
                    let opts = QemuOptions {
                        kvm: true,
                        ..QemuOptions::default()
                    };
                    let samples = boot_and_collect(root, what, arch, &kernel, &opts, "kvm")?;
                    results.extend(summarise(&samples, "cycles", "kvm"));
                }
            }
        }
        report(
            root,
            what,
            arch.name(),
            &results,
            &plot(arch.name(), &results),
        )?;
    }
    Ok(())
}

/// Runs the app benchmark `bench-<what>` under `-icount` on each of `args`'s
/// architectures: `measure` turns one architecture's samples into its results
/// and figure (printing what it will on the console), and these are written
/// to `target/bench/<what>-<arch>.{json,svg}`.
///
/// # Errors
/// A failed build or run, or an error from `measure`.
pub(super) fn run_icount<R: Serialize>(
    root: &Path,
    what: &str,
    args: &AppBenchArgs,
    mut measure: impl FnMut(Arch, &[Sample], &str) -> Result<(R, Figure)>,
) -> Result<()> {
    for arch in args.arch.arches() {
        let kernel = build_app(root, what, arch, args.release)?;
        let accel = "tcg-icount";
        let samples = boot_and_collect(root, what, arch, &kernel, &icount_options(), accel)?;
        let (results, figure) = measure(arch, &samples, accel)?;
        let json =
            serde_json::to_string_pretty(&results).context("could not encode the results")?;
        super::write_results(root, what, arch.name(), &json, &figure)?;
    }
    Ok(())
}

/// Boots `kernel` with `opts` and returns the app's samples.
pub(super) fn boot_and_collect(
    root: &Path,
    what: &str,
    arch: Arch,
    kernel: &Path,
    opts: &QemuOptions,
    accel: &str,
) -> Result<Vec<Sample>> {
    let cmd = qemu::command(arch, kernel, opts)?;
    std::fs::create_dir_all(root.join("target/bench"))?;
    let log = root.join(format!("target/bench/{what}-{arch}-{accel}.log"));
    let ended = |line: &str| line == "BENCH done" || line.starts_with("BENCH failed");
    let capture = qemu::run_captured(cmd, TIMEOUT, None, &format!("[{arch}] "), &log, ended)?;
    if !capture.lines.iter().any(|l| ended(l)) {
        let why = match capture.ending {
            Ending::TimedOut => format!("no result within {TIMEOUT:?}"),
            _ => "QEMU ended before the benchmark finished".to_string(),
        };
        bail!("{arch}: {why}; see {}", log.display());
    }
    samples(&capture.lines).map_err(|e| anyhow::anyhow!("{arch}: {e}; see {}", log.display()))
}

/// The samples of a finished run's console lines.
///
/// # Errors
/// The run reported a failure (`BENCH failed: ...`, which names the step or
/// row), panicked, or printed a `BENCH` line that is no sample: its figures
/// are not to be trusted.
pub fn samples(lines: &[String]) -> Result<Vec<Sample>> {
    if let Some(failed) = lines.iter().find(|l| l.starts_with("BENCH failed")) {
        bail!("{failed}");
    }
    if let Some(panic) = lines.iter().find(|l| l.starts_with("panic:")) {
        bail!("the benchmark panicked: {panic}");
    }
    let mut out = Vec::new();
    for line in lines.iter().filter(|l| l.starts_with("BENCH ")) {
        match parse_sample(line) {
            Some(s) => out.push(s),
            None if line == "BENCH done" => {}
            None => bail!("the benchmark printed a line that is no sample: {line:?}"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(ls: &[&str]) -> Vec<String> {
        ls.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn refuses_runs_that_reported_an_error() {
        let ok = lines(&["BENCH a 0 10", "KEEL: x", "BENCH done"]);
        assert_eq!(samples(&ok).unwrap().len(), 1);
        let failed = lines(&["BENCH a 0 10", "BENCH failed: call-fast 0: no answer"]);
        let e = samples(&failed).unwrap_err().to_string();
        assert!(e.contains("call-fast 0"), "{e}");
        assert!(samples(&lines(&["panic: at x", "BENCH done"])).is_err());
        assert!(samples(&lines(&["BENCH a zero 10", "BENCH done"])).is_err());
    }

    #[test]
    fn parses_and_groups_samples() {
        assert_eq!(
            parse_sample("BENCH revoke 100 1234"),
            Some(Sample {
                name: "revoke".into(),
                n: 100,
                ticks: 1234
            })
        );
        assert_eq!(parse_sample("BENCH revoke 100"), None);
        assert_eq!(parse_sample("BENCH revoke 100 12 extra"), None);
        assert_eq!(parse_sample("KEEL: x"), None);
        let samples: Vec<Sample> = [
            "BENCH a 1 10",
            "BENCH b 2 5",
            "BENCH a 1 30",
            "BENCH a 1 20",
        ]
        .iter()
        .filter_map(|l| parse_sample(l))
        .collect();
        let m = summarise(&samples, "instructions", "tcg-icount");
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].name.as_str(), m[0].n, m[0].median, m[0].max, m[0].runs),
            ("a", Some(1), 20.0, 30.0, 3)
        );
        assert_eq!((m[1].name.as_str(), m[1].n), ("b", Some(2)));
    }
}
