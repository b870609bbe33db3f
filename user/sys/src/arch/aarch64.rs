//! aarch64: `svc #0` with the number in x8, arguments in x0-x5; the six result
//! words come back in x0-x5. The kernel preserves every other register,
//! including the FP/SIMD registers, FPCR/FPSR and TPIDR_EL0.
//!
//! Process entry: the kernel starts a thread at EL0 with SP_EL0 at the stack
//! top and its argument in x0; `_start` aligns the stack, clears the frame
//! pointer and link register, and calls `keel_rt_entry(arg)`, which keel-rt defines.

use core::arch::{asm, global_asm};

/// The architecture this program was built for.
pub const ARCH: keel_abi::Arch = keel_abi::Arch::Aarch64;

/// Bytes of the system-call instruction (`svc #0`): a thread stopped in a
/// system call is put back on it, and a restart past it adds this.
pub const SYSCALL_INSTRUCTION_SIZE: u64 = 4;

/// Makes a system call.
#[inline(always)]
pub fn syscall(number: u64, args: [u64; 6]) -> [u64; 6] {
    let [a0, a1, a2, a3, a4, a5] = args;
    syscall8(number, [a0, a1, a2, a3, a4, a5, 0, 0])
}

/// Executes the permanently undefined instruction `udf #0` (for fault tests).
pub fn undefined_instruction() -> ! {
    // SAFETY: `udf` raises an undefined-instruction exception; the kernel
    // stops this thread. Nothing follows.
    unsafe { asm!("udf #0", options(noreturn, nomem, nostack)) }
}

/// Flags that ask for a 32-bit mode on return to user mode: SPSR.M[4],
/// AArch32 state.
pub const FLAGS_32_BIT_MODE: u64 = 1 << 4;

/// As [`undefined_instruction`]: EL0 cannot change its execution state by
/// itself (only an exception return can, which [`FLAGS_32_BIT_MODE`] asks
/// for), so the fault is taken in AArch64.
pub fn undefined_in_32_bit_mode() -> ! {
    undefined_instruction()
}

/// As [`undefined_in_32_bit_mode`]: there is no 32-bit mode to make a
/// system call from.
pub fn syscall_in_32_bit_mode() -> ! {
    undefined_instruction()
}

global_asm!(
    ".section .text._start, \"ax\"",
    ".global _start",
    "_start:",
    "mov x9, sp",
    "and x9, x9, #-16",
    "mov sp, x9",
    "mov x29, xzr",
    "mov x30, xzr",
    "bl keel_rt_entry",
    "udf #0",
);

/// The CPU's cycle counter (PMCCNTR_EL0, which the kernel lets EL0 read); under
/// QEMU `-icount shift=0` it counts guest instructions.
pub fn cycle_counter() -> u64 {
    let value: u64;
    // SAFETY: reading PMCCNTR_EL0 has no side effects; the kernel enables EL0 access.
    unsafe {
        asm!("isb", "mrs {}, pmccntr_el0", out(reg) value, options(nomem, nostack, preserves_flags))
    };
    value
}

global_asm!(
    ".section .text.keel_thread_start, \"ax\"",
    ".global keel_thread_start",
    "keel_thread_start:",
    "mov x29, xzr",
    "mov x30, xzr",
    "blr x1",
    "udf #0",
);

/// Address of the thread trampoline: started with the entry function in the
/// second argument register and its argument in the first, it calls the entry,
/// which must not return.
pub fn thread_trampoline() -> u64 {
    extern "C" {
        fn keel_thread_start();
    }
    keel_thread_start as *const () as u64
}

/// The first word of thread-local storage: the word at the thread pointer
/// (TPIDR_EL0), as `TcbSetTLSBase` set it. The thread pointer must point at
/// readable memory.
pub fn tls_first_word() -> u64 {
    let base: u64;
    // SAFETY: reading TPIDR_EL0 has no side effects.
    unsafe { asm!("mrs {}, tpidr_el0", out(reg) base, options(nomem, nostack, preserves_flags)) };
    // SAFETY: the caller's contract is that the thread pointer was set to
    // readable, aligned memory.
    unsafe { core::ptr::read_volatile(base as usize as *const u64) }
}

/// How many ways [`clear_thread_pointer_directly`] has: one.
pub const THREAD_POINTER_CLEARS: usize = 1;

/// Whether the kernel puts back a thread pointer its thread changed on its
/// own: no, TPIDR_EL0 is the thread's own register, which the kernel saves
/// on every entry and gives back as the thread left it.
pub const THREAD_POINTER_PUT_BACK: bool = false;

/// Makes the thread pointer 0 without telling the kernel: writes
/// TPIDR_EL0, which EL0 may (the one way, whatever `way` is). For tests
/// that check the kernel gives every thread its own thread pointer
/// whatever a thread did to it.
pub fn clear_thread_pointer_directly(_way: usize) {
    // SAFETY: the asm touches no memory; afterwards the thread's IPC
    // buffer cannot be found through its thread pointer (`ipc_buffer_address`
    // faults) until the thread pointer is set again.
    unsafe {
        asm!(
            "msr tpidr_el0, xzr",
            options(nomem, nostack, preserves_flags)
        )
    };
}

/// The calling thread's IPC buffer address: the word at
/// `SELF_POINTER_OFFSET` from TPIDR_EL0, where the buffer the thread pointer
/// names keeps its own address (see `keel_sys::ipc_buffer`). Two
/// instructions; the thread pointer must name a buffer (with TPIDR_EL0 0
/// the load faults).
#[inline(always)]
pub fn ipc_buffer_address() -> u64 {
    let value: u64;
    // SAFETY: reads TPIDR_EL0 and one word relative to it; keel-sys's
    // contract (`set_ipc_buffer`) is that it names this thread's mapped IPC
    // buffer, whose word at this offset is aligned.
    unsafe {
        asm!(
            "mrs {v}, tpidr_el0",
            "ldr {v}, [{v}, #{offset}]",
            v = out(reg) value,
            offset = const crate::ipc_buffer::SELF_POINTER_OFFSET,
            options(nostack, readonly, preserves_flags)
        )
    };
    value
}

/// Puts `value` in the low half of the first SIMD register (v0), for tests
/// that check the kernel keeps each thread's FPU/SIMD state.
pub fn set_simd_register(value: u64) {
    // SAFETY: writes v0 only.
    unsafe {
        asm!("fmov d0, {}", in(reg) value, out("v0") _, options(nomem, nostack, preserves_flags))
    };
}

/// The PSTATE bits a user thread can set for itself that [`yield_with_flags`]
/// sets: N, Z, C and V.
pub const USER_SETTABLE_FLAGS: u64 = 0xf000_0000;
/// Of those, the ones a system call hands back unchanged: all of them.
pub const FLAGS_KEPT_BY_SYSCALL: u64 = USER_SETTABLE_FLAGS;

/// Sets the condition flags in `set` (some of [`USER_SETTABLE_FLAGS`]),
/// makes a Yield system call with them set, and returns NZCV as the call
/// left it. For tests that check the kernel keeps a thread's flags.
pub fn yield_with_flags(set: u64) -> u64 {
    let after: u64;
    // SAFETY: NZCV is the thread's own; `svc #0` with x8 = Yield writes only
    // the result registers x0-x5.
    unsafe {
        asm!(
            "msr nzcv, {set}",
            "svc #0",
            "mrs {after}, nzcv",
            set = in(reg) set & USER_SETTABLE_FLAGS,
            after = lateout(reg) after,
            in("x8") keel_abi::Syscall::Yield as u64,
            lateout("x0") _, lateout("x1") _, lateout("x2") _,
            lateout("x3") _, lateout("x4") _, lateout("x5") _,
        )
    };
    after
}

/// The low half of the first SIMD register (v0).
pub fn simd_register() -> u64 {
    let value: u64;
    // SAFETY: reads v0 only.
    unsafe { asm!("fmov {}, d0", out(reg) value, options(nomem, nostack, preserves_flags)) };
    value
}

/// Makes a system call with a seventh and eighth argument (in x6 and
/// x7): the receive cap of NBSendRecv and NBSendWait, the Reply object of
/// Recv, NBRecv, ReplyRecv (seventh) and NBSendRecv (eighth).
#[inline(always)]
pub fn syscall8(number: u64, args: [u64; 8]) -> [u64; 6] {
    let mut r = [args[0], args[1], args[2], args[3], args[4], args[5]];
    // SAFETY: `svc #0` enters the kernel, which reads only these registers
    // (x6 and x7 only for receives), writes only x0-x5, and touches this
    // program's memory only through its IPC buffer or pointers passed as
    // arguments (which it checks). A receive may copy message words into the
    // IPC buffer, hence no `nomem`.
    unsafe {
        asm!(
            "svc #0",
            inout("x0") r[0],
            inout("x1") r[1],
            inout("x2") r[2],
            inout("x3") r[3],
            inout("x4") r[4],
            inout("x5") r[5],
            in("x6") args[6],
            in("x7") args[7],
            in("x8") number,
            options(nostack)
        );
    }
    r
}

/// The general-purpose registers by number, then the stack pointer, for
/// `syscall_checking_registers`.
pub(super) const REGISTER_NAMES: [&str; 32] = [
    "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14",
    "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27",
    "x28", "x29", "x30", "sp",
];

/// The registers that carry the number and the eight arguments of a system
/// call, in order: x8, then x0-x7.
pub(super) const ARGUMENT_REGISTERS: [usize; 9] = [8, 0, 1, 2, 3, 4, 5, 6, 7];

/// The registers the six result words come back in: x0-x5.
pub(super) const RESULT_REGISTERS: [usize; 6] = [0, 1, 2, 3, 4, 5];

/// The registers `svc` itself overwrites: none.
pub(super) const INSTRUCTION_CLOBBERS: [usize; 0] = [];

global_asm!(
    ".section .text.keel_syscall_with_registers, \"ax\"",
    ".global keel_syscall_with_registers",
    // x0: two 32-word arrays, before and after (x0-x30, then sp). Loads
    // x0-x30 from `before` (sp's slot receives its value), makes the system
    // call, stores every register into `after`; saves and restores the
    // caller's own.
    "keel_syscall_with_registers:",
    "stp x29, x30, [sp, #-96]!",
    "stp x19, x20, [sp, #16]",
    "stp x21, x22, [sp, #32]",
    "stp x23, x24, [sp, #48]",
    "stp x25, x26, [sp, #64]",
    "stp x27, x28, [sp, #80]",
    "str x0, [sp, #-16]!",
    "mov x1, sp",
    "str x1, [x0, #248]",
    "ldp x2, x3, [x0, #16]",
    "ldp x4, x5, [x0, #32]",
    "ldp x6, x7, [x0, #48]",
    "ldp x8, x9, [x0, #64]",
    "ldp x10, x11, [x0, #80]",
    "ldp x12, x13, [x0, #96]",
    "ldp x14, x15, [x0, #112]",
    "ldp x16, x17, [x0, #128]",
    "ldp x18, x19, [x0, #144]",
    "ldp x20, x21, [x0, #160]",
    "ldp x22, x23, [x0, #176]",
    "ldp x24, x25, [x0, #192]",
    "ldp x26, x27, [x0, #208]",
    "ldp x28, x29, [x0, #224]",
    "ldr x30, [x0, #240]",
    "ldr x1, [x0, #8]",
    "ldr x0, [x0]",
    "svc #0",
    "str x0, [sp, #8]",
    "ldr x0, [sp]",
    "str x1, [x0, #264]",
    "stp x2, x3, [x0, #272]",
    "stp x4, x5, [x0, #288]",
    "stp x6, x7, [x0, #304]",
    "stp x8, x9, [x0, #320]",
    "stp x10, x11, [x0, #336]",
    "stp x12, x13, [x0, #352]",
    "stp x14, x15, [x0, #368]",
    "stp x16, x17, [x0, #384]",
    "stp x18, x19, [x0, #400]",
    "stp x20, x21, [x0, #416]",
    "stp x22, x23, [x0, #432]",
    "stp x24, x25, [x0, #448]",
    "stp x26, x27, [x0, #464]",
    "stp x28, x29, [x0, #480]",
    "str x30, [x0, #496]",
    "mov x1, sp",
    "str x1, [x0, #504]",
    "ldr x1, [sp, #8]",
    "str x1, [x0, #256]",
    "add sp, sp, #16",
    "ldp x19, x20, [sp, #16]",
    "ldp x21, x22, [sp, #32]",
    "ldp x23, x24, [sp, #48]",
    "ldp x25, x26, [sp, #64]",
    "ldp x27, x28, [sp, #80]",
    "ldp x29, x30, [sp], #96",
    "ret",
);

/// What `register_dump_entry`'s routine stored, in the register-list order of
/// `TcbReadRegisters` (index 0 the routine's own address).
pub(super) static KEEL_REGISTER_DUMP: [core::sync::atomic::AtomicU64;
    keel_abi::registers::AARCH64_COUNT] =
    [const { core::sync::atomic::AtomicU64::new(0) }; keel_abi::registers::AARCH64_COUNT];

global_asm!(
    ".section .text.keel_register_dump, \"ax\"",
    ".global keel_register_dump",
    // Stores every register as the thread arrived with it (x0 and x1
    // through the stack it was given), then faults.
    "keel_register_dump:",
    "stp x0, x1, [sp, #-16]!",
    "adrp x0, {d}",
    "add x0, x0, :lo12:{d}",
    "stp x2, x3, [x0, #40]",
    "stp x4, x5, [x0, #56]",
    "stp x6, x7, [x0, #72]",
    "stp x8, x9, [x0, #88]",
    "stp x10, x11, [x0, #104]",
    "stp x12, x13, [x0, #120]",
    "stp x14, x15, [x0, #136]",
    "stp x16, x17, [x0, #152]",
    "stp x18, x19, [x0, #168]",
    "stp x20, x21, [x0, #184]",
    "stp x22, x23, [x0, #200]",
    "stp x24, x25, [x0, #216]",
    "stp x26, x27, [x0, #232]",
    "stp x28, x29, [x0, #248]",
    "str x30, [x0, #264]",
    "ldp x2, x3, [sp], #16",
    "stp x2, x3, [x0, #24]",
    "mov x2, sp",
    "str x2, [x0, #8]",
    "mrs x2, nzcv",
    "str x2, [x0, #16]",
    "adr x2, keel_register_dump",
    "str x2, [x0]",
    "udf #0",
    d = sym KEEL_REGISTER_DUMP,
);

/// Starts the EL1 physical timer (which the kernel leaves to user level, its
/// interrupt PPI 30) to fire `ticks` counts of the system counter from now,
/// as a test's interrupting device; returns true (x86_64, which has no timer
/// a thread may program, returns false).
pub fn physical_timer_start(ticks: u32) -> bool {
    // SAFETY: writes the physical timer's countdown and enables it (IMASK
    // clear); the kernel lets EL0 do this and does not use the timer.
    unsafe {
        asm!(
            "msr cntp_tval_el0, {t}",
            "msr cntp_ctl_el0, {one}",
            "isb",
            t = in(reg) u64::from(ticks),
            one = in(reg) 1u64,
            options(nomem, nostack, preserves_flags)
        )
    };
    true
}

/// Sets the EL1 physical timer to fire when the system counter reaches
/// `count` (CNTP_CVAL_EL0, absolute, so a deadline never drifts) and
/// enables it; returns true (false on x86_64, as [`physical_timer_start`]).
pub fn physical_timer_deadline(count: u64) -> bool {
    // SAFETY: writes the physical timer's compare value and enables it
    // (IMASK clear); the kernel lets EL0 do this and does not use the timer.
    unsafe {
        asm!(
            "msr cntp_cval_el0, {c}",
            "msr cntp_ctl_el0, {one}",
            "isb",
            c = in(reg) count,
            one = in(reg) 1u64,
            options(nomem, nostack, preserves_flags)
        )
    };
    true
}

/// The system counter (CNTPCT_EL0, which the kernel lets EL0 read) and its
/// frequency in Hz (CNTFRQ_EL0): the clock of the EL1 physical timer.
/// `None` on x86_64, which has no counter of a known rate for threads.
pub fn system_counter() -> Option<(u64, u64)> {
    let (count, hz): (u64, u64);
    // SAFETY: reads the physical counter and its frequency, which the
    // kernel lets EL0 read (CNTKCTL_EL1.EL0PCTEN); no side effects.
    unsafe {
        asm!(
            "isb",
            "mrs {c}, cntpct_el0",
            "mrs {f}, cntfrq_el0",
            c = out(reg) count,
            f = out(reg) hz,
            options(nomem, nostack, preserves_flags)
        )
    };
    Some((count, hz))
}

/// Stops the EL1 physical timer, so that it no longer asserts its
/// interrupt; returns true (false on x86_64, as [`physical_timer_start`]).
pub fn physical_timer_stop() -> bool {
    // SAFETY: disables the physical timer, which the kernel does not use.
    unsafe {
        asm!(
            "msr cntp_ctl_el0, xzr",
            "isb",
            options(nomem, nostack, preserves_flags)
        )
    };
    true
}

/// aarch64 has no I/O ports: as the nearest thing, executes an instruction
/// EL0 may not (`udf #0`), which faults the thread the same way an x86_64
/// `in` without I/O privilege does.
pub fn port_in8_directly(_port: u16) -> u8 {
    undefined_instruction()
}

/// Loads `word` exclusively (`ldxr`), sends an empty message on the
/// endpoint `ep` (the kernel switches to the receiver and back before the
/// next instruction), then tries the exclusive store of the value loaded
/// plus one (`stxr`). Returns `Some(true)` when the store happened: it must
/// not, as a context switch clears the exclusive monitor. For the test of
/// that (sel4test's REGRESSIONS0002).
pub fn exclusive_store_across_send(word: &core::sync::atomic::AtomicU64, ep: u64) -> Option<bool> {
    let status: u64;
    // SAFETY: `word` is an aligned u64 that only atomic and exclusive
    // accesses reach; `svc #0` with x8 = Send reads x0-x5 and writes only
    // x0-x5, so the address (x11) and the value (x9) survive it.
    unsafe {
        asm!(
            "ldxr x9, [x11]",
            "svc #0",
            "add x9, x9, #1",
            "stxr w10, x9, [x11]",
            in("x11") word.as_ptr(),
            out("x9") _,
            out("x10") status,
            in("x8") keel_abi::Syscall::Send as u64,
            inout("x0") ep => _,
            inout("x1") 0u64 => _,
            inout("x2") 0u64 => _,
            inout("x3") 0u64 => _,
            inout("x4") 0u64 => _,
            inout("x5") 0u64 => _,
            options(nostack),
        )
    };
    Some(status & 1 == 0)
}
