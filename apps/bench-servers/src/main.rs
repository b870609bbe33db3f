//! The servers benchmark, started in the root task's place by `cargo xtask
//! bench servers` under QEMU `-icount` (the cycle counter counts guest
//! instructions). This program is init: keel-init's [`System`] starts, from
//! a manifest made here, two `echo-server` processes, each passive (it runs
//! on the scheduling context each Call donates), and supervises them. They
//! answer the same requests: one through keel-protocols' receive loop and
//! generated dispatch, called through the generated client stub; the other
//! with raw ReplyRecv, called with raw Call. Each run times, in this order,
//! an empty request to the raw server and to the stub server, then one
//! carrying eight words to each (answered with their checksum). Then
//! [`restart`] measures what one restart of the stub server costs, through
//! init's own path.
//!
//! Lines: `BENCH call-raw <words> <instructions>`, `BENCH call-stub <words>
//! <instructions>` (words 0 and 8), `BENCH restart 0 <instructions>`, `BENCH
//! counter-overhead 0 <instructions>`.
#![no_std]
#![no_main]

extern crate alloc;

mod restart;

use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;
use core::hint::black_box;
use keel_abi::archive::Archive;
use keel_abi::manifest::{Manifest, Program, Restart, Role, Sched};
use keel_abi::{BootInfo, CapRights, MessageInfo};
use keel_bench::system::init_step;
use keel_bench::{at, counter_overhead, failed, smallest_untyped, Failure, Step};
use keel_echo_server::{checksum, EchoClient, MODE_RAW, MODE_STUB, RAW_WORDS};
use keel_init::{Resources, System, SCRATCH_VADDR};
use keel_protocols::sys::EndpointClient;
use keel_protocols::{ActivityId, ClientBadge, ClientId, Rights};
use keel_rt::println;
use keel_sys::arch::cycle_counter;
use keel_sys::cap::{init_thread, CapKind, Endpoint, Untyped};
use keel_sys::{CPtr, Cap, Error};

keel_rt::main!(main);

/// Samples per measurement.
const RUNS: usize = 101;
/// The stub server's index in the manifest.
const STUB: usize = 1;
/// The raw server's.
const RAW: usize = 2;
/// The servers' priority: this thread's, as `bench ipc` has it, so a Call
/// from here meets the fast path's condition (nothing runnable above the
/// server).
const SERVER_PRIORITY: u8 = 255;
/// log2 size of the untyped init starts the servers from (2 MiB each).
const POOL_BITS: u8 = 23;
/// Empty slots init gets; the benchmark takes the rest.
const INIT_SLOTS: u64 = 128;
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

/// The system: the root task's placeholder (this program), then the
/// `echo-server` archive entry as the stub server, restarted as often as
/// [`restart`] needs, and the `echo-server-raw` entry (the same program)
/// as the raw one. Both are passive servers with a Debug cap, for their
/// failure messages.
fn manifest() -> Manifest {
    let server = |name: &str, restart| Program {
        name: name.to_string(),
        role: Role::Server,
        start: true,
        sched: Some(Sched {
            priority: SERVER_PRIORITY,
            budget_us: 1000,
            period_us: 1000,
            passive: true,
        }),
        restart,
        debug: true,
        maps: vec![],
        irqs: vec![],
        ioports: vec![],
    };
    let root = Program {
        role: Role::RootTask,
        start: false,
        sched: None,
        debug: false,
        ..server("root-task", Restart::Never)
    };
    let stub = server("echo-server", Restart::Always { limit: u8::MAX });
    let raw = server("echo-server-raw", Restart::Never);
    Manifest::new("bench-servers", Vec::from([root, stub, raw]))
}

/// A cap of this program's to server `index`'s endpoint, minted with
/// [`CLIENT_BADGE`] and the rights a client's cap has (Call, and wait for
/// the reply).
///
/// # Errors
/// Too few slots, no such server, or a failed mint.
pub fn client_cap(system: &System, index: usize, slots: &mut Slots) -> Step<Cap<Endpoint>> {
    let endpoint = system
        .server_endpoint(index)
        .ok_or_else(|| Failure::new("the program is no server"))?;
    let s = slots.take(1)?;
    let minted = init_thread::CNODE.absolute_cptr(CPtr::from_bits(s)).mint(
        &init_thread::CNODE.absolute_cptr(endpoint.cptr()),
        CapRights::WRITE.union(CapRights::GRANT_REPLY),
        CLIENT_BADGE.bits(),
    );
    at("mint a client's cap", minted)?;
    Ok(cap(s))
}

fn run(boot_info: &'static BootInfo) -> Step<()> {
    let overhead = counter_overhead();
    println!("BENCH counter-overhead 0 {overhead}");
    let archive = Archive::parse(keel_rt::boot_archive(boot_info))
        .map_err(|_| failed("the boot archive", Error::InvalidArgument))?;
    let manifest = manifest();
    // The benchmark's own objects (the restart client's thread) come from
    // one untyped, the servers' from another, through init.
    let own: Cap<Untyped> = cap(smallest_untyped(boot_info, 16, None)?);
    let pool = smallest_untyped(boot_info, POOL_BITS, Some(own.cptr().bits()))?;
    let first = boot_info.empty.start;
    let res = Resources {
        pool: cap(pool),
        slots: first..first + INIT_SLOTS,
        scratch_vaddr: SCRATCH_VADDR,
        debug: init_thread::DEBUG,
        archive: None,
        devices: Vec::new(),
    };
    let mut slots = Slots {
        next: first + INIT_SLOTS,
        end: boot_info.empty.end,
    };
    let mut system = init_step(System::new(&manifest, &archive, res))?;
    system.set_verbose(false);
    system.set_arg(STUB, MODE_STUB);
    system.set_arg(RAW, MODE_RAW);
    init_step(system.start_all())?;
    let raw_ep = client_cap(&system, RAW, &mut slots)?;
    let stub_ep = client_cap(&system, STUB, &mut slots)?;
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
    restart::measure(&mut system, stub_ep, own, &mut slots, overhead)
}
