//! What one restart of a server costs, through init's own path. A second
//! thread of this program, the client, asks the stub server to crash (it
//! reads an unmapped address while serving the request), then sends it an
//! empty request; this thread is init, the servers' supervisor. Each round
//! is timed from the fault's arrival at init ([`System::receive`]
//! returning), through [`System::handle`] (init answers the crashed request
//! `ServerFailed`, tears the instance down and starts a new one:
//! `Event::Restarted`) and [`System::until_ready`] (the new instance
//! announces itself, init makes it passive), to the client's empty request
//! returning from the new instance: `BENCH restart 0 <instructions>`.
//!
//! The client runs below the servers and init, so it runs only while init
//! waits for a message; it reports each round in [`ROUNDS`].

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};
use keel_abi::bootinfo::IPC_BUFFER_VADDR;
use keel_abi::fault::FaultType;
use keel_abi::{MessageInfo, ObjectType};
use keel_bench::system::init_step;
use keel_bench::{at, prepare_thread, Failure, Step};
use keel_echo_server::{EchoClient, EchoError};
use keel_init::supervise::Failure as Failed;
use keel_init::{Event, System};
use keel_protocols::sys::EndpointClient;
use keel_protocols::RpcError;
use keel_rt::println;
use keel_sys::arch::cycle_counter;
use keel_sys::cap::{init_thread, Endpoint, SchedContext, Tcb, Untyped};
use keel_sys::tcb::UserContext;
use keel_sys::Cap;

use crate::{cap, Slots, STUB};

/// Restarts timed.
const RESTARTS: usize = 21;
/// The client's priority: below the servers' and init's.
const CLIENT_PRIORITY: u64 = 100;
/// This thread's priority (the root task's).
const INIT_PRIORITY: u64 = 255;

const STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct Stack(UnsafeCell<[u8; STACK_SIZE]>);
// SAFETY: the stack is used by the client thread only.
unsafe impl Sync for Stack {}
static STACK: Stack = Stack(UnsafeCell::new([0; STACK_SIZE]));

/// What the client saw in one round.
struct Round {
    /// 1 when the crashing request was answered `ServerFailed`.
    failed: AtomicU64,
    /// 1 when the next request was answered.
    served: AtomicU64,
    /// The cycle counter when it was.
    served_at: AtomicU64,
}

static ROUNDS: [Round; RESTARTS] = [const {
    Round {
        failed: AtomicU64::new(0),
        served: AtomicU64::new(0),
        served_at: AtomicU64::new(0),
    }
}; RESTARTS];

/// The client's caps: its endpoint cap to the stub server, init's
/// endpoint (unbadged: init refuses what comes through it, which ends the
/// measurement), its own TCB.
static CLIENT_CAPS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

/// The client thread: for each round, a crashing request, then an empty
/// one; then it suspends itself. If it cannot call at all, it says so to
/// init.
extern "C" fn client(_: u64) -> ! {
    let caps = CLIENT_CAPS.each_ref().map(|c| c.load(Ordering::SeqCst));
    match EndpointClient::new(cap(caps[0]), None) {
        Ok(transport) => {
            let mut client = EchoClient::new(transport);
            for round in &ROUNDS {
                let crashed = client.crash();
                let served = client.empty();
                round.served_at.store(cycle_counter(), Ordering::SeqCst);
                let failed = crashed == Err(EchoError::Rpc(RpcError::ServerFailed));
                round.failed.store(failed.into(), Ordering::SeqCst);
                round.served.store(served.is_ok().into(), Ordering::SeqCst);
            }
        }
        Err(_) => {
            let init: Cap<Endpoint> = cap(caps[1]);
            init.send(MessageInfo::new(0, 0, 0, 0), [0; 4]);
        }
    }
    let me: Cap<Tcb> = cap(caps[2]);
    loop {
        let _ = me.tcb_suspend();
    }
}

/// Makes the client thread (from `own`), calling through `endpoint`, ready
/// to start.
fn make_client(
    system: &System,
    endpoint: Cap<Endpoint>,
    own: Cap<Untyped>,
    slots: &mut Slots,
) -> Step<Cap<Tcb>> {
    let here = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
    let (tcb, sc) = (slots.take(1)?, slots.take(1)?);
    at(
        "client TCB",
        own.untyped_retype(ObjectType::Tcb, 0, &here, tcb, 1),
    )?;
    let sc_bits = keel_abi::object::MIN_SCHED_CONTEXT_BITS as u64;
    at(
        "client scheduling context",
        own.untyped_retype(ObjectType::SchedContext, sc_bits, &here, sc, 1),
    )?;
    let (tcb, sc): (Cap<Tcb>, Cap<SchedContext>) = (cap(tcb), cap(sc));
    let caps = [endpoint.cptr(), system.endpoint().cptr(), tcb.cptr()];
    for (shared, c) in CLIENT_CAPS.iter().zip(caps) {
        shared.store(c.bits(), Ordering::SeqCst);
    }
    let slice = keel_abi::sched::ROOT_TIMESLICE_US;
    prepare_thread(tcb, sc, CLIENT_PRIORITY, slice, slice)?;
    // The client's own IPC buffer, the second 1 KiB of the root task's IPC
    // buffer page.
    let buffer = (IPC_BUFFER_VADDR + 1024) as usize as *mut keel_abi::IpcBuffer;
    // SAFETY: the root task's IPC buffer page is mapped writable for its
    // lifetime from the frame `IPC_BUFFER` names; the root task uses only
    // its first 1 KiB, and the client is the only other thread here.
    let given = unsafe { keel_sys::give_ipc_buffer(tcb, buffer, init_thread::IPC_BUFFER) };
    at("client IPC buffer", given)?;
    Ok(tcb)
}

/// Sets this thread's priority.
fn set_own_priority(priority: u64) -> Step<()> {
    at(
        "set init's priority",
        init_thread::TCB.tcb_set_priority(init_thread::TCB, priority),
    )
}

/// Times [`RESTARTS`] restarts of the stub server, which the client calls
/// through `endpoint`; the client's objects come from `own`.
///
/// # Errors
/// The failed step, a failure other than the crash, or a round in which
/// the client was not answered `ServerFailed` and then served.
pub fn measure(
    system: &mut System,
    endpoint: Cap<Endpoint>,
    own: Cap<Untyped>,
    slots: &mut Slots,
    overhead: u64,
) -> Step<()> {
    let tcb = make_client(system, endpoint, own, slots)?;
    let start = UserContext::new_thread(client, STACK.0.get() as u64 + STACK_SIZE as u64, 0);
    // It runs once this thread waits for the first fault.
    at(
        "start the client",
        tcb.tcb_write_all_registers(true, &start),
    )?;
    let mut faulted_at = [0; RESTARTS];
    for (round, t0) in faulted_at.iter_mut().enumerate() {
        let incoming = system.receive();
        *t0 = cycle_counter();
        let event = system.handle(&incoming);
        let crashed = matches!(
            event,
            Event::Restarted {
                program: STUB,
                failure: Failed::Fault {
                    kind: FaultType::VmFault,
                    ..
                }
            }
        );
        if !crashed {
            return Err(Failure::new(alloc::format!(
                "restart {round}: init saw {event:?}, not the stub server's page fault and restart"
            )));
        }
        init_step(system.until_ready(STUB))?;
    }
    // Below the client, this thread waits until it has finished its last
    // round and suspended itself.
    set_own_priority(CLIENT_PRIORITY - 1)?;
    set_own_priority(INIT_PRIORITY)?;
    for (round, (r, t0)) in ROUNDS.iter().zip(faulted_at).enumerate() {
        let (failed, served) = (
            r.failed.load(Ordering::SeqCst),
            r.served.load(Ordering::SeqCst),
        );
        if failed != 1 || served != 1 {
            return Err(Failure::new(alloc::format!(
                "restart {round}: the crashed request answered ServerFailed: {}, the next served: {}",
                failed == 1,
                served == 1
            )));
        }
        let t1 = r.served_at.load(Ordering::SeqCst);
        println!("BENCH restart 0 {}", (t1 - t0).saturating_sub(overhead));
    }
    Ok(())
}
