//! keel-process: the process server. Init starts it as an active server
//! (it is its processes' fault handler) and gives it, besides a server's
//! caps, the named caps `pool` (the untyped its processes' reclamation
//! groups are carved from) or, when the description makes it a memory
//! client, `memory` (its slave, which grants each group as an untyped
//! block of its partition; see [`groups`]), `untyped` (for its own Reply objects),
//! `sched-control` and `asid-pool`, the boot archive mapped read-only (the
//! region `archive`) and spare slots (see keel-init's `process` module).
//!
//! Each process is built by keel-loader from its group, with
//! the server's endpoint badged for it in its slot 4: its Init connection
//! (exit), its Process connection (alloc_object, spawn) and its fault
//! endpoint. Caps a spawner hands over (offered connections, its end
//! notification) arrive in its receive slot (`ProcessSlots::receive`).
//! One message loop takes requests, exits and faults; a wait for
//! a running process keeps its Reply object and the loop receives on
//! another, answered when the process ends.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

mod groups;
mod pool;
mod server;

use keel_abi::archive::Archive;
use keel_abi::fault::FaultType;
use keel_process_core::cost::CostTable;
use keel_process_core::table::State;
use keel_protocols::badge::{classify, Delivered};
use keel_protocols::init::{self, InitError, InitServer};
use keel_protocols::memory::MemoryClient;
use keel_protocols::process;
use keel_protocols::server::{write_error, Answer};
use keel_protocols::sys::{EndpointClient, EndpointServer, ReceiveSlot};
use keel_protocols::wire::{Incoming, Label, OutMessage};
use keel_protocols::{Caller, RpcError, ServerTransport};
use keel_rt::process::slot;
use keel_rt::{println, ProcessInfo};
use keel_sys::cap::{CNode, Endpoint, Untyped};
use keel_sys::{CPtr, InvocationError};

use groups::{Groups, Slave};
use pool::Pool;
use server::{Links, Machine, Server, LINK_SLOTS, MAX_PROCESSES, PER_PROCESS};

keel_rt::main!(main);

/// Reply objects: one to receive on, the rest for waits kept.
const REPLIES: u64 = 9;
/// Where keel-loader maps frames in the server while it fills them.
const SCRATCH_VADDR: u64 = 0x0000_6100_0000_0000;
/// Exit status when the page lacks a cap the server needs.
const MISSING_CAP_STATUS: u32 = 1;
/// Exit status when the set-up fails.
const SETUP_STATUS: u32 = 2;

/// A process's Init request: only `exit` means anything.
struct Exit(Option<u32>);

impl InitServer for Exit {
    fn ready(&mut self, _caller: &Caller) -> Result<(), InitError> {
        Err(InitError::NotAServer)
    }

    fn exit(&mut self, _caller: &Caller, status: u32) -> Result<(), InitError> {
        self.0 = Some(status);
        Ok(())
    }
}

/// Handles one message; returns whether a reply is owed (in `reply`).
fn handle(server: &mut Server, incoming: &Incoming, reply: &mut OutMessage) -> bool {
    let client = match classify(incoming.badge) {
        Ok(Delivered::Client(b)) => b.client().get(),
        _ => 0,
    };
    let label = Label::split(incoming.message.label);
    if label.protocol == process::PROTOCOL {
        process::dispatch(server, incoming, reply);
        return !core::mem::take(&mut server.deferred);
    }
    let process = server.process_of(client);
    if label.protocol == init::PROTOCOL && process.is_some() {
        let mut exit = Exit(None);
        init::dispatch(&mut exit, incoming, reply);
        match exit.0 {
            // An exit is never answered: its sender is gone.
            Some(status) => {
                server.ended(client, State::Exited(status.into()));
                return false;
            }
            None => return true,
        }
    }
    match FaultType::try_from(incoming.message.label) {
        Ok(kind) if kind != FaultType::NullFault && process.is_some() => {
            server.ended(client, State::Faulted(kind as u64));
            false
        }
        _ => {
            write_error(
                reply,
                process::ProcessError::Rpc(RpcError::WrongProtocol {
                    expected: process::PROTOCOL,
                    got: label.protocol,
                }),
            );
            true
        }
    }
}

fn main(info: &'static ProcessInfo) -> u32 {
    let s = &info.slots;
    let named = |name| info.connection(name);
    let (Some(endpoint), Some(first_reply), Some((first, end))) = (s.endpoint, s.reply, s.spare)
    else {
        println!("process: started without an endpoint, Reply object or spare slots");
        return MISSING_CAP_STATUS;
    };
    let (Some(own), Some(control), Some(asids), Some(archive)) = (
        named("untyped"),
        named("sched-control"),
        named("asid-pool"),
        info.region("archive"),
    ) else {
        println!("process: started without untyped, sched-control, asid-pool or archive");
        return MISSING_CAP_STATUS;
    };
    let (memory, pool) = (named("memory"), named("pool"));
    if memory.is_none() && pool.is_none() {
        println!("process: started with neither a pool nor a memory slave");
        return MISSING_CAP_STATUS;
    }
    // SAFETY: init mapped the boot archive read-only at `archive.vaddr`
    // for `archive.size` bytes for the server's whole life, and nothing
    // writes it.
    let bytes = unsafe {
        core::slice::from_raw_parts(archive.vaddr as usize as *const u8, archive.size as usize)
    };
    let Ok(archive) = Archive::parse(bytes) else {
        println!("process: the boot archive is unreadable");
        return SETUP_STATUS;
    };
    let cnode = slot::<CNode>(s.cnode);
    // Spare slots: Reply objects (the first is init's), the pool's block
    // caps (or the slave's granted blocks, one per process), then each
    // process's slots.
    let replies = first;
    let pool_base = replies + REPLIES;
    let process_slots = pool_base + pool::SLOTS;
    let links = process_slots + MAX_PROCESSES as u64 * PER_PROCESS;
    if links + LINK_SLOTS > end {
        println!("process: too few spare slots");
        return SETUP_STATUS;
    }
    let made = cnode
        .absolute_cptr(CPtr::from_bits(replies))
        .move_(&cnode.absolute_cptr(CPtr::from_bits(first_reply)))
        .and_then(|()| {
            slot::<Untyped>(own).untyped_retype(
                keel_abi::ObjectType::Reply,
                0,
                &cnode.absolute_cptr_with_depth(0, 0),
                replies + 1,
                REPLIES - 1,
            )
        });
    let receive = ReceiveSlot::in_own_cnode(s.cnode, s.receive, s.debug.map(slot));
    let groups = made.and_then(|()| match (memory, pool) {
        (Some(memory), _) => EndpointClient::new(slot(memory), Some(receive))
            .map(|t| {
                Groups::Slave(alloc::boxed::Box::new(Slave::new(
                    MemoryClient::new(t),
                    cnode,
                    s.receive,
                    pool_base,
                )))
            })
            .map_err(|_| InvocationError::from(keel_abi::Error::InvalidArgument)),
        (None, pool) => Pool::new(cnode, pool.unwrap_or_default(), pool_base).map(Groups::Pool),
    });
    let groups = match groups {
        Ok(g) => g,
        Err(e) => {
            println!("process: setting up its Reply objects and groups: {e}");
            return SETUP_STATUS;
        }
    };
    let machine = Machine {
        cnode,
        vspace: slot(s.vspace),
        tcb: slot(s.tcb),
        asid_pool: slot(asids),
        sched_control: slot(control),
        endpoint: slot(endpoint),
        debug: s.debug,
        scratch_vaddr: SCRATCH_VADDR,
        replies,
        process_slots,
    };
    let mut server = Server::new(
        machine,
        archive,
        groups,
        CostTable::for_arch(keel_sys::arch::ARCH),
        REPLIES as usize,
        Links::new(links),
    );
    serve(&mut server, slot(s.init), slot(endpoint), receive)
}

/// The message loop: receives on the current Reply object, and moves to a
/// free one when a wait keeps it.
fn serve(
    server: &mut Server,
    init: keel_sys::Cap<Endpoint>,
    endpoint: keel_sys::Cap<Endpoint>,
    receive: ReceiveSlot,
) -> ! {
    let mut transport = EndpointServer::announcing(init, endpoint, server.reply(0), Some(receive));
    let mut incoming = Incoming::default();
    let mut out = OutMessage::new();
    let mut owed = false;
    loop {
        let Ok(t) = transport.as_mut() else {
            // Arming the receive slot failed: it is the server's own empty
            // slot, so this does not happen; there is nothing to serve.
            loop {
                let _ = keel_sys::r#yield();
            }
        };
        let answer = match owed {
            true => Answer::Message(&out),
            false => Answer::Nothing,
        };
        let arrival = t.exchange(answer);
        t.read(&arrival, &mut incoming);
        owed = handle(server, &incoming, &mut out);
        // A cap a request brought and the server did not keep.
        t.empty_receive_slot();
        if server.waits[server.current].is_some() {
            // The wait keeps this Reply object: receive on a free one.
            if let Some(free) = server.waits.iter().position(Option::is_none) {
                server.current = free;
                transport = EndpointServer::new(endpoint, server.reply(free), Some(receive));
            }
        }
    }
}
