//! Many threads waiting on one endpoint or notification, made cheaply: for
//! `bench caps` (the delete of an object N threads wait on, and
//! CancelBadgedSends over N senders) and the tests that do the same with
//! a thousand.
//!
//! The waiters are made one at a time: each is bound the one scheduling
//! context there is, resumed at the caller's priority (which must be the
//! highest, 255), yielded to (it runs into its receive or wait and blocks
//! there), and unbound again, so N waiters need no more than N TCBs; each
//! TCB cap then moves to the slot the caller chose for it. They
//! share one stack: each runs only from its start into its first system
//! call, one after the other. Released by the object's delete, a waiter has
//! no context to run on: the benchmark revokes them, the test binds each
//! the context again to see it run its system call again.

use crate::{at, Step};
use keel_abi::ObjectType;
use keel_sys::cap::init_thread::{CNODE, TCB, VSPACE};
use keel_sys::cap::{CNode, Endpoint, Notification, SchedContext, Tcb, Untyped};
use keel_sys::tcb::UserContext;
use keel_sys::{CPtr, Cap};

/// The waiters' priority: the caller's.
const PRIORITY: u64 = 255;
/// The waiters' shared stack, in words.
const STACK_WORDS: usize = 512;

/// The stack every waiter starts on (see the module's description).
struct SharedStack(core::cell::UnsafeCell<[u64; STACK_WORDS]>);
// SAFETY: only waiter threads use the stack, one at a time, each from its
// start into its first system call; no other thread touches it.
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

/// Sends on the endpoint cap `ep` for good.
extern "C" fn send_forever(ep: u64) -> ! {
    let ep: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(ep));
    loop {
        ep.send(keel_abi::MessageInfo::new(0, 0, 0, 0), [0; 4]);
    }
}

/// Waits on the notification `ntfn` for good.
extern "C" fn wait_forever(ntfn: u64) -> ! {
    let ntfn: Cap<Notification> = Cap::from_cptr(CPtr::from_bits(ntfn));
    loop {
        ntfn.wait();
    }
}

/// What the waiters do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Receive on an endpoint.
    Endpoint,
    /// Wait on a notification.
    Notification,
    /// Send on an endpoint (through a badged cap, for CancelBadgedSends).
    Sender,
}

impl Kind {
    /// The name benchmark rows use.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Endpoint => "endpoint",
            Kind::Notification => "notification",
            Kind::Sender => "sender",
        }
    }

    /// The object they wait on.
    pub const fn object(self) -> ObjectType {
        match self {
            Kind::Endpoint | Kind::Sender => ObjectType::Endpoint,
            Kind::Notification => ObjectType::Notification,
        }
    }
}

/// Where the waiters come from: an untyped for their TCBs and the object, a
/// CNode for their caps, root slots for the object and for a TCB being set
/// up, the context each runs on into its wait (configured), and their fault
/// endpoint.
pub struct Room {
    /// The untyped the TCBs and the object are made from.
    pub untyped: Cap<Untyped>,
    /// The CNode the waiters' TCB caps end in, from slot `first` on.
    pub cnode: Cap<CNode>,
    /// The depth of a slot address in it (its radix, or 64 for the root
    /// CNode).
    pub cnode_depth: u64,
    /// The slot of the first waiter's TCB cap.
    pub first: u64,
    /// The root slot of the object waited on.
    pub object: u64,
    /// The root slot a waiter's TCB is set up in.
    pub scratch: u64,
    /// The scheduling context, in a root slot, configured.
    pub context: Cap<SchedContext>,
    /// The waiters' fault endpoint (0: none).
    pub fault_ep: u64,
}

/// Makes a `kind` object in the room's object slot.
///
/// # Errors
/// A failed retype.
pub fn make_object(room: &Room, kind: Kind) -> Step<()> {
    let here = CNODE.absolute_cptr_with_depth(0, 0);
    at(
        "object",
        room.untyped
            .untyped_retype(kind.object(), 0, &here, room.object, 1),
    )
}

/// Makes `n` threads that do what `kind` says through the cap in root slot
/// `cap` (the room's object, or a cap to it) and block there.
///
/// # Errors
/// The step that failed.
pub fn park(room: &Room, kind: Kind, n: u64, cap: u64) -> Step<()> {
    let entry: extern "C" fn(u64) -> ! = match kind {
        Kind::Endpoint => receive_forever,
        Kind::Notification => wait_forever,
        Kind::Sender => send_forever,
    };
    let here = CNODE.absolute_cptr_with_depth(0, 0);
    for i in 0..n {
        at(
            "waiter",
            room.untyped
                .untyped_retype(ObjectType::Tcb, 0, &here, room.scratch, 1),
        )?;
        let tcb: Cap<Tcb> = Cap::from_cptr(CPtr::from_bits(room.scratch));
        let fault_ep = CPtr::from_bits(room.fault_ep);
        at("space", tcb.tcb_set_space(fault_ep, CNODE, 0, VSPACE))?;
        at("priority", tcb.tcb_set_priority(TCB, PRIORITY))?;
        let ctx = UserContext::new_thread(entry, stack_top(), cap);
        at("registers", tcb.tcb_write_all_registers(false, &ctx))?;
        at("bind", room.context.sched_context_bind(tcb))?;
        at("resume", tcb.tcb_resume())?;
        at("run into the wait", keel_sys::r#yield())?;
        at("unbind", room.context.sched_context_unbind())?;
        at(
            "put the waiter away",
            room.cnode
                .absolute_cptr_with_depth(room.first + i, room.cnode_depth)
                .move_(&CNODE.absolute_cptr(CPtr::from_bits(room.scratch))),
        )?;
    }
    Ok(())
}
