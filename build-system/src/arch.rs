//! The target architectures and the per-architecture facts the build needs:
//! target triples, linker scripts, code models and QEMU binaries. How those facts
//! are used (cargo invocations, QEMU command lines) lives in `cargo.rs` and `qemu.rs`.

use std::fmt;
use std::path::Path;

use clap::ValueEnum;

/// A target architecture Keel boots on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Arch {
    /// x86_64 on QEMU q35.
    #[value(name = "x86_64")]
    X86_64,
    /// aarch64 on QEMU virt.
    #[value(name = "aarch64")]
    Aarch64,
}

impl Arch {
    /// Every supported architecture, in the order `test --arch all` runs them.
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// The name used on the command line and in paths (`x86_64`, `aarch64`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// The rustc target triple for bare-metal user programs.
    pub fn triple(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-none",
            Arch::Aarch64 => "aarch64-unknown-none",
        }
    }

    /// The rustc target triple for the kernel: one whose code never touches
    /// the FP/SIMD registers, so those hold a user thread's state only (on
    /// aarch64 they are switched lazily). `x86_64-unknown-none` is already
    /// soft-float.
    pub fn kernel_triple(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-none",
            Arch::Aarch64 => "aarch64-unknown-none-softfloat",
        }
    }

    /// Every rustup target building for this architecture needs.
    pub fn rustup_targets(self) -> Vec<&'static str> {
        let mut targets = vec![self.triple()];
        if self.kernel_triple() != self.triple() {
            targets.push(self.kernel_triple());
        }
        targets
    }

    /// The QEMU system emulator for this architecture.
    pub fn qemu_binary(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-system-x86_64",
            Arch::Aarch64 => "qemu-system-aarch64",
        }
    }

    /// The cargo environment variable that carries rustflags for the user
    /// target only, e.g. `CARGO_TARGET_X86_64_UNKNOWN_NONE_RUSTFLAGS`.
    pub fn rustflags_var(self) -> String {
        rustflags_var(self.triple())
    }

    /// The same for the kernel's target.
    pub fn kernel_rustflags_var(self) -> String {
        rustflags_var(self.kernel_triple())
    }

    /// The linker script of the user runtime for this architecture.
    pub fn user_link_script(self, root: &Path) -> std::path::PathBuf {
        root.join("user/rt/src/arch")
            .join(self.name())
            .join("link.ld")
    }

    /// The kernel's linker script for this architecture.
    pub fn kernel_link_script(self, root: &Path) -> std::path::PathBuf {
        root.join("kernel/src/arch")
            .join(self.name())
            .join("link.ld")
    }

    /// Rustflags for user programs (static, linked by the user runtime's script).
    pub fn user_rustflags(self, root: &Path) -> String {
        let mut flags = format!(
            "-C relocation-model=static -C link-arg=-T{}",
            self.user_link_script(root).display()
        );
        if self == Arch::X86_64 {
            flags.push_str(" -C code-model=small");
        }
        flags
    }

    /// Rustflags for the kernel (static, linked by the kernel's script; the
    /// kernel code model on x86_64 because the kernel lives in the top 2 GiB).
    pub fn kernel_rustflags(self, root: &Path) -> String {
        let mut flags = format!(
            "-C relocation-model=static -C link-arg=-T{}",
            self.kernel_link_script(root).display()
        );
        if self == Arch::X86_64 {
            flags.push_str(" -C code-model=kernel");
        }
        flags
    }
}

/// The cargo environment variable with rustflags for `triple` only.
fn rustflags_var(triple: &str) -> String {
    let triple = triple.to_uppercase().replace('-', "_");
    format!("CARGO_TARGET_{triple}_RUSTFLAGS")
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustflags_var_is_upper_snake_case() {
        assert_eq!(
            Arch::X86_64.rustflags_var(),
            "CARGO_TARGET_X86_64_UNKNOWN_NONE_RUSTFLAGS"
        );
        assert_eq!(
            Arch::Aarch64.rustflags_var(),
            "CARGO_TARGET_AARCH64_UNKNOWN_NONE_RUSTFLAGS"
        );
        assert_eq!(
            Arch::Aarch64.kernel_rustflags_var(),
            "CARGO_TARGET_AARCH64_UNKNOWN_NONE_SOFTFLOAT_RUSTFLAGS"
        );
        assert_eq!(Arch::X86_64.rustup_targets(), ["x86_64-unknown-none"]);
        assert_eq!(
            Arch::Aarch64.rustup_targets(),
            ["aarch64-unknown-none", "aarch64-unknown-none-softfloat"]
        );
    }

    #[test]
    fn code_model_only_on_x86_64() {
        let root = Path::new("/r");
        assert_eq!(
            Arch::X86_64.kernel_rustflags(root),
            "-C relocation-model=static -C link-arg=-T/r/kernel/src/arch/x86_64/link.ld -C code-model=kernel"
        );
        assert_eq!(
            Arch::Aarch64.user_rustflags(root),
            "-C relocation-model=static -C link-arg=-T/r/user/rt/src/arch/aarch64/link.ld"
        );
        assert!(Arch::X86_64
            .user_rustflags(root)
            .ends_with("-C code-model=small"));
    }
}
