//! The relocation protocol: a memory client whose slave refused it for want
//! of memory asks its supervisor (init, through its own init endpoint) to
//! move it. Init asks the master where the slave's clients go
//! (`mm_master::reroute`); if that is another slave, init attaches the
//! client there with its VSpace, points its threads' faults there, moves
//! the client's `memory` cap to a free slot of its CNode and puts one
//! badged for the new slave in its place. The client's next requests go to
//! the new slave; its areas stay with the old one, reached through the cap
//! in the slot the reply names, until it frees them.
//!
//! ```text
//!  client                      init                     master    old / new slave
//!   |-- allocate ------------------------------------------------->| old: OutOfMemory
//!   |-- relocate() ----------->|-- reroute(old) ------->|          |
//!   |                          |<------- new -----------|          |
//!   |                          |-- attach(vspace), forward_faults ->| new
//!   |                          |  memory slot: old cap moved to `s`,|
//!   |                          |  a cap to the new slave put there  |
//!   |<------ s ----------------|                                    |
//!   |-- allocate (same slot) --------------------------------------->| new
//!   |-- free(old area) through slot s ------------------------------>| old
//! ```

use crate::protocol;

protocol! {
    /// A memory client's request to its supervisor to be moved.
    protocol Relocation {
        id: 11,
        version: 1,
        client: RelocationClient,
        server: RelocationServer,
        error: RelocationError {
            /// The caller is not a memory client.
            NotAClient = 1,
            /// Its slave is not overloaded, or no other slave may take it
            /// (or there is no master to ask): it stays.
            Stays = 2,
            /// The move failed part-way (the new slave refused the attach,
            /// or the caller's CNode has no free slot for its old cap); it
            /// stays where it was.
            Failed = 3,
        },
        ops: {
            /// Moves the caller to the slave the master names; returns the
            /// slot of the caller's CNode that now holds its cap to the old
            /// slave.
            1 => relocate() -> fixed u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback::Loopback;
    use crate::server::Caller;
    use crate::wire::{Incoming, OutMessage};
    use crate::{ActivityId, ClientBadge, ClientId, Rights};

    /// Init as the test sees it: moves client 5 once, to old slot 30.
    struct Supervisor {
        moved: bool,
    }

    impl RelocationServer for Supervisor {
        fn relocate(&mut self, caller: &Caller) -> Result<u64, RelocationError> {
            if caller.badge.client().get() != 5 {
                return Err(RelocationError::NotAClient);
            }
            if self.moved {
                return Err(RelocationError::Stays);
            }
            self.moved = true;
            Ok(30)
        }
    }

    #[test]
    fn relocate_answers_the_old_slot_then_stays() {
        let mut init = Supervisor { moved: false };
        let badge = |n| ClientBadge::new(ClientId::new(n).unwrap(), ActivityId(2), Rights::NONE);
        let mut ask = |n: u16| {
            let link = Loopback::new(
                badge(n).bits(),
                |request: &Incoming, reply: &mut OutMessage| dispatch(&mut init, request, reply),
                |_| None,
            );
            RelocationClient::new(link).relocate()
        };
        assert_eq!(ask(4), Err(RelocationError::NotAClient));
        assert_eq!(ask(5), Ok(30));
        assert_eq!(ask(5), Err(RelocationError::Stays));
    }
}
