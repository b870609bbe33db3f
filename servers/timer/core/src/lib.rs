//! The timer server's logic, apart from the system calls so that it runs
//! under `cargo test`: the program drives it from its hardware timer's
//! interrupt and answers its clients' requests with it ([`service`], the
//! Timer protocol of keel-protocols over the table below).
//!
//! Each client has up to [`TIMEOUTS_PER_CLIENT`] timeouts, numbered 0 to
//! 63; each is one-shot or periodic, with a deadline in nanoseconds of the
//! server's clock. When timeouts expire, [`Timeouts::expire`] names the
//! clients to signal (one signal each, however many of theirs expired) and
//! keeps each client's expired numbers as a bit mask until it takes them
//! with [`Timeouts::take_expired`], as seL4's timer servers do. A periodic
//! timeout is re-armed one period on, skipping periods already past (it
//! never fires twice for one expiry). A client's timeouts die with it
//! ([`Timeouts::remove_client`]). Nothing a client asks makes the table
//! grow past its limit or the server panic.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod clock;
pub mod service;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

/// A client, as the server knows it (its badge's client number).
pub type Client = u64;

/// The most timeouts one client may have set at once.
pub const TIMEOUTS_PER_CLIENT: usize = 16;

/// A timeout's number: which bit of the client's expired mask it sets.
pub const TIMEOUT_NUMBERS: u8 = 64;

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerError {
    /// The timeout number is 64 or more.
    BadNumber,
    /// A periodic timeout with a period of 0.
    ZeroPeriod,
    /// The client has [`TIMEOUTS_PER_CLIENT`] timeouts set already.
    TooMany,
    /// No timeout of that number is set.
    NotSet,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    deadline: u64,
    period: Option<u64>,
}

/// Every client's timeouts.
#[derive(Default)]
pub struct Timeouts {
    entries: BTreeMap<(Client, u8), Entry>,
    by_deadline: BTreeSet<(u64, Client, u8)>,
    expired: BTreeMap<Client, u64>,
}

impl Timeouts {
    /// No timeouts.
    pub fn new() -> Timeouts {
        Timeouts::default()
    }

    /// Sets `client`'s timeout `number` to expire at `deadline` (ns), then
    /// every `period` ns if one is given; a timeout of that number already
    /// set is replaced. A deadline already past expires at the next
    /// [`Timeouts::expire`].
    ///
    /// # Errors
    /// `BadNumber`, `ZeroPeriod`, or `TooMany` for a new number past the
    /// client's limit.
    pub fn set(
        &mut self,
        client: Client,
        number: u8,
        deadline: u64,
        period: Option<u64>,
    ) -> Result<(), TimerError> {
        if number >= TIMEOUT_NUMBERS {
            return Err(TimerError::BadNumber);
        }
        if period == Some(0) {
            return Err(TimerError::ZeroPeriod);
        }
        let replacing = self.entries.contains_key(&(client, number));
        if !replacing && self.count(client) >= TIMEOUTS_PER_CLIENT {
            return Err(TimerError::TooMany);
        }
        if replacing {
            self.unlink(client, number);
        }
        self.entries
            .insert((client, number), Entry { deadline, period });
        self.by_deadline.insert((deadline, client, number));
        Ok(())
    }

    /// Cancels `client`'s timeout `number`.
    ///
    /// # Errors
    /// `BadNumber`; `NotSet` when no such timeout is set.
    pub fn cancel(&mut self, client: Client, number: u8) -> Result<(), TimerError> {
        if number >= TIMEOUT_NUMBERS {
            return Err(TimerError::BadNumber);
        }
        if !self.entries.contains_key(&(client, number)) {
            return Err(TimerError::NotSet);
        }
        self.unlink(client, number);
        Ok(())
    }

    /// Drops every timeout of `client` (it died) and what had expired for
    /// it; returns how many timeouts were set.
    pub fn remove_client(&mut self, client: Client) -> usize {
        let numbers: Vec<u8> = self
            .entries
            .range((client, 0)..=(client, u8::MAX))
            .map(|(&(_, n), _)| n)
            .collect();
        for &n in &numbers {
            self.unlink(client, n);
        }
        self.expired.remove(&client);
        numbers.len()
    }

    /// How many timeouts `client` has set.
    pub fn count(&self, client: Client) -> usize {
        self.entries.range((client, 0)..=(client, u8::MAX)).count()
    }

    /// The earliest deadline set, for the hardware timer.
    pub fn next_deadline(&self) -> Option<u64> {
        self.by_deadline.first().map(|&(d, _, _)| d)
    }

    /// Expires every timeout whose deadline is at or before `now`: one-shot
    /// ones are dropped, periodic ones re-armed at their first deadline
    /// after `now`. Returns the clients to signal, each once, in order.
    pub fn expire(&mut self, now: u64) -> Vec<Client> {
        let mut signal = Vec::new();
        while let Some(&(deadline, client, number)) = self.by_deadline.first() {
            if deadline > now {
                break;
            }
            self.by_deadline.pop_first();
            let entry = self.entries[&(client, number)];
            match entry.period {
                Some(period) => {
                    // The first deadline after `now`: skipped periods do not fire.
                    let next = deadline + period * ((now - deadline) / period + 1);
                    self.entries.insert(
                        (client, number),
                        Entry {
                            deadline: next,
                            ..entry
                        },
                    );
                    self.by_deadline.insert((next, client, number));
                }
                None => {
                    self.entries.remove(&(client, number));
                }
            }
            let bits = self.expired.entry(client).or_insert(0);
            if *bits == 0 && !signal.contains(&client) {
                signal.push(client);
            }
            *bits |= 1 << number;
        }
        signal
    }

    /// The numbers of `client`'s timeouts that expired since it last asked,
    /// as a bit mask; clears them.
    pub fn take_expired(&mut self, client: Client) -> u64 {
        self.expired.remove(&client).unwrap_or(0)
    }

    fn unlink(&mut self, client: Client, number: u8) {
        if let Some(e) = self.entries.remove(&(client, number)) {
            self.by_deadline.remove(&(e.deadline, client, number));
        }
    }
}

#[cfg(test)]
mod tests;
