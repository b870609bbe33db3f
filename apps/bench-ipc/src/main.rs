//! The IPC benchmark, started in the root task's place by `cargo xtask bench
//! ipc`. A server thread in the same address space answers Calls with
//! ReplyRecv, and then a server in its own process ([`xas`]); the cycle counter (guest instructions under QEMU `-icount
//! shift=0`) times the round trip, Call alone (client before Call to server
//! after its receive) and ReplyRecv alone (server before ReplyRecv to client
//! after Call), for messages of 0 and 10 words, with the kernel's IPC fast
//! path on and off, and Signal to Wait between two threads. The cost of reading the counter is subtracted. Each sample is a
//! line `BENCH <name> <N> <ticks>` (N: message words).
#![no_std]
#![no_main]

mod xas;

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};
use keel_abi::bootinfo::IPC_BUFFER_VADDR;
use keel_abi::{BootInfo, MessageInfo, ObjectType};
use keel_bench::{
    at, counter_overhead, failed, prepare_thread, served_within, smallest_untyped, Failure, Step,
};
use keel_rt::println;
use keel_sys::arch::cycle_counter;
use keel_sys::cap::{init_thread, Endpoint, Notification, Reply, SchedContext, Tcb, Untyped};

/// log2 size of the benchmark threads' scheduling contexts.
const SC_BITS: u64 = keel_abi::object::MIN_SCHED_CONTEXT_BITS as u64;
use keel_sys::tcb::UserContext;
use keel_sys::{CPtr, Cap, Error};

keel_rt::main!(main);

/// Samples per measurement.
pub(crate) const RUNS: usize = 101;
/// Message lengths measured.
pub(crate) const LENGTHS: [u64; 2] = [0, 10];

const STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct Stack(UnsafeCell<[u8; STACK_SIZE]>);
// SAFETY: the stack is used by the one server thread only.
unsafe impl Sync for Stack {}
static STACK: Stack = Stack(UnsafeCell::new([0; STACK_SIZE]));

/// Timestamps the two threads exchange.
static SERVER_RECEIVED: AtomicU64 = AtomicU64::new(0);
static SERVER_REPLYING: AtomicU64 = AtomicU64::new(0);
static SERVER_CAP: AtomicU64 = AtomicU64::new(0);
/// The Reply object the server thread receives with.
static SERVER_REPLY: AtomicU64 = AtomicU64::new(0);

fn main(boot_info: &'static BootInfo) -> u32 {
    keel_bench::finish(run(boot_info))
}

/// Times Calls to `endpoint` answered by a server that records when it
/// received each one and when it began its reply (`server_times`), for every
/// message length, with the fast path on and off (short messages take the
/// fast path; turning it off measures the slow path for the same calls;
/// ten-word messages always take the slow path). `label` goes into the
/// measurement names (`call+replyrecv{label}-fast`, ...). Each Call is
/// checked after its window: the server's stamps must lie inside it, so it
/// received and answered this Call (a failed one never reaches it). The
/// reply itself is not kept: keeping it live costs moves inside the window.
pub(crate) fn time_calls(
    endpoint: Cap<Endpoint>,
    overhead: u64,
    label: &str,
    server_times: impl Fn() -> (u64, u64),
) -> Step<()> {
    for (fast, path) in [(true, "fast"), (false, "slow")] {
        at(
            "fast path setting",
            init_thread::DEBUG.debug_set_fastpath(fast),
        )?;
        for n in LENGTHS {
            let info = MessageInfo::new(0, 0, 0, n);
            for _ in 0..RUNS {
                let t0 = cycle_counter();
                endpoint.call(info, [1, 2, 3, 4]);
                let t1 = cycle_counter();
                let (received, replying) = server_times();
                let row = format_args!("call+replyrecv{label}-{path} {n}");
                served_within(row, (t0, t1), (received, replying))?;
                let round_trip = (t1 - t0).saturating_sub(overhead);
                let call = received.wrapping_sub(t0).saturating_sub(overhead);
                let reply = t1.wrapping_sub(replying).saturating_sub(overhead);
                println!("BENCH call+replyrecv{label}-{path} {n} {round_trip}");
                println!("BENCH call{label}-{path} {n} {call}");
                println!("BENCH replyrecv{label}-{path} {n} {reply}");
            }
        }
    }
    at(
        "fast path back on",
        init_thread::DEBUG.debug_set_fastpath(true),
    )
    .map(|_| ())
}

/// The server: answers every Call, recording when it received and when it replies.
extern "C" fn server(_: u64) -> ! {
    let ep: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(SERVER_CAP.load(Ordering::SeqCst)));
    let reply: Cap<Reply> = Cap::from_cptr(CPtr::from_bits(SERVER_REPLY.load(Ordering::SeqCst)));
    let mut r = ep.recv(Some(reply));
    loop {
        SERVER_RECEIVED.store(cycle_counter(), Ordering::SeqCst);
        let info = MessageInfo::new(0, 0, 0, r.info.length() as u64);
        SERVER_REPLYING.store(cycle_counter(), Ordering::SeqCst);
        r = ep.reply_recv(info, r.mrs, reply);
    }
}

/// The waiter: waits on its notification forever, recording when it wakes.
extern "C" fn waiter(_: u64) -> ! {
    let n: Cap<Notification> = Cap::from_cptr(CPtr::from_bits(SERVER_CAP.load(Ordering::SeqCst)));
    loop {
        n.wait();
        SERVER_RECEIVED.store(cycle_counter(), Ordering::SeqCst);
    }
}

fn run(boot_info: &'static BootInfo) -> Step<()> {
    let overhead = counter_overhead();
    println!("BENCH counter-overhead 0 {overhead}");
    // The floor under every figure: entering and leaving the kernel for a
    // system call that does nothing (Yield with nothing else runnable).
    for _ in 0..RUNS {
        let t0 = cycle_counter();
        let r = keel_sys::r#yield();
        let t1 = cycle_counter();
        at("null-syscall 0", r)?;
        let cost = (t1 - t0).saturating_sub(overhead);
        println!("BENCH null-syscall 0 {cost}");
    }
    let ut = smallest_untyped(boot_info, 16, None)?;
    let ut_slot = ut;
    let ut: Cap<Untyped> = Cap::from_cptr(CPtr::from_bits(ut));
    let first = boot_info.empty.start;
    let here = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
    let (ep, ntfn, server_tcb, waiter_tcb) = (first, first + 1, first + 2, first + 3);
    let (server_sc, waiter_sc, reply) = (first + 4, first + 5, first + 6);
    SERVER_REPLY.store(reply, Ordering::SeqCst);
    at(
        "endpoint",
        ut.untyped_retype(ObjectType::Endpoint, 0, &here, ep, 1),
    )?;
    at(
        "notification",
        ut.untyped_retype(ObjectType::Notification, 0, &here, ntfn, 1),
    )?;
    at(
        "tcbs",
        ut.untyped_retype(ObjectType::Tcb, 0, &here, server_tcb, 2),
    )?;
    at(
        "reply object",
        ut.untyped_retype(ObjectType::Reply, 0, &here, reply, 1),
    )?;
    at(
        "scheduling contexts",
        ut.untyped_retype(ObjectType::SchedContext, SC_BITS, &here, server_sc, 2),
    )?;

    let start = |tcb: u64, sc: u64, entry: extern "C" fn(u64) -> !, cap: u64| -> Step<()> {
        let t: Cap<Tcb> = Cap::from_cptr(CPtr::from_bits(tcb));
        let sc: Cap<SchedContext> = Cap::from_cptr(CPtr::from_bits(sc));
        let slice = keel_abi::sched::ROOT_TIMESLICE_US;
        prepare_thread(t, sc, 255, slice, slice)?;
        SERVER_CAP.store(cap, Ordering::SeqCst);
        // The thread's own IPC buffer, the second 1 KiB of the root task's
        // IPC buffer page: long messages really travel through IPC buffers.
        let buffer = (IPC_BUFFER_VADDR + 1024) as usize as *mut keel_abi::IpcBuffer;
        // SAFETY: the root task's IPC buffer page is mapped writable for its
        // lifetime from the frame `IPC_BUFFER` names; the root task uses only
        // its first 1 KiB, and one benchmark thread runs at a time.
        let given = unsafe { keel_sys::give_ipc_buffer(t, buffer, init_thread::IPC_BUFFER) };
        at("buffer", given)?;
        let stack_top = STACK.0.get() as u64 + STACK_SIZE as u64;
        at(
            "registers",
            t.tcb_write_all_registers(true, &UserContext::new_thread(entry, stack_top, 0)),
        )?;
        // Let the thread run into its first blocking receive.
        at("yield", keel_sys::r#yield())
    };
    start(server_tcb, server_sc, server, ep)?;
    let endpoint: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(ep));
    // The stamps' addresses as opaque values: computed here, so the
    // compiler has none to recompute between a Call and the counter read
    // that ends its window.
    let (received, replying) = core::hint::black_box((&SERVER_RECEIVED, &SERVER_REPLYING));
    time_calls(endpoint, overhead, "", || {
        (
            received.load(Ordering::SeqCst),
            replying.load(Ordering::SeqCst),
        )
    })?;
    if first + 7 + xas::SLOTS > boot_info.empty.end {
        return Err(failed("too few empty slots", Error::NotEnoughMemory));
    }
    xas::run(boot_info, ut_slot, first + 7, overhead)?;
    at(
        "suspend the server",
        Cap::<Tcb>::from_cptr(CPtr::from_bits(server_tcb)).tcb_suspend(),
    )?;

    // Signal to Wait: the waiter runs at a higher priority than the signaller,
    // so the signal switches to it at once.
    start(waiter_tcb, waiter_sc, waiter, ntfn)?;
    at(
        "lower the root task",
        init_thread::TCB.tcb_set_priority(init_thread::TCB, 200),
    )?;
    let n: Cap<Notification> = Cap::from_cptr(CPtr::from_bits(ntfn));
    for _ in 0..RUNS {
        let t0 = cycle_counter();
        n.signal();
        let woke = SERVER_RECEIVED.load(Ordering::SeqCst);
        println!(
            "BENCH signal-wait 0 {}",
            woke.wrapping_sub(t0).saturating_sub(overhead)
        );
        // Checked after the line (the run fails as a whole): checked
        // before it, the compiler moved argument setup into the window.
        if woke < t0 {
            return Err(Failure::new("signal-wait 0: the waiter did not wake"));
        }
    }
    Ok(())
}
