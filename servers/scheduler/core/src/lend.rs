//! Lending idle time to an activity that may exceed its entitlement
//! (`may_exceed_when_idle`), the MCS way: the kernel never gives a context
//! more than its budget, so the scheduler server gives such a thread a
//! second, background, context and moves the thread between the two.
//!
//! ```text
//!  own context spent --timeout fault--> scheduler: unbind own context,
//!      priority -> LEND_PRIORITY, bind background context (budget: the
//!      rest of the period), reply: the thread runs only when nothing
//!      else wants the CPU
//!  its own context's refill due (CPU time seen on every context since it
//!      went, at any timeout fault) or its background budget spent
//!      --> scheduler: unbind background, priority back, bind own context
//! ```
//!
//! While it is lent, the activity's own context is unbound and refills as
//! time passes; the thread goes back to it once its refill is due. The
//! server has no clock of a known rate on every architecture, so it goes
//! by the CPU time it sees on every context since the thread was lent (a
//! lower bound on elapsed time, read at each timeout fault): once that
//! reaches [`RETURN_NUMERATOR`]/[`RETURN_DENOMINATOR`] of the time to the
//! refill, the thread goes back. Going back early costs the activity only
//! idle time (it waits for its refill at its own priority); late would
//! cost it its share, which the others' timeout faults (busy activities
//! spend their budgets every period) and the background budget (the rest
//! of the period) bound. Both contexts carry the activity's badge, so all
//! the time is charged to it.

use super::{Kernel, Scheduler};
use keel_abi::sched::MIN_BUDGET_US;
use keel_protocols::scheduler::{badge_thread, lend_badge, SchedulerError, LEND_PRIORITY};
use keel_protocols::ActivityId;

/// A lent thread goes back to its own context once the CPU time seen since
/// it was lent reaches this fraction of the time to its refill.
pub const RETURN_NUMERATOR: u64 = 3;
/// See [`RETURN_NUMERATOR`].
pub const RETURN_DENOMINATOR: u64 = 4;

impl<K: Kernel, const A: usize, const T: usize> Scheduler<K, A, T> {
    /// After a timeout fault of activity `id`'s context `badge` was
    /// counted: lent threads whose refill is due go back, and the faulting
    /// thread is lent (its own budget spent, its activity lends) or goes
    /// back (its background budget spent).
    pub(crate) fn after_timeout(
        &mut self,
        id: ActivityId,
        badge: u64,
    ) -> Result<(), SchedulerError> {
        let faulting = badge_thread(badge).and_then(|(index, background)| {
            let t = self
                .threads
                .iter()
                .position(|t| t.activity == id && t.index == index)?;
            Some((t, background))
        });
        if self.threads.iter().any(|t| t.lent_at.is_some()) {
            self.observe()?;
            for t in 0..self.threads.len() {
                if faulting.map(|(f, _)| f) != Some(t) && self.refill_due(t) {
                    self.give_back(t)?;
                }
            }
        }
        match faulting {
            Some((t, true)) if self.threads[t].lent_at.is_some() => self.give_back(t),
            Some((t, false)) if self.threads[t].lent_at.is_none() => self.lend(t),
            _ => Ok(()),
        }
    }

    /// Reads `Consumed` of every context into the activities' totals (and
    /// so into [`Scheduler::observed_us`]).
    fn observe(&mut self) -> Result<(), SchedulerError> {
        let ids: heapless::Vec<ActivityId, A> = self.activities.iter().map(|a| a.id).collect();
        for id in ids {
            self.refresh(id)?;
        }
        Ok(())
    }

    /// For thread `t`'s activity: the time from a context's budget being
    /// spent to its refill, and the period; `None` when the activity does
    /// not lend or has no time to lend (a budget of nearly the whole
    /// period).
    fn lending(&self, t: usize) -> Option<(u32, u32)> {
        let a = self.activity(self.threads[t].activity)?;
        a.lends?;
        let each = a.per_thread(a.budget_us, a.threads).ok()?;
        let rest = a.period_us - each;
        (u64::from(rest) >= MIN_BUDGET_US).then_some((rest, a.period_us))
    }

    /// True when lent thread `t`'s own context has refilled, as far as the
    /// time seen tells.
    fn refill_due(&self, t: usize) -> bool {
        let (Some(at), Some((rest, _))) = (self.threads[t].lent_at, self.lending(t)) else {
            return false;
        };
        let seen = self.observed_us - at;
        seen * RETURN_DENOMINATOR >= u64::from(rest) * RETURN_NUMERATOR
    }

    /// Moves thread `t` (its own budget spent) to its background context.
    fn lend(&mut self, t: usize) -> Result<(), SchedulerError> {
        let Some((rest, period)) = self.lending(t) else {
            return Ok(());
        };
        let background = match self.threads[t].background {
            Some(b) => b,
            None => {
                let b = self.kernel.make_context()?;
                self.threads[t].background = Some(b);
                b
            }
        };
        let thread = self.threads[t];
        self.kernel.configure(
            background,
            rest,
            period,
            lend_badge(thread.activity, thread.index),
        )?;
        self.kernel.unbind(thread.context)?;
        self.kernel.set_priority(thread.tcb, LEND_PRIORITY)?;
        self.kernel.bind(background, thread.tcb)?;
        self.threads[t].lent_at = Some(self.observed_us);
        Ok(())
    }

    /// Moves lent thread `t` back to its own context and priority.
    fn give_back(&mut self, t: usize) -> Result<(), SchedulerError> {
        let thread = self.threads[t];
        let (Some(background), Some(_)) = (thread.background, thread.lent_at) else {
            return Ok(());
        };
        let priority = self
            .activity(thread.activity)
            .and_then(|a| a.lends)
            .ok_or(SchedulerError::NoSuchActivity)?;
        self.kernel.unbind(background)?;
        self.kernel.set_priority(thread.tcb, priority)?;
        self.kernel.bind(thread.context, thread.tcb)?;
        self.threads[t].lent_at = None;
        Ok(())
    }
}
