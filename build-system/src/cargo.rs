//! Invoking cargo from the build tool: a clean `cargo` command (the toolchain's
//! cargo, without the caller's RUSTFLAGS), running it with its output on the
//! terminal, and reading `cargo metadata` to find a crate's binary. What to build
//! and with which flags is decided by `build.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// A `cargo` command run in `root`: the cargo that runs us (env `CARGO`) or
/// `cargo`, with RUSTFLAGS and CARGO_ENCODED_RUSTFLAGS removed so the caller's
/// flags do not leak into bare-metal builds.
pub fn command(root: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    cmd
}

/// Runs a cargo command with its output on the terminal.
///
/// # Errors
/// If cargo cannot be started or exits unsuccessfully; the message names `what`
/// and points at cargo's own errors printed above it.
pub fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("{what}: could not start cargo ({cmd:?}); is cargo on PATH?"))?;
    if !status.success() {
        bail!(
            "{what} failed: cargo exited with {status}; cargo's errors are printed above \
             (command: {})",
            describe(cmd)
        );
    }
    Ok(())
}

/// The profile directory name under `target/<triple>/`.
pub fn profile_dir(release: bool) -> &'static str {
    if release {
        "release"
    } else {
        "debug"
    }
}

/// The program and arguments of a command, for error messages.
pub fn describe(cmd: &Command) -> String {
    let mut out = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        out.push(' ');
        out.push_str(&arg.to_string_lossy());
    }
    out
}

/// A package and the name of its single binary target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinaryCrate {
    /// The package name.
    pub package: String,
    /// The binary target's name (the ELF's file name).
    pub bin: String,
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<MetaPackage>,
}

#[derive(Deserialize)]
struct MetaPackage {
    name: String,
    manifest_path: PathBuf,
    targets: Vec<MetaTarget>,
}

#[derive(Deserialize)]
struct MetaTarget {
    name: String,
    kind: Vec<String>,
}

/// Finds the single binary of a package with `cargo metadata --no-deps`.
///
/// `manifest` is the `Cargo.toml` to ask; `package` picks a package by name
/// (a workspace member), or, when `None`, the package whose manifest is `manifest`.
///
/// # Errors
/// If cargo metadata fails, the package is not there, or it has no or several binaries.
pub fn binary_crate(root: &Path, manifest: &Path, package: Option<&str>) -> Result<BinaryCrate> {
    let output = command(root)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()
        .context("could not start `cargo metadata`; is cargo on PATH?")?;
    if !output.status.success() {
        bail!(
            "`cargo metadata --manifest-path {}` failed: {}\nfix the manifest so that cargo can read it",
            manifest.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let meta: Metadata = serde_json::from_slice(&output.stdout)
        .context("could not parse the output of `cargo metadata`")?;
    let wanted = std::fs::canonicalize(manifest).unwrap_or_else(|_| manifest.to_path_buf());
    let found = meta.packages.into_iter().find(|p| match package {
        Some(name) => p.name == name,
        None => p.manifest_path == wanted,
    });
    let Some(pkg) = found else {
        match package {
            Some(name) => bail!(
                "no package `{name}` in {}; add the crate to the workspace members or fix the \
                 `crate` name in system.toml",
                manifest.display()
            ),
            None => bail!("{} defines no package", manifest.display()),
        }
    };
    let bins: Vec<String> = pkg
        .targets
        .into_iter()
        .filter(|t| t.kind.iter().any(|k| k == "bin"))
        .map(|t| t.name)
        .collect();
    match bins.as_slice() {
        [bin] => Ok(BinaryCrate {
            package: pkg.name,
            bin: bin.clone(),
        }),
        [] => bail!(
            "package `{}` has no binary target; a Keel program needs exactly one (src/main.rs or [[bin]])",
            pkg.name
        ),
        _ => bail!(
            "package `{}` has several binaries ({}); a Keel program needs exactly one",
            pkg.name,
            bins.join(", ")
        ),
    }
}
