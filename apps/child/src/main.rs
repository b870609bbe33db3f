//! keel-child: the program keel-loader starts for tests and benchmarks. It
//! does not use keel-rt (whose entry expects the root task's BootInfo and
//! brings a 1 MiB heap): keel-sys's `_start` calls [`keel_rt_entry`], defined
//! here, with the loader's first argument register, the mode (see the
//! `keel_child` library); the loader has set up its IPC buffer. A panic
//! prints and stops this thread only; it prints through the Debug cap at
//! [`DEBUG_SLOT`], when its starter put one there (the write right alone is
//! enough), and without one its messages are refused and lost. It trusts
//! nothing it receives beyond echoing it.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use keel_abi::MessageInfo;
use keel_child::*;
use keel_loader::slot;
use keel_sys::arch::cycle_counter;
use keel_sys::bare;
use keel_sys::cap::{Debug, Endpoint, Notification, Reply};
use keel_sys::{CPtr, Cap};

fn cap<T: keel_sys::cap::CapKind>(s: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(s))
}

/// Prints `s` through the Debug cap at [`DEBUG_SLOT`]; a refusal (no such
/// cap) leaves nothing else to report it to.
fn put_str(s: &str) {
    let _refused = cap::<Debug>(DEBUG_SLOT).debug_put_str(s);
}

/// Stops this thread for good: suspends it through its own TCB cap.
fn stop() -> ! {
    bare::stop(cap(slot::TCB))
}

/// The process entry, called by keel-sys's `_start`.
#[no_mangle]
extern "C" fn keel_rt_entry(mode: u64) -> ! {
    let ep: Cap<Endpoint> = cap(slot::FIRST_GIVEN);
    match mode {
        MODE_REPORT => {
            ep.call(
                MessageInfo::new(REPORT_LABEL, 0, 0, 4),
                [REPORT_VALUE, 1, 2, 3],
            );
        }
        MODE_ECHO => echo(ep, false),
        MODE_TIMED_ECHO => echo(ep, true),
        MODE_FAULT => {
            // SAFETY: nothing is mapped at UNMAPPED: the load faults and the
            // fault handler decides what happens to this thread.
            let v = unsafe { core::ptr::read_volatile(UNMAPPED as usize as *const u64) };
            ep.call(MessageInfo::new(REPORT_LABEL, 0, 0, 1), [v, 0, 0, 0]);
        }
        MODE_WRITE_SHARED => {
            for i in 0..512u64 {
                // SAFETY: in this mode the loader maps a writable shared frame
                // at SHARED_VADDR; the words are plain integers.
                unsafe {
                    core::ptr::write_volatile(
                        (SHARED_VADDR as usize as *mut u64).add(i as usize),
                        shared_word(i),
                    )
                };
            }
            cap::<Notification>(slot::FIRST_GIVEN).signal();
        }
        MODE_SEND_EVERY_LENGTH | MODE_NB_SEND_EVERY_LENGTH => {
            for len in 0..=LONGEST {
                let (info, first) = compose(len, 0);
                if mode == MODE_SEND_EVERY_LENGTH {
                    ep.send(info, first);
                } else {
                    ep.nb_send(info, first);
                }
            }
            done(0);
        }
        MODE_CALL_EVERY_LENGTH => {
            let wrong = (0..=LONGEST)
                .filter(|&len| {
                    let (info, first) = compose(len, 0);
                    !intact(&ep.call(info, first), len, 1)
                })
                .count();
            done(wrong as u64);
        }
        _ => put_str("keel-child: unknown mode\n"),
    }
    stop()
}

/// Ends an every-length mode: Sends [`DONE_LABEL`] with `word` on the
/// endpoint in slot 5.
fn done(word: u64) {
    let ep: Cap<Endpoint> = cap(slot::FIRST_GIVEN + 1);
    ep.send(MessageInfo::new(DONE_LABEL, 0, 0, 1), [word, 0, 0, 0]);
}

/// The echo server loop (see `MODE_ECHO` and `MODE_TIMED_ECHO`).
fn echo(ep: Cap<Endpoint>, timed: bool) -> ! {
    let times = SHARED_VADDR as usize as *mut u64;
    let reply: Cap<Reply> = cap(slot::FIRST_GIVEN + ECHO_REPLY_GIVEN);
    let mut r = ep.recv(Some(reply));
    loop {
        if timed {
            // SAFETY: in timed mode the loader maps a writable shared frame at
            // SHARED_VADDR; word 0 is a plain integer.
            unsafe { core::ptr::write_volatile(times, cycle_counter()) };
        }
        let info = MessageInfo::new(r.info.label(), 0, 0, r.info.length() as u64);
        let mrs = [r.badge, r.mrs[1], r.mrs[2], r.mrs[3]];
        if !timed {
            for i in 4..r.info.length() {
                let w = keel_sys::ipc::mr(i).unwrap_or(0);
                let _ = keel_sys::ipc::set_mr(i, w.wrapping_add(1));
            }
        }
        if timed {
            // SAFETY: as above, word 1.
            unsafe { core::ptr::write_volatile(times.add(1), cycle_counter()) };
        }
        r = ep.reply_recv(info, mrs, reply);
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    bare::panic("keel-child", cap(DEBUG_SLOT), cap(slot::TCB), info)
}

/// The child has no heap (see `keel_sys::bare`).
#[global_allocator]
static NO_HEAP: bare::NoHeap = bare::NoHeap;
