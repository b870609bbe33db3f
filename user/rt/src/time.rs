//! Time through the timer server (keel-timer, the Timer protocol of
//! keel-protocols): [`Timer`] is a client's connection, holding the
//! notification the server signals, with [`Timer::sleep`] and
//! [`Timer::sleep_until`] a [`Deadline`]. Time is the server's clock, in
//! nanoseconds since it started; under QEMU's `-icount` it follows the
//! guest's instructions, so a sleep is exact to the device's tick.
//!
//! ```ignore
//! let mut timer = Timer::new(endpoint, notification)?;
//! timer.sleep(Duration::from_millis(5))?;
//! let deadline = Deadline::after(&mut timer, Duration::from_millis(20))?;
//! while !deadline.has_passed(&mut timer)? { /* work */ }
//! ```
//!
//! A sleep uses the client's timeout [`SLEEP_TIMEOUT`]; the client's other
//! timeouts (set through [`Timer::client`]) that expire meanwhile are kept
//! for [`Timer::take_expired`].

use core::time::Duration;
use keel_protocols::cap::Grant;
use keel_protocols::sys::EndpointClient;
use keel_protocols::timer::{TimerClient, TimerError};
use keel_sys::cap::{Endpoint, Notification};
use keel_sys::Cap;

/// The timeout number a sleep uses.
pub const SLEEP_TIMEOUT: u8 = 63;

/// A point in the timer server's time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline {
    ns: u64,
}

impl Deadline {
    /// `ns` nanoseconds of the server's clock.
    pub const fn at_ns(ns: u64) -> Deadline {
        Deadline { ns }
    }

    /// `duration` from the server's now (saturating).
    ///
    /// # Errors
    /// The server's, when it cannot be asked the time.
    pub fn after(timer: &mut Timer, duration: Duration) -> Result<Deadline, TimerError> {
        Ok(Deadline::at_ns(
            timer.now_ns()?.saturating_add(nanos(duration)),
        ))
    }

    /// Its time, in nanoseconds of the server's clock.
    pub const fn ns(self) -> u64 {
        self.ns
    }

    /// True once the server's clock has reached it.
    ///
    /// # Errors
    /// As [`Deadline::after`].
    pub fn has_passed(self, timer: &mut Timer) -> Result<bool, TimerError> {
        Ok(timer.now_ns()? >= self.ns)
    }

    /// How long until it (zero once passed).
    ///
    /// # Errors
    /// As [`Deadline::after`].
    pub fn remaining(self, timer: &mut Timer) -> Result<Duration, TimerError> {
        Ok(Duration::from_nanos(
            self.ns.saturating_sub(timer.now_ns()?),
        ))
    }
}

/// `duration` in nanoseconds, saturating.
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// A connection to the timer server, with the notification it signals.
pub struct Timer {
    client: TimerClient<EndpointClient>,
    notification: Cap<Notification>,
    /// Expiries of other timeouts seen while sleeping.
    pending: u64,
}

impl Timer {
    /// Connects through `endpoint` and hands over `notification` (a copy:
    /// the caller keeps its cap and must not wait on it elsewhere).
    ///
    /// # Errors
    /// The server's refusal (`CannotKeep`), or `Rpc` when it cannot be
    /// reached.
    pub fn new(
        endpoint: Cap<Endpoint>,
        notification: Cap<Notification>,
    ) -> Result<Timer, TimerError> {
        let transport = EndpointClient::new(endpoint, None)?;
        let mut client = TimerClient::new(transport);
        client.notify_with(Grant::new(notification.cptr().bits()))?;
        Ok(Timer {
            client,
            notification,
            pending: 0,
        })
    }

    /// The server's clock, in nanoseconds since it started.
    ///
    /// # Errors
    /// As [`Timer::new`].
    pub fn now_ns(&mut self) -> Result<u64, TimerError> {
        self.client.now()
    }

    /// Waits `duration` of the server's clock.
    ///
    /// # Errors
    /// As [`Timer::sleep_until`].
    pub fn sleep(&mut self, duration: Duration) -> Result<(), TimerError> {
        let deadline = Deadline::after(self, duration)?;
        self.sleep_until(deadline)
    }

    /// Waits until the server's clock reaches `deadline` (returns at once
    /// for one already past, after a round trip).
    ///
    /// # Errors
    /// The server's refusal of the timeout, or `Rpc`.
    pub fn sleep_until(&mut self, deadline: Deadline) -> Result<(), TimerError> {
        self.client.set_timeout(SLEEP_TIMEOUT, deadline.ns, 0)?;
        loop {
            self.notification.wait();
            let expired = self.client.expired()?;
            self.pending |= expired & !(1 << SLEEP_TIMEOUT);
            if expired & (1 << SLEEP_TIMEOUT) != 0 {
                return Ok(());
            }
        }
    }

    /// The client's expired timeouts (a bit mask), those seen while
    /// sleeping included; clears them.
    ///
    /// # Errors
    /// As [`Timer::now_ns`].
    pub fn take_expired(&mut self) -> Result<u64, TimerError> {
        let expired = self.client.expired()? | self.pending;
        self.pending = 0;
        Ok(expired)
    }

    /// The notification the server signals.
    pub fn notification(&self) -> Cap<Notification> {
        self.notification
    }

    /// The protocol's client, for timeouts of the caller's own.
    pub fn client(&mut self) -> &mut TimerClient<EndpointClient> {
        &mut self.client
    }
}
