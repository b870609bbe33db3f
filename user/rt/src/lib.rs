//! keel-rt: the runtime every Keel program links (the role `sel4-root-task`
//! plays on seL4): the entry point, a heap (fixed, or grown through the
//! program's memory manager), the panic handler, printing and the
//! [`main!`] macro that names the program's `main`.
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! keel_rt::main!(main);
//! fn main(info: &'static keel_rt::ProcessInfo) -> u32 {
//!     keel_rt::println!("hello from {}", info.name);
//!     0
//! }
//! ```
//!
//! A program is started one of two ways, and its `main` takes what it is
//! given: the root task (and a process its starter gives a BootInfo page,
//! as the test driver does) gets the kernel's [`BootInfo`]; a process init
//! starts gets its [`ProcessInfo`] (see [`process`]). Both pages sit at the
//! same address, passed in argument register 0; the first word tells them
//! apart. `main`'s return value is the exit status.
//!
//! In the root task, returning (or a panic) halts the system with that
//! status, and printing goes to the kernel console through the Debug cap in
//! the root task's slot for it (`keel_sys::cap::init_thread::DEBUG`), which
//! programs started with the root task's slot numbering (the test
//! processes) have at the same place; without one (or without the rights)
//! nothing is printed and [`halt`] suspends the program's initial thread
//! rather than stopping the system. In a process, printing goes to the
//! console server or the process's own Debug cap, and returning, a panic or
//! [`halt`] ends the process through init (see [`process`]).
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

mod heap;
mod lock;
pub mod memory;
mod panic;
pub mod print;
pub mod process;
pub mod time;

pub use heap::{size as heap_size, used as heap_used, GROWTH_PAGES};
pub use panic::{set_panic_handler, PanicHandler};
pub use process::process_info;

pub use keel_abi::process::ProcessInfo;
pub use keel_abi::BootInfo;
use keel_sys::cap::init_thread;

/// Exit status after a panic.
pub const PANIC_STATUS: u32 = 101;
/// Exit status when the program was handed no valid BootInfo or
/// ProcessInfo page, or not the one its `main` takes.
pub const BAD_BOOTINFO_STATUS: u32 = 102;

/// What a program is started with: the page at argument register 0.
#[derive(Clone, Copy, Debug)]
pub enum StartInfo {
    /// The kernel's BootInfo (the root task) or one made like it.
    Boot(&'static BootInfo),
    /// What init tells a process it starts.
    Process(&'static ProcessInfo),
}

/// A program's `main`: a function taking `&'static Takes` and returning the
/// exit status. `Takes` is [`BootInfo`] or [`ProcessInfo`]; a program's
/// `main` implements exactly one of the two, so [`main!`] needs no
/// annotation.
pub trait Main<Takes> {
    /// Runs `main` with what the program was started with; a program
    /// started with the other kind of page is refused with
    /// [`BAD_BOOTINFO_STATUS`].
    fn run(self, start: StartInfo) -> u32;
}

impl<F: FnOnce(&'static BootInfo) -> u32> Main<BootInfo> for F {
    fn run(self, start: StartInfo) -> u32 {
        match start {
            StartInfo::Boot(boot_info) => self(boot_info),
            StartInfo::Process(_) => refuse("a BootInfo", "a ProcessInfo"),
        }
    }
}

impl<F: FnOnce(&'static ProcessInfo) -> u32> Main<ProcessInfo> for F {
    fn run(self, start: StartInfo) -> u32 {
        match start {
            StartInfo::Process(info) => self(info),
            StartInfo::Boot(_) => refuse("a ProcessInfo", "a BootInfo"),
        }
    }
}

/// Reports a program started with a page its `main` does not take.
fn refuse(takes: &str, got: &str) -> u32 {
    println!("keel-rt: main takes {takes} page but the program was started with {got} page");
    BAD_BOOTINFO_STATUS
}

/// Declares the program's `main`: `fn(&'static BootInfo) -> u32` or
/// `fn(&'static ProcessInfo) -> u32`.
#[macro_export]
macro_rules! main {
    ($main:path) => {
        #[no_mangle]
        fn __keel_main(start: $crate::StartInfo) -> u32 {
            $crate::Main::run($main, start)
        }
    };
}

extern "Rust" {
    fn __keel_main(start: StartInfo) -> u32;
}

/// Called by `_start` (in keel-sys) with the first argument the program's
/// starter passed: the address of its BootInfo or ProcessInfo page.
#[no_mangle]
extern "C" fn keel_rt_entry(arg: usize) -> ! {
    heap::init();
    let start = if let Some(boot_info) = boot_info_at(arg) {
        register_ipc_buffer(boot_info);
        heap::start_main(None);
        StartInfo::Boot(boot_info)
    } else {
        match process::start(arg) {
            Ok(info) => {
                heap::start_main(info.connection("memory"));
                StartInfo::Process(info)
            }
            Err(e) => {
                println!("keel-rt: no valid BootInfo or ProcessInfo at {arg:#x}: {e:?}");
                halt(BAD_BOOTINFO_STATUS)
            }
        }
    };
    // SAFETY: `__keel_main` is defined by the program's `main!` invocation with
    // exactly this signature.
    let status = unsafe { __keel_main(start) };
    halt(status)
}

/// Registers the root task's IPC buffer, which the kernel (or keel-loader,
/// for a process given a BootInfo page) mapped where BootInfo says.
fn register_ipc_buffer(boot_info: &BootInfo) {
    if boot_info.ipc_buffer != keel_abi::bootinfo::IPC_BUFFER_VADDR {
        return;
    }
    let buffer = boot_info.ipc_buffer as usize as *mut keel_abi::IpcBuffer;
    // SAFETY: the kernel (for the root task) or keel-loader (for a process
    // given a BootInfo page) maps this thread's IPC buffer writable at
    // IPC_BUFFER_VADDR for its lifetime; no other thread runs yet.
    if let Err(e) = unsafe { keel_sys::set_ipc_buffer(init_thread::TCB, buffer) } {
        println!("keel-rt: registering the IPC buffer: {e}");
        halt(BAD_BOOTINFO_STATUS)
    }
}

/// Ends the program with `status`. In a process init started: writes out
/// what is left of a printed line, tells init (Init `exit`) and suspends
/// the calling thread (see [`process::exit`]). Otherwise: stops the whole
/// system through the program's Debug cap; refused that authority, stops
/// the program's initial thread for good (through its TCB cap in the root
/// task's slot for it).
pub fn halt(status: u32) -> ! {
    if let Some(info) = process_info() {
        print::flush();
        process::exit(info, status)
    }
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
    // SAFETY: the kernel (or a process's starter) maps a page read-only at
    // BOOTINFO_VADDR for the program's lifetime, page-aligned and a page
    // long, and any bytes are a valid `BootInfo` (all fields are plain
    // integers); the magic tells the kernel's page from a ProcessInfo page.
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
