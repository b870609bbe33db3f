//! `cargo xtask gdb`: builds the described system's image, starts QEMU halted with its gdb stub
//! on :1234 (same machine as `run`, plus `-s -S`), and runs gdb attached to it;
//! QEMU is killed when gdb exits. Which gdb to use is decided here.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{bail, Context, Result};
use clap::Args;
use keel_abi::manifest::Start;

use crate::arch::Arch;
use crate::build::{self, BuildArgs};
use crate::qemu::{self, QemuOptions};
use crate::setup::find_on_path;

/// Options of `cargo xtask gdb`.
#[derive(Args, Clone, Debug)]
pub struct GdbArgs {
    #[command(flatten)]
    /// What to build.
    pub build: BuildArgs,
}

/// `cargo xtask gdb`.
///
/// # Errors
/// No suitable gdb, a failed build, or QEMU/gdb failing to start.
pub fn run(root: &Path, args: &GdbArgs) -> Result<ExitCode> {
    crate::setup::ensure(root)?;
    let arch = args.build.arch;
    let gdb = choose_gdb(arch)?;
    let kernel = build::build(root, &args.build, Start::System)?;
    let opts = QemuOptions {
        gdb: true,
        ..QemuOptions::default()
    };
    let mut qemu_cmd = qemu::command(arch, &kernel, &opts)?;
    // Own process group and no stdin: Ctrl-C in gdb must interrupt the target,
    // not kill QEMU, and gdb owns the terminal's input.
    qemu_cmd.stdin(Stdio::null()).process_group(0);
    let mut qemu_child = qemu_cmd.spawn().with_context(|| {
        format!(
            "could not start {}; run `cargo xtask setup`",
            arch.qemu_binary()
        )
    })?;
    // Ctrl-C is gdb's; this process must survive it to clean up QEMU.
    ctrlc::set_handler(|| {}).context("could not install a Ctrl-C handler")?;
    println!("QEMU waits for gdb on :1234; starting {}", gdb.display());
    let status = Command::new(&gdb)
        .args(["-q", "-ex"])
        .arg(format!("file {}", kernel.display()))
        .args(["-ex", "target remote :1234"])
        .status()
        .with_context(|| format!("could not start {}", gdb.display()));
    // QEMU may already be gone (e.g. the system halted); a failed kill is fine.
    let _ = qemu_child.kill();
    let _ = qemu_child.wait();
    let status = status?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The gdb for `arch`: `gdb` for x86_64; for aarch64 `gdb-multiarch` if present,
/// else `gdb` if it knows aarch64.
fn choose_gdb(arch: Arch) -> Result<PathBuf> {
    let candidates: &[&str] = match arch {
        Arch::X86_64 => &["gdb"],
        Arch::Aarch64 => &["gdb-multiarch", "gdb"],
    };
    let Some(gdb) = candidates.iter().find_map(|c| find_on_path(c)) else {
        bail!(
            "{} not found on PATH; install it: apt-get install {}",
            candidates.join(" or "),
            candidates[0]
        );
    };
    if arch == Arch::Aarch64 {
        let output = Command::new(&gdb)
            .args(["-batch", "-ex", "set architecture"])
            .output()
            .with_context(|| format!("could not run {}", gdb.display()))?;
        let listing = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        if !supports(&listing, arch) {
            bail!(
                "{} cannot debug aarch64 (`set architecture` does not list it); \
                 install gdb-multiarch: apt-get install gdb-multiarch",
                gdb.display()
            );
        }
    }
    Ok(gdb)
}

/// Whether gdb's `set architecture` listing names `arch`.
fn supports(listing: &str, arch: Arch) -> bool {
    let name = match arch {
        Arch::X86_64 => "i386:x86-64",
        Arch::Aarch64 => "aarch64",
    };
    listing
        .split([',', ' ', '.'])
        .any(|word| word.trim() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architecture_listing() {
        let host_only = "Requires an argument. Valid arguments are i386, i386:x86-64, auto.";
        assert!(supports(host_only, Arch::X86_64));
        assert!(!supports(host_only, Arch::Aarch64));
        let multi = "Valid arguments are aarch64, aarch64:ilp32, i386:x86-64, auto.";
        assert!(supports(multi, Arch::Aarch64));
    }
}
