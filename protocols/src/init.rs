//! The Init protocol: what a program started by init tells its supervisor.
//! Every program init starts holds an endpoint cap to init badged with its
//! own client badge (the same endpoint, and badge, its faults arrive
//! through: init tells a fault from a request by the label).
//!
//! ```text
//!  server                               init (fault handler of everyone)
//!   | set up; then NBSendRecv:            | Recv on its endpoint
//!   |   send ready() one-way, ----------->| the server is now blocked on its
//!   |   receive on its own endpoint       | endpoint: make it passive, start
//!   |                                     | its clients
//!  app                                    |
//!   |-- Call exit(status) --------------->| tear the program down (no reply)
//! ```
//!
//! Ready is sent without waiting for an answer, in the same system call
//! that starts the server's first receive, so init knows the server waits
//! for requests when it reads the message.

use crate::protocol;
use crate::wire::{Header, OutMessage};

protocol! {
    /// A program's connection to init, its supervisor.
    protocol Init {
        id: 2,
        version: 1,
        client: InitClient,
        server: InitServer,
        error: InitError {
            /// Only servers announce that they are ready.
            NotAServer = 1,
        },
        ops: {
            /// A server has set itself up and waits for requests. Sent
            /// one-way (see [`ready_message`]); a Call gets a reply.
            1 => ready() -> fixed ();
            /// The program is done with `status` (0: success); init tears
            /// it down and never replies.
            2 => exit(fixed status: u32) -> fixed ();
        }
    }
}

/// The `ready` request as a message, for a server to send one-way
/// (NBSendRecv) as it starts receiving.
pub fn ready_message() -> OutMessage {
    let mut message = OutMessage::new();
    message.label = Header {
        protocol: PROTOCOL,
        version: VERSION,
        op: 1,
        relay: None,
    }
    .label();
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::badge::{ClientBadge, ClientId};
    use crate::server::Caller;
    use crate::wire::{Incoming, Message, REPLY_OK};
    use crate::ActivityId;

    struct Supervisor {
        ready: u32,
    }

    impl InitServer for Supervisor {
        fn ready(&mut self, _caller: &Caller) -> Result<(), InitError> {
            self.ready += 1;
            Ok(())
        }

        fn exit(&mut self, _caller: &Caller, _status: u32) -> Result<(), InitError> {
            Err(InitError::NotAServer)
        }
    }

    #[test]
    fn the_one_way_ready_message_dispatches_as_ready() {
        let sent = ready_message();
        let badge = ClientBadge::new(ClientId::new(3).unwrap(), ActivityId(0), crate::Rights::NONE);
        let mut request = Incoming {
            badge: badge.bits(),
            message: Message::new(),
        };
        request.message.label = sent.label;
        request.message.length = sent.length;
        let mut supervisor = Supervisor { ready: 0 };
        let mut reply = OutMessage::new();
        dispatch(&mut supervisor, &request, &mut reply);
        assert_eq!(supervisor.ready, 1);
        assert_eq!(reply.label, REPLY_OK);
    }
}
