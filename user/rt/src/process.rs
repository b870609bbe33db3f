//! A process init starts: how it finds what init told it, and how it ends.
//!
//! Init maps the program's ProcessInfo page (`keel_abi::process`) read-only
//! at `PROCESS_INFO_VADDR` and passes that address in argument register 0;
//! keel-loader has already given the thread its IPC buffer. keel-rt decodes
//! the page once, before `main`, onto the heap, where it stays for the
//! program's lifetime ([`process_info`]), and names the thread after the
//! program for the kernel's fault reports when it has a Debug cap.
//!
//! A process ends by telling init: a Call of Init `exit(status)` on its init
//! endpoint ([`exit`]), after returning from `main`, a panic
//! (`crate::PANIC_STATUS`) or [`crate::halt`]. Init tears the process down
//! and never replies; if the Call comes back (init refused it, or the cap
//! is gone), the thread suspends itself.

use alloc::boxed::Box;
use core::sync::atomic::{AtomicPtr, Ordering};

use keel_abi::process::{ProcessInfo, ProcessInfoError, PROCESS_INFO_VADDR};
use keel_abi::syscall::THREAD_NAME_MAX;
use keel_protocols::init::InitClient;
use keel_protocols::sys::EndpointClient;
use keel_sys::cap::{CapKind, Debug, Tcb};
use keel_sys::{CPtr, Cap};

/// The decoded page, once `start` has run (null before, and in a program
/// started with a BootInfo page).
static PROCESS_INFO: AtomicPtr<ProcessInfo> = AtomicPtr::new(core::ptr::null_mut());

/// What init told this process about itself; `None` in the root task and
/// in programs started with a BootInfo page.
pub fn process_info() -> Option<&'static ProcessInfo> {
    let info = PROCESS_INFO.load(Ordering::Acquire);
    // SAFETY: PROCESS_INFO is null or points to the ProcessInfo `start`
    // leaked onto the heap, which nothing frees or changes afterwards.
    unsafe { info.as_ref() }
}

/// The cap in `slot` of the process's CNode, as a `Cap<T>`.
pub fn slot<T: CapKind>(slot: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(slot))
}

/// A client transport over the connection `info` names `name`; `None`
/// without one.
pub fn connect(info: &ProcessInfo, name: &str) -> Option<EndpointClient> {
    info.connection(name)
        .and_then(|ep| EndpointClient::new(slot(ep), None).ok())
}

/// Reads the ProcessInfo page at `addr` and keeps it for [`process_info`].
/// Called once, at entry, before any other thread runs.
///
/// # Errors
/// `NoMagic` when `addr` is not where init maps the page, or the page is
/// not one; otherwise what is wrong with it.
pub(crate) fn start(addr: usize) -> Result<&'static ProcessInfo, ProcessInfoError> {
    if addr as u64 != PROCESS_INFO_VADDR {
        return Err(ProcessInfoError::NoMagic);
    }
    // SAFETY: whoever started the program maps a page read-only at
    // PROCESS_INFO_VADDR (the BootInfo address, which the caller checked
    // first) for the program's lifetime; any bytes are valid u8s.
    let page = unsafe { core::slice::from_raw_parts(addr as *const u8, keel_abi::PAGE_SIZE) };
    let info: &'static ProcessInfo = Box::leak(Box::new(ProcessInfo::decode_page(page)?));
    PROCESS_INFO.store(core::ptr::from_ref(info).cast_mut(), Ordering::Release);
    if let Some(debug) = info.slots.debug {
        // Names are ASCII; one the kernel still refuses leaves the thread
        // unnamed.
        let name = info.name.get(..THREAD_NAME_MAX).unwrap_or(&info.name);
        let _ = slot::<Debug>(debug).debug_name_thread(name);
    }
    Ok(info)
}

/// Tells init the process is done with `status` and stops the calling
/// thread; init tears the process down.
pub fn exit(info: &ProcessInfo, status: u32) -> ! {
    if let Ok(endpoint) = EndpointClient::new(slot(info.slots.init), None) {
        // Init does not reply to an exit; a Call that returns was refused,
        // and all that is left is to stop.
        let _ = InitClient::new(endpoint).exit(status);
    }
    loop {
        let _ = slot::<Tcb>(info.slots.tcb).tcb_suspend();
    }
}
