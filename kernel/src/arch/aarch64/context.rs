//! A user thread's register file and the system-call register convention:
//! `svc #0` with the number in `x8`, arguments in `x0`-`x7`, the six result
//! words (error word first) in `x0`-`x5`.
//!
//! FP/SIMD state (`q0`-`q31`, FPCR, FPSR) is switched lazily (see `fpu`): the
//! register file holds it while another thread's is in the registers.

use crate::arch::UserRegisters;
use core::mem::offset_of;

/// SPSR bits a thread may keep: the condition flags. Everything else is forced
/// to EL0t, AArch64, with DAIF clear.
pub const SPSR_USER_MASK: u64 = 0xf000_0000;

/// A user thread's registers, in the order the trap entry stores them.
/// The vector code in `trap` relies on the offsets asserted below.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug)]
pub struct UserContext {
    /// `x0`-`x30`.
    pub x: [u64; 31],
    /// The user stack pointer.
    pub sp_el0: u64,
    /// Where the thread resumes.
    pub elr: u64,
    /// Saved PSTATE.
    pub spsr: u64,
    /// The user thread pointer.
    pub tpidr_el0: u64,
    /// Syndrome of the last exception from this thread.
    pub esr: u64,
    /// Fault address of the last exception from this thread.
    pub far: u64,
    /// Which vector the last entry came through (`trap::ENTRY_*`).
    pub entry: u64,
    /// Floating-point control.
    pub fpcr: u64,
    /// Floating-point status.
    pub fpsr: u64,
    /// SIMD and floating-point registers.
    pub q: [u128; 32],
}

/// Offset of `sp_el0`; the vector code uses the literal offsets listed here.
pub const OFFSET_SP_EL0: usize = 248;
/// Offset of `q`.
pub const OFFSET_Q: usize = 320;

const _: () = {
    assert!(offset_of!(UserContext, x) == 0);
    assert!(offset_of!(UserContext, sp_el0) == OFFSET_SP_EL0);
    assert!(offset_of!(UserContext, elr) == 256);
    assert!(offset_of!(UserContext, spsr) == 264);
    assert!(offset_of!(UserContext, tpidr_el0) == 272);
    assert!(offset_of!(UserContext, esr) == 280);
    assert!(offset_of!(UserContext, far) == 288);
    assert!(offset_of!(UserContext, entry) == 296);
    assert!(offset_of!(UserContext, fpcr) == 304);
    assert!(offset_of!(UserContext, fpsr) == 312);
    assert!(offset_of!(UserContext, q) == OFFSET_Q);
    assert!(core::mem::size_of::<UserContext>() == OFFSET_Q + 32 * 16);
};

impl UserRegisters for UserContext {
    /// Starts at EL0t with DAIF clear, so the timer interrupt preempts user
    /// code.
    fn new_thread(entry: u64, stack_top: u64, arg0: u64) -> Self {
        let mut x = [0; 31];
        x[0] = arg0;
        UserContext {
            x,
            sp_el0: stack_top,
            elr: entry,
            spsr: 0,
            tpidr_el0: 0,
            esr: 0,
            far: 0,
            entry: 0,
            fpcr: 0,
            fpsr: 0,
            q: [0; 32],
        }
    }

    fn syscall_number(&self) -> u64 {
        self.x[8]
    }

    fn syscall_arg(&self, n: usize) -> u64 {
        match n {
            0..=7 => self.x[n],
            _ => 0,
        }
    }

    fn set_syscall_result(&mut self, words: [u64; 6]) {
        self.x[..6].copy_from_slice(&words);
    }

    fn ip(&self) -> u64 {
        self.elr
    }

    fn restart_syscall(&mut self) {
        // ELR points past the 4-byte `svc`; step back onto it.
        self.elr = self.elr.wrapping_sub(4);
    }

    const REGISTER_COUNT: usize = keel_abi::registers::AARCH64_COUNT;

    fn set_tls_base(&mut self, base: u64) {
        self.tpidr_el0 = base;
    }

    fn register(&self, index: usize) -> Option<u64> {
        match index {
            0 => Some(self.elr),
            1 => Some(self.sp_el0),
            2 => Some(self.spsr),
            i => self.x.get(i - 3).copied(),
        }
    }

    fn set_register(&mut self, index: usize, value: u64) -> bool {
        // A user context always returns to EL0t in AArch64 with interrupts
        // unmasked: of PSTATE, a thread sets only its flags.
        let value = if index == 2 {
            value & SPSR_USER_MASK
        } else {
            value
        };
        let reg = match index {
            0 => &mut self.elr,
            1 => &mut self.sp_el0,
            2 => &mut self.spsr,
            i => match self.x.get_mut(i - 3) {
                Some(x) => x,
                None => return false,
            },
        };
        *reg = value;
        true
    }
}
