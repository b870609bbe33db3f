//! SchedControl (MCS): the authority to give scheduling contexts time on one
//! core. `ConfigureFlags` sets a context's budget, period, refill count, badge
//! and flags (seL4's rules and errors); the refill arithmetic is
//! `keel_kernel_core::refill`'s, the queues [`crate::sched`]'s.

use crate::object::handle::{SchedContextRef, Thread};
use crate::sched;
use crate::syscall::invocation::{Message, Outcome};
use keel_abi::sched::{
    SchedContextFlags, MAX_EXTRA_REFILLS, MAX_PERIOD_US, MIN_BUDGET_US, ROOT_TIMESLICE_US,
};
use keel_abi::{Error, Label};
use keel_kernel_core::error::SyscallError;
use keel_kernel_core::refill::Refills;

/// Decodes and performs an invocation of SchedControl for `core`.
///
/// # Errors
/// seL4's errors: a range error naming the allowed bounds for a budget,
/// period or refill count out of range; an invalid argument for unknown flags.
pub fn invoke(label: Label, msg: &Message, core: u64) -> Result<Outcome, SyscallError> {
    if label != Label::SchedControlConfigureFlags {
        return Err(Error::IllegalOperation.into());
    }
    // Keel runs on one core: the only SchedControl is core 0's.
    if core != 0 {
        return Err(Error::IllegalOperation.into());
    }
    let (budget, period, extra_refills) = (msg.mr(0)?, msg.mr(1)?, msg.mr(2)?);
    let (badge, flags) = (msg.mr(3)?, msg.mr(4)?);
    let (_, cap) = msg.extra_cap(0)?;
    let Some(context) = SchedContextRef::from_cap(&cap) else {
        return Err(SyscallError::invalid_capability(1));
    };
    if !(MIN_BUDGET_US..=MAX_PERIOD_US).contains(&period) {
        return Err(SyscallError::range(MIN_BUDGET_US, MAX_PERIOD_US));
    }
    if !(MIN_BUDGET_US..=period).contains(&budget) {
        return Err(SyscallError::range(MIN_BUDGET_US, period));
    }
    if extra_refills > MAX_EXTRA_REFILLS {
        return Err(SyscallError::range(0, MAX_EXTRA_REFILLS));
    }
    let flags = SchedContextFlags::from_bits(flags)
        .ok_or_else(|| SyscallError::from(Error::InvalidArgument))?;
    configure(context, budget, period, extra_refills, badge, flags)?;
    Ok(Outcome::Done([0, 0]))
}

/// Configures the root task's context at boot: round robin with
/// [`ROOT_TIMESLICE_US`] slices.
pub fn configure_root(context: SchedContextRef) {
    configure(
        context,
        ROOT_TIMESLICE_US,
        ROOT_TIMESLICE_US,
        0,
        0,
        SchedContextFlags::NONE,
    )
    .expect("invariant: the root timeslice is a valid configuration");
}

/// Gives `context` its parameters (µs). A context in use
/// keeps what its current refill has left, up to the new budget.
///
/// # Errors
/// A range error if the budget or period in ticks breaks the refill rules
/// (cannot happen for values the decoder accepted).
fn configure(
    context: SchedContextRef,
    budget_us: u64,
    period_us: u64,
    extra_refills: u64,
    badge: u64,
    flags: SchedContextFlags,
) -> Result<(), SyscallError> {
    sched::commit_if_charged(context.addr());
    let now = sched::now();
    let (budget, period) = (sched::us_to_ticks(budget_us), sched::us_to_ticks(period_us));
    let s = context;
    if s.configured() {
        s.update_refills(budget, period, extra_refills, now)?;
    } else {
        s.set_refills(Refills::new(
            budget,
            period,
            extra_refills,
            sched::min_budget(),
            now,
        )?);
    }
    s.set_configured(true);
    s.set_badge(badge);
    s.set_sporadic(flags.contains(SchedContextFlags::SPORADIC));
    if let Some(thread) = Thread::from_link(s.tcb()) {
        sched::reschedule(thread);
    }
    Ok(())
}
