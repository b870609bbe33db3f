//! keel-echo-server: the server process `bench servers` measures (see the
//! `keel_echo_server` library for its protocol, modes and slots). Like
//! keel-child it does not use keel-rt: keel-sys's `_start` calls
//! [`keel_rt_entry`], defined here, with the loader's argument, the mode;
//! the loader has set up its IPC buffer. It has no heap. A failure prints
//! through the Debug cap at [`DEBUG_SLOT`] when there is one, and stops
//! this thread.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use keel_abi::MessageInfo;
use keel_echo_server::*;
use keel_loader::slot;
use keel_protocols::server::{serve, Caller, Service};
use keel_protocols::sys::EndpointServer;
use keel_protocols::wire::{Incoming, OutMessage};
use keel_protocols::SignalSet;
use keel_sys::cap::{CapKind, Debug, Endpoint, Reply, Tcb};
use keel_sys::{CPtr, Cap};

fn cap<T: CapKind>(s: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(s))
}

/// Prints `s` through the Debug cap at [`DEBUG_SLOT`]; a refusal (no such
/// cap) leaves nothing else to report it to.
fn put_str(s: &str) {
    let _refused = cap::<Debug>(DEBUG_SLOT).debug_put_str(s);
}

/// Stops this thread for good: suspends it through its own TCB cap.
fn stop() -> ! {
    let _ = cap::<Tcb>(slot::TCB).tcb_suspend();
    loop {
        let _ = keel_sys::r#yield();
    }
}

/// The process entry, called by keel-sys's `_start`.
#[no_mangle]
extern "C" fn keel_rt_entry(mode: u64) -> ! {
    let (ep, reply) = (cap::<Endpoint>(ENDPOINT_SLOT), cap::<Reply>(REPLY_SLOT));
    match mode {
        MODE_RAW => raw(ep, reply),
        MODE_STUB => match EndpointServer::new(ep, reply, None) {
            Ok(mut transport) => serve(&mut transport, &mut Echo),
            Err(_) => put_str("keel-echo-server: no IPC buffer\n"),
        },
        _ => put_str("keel-echo-server: unknown mode\n"),
    }
    stop()
}

/// The raw mode: a request of [`RAW_WORDS`] words is answered with their
/// checksum, any other with an empty reply.
fn raw(ep: Cap<Endpoint>, reply: Cap<Reply>) -> ! {
    let mut r = ep.recv(Some(reply));
    loop {
        let (info, mrs) = if r.info.length() == RAW_WORDS {
            let mut words = [0; RAW_WORDS];
            words[..4].copy_from_slice(&r.mrs);
            // Words past the registers that cannot be read (no IPC buffer)
            // count as zero.
            let _ = keel_sys::ipc::read_mrs(4, &mut words[4..]);
            (MessageInfo::new(0, 0, 0, 1), [checksum(&words), 0, 0, 0])
        } else {
            (MessageInfo::new(0, 0, 0, 0), [0; 4])
        };
        r = ep.reply_recv(info, mrs, reply);
    }
}

/// The stub mode's server: Echo's operations.
struct Echo;

impl EchoServer for Echo {
    fn empty(&mut self, _caller: &Caller) -> Result<(), EchoError> {
        Ok(())
    }

    fn words8(
        &mut self,
        _caller: &Caller,
        w0: u64,
        w1: u64,
        w2: u64,
        w3: u64,
        w4: u64,
        w5: u64,
        w6: u64,
        w7: u64,
    ) -> Result<u64, EchoError> {
        Ok(checksum(&[w0, w1, w2, w3, w4, w5, w6, w7]))
    }

    fn crash(&mut self, _caller: &Caller) -> Result<(), EchoError> {
        // SAFETY: nothing is mapped at UNMAPPED: the load faults, and the
        // fault handler decides what happens to this thread.
        let _never = unsafe { core::ptr::read_volatile(UNMAPPED as usize as *const u64) };
        Ok(())
    }
}

impl Service for Echo {
    fn handle(&mut self, request: &Incoming, reply: &mut OutMessage) {
        dispatch(self, request, reply);
    }

    /// No notification is bound to the server: nothing signals it.
    fn signalled(&mut self, _signals: SignalSet) {}
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    put_str("keel-echo-server: panic: ");
    put_str(info.message().as_str().unwrap_or("(formatted)"));
    put_str("\n");
    stop()
}

/// The server has no heap. Dependencies built with `alloc` (keel-abi's
/// manifest support and postcard, unified in with the root task's features)
/// require a global allocator to link; this one refuses every allocation.
struct NoHeap;

// SAFETY: `alloc` always returns null, which GlobalAlloc permits as failure;
// `dealloc` is never given a pointer `alloc` returned, because there is none.
unsafe impl core::alloc::GlobalAlloc for NoHeap {
    unsafe fn alloc(&self, _: core::alloc::Layout) -> *mut u8 {
        core::ptr::null_mut()
    }
    unsafe fn dealloc(&self, _: *mut u8, _: core::alloc::Layout) {}
}

#[global_allocator]
static NO_HEAP: NoHeap = NoHeap;
