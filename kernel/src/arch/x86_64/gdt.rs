//! The GDT (kernel and user segments in the order `syscall`/`sysret` need) and
//! the TSS whose `rsp0` points at the current thread's saved-register area.

use super::io::wrmsr;
use crate::kernel_cell::KernelCell;
use core::arch::asm;

/// Kernel code selector.
pub const KERNEL_CS: u64 = 0x08;
/// User data selector with RPL 3.
pub const USER_SS: u64 = 0x20 | 3;
/// User 64-bit code selector with RPL 3.
pub const USER_CS: u64 = 0x28 | 3;
const TSS_SELECTOR: u16 = 0x30;
/// The selector the kernel leaves in FS (RPL 3), which no user thread can
/// load (see `thread_pointer`).
pub const THREAD_POINTER_SELECTOR: u16 = (THREAD_POINTER_INDEX as u16 * 8) | 3;
/// Its GDT entry, empty except while the kernel loads it.
const THREAD_POINTER_INDEX: usize = 8;
/// What that entry holds while the kernel loads it: a ring-3 data segment
/// with base 0 (accessed, so the CPU does not write the entry).
const THREAD_POINTER_DESCRIPTOR: u64 = 0x00cf_f300_0000_ffff;

#[repr(C, packed)]
struct Tss {
    reserved0: u32,
    rsp0: u64,
    rsp1: u64,
    rsp2: u64,
    reserved1: u64,
    ist: [u64; 7],
    reserved2: u64,
    reserved3: u16,
    iomap_base: u16,
}

const _: () = assert!(core::mem::size_of::<Tss>() == 104);

/// Where the `syscall` entry reads `rsp0` (as its kernel entry stack).
pub const TSS_RSP0_OFFSET: usize = core::mem::offset_of!(Tss, rsp0);

/// The TSS; the `syscall` entry reads its `rsp0` by name, and writes it
/// when it returns from the IPC fast path.
#[no_mangle]
static TSS: KernelCell<Tss> = KernelCell::new(Tss {
    reserved0: 0,
    rsp0: 0,
    rsp1: 0,
    rsp2: 0,
    reserved1: 0,
    ist: [0; 7],
    reserved2: 0,
    reserved3: 0,
    iomap_base: 104,
});

/// Every descriptor user code can load into a data segment register (0x18,
/// 0x20, 0x28) has base 0: `thread_pointer` relies on it, and on entry 8
/// ([`THREAD_POINTER_SELECTOR`]) being empty.
static GDT: KernelCell<[u64; 9]> = KernelCell::new([
    0,
    0x00af_9a00_0000_ffff, // 0x08 kernel code
    0x00cf_9200_0000_ffff, // 0x10 kernel data
    0x00cf_fa00_0000_ffff, // 0x18 user code (32-bit, unused; sysret's base)
    0x00cf_f200_0000_ffff, // 0x20 user data
    0x00af_fa00_0000_ffff, // 0x28 user code (64-bit)
    0,                     // 0x30 TSS (low)
    0,                     // 0x38 TSS (high)
    0,                     // 0x40 see THREAD_POINTER_SELECTOR
]);

#[repr(C, packed)]
struct DescriptorPointer {
    limit: u16,
    base: u64,
}

const MSR_EFER: u32 = 0xc000_0080;
const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_CSTAR: u32 = 0xc000_0083;
const MSR_FMASK: u32 = 0xc000_0084;

/// Loads the GDT and TSS and enables `syscall`.
pub fn init() {
    let tss = TSS.get() as u64;
    let limit = core::mem::size_of::<Tss>() as u64 - 1;
    let low = (limit & 0xffff)
        | ((tss & 0xff_ffff) << 16)
        | (0x89 << 40)
        | (((limit >> 16) & 0xf) << 48)
        | (((tss >> 24) & 0xff) << 56);
    // SAFETY: boot runs once, on one core, before anything else reads the GDT.
    let gdt = unsafe { &mut *GDT.get() };
    gdt[6] = low;
    gdt[7] = tss >> 32;
    let pointer = DescriptorPointer {
        limit: (core::mem::size_of::<[u64; 9]>() - 1) as u16,
        base: gdt.as_ptr() as u64,
    };
    // SAFETY: the GDT has the kernel code/data selectors at 0x08/0x10 like the
    // boot GDT, so reloading CS and the data segments keeps the kernel running.
    unsafe {
        asm!(
            "lgdt [{ptr}]",
            "push 0x08",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov {tmp:e}, 0x10",
            "mov ds, {tmp:e}",
            "mov es, {tmp:e}",
            "mov ss, {tmp:e}",
            "ltr {sel:x}",
            ptr = in(reg) &pointer,
            tmp = out(reg) _,
            sel = in(reg) TSS_SELECTOR,
        );
    }
    extern "C" {
        fn syscall_entry();
        fn compat_syscall_entry();
    }
    wrmsr(MSR_EFER, super::io::rdmsr(MSR_EFER) | 1);
    wrmsr(MSR_STAR, (KERNEL_CS << 32) | (0x18 << 48));
    wrmsr(MSR_LSTAR, syscall_entry as *const () as u64);
    // A `syscall` from the 32-bit user segment (see `trap`): a fault.
    wrmsr(MSR_CSTAR, compat_syscall_entry as *const () as u64);
    // Clear TF, IF, DF, NT and AC on entry. NT above all: a thread can set
    // it with `popfq`, and the kernel's `iretq` with NT set would fault
    // (THREADS0015).
    wrmsr(MSR_FMASK, 0x4_4700);
}

/// Loads [`THREAD_POINTER_SELECTOR`] into FS, which makes the FS base 0:
/// fills its GDT entry for the load alone, so that no user thread can load
/// it (FS keeps the descriptor it loaded).
pub fn load_thread_pointer_selector() {
    let gdt = GDT.get();
    // SAFETY: single core, interrupts off; the entry is one no selector in
    // use names but FS's, whose descriptor the CPU holds already. The asm
    // is not `nomem`, so the writes stay on either side of the load.
    unsafe {
        (*gdt)[THREAD_POINTER_INDEX] = THREAD_POINTER_DESCRIPTOR;
        asm!("mov fs, {:x}", in(reg) THREAD_POINTER_SELECTOR, options(nostack, preserves_flags));
        (*gdt)[THREAD_POINTER_INDEX] = 0;
    }
}

/// Sets the stack the kernel is entered on from user mode: the CPU switches
/// to it on a trap, and the `syscall` entries load it themselves. (The
/// return from the IPC fast path sets it in the entry's assembly.)
pub fn set_kernel_entry_stack(rsp0: u64) {
    // SAFETY: single core, interrupts off; rsp0 is read only on a kernel
    // entry from user mode (by the CPU on a trap, by the `syscall` entries).
    unsafe { (*TSS.get()).rsp0 = rsp0 }
}
