//! The servers benchmark, started in the root task's place by `cargo xtask
//! bench servers` under QEMU `-icount` (the cycle counter counts guest
//! instructions). Two `echo-server` processes, each built by keel-loader
//! from an untyped of its own and made passive (it runs on the scheduling
//! context each Call donates), answer the same requests: one through
//! keel-protocols' receive loop and generated dispatch, called through the
//! generated client stub; the other with raw ReplyRecv, called with raw
//! Call. Each run times, in this order, an empty request to the raw server
//! and to the stub server, then one carrying eight words to each (answered
//! with their checksum). Then [`supervise`] measures what one restart of the stub
//! server costs.
//!
//! Lines: `BENCH call-raw <words> <instructions>`, `BENCH call-stub <words>
//! <instructions>` (words 0 and 8), `BENCH restart 0 <instructions>`, `BENCH
//! counter-overhead 0 <instructions>`.
#![no_std]
#![no_main]

extern crate alloc;

mod supervise;

use core::hint::black_box;
use keel_abi::{BootInfo, MessageInfo, ObjectType};
use keel_bench::{at, counter_overhead, failed, smallest_untyped, Failure, Step};
use keel_echo_server::{checksum, EchoClient, MODE_RAW, MODE_STUB, RAW_WORDS};
use keel_protocols::sys::EndpointClient;
use keel_protocols::{ActivityId, ClientBadge, ClientId, Rights};
use keel_rt::println;
use keel_sys::arch::cycle_counter;
use keel_sys::cap::{init_thread, CapKind, Endpoint, Untyped};
use keel_sys::{CPtr, Cap, Error};

use supervise::Server;

keel_rt::main!(main);

/// Samples per measurement.
const RUNS: usize = 101;
/// log2 size of the untyped each server process is built from.
const SERVER_BITS: u64 = 20;
/// The badge the benchmark's endpoint caps carry: client 1, activity 1.
const CLIENT_BADGE: ClientBadge = ClientBadge::new(
    match ClientId::new(1) {
        Some(id) => id,
        None => panic!("client 1 exists"),
    },
    ActivityId(1),
    Rights::NONE,
);

fn cap<T: CapKind>(s: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(s))
}

fn main(boot_info: &'static BootInfo) -> u32 {
    keel_bench::finish(run(boot_info))
}

/// Hands out the root task's empty slots in order.
pub struct Slots {
    next: u64,
    end: u64,
}

impl Slots {
    /// The next `n` slots.
    ///
    /// # Errors
    /// `NotEnoughMemory` when the empty range is used up.
    pub fn take(&mut self, n: u64) -> Step<u64> {
        let first = self.next;
        if first + n > self.end {
            return Err(failed("too few empty slots", Error::NotEnoughMemory));
        }
        self.next += n;
        Ok(first)
    }
}

fn run(boot_info: &'static BootInfo) -> Step<()> {
    let overhead = counter_overhead();
    println!("BENCH counter-overhead 0 {overhead}");
    let mut slots = Slots {
        next: boot_info.empty.start,
        end: boot_info.empty.end,
    };
    let here = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
    // The benchmark's own objects (endpoints, the crashing client's
    // thread) come from one untyped, the servers' from two carved out of
    // another, one each.
    let own: Cap<Untyped> = cap(smallest_untyped(boot_info, 16, None)?);
    let source = smallest_untyped(boot_info, SERVER_BITS as u8 + 1, Some(own.cptr().bits()))?;
    let server_uts = slots.take(2)?;
    at(
        "carve the servers' untypeds",
        cap::<Untyped>(source).untyped_retype(
            ObjectType::Untyped,
            SERVER_BITS,
            &here,
            server_uts,
            2,
        ),
    )?;
    let image = supervise::echo_image(boot_info)?;
    let faults = slots.take(1)?;
    at(
        "fault endpoint",
        own.untyped_retype(ObjectType::Endpoint, 0, &here, faults, 1),
    )?;
    let mut raw = Server::new(image, MODE_RAW, cap(server_uts), own, faults, &mut slots)?;
    let mut stub = Server::new(
        image,
        MODE_STUB,
        cap(server_uts + 1),
        own,
        faults,
        &mut slots,
    )?;
    raw.start()?;
    stub.start()?;
    let raw_ep: Cap<Endpoint> = cap(raw.client_cap(&mut slots, CLIENT_BADGE)?);
    let stub_ep = cap(stub.client_cap(&mut slots, CLIENT_BADGE)?);
    let transport = EndpointClient::new(stub_ep, None)
        .map_err(|e| Failure::new(alloc::format!("stub client: {e:?}")))?;
    let mut client = EchoClient::new(transport);

    for run in 0..RUNS as u64 {
        let t0 = cycle_counter();
        let r = raw_ep.call(MessageInfo::new(0, 0, 0, 0), [0; 4]);
        let t1 = cycle_counter();
        if r.info.length() != 0 {
            return Err(Failure::new("call-raw 0: not answered as sent"));
        }
        println!("BENCH call-raw 0 {}", (t1 - t0).saturating_sub(overhead));

        let t0 = cycle_counter();
        let r = client.empty();
        let t1 = cycle_counter();
        if r.is_err() {
            return Err(Failure::new(alloc::format!("call-stub 0: answered {r:?}")));
        }
        println!("BENCH call-stub 0 {}", (t1 - t0).saturating_sub(overhead));

        let words: [u64; RAW_WORDS] = black_box(core::array::from_fn(|i| run * 16 + i as u64));
        let expected = checksum(&words);
        let t0 = cycle_counter();
        let written = keel_sys::ipc::write_mrs(4, &words[4..]);
        let r = raw_ep.call(
            MessageInfo::new(0, 0, 0, RAW_WORDS as u64),
            [words[0], words[1], words[2], words[3]],
        );
        let t1 = cycle_counter();
        at("call-raw 8: the IPC buffer", written)?;
        if r.info.length() != 1 || r.mrs[0] != expected {
            return Err(Failure::new("call-raw 8: not answered with the checksum"));
        }
        println!("BENCH call-raw 8 {}", (t1 - t0).saturating_sub(overhead));

        let t0 = cycle_counter();
        let [w0, w1, w2, w3, w4, w5, w6, w7] = words;
        let r = client.words8(w0, w1, w2, w3, w4, w5, w6, w7);
        let t1 = cycle_counter();
        if r != Ok(expected) {
            return Err(Failure::new(alloc::format!(
                "call-stub 8: answered {r:?}, not {expected}"
            )));
        }
        println!("BENCH call-stub 8 {}", (t1 - t0).saturating_sub(overhead));
    }
    supervise::measure_restarts(&mut stub, &mut client, own, &mut slots, overhead)?;
    at("suspend the raw server", raw.process()?.tcb.tcb_suspend())?;
    at("suspend the stub server", stub.process()?.tcb.tcb_suspend())
}
