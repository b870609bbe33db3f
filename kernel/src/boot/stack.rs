//! The kernel stack: one per core (one core so far), used from the top on
//! every kernel entry, since the kernel keeps no state on it between entries.
//! The architectures' entry code loads `kernel_stack_top`.

use crate::kernel_cell::KernelCell;

/// Size of the kernel stack.
const KERNEL_STACK_SIZE: usize = 64 * 1024;

#[repr(C, align(16))]
struct KernelStack([u8; KERNEL_STACK_SIZE]);

/// The stack itself; only the entry code names it (`kernel_stack_top`).
#[no_mangle]
static KERNEL_STACK: KernelCell<KernelStack> = KernelCell::new(KernelStack([0; KERNEL_STACK_SIZE]));

core::arch::global_asm!(
    ".global kernel_stack_top",
    ".set kernel_stack_top, KERNEL_STACK + {size}",
    size = const KERNEL_STACK_SIZE,
);
