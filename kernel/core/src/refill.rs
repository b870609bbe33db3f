//! Sporadic-server refills: the budget arithmetic of an MCS scheduling context.
//!
//! A scheduling context holds `budget` ticks of CPU time per `period`, split
//! into a bounded list of refills, each an amount that becomes usable at its
//! release time. Time a thread uses is charged to the head refill and comes
//! back one period after that refill was released, so in any window of one
//! period the context never runs for more than its budget (seL4's MCS rules).
//! A context whose budget equals its period is round robin: it is never
//! throttled, its single refill only measures the timeslice.
//!
//! Time here is kernel ticks; the kernel converts from the microseconds of the
//! API. The list lives in the scheduling context object; this type is its
//! arithmetic, kept free of hardware so the host tests can check it.

use crate::SyscallError;

/// Refills every scheduling context has room for (seL4's `MIN_REFILLS`).
pub const MIN_REFILLS: usize = 2;
/// The most refills a scheduling context can hold.
pub const MAX_REFILLS: usize = 16;
const _: () = assert!(MAX_REFILLS - MIN_REFILLS == keel_abi::sched::MAX_EXTRA_REFILLS as usize);

/// One slice of budget: `amount` ticks usable from `release` on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refill {
    pub release: u64,
    pub amount: u64,
}

/// The refill list of one scheduling context: a ring of at most `max` refills
/// kept in release order whose amounts always add up to the budget.
#[derive(Clone, Debug)]
pub struct Refills {
    ring: [Refill; MAX_REFILLS],
    head: usize,
    len: usize,
    max: usize,
    budget: u64,
    period: u64,
    min_budget: u64,
}

impl Refills {
    /// A fresh list: the whole budget usable at `now`. `min_budget` is the
    /// smallest refill worth running on (at least the kernel's own cost of
    /// switching to it); `extra_refills` are the refills beyond `MIN_REFILLS`.
    pub fn new(
        budget: u64,
        period: u64,
        extra_refills: u64,
        min_budget: u64,
        now: u64,
    ) -> Result<Self, SyscallError> {
        let max = check_config(budget, period, extra_refills, min_budget)?;
        let mut refills = Refills {
            ring: [Refill::default(); MAX_REFILLS],
            head: 0,
            len: 0,
            max,
            budget,
            period,
            min_budget,
        };
        refills.restart(budget, now);
        Ok(refills)
    }

    /// Reconfigures a context that may be in use: the head keeps what it has
    /// left (at most the new budget), released now; the rest of the new
    /// budget comes back one new period later.
    pub fn update(
        &mut self,
        budget: u64,
        period: u64,
        extra_refills: u64,
        now: u64,
    ) -> Result<(), SyscallError> {
        let max = check_config(budget, period, extra_refills, self.min_budget)?;
        let kept = self.head().amount.min(budget);
        self.max = max;
        self.budget = budget;
        self.period = period;
        self.restart(kept, now);
        Ok(())
    }

    /// Starts the list over at `now` with `usable` ticks of the budget
    /// released; the rest comes back one period on. A round-robin list is a
    /// head holding the rest of the timeslice and a tail holding its used part.
    fn restart(&mut self, usable: u64, now: u64) {
        self.head = 0;
        self.len = 0;
        if self.is_round_robin() {
            self.push_tail(Refill {
                release: now,
                amount: self.budget,
            });
            self.push_tail(Refill {
                release: now,
                amount: 0,
            });
            return;
        }
        let usable = if usable >= self.min_budget {
            self.push_tail(Refill {
                release: now,
                amount: usable,
            });
            usable
        } else {
            0
        };
        if usable < self.budget {
            self.push_tail(Refill {
                release: now + self.period,
                amount: self.budget - usable,
            });
        }
    }

    pub fn budget(&self) -> u64 {
        self.budget
    }

    pub fn period(&self) -> u64 {
        self.period
    }

    /// How many refills the list may hold.
    pub fn max_refills(&self) -> usize {
        self.max
    }

    /// The refills in release order.
    pub fn iter(&self) -> impl Iterator<Item = Refill> + '_ {
        (0..self.len).map(|i| self.ring[(self.head + i) % MAX_REFILLS])
    }

    pub fn is_round_robin(&self) -> bool {
        self.budget == self.period
    }

    /// The refill that runs next.
    pub fn head(&self) -> Refill {
        self.ring[self.head]
    }

    /// Whether the head refill has been released by `now`.
    pub fn ready(&self, now: u64) -> bool {
        self.head().release <= now
    }

    /// Whether, after `usage` more ticks, the head still holds enough to run
    /// on: the test before letting the owner keep (or take) the CPU.
    pub fn sufficient(&self, usage: u64) -> bool {
        self.head().amount.saturating_sub(usage) >= self.min_budget
    }

    /// A context starts running (woken, or switched to) at `now`: a released
    /// head is moved up to `now` so time the context did not run does not
    /// count as used, and refills released before the head would run out are
    /// merged into it.
    pub fn unblock_check(&mut self, now: u64) {
        if self.is_round_robin() || !self.ready(now) {
            return;
        }
        self.ring[self.head].release = now;
        while self.len > 1 {
            let head = self.head();
            let next = self.ring[(self.head + 1) % MAX_REFILLS];
            if next.release > head.release + head.amount {
                break;
            }
            self.pop_head();
            self.ring[self.head] = Refill {
                release: head.release,
                amount: head.amount + next.amount,
            };
        }
    }

    /// Charges `usage` ticks the owner has run since its head was released
    /// (by `unblock_check` or the last charge). Each fully used refill comes
    /// back one period after its release; a partly used head is split. Used
    /// time beyond the released budget (a late timer) delays the next refill,
    /// so the overrun is paid back. Afterwards the head is at least
    /// `min_budget`, merged with its successors if need be.
    ///
    /// Returns true when a round-robin timeslice ended (and started afresh):
    /// the kernel then moves the thread to the back of its priority's queue.
    pub fn charge(&mut self, usage: u64) -> bool {
        if self.is_round_robin() {
            // Never throttled: the used part of the slice moves to the tail,
            // and a used-up slice starts afresh.
            let tail_at = (self.head + 1) % MAX_REFILLS;
            let used = usage.min(self.ring[self.head].amount);
            self.ring[self.head].amount -= used;
            self.ring[tail_at].amount += used;
            if self.ring[self.head].amount < self.min_budget {
                self.ring[self.head].amount = self.budget;
                self.ring[tail_at].amount = 0;
                return true;
            }
            return false;
        }
        let mut usage = usage;
        // Only refills released by the time the head was are charged.
        let charged_from = self.head().release;
        while usage > 0 && usage >= self.head().amount && self.head().release <= charged_from {
            let used = self.pop_head();
            usage -= used.amount;
            self.schedule_used(Refill {
                release: used.release + self.period,
                amount: used.amount,
            });
        }
        if usage > 0 && self.head().release <= charged_from {
            let head = self.head();
            self.ring[self.head] = Refill {
                release: head.release + usage,
                amount: head.amount - usage,
            };
            self.schedule_used(Refill {
                release: head.release + self.period,
                amount: usage,
            });
        } else if usage > 0 {
            // Overrun: nothing released is left to charge it to.
            self.ring[self.head].release += usage;
        }
        while self.head().amount < self.min_budget && self.len > 1 {
            let small = self.pop_head();
            let next = &mut self.ring[self.head];
            next.amount += small.amount;
        }
        false
    }

    /// Consumed time goes back into the list one period on: merged into the
    /// tail when it is full or when the tail's release falls no later.
    fn schedule_used(&mut self, used: Refill) {
        if self.len == 0 {
            self.push_tail(used);
            return;
        }
        let tail_at = (self.head + self.len - 1) % MAX_REFILLS;
        let tail = self.ring[tail_at];
        if self.len == self.max || used.release <= tail.release {
            self.ring[tail_at] = Refill {
                release: tail.release.max(used.release),
                amount: tail.amount + used.amount,
            };
        } else {
            self.push_tail(used);
        }
    }

    fn pop_head(&mut self) -> Refill {
        let head = self.head();
        self.head = (self.head + 1) % MAX_REFILLS;
        self.len -= 1;
        head
    }

    fn push_tail(&mut self, refill: Refill) {
        self.ring[(self.head + self.len) % MAX_REFILLS] = refill;
        self.len += 1;
    }
}

/// Validates a configuration (seL4's `SchedControl_ConfigureFlags` rules) and
/// returns the refill count it allows.
fn check_config(
    budget: u64,
    period: u64,
    extra_refills: u64,
    min_budget: u64,
) -> Result<usize, SyscallError> {
    if period < min_budget {
        return Err(SyscallError::range(min_budget, u64::MAX));
    }
    if budget < min_budget || budget > period {
        return Err(SyscallError::range(min_budget, period));
    }
    let limit = (MAX_REFILLS - MIN_REFILLS) as u64;
    if extra_refills > limit {
        return Err(SyscallError::range(0, limit));
    }
    Ok(MIN_REFILLS + extra_refills as usize)
}

#[cfg(test)]
#[path = "refill_tests.rs"]
mod tests;
