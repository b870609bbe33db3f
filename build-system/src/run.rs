//! `cargo xtask run`: builds the described system's image and boots it in QEMU with the serial
//! console on the terminal (what is typed goes to the UART's input, which the
//! serial server reads), or its input from a file (`--input FILE`), then exits
//! with the system's exit status. The image is built by `build.rs`, the QEMU
//! command line comes from `qemu.rs`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use keel_abi::manifest::Start;

use crate::build::{self, BuildArgs};
use crate::qemu::{self, QemuOptions};

/// Options of `cargo xtask run`.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    /// What to build.
    pub build: BuildArgs,
    /// Run under KVM (x86_64 hosts with a usable /dev/kvm).
    #[arg(long)]
    pub kvm: bool,
    /// Feed this file to the serial input instead of the terminal.
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
}

/// `cargo xtask run`.
///
/// # Errors
/// A failed build, or QEMU failing in a way that carries no system status.
pub fn run(root: &Path, args: &RunArgs) -> Result<ExitCode> {
    crate::setup::ensure(root)?;
    let arch = args.build.arch;
    let opts = QemuOptions {
        kvm: args.kvm,
        ..QemuOptions::default()
    };
    qemu::check_options(arch, &opts)?;
    let kernel = build::build(root, &args.build, Start::System)?;
    let mut cmd = qemu::command(arch, &kernel, &opts)?;
    if let Some(path) = &args.input {
        let file = File::open(path)
            .with_context(|| format!("could not open the input file {}", path.display()))?;
        cmd.stdin(file);
    }
    println!(
        "booting {} on {} (Ctrl-C quits)",
        kernel.display(),
        arch.qemu_binary()
    );
    let status = cmd.status().with_context(|| {
        format!(
            "could not start {}; run `cargo xtask setup`",
            arch.qemu_binary()
        )
    })?;
    let code = qemu::system_status(arch, status.code())?;
    println!("system exited with status {code}");
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX)))
}
