//! MCS scheduling: SchedControl and SchedContext invocations (seL4's
//! `seL4_SchedControl_ConfigureFlags`, `seL4_SchedContext_*`). Times are in
//! microseconds.

use crate::cap::{Notification, SchedContext, SchedControl, Tcb};
use crate::invocation::invoke;
use crate::Cap;
use crate::InvocationError;
pub use keel_abi::sched::{SchedContextFlags, MAX_EXTRA_REFILLS, MAX_PERIOD_US, MIN_BUDGET_US};
use keel_abi::Label;

impl Cap<SchedControl> {
    /// Gives `sc` `budget` µs of time every `period` µs, with
    /// `extra_refills` refills beyond the first two, the `badge` its timeout
    /// faults carry, and `flags`. Budget = period is round robin.
    ///
    /// # Errors
    /// `RangeError` (with the bounds) for a period outside
    /// [`MIN_BUDGET_US`]..=[`MAX_PERIOD_US`], a budget outside
    /// [`MIN_BUDGET_US`]..=period or too many refills; `InvalidArgument` for
    /// unknown flags; `InvalidCapability` when `sc` is not a SchedContext.
    pub fn sched_control_configure_flags(
        self,
        sc: Cap<SchedContext>,
        budget: u64,
        period: u64,
        extra_refills: u64,
        badge: u64,
        flags: SchedContextFlags,
    ) -> Result<(), InvocationError> {
        invoke(
            self.cptr(),
            Label::SchedControlConfigureFlags,
            &[budget, period, extra_refills, badge, flags.bits()],
            &[sc.cptr()],
        )
        .map(|_| ())
    }
}

impl Cap<SchedContext> {
    /// Binds the context to `tcb`; a runnable thread starts running on it.
    ///
    /// # Errors
    /// `IllegalOperation` when either is bound already.
    pub fn sched_context_bind(self, tcb: Cap<Tcb>) -> Result<(), InvocationError> {
        invoke(self.cptr(), Label::SchedContextBind, &[], &[tcb.cptr()]).map(|_| ())
    }

    /// Binds the context to a notification: a thread without a context of
    /// its own that a signal on it wakes runs on this one until it waits on
    /// the notification again.
    ///
    /// # Errors
    /// `IllegalOperation` when either is bound to a context or notification already.
    pub fn sched_context_bind_notification(
        self,
        ntfn: Cap<Notification>,
    ) -> Result<(), InvocationError> {
        invoke(self.cptr(), Label::SchedContextBind, &[], &[ntfn.cptr()]).map(|_| ())
    }

    /// Unbinds the context from the notification `ntfn`.
    ///
    /// # Errors
    /// `IllegalOperation` when it is not bound to that notification.
    pub fn sched_context_unbind_notification(
        self,
        ntfn: Cap<Notification>,
    ) -> Result<(), InvocationError> {
        invoke(
            self.cptr(),
            Label::SchedContextUnbindObject,
            &[],
            &[ntfn.cptr()],
        )
        .map(|_| ())
    }

    /// Unbinds the context from its thread and notification (the thread
    /// stops running until it has a context again).
    ///
    /// # Errors
    /// `InvalidCapability` when the cap is not a SchedContext.
    pub fn sched_context_unbind(self) -> Result<(), InvocationError> {
        invoke(self.cptr(), Label::SchedContextUnbind, &[], &[]).map(|_| ())
    }

    /// Unbinds the context from `tcb`.
    ///
    /// # Errors
    /// `IllegalOperation` when it is not bound to that thread.
    pub fn sched_context_unbind_object(self, tcb: Cap<Tcb>) -> Result<(), InvocationError> {
        invoke(
            self.cptr(),
            Label::SchedContextUnbindObject,
            &[],
            &[tcb.cptr()],
        )
        .map(|_| ())
    }

    /// The time (µs) used on the context since the last read.
    ///
    /// # Errors
    /// `InvalidCapability` when the cap is not a SchedContext.
    pub fn sched_context_consumed(self) -> Result<u64, InvocationError> {
        invoke(self.cptr(), Label::SchedContextConsumed, &[], &[]).map(|w| w[0])
    }

    /// Lets the context's thread run ahead of the others of its priority
    /// (and ahead of the caller when its priority is no lower); returns the
    /// context's consumed time (µs).
    ///
    /// # Errors
    /// `IllegalOperation` when the context is unbound or unconfigured, is
    /// the caller's own, or its thread's priority is above the caller's MCP.
    pub fn sched_context_yield_to(self) -> Result<u64, InvocationError> {
        invoke(self.cptr(), Label::SchedContextYieldTo, &[], &[]).map(|w| w[0])
    }
}
