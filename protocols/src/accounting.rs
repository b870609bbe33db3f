//! Consumption records, kept the same way by every server: per activity, the
//! requests served and the counter ticks spent on them (instructions under
//! QEMU `-icount`), so that a request that passes through a chain of
//! servers is charged to the activity its badge, or a relaying caller,
//! names at every hop (Vortex's attribution, built by user-level servers).
//! The [`Accounting`](AccountingServer) protocol reads them back, one
//! record at a time, for a caller with the [`USAGE`] right: the scheduler
//! server, which adds them to what the kernel's `Consumed` tells it.
//!
//! ```text
//!  client (activity 2)     server A                server B (relay right)
//!   |-- Call work -------->| meter.start            |
//!   |                      | ... own work, laps ... |
//!   |                      | meter.pause            |
//!   |                      |-- Call work (on behalf of 2) -->| records 2
//!   |                      |<-------------- reply -----------|
//!   |                      | meter.resume, work, stop: charge(2, ticks)
//!   |<------- reply -------|
//!  scheduler (USAGE)       |
//!   |-- record(i) -------->| row i of the ledger (row 0: overhead)
//! ```
//!
//! A passive server runs on its caller's donated context, which a budget
//! running out can stop in the middle of a request while other activities
//! run: the counter goes on meanwhile. A [`Meter`] therefore counts the
//! time between laps (points the server passes often, in its work) and
//! takes a lap longer than its gap for one the thread was away during,
//! counting the lap before in its place.

use crate::badge::{ActivityId, Rights};
use crate::protocol;
use crate::server::Caller;
use core::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use zerocopy::{Immutable, IntoBytes, KnownLayout, TryFromBytes};

/// The right to read a server's records (protocol right 0).
pub const USAGE: Rights = match Rights::protocol(0) {
    Some(r) => r,
    None => Rights::NONE,
};

/// The activity a request is charged to, from what arrived in registers:
/// its badge's, or, when its label is relayed, the one word 0 names, which
/// only a caller whose badge carries the relay right may name. `None` for
/// a badge that is no client's, or a relay without the right.
pub fn charged_activity(badge: u64, label: u64, word0: u64) -> Option<ActivityId> {
    let badge = crate::ClientBadge::from_bits(badge).ok()?;
    if !crate::wire::Label::split(label).relayed {
        return Some(badge.activity());
    }
    let named = u16::try_from(word0).ok()?;
    badge
        .rights()
        .contains(Rights::RELAY)
        .then_some(ActivityId(named))
}

/// Counter ticks per microsecond under QEMU `-icount` (one instruction a
/// nanosecond; the counter counts instructions), to set records beside the
/// kernel's `Consumed`.
pub const TICKS_PER_US: u64 = 1000;

/// What a server spent for one activity (or, in row 0, for none).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, TryFromBytes, KnownLayout, Immutable,
)]
pub struct Record {
    /// Counter ticks spent (instructions under `-icount`).
    pub ticks: u64,
    /// Requests served.
    pub requests: u64,
    /// The activity; 0 in row 0, the server's work for no activity.
    pub activity: u16,
    /// Zero.
    pub reserved: [u8; 6],
}

protocol! {
    /// A client of any server's consumption records.
    protocol Accounting {
        id: 6,
        version: 1,
        client: AccountingClient,
        server: AccountingServer,
        error: AccountingError {
            /// The ledger has no row of that number.
            NoSuchRecord = 1,
        },
        ops: {
            /// Row `index` of the server's ledger: row 0 is its overhead,
            /// rows 1.. one activity each, in the order first charged
            /// (needs the [`USAGE`] right).
            1 => record(fixed index: u16) -> fixed Record;
        }
    }
}

/// A server's records: its overhead and up to `N` activities. An activity
/// past `N` is charged to the overhead row, so nothing is lost or counted
/// twice and the ledger never grows.
#[derive(Clone, Debug, Default)]
pub struct Ledger<const N: usize> {
    overhead: Record,
    rows: heapless::Vec<Record, N>,
}

impl<const N: usize> Ledger<N> {
    /// An empty ledger.
    pub const fn new() -> Self {
        Ledger {
            overhead: Record {
                ticks: 0,
                requests: 0,
                activity: 0,
                reserved: [0; 6],
            },
            rows: heapless::Vec::new(),
        }
    }

    /// Charges one request of `ticks` to `activity` (activity 0, or one
    /// past the ledger's room, to the overhead row).
    pub fn charge(&mut self, activity: ActivityId, ticks: u64) {
        let row = match self.rows.iter().position(|r| r.activity == activity.0) {
            Some(i) => &mut self.rows[i],
            None if activity.0 != 0 && !self.rows.is_full() => {
                let _ = self.rows.push(Record {
                    activity: activity.0,
                    ..Record::default()
                });
                let last = self.rows.len() - 1;
                &mut self.rows[last]
            }
            None => &mut self.overhead,
        };
        row.ticks = row.ticks.saturating_add(ticks);
        row.requests = row.requests.saturating_add(1);
    }

    /// Adds `ticks` of work for no activity (no request counted).
    pub fn overhead(&mut self, ticks: u64) {
        self.overhead.ticks = self.overhead.ticks.saturating_add(ticks);
    }

    /// Row `index` (0: the overhead).
    pub fn row(&self, index: u16) -> Option<Record> {
        match index {
            0 => Some(self.overhead),
            i => self.rows.get(usize::from(i) - 1).copied(),
        }
    }

    /// `activity`'s record (an empty one when it was never charged).
    pub fn of(&self, activity: ActivityId) -> Record {
        self.rows
            .iter()
            .find(|r| r.activity == activity.0)
            .copied()
            .unwrap_or(Record {
                activity: activity.0,
                ..Record::default()
            })
    }

    /// Every row's ticks, summed.
    pub fn total(&self) -> u64 {
        self.rows
            .iter()
            .fold(self.overhead.ticks, |t, r| t.saturating_add(r.ticks))
    }
}

impl<const N: usize> AccountingServer for Ledger<N> {
    fn record(&mut self, caller: &Caller, index: u16) -> Result<Record, AccountingError> {
        caller.require(USAGE)?;
        self.row(index).ok_or(AccountingError::NoSuchRecord)
    }
}

/// A ledger that the threads of one server share (several passive threads
/// receiving on one endpoint, so that a request stuck on a caller's spent
/// budget holds one thread and not the server): rows are claimed and added
/// to with atomic operations, so no lock is held across a preemption. A
/// row's ticks and requests are each exact; a reader may see one request's
/// ticks before its count.
pub struct SharedLedger<const N: usize> {
    overhead: Row,
    rows: [Row; N],
}

struct Row {
    activity: AtomicU16,
    ticks: AtomicU64,
    requests: AtomicU64,
}

impl Row {
    const fn new() -> Row {
        Row {
            activity: AtomicU16::new(0),
            ticks: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        }
    }

    fn add(&self, ticks: u64, requests: u64) {
        self.ticks.fetch_add(ticks, Ordering::Relaxed);
        self.requests.fetch_add(requests, Ordering::Relaxed);
    }

    fn read(&self) -> Record {
        Record {
            ticks: self.ticks.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            activity: self.activity.load(Ordering::Acquire),
            reserved: [0; 6],
        }
    }
}

impl<const N: usize> SharedLedger<N> {
    /// An empty ledger.
    pub const fn new() -> Self {
        SharedLedger {
            overhead: Row::new(),
            rows: [const { Row::new() }; N],
        }
    }

    /// As [`Ledger::charge`], from any of the server's threads.
    pub fn charge(&self, activity: ActivityId, ticks: u64) {
        self.row_for(activity).add(ticks, 1);
    }

    /// As [`Ledger::overhead`].
    pub fn overhead(&self, ticks: u64) {
        self.overhead.add(ticks, 0);
    }

    /// The row of `activity`, claimed when it has none (the overhead row
    /// for activity 0 or when every row is taken).
    fn row_for(&self, activity: ActivityId) -> &Row {
        if activity.0 == 0 {
            return &self.overhead;
        }
        for row in &self.rows {
            match row
                .activity
                .compare_exchange(0, activity.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return row,
                Err(a) if a == activity.0 => return row,
                Err(_) => {}
            }
        }
        &self.overhead
    }

    /// Row `index` (0: the overhead; rows claimed in order, so the first
    /// unclaimed one ends the ledger).
    pub fn row(&self, index: u16) -> Option<Record> {
        match index {
            0 => Some(self.overhead.read()),
            i => self
                .rows
                .get(usize::from(i) - 1)
                .map(Row::read)
                .filter(|r| r.activity != 0),
        }
    }
}

impl<const N: usize> Default for SharedLedger<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> AccountingServer for &SharedLedger<N> {
    fn record(&mut self, caller: &Caller, index: u16) -> Result<Record, AccountingError> {
        caller.require(USAGE)?;
        self.row(index).ok_or(AccountingError::NoSuchRecord)
    }
}

/// Times one request on the architecture's counter, leaving out the time
/// its thread was away (see the module doc) and the time it paused for
/// (calls to the next server, which keeps its own records).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meter {
    gap: u64,
    last: u64,
    lap: u64,
    spent: u64,
}

impl Meter {
    /// Starts at counter value `now`; a lap longer than `gap` ticks is
    /// one the thread was away during.
    pub const fn start(now: u64, gap: u64) -> Meter {
        Meter {
            gap,
            last: now,
            lap: 0,
            spent: 0,
        }
    }

    /// A lap ends at `now`: its ticks count, or, past the gap, the lap
    /// before's do in its place.
    pub fn lap(&mut self, now: u64) {
        let ticks = now.saturating_sub(self.last);
        if ticks <= self.gap {
            self.lap = ticks;
        }
        self.spent = self.spent.saturating_add(self.lap);
        self.last = now;
    }

    /// Stops counting at `now` (before a call to another server).
    pub fn pause(&mut self, now: u64) {
        self.lap(now);
    }

    /// Counts again from `now` (the call answered).
    pub fn resume(&mut self, now: u64) {
        self.last = now;
    }

    /// The ticks spent so far.
    pub const fn spent(&self) -> u64 {
        self.spent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback::Loopback;
    use crate::wire::{Incoming, OutMessage};
    use crate::{ClientBadge, ClientId, RpcError, Service};

    fn badge(rights: Rights) -> u64 {
        ClientBadge::new(ClientId::new(3).unwrap(), ActivityId(0), rights).bits()
    }

    #[test]
    fn requests_go_to_their_activity_and_overflow_to_overhead() {
        let mut l: Ledger<2> = Ledger::new();
        l.charge(ActivityId(5), 100);
        l.charge(ActivityId(2), 30);
        l.charge(ActivityId(5), 50);
        l.charge(ActivityId(9), 7);
        l.charge(ActivityId(0), 1);
        l.overhead(2);
        assert_eq!(
            (l.of(ActivityId(5)).ticks, l.of(ActivityId(5)).requests),
            (150, 2)
        );
        assert_eq!(l.row(1).map(|r| r.activity), Some(5));
        assert_eq!(l.row(2).map(|r| r.activity), Some(2));
        assert_eq!(l.row(3), None);
        let o = l.row(0).unwrap();
        assert_eq!((o.ticks, o.requests, o.activity), (10, 2, 0));
        assert_eq!(l.total(), 190);
        assert_eq!(l.of(ActivityId(9)).ticks, 0);
    }

    #[test]
    fn a_relayed_activity_needs_the_relay_right() {
        use crate::wire::Header;
        let label = |relay| {
            Header {
                protocol: 9,
                version: 1,
                op: 1,
                relay,
            }
            .label()
        };
        let from =
            |rights| ClientBadge::new(ClientId::new(3).unwrap(), ActivityId(4), rights).bits();
        let relayed = label(Some(ActivityId(7)));
        assert_eq!(
            charged_activity(from(Rights::NONE), label(None), 7),
            Some(ActivityId(4))
        );
        assert_eq!(
            charged_activity(from(Rights::RELAY), relayed, 7),
            Some(ActivityId(7))
        );
        assert_eq!(charged_activity(from(Rights::NONE), relayed, 7), None);
        assert_eq!(
            charged_activity(from(Rights::RELAY), relayed, 1 << 20),
            None
        );
        assert_eq!(charged_activity(0, label(None), 0), None);
    }

    #[test]
    fn a_shared_ledger_keeps_what_a_ledger_keeps() {
        let shared: SharedLedger<2> = SharedLedger::new();
        let mut plain: Ledger<2> = Ledger::new();
        for (a, t) in [(5, 100), (2, 30), (5, 50), (9, 7), (0, 1)] {
            shared.charge(ActivityId(a), t);
            plain.charge(ActivityId(a), t);
        }
        shared.overhead(2);
        plain.overhead(2);
        for i in 0..4 {
            assert_eq!(shared.row(i), plain.row(i), "row {i}");
        }
    }

    #[test]
    fn a_meter_leaves_out_pauses_and_time_away() {
        let mut m = Meter::start(1000, 50);
        m.lap(1010);
        m.lap(1030);
        m.pause(1040);
        m.resume(5000);
        m.lap(5020);
        // Away for 4000 ticks: counted as the lap before (20).
        m.lap(9020);
        m.lap(9025);
        assert_eq!(m.spent(), 10 + 20 + 10 + 20 + 20 + 5);
    }

    #[test]
    fn records_are_read_with_the_usage_right_only() {
        let mut l: Ledger<4> = Ledger::new();
        l.charge(ActivityId(7), 42);
        let serve = |l: &mut Ledger<4>, b| {
            let link = Loopback::new(
                b,
                |request: &Incoming, reply: &mut OutMessage| {
                    Serving(&mut *l).handle(request, reply)
                },
                |_| None,
            );
            let mut c = AccountingClient::new(link);
            (c.record(1), c.record(0), c.record(2))
        };
        let (one, zero, two) = serve(&mut l, badge(USAGE));
        assert_eq!(
            one.map(|r| (r.activity, r.ticks, r.requests)),
            Ok((7, 42, 1))
        );
        assert_eq!(zero.map(|r| r.activity), Ok(0));
        assert_eq!(two, Err(AccountingError::NoSuchRecord));
        let (refused, _, _) = serve(&mut l, badge(Rights::NONE));
        assert_eq!(
            refused,
            Err(AccountingError::Rpc(RpcError::NoRight { needed: USAGE }))
        );
    }
}
