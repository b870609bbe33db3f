//! The probe server: serves the Probe protocol (see the library) on the
//! endpoint init gave it, announcing itself ready to init with its first
//! receive. It trusts nothing it receives: a malformed request gets the
//! protocol layer's error reply.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use keel_abi::process::{MappedRegion, ProcessInfo};
use keel_probe::{ProbeError, ProbeServer, Serving, SHARED_REGION, UNMAPPED};
use keel_protocols::cap::{Granted, Notification};
use keel_protocols::sys::{EndpointServer, ReceiveSlot};
use keel_protocols::{Caller, ServeLoop};
use keel_rt::println;
use keel_rt::process::slot;
use keel_sys::cap::CNode;

keel_rt::main!(main);

/// Exit status when the probe was not started as a server.
const NOT_A_SERVER: u32 = 2;

struct Probe {
    region: Option<MappedRegion>,
    quit: Option<u32>,
}

impl Probe {
    /// The address of the `T` at `offset` of the shared region (a `u64`
    /// or a `u32`, aligned to its size).
    fn word<T>(&self, offset: u64) -> Result<*mut T, ProbeError> {
        let region = self.region.as_ref().ok_or(ProbeError::NoRegion)?;
        let size = core::mem::size_of::<T>() as u64;
        if !offset.is_multiple_of(size)
            || offset.checked_add(size).is_none_or(|end| end > region.size)
        {
            return Err(ProbeError::OutOfRange);
        }
        Ok((region.vaddr + offset) as usize as *mut T)
    }
}

impl ProbeServer for Probe {
    fn echo(&mut self, _caller: &Caller, value: u64) -> Result<u64, ProbeError> {
        Ok(value.wrapping_add(1))
    }

    fn whoami(&mut self, caller: &Caller) -> Result<[u64; 2], ProbeError> {
        Ok([caller.badge.bits(), caller.activity.0.into()])
    }

    fn crash(&mut self, _caller: &Caller) -> Result<(), ProbeError> {
        // SAFETY: nothing is mapped at UNMAPPED, so this load faults and
        // init, the fault handler, decides what becomes of this server;
        // it is never resumed past the load.
        let _ = unsafe { core::ptr::read_volatile(UNMAPPED as usize as *const u64) };
        Ok(())
    }

    fn quit(&mut self, _caller: &Caller, status: u32) -> Result<(), ProbeError> {
        self.quit = Some(status);
        Ok(())
    }

    fn poke(&mut self, _caller: &Caller, offset: u64, value: u64) -> Result<(), ProbeError> {
        let word = self.word::<u64>(offset)?;
        // SAFETY: `word` is an aligned word inside the shared region init
        // mapped at `region.vaddr` for this program's lifetime; a region
        // mapped read-only faults here, which is what a test of its rights
        // expects.
        unsafe { core::ptr::write_volatile(word, value) };
        Ok(())
    }

    fn peek(&mut self, _caller: &Caller, offset: u64) -> Result<u64, ProbeError> {
        let word = self.word::<u64>(offset)?;
        // SAFETY: as in `poke`; reading needs only the read right, which
        // every mapping has.
        Ok(unsafe { core::ptr::read_volatile(word) })
    }

    fn peek32(&mut self, _caller: &Caller, offset: u64) -> Result<u32, ProbeError> {
        let word = self.word::<u32>(offset)?;
        // SAFETY: as in `peek`; a device region's registers take an
        // aligned 32-bit load.
        Ok(unsafe { core::ptr::read_volatile(word) })
    }

    fn admin(&mut self, _caller: &Caller) -> Result<(), ProbeError> {
        Ok(())
    }

    fn take(&mut self, _caller: &Caller, _cap: Granted<Notification>) -> Result<(), ProbeError> {
        Ok(())
    }
}

fn main(info: &'static ProcessInfo) -> u32 {
    let (Some(endpoint), Some(reply)) = (info.slots.endpoint, info.slots.reply) else {
        println!("probe: started without an endpoint; it runs only as a server");
        return NOT_A_SERVER;
    };
    let receive = ReceiveSlot::in_own_cnode(
        info.slots.cnode,
        info.slots.receive,
        info.slots.debug.map(slot),
    );
    let received = slot::<CNode>(info.slots.cnode).absolute_cptr(receive.cptr);
    let mut transport = match EndpointServer::announcing(
        slot(info.slots.init),
        slot(endpoint),
        slot(reply),
        Some(receive),
    ) {
        Ok(t) => t,
        Err(e) => {
            println!("probe: setting up the receive loop failed: {e}");
            return NOT_A_SERVER;
        }
    };
    let mut probe = Probe {
        region: info.region(SHARED_REGION).cloned(),
        quit: None,
    };
    let mut serving = ServeLoop::new();
    loop {
        serving.step(&mut transport, &mut Serving(&mut probe));
        // Whatever cap the request brought (taken or refused) goes, so the
        // receive slot is empty for the next one.
        let _ = received.delete();
        if let Some(status) = probe.quit {
            return status;
        }
    }
}
