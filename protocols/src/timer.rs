//! The timer protocol: a client learns the time, sets one-shot and periodic
//! timeouts (numbered 0 to 63, in nanoseconds of the server's clock), and
//! hears of their expiry as a signal on a notification it handed the
//! server, then asks which expired. This module is the contract; the timer
//! server implements [`TimerServer`] (its logic is keel-timer-core's).
//!
//! ```text
//!  client                                   timer server (owns the device)
//!   |-- Call notify_with(cap notification) -->| keeps it
//!   |-- Call set_timeout(3, t, 0) ----------->| arms the device for the earliest
//!   |-- Wait on the notification              |
//!   |                                         |<- interrupt: timeout 3 is due
//!   |<------------------- Signal -------------|
//!   |-- Call expired() ---------------------->|
//!   |<-------------------- 1 << 3 ------------|
//! ```

use crate::cap::Notification;
use crate::protocol;

protocol! {
    /// A client of the timer server.
    protocol Timer {
        id: 4,
        version: 1,
        client: TimerClient,
        server: TimerServer,
        error: TimerError {
            /// The timeout number is 64 or more.
            BadNumber = 1,
            /// A period of 0 for a periodic timeout.
            ZeroPeriod = 2,
            /// The client has as many timeouts set as it may.
            TooMany = 3,
            /// No timeout of that number is set.
            NotSet = 4,
            /// The server could not keep the notification.
            CannotKeep = 5,
        },
        ops: {
            /// The notification the server signals when one of the client's
            /// timeouts expires; replaces one handed over before.
            1 => notify_with(cap notification: Notification) -> fixed ();
            /// The server's clock: nanoseconds since it started.
            2 => now() -> fixed u64;
            /// Sets timeout `number` to expire at `deadline_ns`, then every
            /// `period_ns` (0: once); a timeout of that number already set is
            /// replaced.
            3 => set_timeout(fixed number: u8, fixed deadline_ns: u64, fixed period_ns: u64)
                -> fixed ();
            /// Cancels timeout `number`.
            4 => cancel(fixed number: u8) -> fixed ();
            /// The numbers of the client's timeouts that expired since it last
            /// asked, as a bit mask; clears them.
            5 => expired() -> fixed u64;
        }
    }
}
