//! The panic handler: print the panic and stop with [`crate::PANIC_STATUS`],
//! unless the program installed its own handler with [`set_panic_handler`]
//! (a process that is not the whole system, such as a test runner, reports
//! and stops only itself).

use core::cell::Cell;
use core::panic::PanicInfo;
use critical_section::Mutex;

/// What a program's own panic handler looks like.
pub type PanicHandler = fn(&PanicInfo) -> !;

static HANDLER: Mutex<Cell<Option<PanicHandler>>> = Mutex::new(Cell::new(None));

/// Makes `handler` run on a panic instead of halting the system.
pub fn set_panic_handler(handler: PanicHandler) {
    critical_section::with(|cs| HANDLER.borrow(cs).set(Some(handler)));
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    if let Some(handler) = critical_section::with(|cs| HANDLER.borrow(cs).get()) {
        handler(info)
    }
    crate::println!("panic: {}", info);
    crate::halt(crate::PANIC_STATUS)
}
