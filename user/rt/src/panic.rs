//! The panic handler: print the panic and end the program with
//! [`crate::PANIC_STATUS`] (see [`crate::halt`]: a process tells init, the
//! root task halts the system), unless the program installed its own
//! handler with [`set_panic_handler`] (a process that is not the whole
//! system and has no init to tell, such as a test process, reports and
//! stops only itself).

use core::panic::PanicInfo;
use core::sync::atomic::{AtomicUsize, Ordering};

/// What a program's own panic handler looks like.
pub type PanicHandler = fn(&PanicInfo) -> !;

/// The installed handler's address (0: none). An atomic, not a lock: a
/// thread may panic while another holds the heap's lock.
static HANDLER: AtomicUsize = AtomicUsize::new(0);

/// Makes `handler` run on a panic instead of the default.
pub fn set_panic_handler(handler: PanicHandler) {
    HANDLER.store(handler as usize, Ordering::Release);
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    let address = HANDLER.load(Ordering::Acquire);
    if address != 0 {
        // SAFETY: HANDLER holds 0 or the address of a `PanicHandler`, which
        // `set_panic_handler` stored; function pointers are never null.
        let handler = unsafe { core::mem::transmute::<usize, PanicHandler>(address) };
        handler(info)
    }
    match crate::process_info() {
        Some(process) => {
            crate::print::print_panic(info);
            crate::process::exit(process, crate::PANIC_STATUS)
        }
        None => {
            crate::println!("panic: {}", info);
            crate::halt(crate::PANIC_STATUS)
        }
    }
}
