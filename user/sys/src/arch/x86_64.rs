//! x86_64: `syscall` with the number in rax, arguments in rdi, rsi, rdx, r10,
//! r8, r9; the six result words come back in rax, rdi, rsi, rdx, r10, r8.
//! rcx and r11 are clobbered by the instruction, r9 is preserved with every
//! other register.
//!
//! Process entry: the kernel starts a thread with the stack pointer 16-byte
//! aligned and its argument in rdi; `_start` makes the frame ABI-conformant and
//! calls `keel_rt_entry(arg)`, which keel-rt defines.

use core::arch::{asm, global_asm};

/// The architecture this program was built for.
pub const ARCH: keel_abi::Arch = keel_abi::Arch::X86_64;

/// Bytes of the system-call instruction (`syscall`): a thread stopped in a
/// system call is put back on it, and a restart past it adds this.
pub const SYSCALL_INSTRUCTION_SIZE: u64 = 2;

/// Makes a system call.
#[inline(always)]
pub fn syscall(number: u64, args: [u64; 6]) -> [u64; 6] {
    let [a0, a1, a2, a3, a4, a5] = args;
    syscall8(number, [a0, a1, a2, a3, a4, a5, 0, 0])
}

/// Executes the permanently undefined instruction `ud2` (for fault tests).
pub fn undefined_instruction() -> ! {
    // SAFETY: `ud2` raises #UD; the kernel stops this thread. Nothing follows.
    unsafe { asm!("ud2", options(noreturn, nomem, nostack)) }
}

/// Flags that ask for a 32-bit mode on return to user mode: none on x86_64,
/// where the code segment chooses the mode (see [`undefined_in_32_bit_mode`]).
pub const FLAGS_32_BIT_MODE: u64 = 0;

/// Far-returns into the 32-bit user code segment (GDT selector 0x1b) and
/// runs the given instructions there. Program code lies below 4 GiB, so
/// they are reachable in that segment too.
macro_rules! in_32_bit_mode {
    ($($instruction:literal),+) => {
        asm!(
            "lea 2f(%rip), %rax",
            "pushq $0x1b",
            "push %rax",
            "lretq",
            "2:",
            $($instruction),+,
            options(att_syntax, noreturn)
        )
    };
}

/// Executes `ud2` in the 32-bit user code segment (for tests that check the
/// kernel returns the thread in 64-bit mode after the fault).
pub fn undefined_in_32_bit_mode() -> ! {
    // SAFETY: `ud2` is the same bytes in either mode and faults at once, so
    // nothing else runs in 32-bit mode.
    unsafe { in_32_bit_mode!("ud2") }
}

/// Makes a `syscall` in the 32-bit user code segment (for tests that check
/// it is a fault, not a kernel entry).
pub fn syscall_in_32_bit_mode() -> ! {
    // SAFETY: `syscall` is the same bytes in either mode and faults the
    // thread (Keel has no 32-bit system calls); the `ud2` is never reached.
    unsafe { in_32_bit_mode!("syscall", "ud2") }
}

global_asm!(
    ".section .text._start, \"ax\"",
    ".global _start",
    "_start:",
    "xor ebp, ebp",
    "and rsp, -16",
    "call keel_rt_entry",
    "ud2",
);

/// The CPU's cycle counter (TSC); under QEMU `-icount shift=0` it counts guest
/// instructions.
pub fn cycle_counter() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: `rdtsc` only reads the counter.
    unsafe {
        asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    (u64::from(hi) << 32) | u64::from(lo)
}

global_asm!(
    ".section .text.keel_thread_start, \"ax\"",
    ".global keel_thread_start",
    "keel_thread_start:",
    "xor ebp, ebp",
    "and rsp, -16",
    "call rsi",
    "ud2",
);

/// Address of the thread trampoline: started with the entry function in the
/// second argument register and its argument in the first, it aligns the stack
/// and calls the entry, which must not return.
pub fn thread_trampoline() -> u64 {
    extern "C" {
        fn keel_thread_start();
    }
    keel_thread_start as *const () as u64
}

/// The first word of thread-local storage: the word at the thread pointer
/// (`fs:0`), as `TcbSetTLSBase` set it. The thread pointer must point at
/// readable memory.
pub fn tls_first_word() -> u64 {
    let value: u64;
    // SAFETY: reads one word at the FS base; the caller's contract is that the
    // thread pointer was set to readable memory.
    unsafe { asm!("mov {}, fs:0", out(reg) value, options(nostack, readonly, preserves_flags)) };
    value
}

/// The selectors [`clear_thread_pointer_directly`] loads into FS: the user
/// data selector (the one in SS) and with RPL 0, the 64-bit and 32-bit user
/// code selectors (readable, so loadable into FS), and the null selector
/// with each RPL: every kind of selector a thread can load there.
const CLEARING_SELECTORS: [u16; 8] = [0x23, 0x20, 0x2b, 0x1b, 0, 1, 2, 3];

/// How many ways [`clear_thread_pointer_directly`] has.
pub const THREAD_POINTER_CLEARS: usize = CLEARING_SELECTORS.len();

/// Whether the kernel puts back a thread pointer its thread changed on its
/// own: yes, the kernel holds the FS base (`TcbSetTLSBase`), which a thread
/// can only lose, by loading a selector into FS, and every return from the
/// kernel gives it back.
pub const THREAD_POINTER_PUT_BACK: bool = true;

/// Makes the thread pointer 0 without telling the kernel, in way `way`
/// (modulo [`THREAD_POINTER_CLEARS`]; way 0 is the user data selector): loads
/// a selector into FS, which sets the FS base to that descriptor's base, 0
/// (a null selector: 0 on Intel CPUs and QEMU, unchanged on older AMD
/// CPUs). For tests that check the kernel gives every thread its own thread
/// pointer whatever a thread did to it.
pub fn clear_thread_pointer_directly(way: usize) {
    let selector = CLEARING_SELECTORS[way % THREAD_POINTER_CLEARS];
    // SAFETY: the asm touches no memory; afterwards the thread's IPC
    // buffer cannot be found through its thread pointer (`ipc_buffer_address`
    // faults) until the kernel puts the base back; each selector is null or
    // names a readable ring-3 segment, so the load cannot fault.
    unsafe {
        asm!(
            "mov fs, {s:x}",
            s = in(reg) selector,
            options(nomem, nostack, preserves_flags)
        )
    };
}

/// The calling thread's IPC buffer address: the word at
/// `fs:SELF_POINTER_OFFSET`, where the buffer the thread pointer names keeps
/// its own address (see `keel_sys::ipc_buffer`). One load; the thread
/// pointer must name a buffer (with FS base 0 the load faults).
#[inline(always)]
pub fn ipc_buffer_address() -> u64 {
    let value: u64;
    // SAFETY: reads one word relative to the FS base; keel-sys's contract
    // (`set_ipc_buffer`) is that it names this thread's mapped IPC buffer.
    unsafe {
        asm!(
            "mov {}, qword ptr fs:[{offset}]",
            out(reg) value,
            offset = const crate::ipc_buffer::SELF_POINTER_OFFSET,
            options(nostack, readonly, preserves_flags)
        )
    };
    value
}

/// Puts `value` in the low half of the first SIMD register (xmm0), for tests
/// that check the kernel keeps each thread's FPU/SIMD state.
pub fn set_simd_register(value: u64) {
    // SAFETY: writes xmm0 only; the kernel enables SSE for user threads.
    unsafe {
        asm!("movq xmm0, {}", in(reg) value, out("xmm0") _, options(nomem, nostack, preserves_flags))
    };
}

/// The RFLAGS bits a user thread can set for itself that [`yield_with_flags`]
/// sets: CF, ZF, SF, DF, OF and NT.
pub const USER_SETTABLE_FLAGS: u64 = 0x1 | 0x40 | 0x80 | 0x400 | 0x800 | 0x4000;
/// Of those, the ones a system call hands back unchanged: all but NT.
pub const FLAGS_KEPT_BY_SYSCALL: u64 = USER_SETTABLE_FLAGS & !0x4000;

/// Sets the flag bits in `set` (some of [`USER_SETTABLE_FLAGS`]), makes a
/// Yield system call with them set, and returns RFLAGS as the call left it;
/// DF is cleared again before Rust code runs. For tests that check no flag a
/// thread can set reaches the kernel's own execution.
pub fn yield_with_flags(set: u64) -> u64 {
    let after: u64;
    // SAFETY: the flags are the thread's own and DF is cleared before
    // returning to Rust code; `syscall` with rax = Yield writes only the
    // result registers (rax, rdi, rsi, rdx, r10, r8) and rcx and r11.
    unsafe {
        asm!(
            "pushfq",
            "or [rsp], {set}",
            "popfq",
            "syscall",
            "pushfq",
            "pop {after}",
            "cld",
            set = in(reg) set & USER_SETTABLE_FLAGS,
            after = lateout(reg) after,
            inout("rax") keel_abi::Syscall::Yield as u64 => _,
            lateout("rdi") _, lateout("rsi") _, lateout("rdx") _,
            lateout("r10") _, lateout("r8") _, lateout("rcx") _, lateout("r11") _,
        )
    };
    after
}

/// The low half of the first SIMD register (xmm0).
pub fn simd_register() -> u64 {
    let value: u64;
    // SAFETY: reads xmm0 only.
    unsafe { asm!("movq {}, xmm0", out(reg) value, options(nomem, nostack, preserves_flags)) };
    value
}

/// Makes a system call with a seventh and eighth argument (in r12 and
/// r13): the receive cap of NBSendRecv and NBSendWait, the Reply object of
/// Recv, NBRecv, ReplyRecv (seventh) and NBSendRecv (eighth).
#[inline(always)]
pub fn syscall8(number: u64, args: [u64; 8]) -> [u64; 6] {
    let mut r = [number, args[0], args[1], args[2], args[3], args[4]];
    // SAFETY: `syscall` enters the kernel, which reads only these registers
    // (r12 and r13 only for receives), writes only rax, rdi, rsi, rdx,
    // r10 and r8 (rcx and r11 by the instruction), and touches this program's
    // memory only through its IPC buffer or pointers passed as arguments
    // (which it checks).
    unsafe {
        asm!(
            "syscall",
            inout("rax") r[0],
            inout("rdi") r[1],
            inout("rsi") r[2],
            inout("rdx") r[3],
            inout("r10") r[4],
            inout("r8") r[5],
            in("r9") args[5],
            in("r12") args[6],
            in("r13") args[7],
            out("rcx") _,
            out("r11") _,
            options(nostack)
        );
    }
    r
}

/// The general-purpose registers by hardware number (rsp's slot holds the
/// stack pointer), for `syscall_checking_registers`.
pub(super) const REGISTER_NAMES: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];

/// The registers that carry the number and the eight arguments of a system
/// call, in order: rax, then rdi, rsi, rdx, r10, r8, r9, r12, r13.
pub(super) const ARGUMENT_REGISTERS: [usize; 9] = [0, 7, 6, 2, 10, 8, 9, 12, 13];

/// The registers the six result words come back in: rax, rdi, rsi, rdx, r10, r8.
pub(super) const RESULT_REGISTERS: [usize; 6] = [0, 7, 6, 2, 10, 8];

/// The registers `syscall` itself overwrites (return address and flags):
/// rcx and r11.
pub(super) const INSTRUCTION_CLOBBERS: [usize; 2] = [1, 11];

global_asm!(
    ".section .text.keel_syscall_with_registers, \"ax\"",
    ".global keel_syscall_with_registers",
    // rdi: two 16-word arrays, before and after, by hardware number. Loads
    // every register but rsp from `before` (rsp's slot receives its value),
    // makes the system call, stores every register into `after`; saves and
    // restores the caller's own.
    "keel_syscall_with_registers:",
    "push rbx",
    "push rbp",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "push rdi",
    "mov [rdi + 32], rsp",
    "mov rax, [rdi]",
    "mov rcx, [rdi + 8]",
    "mov rdx, [rdi + 16]",
    "mov rbx, [rdi + 24]",
    "mov rbp, [rdi + 40]",
    "mov rsi, [rdi + 48]",
    "mov r8, [rdi + 64]",
    "mov r9, [rdi + 72]",
    "mov r10, [rdi + 80]",
    "mov r11, [rdi + 88]",
    "mov r12, [rdi + 96]",
    "mov r13, [rdi + 104]",
    "mov r14, [rdi + 112]",
    "mov r15, [rdi + 120]",
    "mov rdi, [rdi + 56]",
    "syscall",
    "xchg rdi, [rsp]",
    "mov [rdi + 128], rax",
    "mov [rdi + 136], rcx",
    "mov [rdi + 144], rdx",
    "mov [rdi + 152], rbx",
    "mov [rdi + 160], rsp",
    "mov [rdi + 168], rbp",
    "mov [rdi + 176], rsi",
    "mov rax, [rsp]",
    "mov [rdi + 184], rax",
    "mov [rdi + 192], r8",
    "mov [rdi + 200], r9",
    "mov [rdi + 208], r10",
    "mov [rdi + 216], r11",
    "mov [rdi + 224], r12",
    "mov [rdi + 232], r13",
    "mov [rdi + 240], r14",
    "mov [rdi + 248], r15",
    "pop rax",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbp",
    "pop rbx",
    "ret",
);

/// What `register_dump_entry`'s routine stored, in the register-list order of
/// `TcbReadRegisters` (index 0 the routine's own address).
pub(super) static KEEL_REGISTER_DUMP: [core::sync::atomic::AtomicU64;
    keel_abi::registers::X86_64_COUNT] =
    [const { core::sync::atomic::AtomicU64::new(0) }; keel_abi::registers::X86_64_COUNT];

global_asm!(
    ".section .text.keel_register_dump, \"ax\"",
    ".global keel_register_dump",
    // Stores every register as the thread arrived with it (the flags
    // through the stack it was given), then faults.
    "keel_register_dump:",
    "mov [rip + {d} + 8], rsp",
    "mov [rip + {d} + 24], rdi",
    "mov [rip + {d} + 32], rsi",
    "mov [rip + {d} + 40], rdx",
    "mov [rip + {d} + 48], rcx",
    "mov [rip + {d} + 56], r8",
    "mov [rip + {d} + 64], r9",
    "mov [rip + {d} + 72], rax",
    "mov [rip + {d} + 80], rbx",
    "mov [rip + {d} + 88], rbp",
    "mov [rip + {d} + 96], r10",
    "mov [rip + {d} + 104], r11",
    "mov [rip + {d} + 112], r12",
    "mov [rip + {d} + 120], r13",
    "mov [rip + {d} + 128], r14",
    "mov [rip + {d} + 136], r15",
    "pushfq",
    "pop rax",
    "mov [rip + {d} + 16], rax",
    "lea rax, [rip + keel_register_dump]",
    "mov [rip + {d}], rax",
    "ud2",
    d = sym KEEL_REGISTER_DUMP,
);

/// x86_64 has no timer a thread may program without a cap (tests drive the
/// PIT through an IOPort cap): returns false and touches nothing. On
/// aarch64 this starts the EL1 physical timer.
pub fn physical_timer_start(_ticks: u32) -> bool {
    false
}

/// As [`physical_timer_start`]: returns false.
pub fn physical_timer_stop() -> bool {
    false
}

/// As [`physical_timer_start`]: returns false.
pub fn physical_timer_deadline(_count: u64) -> bool {
    false
}

/// x86_64 gives threads no counter of a known rate (the TSC's is the
/// kernel's measurement; the PIT is read through an IOPort cap): `None`.
/// On aarch64 this reads the system counter and its frequency.
pub fn system_counter() -> Option<(u64, u64)> {
    None
}

/// Reads `port` with `in al, dx` directly, without a cap: user mode has no
/// I/O privilege (IOPL 0, no I/O bitmap), so the thread takes a
/// general-protection fault (a user exception) instead.
pub fn port_in8_directly(port: u16) -> u8 {
    let value: u8;
    // SAFETY: `in` at CPL 3 with IOPL 0 faults before touching the port;
    // a fault handler that skips the instruction resumes here.
    unsafe {
        asm!("in al, dx", out("al") value, in("dx") port, options(nomem, nostack, preserves_flags))
    };
    value
}

/// x86_64 has no exclusive monitor (no load-exclusive and store-exclusive
/// pair that a context switch could split; its atomic read-modify-writes are
/// single instructions): sends the empty message on `ep`, as the aarch64
/// version does between its two halves, and returns `None`.
pub fn exclusive_store_across_send(_word: &core::sync::atomic::AtomicU64, ep: u64) -> Option<bool> {
    syscall(keel_abi::Syscall::Send as u64, [ep, 0, 0, 0, 0, 0]);
    None
}
