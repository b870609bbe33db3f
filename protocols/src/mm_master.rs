//! The memory master's protocol: init asks the master which slave a new
//! client goes to, and where an overloaded slave's clients go next. The
//! master holds a cap to every slave and reads each one's [`Load`] when it
//! decides; it is off the clients' path (they call their slave directly).
//!
//! ```text
//!  init (ADMIN)                 master                      slave 0..n
//!   |-- route(activity) -------->|-- load() --------------->| each slave
//!   |<---------- slave ----------|<----- Load --------------|
//!   |  (connects the client to that slave and attaches it)  |
//!   |-- reroute(slave) --------->| the slave is overloaded: |
//!   |<---------- slave ----------|  the policy's next pick  |
//! ```
//!
//! [`Load`]: crate::memory::Load

use crate::memory::Load;
use crate::protocol;

/// A slave at or above this load (thousandths of its partition), or one
/// that refused a request for want of memory since the master last looked,
/// is overloaded: it takes no new client and its clients may be moved.
pub const OVERLOAD_PERMILLE: u64 = 950;

/// The number of the slave named `slave-<n>` in the master's page.
pub fn slave_name(n: usize) -> heapless::String<16> {
    let mut name = heapless::String::new();
    let _ = core::fmt::write(&mut name, format_args!("slave-{n}"));
    name
}

/// The policy word init passes the master (its process-information
/// page's `arg`): 0 for round-robin, else bit 32 set with LowMem in bits
/// 0-15 and HighMem in bits 16-31, in thousandths.
pub const fn policy_word(watermarks: Option<(u16, u16)>) -> u64 {
    match watermarks {
        None => 0,
        Some((low, high)) => 1 << 32 | (high as u64) << 16 | low as u64,
    }
}

/// The watermarks a policy word names (`None`: round-robin).
pub const fn policy_of(word: u64) -> Option<(u16, u16)> {
    if word & (1 << 32) == 0 {
        None
    } else {
        Some((word as u16, (word >> 16) as u16))
    }
}

protocol! {
    /// A client of the memory master (init).
    protocol MemoryMaster {
        id: 9,
        version: 1,
        client: MasterClient,
        server: MasterServer,
        error: MasterError {
            /// No slave may take a client (every one overloaded, or none
            /// below HighMem).
            NoSlave = 1,
            /// No slave has that number.
            NoSuchSlave = 2,
            /// A slave did not answer its load.
            SlaveFailed = 3,
        },
        ops: {
            /// The slave a new client of `activity` goes to.
            1 => route(fixed activity: u16) requires ADMIN -> fixed u16;
            /// The slave the clients of `slave` go to from now on (it
            /// reported itself overloaded); `slave` itself when it is not
            /// overloaded after all.
            2 => reroute(fixed slave: u16) requires ADMIN -> fixed u16;
            /// What the master last read of `slave`.
            3 => load(fixed slave: u16) -> fixed Load;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_words_round_trip() {
        assert_eq!(policy_of(policy_word(None)), None);
        assert_eq!(policy_of(policy_word(Some((900, 950)))), Some((900, 950)));
        assert_eq!(slave_name(3).as_str(), "slave-3");
    }
}
