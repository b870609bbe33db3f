//! The register file as `TcbReadRegisters`/`TcbWriteRegisters` see it: a list
//! of words whose first entries mean the same on every architecture.
//!
//! | index | x86_64 | aarch64 |
//! |-------|--------|---------|
//! | 0 [`PC`] | rip | pc (ELR_EL1) |
//! | 1 [`SP`] | rsp | sp (SP_EL0) |
//! | 2 [`FLAGS`] | rflags | spsr (condition flags) |
//! | 3..9 [`ARG0`].. | rdi, rsi, rdx, rcx, r8, r9 | x0..x5 |
//! | 9.. | rax, rbx, rbp, r10..r15 | x6..x30 |
//!
//! [`X86_64_COUNT`] and [`AARCH64_COUNT`] give the lengths. Writes to the flags
//! keep only what user mode may set.

/// Index of the program counter.
pub const PC: usize = 0;
/// Index of the stack pointer.
pub const SP: usize = 1;
/// Index of the flags word.
pub const FLAGS: usize = 2;
/// Index of the first argument register; the next five follow it.
pub const ARG0: usize = 3;
/// Registers on x86_64.
pub const X86_64_COUNT: usize = 18;
/// Registers on aarch64.
pub const AARCH64_COUNT: usize = 34;
/// The longest register list.
pub const MAX_COUNT: usize = AARCH64_COUNT;
/// `TcbWriteRegisters` flag: resume the thread afterwards.
pub const RESUME: u64 = 1 << 0;
/// `TcbReadRegisters` flag: suspend the thread first.
pub const SUSPEND: u64 = 1 << 0;
