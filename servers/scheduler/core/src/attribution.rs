//! Where an activity's CPU went: the servers whose consumption records the
//! scheduler server reads (`keel_protocols::accounting`), and the
//! [`Attribution`] it makes of them with the activity's own use. A passive
//! server runs on its callers' contexts, so its records for an activity
//! are part of that activity's `Consumed`, and the time in the activity's
//! own threads is the rest; an active server runs on a context of its own,
//! and its records say which activities that context worked for.

use super::{Kernel, Scheduler};
use keel_protocols::accounting::{Record, TICKS_PER_US};
use keel_protocols::cap::{Endpoint, Granted};
use keel_protocols::scheduler::{Attribution, SchedulerError, MAX_SERVERS};
use keel_protocols::ActivityId;

/// Most rows read from one server's ledger.
const MAX_ROWS: u16 = 256;

/// A server whose records are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Server {
    /// The slot of the endpoint cap to it.
    endpoint: u64,
    /// True when it runs on its callers' contexts.
    passive: bool,
}

impl<K: Kernel, const A: usize, const T: usize> Scheduler<K, A, T> {
    /// Keeps `endpoint` as the way to server column `servers.len()`.
    pub(crate) fn add_records_of(
        &mut self,
        endpoint: Granted<Endpoint>,
        passive: bool,
    ) -> Result<u16, SchedulerError> {
        if self.servers.is_full() {
            return Err(SchedulerError::Records);
        }
        let endpoint = self.kernel.keep_server(endpoint)?;
        let _ = self.servers.push(Server { endpoint, passive });
        Ok(self.servers.len() as u16 - 1)
    }

    /// `activity`'s record at server `s` (its overhead row for activity 0).
    fn record_at(&mut self, s: Server, activity: ActivityId) -> Result<Record, SchedulerError> {
        if activity.0 == 0 {
            return self
                .kernel
                .record(s.endpoint, 0)?
                .ok_or(SchedulerError::Records);
        }
        for index in 1..MAX_ROWS {
            match self.kernel.record(s.endpoint, index)? {
                Some(r) if r.activity == activity.0 => return Ok(r),
                Some(_) => {}
                None => break,
            }
        }
        Ok(Record::default())
    }

    /// Where `activity`'s CPU went (see [`Attribution`]).
    pub(crate) fn attribute(
        &mut self,
        activity: ActivityId,
    ) -> Result<Attribution, SchedulerError> {
        let mut out = Attribution {
            servers: self.servers.len() as u32,
            ..Attribution::default()
        };
        let consumed_us = if activity.0 == 0 {
            self.kernel.now() / TICKS_PER_US
        } else {
            self.refresh(activity)?.consumed_us
        };
        let mut at_passive = 0u64;
        for i in 0..self.servers.len().min(MAX_SERVERS) {
            let s = self.servers[i];
            let r = self.record_at(s, activity)?;
            out.server_ticks[i] = r.ticks;
            out.server_requests[i] = r.requests;
            if s.passive {
                out.passive |= 1 << i;
                at_passive = at_passive.saturating_add(r.ticks);
            }
        }
        out.consumed_us = consumed_us;
        out.direct_us = if activity.0 == 0 {
            0
        } else {
            consumed_us.saturating_sub(at_passive / TICKS_PER_US)
        };
        Ok(out)
    }
}
