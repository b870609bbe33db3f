//! The user thread pointer (FS base): what the CPU holds after a thread ran,
//! and when a return to user mode must write it.
//!
//! A thread's FS base is the one the kernel holds for it
//! (`UserContext::fs_base`); a return to user mode makes the CPU's the
//! same. With CR4.FSGSBASE clear (Keel clears it at boot) `wrfsbase` is
//! undefined in user mode and `wrmsr` privileged, so a thread changes its
//! FS base only by loading a segment selector into FS (`mov`, `pop`,
//! `lfs`): every selector it can load gives base 0 (the user descriptors
//! have base 0, see the GDT; an LDT selector faults, there being no LDT)
//! or, for a null selector on older AMD CPUs, keeps the base. The kernel
//! leaves FS holding [`gdt::THREAD_POINTER_SELECTOR`], which no thread can
//! load: its GDT entry is empty except while the kernel itself loads it
//! ([`gdt::load_thread_pointer_selector`]), and the CPU keeps the
//! descriptor it loaded (DPL 3, so `iretq` to ring 3 keeps the selector
//! too). So any load a thread makes, the null selector with any RPL and a
//! selector it loaded before among them, leaves FS reading something else,
//! and while FS reads the kernel's selector no thread has changed the base
//! since the kernel last wrote it: [`FS_BASE_WRITTEN`] is what the CPU
//! holds.
//!
//! Two ways out of the kernel write it:
//! - the system-call entry's return from the IPC fast path (in `trap`),
//!   which always switches to another thread: it writes the base
//!   unconditionally, from the register file in hand (`wrmsr`, and the
//!   value into [`FS_BASE_WRITTEN`]), and leaves FS as it was;
//! - every other return ([`set_fs_base`]): it writes when the base differs
//!   from the one written, and otherwise only when FS no longer reads the
//!   kernel's selector, which it then loads again first (so that later
//!   returns can skip the write again). A thread that returns to itself
//!   costs no `wrmsr`, which on real CPUs takes far longer than the
//!   compares. A write with FS reading something else leaves it so: the
//!   CPU then holds what was written, and the next return with the same
//!   base finds the selector changed.
//!
//! GS needs nothing of the kind: the kernel never uses it (no `swapgs`) nor
//! writes its base, which stays 0 whatever selector a thread loads.

use super::gdt;
use super::io::wrmsr;
use crate::kernel_cell::KernelCell;
use core::arch::asm;

/// The FS base MSR.
pub const MSR_FS_BASE: u32 = 0xc000_0100;

/// The FS base last written (with `wrmsr`, or 0 by loading
/// [`gdt::THREAD_POINTER_SELECTOR`] at boot): what the CPU holds while FS
/// reads that selector. The fast path's return writes it by name.
#[no_mangle]
static FS_BASE_WRITTEN: KernelCell<u64> = KernelCell::new(0);

/// CR4.FSGSBASE: `rdfsbase`/`wrfsbase` and the GS forms enabled, in every ring.
const CR4_FSGSBASE: u32 = 16;

/// Sets the thread pointer's invariants up at boot (after the GDT):
/// CR4.FSGSBASE clear, whatever the loader left, and FS holding
/// [`gdt::THREAD_POINTER_SELECTOR`] with base 0, as [`FS_BASE_WRITTEN`] says.
pub fn init() {
    // SAFETY: clearing CR4.FSGSBASE only makes the FS/GS base instructions
    // undefined, and the kernel uses none of them; no other bit changes.
    unsafe {
        asm!(
            "mov {t}, cr4",
            "btr {t}, {bit}",
            "mov cr4, {t}",
            t = out(reg) _,
            bit = const CR4_FSGSBASE,
            options(nomem, nostack)
        )
    };
    gdt::load_thread_pointer_selector();
}

/// The selector FS reads now.
fn fs_selector() -> u16 {
    let selector: u16;
    // SAFETY: reading a segment register has no side effects.
    unsafe { asm!("mov {:x}, fs", out(reg) selector, options(nomem, nostack, preserves_flags)) };
    selector
}

/// Sets the user thread pointer (FS base) for a return to user mode other
/// than the fast path's (see the module documentation). It must be
/// canonical (`wrmsr` faults on anything else):
/// `UserRegisters::set_tls_base` stores 0 for a non-canonical one.
#[inline(always)]
pub fn set_fs_base(base: u64) {
    if base != FS_BASE_WRITTEN.read() {
        write_fs_base(base);
    } else if fs_selector() != gdt::THREAD_POINTER_SELECTOR {
        gdt::load_thread_pointer_selector();
        write_fs_base(base);
    }
}

/// Writes the FS base, and notes it.
#[inline(always)]
fn write_fs_base(base: u64) {
    FS_BASE_WRITTEN.write(base);
    wrmsr(MSR_FS_BASE, base);
}
