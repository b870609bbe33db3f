//! Lazy FP/SIMD switching. The kernel is built for a soft-float target, so
//! `q0`-`q31`, FPCR and FPSR only ever hold some user thread's state: the
//! owner's. A thread that is not the owner runs with EL0 access to them
//! trapped (CPACR_EL1.FPEN = 0b01); its first FP/SIMD instruction traps
//! (EC 0x07), the owner's state is saved into its register file, the
//! thread's is loaded, and the instruction runs again. Threads that never
//! touch FP/SIMD (most servers) cost nothing on a kernel entry or exit.

use super::context::{UserContext, OFFSET_Q};
use crate::kernel_cell::KernelCell;
use core::arch::global_asm;

/// CPACR_EL1.FPEN = 0b01: FP/SIMD traps at EL0 only.
pub const CPACR_EL0_TRAPS: u64 = 0b01 << 20;
/// CPACR_EL1.FPEN = 0b11: FP/SIMD does not trap.
const CPACR_NO_TRAPS: u64 = 0b11 << 20;

/// The FP/SIMD registers' owner and EL0's access to them, side by side so
/// that one address reaches both on every return to EL0.
#[repr(C)]
struct FpState {
    /// The register file whose FP/SIMD state the registers hold (0: none).
    owner: KernelCell<u64>,
    /// CPACR_EL1 as last written (boot writes [`CPACR_EL0_TRAPS`]).
    cpacr: KernelCell<u64>,
}

static FP: FpState = FpState {
    owner: KernelCell::new(0),
    cpacr: KernelCell::new(CPACR_EL0_TRAPS),
};

global_asm!(
    r#"
    .arch_extension fp
    .arch_extension simd

    /* keel_fpu_save(ctx: *mut UserContext) */
    .global keel_fpu_save
keel_fpu_save:
    add x1, x0, #{q}
    stp q0, q1, [x1, #0]
    stp q2, q3, [x1, #32]
    stp q4, q5, [x1, #64]
    stp q6, q7, [x1, #96]
    stp q8, q9, [x1, #128]
    stp q10, q11, [x1, #160]
    stp q12, q13, [x1, #192]
    stp q14, q15, [x1, #224]
    stp q16, q17, [x1, #256]
    stp q18, q19, [x1, #288]
    stp q20, q21, [x1, #320]
    stp q22, q23, [x1, #352]
    stp q24, q25, [x1, #384]
    stp q26, q27, [x1, #416]
    stp q28, q29, [x1, #448]
    stp q30, q31, [x1, #480]
    mrs x1, fpcr
    mrs x2, fpsr
    stp x1, x2, [x0, #{fpcr}]
    ret

    /* keel_fpu_load(ctx: *const UserContext) */
    .global keel_fpu_load
keel_fpu_load:
    add x1, x0, #{q}
    ldp q0, q1, [x1, #0]
    ldp q2, q3, [x1, #32]
    ldp q4, q5, [x1, #64]
    ldp q6, q7, [x1, #96]
    ldp q8, q9, [x1, #128]
    ldp q10, q11, [x1, #160]
    ldp q12, q13, [x1, #192]
    ldp q14, q15, [x1, #224]
    ldp q16, q17, [x1, #256]
    ldp q18, q19, [x1, #288]
    ldp q20, q21, [x1, #320]
    ldp q22, q23, [x1, #352]
    ldp q24, q25, [x1, #384]
    ldp q26, q27, [x1, #416]
    ldp q28, q29, [x1, #448]
    ldp q30, q31, [x1, #480]
    ldp x1, x2, [x0, #{fpcr}]
    msr fpcr, x1
    msr fpsr, x2
    ret
"#,
    q = const OFFSET_Q,
    fpcr = const core::mem::offset_of!(UserContext, fpcr),
);

extern "C" {
    fn keel_fpu_save(ctx: *mut UserContext);
    fn keel_fpu_load(ctx: *const UserContext);
}

fn address(ctx: &UserContext) -> u64 {
    ctx as *const UserContext as u64
}

/// Before returning to the thread of `ctx`: EL0 may use FP/SIMD only if the
/// registers hold its state.
#[inline(always)]
pub fn prepare_return(ctx: &UserContext) {
    let cpacr = if FP.owner.read() == address(ctx) {
        CPACR_NO_TRAPS
    } else {
        CPACR_EL0_TRAPS
    };
    if FP.cpacr.read() != cpacr {
        FP.cpacr.write(cpacr);
        // SAFETY: only FPEN changes; EL1 never traps either way, and the
        // `isb` makes the change take effect before the return to EL0.
        unsafe { core::arch::asm!("msr cpacr_el1, {}", "isb", in(reg) cpacr, options(nostack)) }
    }
}

/// The thread of `ctx` used FP/SIMD while another's state was loaded: the
/// owner's state goes back into its register file and `ctx`'s is loaded.
pub fn take_over(ctx: &mut UserContext) {
    let owner = FP.owner.replace(address(ctx));
    if owner != 0 {
        // SAFETY: the owner is a live register file (`forget` clears the owner
        // before one goes away), 16-byte aligned, in kernel memory; EL1 may
        // use FP/SIMD (FPEN is 0b01 or 0b11).
        unsafe { keel_fpu_save(owner as *mut UserContext) }
    }
    // SAFETY: `ctx` is the current thread's live register file, as above.
    unsafe { keel_fpu_load(ctx) }
}

/// The register file `ctx` is going away: its state in the registers, if
/// it is the owner's, belongs to no one now.
pub fn forget(ctx: &UserContext) {
    if FP.owner.read() == address(ctx) {
        FP.owner.write(0);
    }
}
