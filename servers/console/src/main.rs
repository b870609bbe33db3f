//! keel-console: the console server. Init starts it as a process (passive:
//! after it announces itself it runs on its callers' scheduling contexts)
//! with its endpoint, a Reply object, its init endpoint and a write-only
//! Debug cap, named in its ProcessInfo page. It serves the Console protocol
//! through keel-protocols' receive loop with the logic of
//! `keel-console-core`, writing each line through the Debug cap; its first
//! receive tells init it is ready. It keeps consumption records of every
//! request (`keel_protocols::recorded`) and answers the Accounting
//! protocol's queries from them on the same endpoint.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use keel_console_core::{Console, Sink};
use keel_protocols::accounting::Ledger;
use keel_protocols::console::Serving;
use keel_protocols::recorded::Recorded;
use keel_protocols::sys::EndpointServer;
use keel_protocols::{serve, RpcError};
use keel_rt::process::slot;
use keel_rt::{println, ProcessInfo};
use keel_sys::cap::Debug;
use keel_sys::Cap;

keel_rt::main!(main);

/// Clients whose tags the console keeps; more get `Full` for `set_tag`
/// and are shown by their client number.
const TAGS: usize = 32;

/// Activities the console keeps consumption records of; more are charged
/// to its overhead row.
const RECORDS: usize = 32;

/// Exit status when the ProcessInfo page lacks a cap the server needs.
const MISSING_CAP_STATUS: u32 = 1;
/// Exit status when the transport cannot be set up.
const TRANSPORT_STATUS: u32 = 2;

/// The kernel console, through the server's Debug cap.
struct KernelConsole(Cap<Debug>);

impl Sink for KernelConsole {
    fn write(&mut self, text: &str) -> Result<(), RpcError> {
        self.0.debug_put_str(text).map_err(RpcError::Kernel)
    }
}

fn main(info: &'static ProcessInfo) -> u32 {
    let slots = &info.slots;
    let (Some(endpoint), Some(reply), Some(debug)) = (slots.endpoint, slots.reply, slots.debug)
    else {
        println!("console: started without an endpoint, a Reply object or a Debug cap");
        return MISSING_CAP_STATUS;
    };
    let mut transport =
        match EndpointServer::announcing(slot(slots.init), slot(endpoint), slot(reply), None) {
            Ok(t) => t,
            Err(e) => {
                println!("console: setting up its endpoint: {e}");
                return TRANSPORT_STATUS;
            }
        };
    let mut console: Console<KernelConsole, TAGS> = Console::new(KernelConsole(slot(debug)));
    let mut ledger: Ledger<RECORDS> = Ledger::new();
    let mut recorded = Recorded {
        service: Serving(&mut console),
        ledger: &mut ledger,
        clock: keel_sys::arch::cycle_counter,
    };
    serve(&mut transport, &mut recorded)
}
