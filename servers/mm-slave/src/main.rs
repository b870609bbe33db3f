//! keel-mm-slave: a memory-manager slave. Init starts it as a server with,
//! besides a server's caps, the named cap `partition` (the untyped it
//! serves from, `2^arg` bytes, the process-information page's word) and
//! spare slots for the partition's blocks, frames and paging structures
//! and its clients' caps. It serves the memory protocol with a buddy
//! allocator over the partition alone, and it is the fault handler of its
//! clients' threads: a fault badged [`fault_badge`] in a delayed area is
//! answered by mapping a page there and resuming the thread; any other is
//! sent on, as it came, to where the client's faults go (its supervisor),
//! and the thread stays stopped.
//!
//! It trusts init (the admin right) to attach clients with their own
//! VSpace; a client can name only its own areas. It blocks only in its
//! receive; it never sends to a client but its reply, and forwards a
//! fault one-way (NBSend) to the supervisor.
//!
//! [`fault_badge`]: keel_protocols::memory::fault_badge
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

mod partition;
mod slave;

use keel_abi::fault::{FaultType, VM_FAULT_ADDR};
use keel_abi::MessageInfo;
use keel_mm_core::areas::PAGE_BITS;
use keel_mm_core::buddy::{Buddy, Region};
use keel_protocols::memory::{dispatch, fault_client, slave_slots, Serving};
use keel_protocols::registers::{Arrival, RegisterReply};
use keel_protocols::server::Answer;
use keel_protocols::sys::{EndpointServer, ReceiveSlot};
use keel_protocols::wire::{Incoming, OutMessage, REGISTER_WORDS};
use keel_protocols::{ServerTransport, Service};
use keel_rt::process::slot;
use keel_rt::{println, ProcessInfo};
use keel_sys::cap::CNode;

use partition::Partition;
use slave::Slave;

keel_rt::main!(main);

/// Exit status when the page lacks a cap the slave needs.
const MISSING_CAP_STATUS: u32 = 1;
/// Exit status when the transport cannot be set up.
const TRANSPORT_STATUS: u32 = 2;
/// Exit status when the partition does not fit the spare slots.
const PARTITION_STATUS: u32 = 3;
/// A bound on the partition's size (the slots it needs grow with it).
const MAX_PARTITION_BITS: u8 = 40;

/// The answer that resumes a thread whose fault was resolved: label 0 and
/// no words, so it runs the faulting instruction again.
const RESUME: RegisterReply = RegisterReply {
    label: 0,
    length: 0,
    words: [0; REGISTER_WORDS],
};

/// What the last message is owed.
enum Owed {
    Nothing,
    Message,
    Registers(RegisterReply),
}

/// Sends the fault that arrived on to `slave`'s record of where its
/// client's faults go, as it came (label and words), one-way.
fn forward(slave: &Slave, arrival: &Arrival) {
    let Some(to) = fault_client(arrival.badge).and_then(|c| slave.forward_to(c)) else {
        return;
    };
    let mut words = [0; 4];
    let n = arrival.length.min(4);
    words[..n].copy_from_slice(&arrival.registers[..n]);
    to.nb_send(MessageInfo::new(arrival.label, 0, 0, n as u64), words);
}

fn main(info: &'static ProcessInfo) -> u32 {
    let s = &info.slots;
    let (Some(endpoint), Some(reply), Some(debug), Some((first, end)), Some(untyped)) = (
        s.endpoint,
        s.reply,
        s.debug,
        s.spare,
        info.connection("partition"),
    ) else {
        println!(
            "mm-slave: started without an endpoint, Reply, Debug cap, spare slots or partition"
        );
        return MISSING_CAP_STATUS;
    };
    let bits = u8::try_from(info.arg).unwrap_or(0);
    let needed = (PAGE_BITS..MAX_PARTITION_BITS)
        .contains(&bits)
        .then(|| slave_slots(bits));
    if needed.is_none_or(|n| first + n > end) {
        println!("mm-slave: a partition of 2^{bits} bytes does not fit its spare slots");
        return PARTITION_STATUS;
    }
    let cnode = slot::<CNode>(s.cnode);
    let partition = Partition {
        cnode,
        bits,
        nodes: first,
        frames: first + (2 << (bits - PAGE_BITS)),
    };
    let root = Region { base: 0, bits };
    let (Ok(()), Ok(buddy)) = (partition.take_root(untyped), Buddy::new(&[root], PAGE_BITS)) else {
        println!("mm-slave: taking its partition");
        return PARTITION_STATUS;
    };
    let mut slave = Slave::new(partition, buddy, first + Partition::slots(bits));
    let receive = ReceiveSlot::in_own_cnode(s.cnode, s.receive, Some(slot(debug)));
    let mut transport = match EndpointServer::announcing(
        slot(s.init),
        slot(endpoint),
        slot(reply),
        Some(receive),
    ) {
        Ok(t) => t,
        Err(e) => {
            println!("mm-slave: setting up its endpoint: {e}");
            return TRANSPORT_STATUS;
        }
    };
    let mut incoming = Incoming::default();
    let mut message = OutMessage::new();
    let mut owed = Owed::Nothing;
    loop {
        let answer = match owed {
            Owed::Nothing => Answer::Nothing,
            Owed::Message => Answer::Message(&message),
            Owed::Registers(r) => Answer::Registers(r),
        };
        let arrival = transport.exchange(answer);
        owed = match fault_client(arrival.badge) {
            Some(client) => {
                let resolved = arrival.label == FaultType::VmFault as u64
                    && slave.fault(client, arrival.registers[VM_FAULT_ADDR]);
                if resolved {
                    Owed::Registers(RESUME)
                } else {
                    forward(&slave, &arrival);
                    Owed::Nothing
                }
            }
            None => {
                let answered = Serving(&mut slave)
                    .handle_registers(&arrival, |past| transport.read_past(past));
                match answered {
                    Some(r) => Owed::Registers(r),
                    None => {
                        transport.read(&arrival, &mut incoming);
                        dispatch(&mut slave, &incoming, &mut message);
                        Owed::Message
                    }
                }
            }
        };
        transport.empty_receive_slot();
    }
}
