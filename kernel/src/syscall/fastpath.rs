//! The IPC fast path, tried by the system-call entry before anything else:
//! Call and ReplyRecv with a short message (at most four words, in
//! registers, no caps) to a thread that is already waiting (with a Reply
//! object) and will run next. Its effects are exactly those of the slow path
//! for the same call (tests compare the two); anything out of the ordinary
//! is left to the slow path.
//!
//! Two ways through:
//! - A Call to a passive server, and the ReplyRecv that gives the context
//!   back (seL4's MCS fast path takes only these): the context time is
//!   charged to does not change, so the caller's context, its place in the
//!   run queue and the CPU are handed straight over ([`sched::hand_over`]),
//!   and the entry returns into the other thread without the clock being
//!   read ([`sched::prepare_to_enter`]). This way calls no function, so
//!   [`keel_fastpath`] saves few registers of its own.
//! - Otherwise (a server on a context of its own): the Reply-object and
//!   scheduling steps are the slow path's own functions, and the kernel is
//!   left through [`sched::run_directly`], which charges the time used.
//!
//! Each thread keeps its last endpoint and Reply cap lookups ([`cap_at`]),
//! good while no cap anywhere has been written since. A thread's VSpace is
//! used only as kept (`Thread::kept_vspace`): when it is stale, a Call goes the
//! slow way and a ReplyRecv the own-context way, and either way the
//! VSpace is found again (`Thread::running_vspace`) before the thread runs.

use crate::arch::UserContext;
use crate::kernel_cell::KernelCell;
use crate::object::handle::{EndpointRef, Thread};
use crate::object::memory::KernelMemory;
use crate::object::tcb::KEPT_LOOKUPS;
use crate::object::tcb::{KeptLookup, ThreadState};
use crate::object::{endpoint, reply};
use crate::{ipc, sched};
use core::ptr::NonNull;
use keel_abi::invocation::MESSAGE_REGISTERS_IN_REGS;
use keel_abi::syscall::{ARG_CAP, ARG_INFO, ARG_REPLY};
use keel_abi::{CapRights, CapType, MessageInfo, Syscall};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::cspace::lookup_cap_fast;
use keel_kernel_core::object_memory::ObjectMemory;

/// True while the fast path is tried (`set_enabled`).
static ENABLED: KernelCell<bool> = KernelCell::new(true);

/// Turns the fast path on or off; returns the previous setting.
pub fn set_enabled(on: bool) -> bool {
    ENABLED.replace(on)
}

/// The system-call entry's first step, on the kernel stack with the
/// caller's registers saved: runs a Call or ReplyRecv that fits to the end.
/// Returns the register file the entry returns to user mode with (a raw
/// pointer: the entry's assembly reads and writes it), or none (null) when
/// the system call is the rest of the system-call path's. Call
/// and ReplyRecv are functions of their own (tail-called), so that each
/// saves only the registers its own way through needs; a way that returns
/// calls nothing.
#[no_mangle]
extern "C" fn keel_fastpath() -> Option<NonNull<UserContext>> {
    let current = sched::current()?;
    let number = current.syscall_number();
    if !ENABLED.read() {
        None
    } else if number == Syscall::Call as u64 {
        call(current)
    } else if number == Syscall::ReplyRecv as u64 {
        reply_recv(current)
    } else {
        None
    }
}

/// The message info `thread` sends, if its message fits the fast path: at
/// most four words (all in registers), no caps, not a fault's.
#[inline(always)]
fn short_message(thread: Thread) -> Option<MessageInfo> {
    let info = MessageInfo::from_word(thread.syscall_arg(ARG_INFO));
    if info.caps_and_length() > MESSAGE_REGISTERS_IN_REGS as u64 || thread.fault_label() != 0 {
        return None;
    }
    Some(MessageInfo::new(info.label(), 0, 0, info.length() as u64))
}

/// The thread's kept lookup for its endpoint cap (argument [`ARG_CAP`]).
const ENDPOINT_LOOKUP: usize = 0;
/// The thread's kept lookup for its Reply cap (ReplyRecv's [`ARG_REPLY`]).
const REPLY_LOOKUP: usize = 1;
const _: () = assert!(ENDPOINT_LOOKUP < KEPT_LOOKUPS && REPLY_LOOKUP < KEPT_LOOKUPS);

/// The cap of type `kind` that `thread`'s system-call argument `n` names,
/// if it names one. A server names the same caps call after call, so the
/// thread keeps its last such lookup in `kept`, good while no cap anywhere
/// has been written since. (Other finds, such as the kernel objects a Call
/// invokes, are not kept: they do not push a kept endpoint out.)
#[inline(always)]
fn cap_at(thread: Thread, n: usize, kind: CapType, kept: usize) -> Option<Cap> {
    let writes = KernelMemory.cap_writes();
    let cptr = thread.syscall_arg(n);
    let k = thread.kept_lookup(kept);
    if k.writes == writes && k.cptr == cptr {
        return Some(k.cap);
    }
    let mem = KernelMemory;
    let root = thread.cspace_root();
    let cap = Some(lookup_cap_fast(&mem, root, cptr)).filter(|c| c.is(kind))?;
    thread.set_kept_lookup(kept, KeptLookup { writes, cptr, cap });
    Some(cap)
}

/// The endpoint cap `thread`'s first argument names, with `right`.
#[inline(always)]
fn endpoint_cap(thread: Thread, right: CapRights) -> Option<Cap> {
    cap_at(thread, ARG_CAP, CapType::Endpoint, ENDPOINT_LOOKUP)
        .filter(|cap| cap.rights_field().contains(right))
}

/// The endpoint of a cap [`endpoint_cap`] gave: `cap_at` gives only caps of
/// the kind asked for (checked at the lookup, and kept only after it).
#[inline(always)]
fn endpoint_of(cap: &Cap) -> EndpointRef {
    EndpointRef::linked(cap.paddr())
}

/// Moves the short message `info` describes from `from`'s registers
/// (arguments 2-5) into `to`'s, with `badge`. Words past the length are not
/// the sender's to pass on: they arrive as 0.
#[inline(always)]
fn deliver(from: Thread, to: Thread, info: MessageInfo, badge: u64) {
    let w = |i: usize| from.syscall_arg(2 + i);
    // One branch on the length (short_message checked it is at most 4).
    let words = match info.length() {
        0 => [0; 4],
        1 => [w(0), 0, 0, 0],
        2 => [w(0), w(1), 0, 0],
        3 => [w(0), w(1), w(2), 0],
        _ => [w(0), w(1), w(2), w(3)],
    };
    let [a, b, c, d] = words;
    to.set_syscall_result([info.word(), badge, a, b, c, d]);
}

/// Call to a waiting receiver, which runs next. A passive receiver (seL4's
/// condition) runs on the caller's context: its register file, for the
/// system-call entry to return with.
#[inline(never)]
fn call(caller: Thread) -> Option<NonNull<UserContext>> {
    let info = short_message(caller)?;
    let cap = endpoint_cap(caller, CapRights::WRITE)?;
    // Without grant or grant-reply the caller cannot wait for a reply: the
    // slow path leaves it inactive.
    let rights = cap.rights_field();
    if !rights.contains(CapRights::GRANT) && !rights.contains(CapRights::GRANT_REPLY) {
        return None;
    }
    let ep = endpoint_of(&cap);
    let receiver = endpoint::waiting_receiver(ep)?;
    let reply = receiver.reply();
    if !reply::receives_with(receiver.addr(), reply) {
        return None;
    }
    let successor = sched::would_run_next(receiver.priority(), caller)?;
    let context = caller.sched_context();
    if receiver.sched_context() != 0 || !sched::is_charged(context) {
        call_own_context(caller, receiver, ep, info, cap.badge())
    }
    let vspace = receiver.kept_vspace()?;
    endpoint::take_first(ep, receiver);
    deliver(caller, receiver, info, cap.badge());
    sched::hand_over(context, caller, receiver, successor);
    reply::link_caller(reply, caller.addr(), receiver.addr());
    reply::stack_push(reply, context);
    Some(sched::prepare_to_enter(receiver, vspace))
}

/// [`call`] to a receiver on a context of its own: the slow path's IPC and
/// scheduling steps, then into the receiver through [`sched::run_directly`].
#[inline(never)]
fn call_own_context(
    caller: Thread,
    receiver: Thread,
    ep: EndpointRef,
    info: MessageInfo,
    badge: u64,
) -> ! {
    endpoint::take_first(ep, receiver);
    deliver(caller, receiver, info, badge);
    sched::make_runnable(receiver);
    ipc::wait_for_reply(caller, receiver);
    sched::run_directly(receiver)
}

/// ReplyRecv answering a caller waiting on the Reply object it names, which
/// runs next, then waiting on an endpoint nobody else waits on (with other
/// receivers there the slow path queues it in its priority's place). A
/// passive caller whose context comes back with the reply (seL4's
/// condition) runs on it: its register file, for the system-call entry to
/// return with.
#[inline(never)]
fn reply_recv(server: Thread) -> Option<NonNull<UserContext>> {
    let info = short_message(server)?;
    if server.bound_notification() != 0 {
        return None;
    }
    // CPtr 0 names no Reply object (see the slow path's `reply_object`).
    if server.syscall_arg(ARG_REPLY) == 0 {
        return None;
    }
    let reply_cap = cap_at(server, ARG_REPLY, CapType::Reply, REPLY_LOOKUP)?;
    let reply = reply_cap.paddr();
    let caller = Thread::from_link(reply::thread(reply))?;
    if caller.state() != ThreadState::BlockedOnReply || caller.fault_label() != 0 {
        return None;
    }
    let cap = endpoint_cap(server, CapRights::READ)?;
    if !endpoint::is_idle(endpoint_of(&cap)) {
        return None;
    }
    let successor = sched::would_run_next(caller.priority(), server)?;
    let context = server.sched_context();
    let lean = caller.sched_context() == 0
        && sched::is_charged(context)
        && reply::is_top_of(reply, context);
    let Some(vspace) = lean.then(|| caller.kept_vspace()).flatten() else {
        reply_recv_own_context(server, caller, reply, cap, info)
    };
    reply::stack_pop(reply, context);
    reply::unlink_answered(reply, caller.addr());
    deliver(server, caller, info, 0);
    sched::hand_over(context, server, caller, successor);
    wait_on(server, reply, cap);
    Some(sched::prepare_to_enter(caller, vspace))
}

/// [`reply_recv`] to a caller that does not run on the context coming back:
/// the slow path's Reply-object and scheduling steps, then into the caller
/// through [`sched::run_directly`].
#[inline(never)]
fn reply_recv_own_context(
    server: Thread,
    caller: Thread,
    reply: u64,
    cap: Cap,
    info: MessageInfo,
) -> ! {
    reply::pop(reply);
    deliver(server, caller, info, 0);
    sched::make_runnable(caller);
    sched::dequeue(server);
    wait_on(server, reply, cap);
    sched::run_directly(caller)
}

/// The receive half of ReplyRecv: `server` waits on the endpoint `cap`
/// names (on which nobody waits) with `reply`, which names no thread (its
/// caller was just answered).
#[inline(always)]
fn wait_on(server: Thread, reply: u64, cap: Cap) {
    server.set_receive_can_grant(cap.rights_field().contains(CapRights::GRANT));
    reply::link_receiver(reply, server.addr());
    endpoint::block_only_receiver(endpoint_of(&cap), server);
}
