//! The faulter's machine code for the fault sweeps, per architecture: for
//! each kind of fault the faulting instruction and the sequence the handler
//! restarts it at, and which registers the code uses.

use crate::Env;
use alloc::string::String;
use keel_abi::Arch;

/// A faulting instruction and what follows it.
pub(super) struct Snippet {
    /// The machine code: the faulting instruction, then the restart
    /// sequence (store the value register at `out`, jump to `cont`).
    pub(super) bytes: &'static [u8],
    /// Offset of the restart sequence, just past the faulting instruction.
    pub(super) restart: u64,
}

/// The faulter's code and registers on one architecture (register numbers
/// are indices into the register list, `keel_abi::registers`).
pub(super) struct Machine {
    /// Per [`super::Kind`], in its order.
    pub(super) snippets: [Snippet; 5],
    /// The register holding `BAD_MAGIC` at a page fault.
    pub(super) value: usize,
    /// The register holding `BAD_MAGIC` at the unknown system call.
    pub(super) syscall_value: usize,
    /// The register holding the system-call number.
    pub(super) number: usize,
    /// The register holding [`BAD_VADDR`] (the value word's address for
    /// an undefined instruction).
    pub(super) addr: usize,
    /// The register holding where the value goes past the fault.
    pub(super) out: usize,
    /// The register holding where the faulter goes on to.
    pub(super) cont: usize,
    /// The register holding the argument it goes on with.
    pub(super) arg: usize,
    /// How far below a 16-byte aligned stack top a function is entered.
    pub(super) entry_bias: u64,
    /// Flags the faulter runs with (a value user mode may hold).
    pub(super) flags: u64,
    /// The UserException number of an undefined instruction: the x86_64
    /// vector, or the aarch64 ESR (an unknown instruction, 32 bits long).
    pub(super) undefined_number: u64,
}

/// x86_64: rdi 3, rsi 4, rdx 5, rax 9, rbx 10, rbp 11.
const X86_64: Machine = Machine {
    snippets: [
        // mov rax, [rsi]; mov [rbp], rax; jmp rdx
        Snippet {
            bytes: &[0x48, 0x8b, 0x06, 0x48, 0x89, 0x45, 0x00, 0xff, 0xe2],
            restart: 3,
        },
        // mov [rsi], rax; mov [rbp], rax; jmp rdx
        Snippet {
            bytes: &[0x48, 0x89, 0x06, 0x48, 0x89, 0x45, 0x00, 0xff, 0xe2],
            restart: 3,
        },
        // jmp rsi; mov [rbp], rax; jmp rdx
        Snippet {
            bytes: &[0xff, 0xe6, 0x48, 0x89, 0x45, 0x00, 0xff, 0xe2],
            restart: 2,
        },
        // syscall; mov [rbp], rbx; jmp rdx
        Snippet {
            bytes: &[0x0f, 0x05, 0x48, 0x89, 0x5d, 0x00, 0xff, 0xe2],
            restart: 2,
        },
        // ud2; mov rax, [rsi]; mov [rbp], rax; jmp rdx
        Snippet {
            bytes: &[
                0x0f, 0x0b, 0x48, 0x8b, 0x06, 0x48, 0x89, 0x45, 0x00, 0xff, 0xe2,
            ],
            restart: 2,
        },
    ],
    value: 9,
    syscall_value: 10,
    number: 9,
    addr: 4,
    out: 11,
    cont: 5,
    arg: 3,
    entry_bias: 8,
    flags: 0x203,
    undefined_number: 6,
};

/// `str x0, [x3]; mov x0, x4; br x2`, little-endian.
macro_rules! aarch64_restart {
    () => {
        [
            0x60, 0x00, 0x00, 0xf9, 0xe0, 0x03, 0x04, 0xaa, 0x40, 0x00, 0x1f, 0xd6,
        ]
    };
}

/// Concatenates a faulting instruction with the restart sequence.
const fn aarch64_snippet<const N: usize>(first: [u8; 4]) -> [u8; N] {
    let rest = aarch64_restart!();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = if i < 4 {
            first[i]
        } else if i - 4 < rest.len() {
            rest[i - 4]
        } else {
            0
        };
        i += 1;
    }
    out
}

/// `ldr x0, [x1]`, `str x0, [x1]`, `br x1`, `svc #0`, `udf #0`.
const A64_READ: [u8; 16] = aarch64_snippet([0x20, 0x00, 0x40, 0xf9]);
const A64_WRITE: [u8; 16] = aarch64_snippet([0x20, 0x00, 0x00, 0xf9]);
const A64_EXECUTE: [u8; 16] = aarch64_snippet([0x20, 0x00, 0x1f, 0xd6]);
const A64_SYSCALL: [u8; 16] = aarch64_snippet([0x01, 0x00, 0x00, 0xd4]);
/// `udf #0; ldr x0, [x1]`, then the restart sequence.
const A64_UNDEFINED: [u8; 20] = {
    let rest = aarch64_restart!();
    let mut out = [0u8; 20];
    let load = [0x20, 0x00, 0x40, 0xf9];
    let mut i = 0;
    while i < 4 {
        out[4 + i] = load[i];
        i += 1;
    }
    let mut j = 0;
    while j < rest.len() {
        out[8 + j] = rest[j];
        j += 1;
    }
    out
};

/// aarch64: x0 3, x1 4, x2 5, x3 6, x4 7, x8 11.
const AARCH64: Machine = Machine {
    snippets: [
        Snippet {
            bytes: &A64_READ,
            restart: 4,
        },
        Snippet {
            bytes: &A64_WRITE,
            restart: 4,
        },
        Snippet {
            bytes: &A64_EXECUTE,
            restart: 4,
        },
        Snippet {
            bytes: &A64_SYSCALL,
            restart: 4,
        },
        Snippet {
            bytes: &A64_UNDEFINED,
            restart: 4,
        },
    ],
    value: 3,
    syscall_value: 3,
    number: 11,
    addr: 4,
    out: 6,
    cont: 5,
    arg: 7,
    entry_bias: 0,
    flags: 0x8000_0000,
    undefined_number: 0x0200_0000,
};

/// Where each snippet starts in the code page.
pub(super) const SNIPPET_STRIDE: u64 = 0x100;

pub(super) fn machine(env: &Env) -> Result<&'static Machine, String> {
    match env.boot_info.arch() {
        Some(Arch::X86_64) => Ok(&X86_64),
        Some(Arch::Aarch64) => Ok(&AARCH64),
        None => Err("BootInfo names no architecture".into()),
    }
}

/// The code page's bytes: every snippet at its stride.
pub(super) fn code_page(m: &Machine) -> alloc::vec::Vec<u8> {
    let mut page = alloc::vec![0u8; (SNIPPET_STRIDE as usize) * m.snippets.len()];
    for (k, s) in m.snippets.iter().enumerate() {
        let at = k * SNIPPET_STRIDE as usize;
        page[at..at + s.bytes.len()].copy_from_slice(s.bytes);
    }
    page
}
