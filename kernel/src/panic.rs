//! The kernel's panic handler: a panic is a kernel bug, so report it and stop
//! the machine with a distinctive status.

use crate::arch::{Machine, Platform};

/// Exit status the machine halts with after a kernel panic.
pub const PANIC_STATUS: u32 = 0x7f;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    crate::kprintln!("KEEL: kernel panic: {}", info);
    Machine::halt(PANIC_STATUS)
}
