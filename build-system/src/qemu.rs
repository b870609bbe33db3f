//! QEMU for Keel: the command line per architecture, the mapping from QEMU's exit
//! code to the system's exit status, and running QEMU with a timeout while
//! capturing the serial console and typing into it what the target asks for
//! (`Test NAME types: TEXT`). Deciding what the serial output means is
//! `serial_log.rs`'s job.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::arch::Arch;

/// Deterministic time: one guest instruction is one nanosecond of virtual
/// time (so the cycle counter counts instructions), and idle time is skipped.
pub const ICOUNT: [&str; 2] = ["-icount", "shift=0,sleep=off"];

/// The port of the x86 isa-debug-exit device the kernel writes its status to.
pub const X86_DEBUG_EXIT: &str = "isa-debug-exit,iobase=0xf4,iosize=0x04";

/// Extra QEMU options.
#[derive(Clone, Debug, Default)]
pub struct QemuOptions {
    /// Use KVM (x86_64 only): `-enable-kvm -cpu host`.
    pub kvm: bool,
    /// Wait for gdb on :1234 before starting (`-s -S`).
    pub gdb: bool,
    /// Further arguments, placed before `-kernel`.
    pub extra: Vec<String>,
}

/// QEMU's arguments (without the binary) to boot `kernel` on `arch`.
pub fn args(arch: Arch, kernel: &Path, opts: &QemuOptions) -> Vec<String> {
    let mut args: Vec<String> = match arch {
        Arch::X86_64 => vec!["-machine", "q35"],
        Arch::Aarch64 => vec!["-machine", "virt", "-cpu", "cortex-a57"],
    }
    .into_iter()
    .map(String::from)
    .collect();
    let common = [
        "-m",
        "512M",
        "-display",
        "none",
        "-serial",
        "stdio",
        "-monitor",
        "none",
        "-no-reboot",
    ];
    args.extend(common.map(String::from));
    match arch {
        Arch::X86_64 => {
            args.extend(["-device".into(), X86_DEBUG_EXIT.into()]);
            if opts.kvm {
                args.extend(["-enable-kvm", "-cpu", "host"].map(String::from));
            }
        }
        Arch::Aarch64 => {
            args.extend(["-semihosting-config", "enable=on,target=native"].map(String::from));
        }
    }
    if opts.gdb {
        args.extend(["-s".into(), "-S".into()]);
    }
    args.extend(opts.extra.iter().cloned());
    args.push("-kernel".into());
    args.push(kernel.display().to_string());
    args
}

/// Checks that `opts` can work here before anything is built.
///
/// # Errors
/// If KVM was asked for but is not usable here (or not on x86_64).
pub fn check_options(arch: Arch, opts: &QemuOptions) -> Result<()> {
    if opts.kvm {
        if arch != Arch::X86_64 {
            bail!("--kvm is supported for x86_64 only; drop --kvm for {arch}");
        }
        if let Some(why) = kvm_unusable_reason() {
            bail!("--kvm: {why}; run without --kvm");
        }
    }
    Ok(())
}

/// A QEMU command for `kernel` on `arch`.
///
/// # Errors
/// If KVM was asked for but is not usable here.
pub fn command(arch: Arch, kernel: &Path, opts: &QemuOptions) -> Result<Command> {
    check_options(arch, opts)?;
    let mut cmd = Command::new(arch.qemu_binary());
    cmd.args(args(arch, kernel, opts));
    Ok(cmd)
}

/// Why KVM cannot run Keel here, or `None` when it can.
pub fn kvm_unusable_reason() -> Option<String> {
    let openable = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    let module = |name: &str| Path::new("/sys/module").join(name).exists();
    kvm_reason(
        openable,
        module("kvm_pvm"),
        module("kvm_intel") || module("kvm_amd"),
    )
}

/// [`kvm_unusable_reason`] from what was found: whether /dev/kvm opens, and
/// whether the paravirtual `kvm_pvm` or a hardware KVM module is loaded.
fn kvm_reason(openable: bool, pvm: bool, hardware: bool) -> Option<String> {
    if !openable {
        return Some(
            "KVM is not available (/dev/kvm cannot be opened for reading and writing); \
             enable KVM and add yourself to the kvm group"
                .into(),
        );
    }
    (pvm && !hardware).then(|| {
        "/dev/kvm here is kvm-pvm, a paravirtual hypervisor that runs only guests written \
         for it (Keel's first system call faults under it); Keel needs KVM on hardware \
         virtualization (kvm_intel or kvm_amd)"
            .into()
    })
}

/// The system's exit status from QEMU's exit code (`None`: QEMU died by a signal).
///
/// x86_64: the kernel writes its status to isa-debug-exit, which makes QEMU exit with
/// `(status << 1) | 1`; any even code means QEMU stopped some other way.
/// aarch64: the kernel exits through semihosting, so QEMU's code is the status.
///
/// # Errors
/// If QEMU ended in a way that carries no system status; the message names QEMU's code.
pub fn system_status(arch: Arch, code: Option<i32>) -> Result<i32> {
    let Some(code) = code else {
        bail!("QEMU was killed by a signal before the system halted");
    };
    match arch {
        Arch::X86_64 if code % 2 == 1 => Ok((code - 1) / 2),
        Arch::X86_64 if code == 0 => bail!(
            "QEMU exited with code 0 without the kernel writing to isa-debug-exit \
             (with -no-reboot, a triple fault or reset ends QEMU this way)"
        ),
        Arch::X86_64 => bail!("QEMU itself failed: it exited with code {code}"),
        Arch::Aarch64 => Ok(code),
    }
}

/// How a captured QEMU run ended.
#[derive(Debug)]
pub enum Ending {
    /// QEMU exited by itself.
    Exited(ExitStatus),
    /// The timeout passed; QEMU was killed.
    TimedOut,
    /// The `stop` callback asked to end the run; QEMU was killed.
    Stopped,
    /// Nothing was printed for the quiet limit; QEMU was killed.
    Quiet,
}

/// The serial output of a captured run and how it ended.
#[derive(Debug)]
pub struct Capture {
    /// Every serial line, without line endings.
    pub lines: Vec<String>,
    /// How QEMU ended.
    pub ending: Ending,
}

/// Runs QEMU with its serial console (stdout) captured: each line is echoed to our
/// stdout after `prefix`, appended to `log`, and passed to `stop`, which ends the
/// run (killing QEMU) when it returns true. A line `Test NAME types: TEXT`
/// makes the tool type TEXT (unescaped: `\b` a backspace) and a newline into
/// the serial input (QEMU's stdin), so the suite's reading tests get the same input in every run.
/// QEMU is killed after `timeout`, or when it printed nothing for `quiet`
/// (if given).
///
/// # Errors
/// If QEMU cannot be started or the log cannot be written.
pub fn run_captured(
    mut cmd: Command,
    timeout: Duration,
    quiet: Option<Duration>,
    prefix: &str,
    log: &Path,
    mut stop: impl FnMut(&str) -> bool,
) -> Result<Capture> {
    let mut log_file =
        File::create(log).with_context(|| format!("could not create {}", log.display()))?;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!(
                "could not start {:?}; run `cargo xtask setup`",
                cmd.get_program()
            )
        })?;
    let stdout = child.stdout.take().context("QEMU's stdout was not piped")?;
    let mut input = child.stdin.take().context("QEMU's stdin was not piped")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        while reader.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\n', '\r']).to_string();
            if tx.send(line).is_err() {
                break;
            }
            buf.clear();
        }
    });

    let deadline = Instant::now() + timeout;
    let mut lines = Vec::new();
    let ending = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let wait = quiet.map_or(left, |q| q.min(left));
        match rx.recv_timeout(wait) {
            Ok(line) => {
                println!("{prefix}{line}");
                writeln!(log_file, "{line}")
                    .with_context(|| format!("could not write {}", log.display()))?;
                if let Some(text) = crate::serial_log::typed_input(&line) {
                    input
                        .write_all(format!("{text}\n").as_bytes())
                        .and_then(|()| input.flush())
                        .context("could not type into QEMU's serial input")?;
                }
                let done = stop(&line);
                lines.push(line);
                if done {
                    break Ending::Stopped;
                }
            }
            Err(RecvTimeoutError::Timeout) if wait < left => break Ending::Quiet,
            Err(RecvTimeoutError::Timeout) => break Ending::TimedOut,
            Err(RecvTimeoutError::Disconnected) => {
                let status = child.wait().context("could not wait for QEMU")?;
                return Ok(Capture {
                    lines,
                    ending: Ending::Exited(status),
                });
            }
        }
    };
    // QEMU may already have exited on its own; a failed kill is then expected.
    let _ = child.kill();
    child.wait().context("could not wait for QEMU")?;
    Ok(Capture { lines, ending })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_64_command_line() {
        let a = args(
            Arch::X86_64,
            Path::new("/k/keel.elf"),
            &QemuOptions::default(),
        );
        assert_eq!(
            a.join(" "),
            "-machine q35 -m 512M -display none -serial stdio -monitor none -no-reboot \
             -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel /k/keel.elf"
        );
        let opts = QemuOptions {
            kvm: true,
            gdb: true,
            extra: vec!["-icount".into(), "shift=0".into()],
        };
        let a = args(Arch::X86_64, Path::new("k"), &opts).join(" ");
        assert!(
            a.ends_with("-enable-kvm -cpu host -s -S -icount shift=0 -kernel k"),
            "{a}"
        );
    }

    #[test]
    fn aarch64_command_line() {
        let a = args(
            Arch::Aarch64,
            Path::new("/k/keel.elf"),
            &QemuOptions::default(),
        );
        assert_eq!(
            a.join(" "),
            "-machine virt -cpu cortex-a57 -m 512M -display none -serial stdio -monitor none \
             -no-reboot -semihosting-config enable=on,target=native -kernel /k/keel.elf"
        );
    }

    #[test]
    fn kvm_reasons() {
        assert!(kvm_reason(false, false, true)
            .unwrap()
            .contains("cannot be opened"));
        assert!(kvm_reason(true, true, false).unwrap().contains("kvm-pvm"));
        assert_eq!(kvm_reason(true, true, true), None);
        assert_eq!(kvm_reason(true, false, true), None);
    }

    #[test]
    fn kvm_is_x86_64_only() {
        let opts = QemuOptions {
            kvm: true,
            ..QemuOptions::default()
        };
        let e = command(Arch::Aarch64, Path::new("k"), &opts).unwrap_err();
        assert!(e.to_string().contains("x86_64 only"));
    }

    #[test]
    fn x86_64_exit_status_mapping() {
        assert_eq!(system_status(Arch::X86_64, Some(1)).unwrap(), 0);
        assert_eq!(system_status(Arch::X86_64, Some(3)).unwrap(), 1);
        assert_eq!(system_status(Arch::X86_64, Some(255)).unwrap(), 127);
        let e = system_status(Arch::X86_64, Some(0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("isa-debug-exit"), "{e}");
        let e = system_status(Arch::X86_64, Some(2))
            .unwrap_err()
            .to_string();
        assert!(e.contains("code 2"), "{e}");
        assert!(system_status(Arch::X86_64, None).is_err());
    }

    #[test]
    fn aarch64_exit_status_is_qemus_code() {
        assert_eq!(system_status(Arch::Aarch64, Some(0)).unwrap(), 0);
        assert_eq!(system_status(Arch::Aarch64, Some(1)).unwrap(), 1);
        assert!(system_status(Arch::Aarch64, None).is_err());
    }
}
