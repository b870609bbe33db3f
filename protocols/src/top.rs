//! The activity table that the `top` app (apps/top) and the shell's `top`
//! command print. [`Snapshot::take`] reads the scheduler server, with the
//! usage right, through any [`Transport`]: every activity's entitlement and
//! use ([`usage`](crate::scheduler::SchedulerClient::usage)) and where its
//! CPU went ([`attribution`](crate::scheduler::SchedulerClient::attribution)),
//! and, from activity 0, each server's overhead and the counter.
//! [`write_table`] turns two snapshots, a window apart, into text: for each
//! activity its entitlement, its share of the core in the window and since
//! boot, and the share of the core each server spent for it in the window.
//!
//! ```text
//! top: window 2, 1000 ms (up 2013 ms)
//! act  entitled  window    boot  thr  at servers (window)
//!   1    50.0%   49.9%   48.7%    1  s0 0.4%  s1 0.0%
//!   2    33.0%   33.1%   32.6%    1  s0 0.2%  s1 0.0%
//! overhead                          s0 0.0%  s1 0.0%
//! ```
//!
//! Shares of the core are in tenths of a percent, computed in integers: an
//! activity's use in µs against the window's length in µs (the timer
//! server's clock), a server's counter ticks against the counter's ticks
//! over the window (both read by the scheduler server).

use core::fmt::{self, Write};

use crate::client::Transport;
use crate::scheduler::{Attribution, SchedulerClient, SchedulerError, Usage, MAX_SERVERS};

/// The most activities a snapshot holds; numbers past it are not asked.
/// A snapshot is some 3 KiB, so that two fit on a small app's stack.
pub const MAX_ACTIVITIES: u16 = 16;

/// One activity as the scheduler server reported it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// Its number.
    pub activity: u16,
    /// Entitlement and use.
    pub usage: Usage,
    /// Where its use went.
    pub attribution: Attribution,
}

/// Every activity at one moment, and the system's row (activity 0: each
/// server's overhead and the counter).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// When it was taken, µs of the clock the caller keeps (the timer
    /// server's, since boot).
    pub at_us: u64,
    /// The activities the scheduler server knows, by number.
    pub activities: heapless::Vec<Sample, { MAX_ACTIVITIES as usize }>,
    /// Activity 0's attribution: `consumed_us` is the counter's reading,
    /// the server columns their overhead.
    pub system: Attribution,
}

impl Snapshot {
    /// Reads activities 1 to [`MAX_ACTIVITIES`] (skipping numbers the
    /// server does not know) and activity 0, at `at_us`.
    ///
    /// # Errors
    /// As [`Snapshot::retake`].
    pub fn take<T: Transport>(
        client: &mut SchedulerClient<T>,
        at_us: u64,
    ) -> Result<Snapshot, SchedulerError> {
        let mut s = Snapshot::default();
        s.retake(client, at_us)?;
        Ok(s)
    }

    /// As [`Snapshot::take`], in place (no copy of a snapshot on the
    /// stack).
    ///
    /// # Errors
    /// The server's error other than `NoSuchActivity` (no usage right, no
    /// answer from a server it reads the records of).
    pub fn retake<T: Transport>(
        &mut self,
        client: &mut SchedulerClient<T>,
        at_us: u64,
    ) -> Result<(), SchedulerError> {
        let s = self;
        s.at_us = at_us;
        s.activities.clear();
        s.system = client.attribution(0)?;
        for activity in 1..=MAX_ACTIVITIES {
            let usage = match client.usage(activity) {
                Ok(u) => u,
                Err(SchedulerError::NoSuchActivity) => continue,
                Err(e) => return Err(e),
            };
            let attribution = client.attribution(activity)?;
            // Room for every number asked.
            let _ = s.activities.push(Sample {
                activity,
                usage,
                attribution,
            });
        }
        Ok(())
    }

    fn sample(&self, activity: u16) -> Option<&Sample> {
        self.activities.iter().find(|s| s.activity == activity)
    }
}

/// `part` of `whole` in tenths of a percent (0 for an empty whole).
pub fn permille(part: u64, whole: u64) -> u64 {
    match whole {
        0 => 0,
        w => u64::try_from(u128::from(part) * 1000 / u128::from(w)).unwrap_or(u64::MAX),
    }
}

/// `value` (tenths of a percent) as `49.9%`, right-aligned in `width`.
struct Percent(u64);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text: heapless::String<24> = heapless::String::new();
        write!(text, "{}.{}%", self.0 / 10, self.0 % 10)?;
        f.pad(&text)
    }
}

/// The share of the core each server spent in the window: `now`'s ticks
/// against `before`'s, over `ticks` of the counter.
fn write_servers(
    out: &mut impl Write,
    servers: u32,
    now: &[u64; MAX_SERVERS],
    before: &[u64; MAX_SERVERS],
    ticks: u64,
) -> fmt::Result {
    let n = (servers as usize).min(MAX_SERVERS);
    for i in 0..n {
        let spent = now[i].saturating_sub(before[i]);
        write!(out, "  s{i} {}", Percent(permille(spent, ticks)))?;
    }
    if n == 0 {
        out.write_str("  -")?;
    }
    Ok(())
}

/// Writes window `window`'s table, from snapshot `before` to `now`; the
/// share since boot is each activity's use over `now.at_us`.
///
/// # Errors
/// `out`'s.
pub fn write_table(
    out: &mut impl Write,
    window: u32,
    before: &Snapshot,
    now: &Snapshot,
) -> fmt::Result {
    let span_us = now.at_us.saturating_sub(before.at_us);
    let ticks = now
        .system
        .consumed_us
        .saturating_sub(before.system.consumed_us);
    writeln!(
        out,
        "top: window {window}, {} ms (up {} ms)",
        span_us / 1000,
        now.at_us / 1000
    )?;
    writeln!(
        out,
        "act  entitled  window    boot  thr  at servers (window)"
    )?;
    let empty = Sample::default();
    for s in &now.activities {
        let b = before.sample(s.activity).unwrap_or(&empty);
        let u = &s.usage;
        let entitled = permille(u.budget_us.into(), u.period_us.into());
        let window_use = u.consumed_us.saturating_sub(b.usage.consumed_us);
        write!(
            out,
            "{:>3}  {:>8}  {:>6}  {:>6}  {:>3}",
            s.activity,
            Percent(entitled),
            Percent(permille(window_use, span_us)),
            Percent(permille(u.consumed_us, now.at_us)),
            u.threads
        )?;
        let a = &s.attribution;
        write_servers(
            out,
            a.servers,
            &a.server_ticks,
            &b.attribution.server_ticks,
            ticks,
        )?;
        writeln!(out)?;
    }
    write!(out, "overhead{:>26}", "")?;
    write_servers(
        out,
        now.system.servers,
        &now.system.server_ticks,
        &before.system.server_ticks,
        ticks,
    )?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::badge::{ActivityId, ClientBadge, ClientId, Rights};
    use crate::cap::{Endpoint, Granted, Tcb};
    use crate::loopback::Loopback;
    use crate::scheduler::{dispatch, SchedulerServer, USAGE};
    use crate::server::Caller;
    use crate::wire::{Incoming, OutMessage};
    use std::string::String;

    fn sample(activity: u16, budget_us: u32, consumed_us: u64, ticks: u64) -> Sample {
        let mut attribution = Attribution {
            consumed_us,
            servers: 2,
            ..Attribution::default()
        };
        attribution.server_ticks[0] = ticks;
        Sample {
            activity,
            usage: Usage {
                consumed_us,
                budget_us,
                period_us: 10_000,
                threads: 1,
                timeouts: 0,
            },
            attribution,
        }
    }

    fn snapshot(at_us: u64, counter: u64, samples: &[Sample]) -> Snapshot {
        let mut system = Attribution {
            consumed_us: counter,
            servers: 2,
            ..Attribution::default()
        };
        system.server_ticks[1] = counter / 100;
        Snapshot {
            at_us,
            activities: samples.iter().copied().collect(),
            system,
        }
    }

    #[test]
    fn a_window_shows_entitlement_window_and_boot_shares() {
        let before = snapshot(1_000_000, 10_000, &[sample(1, 5000, 400_000, 0)]);
        let now = snapshot(
            2_000_000,
            20_000,
            &[sample(1, 5000, 900_000, 2_000), sample(2, 1700, 170_000, 0)],
        );
        let mut out = String::new();
        write_table(&mut out, 2, &before, &now).unwrap();
        let lines: std::vec::Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "top: window 2, 1000 ms (up 2000 ms)");
        assert_eq!(
            lines[1],
            "act  entitled  window    boot  thr  at servers (window)"
        );
        // 500 ms of 1000 in the window, 900 of 2000 since boot, 2000 of
        // the window's 10000 ticks at server 0.
        assert_eq!(
            lines[2],
            "  1     50.0%   50.0%   45.0%    1  s0 20.0%  s1 0.0%"
        );
        // New in this window: all its use counts.
        assert_eq!(
            lines[3],
            "  2     17.0%   17.0%    8.5%    1  s0 0.0%  s1 0.0%"
        );
        assert_eq!(
            lines[4],
            "overhead                            s0 0.0%  s1 1.0%"
        );
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn empty_windows_and_no_servers_divide_by_nothing() {
        let s = snapshot(0, 0, &[sample(3, 1000, 0, 0)]);
        let mut s = s;
        s.activities[0].attribution.servers = 0;
        s.system.servers = 0;
        let mut out = String::new();
        write_table(&mut out, 1, &s, &s).unwrap();
        assert!(
            out.contains("  3     10.0%    0.0%    0.0%    1  -\n"),
            "{out}"
        );
        assert!(
            out.ends_with("overhead                            -\n"),
            "{out}"
        );
        assert_eq!(permille(5, 0), 0);
        assert_eq!(permille(u64::MAX, u64::MAX), 1000);
    }

    /// A scheduler server that knows activities 2 and 5.
    struct Known;

    impl SchedulerServer for Known {
        fn admit(&mut self, _: &Caller, _: Granted<Tcb>, _: u16) -> Result<(), SchedulerError> {
            Err(SchedulerError::Kernel)
        }

        fn usage(&mut self, caller: &Caller, activity: u16) -> Result<Usage, SchedulerError> {
            caller.require(USAGE)?;
            match activity {
                2 | 5 => Ok(sample(activity, 1000, u64::from(activity) * 7, 0).usage),
                _ => Err(SchedulerError::NoSuchActivity),
            }
        }

        fn set_entitlement(
            &mut self,
            _: &Caller,
            _: u16,
            _: u32,
            _: u32,
        ) -> Result<(), SchedulerError> {
            Err(SchedulerError::Kernel)
        }

        fn add_server(
            &mut self,
            _: &Caller,
            _: Granted<Endpoint>,
            _: u8,
        ) -> Result<u16, SchedulerError> {
            Err(SchedulerError::Kernel)
        }

        fn lend_when_idle(&mut self, _: &Caller, _: u16, _: u8) -> Result<(), SchedulerError> {
            Err(SchedulerError::Kernel)
        }

        fn attribution(
            &mut self,
            caller: &Caller,
            activity: u16,
        ) -> Result<Attribution, SchedulerError> {
            caller.require(USAGE)?;
            match activity {
                0 | 2 | 5 => Ok(sample(activity, 0, 99, u64::from(activity)).attribution),
                _ => Err(SchedulerError::NoSuchActivity),
            }
        }
    }

    fn take(rights: Rights) -> Result<Snapshot, SchedulerError> {
        let badge = ClientBadge::new(ClientId::new(1).unwrap(), ActivityId(0), rights).bits();
        let mut server = Known;
        let link = Loopback::new(
            badge,
            |request: &Incoming, reply: &mut OutMessage| dispatch(&mut server, request, reply),
            |_| None,
        );
        Snapshot::take(&mut SchedulerClient::new(link), 77)
    }

    #[test]
    fn a_snapshot_holds_the_activities_the_server_knows() {
        let s = take(USAGE).unwrap();
        assert_eq!(s.at_us, 77);
        let numbers: std::vec::Vec<u16> = s.activities.iter().map(|a| a.activity).collect();
        assert_eq!(numbers, [2, 5]);
        assert_eq!(s.activities[1].usage.consumed_us, 35);
        assert_eq!(s.activities[1].attribution.server_ticks[0], 5);
        assert_eq!(s.system.consumed_us, 99);
        assert!(matches!(take(Rights::NONE), Err(SchedulerError::Rpc(_))));
    }
}
