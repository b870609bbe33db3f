//! keel-rt: the runtime every Keel program links (the role `sel4-root-task`
//! plays on seL4): the entry point, a heap, the panic handler, console printing
//! and the [`main!`] macro that names the program's `main`.
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! keel_rt::main!(main);
//! fn main(boot_info: &'static keel_rt::BootInfo) -> u32 {
//!     keel_rt::println!("hello from Keel");
//!     0
//! }
//! ```
//!
//! `main` gets the BootInfo page; its return value is the exit status. Until
//! process management exists, a program is the whole system: returning halts
//! the system with that status. Printing and halting go through the Debug
//! cap in the root task's slot for it (`keel_sys::cap::init_thread::DEBUG`),
//! which programs started with the root task's slot numbering (the test
//! processes) have at the same place; without one (or without the rights)
//! nothing is printed and [`halt`] suspends the program's initial thread
//! rather than stopping the system.
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

mod heap;
mod panic;
pub mod print;

pub use heap::used as heap_used;
pub use panic::{set_panic_handler, PanicHandler};

pub use keel_abi::BootInfo;
use keel_sys::cap::init_thread;

/// Exit status after a panic.
pub const PANIC_STATUS: u32 = 101;
/// Exit status when the kernel handed over no valid BootInfo.
pub const BAD_BOOTINFO_STATUS: u32 = 102;

/// Declares the program's `main`: `fn(&'static BootInfo) -> u32`.
#[macro_export]
macro_rules! main {
    ($main:path) => {
        #[no_mangle]
        fn __keel_main(boot_info: &'static $crate::BootInfo) -> u32 {
            let main: fn(&'static $crate::BootInfo) -> u32 = $main;
            main(boot_info)
        }
    };
}

extern "Rust" {
    fn __keel_main(boot_info: &'static BootInfo) -> u32;
}

/// Called by `_start` (in keel-sys) with the first argument the kernel passed:
/// the address of the BootInfo page.
#[no_mangle]
extern "C" fn keel_rt_entry(boot_info: usize) -> ! {
    heap::init();
    let Some(boot_info) = boot_info_at(boot_info) else {
        println!("keel-rt: no valid BootInfo at {boot_info:#x}");
        halt(BAD_BOOTINFO_STATUS)
    };
    if boot_info.ipc_buffer == keel_abi::bootinfo::IPC_BUFFER_VADDR {
        let buffer = boot_info.ipc_buffer as usize as *mut keel_abi::IpcBuffer;
        // SAFETY: the kernel (for the root task) or keel-loader (for a process
        // given a BootInfo page) maps this thread's IPC buffer writable at
        // IPC_BUFFER_VADDR for its lifetime; no other thread runs yet.
        if let Err(e) = unsafe { keel_sys::set_ipc_buffer(init_thread::TCB, buffer) } {
            println!("keel-rt: registering the IPC buffer: {e}");
            halt(BAD_BOOTINFO_STATUS)
        }
    }
    // SAFETY: `__keel_main` is defined by the program's `main!` invocation with
    // exactly this signature.
    let status = unsafe { __keel_main(boot_info) };
    halt(status)
}

/// Stops the whole system with `status` through the program's Debug cap;
/// refused that authority, stops the program's initial thread for good
/// (through its TCB cap in the root task's slot for it).
pub fn halt(status: u32) -> ! {
    let _refused = init_thread::DEBUG.debug_halt(status);
    loop {
        let _ = init_thread::TCB.tcb_suspend();
    }
}

/// The BootInfo at `addr`, if it is the kernel's page.
fn boot_info_at(addr: usize) -> Option<&'static BootInfo> {
    if addr != keel_abi::bootinfo::BOOTINFO_VADDR as usize {
        return None;
    }
    // SAFETY: the kernel maps the BootInfo page read-only at BOOTINFO_VADDR for
    // the lifetime of the root task, page-aligned and a page long, and any bytes
    // are a valid `BootInfo` (all fields are plain integers).
    let boot_info = unsafe { &*(addr as *const BootInfo) };
    (boot_info.magic == keel_abi::bootinfo::BOOTINFO_MAGIC).then_some(boot_info)
}

/// The boot archive, which the kernel maps read-only into the root task at the
/// address BootInfo gives.
pub fn boot_archive(boot_info: &'static BootInfo) -> &'static [u8] {
    let (addr, len) = (boot_info.archive_vaddr, boot_info.archive_size);
    if addr != keel_abi::bootinfo::ARCHIVE_VADDR {
        return &[];
    }
    // SAFETY: BootInfo came from the kernel (checked in `boot_info_at`), which maps
    // `archive_size` bytes read-only at ARCHIVE_VADDR for the root task's lifetime.
    unsafe { core::slice::from_raw_parts(addr as usize as *const u8, len as usize) }
}
