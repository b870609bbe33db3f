//! aarch64 (QEMU virt, Cortex-A57): entry from QEMU `-kernel` at EL1 or EL2, a
//! kernel window over physical memory in TTBR1, per-thread TTBR0 page tables,
//! the exception vectors, the PL011 console, the GICv2 (and its lines for
//! user-level drivers), the generic timer, and halting through semihosting
//! or PSCI. There are no I/O ports: devices are memory-mapped.

/// The link-time value of a symbol, loaded as a 64-bit constant: the kernel's
/// code (high half) cannot reach low physical symbols with `adrp`.
macro_rules! symbol_value {
    ($sym:literal) => {{
        let value: u64;
        // SAFETY: loads a link-time constant into a register; no memory is touched.
        unsafe {
            core::arch::asm!(
                concat!("movz {0}, #:abs_g3:", $sym),
                concat!("movk {0}, #:abs_g2_nc:", $sym),
                concat!("movk {0}, #:abs_g1_nc:", $sym),
                concat!("movk {0}, #:abs_g0_nc:", $sym),
                out(reg) value,
                options(pure, nomem, nostack, preserves_flags)
            )
        };
        value
    }};
}

mod boot;
mod context;
mod dtb;
mod fpu;
mod gic;
mod irq;
mod mmio;
mod mmu;
mod pmu;
mod psci;
mod semihosting;
mod serial;
mod timer;
mod trap;
mod vspace;

pub use context::UserContext;
pub use irq::InterruptController;
pub use serial::Serial;
pub use timer::LocalTimer;
pub use vspace::VSpace;

use super::Platform;
use crate::syscall::invocation::{Message, Outcome};
use keel_abi::bootinfo::MemRegion;
use keel_abi::{Error, InitCap, Label};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::error::SyscallError;

/// The architecture, as BootInfo reports it.
pub const ARCH: keel_abi::Arch = keel_abi::Arch::Aarch64;
/// ELF machine number of user programs.
pub const ELF_MACHINE: u16 = keel_abi::elf::EM_AARCH64;

/// Base of the kernel window: physical address `p` is mapped at `PHYS_WINDOW + p`.
/// The kernel image is linked inside the window, so the same offset applies to it.
const PHYS_WINDOW: u64 = 0xffff_0000_0000_0000;
/// Size of the kernel window built at boot (one L1 table of 1 GiB blocks).
const PHYS_WINDOW_SIZE: u64 = 512 << 30;

/// The root task's initial caps that differ by architecture: the serial
/// device, a device frame cap over the PL011's page, which the kernel keeps
/// writing its own messages to (seL4 has no I/O port control on Arm; its
/// slot stays empty).
pub fn initial_arch_caps() -> [(InitCap, Cap); 1] {
    [(
        InitCap::SerialDevice,
        Cap::frame(serial::UART, false, keel_abi::CapRights::ALL, true),
    )]
}

/// aarch64 has no cap types of its own: every such invocation is
/// `IllegalOperation` (no IOPort caps exist to make one).
///
/// # Errors
/// Always `IllegalOperation`.
pub fn invoke_arch_cap(
    _label: Label,
    _msg: &Message,
    _slot: u64,
    _cap: Cap,
) -> Result<Outcome, SyscallError> {
    Err(Error::IllegalOperation.into())
}

/// aarch64 has no cap types of its own, so no such object is ever finalised.
pub fn finalise_arch_cap(_cap: &Cap) {}

/// Machine-wide operations on aarch64.
pub struct Machine;

impl Platform for Machine {
    #[inline(always)]
    fn enter_user(ctx: &mut UserContext, vspace: &VSpace) -> ! {
        vspace.activate();
        trap::return_to_user(ctx)
    }

    #[inline(always)]
    fn prepare_user_entry(ctx: &mut UserContext, vspace: &VSpace) {
        vspace.activate();
        fpu::prepare_return(ctx);
    }

    fn forget_user_state(ctx: &UserContext) {
        fpu::forget(ctx);
    }

    fn halt(status: u32) -> ! {
        // Under QEMU with semihosting this does not return and QEMU exits with `status`.
        semihosting::exit(status);
        crate::kprintln!("KEEL: halted with status {status}");
        psci::system_off();
        // Not `idle`: a halted machine runs no more threads, even when its timer fires.
        timer::disarm();
        loop {
            mmu::wait_for_interrupt();
        }
    }

    fn idle() -> ! {
        loop {
            // WFI wakes on a pending interrupt even with IRQs masked, so no
            // exception is taken: the interrupt is acknowledged at the GIC here.
            mmu::wait_for_interrupt();
            trap::handle_interrupt();
        }
    }

    fn interrupt_pending() -> bool {
        mmu::interrupt_pending()
    }

    fn cycles() -> u64 {
        pmu::cycles()
    }

    fn phys_to_virt(paddr: u64) -> usize {
        (PHYS_WINDOW + paddr) as usize
    }

    fn kernel_virt_to_phys(vaddr: usize) -> u64 {
        vaddr as u64 - PHYS_WINDOW
    }

    unsafe fn zero(start: usize, len: usize) {
        // SAFETY: the caller's guarantee; the kernel window is Normal memory.
        unsafe { mmu::zero(start, len) }
    }

    fn kernel_image_phys() -> MemRegion {
        // Physical symbols are out of `adrp` range of the kernel's code: load them whole.
        MemRegion {
            start: symbol_value!("__kernel_phys_start"),
            end: symbol_value!("__kernel_phys_end"),
        }
    }
}
