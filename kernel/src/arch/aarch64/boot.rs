//! aarch64 boot: the entry QEMU jumps to (physical, MMU off, EL2 or EL1), the
//! drop from EL2 to EL1, the boot page tables (one level-1 table of 1 GiB blocks
//! used both as the identity map in TTBR0 and as the kernel window in TTBR1),
//! turning the MMU on, the jump to the high half; then the Rust side: console,
//! vectors, GIC, timer, the device tree's RAM, and `kernel_main`.

use super::mmu::{
    KERNEL_DEVICE_BLOCK, KERNEL_NORMAL_BLOCK, MAIR, SCTLR_MMU_ON, SCTLR_RES1, TABLE, TCR, VALID,
};
use super::{dtb, gic, serial::Serial, PHYS_WINDOW_SIZE};
use crate::arch::{LocalTimer, Timer};
use crate::boot::BootParams;
use keel_abi::bootinfo::MemRegion;

/// HCR_EL2.RW: EL1 runs in AArch64.
const HCR_EL2_RW: u64 = 1 << 31;
/// SPSR for the `eret` from EL2: EL1h with all of DAIF masked.
const SPSR_EL1H_MASKED: u64 = 0x3c5;
/// QEMU virt's 32-bit PCIe MMIO window, where device BARs live: handed out as
/// device untyped (the kernel's own devices, GIC and PL011, lie below it).
const PCIE_MMIO_WINDOW: MemRegion = MemRegion {
    start: 0x1000_0000,
    end: 0x3eff_0000,
};

core::arch::global_asm!(
    r#"
    .section .boot.data, "aw"
    .balign 4096
boot_l0:
    .quad boot_l1 + {table}
    .fill 511, 8, 0
boot_l1:
    .quad {device}
    .set gib, 1
    .rept 511
    .quad (gib << 30) | {normal}
    .set gib, gib + 1
    .endr

    .section .boot.text, "ax"
    .global _start
_start:
    msr daifset, #0xf
    mrs x9, CurrentEL
    and x9, x9, #0xc
    cmp x9, #8
    b.eq .Lfrom_el2
    cmp x9, #4
    b.eq .Lat_el1
.Lunsupported:
    wfe
    b .Lunsupported

.Lfrom_el2:
    ldr x9, ={hcr_rw}
    msr hcr_el2, x9
    mov x9, #3
    msr cnthctl_el2, x9
    msr cntvoff_el2, xzr
    mov x9, #0x33ff
    msr cptr_el2, x9
    msr hstr_el2, xzr
    msr vttbr_el2, xzr
    ldr x9, ={sctlr_res1}
    msr sctlr_el1, x9
    ldr x9, ={spsr_el1h}
    msr spsr_el2, x9
    adr x9, .Lat_el1
    msr elr_el2, x9
    isb
    eret

.Lat_el1:
    ldr x9, ={cpacr}
    msr cpacr_el1, x9
    ldr x9, ={mair}
    msr mair_el1, x9
    mrs x10, id_aa64mmfr0_el1
    and x10, x10, #7
    mov x11, #5
    cmp x10, x11
    csel x10, x11, x10, hi
    ldr x9, ={tcr}
    bfi x9, x10, #32, #3
    /* 16-bit ASIDs when the CPU has them (ID_AA64MMFR0_EL1.ASIDBits = 2). */
    mrs x10, id_aa64mmfr0_el1
    ubfx x10, x10, #4, #4
    cmp x10, #2
    b.ne 3f
    orr x9, x9, #{tcr_as}
3:  msr tcr_el1, x9
    adr x9, boot_l0
    msr ttbr0_el1, x9
    msr ttbr1_el1, x9
    isb
    tlbi vmalle1
    dsb nsh
    isb
    ldr x9, ={sctlr}
    msr sctlr_el1, x9
    isb
    ldr x9, =aarch64_high_entry
    br x9
    .ltorg

    .section .text
aarch64_high_entry:
    ldr x9, =kernel_stack_top
    mov sp, x9
    ldr x9, =__bss_start
    ldr x10, =__bss_end
1:  cmp x9, x10
    b.hs 2f
    str xzr, [x9], #8
    b 1b
2:  ldr x9, =exception_vectors
    msr vbar_el1, x9
    isb
    mov x29, xzr
    mov x30, xzr
    bl aarch64_boot_main
    b .
"#,
    table = const VALID | TABLE,
    device = const KERNEL_DEVICE_BLOCK,
    normal = const KERNEL_NORMAL_BLOCK,
    hcr_rw = const HCR_EL2_RW,
    sctlr_res1 = const SCTLR_RES1,
    spsr_el1h = const SPSR_EL1H_MASKED,
    cpacr = const super::fpu::CPACR_EL0_TRAPS,
    mair = const MAIR,
    tcr = const TCR,
    tcr_as = const super::mmu::TCR_AS,
    sctlr = const SCTLR_MMU_ON,
);

/// Rust entry from the boot assembly: MMU on, running in the high half on the
/// kernel stack, vectors installed, interrupts masked.
#[no_mangle]
extern "C" fn aarch64_boot_main() -> ! {
    Serial::init();
    gic::init();
    super::pmu::init();
    LocalTimer::init();
    let tree = dtb::DeviceTree::find();
    let mut params = BootParams::new();
    tree.for_each_memory(|start, end| {
        if end > PHYS_WINDOW_SIZE {
            crate::kprintln!(
                "KEEL: RAM above 512 GiB ({:#x}..{:#x}) is outside the kernel window; not used",
                start.max(PHYS_WINDOW_SIZE),
                end
            );
        }
        let ram = MemRegion {
            start,
            end: end.min(PHYS_WINDOW_SIZE),
        };
        if ram.start < ram.end {
            params.add_ram(ram);
        }
    });
    tree.for_each_reserved(|region| params.reserve(region));
    params.add_device(PCIE_MMIO_WINDOW);
    params.add_device(keel_abi::bootinfo::free_device_page(
        keel_abi::Arch::Aarch64,
    ));
    super::psci::set_conduit(tree.psci_conduit());
    super::vspace::leave_boot_tables();
    crate::boot::kernel_main(&params)
}
