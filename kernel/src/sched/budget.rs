//! Time: the clock in ticks, the scheduling context the running time is
//! charged to, the end of a timeslice, and the one-shot timer. Time is
//! charged when the context being charged changes or its budget is spent
//! (not on every kernel entry), so a thread that keeps the CPU keeps one
//! refill intact; a context switched to starts its head refill at that
//! moment (`Refills::unblock_check`), so time it did not run is never
//! counted against it.

use super::{dequeue, move_to_back, release};
use crate::arch::{LocalTimer, Timer};
use crate::ipc::queue::tcb;
use crate::kernel_cell::KernelCell;
use crate::object::sched_context::sc;
use crate::object::tcb::ThreadState;
use keel_abi::sched::MIN_BUDGET_US;

/// The context time is charged to, and since when.
struct Account {
    sc: KernelCell<u64>,
    since: KernelCell<u64>,
    /// The deadline the timer is armed for (u64::MAX: none).
    armed: KernelCell<u64>,
}

static ACCOUNT: Account = Account {
    sc: KernelCell::new(0),
    since: KernelCell::new(0),
    armed: KernelCell::new(u64::MAX),
};

/// The current time in ticks.
pub fn now() -> u64 {
    LocalTimer::now()
}

/// `us` microseconds in ticks (rounded down).
pub fn us_to_ticks(us: u64) -> u64 {
    let ticks = u128::from(us) * u128::from(LocalTimer::ticks_per_second()) / 1_000_000;
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// `ticks` in whole microseconds (rounded down).
pub fn ticks_to_us(ticks: u64) -> u64 {
    let us = u128::from(ticks) * 1_000_000 / u128::from(LocalTimer::ticks_per_second().max(1));
    u64::try_from(us).unwrap_or(u64::MAX)
}

/// The smallest refill worth running on, in ticks.
pub fn min_budget() -> u64 {
    us_to_ticks(MIN_BUDGET_US).max(1)
}

/// Charges `used` ticks of running to `sc_object`, counting `refill_usage`
/// against its refills. A queued thread of it whose round-robin timeslice
/// ended goes to the back of its queue; one now out of budget goes to the
/// release queue.
fn charge(sc_object: u64, used: u64, refill_usage: u64, now: u64) {
    let s = sc(sc_object);
    s.set_consumed(s.consumed().saturating_add(used));
    if !s.configured() {
        return;
    }
    let slice_ended = s.charge_refills(refill_usage);
    let thread = s.tcb();
    if thread == 0 || !tcb(thread).queued() {
        return;
    }
    if !s.can_run_now(now) {
        dequeue(tcb(thread));
        release::insert(sc_object);
    } else if slice_ended {
        move_to_back(tcb(thread));
    }
}

/// Charges the time run so far, if `sc_object` is the context being charged.
pub fn commit_if_charged(sc_object: u64) {
    if ACCOUNT.sc.read() != sc_object || sc_object == 0 {
        return;
    }
    let now = now();
    let used = now.saturating_sub(ACCOUNT.since.read());
    ACCOUNT.since.write(now);
    charge(sc_object, used, used, now);
}

/// True when time is being charged to `sc_object` (a non-zero context).
pub fn is_charged(sc_object: u64) -> bool {
    sc_object != 0 && ACCOUNT.sc.read() == sc_object
}

/// `sc_object` is going away: stop charging it.
pub fn forget_account(sc_object: u64) {
    if ACCOUNT.sc.read() == sc_object {
        ACCOUNT.sc.write(0);
    }
}

/// Charges the context in use up to `now` and switches the account to
/// `next` (0: idle), whose head refill starts now. False if `next` turns
/// out to have no budget to start on (it went to the release queue).
pub fn switch_to(next: u64, now: u64) -> bool {
    let current = ACCOUNT.sc.read();
    if current == next {
        return true;
    }
    if current != 0 {
        let used = now.saturating_sub(ACCOUNT.since.read());
        charge(current, used, used, now);
    }
    ACCOUNT.sc.write(next);
    ACCOUNT.since.write(now);
    if next == 0 {
        return true;
    }
    let s = sc(next);
    s.unblock_check(now);
    if s.can_run_now(now) {
        return true;
    }
    let thread = s.tcb();
    if thread != 0 {
        dequeue(tcb(thread));
    }
    release::insert(next);
    ACCOUNT.sc.write(0);
    false
}

/// Ends the charged context's timeslice if its budget is spent by `now`:
/// a round-robin thread goes to the back of its queue with a fresh slice;
/// a sporadic one goes to the release queue, or to the back of its queue
/// if its next refill is already released, and raises a timeout fault if
/// it has a timeout endpoint.
pub fn end_timeslice_if_spent(now: u64) {
    let current = ACCOUNT.sc.read();
    if current == 0 || !sc(current).configured() {
        return;
    }
    let used = now.saturating_sub(ACCOUNT.since.read());
    if sc(current).sufficient(used) {
        return;
    }
    ACCOUNT.since.write(now);
    charge(current, used, used, now);
    let s = sc(current);
    let thread = s.tcb();
    if thread == 0 || tcb(thread).state() != ThreadState::Running || s.is_round_robin() {
        return;
    }
    if crate::fault::has_timeout_handler(tcb(thread)) {
        let consumed = crate::object::sched_context::take_consumed(sc(current));
        crate::fault::raise_timeout(tcb(thread), sc(current).badge(), consumed);
    } else {
        move_to_back(tcb(thread));
    }
}

/// MCS Yield: the charged context gives up the rest of its head refill.
pub fn give_up_refill(sc_object: u64) {
    if sc_object == 0 || ACCOUNT.sc.read() != sc_object || !sc(sc_object).configured() {
        return;
    }
    let now = now();
    let used = now.saturating_sub(ACCOUNT.since.read());
    let rest = sc(sc_object).head_refill().amount;
    ACCOUNT.since.write(now);
    charge(sc_object, used, used.max(rest), now);
}

/// The timer fired: whatever deadline comes next must be armed again (a
/// timer that fired a little early is re-armed for the same deadline).
pub fn timer_fired() {
    ACCOUNT.armed.write(u64::MAX);
}

/// Arms the timer for the earlier of the charged context's budget end and
/// the next release; leaves it alone when that deadline is already armed.
#[inline]
pub fn arm_timer() {
    let current = ACCOUNT.sc.read();
    let budget_end = if current != 0 && sc(current).configured() {
        ACCOUNT
            .since
            .read()
            .saturating_add(sc(current).head_refill().amount)
    } else {
        u64::MAX
    };
    let deadline = budget_end.min(release::next_release());
    if deadline != ACCOUNT.armed.read() && deadline != u64::MAX {
        ACCOUNT.armed.write(deadline);
        LocalTimer::set_deadline(deadline);
    }
}
