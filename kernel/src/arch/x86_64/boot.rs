//! x86_64 boot: the PVH entry (32-bit protected mode, paging off), the boot page
//! tables (identity and kernel window over the first 4 GiB in 2 MiB pages, the
//! kernel image at -2 GiB), the switch to long mode, and then the Rust side:
//! console, GDT/IDT, the timer, the memory map from `hvm_start_info`, and `kernel_main`.

use super::{gdt, serial::Serial, trap, PHYS_WINDOW_SIZE};
use crate::arch::{LocalTimer, Machine, Platform, Timer};
use crate::boot::BootParams;
use keel_abi::bootinfo::MemRegion;
use zerocopy::{FromBytes, Immutable, KnownLayout};

core::arch::global_asm!(
    r#"
    .section .note.Xen, "a", @note
    .balign 4
    .long 4
    .long 8
    .long 18
    .asciz "Xen"
    .balign 4
    .quad _start32
    .balign 4

    .section .boot.bss, "aw", @nobits
    .balign 4096
    .global boot_pml4
boot_pml4: .skip 4096
boot_pdpt_low: .skip 4096
boot_pdpt_high: .skip 4096
boot_pd: .skip 4096 * 4
boot_stack: .skip 4096
boot_stack_top:

    .section .boot.data, "aw"
    .balign 16
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
boot_gdt_ptr:
    .word boot_gdt_ptr - boot_gdt - 1
    .long boot_gdt

    .section .boot.text, "ax"
    .code32
    .global _start32
_start32:
    cli
    mov %ebx, %edi
    mov $boot_stack_top, %esp

    xor %ecx, %ecx
.Lfill_pd:
    mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax
    cmp $1536, %ecx
    jb .Lcached
    or $0x18, %eax
.Lcached:
    mov %eax, boot_pd(,%ecx,8)
    movl $0, boot_pd+4(,%ecx,8)
    inc %ecx
    cmp $2048, %ecx
    jne .Lfill_pd

    mov $boot_pd + 3, %eax
    mov %eax, boot_pdpt_low
    add $4096, %eax
    mov %eax, boot_pdpt_low + 8
    add $4096, %eax
    mov %eax, boot_pdpt_low + 16
    add $4096, %eax
    mov %eax, boot_pdpt_low + 24
    mov $boot_pdpt_low + 3, %eax
    mov %eax, boot_pml4
    mov %eax, boot_pml4 + 256 * 8
    mov $boot_pdpt_high + 3, %eax
    mov %eax, boot_pml4 + 511 * 8
    mov $boot_pd + 3, %eax
    mov %eax, boot_pdpt_high + 510 * 8

    mov %cr4, %eax
    or $0x20, %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx
    rdmsr
    or $0x900, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80010001, %eax
    mov %eax, %cr0
    lgdt boot_gdt_ptr
    pushl $0x08
    pushl $.Lstart64
    lret

    .code64
.Lstart64:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %eax, %eax
    mov %ax, %fs
    mov %ax, %gs
    movabs $.Lstart64_high, %rax
    jmp *%rax

    .section .text
.Lstart64_high:
    movabs $kernel_stack_top, %rsp
    mov %edi, %edi
    call x86_64_boot_main
    ud2
"#,
    options(att_syntax)
);

/// The `hvm_start_info` structure a PVH loader passes in `%ebx`.
#[repr(C)]
#[derive(FromBytes, Immutable, KnownLayout)]
struct StartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

/// One entry of the PVH memory map (E820 types).
#[repr(C)]
#[derive(FromBytes, Immutable, KnownLayout)]
struct MemmapEntry {
    addr: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

const START_INFO_MAGIC: u32 = 0x336e_c578;
const E820_RAM: u32 = 1;
/// The part of q35's 32-bit PCI hole below the I/O APIC, HPET and local APIC,
/// where device BARs live: handed out as device untyped.
const PCI_MMIO_WINDOW: MemRegion = MemRegion {
    start: 0xc000_0000,
    end: 0xfec0_0000,
};
/// Low memory holds firmware data; the kernel does not hand it out.
const LOW_MEMORY_END: u64 = 0x10_0000;

/// Reads a `T` from physical memory through the kernel window.
fn read_phys<T: FromBytes>(paddr: u64) -> T {
    let ptr = Machine::phys_to_virt(paddr) as *const T;
    // SAFETY: the boot window maps the first 4 GiB, where PVH loaders place
    // their tables; `read_unaligned` has no alignment requirement and any bit
    // pattern is a valid `T: FromBytes`.
    unsafe { core::ptr::read_unaligned(ptr) }
}

/// Rust entry from the boot assembly, in long mode on the kernel stack.
#[no_mangle]
extern "C" fn x86_64_boot_main(start_info_paddr: u64) -> ! {
    Serial::init();
    super::pic::disable();
    super::ioapic::init();
    super::io::enable_fpu();
    gdt::init();
    super::thread_pointer::init();
    trap::init();
    LocalTimer::init();
    let info: StartInfo = read_phys(start_info_paddr);
    if info.magic != START_INFO_MAGIC || info.version < 1 {
        panic!(
            "not booted through PVH with a memory map (magic {:#x}, version {})",
            info.magic, info.version
        );
    }
    let mut params = BootParams::new();
    for i in 0..u64::from(info.memmap_entries) {
        let entry: MemmapEntry =
            read_phys(info.memmap_paddr + i * core::mem::size_of::<MemmapEntry>() as u64);
        if entry.kind != E820_RAM {
            continue;
        }
        let end = entry.addr.saturating_add(entry.size);
        if end > PHYS_WINDOW_SIZE {
            crate::kprintln!(
                "KEEL: RAM above 4 GiB ({:#x}..{:#x}) is outside the kernel window; not used",
                entry.addr.max(PHYS_WINDOW_SIZE),
                end
            );
        }
        let ram = MemRegion {
            start: entry.addr,
            end: end.min(PHYS_WINDOW_SIZE),
        };
        if ram.start < ram.end {
            params.add_ram(ram);
        }
    }
    params.reserve(MemRegion {
        start: 0,
        end: LOW_MEMORY_END,
    });
    params.add_device(PCI_MMIO_WINDOW);
    params.add_device(keel_abi::bootinfo::free_device_page(keel_abi::Arch::X86_64));
    crate::boot::kernel_main(&params)
}
