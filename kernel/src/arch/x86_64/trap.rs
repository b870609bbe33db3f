//! Traps: the IDT and its 256 stubs, the `syscall` entry, and the return to
//! user mode. The register file they save into is `context`'s.
//!
//! On a trap from user mode the CPU switches to `rsp0`, which is the top of the
//! current thread's `UserContext`, so the CPU's frame and the stub's pushes land
//! directly in it (as seL4 does; the `syscall` entry reads `rsp0` from the TSS
//! and builds the same frame). Then the stub switches to the kernel stack and
//! calls into Rust, which never returns: it leaves through `return_to_user`.
//!
//! The kernel runs with interrupts disabled, except inside
//! `wait_for_interrupt` (the idle loop's `sti; hlt`). An interrupt taken there
//! returns at once, noting its vector from the trap frame, and the idle loop
//! hands it to `handle_interrupt` as a trap from user mode would. (The vector
//! is taken from the frame, not read back from the local APIC's in-service
//! register: under KVM that register read back empty after the delivery.)

use super::context::{UserContext, FS_BASE_OFFSET, RAX_OFFSET};
use super::gdt::{self, KERNEL_CS, USER_CS, USER_SS};
use super::io::read_cr2;
use super::{apic, thread_pointer, timer};
use crate::fault::{self, Access, UserFault, UserFaultKind};
use crate::kernel_cell::KernelCell;
use core::arch::{asm, global_asm};

/// The invalid-opcode (#UD) vector.
const INVALID_OPCODE: u64 = 6;
/// RFLAGS.IF: maskable interrupts enabled.
const RFLAGS_IF: u64 = 1 << 9;

#[repr(C, align(16))]
struct Idt([[u64; 2]; 256]);

static IDT: KernelCell<Idt> = KernelCell::new(Idt([[0; 2]; 256]));

/// The vector of the interrupt that woke the idle `hlt` ([`NO_VECTOR`]: none).
#[no_mangle]
static WOKEN_VECTOR: KernelCell<u64> = KernelCell::new(NO_VECTOR);
const NO_VECTOR: u64 = u64::MAX;
/// Scratch slot for the user stack pointer during `syscall` entry.
#[no_mangle]
static SYSCALL_USER_RSP: KernelCell<u64> = KernelCell::new(0);

global_asm!(
    r#"
    .section .text
    .balign 16
    .global trap_stubs
trap_stubs:
    .set vector, 0
    .rept 256
    .balign 16
    .if (vector == 8) || ((vector >= 10) && (vector <= 14)) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
    pushq $vector
    .else
    pushq $0
    pushq $vector
    .endif
    jmp trap_common
    .set vector, vector + 1
    .endr

    /* The general registers and the FPU state, pushed below the trap frame
       in `UserContext` order; then onto the kernel stack. */
    .macro save_user_registers
    push %r15
    push %r14
    push %r13
    push %r12
    push %r11
    push %r10
    push %r9
    push %r8
    push %rbp
    push %rdi
    push %rsi
    push %rdx
    push %rcx
    push %rbx
    push %rax
    fxsave64 -{rax_offset}(%rsp)
    movabs $kernel_stack_top, %rsp
    .endm

    /* The thread's registers from the UserContext at \ctx (the FPU area,
       then the general registers and the trap frame `iretq` consumes). */
    .macro restore_user_registers ctx
    fxrstor64 (\ctx)
    lea {rax_offset}(\ctx), %rsp
    pop_user_registers
    .endm

    /* The general registers and the trap frame from the UserContext whose
       `rax` is at the stack pointer, and `iretq`. */
    .macro pop_user_registers
    pop %rax
    pop %rbx
    pop %rcx
    pop %rdx
    pop %rsi
    pop %rdi
    pop %rbp
    pop %r8
    pop %r9
    pop %r10
    pop %r11
    pop %r12
    pop %r13
    pop %r14
    pop %r15
    add $16, %rsp
    iretq
    .endm

trap_common:
    testb $3, 24(%rsp)
    jz kernel_trap
    save_user_registers
    call x86_64_user_trap
    ud2

kernel_trap:
    /* An interrupt (vector 32 or above) that woke `keel_wait_for_interrupt`
       returns straight there with IF cleared in the frame, its vector in
       WOKEN_VECTOR, still in service at the APIC: the idle loop then
       handles it. Anything else in kernel mode is a bug. */
    cmpq $32, (%rsp)
    jb 1f
    push %rax
    lea keel_interrupt_woke(%rip), %rax
    cmp %rax, 24(%rsp)
    jne 2f
    mov 8(%rsp), %rax
    mov %rax, WOKEN_VECTOR(%rip)
    pop %rax
    andq $~{rflags_if}, 32(%rsp)
    add $16, %rsp
    iretq
2:  pop %rax
1:  mov %rsp, %rdi
    call x86_64_kernel_trap
    ud2

    /* keel_wait_for_interrupt(): the only place the kernel runs with IF set.
       `sti` takes effect after `hlt` has begun, so no interrupt is missed;
       one taken here returns (above) to `keel_interrupt_woke` with IF clear. */
    .global keel_wait_for_interrupt
keel_wait_for_interrupt:
    sti
    hlt
keel_interrupt_woke:
    cli
    ret

    /* Onto the stack in TSS.rsp0 (the end of the current UserContext)
       from the thread's: SS, RSP, RFLAGS (from R11) and CS, as a trap
       pushes them; RIP (from RCX) is the caller's to push. */
    .macro syscall_frame
    mov %rsp, SYSCALL_USER_RSP(%rip)
    mov TSS+{tss_rsp0}(%rip), %rsp
    pushq ${user_ss}
    pushq SYSCALL_USER_RSP(%rip)
    push %r11
    pushq ${user_cs}
    .endm

    /* `syscall`: the frame a trap would push (ring-3 selectors, RIP from
       RCX, RFLAGS from R11), then the registers. The vector and error words
       are left as they were: only the trap path reads them. A `syscall`
       from the user half's last instruction leaves RCX just past it, not
       canonical (bit 47 set), and `iretq` there would fault in the kernel:
       the thread returns to 0 instead (FAULT0011). The IPC fast path
       first: it gives back the register file to return with, or 0 for the
       rest of the system-call path. */
    .global syscall_entry
syscall_entry:
    syscall_frame
    bt $47, %rcx
    jnc 1f
    xor %ecx, %ecx
1:  push %rcx
    sub $16, %rsp
    save_user_registers
    call keel_fastpath
    test %rax, %rax
    jz 2f
    fxrstor64 (%rax)
    lea {rax_offset}(%rax), %rsp
    /* The rest of `prepare_return`, for the thread the fast path returns
       into: its next entry's stack (the end of its UserContext), and its
       FS base, always another thread's, so written without a test, and
       noted (see `thread_pointer`). */
    lea {context_size}-{rax_offset}(%rsp), %rdx
    mov %rdx, TSS+{tss_rsp0}(%rip)
    mov {fs_base_offset}-{rax_offset}(%rsp), %rax
    mov %rax, FS_BASE_WRITTEN(%rip)
    mov {fs_base_offset}-{rax_offset}+4(%rsp), %edx
    mov ${msr_fs_base}, %ecx
    wrmsr
    pop_user_registers
2:  call x86_64_syscall
    ud2

    /* keel_return_to_user(ctx: *mut UserContext) -> ! */
    .global keel_return_to_user
keel_return_to_user:
    restore_user_registers %rdi

    /* `syscall` from 32-bit (compatibility) mode, which AMD CPUs (and QEMU)
       send to CSTAR, still on the thread's stack (Intel raises #UD
       instead). Keel has no 32-bit system calls: the same frame as a #UD
       at the `syscall` instruction, so the thread takes an
       undefined-instruction fault either way. */
    .global compat_syscall_entry
compat_syscall_entry:
    syscall_frame
    sub $2, %rcx
    push %rcx
    pushq $0
    pushq ${invalid_opcode}
    save_user_registers
    call x86_64_user_trap
    ud2
"#,
    tss_rsp0 = const gdt::TSS_RSP0_OFFSET,
    invalid_opcode = const INVALID_OPCODE,
    user_ss = const USER_SS,
    user_cs = const USER_CS,
    rax_offset = const RAX_OFFSET,
    fs_base_offset = const FS_BASE_OFFSET,
    context_size = const core::mem::size_of::<UserContext>(),
    msr_fs_base = const thread_pointer::MSR_FS_BASE,
    rflags_if = const RFLAGS_IF,
    options(att_syntax)
);

/// Fills the IDT with the 256 stubs (interrupt gates, kernel code segment) and loads it.
pub fn init() {
    extern "C" {
        static trap_stubs: u8;
    }
    let base = core::ptr::addr_of!(trap_stubs) as u64;
    // SAFETY: boot runs once, on one core, before any trap can be taken.
    let idt = unsafe { &mut *IDT.get() };
    for (vector, entry) in idt.0.iter_mut().enumerate() {
        let handler = base + 16 * vector as u64;
        entry[0] = (handler & 0xffff)
            | (KERNEL_CS << 16)
            | (0x8e << 40)
            | (((handler >> 16) & 0xffff) << 48);
        entry[1] = handler >> 32;
    }
    #[repr(C, packed)]
    struct Pointer {
        limit: u16,
        base: u64,
    }
    let pointer = Pointer {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: idt.0.as_ptr() as u64,
    };
    // SAFETY: the IDT is a static, fully initialised above.
    unsafe { asm!("lidt [{}]", in(reg) &pointer, options(readonly, nostack, preserves_flags)) }
}

/// Restores `ctx` and returns to user mode with `iretq`. What `iretq`
/// loads is safe by construction:
/// - every `UserContext` in a TCB starts with the reset FPU state (made by
///   [`crate::arch::UserRegisters::new_thread`] when the TCB is created);
/// - RIP is canonical: the `syscall` entry clears a non-canonical return
///   address, a trap from user mode saves a canonical one, and
///   [`crate::arch::UserRegisters::set_register`] and
///   [`crate::arch::UserRegisters::restart_syscall`] store 0 for a non-canonical one;
/// - CS and SS are the 64-bit ring-3 selectors: the `syscall` entry pushes
///   them, and a trap from user mode forces them (the thread may have
///   far-returned into the 32-bit user segment);
/// - RFLAGS was saved from user mode (ring 3 cannot raise IOPL or set VM)
///   or written through [`crate::arch::UserRegisters::set_register`], which masks it;
///   NT in it is harmless, as the kernel itself runs with NT clear (the
///   `syscall` entry's FMASK, the trap gates).
#[inline(always)]
pub fn return_to_user(ctx: &mut UserContext) -> ! {
    extern "C" {
        fn keel_return_to_user(ctx: *mut UserContext) -> !;
    }
    prepare_return(ctx);
    // SAFETY: `ctx` is a complete register file with ring-3 selectors (see
    // above) in kernel memory (a TCB) that stays valid while the thread runs;
    // its FPU area is 16-byte aligned with the struct, as `fxrstor64` needs.
    unsafe { keel_return_to_user(ctx) }
}

/// What must be done before the return to `ctx`'s thread: the stack its
/// next kernel entry saves into, and its FS base. (The system-call entry
/// does both itself when it returns from the IPC fast path.)
#[inline(always)]
fn prepare_return(ctx: &UserContext) {
    let end = (ctx as *const UserContext as u64) + core::mem::size_of::<UserContext>() as u64;
    // A trap from user mode (the CPU) and the `syscall` entry both take
    // their stack from here.
    gdt::set_kernel_entry_stack(end);
    thread_pointer::set_fs_base(ctx.fs_base);
}

/// The current thread's register file, which the trap entry saved into.
fn current_context() -> *mut UserContext {
    match crate::sched::current() {
        Some(thread) => thread.context_ptr(),
        None => panic!("invariant: a trap from user mode has a current thread"),
    }
}

/// A `syscall` from user mode (the entry path sends it here, not through
/// the vector match of [`x86_64_user_trap`]).
#[no_mangle]
extern "C" fn x86_64_syscall() -> ! {
    crate::syscall::handle_syscall()
}

#[no_mangle]
extern "C" fn x86_64_user_trap() -> ! {
    // SAFETY: the current thread's register file is in its live TCB; the
    // reference lives for this block, in which nothing else reaches it.
    let (vector, error, ip) = unsafe {
        let ctx = &mut *current_context();
        // Back to 64-bit mode when the thread next runs, whatever segment it
        // trapped in (see `return_to_user`).
        ctx.cs = USER_CS;
        ctx.ss = USER_SS;
        (ctx.vector, ctx.error, ctx.rip)
    };
    let (kind, addr) = match vector {
        14 => {
            let access = if error & 0x10 != 0 {
                Access::Execute
            } else if error & 0x2 != 0 {
                Access::Write
            } else {
                Access::Read
            };
            (UserFaultKind::VmFault(access), read_cr2())
        }
        INVALID_OPCODE => (UserFaultKind::UndefinedInstruction(INVALID_OPCODE), 0),
        17 => (UserFaultKind::Alignment, 0),
        32..=255 => {
            handle_interrupt(vector as u8);
            crate::sched::schedule()
        }
        other => (UserFaultKind::Other(other), 0),
    };
    fault::handle_user_fault(UserFault { kind, ip, addr })
}

/// Handles interrupt `vector`, delivered from user mode or at the idle
/// loop's `hlt`: ends it at the local APIC and passes it on. Returns only
/// when there is nothing to pass on: the spurious vector, or a timer interrupt
/// before the deadline (see [`timer::deadline_reached`]), after re-arming.
/// A driver's IRQ is masked at the I/O APIC before it is ended, so a
/// level-triggered line does not raise it again before the driver's Ack.
pub fn handle_interrupt(vector: u8) {
    // The spurious vector is never in service, so it is not ended. Every
    // other vector comes from the local APIC (both LINT pins are masked, so
    // no 8259 vector arrives); vectors are not nested (the kernel runs with
    // interrupts disabled), so this one is the highest in service, which the
    // EOI ends.
    if vector == apic::SPURIOUS_VECTOR {
        return;
    }
    if let Some(irq) = super::irq::irq_of_vector(vector) {
        crate::object::irq::interrupt(irq);
        apic::end_of_interrupt();
        crate::sched::schedule()
    }
    apic::end_of_interrupt();
    if vector != apic::TIMER_VECTOR {
        fault::handle_unexpected_interrupt(u64::from(vector))
    }
    if timer::deadline_reached() {
        crate::sched::timer_interrupt()
    }
    timer::rearm();
}

/// Enables interrupts and halts until one arrives; returns with interrupts
/// disabled again, with the vector of the interrupt taken, left in service at
/// the local APIC (`None`: `hlt` ended without one).
pub fn wait_for_interrupt() -> Option<u8> {
    extern "C" {
        fn keel_wait_for_interrupt();
    }
    // SAFETY: the routine only enables interrupts around `hlt`; an interrupt
    // taken there returns to it through the kernel-mode path above, with the
    // registers untouched and interrupts disabled, and it returns normally.
    unsafe { keel_wait_for_interrupt() }
    // Interrupts are disabled again: the wake path above, which writes the
    // static, cannot run now.
    let vector = WOKEN_VECTOR.replace(NO_VECTOR);
    u8::try_from(vector).ok()
}

/// The frame a trap in kernel mode leaves on the kernel stack.
#[repr(C)]
struct KernelFrame {
    vector: u64,
    error: u64,
    rip: u64,
    cs: u64,
    rflags: u64,
}

#[no_mangle]
extern "C" fn x86_64_kernel_trap(frame: &KernelFrame) -> ! {
    panic!(
        "trap in kernel mode: vector {} error {:#x} rip {:#x} cr2 {:#x}",
        frame.vector,
        frame.error,
        frame.rip,
        read_cr2()
    )
}
