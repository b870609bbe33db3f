//! keel-build: the host build tool behind `cargo xtask`. It checks the host
//! setup, builds the user programs, boot archive and kernel into a bootable
//! image, boots it in QEMU, runs the host and on-target tests, and attaches gdb.
//! One module per subcommand (`setup`, `build`, `run`, `test`, `gdb`, `bench`,
//! `coverage`), with helpers for architectures, cargo, QEMU, the system
//! description, serial logs and JUnit output. It never runs on the target.

mod arch;
mod bench;
mod build;
mod cargo;
mod coverage;
mod gdb;
mod junit;
mod qemu;
mod run;
mod serial_log;
mod setup;
mod strip;
mod system;
mod test;
#[cfg(test)]
mod tree_rules;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// Keel's build tool: builds, boots and tests the Keel system on QEMU.
#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    after_help = "Examples:\n  \
        cargo xtask setup                      check/install rustup targets and QEMU\n  \
        cargo xtask build --arch aarch64       build target/keel/aarch64/keel.elf\n  \
        cargo xtask run                        boot the described system on x86_64\n  \
        cargo xtask run --app hello            start the app `hello` from system.toml\n  \
        cargo xtask test --arch x86_64         host tests, then the on-target suite\n  \
        cargo xtask gdb --arch aarch64         debug the kernel with gdb\n  \
        cargo xtask bench boot                 time QEMU start to the root task's banner\n  \
        cargo xtask coverage [--check]         rewrite (check) tests/COVERAGE.md from the tags\n\n\
        The system to build is described in system.toml at the repository root.\n\
        Images go to target/keel/<arch>/, test logs and JUnit XML to target/test-results/."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Check (and install where possible) the rustup targets and QEMU.
    Setup,
    /// Build user programs, the boot archive and the kernel image.
    Build(build::BuildArgs),
    /// Build and boot the system in QEMU; exit with the system's status.
    Run(run::RunArgs),
    /// Run host tests, then the on-target suite in QEMU; write JUnit XML.
    Test(test::TestArgs),
    /// Build, start QEMU halted with a gdb stub, and attach gdb.
    Gdb(gdb::GdbArgs),
    /// Boot benchmarks and report medians (table and JSON under target/bench/).
    Bench(bench::BenchArgs),
    /// Rewrite tests/COVERAGE.md (the map to sel4test) from the tests' tags.
    Coverage(coverage::CoverageArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Cmd) -> Result<ExitCode> {
    let root = workspace_root()?;
    match command {
        Cmd::Setup => setup::run(&root).map(|()| ExitCode::SUCCESS),
        Cmd::Build(args) => build::run(&root, &args).map(|()| ExitCode::SUCCESS),
        Cmd::Run(args) => run::run(&root, &args),
        Cmd::Test(args) => test::run(&root, &args),
        Cmd::Gdb(args) => gdb::run(&root, &args),
        Cmd::Bench(args) => bench::run(&root, &args).map(|()| ExitCode::SUCCESS),
        Cmd::Coverage(args) => coverage::run(&root, &args).map(|()| ExitCode::SUCCESS),
    }
}

/// The repository root: the parent of this crate's directory.
fn workspace_root() -> Result<PathBuf> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .context("build-system/ has no parent directory")?;
    root.canonicalize().with_context(|| {
        format!(
            "the repository root {} is gone; run `cargo xtask` from the Keel checkout",
            root.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn app_and_app_crate_conflict() {
        let r = Cli::try_parse_from(["x", "build", "--app", "a", "--app-crate", "p"]);
        assert!(r.is_err());
        let cli = Cli::try_parse_from(["x", "test", "--arch", "x86_64"]).unwrap();
        assert!(matches!(cli.command, Cmd::Test(t) if t.arch == test::ArchChoice::X86_64));
        let cli = Cli::try_parse_from(["x", "run", "--arch", "aarch64", "--kvm"]).unwrap();
        assert!(matches!(cli.command, Cmd::Run(r) if r.kvm && r.build.arch == arch::Arch::Aarch64));
    }
}
