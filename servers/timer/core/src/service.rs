//! The Timer protocol (`keel_protocols::timer`) served over [`Timeouts`]:
//! each client is the client number of its badge; what the device and the
//! kernel do is the program's, behind [`Hardware`]. After every change the
//! device is armed for the earliest deadline; on its interrupt,
//! [`TimerService::interrupt`] expires what is due and signals each client
//! with an expiry once, if it handed over a notification (a client without
//! one asks with `expired`).
//!
//! A client's timeouts die with it, found at delivery: the notification it
//! handed over is one of its own objects, so when it dies (init revokes its
//! untyped) the server's copy goes too. Before signalling, the server asks
//! whether the kept notification is still there ([`Hardware::kept`]); when
//! it is gone, every timeout and expiry of the client is dropped
//! ([`TimerService::client_gone`]). A new instance under the same badge
//! that hands over its notification first finds the dead instance's
//! timeouts dropped the same way.

use alloc::collections::BTreeSet;
use keel_protocols::cap::{Granted, Notification};
use keel_protocols::timer::{TimerError, TimerServer};
use keel_protocols::Caller;

use crate::{Client, Timeouts};

/// What the timer server's program does for the logic.
pub trait Hardware {
    /// The clock: nanoseconds since the server started.
    fn now_ns(&self) -> u64;
    /// Keeps `notification` as `client`'s (out of the receive slot, in a
    /// slot of the server's), dropping one kept before.
    ///
    /// # Errors
    /// `CannotKeep` when it cannot be kept (no slot left, the kernel
    /// refused).
    fn keep(
        &mut self,
        client: Client,
        notification: Granted<Notification>,
    ) -> Result<(), TimerError>;
    /// Drops `client`'s notification, if one is kept.
    fn drop_kept(&mut self, client: Client);
    /// True while the notification kept for `client` still exists (false
    /// once the client died and its objects went, the kept copy with them).
    fn kept(&self, client: Client) -> bool;
    /// Signals `client`'s notification.
    fn signal(&mut self, client: Client);
    /// Arms the device to interrupt at `deadline_ns` (`None`: disarms it).
    fn arm(&mut self, deadline_ns: Option<u64>);
}

/// The timer server's state: the timeouts, and which clients handed over a
/// notification.
pub struct TimerService<H: Hardware> {
    timeouts: Timeouts,
    notified: BTreeSet<Client>,
    hardware: H,
}

fn client(caller: &Caller) -> Client {
    u64::from(caller.badge.client().get())
}

impl From<crate::TimerError> for TimerError {
    fn from(e: crate::TimerError) -> Self {
        match e {
            crate::TimerError::BadNumber => TimerError::BadNumber,
            crate::TimerError::ZeroPeriod => TimerError::ZeroPeriod,
            crate::TimerError::TooMany => TimerError::TooMany,
            crate::TimerError::NotSet => TimerError::NotSet,
        }
    }
}

impl<H: Hardware> TimerService<H> {
    /// No clients yet, the device disarmed.
    pub fn new(mut hardware: H) -> Self {
        hardware.arm(None);
        TimerService {
            timeouts: Timeouts::new(),
            notified: BTreeSet::new(),
            hardware,
        }
    }

    /// The program's part.
    pub fn hardware(&self) -> &H {
        &self.hardware
    }

    /// The program's part, to change.
    pub fn hardware_mut(&mut self) -> &mut H {
        &mut self.hardware
    }

    /// The device interrupted: expires what is due, signals each client
    /// concerned once, and arms the device for the next deadline.
    pub fn interrupt(&mut self) {
        let now = self.hardware.now_ns();
        for c in self.timeouts.expire(now) {
            if !self.notified.contains(&c) {
                continue;
            }
            if self.hardware.kept(c) {
                self.hardware.signal(c);
            } else {
                self.forget(c);
            }
        }
        self.rearm();
    }

    /// `client` is gone: its timeouts and notification go too.
    pub fn client_gone(&mut self, client: Client) {
        self.forget(client);
        self.rearm();
    }

    /// Drops `client`'s timeouts, expiries and notification.
    fn forget(&mut self, client: Client) {
        self.timeouts.remove_client(client);
        if self.notified.remove(&client) {
            self.hardware.drop_kept(client);
        }
    }

    fn rearm(&mut self) {
        self.hardware.arm(self.timeouts.next_deadline());
    }
}

impl<H: Hardware> TimerServer for TimerService<H> {
    fn notify_with(
        &mut self,
        caller: &Caller,
        notification: Granted<Notification>,
    ) -> Result<(), TimerError> {
        let c = client(caller);
        if self.notified.contains(&c) && !self.hardware.kept(c) {
            // The instance that handed over the last one died.
            self.client_gone(c);
        }
        self.hardware.keep(c, notification)?;
        self.notified.insert(c);
        Ok(())
    }

    fn now(&mut self, _caller: &Caller) -> Result<u64, TimerError> {
        Ok(self.hardware.now_ns())
    }

    fn set_timeout(
        &mut self,
        caller: &Caller,
        number: u8,
        deadline_ns: u64,
        period_ns: u64,
    ) -> Result<(), TimerError> {
        let period = (period_ns != 0).then_some(period_ns);
        self.timeouts
            .set(client(caller), number, deadline_ns, period)?;
        // A deadline already past expires now, not at the next interrupt.
        self.interrupt();
        Ok(())
    }

    fn cancel(&mut self, caller: &Caller, number: u8) -> Result<(), TimerError> {
        self.timeouts.cancel(client(caller), number)?;
        self.rearm();
        Ok(())
    }

    fn expired(&mut self, caller: &Caller) -> Result<u64, TimerError> {
        Ok(self.timeouts.take_expired(client(caller)))
    }
}

#[cfg(test)]
mod tests;
