//! keel-spawnee: the program the process server's tests spawn. Like
//! keel-child it does without keel-rt (no heap, so its group can be small):
//! keel-sys's `_start` calls [`keel_rt_entry`] with the argument. Slot 4
//! holds the process server's endpoint badged for it, through which it
//! exits (Init `exit`), asks for objects and spawns (the Process protocol)
//! and faults; slot 5 its Debug cap.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use keel_abi::{CapType, MessageInfo};
use keel_loader::slot;
use keel_protocols::init::InitClient;
use keel_protocols::process::{ProcessClient, ProcessError, SpawnArgs};
use keel_protocols::sys::EndpointClient;
use keel_protocols::ProtocolError;
use keel_spawnee::*;
use keel_sys::bare;
use keel_sys::cap::{Debug, Endpoint, Reply};
use keel_sys::{CPtr, Cap};

fn cap<T: keel_sys::cap::CapKind>(s: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(s))
}

/// The process server's endpoint.
fn server() -> Cap<Endpoint> {
    cap(slot::FIRST_GIVEN)
}

/// Its Debug cap.
fn debug() -> Cap<Debug> {
    cap(slot::FIRST_GIVEN + 1)
}

fn put_str(s: &str) {
    let _refused = debug().debug_put_str(s);
}

/// Exits through the process server; never returns (its group is revoked).
fn exit(status: u32) -> ! {
    if let Ok(t) = EndpointClient::new(server(), None) {
        let _ = InitClient::new(t).exit(status);
    }
    stop()
}

/// Stops this thread, for the server to reclaim.
fn stop() -> ! {
    bare::stop(cap(slot::TCB))
}

fn client() -> ProcessClient<EndpointClient> {
    match EndpointClient::new(server(), None) {
        Ok(t) => ProcessClient::new(t),
        Err(_) => exit(STATUS_NO_SERVER),
    }
}

/// An endpoint made from the group, or an exit.
fn endpoint(c: &mut ProcessClient<EndpointClient>) -> Cap<Endpoint> {
    match c.alloc_object(keel_abi::ObjectType::Endpoint as u64, 0) {
        Ok(s) => cap(s),
        Err(_) => exit(STATUS_NO_SERVER),
    }
}

fn code(e: ProcessError) -> u32 {
    e.code().unwrap_or(0xff) as u32
}

/// Whether slot `s` of its CNode holds a cap it should not have: untyped
/// memory or a control cap, or a TCB, CNode, VSpace or endpoint other than
/// its own fixed ones.
fn foreign(s: u64) -> bool {
    let identified = debug().debug_cap_identify(CPtr::from_bits(s));
    match identified {
        Ok(CapType::Tcb) => s != slot::TCB,
        Ok(CapType::CNode) => s != slot::CNODE,
        Ok(CapType::VSpace) => s != slot::VSPACE,
        Ok(CapType::Endpoint) => s != slot::FIRST_GIVEN,
        Ok(
            CapType::Untyped
            | CapType::IrqControl
            | CapType::SchedControl
            | CapType::AsidControl
            | CapType::AsidPool
            | CapType::IrqHandler,
        ) => true,
        _ => false,
    }
}

/// The process entry, called by keel-sys's `_start`.
#[no_mangle]
extern "C" fn keel_rt_entry(argument: u64) -> ! {
    let (mode, parameter) = (argument & 0xff, argument >> 8);
    let mut c = client();
    match mode {
        MODE_EXIT => exit(parameter as u32),
        MODE_SEND => endpoint(&mut c).send(MessageInfo::new(1, 0, 0, 0), [0; 4]),
        MODE_RECV => {
            let reply = c.alloc_object(keel_abi::ObjectType::Reply as u64, 0);
            let reply = reply.ok().map(cap::<Reply>);
            let _ = endpoint(&mut c).recv(reply);
        }
        MODE_CALL => {
            let args = SpawnArgs {
                memory: 1 << 17,
                quota: 1 << 30,
                arg: arg(MODE_RECV, 0),
                priority: 1,
                ..SpawnArgs::default()
            };
            let name = "spawnee".try_into().unwrap_or_default();
            if let Ok(s) = c.spawn(args, &name) {
                let _ = c.wait(s.pid);
            }
        }
        MODE_FAULT => {
            // SAFETY: nothing is mapped at this address: the load faults
            // and the process server ends the process.
            let _ = unsafe { core::ptr::read_volatile(0x0000_4000_0000_0000usize as *const u64) };
        }
        MODE_ALLOC_ALL => {
            let mut made = 0;
            loop {
                match c.alloc_object(parameter & 0xff, parameter >> 8) {
                    Ok(_) => made += 1,
                    Err(e) => exit(alloc_status(made, code(e))),
                }
            }
        }
        MODE_PROBE => {
            let mut reached = 0;
            reached += u32::from(c.wait(parameter).is_ok());
            reached += u32::from(c.kill(parameter).is_ok());
            for s in 0..PROBE_SLOTS {
                reached += u32::from(foreign(s));
            }
            exit(reached)
        }
        MODE_MIX => {
            for (k, &(kind, bits)) in MIX_KINDS.iter().enumerate() {
                for _ in 0..mix_count(parameter, k) {
                    if c.alloc_object(kind, bits).is_err() {
                        put_str("spawnee: a mix allocation was refused\n");
                    }
                }
            }
            let _ = endpoint(&mut c).recv(None);
        }
        _ => put_str("spawnee: unknown mode\n"),
    }
    stop()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    bare::panic("spawnee", debug(), cap(slot::TCB), info)
}

/// No heap, so its group can be small (see `keel_sys::bare`).
#[global_allocator]
static NO_HEAP: bare::NoHeap = bare::NoHeap;
