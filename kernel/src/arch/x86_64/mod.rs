//! x86_64 (QEMU q35): PVH entry, GDT/TSS/IDT, `syscall` entry, 4-level paging,
//! 16550 serial console, `isa-debug-exit` halt, the local APIC timer over the TSC,
//! I/O APIC lines and I/O ports for user-level drivers.

mod apic;
mod boot;
mod context;
mod gdt;
mod io;
mod ioapic;
mod ioport;
mod irq;
mod pic;
mod pit;
mod serial;
mod thread_pointer;
mod timer;
mod trap;
mod vspace;
mod zero;

pub use context::UserContext;
pub use irq::InterruptController;
pub use serial::Serial;
pub use timer::LocalTimer;
pub use vspace::VSpace;

use super::Platform;
use crate::syscall::invocation::{Message, Outcome};
use keel_abi::bootinfo::MemRegion;
use keel_abi::{CapType, Error, InitCap, Label};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::error::SyscallError;

/// The architecture, as BootInfo reports it.
pub const ARCH: keel_abi::Arch = keel_abi::Arch::X86_64;
/// ELF machine number of user programs.
pub const ELF_MACHINE: u16 = keel_abi::elf::EM_X86_64;

/// Base of the kernel window: physical address `p` is mapped at `PHYS_WINDOW + p`.
const PHYS_WINDOW: u64 = 0xffff_8000_0000_0000;
/// Size of the kernel window built at boot (2 MiB pages over the first 4 GiB).
const PHYS_WINDOW_SIZE: u64 = 4 << 30;
/// Virtual offset of the kernel image (linked at -2 GiB).
const KERNEL_OFFSET: u64 = 0xffff_ffff_8000_0000;
/// I/O port of QEMU's `isa-debug-exit` device.
const DEBUG_EXIT_PORT: u16 = 0xf4;

/// The root task's initial caps that differ by architecture: I/O port
/// control, and the serial device, an IOPort cap over the console's COM1
/// ports, which the kernel keeps writing its own messages to (issued by no
/// IOPortControl, so no Issue can overlap them and its deletion frees nothing).
pub fn initial_arch_caps() -> [(InitCap, Cap); 2] {
    let (first, last) = keel_abi::cap::SERIAL_PORTS;
    [
        (InitCap::IoPortControl, Cap::io_port_control()),
        (InitCap::SerialDevice, Cap::io_port(first, last)),
    ]
}

/// Decodes and performs an invocation of an x86_64 cap (I/O port control
/// and I/O ports) in `slot`.
///
/// # Errors
/// The invocation's errors; `IllegalOperation` for another cap type.
pub fn invoke_arch_cap(
    label: Label,
    msg: &Message,
    slot: u64,
    cap: Cap,
) -> Result<Outcome, SyscallError> {
    match cap.kind() {
        CapType::IoPortControl => ioport::invoke_control(label, msg, slot),
        CapType::IoPort => ioport::invoke(label, msg, cap),
        _ => Err(Error::IllegalOperation.into()),
    }
}

/// The last cap to an object of an x86_64 cap type is gone: an I/O port
/// range is freed.
pub fn finalise_arch_cap(cap: &Cap) {
    if cap.kind() == CapType::IoPort {
        ioport::finalise(cap);
    }
}

/// Machine-wide operations on x86_64.
pub struct Machine;

extern "C" {
    static __kernel_phys_start: u8;
    static __kernel_phys_end: u8;
}

impl Platform for Machine {
    #[inline(always)]
    fn enter_user(ctx: &mut UserContext, vspace: &VSpace) -> ! {
        vspace.activate();
        trap::return_to_user(ctx)
    }

    #[inline(always)]
    fn prepare_user_entry(_ctx: &mut UserContext, vspace: &VSpace) {
        // The system-call entry sets the entry stack and FS base itself
        // when it returns from the fast path with the register file.
        vspace.activate();
    }

    fn forget_user_state(_ctx: &UserContext) {
        // `fxsave` on every kernel entry: the FPU holds nothing of a thread
        // once it has left user mode.
    }

    fn halt(status: u32) -> ! {
        // QEMU exits with (status << 1) | 1; without the device the write is ignored.
        io::outl(DEBUG_EXIT_PORT, status);
        crate::kprintln!("KEEL: halted with status {status}");
        loop {
            io::halt_forever();
        }
    }

    fn idle() -> ! {
        loop {
            if let Some(vector) = trap::wait_for_interrupt() {
                trap::handle_interrupt(vector);
            }
        }
    }

    fn interrupt_pending() -> bool {
        apic::interrupt_pending()
    }

    fn cycles() -> u64 {
        io::read_tsc()
    }

    fn phys_to_virt(paddr: u64) -> usize {
        (PHYS_WINDOW + paddr) as usize
    }

    fn kernel_virt_to_phys(vaddr: usize) -> u64 {
        vaddr as u64 - KERNEL_OFFSET
    }

    unsafe fn zero(start: usize, len: usize) {
        // SAFETY: the caller's guarantee.
        unsafe { zero::zero(start, len) }
    }

    fn kernel_image_phys() -> MemRegion {
        MemRegion {
            start: core::ptr::addr_of!(__kernel_phys_start) as u64,
            end: core::ptr::addr_of!(__kernel_phys_end) as u64,
        }
    }
}
