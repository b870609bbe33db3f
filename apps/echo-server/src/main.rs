//! keel-echo-server: the server process `bench servers` measures (see the
//! `keel_echo_server` library for its protocol and modes). A keel-rt
//! program started by init: its endpoint, Reply object and cap to init come
//! from its ProcessInfo page, its mode from the page's argument. It trusts
//! nothing it receives: the stub mode answers a malformed request with the
//! protocol layer's error, the raw mode answers anything but a request of
//! [`RAW_WORDS`] words with an empty reply.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use keel_abi::process::ProcessInfo;
use keel_abi::MessageInfo;
use keel_echo_server::*;
use keel_protocols::server::{serve, Caller};
use keel_protocols::sys::{announce_ready, EndpointServer};
use keel_rt::println;
use keel_rt::process::slot;
use keel_sys::cap::{Endpoint, Reply};
use keel_sys::Cap;

keel_rt::main!(main);

/// Exit status when it cannot serve: started without a server's caps, or
/// in an unknown mode.
const NOT_SERVING: u32 = 2;

fn main(info: &'static ProcessInfo) -> u32 {
    let (Some(endpoint), Some(reply)) = (info.slots.endpoint, info.slots.reply) else {
        println!("echo-server: started without an endpoint; it runs only as a server");
        return NOT_SERVING;
    };
    let (init, endpoint, reply) = (slot(info.slots.init), slot(endpoint), slot(reply));
    match info.arg {
        MODE_RAW => raw(init, endpoint, reply),
        MODE_STUB => match EndpointServer::announcing(init, endpoint, reply, None) {
            Ok(mut transport) => serve(&mut transport, &mut Serving(&mut Echo)),
            Err(e) => {
                println!("echo-server: setting up the receive loop failed: {e}");
                NOT_SERVING
            }
        },
        mode => {
            println!("echo-server: unknown mode {mode}");
            NOT_SERVING
        }
    }
}

/// The raw mode: announces itself ready to `init` with its first receive,
/// then answers a request of [`RAW_WORDS`] words with their checksum, any
/// other with an empty reply.
fn raw(init: Cap<Endpoint>, ep: Cap<Endpoint>, reply: Cap<Reply>) -> ! {
    let mut r = announce_ready(init, ep, reply);
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
        // SAFETY: nothing is mapped at UNMAPPED: the load faults, and init,
        // the fault handler, tears this instance down; it never resumes.
        let _never = unsafe { core::ptr::read_volatile(UNMAPPED as usize as *const u64) };
        Ok(())
    }
}
