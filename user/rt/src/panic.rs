//! The panic handler: print the panic and stop with [`crate::PANIC_STATUS`].

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    crate::println!("panic: {}", info);
    keel_sys::debug::halt(crate::PANIC_STATUS)
}
