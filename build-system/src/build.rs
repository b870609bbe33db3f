//! `cargo xtask build`: builds the user programs, packs them with the boot
//! manifest into the boot archive, builds the kernel around it into
//! `target/keel/<arch>/keel.elf` and writes the system's report beside it
//! (`report.txt`, which `build` also prints). `run`, `test` and `gdb` call
//! into this module; booting the image is theirs.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use keel_abi::manifest::{Manifest, Start};

use crate::arch::Arch;
use crate::cargo;
use crate::system::{check_name, report, System};

/// Options shared by every subcommand that builds an image.
#[derive(Args, Clone, Debug)]
pub struct BuildArgs {
    /// Architecture to build for.
    #[arg(long, value_enum, default_value_t = Arch::X86_64)]
    pub arch: Arch,
    /// Build with the release profile.
    #[arg(long)]
    pub release: bool,
    /// Start this app (a program with role "app" in system.toml) in the root task's place.
    #[arg(long, value_name = "NAME", conflicts_with = "app_crate")]
    pub app: Option<String>,
    /// Build the crate at PATH (outside the workspace) and have init start it as a process
    /// (with a connection named "console" when the system starts a console server).
    #[arg(long, value_name = "PATH")]
    pub app_crate: Option<PathBuf>,
}

/// Where and how to build.
#[derive(Clone, Debug)]
pub struct Target {
    /// The repository root.
    pub root: PathBuf,
    /// The architecture.
    pub arch: Arch,
    /// Release profile?
    pub release: bool,
}

/// A built user program.
#[derive(Clone, Debug)]
pub struct ProgramElf {
    /// Boot-archive entry name.
    pub name: String,
    /// The ELF on disk.
    pub path: PathBuf,
}

/// The user programs of one build, root task first.
#[derive(Clone, Debug)]
pub struct UserPrograms {
    /// The validated system.toml.
    pub system: System,
    /// The programs of `system`, in its order (root task first), then the
    /// `--app-crate` program if one was given.
    pub programs: Vec<ProgramElf>,
    /// Index in `programs` of the program the kernel starts.
    pub start_index: usize,
}

/// `cargo xtask build`.
///
/// # Errors
/// Any failed step, with the fix in the message.
pub fn run(root: &Path, args: &BuildArgs) -> Result<()> {
    crate::setup::ensure(root)?;
    let target = Target {
        root: root.to_path_buf(),
        arch: args.arch,
        release: args.release,
    };
    let user = user_programs(&target, args)?;
    image(&target, &user, Start::System)?;
    let path = report_path(&target);
    let report = std::fs::read_to_string(&path)
        .with_context(|| format!("could not read {}", path.display()))?;
    print!("\n{report}");
    Ok(())
}

/// Builds user programs, archive and kernel; returns the path of `keel.elf`.
///
/// # Errors
/// Any failed step.
pub fn build(root: &Path, args: &BuildArgs, start: Start) -> Result<PathBuf> {
    let target = Target {
        root: root.to_path_buf(),
        arch: args.arch,
        release: args.release,
    };
    let user = user_programs(&target, args)?;
    image(&target, &user, start)
}

/// Builds the root task and every app, and picks the program the kernel starts.
///
/// # Errors
/// An invalid system.toml, an unknown `--app`, or a failed cargo build.
pub fn user_programs(target: &Target, args: &BuildArgs) -> Result<UserPrograms> {
    let root = &target.root;
    let arch = target.arch;
    let system = System::load(&root.join("system.toml"))?;
    let chosen = args.app.as_deref().map(|n| system.app(n)).transpose()?;
    let app_crate = args.app_crate.as_deref().map(app_crate_dir).transpose()?;
    require_file(
        &arch.user_link_script(root),
        "the user runtime's linker script",
        "the user runtime (user/rt) must provide it for this architecture",
    )?;

    println!("building user programs for {arch}");
    let user_dir = root.join("target/keel/user");
    let mut cmd = cargo::command(root);
    cmd.args(["build", "--target", arch.triple(), "--target-dir"])
        .arg(&user_dir)
        .env(arch.rustflags_var(), arch.user_rustflags(root));
    for p in &system.programs {
        cmd.args(["-p", &p.crate_name]);
    }
    if target.release {
        cmd.arg("--release");
    }
    cargo::run(&mut cmd, &format!("building user programs for {arch}"))?;

    let out_dir = user_dir
        .join(arch.triple())
        .join(cargo::profile_dir(target.release));
    let manifest = root.join("Cargo.toml");
    let mut programs = Vec::new();
    for p in &system.programs {
        let bin = cargo::binary_crate(root, &manifest, Some(&p.crate_name))?;
        programs.push(ProgramElf {
            name: p.name.clone(),
            path: out_dir.join(bin.bin),
        });
    }
    let start_index = chosen
        .and_then(|c| programs.iter().position(|p| p.name == c.name))
        .unwrap_or(0);

    if let Some(path) = &app_crate {
        let elf = build_app_crate(target, path)?;
        if programs.iter().any(|p| p.name == elf.name) {
            bail!(
                "--app-crate {}: its package name `{}` is already a program in system.toml; \
                 rename the package",
                path.display(),
                elf.name
            );
        }
        // Init starts it as a process, with a console connection.
        programs.push(elf);
    }
    for p in &programs {
        require_file(
            &p.path,
            &format!("the ELF of `{}`", p.name),
            "cargo succeeded but did not write it; check the crate's binary name",
        )?;
    }
    Ok(UserPrograms {
        system,
        programs,
        start_index,
    })
}

impl UserPrograms {
    /// The boot manifest running `start`.
    ///
    /// # Errors
    /// If the description does not fit the manifest's indices.
    pub fn manifest(&self, start: Start) -> Result<Manifest> {
        let extra: Vec<&str> = self.programs[self.system.programs.len()..]
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        self.system.manifest(&extra, start)
    }
}

/// The absolute directory of `--app-crate PATH` (cargo runs in the repository
/// root, so a relative PATH must be resolved against the caller's directory).
fn app_crate_dir(path: &Path) -> Result<PathBuf> {
    let dir = std::path::absolute(path)
        .with_context(|| format!("--app-crate {}: cannot resolve the path", path.display()))?;
    require_file(
        &dir.join("Cargo.toml"),
        "--app-crate's Cargo.toml",
        "pass the crate's directory (the one holding Cargo.toml) as PATH",
    )?;
    Ok(dir)
}

/// Builds an app crate from outside the workspace; `path` is absolute.
fn build_app_crate(target: &Target, path: &Path) -> Result<ProgramElf> {
    let (root, arch) = (&target.root, target.arch);
    let manifest = path.join("Cargo.toml");
    let bin = cargo::binary_crate(root, &manifest, None)?;
    check_name(&bin.package).with_context(|| {
        format!(
            "--app-crate {}: the package name is its boot-archive name; rename the package",
            path.display()
        )
    })?;
    println!("building app {} for {arch}", bin.package);
    let apps_dir = root.join("target/keel/apps");
    let mut cmd = cargo::command(root);
    cmd.args(["build", "--manifest-path"])
        .arg(&manifest)
        .args(["--target", arch.triple(), "--target-dir"])
        .arg(&apps_dir)
        .env(arch.rustflags_var(), arch.user_rustflags(root));
    if target.release {
        cmd.arg("--release");
    }
    cargo::run(&mut cmd, &format!("building app {}", bin.package))?;
    Ok(ProgramElf {
        path: apps_dir
            .join(arch.triple())
            .join(cargo::profile_dir(target.release))
            .join(&bin.bin),
        name: bin.package,
    })
}

/// Where [`image`] writes the report of the system it built.
fn report_path(target: &Target) -> PathBuf {
    target
        .root
        .join("target/keel")
        .join(target.arch.name())
        .join("report.txt")
}

/// Packs the archive for `start` and builds the kernel around it; returns `keel.elf`.
///
/// # Errors
/// Unreadable ELFs, a failed kernel build, or I/O errors.
pub fn image(target: &Target, user: &UserPrograms, start: Start) -> Result<PathBuf> {
    let (root, arch) = (&target.root, target.arch);
    let out_dir = root.join("target/keel").join(arch.name());
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("could not create {}", out_dir.display()))?;

    let mut files = Vec::new();
    for p in &user.programs {
        let bytes = std::fs::read(&p.path)
            .with_context(|| format!("could not read {}", p.path.display()))?;
        let loadable = crate::strip::loadable_only(&bytes)
            .with_context(|| format!("{} is not a loadable ELF", p.path.display()))?;
        files.push((p.name.clone(), loadable));
    }
    let manifest = user.manifest(start)?;
    let report_path = report_path(target);
    std::fs::write(&report_path, report::render(&manifest, "system.toml"))
        .with_context(|| format!("could not write {}", report_path.display()))?;
    let archive = pack_archive(&manifest, &files, user.start_index)?;
    let archive_path = out_dir.join("boot-archive.bin");
    println!(
        "packing boot archive {} ({} files, {} KiB)",
        archive_path.display(),
        files.len() + 1,
        archive.len().div_ceil(1024)
    );
    write_if_changed(&archive_path, &archive)?;

    require_file(
        &arch.kernel_link_script(root),
        "the kernel's linker script",
        "the kernel must provide it for this architecture",
    )?;
    println!("building kernel for {arch}");
    let kernel_dir = root.join("target/keel/kernel");
    let mut cmd = cargo::command(root);
    cmd.args([
        "build",
        "-p",
        "keel-kernel",
        "--target",
        arch.kernel_triple(),
    ])
    .arg("--target-dir")
    .arg(&kernel_dir)
    .env("KEEL_BOOT_ARCHIVE", &archive_path)
    .env(arch.kernel_rustflags_var(), arch.kernel_rustflags(root));
    if target.release {
        cmd.arg("--release");
    }
    cargo::run(&mut cmd, &format!("building the kernel for {arch}"))?;

    let built = kernel_dir
        .join(arch.kernel_triple())
        .join(cargo::profile_dir(target.release))
        .join("keel-kernel");
    let elf = out_dir.join("keel.elf");
    std::fs::copy(&built, &elf).with_context(|| {
        format!(
            "could not copy the kernel {} to {}; did the kernel build produce a binary named keel-kernel?",
            built.display(),
            elf.display()
        )
    })?;
    let size = std::fs::metadata(&elf).map(|m| m.len()).unwrap_or(0);
    println!("image: {} ({} KiB)", elf.display(), size.div_ceil(1024));
    Ok(elf)
}

/// Packs programs (name, ELF bytes), in the manifest's order, and the
/// manifest into a boot archive whose root entry is `programs[start_index]`.
///
/// # Errors
/// If a name does not fit the archive or the manifest cannot be encoded.
pub fn pack_archive(
    manifest: &Manifest,
    programs: &[(String, Vec<u8>)],
    start_index: usize,
) -> Result<Vec<u8>> {
    let encoded = manifest
        .encode()
        .map_err(|e| anyhow!("could not encode the boot manifest: {e}"))?;
    let mut files: Vec<(&str, &[u8])> = programs
        .iter()
        .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
        .collect();
    files.push((keel_abi::archive::MANIFEST_NAME, &encoded));
    keel_abi::archive::pack(&files, start_index).map_err(|e| {
        anyhow!("could not pack the boot archive ({e:?}); entry names must be 1 to 48 bytes")
    })
}

/// Writes `bytes` unless the file already holds them (keeps cargo from relinking).
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    std::fs::write(path, bytes).with_context(|| format!("could not write {}", path.display()))
}

/// Fails with "`what` is missing: `path` does not exist; `fix`" unless `path` is a file.
fn require_file(path: &Path, what: &str, fix: &str) -> Result<()> {
    if !path.is_file() {
        bail!(
            "{what} is missing: {} does not exist; {fix}",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_abi::archive::Archive;
    use keel_abi::manifest::Role;
    use std::path::Path;

    fn system() -> System {
        System::parse(
            "[system]\nname = \"keel-default\"\n\
             [[program]]\nname = \"hello\"\ncrate = \"keel-hello\"\nrole = \"app\"\n\
             [[program]]\nname = \"root-task\"\ncrate = \"keel-root-task\"\nrole = \"root-task\"\n",
            Path::new("system.toml"),
        )
        .unwrap()
    }

    fn programs() -> Vec<(String, Vec<u8>)> {
        vec![
            ("root-task".into(), b"\x7fELF root".to_vec()),
            ("hello".into(), b"\x7fELF hello".to_vec()),
        ]
    }

    #[test]
    fn archive_holds_programs_and_manifest() {
        let manifest = system().manifest(&[], Start::System).unwrap();
        let bytes = pack_archive(&manifest, &programs(), 0).unwrap();
        let a = Archive::parse(&bytes).unwrap();
        assert_eq!(a.root().name(), "root-task");
        assert_eq!(a.data(a.find("hello").unwrap()), b"\x7fELF hello");
        let m = Manifest::decode(a.data(a.find("manifest").unwrap())).unwrap();
        assert_eq!(m, manifest);
        assert_eq!(m.system, "keel-default");
        assert_eq!(m.start, Start::System);
        let roles: Vec<_> = m.programs.iter().map(|p| p.role).collect();
        assert_eq!(roles, [Role::RootTask, Role::App], "root task first");
    }

    #[test]
    fn packed_program_can_take_the_root_tasks_place() {
        let only = vec!["FAULT0001".to_string()];
        let start = Start::Tests {
            only: only.clone(),
            resume_after: None,
        };
        let mut files = programs();
        files.push(("outside".into(), b"\x7fELF outside".to_vec()));
        let manifest = system().manifest(&["outside"], start.clone()).unwrap();
        let bytes = pack_archive(&manifest, &files, 2).unwrap();
        let a = Archive::parse(&bytes).unwrap();
        assert_eq!(a.root().name(), "outside");
        let m = Manifest::decode(a.data(a.find("manifest").unwrap())).unwrap();
        assert_eq!(m.start, start);
        let outside = &m.programs[2];
        assert_eq!(
            (outside.name.as_str(), outside.role),
            ("outside", Role::App)
        );
        assert!(outside.start, "init starts an --app-crate program");
    }
}
