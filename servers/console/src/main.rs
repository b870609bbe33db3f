//! keel-console: the console server. Init starts it as a process (passive:
//! after it announces itself it runs on its callers' scheduling contexts)
//! with its endpoint, a Reply object, its init endpoint, a Debug cap and,
//! in the described system, a connection named `"serial"` to the serial
//! server, named in its ProcessInfo page. It serves the Console protocol
//! through keel-protocols' receive loop with the logic of
//! `keel-console-core`, writing each line through the serial server (one
//! `write` per line, so the serial server sends it whole), or through the
//! Debug cap to the kernel console when it has no serial connection (as
//! the tests start it); its first receive tells init it is ready. It keeps
//! consumption records of every request (`keel_protocols::recorded`) and
//! answers the Accounting protocol's queries from them on the same endpoint.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use keel_console_core::{Console, Sink};
use keel_protocols::accounting::Ledger;
use keel_protocols::console::Serving;
use keel_protocols::recorded::Recorded;
use keel_protocols::serial::SerialClient;
use keel_protocols::sys::{EndpointClient, EndpointServer};
use keel_protocols::{serve, ProtocolError, RpcError};
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

/// Where the lines go: the serial server when the console has a
/// connection to it, else the kernel console through the Debug cap.
struct Output {
    serial: Option<SerialClient<EndpointClient>>,
    debug: Cap<Debug>,
}

impl Sink for Output {
    fn write(&mut self, text: &str) -> Result<(), RpcError> {
        match &mut self.serial {
            Some(serial) => serial
                .write_all(text.as_bytes())
                .map_err(|e| e.rpc().unwrap_or(RpcError::BadReply)),
            None => self.debug.debug_put_str(text).map_err(RpcError::Kernel),
        }
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
    let serial = match info
        .connection("serial")
        .map(|c| EndpointClient::new(slot(c), None))
    {
        Some(Ok(client)) => Some(SerialClient::new(client)),
        Some(Err(e)) => {
            println!("console: setting up its serial connection: {e}");
            return TRANSPORT_STATUS;
        }
        None => None,
    };
    let output = Output {
        serial,
        debug: slot(debug),
    };
    let mut console: Console<Output, TAGS> = Console::new(output);
    let mut ledger: Ledger<RECORDS> = Ledger::new();
    let mut recorded = Recorded {
        service: Serving(&mut console),
        ledger: &mut ledger,
        clock: keel_sys::arch::cycle_counter,
    };
    serve(&mut transport, &mut recorded)
}
