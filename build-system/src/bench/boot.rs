//! `cargo xtask bench boot`: wall-clock time from starting QEMU to the root
//! task's banner (TCG, or KVM with `--kvm`), median over repeated boots, and the
//! kernel image's size on disk and in memory.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use keel_abi::elf::Elf;
use keel_abi::manifest::Start;

use super::{report, Measurement};
use crate::arch::Arch;
use crate::build::{self, BuildArgs};
use crate::qemu::{self, Ending, QemuOptions};
use crate::test::ArchChoice;

/// The line the root task prints first.
const BANNER: &str = "Keel root task on ";
/// Longest a boot may take to reach the banner.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Options of `cargo xtask bench boot`.
#[derive(Args, Clone, Debug)]
pub struct BootBenchArgs {
    /// Architecture(s) to measure.
    #[arg(long, value_enum, default_value_t = ArchChoice::All)]
    pub arch: ArchChoice,
    /// Number of boots per architecture.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Build with the release profile.
    #[arg(long)]
    pub release: bool,
    /// Boot x86_64 under KVM.
    #[arg(long)]
    pub kvm: bool,
}

/// Runs the boot benchmark.
///
/// # Errors
/// A failed build, or a boot that never printed the banner.
pub fn run(root: &Path, args: &BootBenchArgs) -> Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    for arch in args.arch.arches() {
        let build_args = BuildArgs {
            arch,
            release: args.release,
            app: None,
            app_crate: None,
        };
        let kernel = build::build(root, &build_args, Start::System)?;
        let opts = QemuOptions {
            kvm: args.kvm && arch == Arch::X86_64,
            ..QemuOptions::default()
        };
        let mut samples = Vec::with_capacity(args.runs);
        for run in 0..args.runs {
            samples.push(time_to_banner(root, arch, &kernel, &opts, run)?);
        }
        let accel = if opts.kvm { "kvm" } else { "tcg" };
        let bytes = std::fs::read(&kernel)
            .with_context(|| format!("could not read {}", kernel.display()))?;
        let (file, loaded) = image_sizes(arch, &bytes)?;
        let archive = root.join(format!("target/keel/{arch}/boot-archive.bin"));
        let archive_len = std::fs::metadata(&archive)
            .with_context(|| format!("could not read {}", archive.display()))?
            .len();
        let results = [
            Measurement::from_samples(
                &format!("qemu start to root-task banner ({accel})"),
                "ms",
                &samples,
            ),
            Measurement::from_samples(
                "kernel image file (incl. boot archive)",
                "KiB",
                &[file as f64 / 1024.0],
            ),
            Measurement::from_samples(
                "kernel image loaded (incl. boot archive)",
                "KiB",
                &[loaded as f64 / 1024.0],
            ),
            Measurement::from_samples(
                "kernel alone loaded (excl. boot archive)",
                "KiB",
                &[loaded.saturating_sub(archive_len) as f64 / 1024.0],
            ),
        ];
        let figure = super::charts::boot(arch.name(), &results);
        report(root, "boot", arch.name(), &results, &figure)?;
    }
    Ok(())
}

fn time_to_banner(
    root: &Path,
    arch: Arch,
    kernel: &Path,
    opts: &QemuOptions,
    run: usize,
) -> Result<f64> {
    let cmd = qemu::command(arch, kernel, opts)?;
    let log = root.join(format!("target/bench/boot-{arch}-{run}.log"));
    std::fs::create_dir_all(root.join("target/bench")).context("could not create target/bench")?;
    let start = Instant::now();
    let mut seen = None;
    let capture = qemu::run_captured(
        cmd,
        BOOT_TIMEOUT,
        None,
        &format!("[{arch} boot {run}] "),
        &log,
        |line| {
            let found = line.starts_with(BANNER);
            if found {
                seen = Some(start.elapsed());
            }
            found
        },
    )?;
    match (seen, capture.ending) {
        (Some(elapsed), _) => Ok(elapsed.as_secs_f64() * 1000.0),
        (None, Ending::TimedOut) => bail!(
            "{arch}: no banner within {BOOT_TIMEOUT:?}; see {}",
            log.display()
        ),
        (None, _) => bail!(
            "{arch}: QEMU ended before the banner; see {}",
            log.display()
        ),
    }
}

/// The image's size on disk and the bytes its PT_LOAD segments occupy in memory.
fn image_sizes(arch: Arch, bytes: &[u8]) -> Result<(usize, u64)> {
    let machine = match arch {
        Arch::X86_64 => keel_abi::elf::EM_X86_64,
        Arch::Aarch64 => keel_abi::elf::EM_AARCH64,
    };
    let elf = Elf::parse(bytes, machine)
        .map_err(|e| anyhow::anyhow!("the kernel image is not a {arch} ELF: {e:?}"))?;
    Ok((bytes.len(), elf.segments().map(|s| s.mem_size).sum()))
}
