//! `cargo xtask setup` and the checks every other subcommand runs first: the
//! rustup targets for both architectures and the QEMU emulators. Installs what
//! it can (rustup targets; QEMU via apt-get when root) and otherwise says the
//! exact command to run. It does not check for gdb; `gdb.rs` does that.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::arch::Arch;

/// Debian packages that provide the QEMU emulators.
const QEMU_PACKAGES: [&str; 2] = ["qemu-system-x86", "qemu-system-arm"];

/// `cargo xtask setup`: ensures everything is there and says so.
///
/// # Errors
/// If something is missing and cannot be installed from here.
pub fn run(root: &Path) -> Result<()> {
    ensure(root)?;
    for arch in Arch::ALL {
        let qemu = find_on_path(arch.qemu_binary())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        println!(
            "{arch}: rustup targets {} installed, {qemu}",
            arch.rustup_targets().join(" ")
        );
    }
    println!("setup complete");
    Ok(())
}

/// Checks (and where possible installs) the rustup targets and QEMU. Fast when
/// everything is present.
///
/// # Errors
/// If a target or QEMU is missing and cannot be installed; the message says how.
pub fn ensure(root: &Path) -> Result<()> {
    ensure_targets(root)?;
    ensure_qemu()
}

fn ensure_targets(root: &Path) -> Result<()> {
    let output = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(root)
        .output()
        .context(
            "could not run `rustup target list --installed`; install rustup \
             (the toolchain is pinned in rust-toolchain.toml)",
        )?;
    if !output.status.success() {
        bail!(
            "`rustup target list --installed` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let installed = String::from_utf8_lossy(&output.stdout);
    let missing: Vec<&str> = Arch::ALL
        .iter()
        .flat_map(|a| a.rustup_targets())
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    println!("installing rustup targets: {}", missing.join(" "));
    let status = Command::new("rustup")
        .args(["target", "add"])
        .args(&missing)
        .current_dir(root)
        .status()
        .context("could not run `rustup target add`")?;
    if !status.success() {
        bail!(
            "`rustup target add {}` failed ({status}); run it yourself and retry",
            missing.join(" ")
        );
    }
    Ok(())
}

fn ensure_qemu() -> Result<()> {
    let missing: Vec<&str> = Arch::ALL
        .iter()
        .map(|a| a.qemu_binary())
        .filter(|b| find_on_path(b).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let install = install_command(&QEMU_PACKAGES);
    if !is_root() || find_on_path("apt-get").is_none() {
        bail!(
            "{} not found on PATH; install QEMU, e.g. on Debian/Ubuntu run as root:\n    {install}",
            missing.join(" and ")
        );
    }
    println!(
        "{} not found; installing QEMU with apt-get",
        missing.join(" and ")
    );
    apt(&["update"])?;
    if let Err(first) = apt_install(&QEMU_PACKAGES) {
        if !first.to_lowercase().contains("qemu-utils") {
            bail!("`{install}` failed:\n{first}");
        }
        println!(
            "apt-get reports a conflict with the preinstalled qemu-utils; removing it \
             (apt-get remove -y qemu-utils) so that {} can be installed",
            QEMU_PACKAGES.join(" and ")
        );
        apt(&["remove", "-y", "qemu-utils"])?;
        if let Err(second) = apt_install(&QEMU_PACKAGES) {
            bail!("`{install}` failed after removing qemu-utils:\n{second}");
        }
    }
    let still: Vec<&str> = missing
        .into_iter()
        .filter(|b| find_on_path(b).is_none())
        .collect();
    if !still.is_empty() {
        bail!(
            "{} still not on PATH after installing {}; check your PATH",
            still.join(" and "),
            QEMU_PACKAGES.join(" ")
        );
    }
    Ok(())
}

/// The command that installs `packages`, for messages.
fn install_command(packages: &[&str]) -> String {
    format!(
        "apt-get update && apt-get install -y --no-install-recommends {}",
        packages.join(" ")
    )
}

/// Installs the Debian `packages` that provide `what` (which is missing)
/// with apt-get when running as root; otherwise fails saying what to run.
///
/// # Errors
/// Not root, no apt-get, or apt-get failed.
pub fn install_packages(what: &str, packages: &[&str]) -> Result<()> {
    let install = install_command(packages);
    if !is_root() || find_on_path("apt-get").is_none() {
        bail!("{what} not found; install it, e.g. on Debian/Ubuntu run as root:\n    {install}");
    }
    println!(
        "{what} not found; installing {} with apt-get",
        packages.join(" ")
    );
    apt(&["update"])?;
    apt_install(packages).map_err(|e| anyhow::anyhow!("`{install}` failed:\n{e}"))
}

/// Runs `apt-get install` for `packages`; on failure returns apt's output.
fn apt_install(packages: &[&str]) -> std::result::Result<(), String> {
    let output = Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .map_err(|e| format!("could not run apt-get: {e}"))?;
    print!("{}", String::from_utf8_lossy(&output.stdout));
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprint!("{stderr}");
    Err(format!(
        "{}{stderr}",
        String::from_utf8_lossy(&output.stdout)
    ))
}

/// Runs `apt-get ARGS` non-interactively.
///
/// # Errors
/// apt-get could not run or failed.
pub fn apt(args: &[&str]) -> Result<()> {
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("could not run apt-get")?;
    if !status.success() {
        bail!("`apt-get {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The first executable called `name` on PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
