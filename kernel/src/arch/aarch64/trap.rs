//! Exceptions: the vector table, the entry from EL0 that saves the whole user
//! register file, the decoding of what happened, and the return to EL0.
//!
//! While a thread runs, SP_EL1 points at its `UserContext` (set by
//! `return_to_user`), so an exception from EL0 stores the registers straight
//! into it (as seL4 does), then switches to the kernel stack and calls Rust,
//! which never returns: it leaves through `return_to_user`. Interrupts are
//! taken only from EL0; the idle loop waits with them masked and handles them
//! through the same `handle_interrupt`. An exception taken in the kernel is a
//! kernel bug and panics, except for the three instructions that may
//! legitimately trap when their service is absent (semihosting `hlt`, PSCI
//! `hvc`/`smc`), which are stepped over.

use super::context::UserContext;
use super::{gic, timer};
use crate::arch::{InterruptController, Interrupts};
use crate::fault::{self, Access, UserFault, UserFaultKind};
use core::arch::global_asm;

/// Entry through the "lower EL, synchronous" vector.
pub const ENTRY_SYNC: u64 = 0;
/// Entry through the "lower EL, IRQ" vector.
pub const ENTRY_IRQ: u64 = 1;
/// Entry through the "lower EL, FIQ" vector.
pub const ENTRY_FIQ: u64 = 2;
/// Entry through the "lower EL, SError" vector.
pub const ENTRY_SERROR: u64 = 3;

/// Exception classes (ESR_EL1.EC).
const EC_UNKNOWN: u64 = 0x00;
/// FP/SIMD access trapped by CPACR_EL1.FPEN (see `fpu`).
const EC_FP_ACCESS: u64 = 0x07;
const EC_SVC64: u64 = 0x15;
const EC_INSTRUCTION_ABORT_LOWER: u64 = 0x20;
const EC_PC_ALIGNMENT: u64 = 0x22;
const EC_DATA_ABORT_LOWER: u64 = 0x24;
const EC_SP_ALIGNMENT: u64 = 0x26;
/// ESR data abort: write, not read.
const ESR_WNR: u64 = 1 << 6;
/// Data fault status code of an alignment fault.
const DFSC_ALIGNMENT: u64 = 0x21;

global_asm!(
    r#"
    .section .text
    .balign 2048
    .global exception_vectors
exception_vectors:
    /* Current EL with SP_EL0: the kernel never runs on SP_EL0. */
    .balign 128
    mov x0, #0
    b kernel_exception
    .balign 128
    mov x0, #1
    b kernel_exception
    .balign 128
    mov x0, #2
    b kernel_exception
    .balign 128
    mov x0, #3
    b kernel_exception
    /* Current EL with SP_EL1: the kernel. */
    .balign 128
    b kernel_sync
    .balign 128
    mov x0, #5
    b kernel_exception
    .balign 128
    mov x0, #6
    b kernel_exception
    .balign 128
    mov x0, #7
    b kernel_exception
    /* Lower EL, AArch64: user threads. SP is the current UserContext. An
       `svc` goes straight to the system-call path. */
    .balign 128
    stp x0, x1, [sp]
    mrs x0, esr_el1
    lsr x1, x0, #26
    cmp x1, #{ec_svc64}
    b.eq syscall_entry
    mov x0, #{sync}
    b user_entry
    .balign 128
    stp x0, x1, [sp]
    mov x0, #{irq}
    b user_entry
    .balign 128
    stp x0, x1, [sp]
    mov x0, #{fiq}
    b user_entry
    .balign 128
    stp x0, x1, [sp]
    mov x0, #{serror}
    b user_entry
    /* Lower EL, AArch32: never entered, as every SPSR returns to AArch64. */
    .balign 128
    mov x0, #12
    b kernel_exception
    .balign 128
    mov x0, #13
    b kernel_exception
    .balign 128
    mov x0, #14
    b kernel_exception
    .balign 128
    mov x0, #15
    b kernel_exception

kernel_sync:
    stp x0, x1, [sp, #-16]!
    mrs x0, elr_el1
    ldr x1, =keel_semihosting_hlt
    cmp x0, x1
    b.eq 1f
    ldr x1, =keel_psci_hvc
    cmp x0, x1
    b.eq 1f
    ldr x1, =keel_psci_smc
    cmp x0, x1
    b.eq 1f
    ldp x0, x1, [sp], #16
    mov x0, #4
    b kernel_exception
1:  add x0, x0, #4
    msr elr_el1, x0
    ldp x0, x1, [sp], #16
    eret

kernel_exception:
    ldr x4, =kernel_stack_top
    mov sp, x4
    mrs x1, esr_el1
    mrs x2, elr_el1
    mrs x3, far_el1
    bl aarch64_kernel_exception
    b .

    /* x2-x30, SP_EL0, ELR and SPSR into the UserContext at SP (x0 and x1
       are already there); uses x1 and x2. */
    .macro save_user_registers
    stp x2, x3, [sp, #16]
    stp x4, x5, [sp, #32]
    stp x6, x7, [sp, #48]
    stp x8, x9, [sp, #64]
    stp x10, x11, [sp, #80]
    stp x12, x13, [sp, #96]
    stp x14, x15, [sp, #112]
    stp x16, x17, [sp, #128]
    stp x18, x19, [sp, #144]
    stp x20, x21, [sp, #160]
    stp x22, x23, [sp, #176]
    stp x24, x25, [sp, #192]
    stp x26, x27, [sp, #208]
    stp x28, x29, [sp, #224]
    mrs x1, sp_el0
    stp x30, x1, [sp, #240]
    mrs x1, elr_el1
    mrs x2, spsr_el1
    stp x1, x2, [sp, #256]
    .endm

    /* Onto the kernel stack, with no frame to unwind into (x29 = 0 ends
       the frame chain; the `bl` that follows sets x30). */
    .macro enter_kernel_stack
    ldr x1, =kernel_stack_top
    mov sp, x1
    mov x29, xzr
    .endm

    /* The thread's registers from the UserContext at x0 (which becomes
       SP, for its next exception), then back to EL0. */
    .macro restore_user_registers
    mov sp, x0
    ldr x1, [sp, #272]
    msr tpidr_el0, x1
    ldp x1, x2, [sp, #256]
    msr elr_el1, x1
    msr spsr_el1, x2
    ldp x30, x1, [sp, #240]
    msr sp_el0, x1
    ldp x2, x3, [sp, #16]
    ldp x4, x5, [sp, #32]
    ldp x6, x7, [sp, #48]
    ldp x8, x9, [sp, #64]
    ldp x10, x11, [sp, #80]
    ldp x12, x13, [sp, #96]
    ldp x14, x15, [sp, #112]
    ldp x16, x17, [sp, #128]
    ldp x18, x19, [sp, #144]
    ldp x20, x21, [sp, #160]
    ldp x22, x23, [sp, #176]
    ldp x24, x25, [sp, #192]
    ldp x26, x27, [sp, #208]
    ldp x28, x29, [sp, #224]
    ldp x0, x1, [sp]
    /* No `clrex`: on ARMv8-A an exception return clears the local
       exclusive monitor, so a thread's load-exclusive never pairs with a
       store-exclusive across a switch. */
    eret
    .endm

user_entry:
    save_user_registers
    mrs x1, tpidr_el0
    mrs x2, esr_el1
    stp x1, x2, [sp, #272]
    mrs x1, far_el1
    stp x1, x0, [sp, #288]
    enter_kernel_stack
    bl aarch64_user_trap
    b .

    /* `svc` from EL0, ESR in x0. FAR and the entry word are left as they
       were: only the trap path reads them. The IPC fast path first: it
       gives back the register file to return with, or 0 for the rest of
       the system-call path. */
syscall_entry:
    save_user_registers
    mrs x1, tpidr_el0
    stp x1, x0, [sp, #272]
    enter_kernel_stack
    bl keel_fastpath
    cbz x0, 1f
    restore_user_registers
1:  bl aarch64_syscall
    b .

    /* keel_return_to_user(ctx: *mut UserContext) -> ! */
    .global keel_return_to_user
keel_return_to_user:
    restore_user_registers
"#,
    sync = const ENTRY_SYNC,
    ec_svc64 = const EC_SVC64,
    irq = const ENTRY_IRQ,
    fiq = const ENTRY_FIQ,
    serror = const ENTRY_SERROR,
);

extern "C" {
    fn keel_return_to_user(ctx: *mut UserContext) -> !;
}

/// Restores `ctx` and returns to EL0. Later exceptions from EL0 save into
/// `ctx`. Its SPSR returns to EL0t in AArch64 with interrupts unmasked: it
/// was saved on an exception from EL0 (which cannot mask them), or written
/// through `UserRegisters::set_register`, which keeps only the flags.
#[inline(always)]
pub fn return_to_user(ctx: &mut UserContext) -> ! {
    super::fpu::prepare_return(ctx);
    // SAFETY: `ctx` is a complete register file in kernel memory (a TCB) that
    // stays valid while the thread runs, 16-byte aligned as SP requires; its
    // SPSR can only return to EL0 (see above).
    unsafe { keel_return_to_user(ctx) }
}

/// The current thread's register file, which the exception entry saved into.
fn current_context() -> *mut UserContext {
    match crate::sched::current() {
        Some(thread) => thread.context_ptr(),
        None => panic!("invariant: an exception from user mode has a current thread"),
    }
}

/// Rust entry for `svc` from EL0 (the vector sends it here, not through
/// the decoding of [`aarch64_user_trap`]), on the kernel stack, registers
/// saved.
#[no_mangle]
extern "C" fn aarch64_syscall() -> ! {
    crate::syscall::handle_syscall()
}

/// Rust entry for exceptions from EL0, on the kernel stack, registers saved.
#[no_mangle]
extern "C" fn aarch64_user_trap(entry: u64) -> ! {
    let ctx = current_context();
    // SAFETY: the current thread's register file is in its live TCB; three
    // fields are read.
    let (esr, far, ip) = unsafe { ((*ctx).esr, (*ctx).far, (*ctx).elr) };
    let kind = match entry {
        ENTRY_SYNC => match (esr >> 26) & 0x3f {
            EC_FP_ACCESS => {
                // SAFETY: as above; this reference is the only one formed
                // until the thread runs again.
                let ctx = unsafe { &mut *ctx };
                super::fpu::take_over(ctx);
                return_to_user(ctx)
            }
            EC_UNKNOWN => UserFaultKind::UndefinedInstruction(esr),
            EC_INSTRUCTION_ABORT_LOWER => UserFaultKind::VmFault(Access::Execute),
            EC_DATA_ABORT_LOWER if esr & 0x3f == DFSC_ALIGNMENT => UserFaultKind::Alignment,
            EC_DATA_ABORT_LOWER if esr & ESR_WNR != 0 => UserFaultKind::VmFault(Access::Write),
            EC_DATA_ABORT_LOWER => UserFaultKind::VmFault(Access::Read),
            EC_PC_ALIGNMENT | EC_SP_ALIGNMENT => UserFaultKind::Alignment,
            _ => UserFaultKind::Other(esr),
        },
        ENTRY_IRQ | ENTRY_FIQ => {
            handle_interrupt();
            crate::sched::schedule()
        }
        _ => UserFaultKind::Other(esr),
    };
    let addr = match kind {
        UserFaultKind::VmFault(_) | UserFaultKind::Alignment => far,
        _ => 0,
    };
    fault::handle_user_fault(UserFault { kind, ip, addr })
}

/// Acknowledges the highest-priority pending interrupt and passes it on, from
/// an exception from EL0 or from the idle loop (which waits with IRQs masked
/// and so takes no exception): the kernel's timer, or a driver's line (to
/// `crate::object::irq`, then the scheduler). Returns only when there is
/// nothing to pass on: no interrupt (spurious), or a timer interrupt for a
/// deadline since moved on (see [`timer::deadline_reached`]), which stays
/// armed.
pub fn handle_interrupt() {
    let Some(iar) = gic::acknowledge() else {
        return;
    };
    let id = gic::id(iar);
    if id != timer::TIMER_IRQ {
        // A driver's line is masked before it is ended, so a level-sensitive
        // one is not taken again before the driver's Ack.
        let irq = u64::from(id);
        if irq < InterruptController::lines() && !InterruptController::reserved(irq) {
            crate::object::irq::interrupt(irq);
            gic::end(iar);
            crate::sched::schedule()
        }
        gic::end(iar);
        fault::handle_unexpected_interrupt(irq)
    }
    if !timer::deadline_reached() {
        gic::end(iar);
        return;
    }
    // Deassert the level-triggered PPI before ending it, or it would be
    // pending again at once; the next `set_deadline` re-enables the timer.
    timer::disarm();
    gic::end(iar);
    crate::sched::timer_interrupt()
}

/// Names of the sixteen vectors, for kernel-mode exception reports.
const VECTOR_NAMES: [&str; 16] = [
    "sync (EL1, SP_EL0)",
    "IRQ (EL1, SP_EL0)",
    "FIQ (EL1, SP_EL0)",
    "SError (EL1, SP_EL0)",
    "sync (EL1)",
    "IRQ (EL1)",
    "FIQ (EL1)",
    "SError (EL1)",
    "sync (EL0)",
    "IRQ (EL0)",
    "FIQ (EL0)",
    "SError (EL0)",
    "sync (EL0, AArch32)",
    "IRQ (EL0, AArch32)",
    "FIQ (EL0, AArch32)",
    "SError (EL0, AArch32)",
];

/// Rust entry for exceptions taken in the kernel: always a kernel bug.
#[no_mangle]
extern "C" fn aarch64_kernel_exception(vector: u64, esr: u64, elr: u64, far: u64) -> ! {
    let name = VECTOR_NAMES.get(vector as usize).copied().unwrap_or("?");
    panic!("exception in kernel mode: {name} ESR {esr:#x} ELR {elr:#x} FAR {far:#x}")
}
