//! Deleting an endpoint or a notification that N threads wait on: the
//! whole delete, and the kernel's longest stretch between preemption points
//! during it, which must not grow with N (the kernel releases one waiter
//! per unit of work).
//!
//! The waiters are made one at a time: each is bound the one scheduling
//! context there is, resumed at the benchmark's priority, yielded to (it
//! runs into its receive or wait and blocks there), and unbound again, so
//! N waiters need no more than N TCBs; each TCB cap then moves out of the
//! root CNode into a CNode of their own. They share one stack: each runs only
//! from its start into its first system call, one after the other, and none
//! runs again before the untyped they come from is revoked (released by the
//! delete, they wait behind the benchmark, which does not yield again until
//! that revoke).

use crate::{slot, timed, RUNS};
use keel_abi::ObjectType;
use keel_bench::{at, Step};
use keel_rt::println;
use keel_sys::cap::init_thread::{CNODE, DEBUG, SCHED_CONTROL, TCB, VSPACE};
use keel_sys::cap::{CNode, Endpoint, Notification, SchedContext, Tcb, Untyped};
use keel_sys::sched::SchedContextFlags;
use keel_sys::tcb::UserContext;
use keel_sys::{CPtr, Cap};

/// Waiter counts.
pub const WAITERS: [u64; 5] = [1, 10, 100, 1_000, 10_000];
/// The priority of the benchmark (the root task's) and of its waiters.
const PRIORITY: u64 = 255;
/// The waiters' shared stack, in words.
const STACK_WORDS: usize = 512;

/// The stack every waiter starts on (see the module's description).
struct SharedStack(core::cell::UnsafeCell<[u64; STACK_WORDS]>);
// SAFETY: only waiter threads use the stack, one at a time, each from its
// start into its first system call; the benchmark thread never touches it.
unsafe impl Sync for SharedStack {}
static STACK: SharedStack = SharedStack(core::cell::UnsafeCell::new([0; STACK_WORDS]));

fn stack_top() -> u64 {
    STACK.0.get() as u64 + (STACK_WORDS * 8) as u64
}

/// Receives on the endpoint `ep` for good.
extern "C" fn receive_forever(ep: u64) -> ! {
    let ep: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(ep));
    loop {
        ep.recv(None);
    }
}

/// Waits on the notification `ntfn` for good.
extern "C" fn wait_forever(ntfn: u64) -> ! {
    let ntfn: Cap<Notification> = Cap::from_cptr(CPtr::from_bits(ntfn));
    loop {
        ntfn.wait();
    }
}

/// Where the waiters come from: an untyped for their TCBs and the object,
/// a CNode for their caps, root slots for the object and for a TCB being
/// set up, and the context each runs on into its wait.
pub struct Room {
    /// The untyped the TCBs and the object are made from.
    pub untyped: Cap<Untyped>,
    /// The CNode the waiters' TCB caps end in.
    pub cnode: Cap<CNode>,
    /// log2 of its slots (at least `WAITERS`' largest).
    pub cnode_radix: u64,
    /// The root slot of the object waited on.
    pub object: u64,
    /// The root slot a waiter's TCB is set up in.
    pub scratch: u64,
    /// The scheduling context, in a root slot.
    pub context: Cap<SchedContext>,
}

/// Measures deleting an endpoint and a notification with each number of
/// waiters, `RUNS` times each.
pub fn run(room: &Room, overhead: u64) -> Step<()> {
    at(
        "waiters' context",
        SCHED_CONTROL.sched_control_configure_flags(
            room.context,
            1000,
            1000,
            0,
            0,
            SchedContextFlags::NONE,
        ),
    )?;
    for (kind, ty, entry) in [
        (
            "endpoint",
            ObjectType::Endpoint,
            receive_forever as extern "C" fn(u64) -> !,
        ),
        ("notification", ObjectType::Notification, wait_forever),
    ] {
        for n in WAITERS {
            for _ in 0..RUNS {
                let here = CNODE.absolute_cptr_with_depth(0, 0);
                at(
                    "object",
                    room.untyped.untyped_retype(ty, 0, &here, room.object, 1),
                )?;
                for i in 0..n {
                    start_waiter(room, i, entry)?;
                }
                at("stretch reset", DEBUG.debug_longest_kernel_stretch())?;
                let t = at("delete", timed(overhead, || slot(room.object).delete()))?;
                let stretch = at("stretch", DEBUG.debug_longest_kernel_stretch())?;
                println!("BENCH {kind}-delete {n} {t}");
                println!("BENCH {kind}-delete-longest-stretch {n} {stretch}");
                at(
                    "waiters gone",
                    CNODE.absolute_cptr(room.untyped.cptr()).revoke(),
                )?;
            }
        }
    }
    Ok(())
}

/// Makes waiter `i`, runs it into its wait on the object, and moves its
/// TCB cap to slot `i` of the waiters' CNode.
fn start_waiter(room: &Room, i: u64, entry: extern "C" fn(u64) -> !) -> Step<()> {
    let here = CNODE.absolute_cptr_with_depth(0, 0);
    at(
        "waiter",
        room.untyped
            .untyped_retype(ObjectType::Tcb, 0, &here, room.scratch, 1),
    )?;
    let tcb: Cap<Tcb> = Cap::from_cptr(CPtr::from_bits(room.scratch));
    at(
        "space",
        tcb.tcb_set_space(CPtr::from_bits(0), CNODE, 0, VSPACE),
    )?;
    at("priority", tcb.tcb_set_priority(TCB, PRIORITY))?;
    let ctx = UserContext::new_thread(entry, stack_top(), room.object);
    at("registers", tcb.tcb_write_all_registers(false, &ctx))?;
    at("bind", room.context.sched_context_bind(tcb))?;
    at("resume", tcb.tcb_resume())?;
    at("run into the wait", keel_sys::r#yield())?;
    at("unbind", room.context.sched_context_unbind())?;
    at(
        "put the waiter away",
        room.cnode
            .absolute_cptr_with_depth(i, room.cnode_radix)
            .move_(&slot(room.scratch)),
    )
}
