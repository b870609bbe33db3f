//! Port I/O, control registers and MSRs: the small `unsafe` primitives the rest
//! of the x86_64 code builds on.

use crate::kernel_cell::KernelCell;
use core::arch::asm;

/// Writes a byte to an I/O port.
pub fn outb(port: u16, value: u8) {
    // SAFETY: port writes touch only devices; the kernel owns all I/O ports.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    }
}

/// Writes a double word to an I/O port.
pub fn outl(port: u16, value: u32) {
    // SAFETY: as for `outb`.
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack, preserves_flags))
    }
}

/// Reads a byte from an I/O port.
pub fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: port reads touch only devices; the kernel owns all I/O ports.
    unsafe {
        asm!("in al, dx", out("al") value, in("dx") port, options(nomem, nostack, preserves_flags))
    }
    value
}

/// Writes a model-specific register.
pub fn wrmsr(msr: u32, value: u64) {
    // SAFETY: only called with architectural MSRs the kernel configures at boot.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack, preserves_flags))
    }
}

/// Reads a model-specific register.
pub fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: only called with architectural MSRs that exist on every x86_64 CPU.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// The page-fault linear address.
pub fn read_cr2() -> u64 {
    let value: u64;
    // SAFETY: reading CR2 has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) value, options(nomem, nostack, preserves_flags)) }
    value
}

/// The current page-table root.
pub fn read_cr3() -> u64 {
    let value: u64;
    // SAFETY: reading CR3 has no side effects.
    unsafe { asm!("mov {}, cr3", out(reg) value, options(nomem, nostack, preserves_flags)) }
    value
}

/// Switches page tables.
///
/// # Safety
/// `root` must be a PML4 whose kernel half maps the running kernel.
pub unsafe fn write_cr3(root: u64) {
    // SAFETY: the caller guarantees the kernel stays mapped.
    unsafe { asm!("mov cr3, {}", in(reg) root, options(nostack, preserves_flags)) }
}

/// Stops the CPU with interrupts off.
pub fn halt_forever() {
    // SAFETY: `cli; hlt` only stops this CPU.
    unsafe { asm!("cli", "hlt", options(nomem, nostack)) }
}

/// The time-stamp counter (one per guest instruction under QEMU `-icount shift=0`).
pub fn read_tsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: `rdtsc` only reads the counter.
    unsafe { asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags)) }
    (u64::from(hi) << 32) | u64::from(lo)
}

const MSR_FS_BASE: u32 = 0xc000_0100;

/// The FS base last written with `wrmsr` (0 before the first).
static FS_BASE: KernelCell<u64> = KernelCell::new(0);

/// Sets the user thread pointer (FS base) for a return to user mode. It
/// must be canonical (`wrmsr` faults on anything else):
/// `UserRegisters::set_tls_base` stores 0 for a non-canonical one.
///
/// A thread's FS base is the one the kernel holds for it, put back on every
/// return; what the CPU holds after a thread ran need not be the one last
/// written. With CR4.FSGSBASE clear (Keel never sets it) `wrfsbase` is
/// undefined in user mode, so a thread moves its FS base only by loading a
/// segment selector into FS (`mov`, `pop`, `lfs`), and every selector it
/// can load gives base 0: the user code and data descriptors have base 0
/// (see the GDT), the TSS descriptor and any LDT selector fault, and a null
/// selector clears the base (Intel, QEMU) or leaves it (older AMD CPUs).
/// So the base is 0 after any thread ran with 0, and otherwise either the
/// one written or 0: the `wrmsr` is skipped only when the base to set and
/// the one last written are both 0. (Reading the base back on every kernel
/// entry would cost an `rdmsr` there instead, on every entry.) GS needs
/// nothing of the kind: the kernel never uses it (no `swapgs`) nor writes
/// its base, which stays 0 whatever selector a thread loads.
#[inline(always)]
pub fn set_fs_base(base: u64) {
    if base | FS_BASE.read() != 0 {
        FS_BASE.write(base);
        wrmsr(MSR_FS_BASE, base);
    }
}

/// Lets user code use x87/SSE: CR0.MP set and EM clear, CR4.OSFXSR and
/// OSXMMEXCPT set. The kernel is built without SSE and never touches them.
pub fn enable_fpu() {
    // SAFETY: only FPU-related control bits change; paging and protection bits are kept.
    unsafe {
        asm!(
            "mov {t}, cr0",
            "and {t}, ~0x4",
            "or {t}, 0x2",
            "mov cr0, {t}",
            "mov {t}, cr4",
            "or {t}, 0x600",
            "mov cr4, {t}",
            t = out(reg) _,
            options(nostack)
        )
    }
}
