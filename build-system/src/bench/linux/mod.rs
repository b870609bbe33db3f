//! `cargo xtask bench linux`: the Linux baseline that `bench mm` and `bench
//! teardown` compare Keel with. Debian's own kernel (`kernel.rs`) boots under
//! exactly Keel's QEMU command and `-icount` flags plus `-initrd` and
//! `-append`, with a static C `/init` (`initramfs.rs`,
//! `build-system/linux/baseline.c`) that measures mapping memory and killing
//! processes that hold N objects, in guest instructions. The medians, the
//! per-object slopes (`results.rs`) and the kernel version go to
//! `target/bench/linux-<arch>.json`, which [`memory_baseline`] and
//! [`teardown_baseline`] reuse while its inputs (the C source, the kernel
//! package, the QEMU command) are unchanged: one boot per architecture,
//! about a minute each, only when something changed.

mod chart;
mod initramfs;
mod kernel;
mod results;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};

pub use results::{MemoryBaseline, MemoryMode, ObjectKind, TeardownBaseline};

use super::app::{boot_and_collect, summarise};
use super::{print_table, write_results, Measurement};
use crate::arch::Arch;
use crate::qemu::{self, QemuOptions, ICOUNT};
use crate::setup;
use crate::test::ArchChoice;

/// Changes whenever what the JSON means changes, so that an older file is
/// measured again rather than misread.
const FORMAT: u32 = 1;

/// Options of `cargo xtask bench linux`.
#[derive(Args, Clone, Debug)]
pub struct LinuxBenchArgs {
    /// Architecture(s) to measure.
    #[arg(long, value_enum, default_value_t = ArchChoice::All)]
    pub arch: ArchChoice,
    /// Boot and measure again even when the cached figures are current.
    #[arg(long)]
    pub fresh: bool,
}

/// Everything one boot measured, as `target/bench/linux-<arch>.json` holds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Baseline {
    /// The architecture.
    pub arch: String,
    /// The kernel release (`6.1.0-57-amd64`).
    pub kernel_release: String,
    /// The Debian package it came from and that package's version.
    pub kernel_package: String,
    /// That package's version (`6.1.192-3`).
    pub kernel_version: String,
    /// A hash of what the figures depend on; a different one means measure again.
    pub inputs: String,
    /// Map, touch and unmap.
    pub memory: MemoryBaseline,
    /// SIGKILL to `waitpid`.
    pub teardown: TeardownBaseline,
    /// Every measurement's median and spread, in guest instructions.
    pub measurements: Vec<Measurement>,
}

/// Linux's memory figures for `arch`: the cached ones while current,
/// otherwise measured now (one boot).
///
/// # Errors
/// The kernel cannot be fetched, `/init` cannot be built, or the boot fails.
pub fn memory_baseline(root: &Path, arch: Arch) -> Result<MemoryBaseline> {
    Ok(baseline(root, arch)?.memory)
}

/// Linux's teardown figures for `arch`: the cached ones while current,
/// otherwise measured now (one boot).
///
/// # Errors
/// The kernel cannot be fetched, `/init` cannot be built, or the boot fails.
pub fn teardown_baseline(root: &Path, arch: Arch) -> Result<TeardownBaseline> {
    Ok(baseline(root, arch)?.teardown)
}

/// `cargo xtask bench linux`: measures (or reuses) each architecture's
/// baseline, prints it beside the reference figures, and writes its JSON and plot.
///
/// # Errors
/// As [`memory_baseline`].
pub fn run(root: &Path, args: &LinuxBenchArgs) -> Result<()> {
    for arch in args.arch.arches() {
        let json = json_path(root, arch);
        if args.fresh && json.exists() {
            std::fs::remove_file(&json)
                .with_context(|| format!("could not remove {}", json.display()))?;
        }
        let b = baseline(root, arch)?;
        println!(
            "\nLinux {} ({} {}) on {arch}:",
            b.kernel_release, b.kernel_package, b.kernel_version
        );
        print_table(&b.measurements);
        let memory = memory_baseline(root, arch)?;
        let teardown = teardown_baseline(root, arch)?;
        chart::print_against_reference(arch, &memory, &teardown);
        println!("figures in {}", json.display());
    }
    Ok(())
}

fn json_path(root: &Path, arch: Arch) -> PathBuf {
    root.join(format!("target/bench/linux-{arch}.json"))
}

/// The baseline for `arch`, measured only when the cached one is missing or stale.
fn baseline(root: &Path, arch: Arch) -> Result<Baseline> {
    let kernel = kernel::ensure(root, arch)?;
    let dir = root.join("target/linux").join(arch.name());
    let initrd = dir.join("initramfs.cpio");
    let opts = qemu_options(arch, &initrd);
    let inputs = inputs(root, arch, &kernel, &opts)?;
    let json = json_path(root, arch);
    if let Ok(text) = std::fs::read_to_string(&json) {
        if let Ok(b) = serde_json::from_str::<Baseline>(&text) {
            if b.inputs == inputs {
                return Ok(b);
            }
        }
    }
    ensure_compiler(arch)?;
    initramfs::build(root, arch, &dir)?;
    let samples = boot_and_collect(root, "linux", arch, &kernel.image, &opts, "tcg-icount")?;
    let measurements = summarise(&samples, "instructions", "tcg-icount");
    let label = format!("{} ({})", kernel.release(), kernel.version);
    let (memory, teardown) = results::interpret(&measurements, &label)?;
    let b = Baseline {
        arch: arch.name().to_string(),
        kernel_release: kernel.release().to_string(),
        kernel_package: kernel.package.clone(),
        kernel_version: kernel.version.clone(),
        inputs,
        memory,
        teardown,
        measurements,
    };
    let text = serde_json::to_string_pretty(&b).context("could not encode the baseline")?;
    write_results(root, "linux", arch.name(), &text, &chart::figure(arch, &b))?;
    Ok(b)
}

/// Keel's benchmark flags plus the initramfs and the kernel's command line
/// (`quiet`, so that boot messages do not interleave with the figures).
fn qemu_options(arch: Arch, initrd: &Path) -> QemuOptions {
    let console = match arch {
        Arch::X86_64 => "ttyS0",
        Arch::Aarch64 => "ttyAMA0",
    };
    let mut extra: Vec<String> = ICOUNT.map(String::from).to_vec();
    extra.extend([
        "-initrd".to_string(),
        initrd.display().to_string(),
        "-append".to_string(),
        format!("console={console} panic=-1 quiet"),
    ]);
    QemuOptions {
        extra,
        ..QemuOptions::default()
    }
}

/// A hash of what the figures depend on: the format, the C source, the
/// kernel package and the QEMU command (paths relative to `root`).
fn inputs(root: &Path, arch: Arch, kernel: &kernel::Kernel, opts: &QemuOptions) -> Result<String> {
    let source_path = root.join(initramfs::SOURCE);
    let source = std::fs::read(&source_path)
        .with_context(|| format!("could not read {}", source_path.display()))?;
    let command = qemu::args(arch, &kernel.image, opts).join(" ");
    let command = command.replace(&root.display().to_string(), "");
    let mut text = format!(
        "{FORMAT}\n{} {}\n{command}\n",
        kernel.package, kernel.version
    )
    .into_bytes();
    text.extend_from_slice(&source);
    Ok(format!("{:016x}", fnv1a(&text)))
}

/// FNV-1a, 64 bits: a stable hash (std's may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Installs `arch`'s C compiler and static C library where missing.
fn ensure_compiler(arch: Arch) -> Result<()> {
    let (cc, packages) = initramfs::compiler(arch);
    if setup::find_on_path(cc).is_none() {
        setup::install_packages(cc, packages)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_is_the_published_function() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn the_command_is_keels_plus_initrd_and_append() {
        let opts = qemu_options(Arch::Aarch64, Path::new("/t/initramfs.cpio"));
        let a = qemu::args(Arch::Aarch64, Path::new("/t/vmlinuz"), &opts).join(" ");
        let keel = qemu::args(
            Arch::Aarch64,
            Path::new("/t/vmlinuz"),
            &QemuOptions::default(),
        );
        assert!(a.starts_with(&keel[..keel.len() - 2].join(" ")), "{a}");
        assert!(
            a.ends_with(
                "-icount shift=0,sleep=off -initrd /t/initramfs.cpio \
                 -append console=ttyAMA0 panic=-1 quiet -kernel /t/vmlinuz"
            ),
            "{a}"
        );
        let x = qemu_options(Arch::X86_64, Path::new("i"));
        assert!(x.extra.join(" ").contains("console=ttyS0 "));
    }
}
