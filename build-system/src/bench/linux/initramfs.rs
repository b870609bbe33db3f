//! The Linux baseline's userland: `build-system/linux/baseline.c` compiled
//! static for the architecture, packed as `/init` of an uncompressed `newc`
//! cpio archive (which Linux unpacks as its initramfs) beside an empty
//! `/proc` and `/sys` and a `/dev` holding only the console node the kernel
//! opens for init. The archive is written here, so no cpio tool is needed.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::arch::Arch;

/// The C source of `/init`, relative to the repository root.
pub const SOURCE: &str = "build-system/linux/baseline.c";

/// The C compiler for `arch`'s `/init` and the Debian packages that provide
/// it with a static C library.
pub fn compiler(arch: Arch) -> (&'static str, &'static [&'static str]) {
    match arch {
        Arch::X86_64 => ("gcc", &["gcc", "libc6-dev"]),
        Arch::Aarch64 => (
            "aarch64-linux-gnu-gcc",
            &["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"],
        ),
    }
}

/// Compiles `/init` for `arch` and writes the initramfs into `dir`; returns
/// the archive's path.
///
/// # Errors
/// If the compiler fails or a file cannot be written.
pub fn build(root: &Path, arch: Arch, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let (cc, packages) = compiler(arch);
    let init = dir.join("init");
    let output = Command::new(cc)
        .args(["-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&init)
        .arg(root.join(SOURCE))
        .output()
        .with_context(|| format!("could not run {cc}"))?;
    if !output.status.success() {
        bail!(
            "{cc} could not build {SOURCE} (a static program: the C library comes with \
             the packages {}):\n{}",
            packages.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let program =
        std::fs::read(&init).with_context(|| format!("could not read {}", init.display()))?;
    let archive = dir.join("initramfs.cpio");
    std::fs::write(&archive, newc(&program))
        .with_context(|| format!("could not write {}", archive.display()))?;
    Ok(archive)
}

/// File type bits of a cpio entry's mode.
const DIRECTORY: u32 = 0o040_000;
const REGULAR: u32 = 0o100_000;
const CHAR_DEVICE: u32 = 0o020_000;

/// One archive member.
struct Entry<'a> {
    name: &'a str,
    mode: u32,
    /// Device number (major, minor) of a device node.
    rdev: (u32, u32),
    data: &'a [u8],
}

/// The initramfs holding `init` as `/init`, in the `newc` format: each member
/// a 110-byte ASCII header, its name, and its data, each padded to 4 bytes,
/// ending with the member `TRAILER!!!`.
pub fn newc(init: &[u8]) -> Vec<u8> {
    let dir = |name| Entry {
        name,
        mode: DIRECTORY | 0o755,
        rdev: (0, 0),
        data: &[],
    };
    let entries = [
        dir("dev"),
        Entry {
            name: "dev/console",
            mode: CHAR_DEVICE | 0o600,
            rdev: (5, 1),
            data: &[],
        },
        dir("proc"),
        dir("sys"),
        Entry {
            name: "init",
            mode: REGULAR | 0o755,
            rdev: (0, 0),
            data: init,
        },
        Entry {
            name: "TRAILER!!!",
            mode: 0,
            rdev: (0, 0),
            data: &[],
        },
    ];
    let mut out = Vec::new();
    for (ino, e) in entries.iter().enumerate() {
        let nlink = if e.mode & DIRECTORY == DIRECTORY {
            2
        } else {
            1
        };
        let fields = [
            ino as u32 + 1,
            e.mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime
            e.data.len() as u32,
            0, // devmajor
            0, // devminor
            e.rdev.0,
            e.rdev.1,
            e.name.len() as u32 + 1,
            0, // check
        ];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        out.extend_from_slice(e.name.as_bytes());
        out.push(0);
        pad4(&mut out);
        out.extend_from_slice(e.data);
        pad4(&mut out);
    }
    out
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A member read back: name, mode, device number, data.
    type Member = (String, u32, (u32, u32), Vec<u8>);

    /// Reads a newc archive back, checking its layout.
    fn members(mut a: &[u8]) -> Vec<Member> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            assert_eq!(&a[..6], b"070701", "magic at offset {offset}");
            let field = |i: usize| {
                let s = std::str::from_utf8(&a[6 + 8 * i..14 + 8 * i]).unwrap();
                u32::from_str_radix(s, 16).unwrap() as usize
            };
            let (mode, size, namesize) = (field(1), field(6), field(11));
            let rdev = (field(9) as u32, field(10) as u32);
            let name = std::str::from_utf8(&a[110..110 + namesize - 1]).unwrap();
            assert_eq!(a[110 + namesize - 1], 0);
            let data_at = (110 + namesize).next_multiple_of(4);
            let data = a[data_at..data_at + size].to_vec();
            let next = (data_at + size).next_multiple_of(4);
            offset += next;
            if name == "TRAILER!!!" {
                assert_eq!(a.len(), next, "nothing after the trailer");
                return out;
            }
            out.push((name.to_string(), mode as u32, rdev, data));
            a = &a[next..];
        }
    }

    #[test]
    fn archive_holds_init_and_the_console_node() {
        let init = b"\x7fELF and some more bytes";
        let a = newc(init);
        assert_eq!(a.len() % 4, 0);
        let m = members(&a);
        let names: Vec<&str> = m.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["dev", "dev/console", "proc", "sys", "init"]);
        assert_eq!(m[1].1, 0o020_600);
        assert_eq!(m[1].2, (5, 1));
        assert_eq!(m[4].1, 0o100_755);
        assert_eq!(m[4].3, init);
        assert_eq!(m[0].1 & DIRECTORY, DIRECTORY);
    }
}
