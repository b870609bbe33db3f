//! The x86_64 user register file ([`UserContext`]): the layout the trap
//! path pushes into (see `trap`), the x87/SSE save area, and the
//! [`UserRegisters`] view the rest of the kernel reads and writes it through,
//! which keeps every value a thread can be given safe to return to user mode
//! with (canonical RIP and FS base, a masked RFLAGS). Entry and exit are
//! `trap`'s.

use super::gdt::{USER_CS, USER_SS};
use crate::arch::UserRegisters;

/// A user thread's registers, in the order the trap path pushes them.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default)]
pub struct UserContext {
    /// x87/SSE state, saved on every kernel entry and restored on every exit
    /// (`fxsave64`/`fxrstor64`; the kernel itself never touches these registers).
    fpu: FxArea,
    /// The thread pointer (FS base) as `TcbSetTLSBase` set it, put back on
    /// every return to user mode (see `thread_pointer`); the trap path does
    /// not push it.
    pub(super) fs_base: u64,
    /// Keeps the size a multiple of 16: the CPU aligns the stack it pushes
    /// the trap frame on (`rsp0`, the end of this struct) to 16 bytes.
    pub(super) reserved: u64,
    pub(super) rax: u64,
    pub(super) rbx: u64,
    pub(super) rcx: u64,
    pub(super) rdx: u64,
    pub(super) rsi: u64,
    pub(super) rdi: u64,
    pub(super) rbp: u64,
    pub(super) r8: u64,
    pub(super) r9: u64,
    pub(super) r10: u64,
    pub(super) r11: u64,
    pub(super) r12: u64,
    pub(super) r13: u64,
    pub(super) r14: u64,
    pub(super) r15: u64,
    pub(super) vector: u64,
    pub(super) error: u64,
    pub(super) rip: u64,
    pub(super) cs: u64,
    pub(super) rflags: u64,
    pub(super) rsp: u64,
    pub(super) ss: u64,
}

const _: () = assert!(core::mem::size_of::<UserContext>() == 512 + 24 * 8);
/// Where `rax`, the first pushed register, sits in `UserContext`.
pub(super) const RAX_OFFSET: usize = 512 + 16;
const _: () = assert!(core::mem::offset_of!(UserContext, rax) == RAX_OFFSET);
/// Where `fs_base` sits in `UserContext`.
pub(super) const FS_BASE_OFFSET: usize = core::mem::offset_of!(UserContext, fs_base);

/// The RFLAGS written for a user thread (`set_register`): its arithmetic
/// flags (CF, PF, AF, ZF, SF, OF) and DF kept; interrupts enabled; IOPL 0;
/// everything else (TF, NT, AC, VM, ...) clear.
const fn user_rflags(rflags: u64) -> u64 {
    (rflags & 0xcd5) | 0x202
}

/// True for an address whose top 17 bits are all equal (a canonical address).
fn canonical(address: u64) -> bool {
    (address as i64) << 16 >> 16 == address as i64
}

/// `address` if canonical, else 0: what the kernel stores where the CPU
/// would fault in the kernel on a non-canonical value (RIP at `iretq`, the
/// FS base at `wrmsr`).
fn canonical_or_zero(address: u64) -> u64 {
    if canonical(address) {
        address
    } else {
        0
    }
}

/// The 512-byte `fxsave` area.
#[repr(C, align(16))]
#[derive(Clone, Copy)]
struct FxArea([u8; 512]);

/// x87 control word and MXCSR after reset: every exception masked.
const DEFAULT_FCW: u16 = 0x037f;
const DEFAULT_MXCSR: u32 = 0x1f80;

impl Default for FxArea {
    /// The reset state: every floating-point exception masked.
    fn default() -> Self {
        let mut area = FxArea([0; 512]);
        area.0[..2].copy_from_slice(&DEFAULT_FCW.to_le_bytes());
        area.0[24..28].copy_from_slice(&DEFAULT_MXCSR.to_le_bytes());
        area
    }
}

impl core::fmt::Debug for FxArea {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FxArea")
    }
}

impl UserRegisters for UserContext {
    fn new_thread(entry: u64, stack_top: u64, arg0: u64) -> Self {
        UserContext {
            rip: entry,
            rsp: stack_top,
            rdi: arg0,
            cs: USER_CS,
            ss: USER_SS,
            rflags: 0x202,
            ..Default::default()
        }
    }

    fn syscall_number(&self) -> u64 {
        self.rax
    }

    fn syscall_arg(&self, n: usize) -> u64 {
        match n {
            0 => self.rdi,
            1 => self.rsi,
            2 => self.rdx,
            3 => self.r10,
            4 => self.r8,
            5 => self.r9,
            6 => self.r12,
            7 => self.r13,
            _ => 0,
        }
    }

    fn set_syscall_result(&mut self, words: [u64; 6]) {
        [self.rax, self.rdi, self.rsi, self.rdx, self.r10, self.r8] = words;
    }

    fn ip(&self) -> u64 {
        self.rip
    }

    fn restart_syscall(&mut self) {
        // `syscall` saved the address after its 2-byte instruction; step back
        // onto it. The saved address may have been written (WriteRegisters)
        // since: one step back from a canonical address need not be
        // canonical, and `iretq` to that would fault in the kernel.
        self.rip = canonical_or_zero(self.rip.wrapping_sub(2));
    }

    const REGISTER_COUNT: usize = keel_abi::registers::X86_64_COUNT;

    fn set_tls_base(&mut self, base: u64) {
        self.fs_base = canonical_or_zero(base);
    }

    fn register(&self, index: usize) -> Option<u64> {
        self.register_list().get(index).map(|r| **r)
    }

    fn set_register(&mut self, index: usize, value: u64) -> bool {
        // A non-canonical RIP is stored as 0 (as seL4 does).
        let value = match index {
            keel_abi::registers::PC => canonical_or_zero(value),
            keel_abi::registers::FLAGS => user_rflags(value),
            _ => value,
        };
        match self.register_list_mut().into_iter().nth(index) {
            Some(r) => {
                *r = value;
                true
            }
            None => false,
        }
    }
}

impl UserContext {
    fn register_list(&self) -> [&u64; keel_abi::registers::X86_64_COUNT] {
        [
            &self.rip,
            &self.rsp,
            &self.rflags,
            &self.rdi,
            &self.rsi,
            &self.rdx,
            &self.rcx,
            &self.r8,
            &self.r9,
            &self.rax,
            &self.rbx,
            &self.rbp,
            &self.r10,
            &self.r11,
            &self.r12,
            &self.r13,
            &self.r14,
            &self.r15,
        ]
    }

    fn register_list_mut(&mut self) -> [&mut u64; keel_abi::registers::X86_64_COUNT] {
        [
            &mut self.rip,
            &mut self.rsp,
            &mut self.rflags,
            &mut self.rdi,
            &mut self.rsi,
            &mut self.rdx,
            &mut self.rcx,
            &mut self.r8,
            &mut self.r9,
            &mut self.rax,
            &mut self.rbx,
            &mut self.rbp,
            &mut self.r10,
            &mut self.r11,
            &mut self.r12,
            &mut self.r13,
            &mut self.r14,
            &mut self.r15,
        ]
    }
}
