//! Consumption records for any server, kept the same way: [`Recorded`]
//! wraps a server's [`Service`], times each request it answers on the
//! architecture's counter and charges it to the request's activity (the
//! badge's, or the one a caller with the relay right names) in the
//! server's [`Ledger`], and answers the Accounting protocol's queries
//! from that ledger on the same endpoint. A server whose request calls
//! another server, or that may be preempted inside a request, times it
//! itself with a [`crate::accounting::Meter`] instead.

use crate::accounting::{self, charged_activity, Ledger};
use crate::registers::{Arrival, RegisterReply};
use crate::server::Service;
use crate::wire::{Incoming, Label, OutMessage};
use crate::SignalSet;

/// A server's service, with its requests recorded in `ledger`; `clock`
/// reads the counter (keel-sys's `cycle_counter` on target).
pub struct Recorded<'a, S, const N: usize> {
    /// The server's own service.
    pub service: S,
    /// Its records.
    pub ledger: &'a mut Ledger<N>,
    /// The counter.
    pub clock: fn() -> u64,
}

fn accounting_request(label: u64) -> bool {
    Label::split(label).protocol == accounting::PROTOCOL
}

impl<S: Service, const N: usize> Service for Recorded<'_, S, N> {
    fn handle(&mut self, request: &Incoming, reply: &mut OutMessage) {
        let m = &request.message;
        if accounting_request(m.label) {
            accounting::dispatch(self.ledger, request, reply);
            return;
        }
        let start = (self.clock)();
        self.service.handle(request, reply);
        let spent = (self.clock)().saturating_sub(start);
        match charged_activity(request.badge, m.label, m.words[0]) {
            Some(a) => self.ledger.charge(a, spent),
            None => self.ledger.overhead(spent),
        }
    }

    #[inline(always)]
    fn handle_registers(
        &mut self,
        request: &Arrival,
        past: impl FnOnce(&mut [u64]) -> bool,
    ) -> Option<RegisterReply> {
        if accounting_request(request.label) {
            return accounting::dispatch_registers(self.ledger, request, past);
        }
        let start = (self.clock)();
        let answer = self.service.handle_registers(request, past)?;
        let spent = (self.clock)().saturating_sub(start);
        match charged_activity(request.badge, request.label, request.registers[0]) {
            Some(a) => self.ledger.charge(a, spent),
            None => self.ledger.overhead(spent),
        }
        Some(answer)
    }

    fn signalled(&mut self, signals: SignalSet) {
        self.service.signalled(signals);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounting::{AccountingClient, USAGE};
    use crate::console::{ConsoleClient, ConsoleServer, Line, Serving, Tag};
    use crate::loopback::Loopback;
    use crate::server::Caller;
    use crate::{ActivityId, ClientBadge, ClientId, Rights};
    use core::sync::atomic::{AtomicU64, Ordering};

    static NOW: AtomicU64 = AtomicU64::new(0);

    /// A clock that moves 10 ticks at each reading.
    fn clock() -> u64 {
        NOW.fetch_add(10, Ordering::SeqCst)
    }

    struct Quiet;

    impl ConsoleServer for Quiet {
        fn write_line(&mut self, _: &Caller, _: Line) -> Result<(), crate::console::ConsoleError> {
            Ok(())
        }
        fn flush(&mut self, _: &Caller) -> Result<(), crate::console::ConsoleError> {
            Ok(())
        }
        fn set_tag(&mut self, _: &Caller, _: Tag) -> Result<(), crate::console::ConsoleError> {
            Ok(())
        }
    }

    #[test]
    fn each_request_is_charged_to_its_activity_and_records_read_back() {
        let mut ledger: Ledger<4> = Ledger::new();
        let mut quiet = Quiet;
        let badge =
            |a, rights| ClientBadge::new(ClientId::new(2).unwrap(), ActivityId(a), rights).bits();
        for (a, n) in [(3, 2), (5, 1)] {
            let mut recorded = Recorded {
                service: Serving(&mut quiet),
                ledger: &mut ledger,
                clock,
            };
            let link = Loopback::new(
                badge(a, Rights::NONE),
                |q: &Incoming, r: &mut OutMessage| recorded.handle(q, r),
                |_| None,
            );
            let mut c = ConsoleClient::new(link);
            for _ in 0..n {
                c.write_line(&Line::try_from("x").unwrap()).unwrap();
            }
        }
        assert_eq!(
            (
                ledger.of(ActivityId(3)).requests,
                ledger.of(ActivityId(3)).ticks
            ),
            (2, 20)
        );
        assert_eq!(ledger.of(ActivityId(5)).requests, 1);
        let mut recorded = Recorded {
            service: Serving(&mut quiet),
            ledger: &mut ledger,
            clock,
        };
        let link = Loopback::new(
            badge(0, USAGE),
            |q: &Incoming, r: &mut OutMessage| recorded.handle(q, r),
            |_| None,
        );
        let row = AccountingClient::new(link).record(1).unwrap();
        assert_eq!((row.activity, row.requests), (3, 2));
        // The query itself is charged to nobody.
        assert_eq!(ledger.total(), 30);
    }
}
