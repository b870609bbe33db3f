//! The scheduler server's logic, apart from the system calls so that it runs
//! under `cargo test`: the program, `keel-scheduler`, gives it a [`Kernel`]
//! made of its SchedControl, its untyped and its spare slots.
//!
//! [`Scheduler`] serves the scheduler protocol (`keel_protocols::scheduler`).
//! Each activity has an entitlement, `budget_us` every `period_us`, for all
//! its threads together. Every thread admitted gets a scheduling context of
//! its own (a thread runs on one context, and a context is bound to one
//! thread), and the activity's budget is split evenly among them: with `n`
//! threads each context holds `budget_us / n` every `period_us`, so the
//! activity never holds more than its budget per period, however many
//! threads it makes (Vortex's rule). Each context is badged with its
//! activity (`context_badge`), so a timeout fault names the activity it
//! comes from. CPU use is kept per activity: the consumed word of every
//! timeout fault and every `Consumed` read, summed.
//!
//! A new entitlement reconfigures the activity's contexts; the kernel
//! applies a configuration to a running context from its next refill, so
//! it holds from the next period. Entitlements together never pass
//! `ACTIVITY_LIMIT_PERCENT` of a core.
//!
//! Attribution through servers ([`attribution`]): the server reads the
//! consumption records of the servers added to it, so it tells where an
//! activity's CPU went, in its own threads or at each server.
//!
//! Lending ([`lend`]): an activity that may exceed its entitlement when
//! the CPU is otherwise idle runs, once a thread's budget is spent, on a
//! background context at the lowest priority until its own context's
//! next refill, then goes back to it.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod attribution;
mod lend;
#[cfg(test)]
mod tests;

use keel_abi::sched::{MAX_PERIOD_US, MIN_BUDGET_US};
use keel_protocols::accounting::Record;
use keel_protocols::cap::{Endpoint, Granted, Tcb};
use keel_protocols::scheduler::{
    context_badge, Attribution, SchedulerError, SchedulerServer, Usage, ACTIVITY_LIMIT_PERCENT,
    MAX_SERVERS, USAGE,
};
use keel_protocols::server::Caller;
use keel_protocols::{ActivityId, Rights};

/// What the scheduler asks of the kernel; the program does it with system
/// calls, the tests in memory. A context is named by the slot it is in.
pub trait Kernel {
    /// Makes a scheduling context from the server's memory; returns its slot.
    ///
    /// # Errors
    /// When the server has no memory or slot left for one.
    fn make_context(&mut self) -> Result<u64, SchedulerError>;
    /// Moves the thread `tcb` arrived as into a slot of the server's own;
    /// returns that slot.
    ///
    /// # Errors
    /// When no slot is left, or the kernel refuses.
    fn keep_thread(&mut self, tcb: Granted<Tcb>) -> Result<u64, SchedulerError>;
    /// Gives `context` `budget_us` every `period_us`, and `badge`.
    ///
    /// # Errors
    /// The kernel's refusal.
    fn configure(
        &mut self,
        context: u64,
        budget_us: u32,
        period_us: u32,
        badge: u64,
    ) -> Result<(), SchedulerError>;
    /// Binds `context` to `thread` and makes the server its timeout endpoint.
    ///
    /// # Errors
    /// The kernel's refusal (the thread has a context already).
    fn bind(&mut self, context: u64, thread: u64) -> Result<(), SchedulerError>;
    /// The time (µs) used on `context` since it was last read.
    ///
    /// # Errors
    /// The kernel's refusal.
    fn consumed(&mut self, context: u64) -> Result<u64, SchedulerError>;
    /// Moves the endpoint `endpoint` arrived as into a slot of the
    /// server's own; returns that slot.
    ///
    /// # Errors
    /// When no slot is left, or the kernel refuses.
    fn keep_server(&mut self, endpoint: Granted<Endpoint>) -> Result<u64, SchedulerError>;
    /// Row `index` of the records of the server whose endpoint is in
    /// `server` (its Accounting `record`); `None` past its last row.
    ///
    /// # Errors
    /// `Records` when the server does not answer as the protocol says.
    fn record(&mut self, server: u64, index: u16) -> Result<Option<Record>, SchedulerError>;
    /// The architecture's counter now (ticks, as servers' records count).
    fn now(&mut self) -> u64;
    /// Unbinds `context` from its thread.
    ///
    /// # Errors
    /// The kernel's refusal.
    fn unbind(&mut self, context: u64) -> Result<(), SchedulerError>;
    /// Sets `thread`'s priority, the thread its own authority (its maximum
    /// controlled priority bounds it).
    ///
    /// # Errors
    /// The kernel's refusal.
    fn set_priority(&mut self, thread: u64, priority: u8) -> Result<(), SchedulerError>;
}

/// One activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Activity {
    /// Its number.
    pub id: ActivityId,
    /// Microseconds of CPU per period, for all its threads.
    pub budget_us: u32,
    /// Microseconds.
    pub period_us: u32,
    /// CPU time used by its threads so far, in microseconds.
    pub consumed_us: u64,
    /// Timeout faults its threads raised.
    pub timeouts: u32,
    /// Threads admitted.
    pub threads: u16,
    /// Its threads' priority, when it may exceed its entitlement on idle
    /// time (see [`lend`]).
    pub lends: Option<u8>,
}

impl Activity {
    /// What each of `threads` contexts holds per period.
    fn per_thread(&self, budget_us: u32, threads: u16) -> Result<u32, SchedulerError> {
        let each = budget_us / u32::from(threads.max(1));
        if u64::from(each) < MIN_BUDGET_US {
            return Err(SchedulerError::TooManyThreads);
        }
        Ok(each)
    }
}

/// A thread admitted, with its context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thread {
    /// The activity it belongs to.
    pub activity: ActivityId,
    /// The slot of its context.
    pub context: u64,
    /// Its number within its activity (0, 1, ...), in its context's badge.
    pub index: u16,
    /// The slot of the thread (its TCB).
    pub tcb: u64,
    /// The slot of its background context, once it was first lent one.
    pub background: Option<u64>,
    /// While it runs on its background context: the server's
    /// [`Scheduler::observed_us`] when it went there.
    pub lent_at: Option<u64>,
}

/// The scheduler server's state: at most `A` activities and `T` threads.
pub struct Scheduler<K, const A: usize, const T: usize> {
    kernel: K,
    activities: heapless::Vec<Activity, A>,
    threads: heapless::Vec<Thread, T>,
    servers: heapless::Vec<attribution::Server, MAX_SERVERS>,
    /// CPU time seen on every context so far (µs): the lower bound on
    /// elapsed time that lending goes by.
    observed_us: u64,
}

impl<K: Kernel, const A: usize, const T: usize> Scheduler<K, A, T> {
    /// A scheduler with no activities yet.
    pub const fn new(kernel: K) -> Self {
        Scheduler {
            kernel,
            activities: heapless::Vec::new(),
            threads: heapless::Vec::new(),
            servers: heapless::Vec::new(),
            observed_us: 0,
        }
    }

    /// The kernel side.
    pub fn kernel(&self) -> &K {
        &self.kernel
    }

    /// Activity `id`, if it has an entitlement.
    pub fn activity(&self, id: ActivityId) -> Option<&Activity> {
        self.activities.iter().find(|a| a.id == id)
    }

    fn position(&self, id: ActivityId) -> Result<usize, SchedulerError> {
        self.activities
            .iter()
            .position(|a| a.id == id)
            .ok_or(SchedulerError::NoSuchActivity)
    }

    /// Records a timeout fault from the context badged `badge` that had
    /// used `consumed_us`, and moves lent threads between their contexts
    /// (see [`lend`]) before the faulting thread is answered; false when
    /// the badge names no activity here.
    ///
    /// # Errors
    /// The kernel's refusal while moving a thread between its contexts.
    pub fn timeout(&mut self, badge: u64, consumed_us: u64) -> Result<bool, SchedulerError> {
        let Some(id) = keel_protocols::scheduler::badge_activity(badge) else {
            return Ok(false);
        };
        let Some(a) = self.activities.iter_mut().find(|a| a.id == id) else {
            return Ok(false);
        };
        a.consumed_us += consumed_us;
        a.timeouts = a.timeouts.saturating_add(1);
        self.observed_us += consumed_us;
        self.after_timeout(id, badge)?;
        Ok(true)
    }

    /// Configures every context of activity `index` with its share of
    /// `budget_us` every `period_us` among `threads` threads.
    fn apply(
        &mut self,
        index: usize,
        budget_us: u32,
        period_us: u32,
        threads: u16,
    ) -> Result<(), SchedulerError> {
        let a = self.activities[index];
        let each = a.per_thread(budget_us, threads)?;
        for t in self.threads.iter().filter(|t| t.activity == a.id) {
            self.kernel
                .configure(t.context, each, period_us, context_badge(a.id, t.index))?;
        }
        Ok(())
    }

    /// True when `budget_us` every `period_us` for activity `id`, with the
    /// others' entitlements, stays within what activities may have.
    fn fits(&self, id: ActivityId, budget_us: u32, period_us: u32) -> bool {
        // Compared in millionths of a core, rounded up, so that the sum is
        // never understated.
        let ppm = |b: u32, p: u32| (u64::from(b) * 1_000_000).div_ceil(u64::from(p));
        let others: u64 = self
            .activities
            .iter()
            .filter(|a| a.id != id)
            .map(|a| ppm(a.budget_us, a.period_us))
            .sum();
        others + ppm(budget_us, period_us) <= u64::from(ACTIVITY_LIMIT_PERCENT) * 10_000
    }

    /// Adds `Consumed` of each of activity `id`'s contexts to its total;
    /// returns the activity as it now stands.
    fn refresh(&mut self, id: ActivityId) -> Result<Activity, SchedulerError> {
        let index = self.position(id)?;
        let mut consumed = 0;
        for t in self.threads.iter().filter(|t| t.activity == id) {
            consumed += self.kernel.consumed(t.context)?;
            if let Some(b) = t.background {
                consumed += self.kernel.consumed(b)?;
            }
        }
        self.observed_us += consumed;
        let a = &mut self.activities[index];
        a.consumed_us += consumed;
        Ok(*a)
    }
}

impl<K: Kernel, const A: usize, const T: usize> SchedulerServer for Scheduler<K, A, T> {
    fn admit(
        &mut self,
        caller: &Caller,
        tcb: Granted<Tcb>,
        activity: u16,
    ) -> Result<(), SchedulerError> {
        let id = ActivityId(activity);
        if id != caller.activity && caller.require(Rights::ADMIN).is_err() {
            return Err(SchedulerError::NotYourActivity);
        }
        let index = self.position(id)?;
        let a = self.activities[index];
        let threads = a
            .threads
            .checked_add(1)
            .ok_or(SchedulerError::TooManyThreads)?;
        let each = a.per_thread(a.budget_us, threads)?;
        if self.threads.is_full() {
            return Err(SchedulerError::TooManyThreads);
        }
        let thread = self.kernel.keep_thread(tcb)?;
        let context = self.kernel.make_context()?;
        self.kernel
            .configure(context, each, a.period_us, context_badge(id, a.threads))?;
        self.kernel.bind(context, thread)?;
        // Then the others' shares shrink, before the server answers: its
        // priority is above every activity's, so no thread of the activity
        // runs in between on more than its part.
        self.apply(index, a.budget_us, a.period_us, threads)?;
        let _ = self.threads.push(Thread {
            activity: id,
            context,
            index: a.threads,
            tcb: thread,
            background: None,
            lent_at: None,
        });
        self.activities[index].threads = threads;
        Ok(())
    }

    fn usage(&mut self, caller: &Caller, activity: u16) -> Result<Usage, SchedulerError> {
        caller.require(USAGE)?;
        let a = self.refresh(ActivityId(activity))?;
        Ok(Usage {
            consumed_us: a.consumed_us,
            budget_us: a.budget_us,
            period_us: a.period_us,
            threads: a.threads.into(),
            timeouts: a.timeouts,
        })
    }

    fn set_entitlement(
        &mut self,
        _caller: &Caller,
        activity: u16,
        budget_us: u32,
        period_us: u32,
    ) -> Result<(), SchedulerError> {
        let id = ActivityId(activity);
        if id == ActivityId(0)
            || u64::from(budget_us) < MIN_BUDGET_US
            || budget_us > period_us
            || u64::from(period_us) > MAX_PERIOD_US
            || !self.fits(id, budget_us, period_us)
        {
            return Err(SchedulerError::BadEntitlement);
        }
        let index = match self.position(id) {
            Ok(i) => i,
            Err(_) => {
                let fresh = Activity {
                    id,
                    budget_us,
                    period_us,
                    consumed_us: 0,
                    timeouts: 0,
                    threads: 0,
                    lends: None,
                };
                self.activities
                    .push(fresh)
                    .map_err(|_| SchedulerError::NoSuchActivity)?;
                return Ok(());
            }
        };
        let threads = self.activities[index].threads;
        self.activities[index].per_thread(budget_us, threads)?;
        self.apply(index, budget_us, period_us, threads)?;
        let a = &mut self.activities[index];
        a.budget_us = budget_us;
        a.period_us = period_us;
        Ok(())
    }

    fn add_server(
        &mut self,
        _caller: &Caller,
        endpoint: Granted<Endpoint>,
        passive: u8,
    ) -> Result<u16, SchedulerError> {
        self.add_records_of(endpoint, passive != 0)
    }

    fn attribution(
        &mut self,
        caller: &Caller,
        activity: u16,
    ) -> Result<Attribution, SchedulerError> {
        caller.require(USAGE)?;
        self.attribute(ActivityId(activity))
    }

    fn lend_when_idle(
        &mut self,
        _caller: &Caller,
        activity: u16,
        priority: u8,
    ) -> Result<(), SchedulerError> {
        let index = self.position(ActivityId(activity))?;
        self.activities[index].lends = Some(priority);
        Ok(())
    }
}
