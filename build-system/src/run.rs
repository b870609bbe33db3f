//! `cargo xtask run`: builds the described system's image and boots it in QEMU with the serial
//! console on the terminal (what is typed goes to the UART's input, which the
//! serial server reads and the default system's shell takes its commands
//! from), or its input from a file (`--input FILE`), then exits with the
//! system's exit status. Without a terminal and without `--input`, the tool
//! types [`NON_INTERACTIVE_INPUT`] (a round of the shell's commands ending
//! in `exit`), so a run in CI or a pipe ends by itself. The image is built
//! by `build.rs`, the QEMU command line comes from `qemu.rs`.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use anyhow::{Context, Result};
use clap::Args;
use keel_abi::manifest::Start;

use crate::build::{self, BuildArgs};
use crate::qemu::{self, QemuOptions};

/// What the tool types into the serial input when it has no terminal and
/// no `--input`: the default system's shell lists the processes (init's
/// apps among them), starts hello and waits for it, starts the spinner and
/// kills it (printing the teardown against its deadline), shows `top` and
/// `free`, and exits, which ends the system. It starts with an empty line:
/// the one byte the UART holds before the serial server starts is lost
/// when the server resets the UART's FIFO.
pub const NON_INTERACTIVE_INPUT: &str =
    "\nps\nrun hello\nwait $!\nrun spinner\nps\nkill $!\ntop\nfree\nexit\n";

/// Options of `cargo xtask run`.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    /// What to build.
    pub build: BuildArgs,
    /// Run under KVM (x86_64 hosts with a usable /dev/kvm).
    #[arg(long)]
    pub kvm: bool,
    /// Count guest instructions (`-icount shift=0`): the counter then
    /// reads instructions, so the shell's `kill` compares like with like
    /// against the deadline (instructions of teardown), and the timer's
    /// clock is virtual time.
    #[arg(long)]
    pub icount: bool,
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
        extra: match args.icount {
            true => qemu::ICOUNT.iter().map(|a| a.to_string()).collect(),
            false => Vec::new(),
        },
        ..QemuOptions::default()
    };
    qemu::check_options(arch, &opts)?;
    let kernel = build::build(root, &args.build, Start::System)?;
    let mut cmd = qemu::command(arch, &kernel, &opts)?;
    let typed = match &args.input {
        Some(path) => {
            let file = File::open(path)
                .with_context(|| format!("could not open the input file {}", path.display()))?;
            cmd.stdin(file);
            None
        }
        None if !std::io::stdin().is_terminal() => {
            cmd.stdin(Stdio::piped());
            Some(NON_INTERACTIVE_INPUT)
        }
        None => None,
    };
    println!(
        "booting {} on {} (Ctrl-C quits)",
        kernel.display(),
        arch.qemu_binary()
    );
    let mut child = cmd.spawn().with_context(|| {
        format!(
            "could not start {}; run `cargo xtask setup`",
            arch.qemu_binary()
        )
    })?;
    if let (Some(text), Some(mut stdin)) = (typed, child.stdin.take()) {
        println!(
            "no terminal: typing the shell's round ({} commands)",
            text.lines().filter(|l| !l.is_empty()).count()
        );
        // The UART takes the bytes as the shell reads them; QEMU holds the
        // rest. A QEMU that has already stopped leaves nothing to type to.
        let _ = stdin.write_all(text.as_bytes());
    }
    let status = child
        .wait()
        .with_context(|| format!("could not wait for {}", arch.qemu_binary()))?;
    let code = qemu::system_status(arch, status.code())?;
    println!("system exited with status {code}");
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX)))
}
