//! The scheduler protocol: what the scheduler server (the holder of
//! SchedControl) answers about activities. Init admits each thread of an
//! activity's member programs (and a member may admit the threads it makes
//! for its own activity); a caller with the usage right reads an activity's
//! CPU use; a caller with the admin right changes its entitlement.
//!
//! ```text
//!  init / member            scheduler (active, own context)        activity thread
//!   |-- admit(tcb, act) ------->| makes a SchedContext, badged with the  |
//!   |<------------ () ----------|  activity; splits the activity's budget|
//!   |                           |  among its threads; binds; is the      |
//!   |                           |  thread's timeout endpoint             |
//!   |                           |<---------- timeout fault (badge) ------| budget spent
//!   |                           |-- reply (resume next period) --------->|
//!  top (usage right)            |                                        |
//!   |-- usage(act) ------------>| Consumed of each context, summed      |
//!   |<------- Usage ------------|                                        |
//!  top (usage right)            |                                        |
//!   |-- attribution(act) ------>| its use, and the records of each       |
//!   |<---- Attribution ---------|  server added (Accounting record)       |
//!  admin (ADMIN)                |                                        |
//!   |-- set_entitlement ------->| reconfigures the contexts; holds from  |
//!   |<------------ () ----------|  the next period                       |
//! ```

use crate::badge::{ActivityId, ClientBadge, ClientId, Rights};
use crate::cap::{Endpoint, Tcb};
use crate::protocol;
use zerocopy::{Immutable, IntoBytes, KnownLayout, TryFromBytes};

/// The right to read an activity's use (protocol right 0).
pub const USAGE: Rights = match Rights::protocol(0) {
    Some(r) => r,
    None => Rights::NONE,
};

/// What the scheduler server reports of one activity.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, TryFromBytes, KnownLayout, Immutable,
)]
pub struct Usage {
    /// CPU time its threads have used since they were admitted, in
    /// microseconds: every `Consumed` read and every timeout fault's
    /// consumed word, summed.
    pub consumed_us: u64,
    /// Its entitlement: microseconds of CPU per period, for all its threads.
    pub budget_us: u32,
    /// Its period, in microseconds.
    pub period_us: u32,
    /// Threads admitted.
    pub threads: u32,
    /// Timeout faults its threads raised (one per spent budget).
    pub timeouts: u32,
}

/// Servers whose records the scheduler server reads.
pub const MAX_SERVERS: usize = 8;

/// Where an activity's CPU went: in its own threads and at each server the
/// scheduler server reads the records of (in the order they were added).
/// For activity 0 the server columns are each server's overhead, its work
/// for no activity, and `consumed_us` the counter's reading, so that
/// elapsed time less every activity's use and the overheads is the
/// kernel's and idle time.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, TryFromBytes, KnownLayout, Immutable,
)]
pub struct Attribution {
    /// Its contexts' `Consumed`, summed since they were admitted, µs (as
    /// [`Usage::consumed_us`]); for activity 0, the counter's reading.
    pub consumed_us: u64,
    /// Of that, the time in its own threads: its use less its time at the
    /// passive servers, which ran on its contexts; µs.
    pub direct_us: u64,
    /// Counter ticks each server spent for it (their records).
    pub server_ticks: [u64; MAX_SERVERS],
    /// Its requests each server served.
    pub server_requests: [u64; MAX_SERVERS],
    /// Servers reported (columns past this are zero).
    pub servers: u32,
    /// Bit `i` set: server `i` runs on the activities' contexts (its ticks
    /// are inside `consumed_us`).
    pub passive: u32,
}

protocol! {
    /// A client of the scheduler server.
    protocol Scheduler {
        id: 3,
        version: 1,
        client: SchedulerClient,
        server: SchedulerServer,
        error: SchedulerError {
            /// No activity has that number.
            NoSuchActivity = 1,
            /// The server keeps as many servers' records as it can
            /// ([`MAX_SERVERS`]), or a server did not answer for its records.
            Records = 6,
            /// The activity's budget, divided among one more thread, would
            /// fall under the kernel's smallest budget; or the server has
            /// no room for another scheduling context.
            TooManyThreads = 2,
            /// A budget of 0, above its period, or more than the core can
            /// give with the other activities' entitlements.
            BadEntitlement = 3,
            /// Only a caller with the admin right admits threads to another
            /// activity than its own.
            NotYourActivity = 4,
            /// The kernel refused an operation on the thread or a context.
            Kernel = 5,
        },
        ops: {
            /// Admits thread `tcb` (without a scheduling context) to
            /// `activity`: it gets a context of its own, badged with the
            /// activity, holding its part of the activity's budget.
            1 => admit(cap tcb: Tcb, fixed activity: u16) -> fixed ();
            /// The CPU use of `activity` (needs the [`USAGE`] right).
            2 => usage(fixed activity: u16) -> fixed Usage;
            /// Gives `activity` `budget_us` every `period_us` from its next
            /// period on.
            3 => set_entitlement(fixed activity: u16, fixed budget_us: u32, fixed period_us: u32)
                requires ADMIN -> fixed ();
            /// Adds the server at `endpoint` (a cap whose badge carries the
            /// accounting usage right) to those whose records the server
            /// reads; `passive` nonzero when its work runs on the
            /// activities' own contexts (a passive server their threads
            /// call; not one behind an active server, which runs on that
            /// server's). Returns its column in [`Attribution`].
            4 => add_server(cap endpoint: Endpoint, fixed passive: u8) requires ADMIN -> fixed u16;
            /// Where `activity`'s CPU went (needs the [`USAGE`] right).
            5 => attribution(fixed activity: u16) -> fixed Attribution;
            /// Lets `activity`, whose threads run at `priority` (each
            /// thread's own maximum controlled priority at least that),
            /// run past its entitlement when the CPU is otherwise idle:
            /// a thread whose budget is spent goes on, until its next
            /// refill, on a background context at [`LEND_PRIORITY`].
            6 => lend_when_idle(fixed activity: u16, fixed priority: u8) requires ADMIN -> fixed ();
        }
    }
}

/// Percent of one core kept back from the activities for the kernel (timer
/// interrupts, IPC, fault delivery) and the servers that run on budgets of
/// their own, the scheduler server among them: entitlements together may
/// have the rest, [`ACTIVITY_LIMIT_PERCENT`].
pub const RESERVED_PERCENT: u32 = 10;
/// The most the activities' entitlements may add up to, in percent of a core.
pub const ACTIVITY_LIMIT_PERCENT: u32 = 100 - RESERVED_PERCENT;

/// log2 of the untyped init gives the scheduler server for the scheduling
/// contexts it makes (64 KiB: 128 contexts of 512 bytes).
pub const UNTYPED_BITS: u8 = 16;
/// Spare slots init gives the scheduler server, for its contexts and the
/// thread caps it keeps.
pub const SPARE_SLOTS: u64 = 160;

/// The priority a thread of an activity that may exceed its entitlement
/// runs at on its background context: the lowest, below every program, so
/// it gets only time nothing else wants.
pub const LEND_PRIORITY: u8 = 0;

/// The bit of a context badge's client number that marks a thread's
/// background context (see [`lend_badge`]).
pub const LEND_CLIENT_BIT: u16 = 1 << 15;

/// The badge of the background context of thread `thread` of `activity`:
/// its [`context_badge`] with [`LEND_CLIENT_BIT`] in the client number, so
/// its timeout faults name the activity and tell the two contexts apart.
pub fn lend_badge(activity: ActivityId, thread: u16) -> u64 {
    let client = (thread.saturating_add(1) & !LEND_CLIENT_BIT) | LEND_CLIENT_BIT;
    let client = ClientId::new(client).unwrap_or(ClientId::MAX);
    ClientBadge::new(client, activity, Rights::NONE).bits()
}

/// The thread number and whether it is the background context, of a
/// context badge ([`context_badge`] or [`lend_badge`]).
pub fn badge_thread(badge: u64) -> Option<(u16, bool)> {
    let client = ClientBadge::from_bits(badge).ok()?.client().get();
    let lent = client & LEND_CLIENT_BIT != 0;
    Some(((client & !LEND_CLIENT_BIT).checked_sub(1)?, lent))
}

/// The badge of the scheduler server's endpoint cap that activity threads'
/// timeout faults come through: a reserved bit of the endpoint layout, so it
/// names no client and no client's cap ever carries it.
pub const TIMEOUT_FAULT_BADGE: u64 = 1 << 40;

/// The badge of the scheduling context of thread `thread` (0, 1, ...) of
/// `activity`, which its timeout faults carry: a client badge whose client
/// is `thread + 1` and whose activity is the activity's.
pub fn context_badge(activity: ActivityId, thread: u16) -> u64 {
    let client = ClientId::new(thread.saturating_add(1)).unwrap_or(ClientId::MAX);
    ClientBadge::new(client, activity, Rights::NONE).bits()
}

/// The activity a context badge names (see [`context_badge`]).
pub fn badge_activity(badge: u64) -> Option<ActivityId> {
    ClientBadge::from_bits(badge).ok().map(|b| b.activity())
}
