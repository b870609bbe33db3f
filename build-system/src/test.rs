//! `cargo xtask test`: runs the host tests, then boots the on-target suite on
//! each architecture, reruns the tests that need a boot of their own, writes
//! JUnit XML and the serial logs to `target/test-results/`, and prints the
//! closing `N passed, N failed` line. Reading the logs is `serial_log.rs`'s job.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use keel_abi::manifest::Start;

use crate::arch::Arch;
use crate::build::{self, BuildArgs, Target, UserPrograms};
use crate::qemu::{self, Capture, Ending, QemuOptions};
use crate::serial_log::{
    judge_run, parse_suite, unfinished, IsolatedWatch, Status, SuiteLog, TestResult,
};
use crate::{cargo, junit};

/// How long the whole suite may run in one boot.
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

/// How long the suite may print nothing before the running test counts as
/// hung (no test comes near it: the slowest prints within a few seconds).
const HANG_LIMIT: Duration = Duration::from_secs(60);

/// How long an isolated test's boot may run.
const ISOLATED_TIMEOUT: Duration = Duration::from_secs(60);
/// Extra QEMU arguments for every test boot: the timing tests run under
/// `-icount` (one instruction, one nanosecond of virtual time; idle time
/// skipped), so their results do not depend on the host's load.
const EXTRA_QEMU_ARGS: &[&str] = &crate::qemu::ICOUNT;
/// How many serial lines a boot failure quotes.
const TAIL_LINES: usize = 20;

/// Which architectures to test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ArchChoice {
    /// x86_64 only.
    #[value(name = "x86_64")]
    X86_64,
    /// aarch64 only.
    #[value(name = "aarch64")]
    Aarch64,
    /// Both.
    All,
}

impl ArchChoice {
    /// The architectures this choice names.
    pub fn arches(self) -> Vec<Arch> {
        match self {
            ArchChoice::X86_64 => vec![Arch::X86_64],
            ArchChoice::Aarch64 => vec![Arch::Aarch64],
            ArchChoice::All => Arch::ALL.to_vec(),
        }
    }
}

/// Options of `cargo xtask test`.
#[derive(Args, Clone, Debug)]
pub struct TestArgs {
    /// Architecture(s) to boot the suite on.
    #[arg(long, value_enum, default_value_t = ArchChoice::All)]
    pub arch: ArchChoice,
    /// Build with the release profile.
    #[arg(long)]
    pub release: bool,
    /// Skip the host tests (for iterating on the on-target suite).
    #[arg(long)]
    pub skip_host: bool,
    /// Run only this on-target test (repeatable; e.g. `--only SCHED0001`).
    #[arg(long = "only", value_name = "NAME")]
    pub only: Vec<String>,
}

/// The on-target results of one architecture.
#[derive(Default)]
struct ArchOutcome {
    results: Vec<TestResult>,
    log: String,
}

impl ArchOutcome {
    /// Records a boot failure as a failed test called `boot`.
    fn boot_failure(&mut self, reason: String) {
        self.failure("boot", reason);
    }

    /// Records a failure of the run as a whole as a failed test called `name`.
    fn failure(&mut self, name: &str, reason: String) {
        eprintln!("{name} failure: {reason}");
        self.results.push(TestResult {
            name: name.into(),
            status: Status::Failed(reason),
        });
    }

    fn count(&self, pred: fn(&Status) -> bool) -> usize {
        self.results.iter().filter(|r| pred(&r.status)).count()
    }
}

/// `cargo xtask test`.
///
/// # Errors
/// Failing host tests, or I/O errors writing results. Target test failures are
/// reported and give a failing exit code instead.
pub fn run(root: &Path, args: &TestArgs) -> Result<ExitCode> {
    crate::setup::ensure(root)?;
    if args.skip_host {
        println!("skipping the host tests (--skip-host)");
    } else {
        println!("running host tests (cargo test)");
        cargo::run(cargo::command(root).arg("test"), "host tests (cargo test)")
            .context("host tests failed; fix them before the on-target tests run")?;
    }

    let dir = root.join("target/test-results");
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let arches = args.arch.arches();
    let mut summaries = Vec::new();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for arch in arches {
        let mut outcome = ArchOutcome::default();
        if let Err(e) = test_arch(root, arch, args, &dir, &mut outcome) {
            outcome.boot_failure(format!("{e:#}"));
        }
        let xml = dir.join(format!("{arch}.xml"));
        junit::write(&xml, arch, &outcome.results, &outcome.log)?;
        let (p, f, s) = (
            outcome.count(|s| *s == Status::Passed),
            outcome.count(|s| matches!(s, Status::Failed(_))),
            outcome.count(|s| matches!(s, Status::Skipped(_))),
        );
        let mut text = format!(
            "{arch}: {p} passed, {f} failed, {s} skipped (JUnit: {})",
            xml.display()
        );
        for r in &outcome.results {
            if let Status::Failed(reason) = &r.status {
                let first = reason.lines().next().unwrap_or_default();
                text.push_str(&format!("\n    FAILED {}: {first}", r.name));
            }
        }
        summaries.push(text);
        (passed, failed, skipped) = (passed + p, failed + f, skipped + s);
    }
    println!();
    for s in &summaries {
        println!("{s}");
    }
    let mut closing = format!("{passed} passed, {failed} failed");
    if skipped > 0 {
        closing.push_str(&format!(", {skipped} skipped"));
    }
    println!("{closing}");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Builds and boots the suite on `arch`, then each isolated test, then judges
/// the run across its boots (see [`judge_run`]).
fn test_arch(
    root: &Path,
    arch: Arch,
    args: &TestArgs,
    dir: &Path,
    out: &mut ArchOutcome,
) -> Result<()> {
    let release = args.release;
    let target = Target {
        root: root.to_path_buf(),
        arch,
        release,
    };
    let build_args = BuildArgs {
        arch,
        release,
        app: None,
        app_crate: None,
    };
    let user = build::user_programs(&target, &build_args)?;
    let mut isolated_tests: Vec<String> = Vec::new();
    let mut resume_after: Option<String> = None;
    let mut boots: Vec<SuiteLog> = Vec::new();
    for boot_number in 0.. {
        let start = Start::Tests {
            only: args.only.clone(),
            resume_after: resume_after.clone(),
        };
        let kernel = build::image(&target, &user, start)?;
        let log_path = match boot_number {
            0 => dir.join(format!("{arch}.log")),
            n => dir.join(format!("{arch}-resumed-{n}.log")),
        };
        println!(
            "booting the test suite on {arch} (log: {})",
            log_path.display()
        );
        let (suite, lines, resumable) = suite_boot(arch, &kernel, &log_path, out)?;
        for name in &suite.isolated {
            if !isolated_tests.contains(name) {
                isolated_tests.push(name.clone());
            }
        }
        boots.push(suite);
        match resumable {
            Some(name) => {
                let reason = hang_reason(&lines);
                println!("test {name} hung on {arch} ({reason}); resuming the suite after it");
                if let Some(r) = out.results.iter_mut().rev().find(|r| r.name == name) {
                    r.status = Status::Failed(format!("hung: {reason}"));
                }
                resume_after = Some(name);
            }
            None => break,
        }
    }
    for name in &isolated_tests {
        let (result, lines) = isolated(&target, &user, name, dir).unwrap_or_else(|e| {
            let status = Status::Failed(format!("{e:#}"));
            let result = TestResult {
                name: name.clone(),
                status,
            };
            (result, Vec::new())
        });
        out.log.push_str(&format!(
            "\n--- isolated boot of {name} ---\n{}",
            lines.join("\n")
        ));
        out.results.push(result);
    }
    for problem in judge_run(&boots, &isolated_tests) {
        out.failure("judging", problem);
    }
    Ok(())
}

/// One boot of the suite: records its results and log in `out`, judges the
/// boot, and returns the parsed log, its lines, and the test to resume after
/// when the boot stopped because that test hung (the kernel went idle, or
/// nothing was printed for [`HANG_LIMIT`]).
fn suite_boot(
    arch: Arch,
    kernel: &Path,
    log_path: &Path,
    out: &mut ArchOutcome,
) -> Result<(SuiteLog, Vec<String>, Option<String>)> {
    // The suite runs in the root task: once the kernel idles, nothing will
    // print again, so stop there instead of waiting for the timeout.
    let mut went_idle = false;
    let capture = boot(
        arch,
        kernel,
        SUITE_TIMEOUT,
        Some(HANG_LIMIT),
        log_path,
        |line| {
            went_idle = line.contains(crate::serial_log::KERNEL_IDLE);
            went_idle
        },
    )?;
    if !out.log.is_empty() {
        out.log.push_str("\n--- suite resumed ---\n");
    }
    out.log.push_str(&capture.lines.join("\n"));
    let suite = parse_suite(&capture.lines);
    out.results.extend(suite.results.iter().cloned());
    for wrong in &suite.host_verdicts {
        if let Some(r) = out.results.iter_mut().rev().find(|r| r.name == wrong.name) {
            r.status = wrong.status.clone();
        }
    }
    let hung = matches!(capture.ending, Ending::Quiet) || went_idle;
    if let (true, Some(name)) = (hung, unfinished(&capture.lines)) {
        let name = name.to_string();
        return Ok((suite, capture.lines, Some(name)));
    }
    let ended = match &capture.ending {
        Ending::TimedOut => Err(format!("timed out after {} s", SUITE_TIMEOUT.as_secs())),
        Ending::Quiet => Err(format!("nothing printed for {} s", HANG_LIMIT.as_secs())),
        Ending::Exited(status) => {
            qemu::system_status(arch, status.code()).map_err(|e| format!("{e:#}"))
        }
        Ending::Stopped if went_idle => Err("every thread stopped and the kernel went idle".into()),
        Ending::Stopped => Ok(0),
    };
    let failed = out.count(|s| matches!(s, Status::Failed(_)));
    let problem = judge_boot(suite.reached, suite.summary.is_some(), failed, ended);
    if let Some(problem) = problem {
        out.boot_failure(format!(
            "{problem}; last serial lines:\n{}",
            tail(&capture.lines)
        ));
    }
    Ok((suite, capture.lines, None))
}

/// Why the running test counts as hung, from the end of its boot's log.
fn hang_reason(lines: &[String]) -> String {
    if lines
        .iter()
        .any(|l| l.contains(crate::serial_log::KERNEL_IDLE))
    {
        "every thread stopped and the kernel went idle".into()
    } else {
        format!("nothing printed for {} s", HANG_LIMIT.as_secs())
    }
}

/// Builds and boots the image that runs only `name`, and judges its kernel report.
/// Returns the result and the boot's serial lines.
fn isolated(
    target: &Target,
    user: &UserPrograms,
    name: &str,
    dir: &Path,
) -> Result<(TestResult, Vec<String>)> {
    let arch = target.arch;
    println!("rebuilding for the isolated test {name} on {arch}");
    let kernel = build::image(
        target,
        user,
        Start::Tests {
            only: vec![name.to_string()],
            resume_after: None,
        },
    )?;
    let log_path = dir.join(format!("{arch}-{name}.log"));
    let mut watch = IsolatedWatch::new(name);
    let capture = boot(arch, &kernel, ISOLATED_TIMEOUT, None, &log_path, |line| {
        watch.feed(line)
    })?;
    let mut status = watch.finish();
    if let (Status::Failed(reason), false) =
        (&mut status, matches!(capture.ending, Ending::Stopped))
    {
        let how = match &capture.ending {
            Ending::TimedOut => format!("boot timed out after {} s", ISOLATED_TIMEOUT.as_secs()),
            Ending::Exited(s) => format!("QEMU exited ({s})"),
            Ending::Stopped => String::new(),
            Ending::Quiet => "nothing printed for too long".into(),
        };
        reason.push_str(&format!(" ({how})"));
        eprintln!(
            "isolated test {name} failed: {reason}; last serial lines:\n{}",
            tail(&capture.lines)
        );
    }
    let result = TestResult {
        name: name.to_string(),
        status,
    };
    Ok((result, capture.lines))
}

/// Boots `kernel` with the serial console captured to `log`.
fn boot(
    arch: Arch,
    kernel: &Path,
    timeout: Duration,
    quiet: Option<Duration>,
    log: &Path,
    stop: impl FnMut(&str) -> bool,
) -> Result<Capture> {
    let opts = QemuOptions {
        extra: EXTRA_QEMU_ARGS.iter().map(|s| s.to_string()).collect(),
        ..QemuOptions::default()
    };
    let cmd = qemu::command(arch, kernel, &opts)?;
    qemu::run_captured(cmd, timeout, quiet, &format!("[{arch}] "), log, stop)
}

/// What is wrong with a suite boot as a whole, if anything: it never reached the
/// suite, did not end with a system status (`ended`), ended before the summary,
/// or exited non-zero although no test failed.
fn judge_boot(
    reached: bool,
    has_summary: bool,
    failed: usize,
    ended: std::result::Result<i32, String>,
) -> Option<String> {
    match ended {
        Ok(code) if !reached => Some(format!(
            "the boot never reached the test suite (no `Starting test` line); \
             the system exited with status {code}"
        )),
        Err(e) if !reached => Some(format!(
            "the boot never reached the test suite (no `Starting test` line); {e}"
        )),
        Err(e) => Some(format!("the suite boot did not finish: {e}")),
        Ok(_) if !has_summary => {
            Some("the system halted before the driver printed `Keel test summary: ...`".into())
        }
        Ok(code) if code != 0 && failed == 0 => Some(format!(
            "the system exited with status {code} although no test failed"
        )),
        Ok(_) => None,
    }
}

/// The last [`TAIL_LINES`] lines, indented.
fn tail(lines: &[String]) -> String {
    if lines.is_empty() {
        return "    (no serial output)".into();
    }
    let from = lines.len().saturating_sub(TAIL_LINES);
    lines[from..]
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        let lines: Vec<String> = (0..30).map(|i| i.to_string()).collect();
        let t = tail(&lines);
        assert!(t.starts_with("    10\n") && t.ends_with("    29"), "{t}");
        assert_eq!(tail(&[]), "    (no serial output)");
    }

    #[test]
    fn boot_judgement() {
        let never = judge_boot(false, false, 0, Ok(0)).unwrap();
        assert!(never.contains("never reached the test suite"), "{never}");
        let never = judge_boot(false, false, 0, Err("timed out after 300 s".into())).unwrap();
        assert!(
            never.contains("never reached") && never.contains("timed out"),
            "{never}"
        );
        let timeout = judge_boot(true, false, 0, Err("timed out after 300 s".into())).unwrap();
        assert!(timeout.contains("did not finish: timed out"), "{timeout}");
        let early = judge_boot(true, false, 0, Ok(0)).unwrap();
        assert!(early.contains("before the driver printed"), "{early}");
        let odd = judge_boot(true, true, 0, Ok(1)).unwrap();
        assert!(odd.contains("status 1 although no test failed"), "{odd}");
        assert_eq!(judge_boot(true, true, 2, Ok(1)), None);
        assert_eq!(judge_boot(true, true, 0, Ok(0)), None);
    }

    #[test]
    fn failures_without_boot_are_counted() {
        let mut out = ArchOutcome::default();
        out.boot_failure("no kernel".into());
        assert_eq!(out.count(|s| matches!(s, Status::Failed(_))), 1);
    }
}
