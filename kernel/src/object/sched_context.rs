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
    set pub set_configured = configured: bool;
    set pub set_sporadic = sporadic: bool;
    set pub set_tcb = tcb: u64;
    set pub set_notification = notification: u64;
    set pub set_reply = reply: u64;
    set pub set_badge = badge: u64;
    set pub set_consumed = consumed: u64;
    set pub set_release_next = release_next: u64;
    set pub set_in_release_queue = in_release_queue: bool;
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

fn tcb(tcb_object: u64) -> Thread {
    Thread::linked(tcb_object)
}

/// Binds `sc_object` to the thread `tcb_object` (both unbound) and, if the
/// thread may run, schedules it.
pub fn bind(sc_object: u64, tcb_object: u64) {
    sc(sc_object).set_tcb(tcb_object);
    tcb(tcb_object).set_sched_context(sc_object);
    if tcb(tcb_object).state() == ThreadState::Running {
        sched::make_runnable(tcb_object);
    }
}

/// Unbinds the thread bound to `sc_object`, if any: it stays in its state
/// but leaves the run and release queues until it has a context again.
pub fn unbind_tcb(sc_object: u64) {
    sched::release_queue_remove(sc_object);
    sched::forget_account(sc_object);
    let thread = sc(sc_object).tcb();
    if thread == 0 {
        return;
    }
    sched::dequeue(thread);
    tcb(thread).set_sched_context(0);
    sc(sc_object).set_tcb(0);
}

/// Unbinds the notification bound to `sc_object`, if any. A thread running
/// on the context through the notification keeps it until it waits again.
pub fn unbind_notification(sc_object: u64) {
    let ntfn = sc(sc_object).notification();
    sc(sc_object).set_notification(0);
    if ntfn != 0 {
        notification::set_sched_context(ntfn, 0);
    }
}

/// The last cap to the context is going: unbind it and cut it from its
/// call stack.
pub fn finalise(sc_object: u64) {
    unbind_tcb(sc_object);
    unbind_notification(sc_object);
    crate::object::reply::detach_context(sc_object);
}

/// Takes the consumed time, in µs; the remainder below one µs stays.
pub fn take_consumed(sc_object: u64) -> u64 {
    sched::commit_if_charged(sc_object);
    let s = sc(sc_object);
    let us = sched::ticks_to_us(s.consumed());
    s.set_consumed(s.consumed() - sched::us_to_ticks(us));
    us
}

/// Decodes and performs an invocation of the SchedContext `sc_object`.
///
/// # Errors
/// seL4's SchedContext errors.
pub fn invoke(
    label: Label,
    msg: &Message,
    sc_object: u64,
    caller: u64,
) -> Result<Outcome, SyscallError> {
    match label {
        Label::SchedContextBind => {
            let (_, cap) = msg.extra_cap(0)?;
            match cap.kind() {
                CapType::Tcb => {
                    if sc(sc_object).tcb() != 0 || tcb(cap.paddr()).sched_context() != 0 {
                        return Err(Error::IllegalOperation.into());
                    }
                    bind(sc_object, cap.paddr());
                }
                CapType::Notification => {
                    let ntfn = cap.paddr();
                    if sc(sc_object).notification() != 0 || notification::sched_context(ntfn) != 0 {
                        return Err(Error::IllegalOperation.into());
                    }
                    sc(sc_object).set_notification(ntfn);
                    notification::set_sched_context(ntfn, sc_object);
                }
                _ => return Err(SyscallError::invalid_capability(1)),
            }
            Ok(Outcome::Done([0, 0]))
        }
        Label::SchedContextUnbind => {
            unbind_tcb(sc_object);
            unbind_notification(sc_object);
            Ok(Outcome::Done([0, 0]))
        }
        Label::SchedContextUnbindObject => {
            let (_, cap) = msg.extra_cap(0)?;
            match cap.kind() {
                CapType::Tcb if sc(sc_object).tcb() == cap.paddr() => unbind_tcb(sc_object),
                CapType::Notification if sc(sc_object).notification() == cap.paddr() => {
                    unbind_notification(sc_object)
                }
                CapType::Tcb | CapType::Notification => return Err(Error::IllegalOperation.into()),
                _ => return Err(SyscallError::invalid_capability(1)),
            }
            Ok(Outcome::Done([0, 0]))
        }
        Label::SchedContextConsumed => Ok(Outcome::Done([take_consumed(sc_object), 0])),
        Label::SchedContextYieldTo => {
            let target = sc(sc_object).tcb();
            if target == 0 || !sc(sc_object).configured() {
                return Err(Error::IllegalOperation.into());
            }
            if tcb(target).priority() > tcb(caller).mcp() {
                return Err(Error::IllegalOperation.into());
            }
            sched::yield_to(target, caller);
            Ok(Outcome::Done([take_consumed(sc_object), 0]))
        }
        _ => Err(Error::IllegalOperation.into()),
    }
}
