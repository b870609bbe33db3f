//! Debian's own Linux kernel for the baseline, fetched once per architecture
//! and cached under `target/linux/<arch>/`: the metapackage
//! `linux-image-<debian arch>` names the current ABI package (`apt-cache
//! depends`), `apt-get download` fetches that package (for a foreign
//! architecture after `dpkg --add-architecture` and `apt-get update`), and
//! only its `boot/vmlinuz-<release>` is unpacked (no modules are needed). The
//! tools are Debian's; where one is missing the error says what to install.
//! Only `cargo xtask bench mm|teardown|linux` come here, never `test`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::arch::Arch;
use crate::setup;

/// A cached kernel.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    /// The image QEMU's `-kernel` boots.
    pub image: PathBuf,
    /// The Debian package it came from (`linux-image-6.1.0-57-amd64`).
    pub package: String,
    /// That package's version (`6.1.192-3`).
    pub version: String,
}

impl Kernel {
    /// The kernel release (`6.1.0-57-amd64`), what `uname -r` says.
    pub fn release(&self) -> &str {
        release(&self.package)
    }
}

/// Debian's name for `arch`.
pub fn debian_arch(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "amd64",
        Arch::Aarch64 => "arm64",
    }
}

/// The file beside the image that records its package and version.
const RECORD: &str = "kernel.txt";

/// The cached kernel for `arch`, if there is one.
pub fn cached(root: &Path, arch: Arch) -> Option<Kernel> {
    let dir = cache_dir(root, arch);
    let record = std::fs::read_to_string(dir.join(RECORD)).ok()?;
    let mut words = record.split_whitespace();
    let package = words.next()?.to_string();
    let version = words.next()?.to_string();
    let image = dir.join("vmlinuz");
    image.is_file().then_some(Kernel {
        image,
        package,
        version,
    })
}

/// The cached kernel for `arch`, fetched first if there is none.
///
/// # Errors
/// A missing tool (the message says what to install), no network to
/// Debian's archive, or a package without the expected image.
pub fn ensure(root: &Path, arch: Arch) -> Result<Kernel> {
    if let Some(k) = cached(root, arch) {
        return Ok(k);
    }
    fetch(root, arch)?;
    cached(root, arch).with_context(|| {
        format!(
            "the kernel was fetched but {} is incomplete",
            cache_dir(root, arch).display()
        )
    })
}

fn cache_dir(root: &Path, arch: Arch) -> PathBuf {
    root.join("target/linux").join(arch.name())
}

fn fetch(root: &Path, arch: Arch) -> Result<()> {
    for tool in ["apt-get", "apt-cache", "dpkg", "dpkg-deb", "tar"] {
        if setup::find_on_path(tool).is_none() {
            bail!(
                "{tool} not found: the Linux baseline fetches Debian's kernel package with \
                 apt-get, dpkg-deb and tar; run it on Debian or Ubuntu"
            );
        }
    }
    let deb_arch = debian_arch(arch);
    let native = output("dpkg", &["--print-architecture"])?;
    let qualifier = if native.trim() == deb_arch {
        String::new()
    } else {
        format!(":{deb_arch}")
    };
    let foreign = output("dpkg", &["--print-foreign-architectures"])?;
    let add_arch = !qualifier.is_empty() && !foreign.lines().any(|l| l.trim() == deb_arch);
    if !setup::is_root() {
        let add = if add_arch {
            format!("dpkg --add-architecture {deb_arch} && ")
        } else {
            String::new()
        };
        bail!(
            "the Linux baseline needs Debian's {deb_arch} kernel package in {}; fetch it as \
             root with `{add}apt-get update` and rerun this command as root",
            cache_dir(root, arch).display()
        );
    }
    if add_arch {
        println!("adding the {deb_arch} architecture to dpkg for its kernel package");
        run("dpkg", &["--add-architecture", deb_arch], None)?;
    }
    setup::apt(&["update"])?;
    let meta = format!("linux-image-{deb_arch}{qualifier}");
    let depends = output("apt-cache", &["depends", &meta])?;
    let package = abi_package(&depends, deb_arch)
        .with_context(|| format!("`apt-cache depends {meta}` names no kernel package"))?;
    let dir = cache_dir(root, arch);
    let download = dir.join("download");
    std::fs::create_dir_all(&download)
        .with_context(|| format!("could not create {}", download.display()))?;
    println!("fetching {package}{qualifier} for the Linux baseline");
    run(
        "apt-get",
        &["download", &format!("{package}{qualifier}")],
        Some(&download),
    )?;
    let (deb, version) = downloaded(&download, &package)?;
    let image = dir.join("vmlinuz");
    extract(
        &deb,
        &format!("./boot/vmlinuz-{}", release(&package)),
        &image,
    )?;
    std::fs::write(dir.join(RECORD), format!("{package} {version}\n"))
        .with_context(|| format!("could not write {}", dir.join(RECORD).display()))?;
    std::fs::remove_dir_all(&download)
        .with_context(|| format!("could not remove {}", download.display()))
}

/// The package the metapackage depends on, from `apt-cache depends`'s
/// output (`  Depends: linux-image-6.1.0-57-arm64:arm64`).
pub fn abi_package(depends: &str, deb_arch: &str) -> Option<String> {
    depends.lines().find_map(|l| {
        let name = l.trim().strip_prefix("Depends: ")?;
        let name = name.strip_suffix(&format!(":{deb_arch}")).unwrap_or(name);
        (name.starts_with("linux-image-") && name.ends_with(deb_arch)).then(|| name.to_string())
    })
}

/// The kernel release a package name carries.
fn release(package: &str) -> &str {
    package.strip_prefix("linux-image-").unwrap_or(package)
}

/// The downloaded `.deb` of `package` and its version, from the file name
/// `<package>_<version>_<arch>.deb` (with `:` written `%3a`).
fn downloaded(dir: &Path, package: &str) -> Result<(PathBuf, String)> {
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("could not read {}", dir.display()))?
    {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if let Some(version) = deb_version(&name, package) {
            return Ok((path, version));
        }
    }
    bail!(
        "apt-get download left no {package} package in {}",
        dir.display()
    )
}

/// The version in a `.deb` file name of `package`.
pub fn deb_version(file: &str, package: &str) -> Option<String> {
    let rest = file.strip_prefix(package)?.strip_prefix('_')?;
    let rest = rest.strip_suffix(".deb")?;
    let (version, _arch) = rest.rsplit_once('_')?;
    Some(version.replace("%3a", ":"))
}

/// Unpacks `member` of the package `deb` to `to`.
fn extract(deb: &Path, member: &str, to: &Path) -> Result<()> {
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .spawn()
        .context("could not run dpkg-deb")?;
    let tar_in = dpkg.stdout.take().context("dpkg-deb has no output")?;
    let out = File::create(to).with_context(|| format!("could not create {}", to.display()))?;
    let tar = Command::new("tar")
        .args(["-xO", member])
        .stdin(tar_in)
        .stdout(out)
        .status()
        .context("could not run tar")?;
    let dpkg = dpkg.wait().context("could not wait for dpkg-deb")?;
    if !tar.success() || !dpkg.success() {
        // A partial image must not pass for a cached one.
        let _ = std::fs::remove_file(to);
        bail!("could not unpack {member} from {}", deb.display());
    }
    Ok(())
}

fn run(cmd: &str, args: &[&str], dir: Option<&Path>) -> Result<()> {
    let mut c = Command::new(cmd);
    c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    if let Some(d) = dir {
        c.current_dir(d);
    }
    let status = c.status().with_context(|| format!("could not run {cmd}"))?;
    if !status.success() {
        bail!("`{cmd} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn output(cmd: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .with_context(|| format!("could not run {cmd}"))?;
    if !out.status.success() {
        bail!(
            "`{cmd} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_abi_package_of_the_metapackage() {
        let amd64 = "linux-image-amd64\n  Depends: linux-image-6.1.0-57-amd64\n";
        assert_eq!(
            abi_package(amd64, "amd64").as_deref(),
            Some("linux-image-6.1.0-57-amd64")
        );
        let arm64 = "linux-image-arm64:arm64\n  Depends: linux-image-6.1.0-57-arm64:arm64\n";
        assert_eq!(
            abi_package(arm64, "arm64").as_deref(),
            Some("linux-image-6.1.0-57-arm64")
        );
        assert_eq!(abi_package("linux-image-arm64:arm64\n", "arm64"), None);
        assert_eq!(abi_package("  Depends: libc6\n", "amd64"), None);
    }

    #[test]
    fn reads_the_version_from_the_file_name() {
        let p = "linux-image-6.1.0-57-arm64";
        assert_eq!(
            deb_version("linux-image-6.1.0-57-arm64_6.1.192-3_arm64.deb", p).as_deref(),
            Some("6.1.192-3")
        );
        assert_eq!(
            deb_version("linux-image-6.1.0-57-arm64_1%3a6.1-3_arm64.deb", p).as_deref(),
            Some("1:6.1-3")
        );
        assert_eq!(
            deb_version("linux-image-6.1.0-57-arm64-dbg_6.1_arm64.deb", p),
            None
        );
        assert_eq!(release(p), "6.1.0-57-arm64");
    }
}
