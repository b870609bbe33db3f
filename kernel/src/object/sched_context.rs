//! Scheduling contexts (MCS): CPU time as an object. A SchedContext holds a
//! budget per period as a refill list (`keel_kernel_core::refill`), the time
//! used on it since user space last asked, the badge its timeout faults carry,
//! and the thread bound to it. A thread runs only on a bound, configured
//! SchedContext with budget left. Configuring is [`super::sched_control`]'s;
//! the run and release queues are [`crate::sched`]'s.
//!
//! A zeroed object is an unconfigured SchedContext bound to nothing.

use crate::object::handle::{fields, SchedContextRef, Thread};
use crate::object::notification;
use crate::object::tcb::ThreadState;
use crate::sched;
use crate::syscall::invocation::{Message, Outcome};
use keel_abi::{CapType, Error, Label};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::error::SyscallError;
use keel_kernel_core::refill::Refills;

/// The state of one scheduling context, at the start of its object.
#[repr(C)]
pub struct SchedContext {
    /// Budget, period and refills, in ticks; meaningful once `configured`.
    pub(crate) refills: Refills,
    /// Set by the first `SchedControl_ConfigureFlags`.
    pub(crate) configured: bool,
    /// `SchedContextFlags::SPORADIC` was asked for (Keel keeps every
    /// non-round-robin context by the sporadic-server rules either way).
    pub(crate) sporadic: bool,
    /// The bound TCB object (0: none): its own thread, or a passive server
    /// it was donated to.
    pub(crate) tcb: u64,
    /// The notification bound to it (0: none): a passive thread woken by a
    /// signal on it runs on this context.
    pub(crate) notification: u64,
    /// The Reply object on top of its call stack (0: none): the Call it was
    /// last donated through (see `object::reply`).
    pub(crate) reply: u64,
    /// The badge its timeout faults carry.
    pub(crate) badge: u64,
    /// Ticks used on it and not yet reported by `Consumed` or a timeout fault.
    pub(crate) consumed: u64,
    /// Next context in the release queue (0: last).
    pub(crate) release_next: u64,
    /// True while in the release queue.
    pub(crate) in_release_queue: bool,
    /// The thread that yielded to this context and, when it next runs,
    /// gets its consumed time (0: none; its `yield_to` names this context).
    pub(crate) yield_from: u64,
}

const _: () =
    assert!(core::mem::size_of::<SchedContext>() <= 1 << keel_abi::object::MIN_SCHED_CONTEXT_BITS);

/// The scheduling context at `sc_object`, a link the kernel stored (in a
/// cap it checked, a TCB's binding, a notification's binding or the release
/// queue): every one is a live SchedContext object, since deleting the last
/// cap unbinds it from all of them first.
#[inline(always)]
pub fn sc(sc_object: u64) -> SchedContextRef {
    SchedContextRef::linked(sc_object)
}

fields!(SchedContextRef => {
    get configured: bool;
    get sporadic: bool;
    get tcb: u64;
    get notification: u64;
    get reply: u64;
    get badge: u64;
    get consumed: u64;
    get release_next: u64;
    get in_release_queue: bool;
    get yield_from: u64;
    set pub set_configured = configured: bool;
    set pub set_sporadic = sporadic: bool;
    set pub set_tcb = tcb: u64;
    set pub set_notification = notification: u64;
    set pub set_reply = reply: u64;
    set pub set_badge = badge: u64;
    set pub set_consumed = consumed: u64;
    set pub set_release_next = release_next: u64;
    set pub set_in_release_queue = in_release_queue: bool;
    set pub set_yield_from = yield_from: u64;
});

impl SchedContextRef {
    /// Runs `f` on the context's refills, for the length of one call into
    /// `Refills`' own code (host-tested, reaching no kernel object).
    #[inline(always)]
    fn refills<R>(self, f: impl FnOnce(&mut Refills) -> R) -> R {
        // SAFETY: a handle names a live SchedContext; the reference lives for
        // the call to `f`, which the methods below pass only `Refills`' own
        // methods, so no other reference to these refills is formed meanwhile.
        f(unsafe { &mut *core::ptr::addr_of_mut!((*self.ptr()).refills) })
    }

    /// Replaces the refills (a new configuration).
    pub fn set_refills(self, refills: Refills) {
        self.refills(|r| *r = refills);
    }

    /// Reconfigures the refills in place (`Refills::update`).
    ///
    /// # Errors
    /// As `Refills::update`.
    pub fn update_refills(
        self,
        budget: u64,
        period: u64,
        extra_refills: u64,
        now: u64,
    ) -> Result<(), keel_kernel_core::error::SyscallError> {
        self.refills(|r| r.update(budget, period, extra_refills, now))
    }

    /// The head refill is released by `now` and holds at least the minimum
    /// budget: the context can run now.
    #[inline(always)]
    pub fn can_run_now(self, now: u64) -> bool {
        self.refills(|r| r.ready(now) && r.sufficient(0))
    }

    /// The head refill covers `usage` with the minimum budget to spare.
    pub fn sufficient(self, usage: u64) -> bool {
        self.refills(|r| r.sufficient(usage))
    }

    /// The head refill.
    pub fn head_refill(self) -> keel_kernel_core::refill::Refill {
        self.refills(|r| r.head())
    }

    /// A round-robin context (budget equal to its period).
    pub fn is_round_robin(self) -> bool {
        self.refills(|r| r.is_round_robin())
    }

    /// `Refills::unblock_check` at `now`.
    pub fn unblock_check(self, now: u64) {
        self.refills(|r| r.unblock_check(now));
    }

    /// Charges `usage` to the refills; true when a round-robin timeslice ended.
    pub fn charge_refills(self, usage: u64) -> bool {
        self.refills(|r| r.charge(usage))
    }
}

/// Binds `context` to `thread` (both unbound) and, if the thread may run,
/// schedules it.
pub fn bind(context: SchedContextRef, thread: Thread) {
    context.set_tcb(thread.addr());
    thread.set_sched_context(context.addr());
    if thread.state() == ThreadState::Running {
        sched::make_runnable(thread);
    }
}

/// Unbinds the thread bound to `context`, if any: it stays in its state but
/// leaves the run and release queues until it has a context again.
pub fn unbind_tcb(context: SchedContextRef) {
    sched::release_queue_remove(context.addr());
    sched::forget_account(context.addr());
    let Some(thread) = Thread::from_link(context.tcb()) else {
        return;
    };
    sched::dequeue(thread);
    thread.set_sched_context(0);
    context.set_tcb(0);
}

/// Unbinds the notification bound to `context`, if any. A thread running on
/// the context through the notification keeps it until it waits again.
pub fn unbind_notification(context: SchedContextRef) {
    let ntfn = context.notification();
    context.set_notification(0);
    if ntfn != 0 {
        notification::set_sched_context(ntfn, 0);
    }
}

/// The last cap to the context is going: unbind it and cut it from its
/// call stack.
pub fn finalise(context: SchedContextRef) {
    complete_yield(context);
    unbind_tcb(context);
    unbind_notification(context);
    crate::object::reply::detach_context(context.addr());
}

/// The thread that yielded to `context`, if one waits, gets the time used
/// on it since: its YieldTo returns with it (seL4 completes a YieldTo when
/// the yielder next runs, or when the context or its thread goes).
pub fn complete_yield(context: SchedContextRef) {
    if let Some(yielder) = Thread::from_link(context.yield_from()) {
        let consumed = take_consumed(context);
        cancel_yield(yielder);
        yielder.set_syscall_result([0, consumed, 0, 0, 0, 0]);
    }
}

/// `thread` no longer waits for the outcome of a YieldTo (it runs, or it
/// is stopped or destroyed, as seL4 cancels it then).
pub fn cancel_yield(thread: Thread) {
    if let Some(context) = SchedContextRef::from_link(thread.yield_to()) {
        context.set_yield_from(0);
        thread.set_yield_to(0);
    }
}

/// Takes the consumed time, in µs; the remainder below one µs stays.
pub fn take_consumed(context: SchedContextRef) -> u64 {
    sched::commit_if_charged(context.addr());
    let us = sched::ticks_to_us(context.consumed());
    context.set_consumed(context.consumed() - sched::us_to_ticks(us));
    us
}

/// Decodes and performs an invocation of the SchedContext `cap` names, made
/// by `caller`.
///
/// # Errors
/// seL4's SchedContext errors.
pub fn invoke(
    label: Label,
    msg: &Message,
    cap: &Cap,
    caller: Thread,
) -> Result<Outcome, SyscallError> {
    let context = SchedContextRef::from_cap(cap).ok_or(SyscallError::invalid_capability(0))?;
    match label {
        Label::SchedContextBind => {
            let (_, cap) = msg.extra_cap(0)?;
            if let Some(thread) = Thread::from_cap(&cap) {
                if context.tcb() != 0 || thread.sched_context() != 0 {
                    return Err(Error::IllegalOperation.into());
                }
                bind(context, thread);
            } else if cap.is(CapType::Notification) {
                let ntfn = cap.paddr();
                if context.notification() != 0
                    || notification::sched_context(ntfn) != 0
                    || notification::is_closing(ntfn)
                {
                    return Err(Error::IllegalOperation.into());
                }
                context.set_notification(ntfn);
                notification::set_sched_context(ntfn, context.addr());
            } else {
                return Err(SyscallError::invalid_capability(1));
            }
            Ok(Outcome::Done([0, 0]))
        }
        Label::SchedContextUnbind => {
            unbind_tcb(context);
            unbind_notification(context);
            Ok(Outcome::Done([0, 0]))
        }
        Label::SchedContextUnbindObject => {
            let (_, cap) = msg.extra_cap(0)?;
            match cap.kind() {
                CapType::Tcb if context.tcb() == cap.paddr() => unbind_tcb(context),
                CapType::Notification if context.notification() == cap.paddr() => {
                    unbind_notification(context)
                }
                CapType::Tcb | CapType::Notification => return Err(Error::IllegalOperation.into()),
                _ => return Err(SyscallError::invalid_capability(1)),
            }
            Ok(Outcome::Done([0, 0]))
        }
        Label::SchedContextConsumed => Ok(Outcome::Done([take_consumed(context), 0])),
        Label::SchedContextYieldTo => {
            let Some(target) = Thread::from_link(context.tcb()) else {
                return Err(Error::IllegalOperation.into());
            };
            // seL4 refuses a YieldTo to the caller's own context.
            if !context.configured() || target.priority() > caller.mcp() || target == caller {
                return Err(Error::IllegalOperation.into());
            }
            // A thread still waiting on an earlier YieldTo to it has its answer now.
            complete_yield(context);
            if target.queued() && target.priority() >= caller.priority() {
                // The target runs first; the caller gets the time it used
                // when it runs again (seL4's YieldTo).
                caller.set_yield_to(context.addr());
                context.set_yield_from(caller.addr());
                sched::yield_to(target, caller);
                return Ok(Outcome::Handled);
            }
            sched::yield_to(target, caller);
            Ok(Outcome::Done([take_consumed(context), 0]))
        }
        _ => Err(Error::IllegalOperation.into()),
    }
}
