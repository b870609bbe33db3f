//! keel-mm-master: the memory master. Init starts it as a server with a
//! cap to every slave (named `slave-0`, `slave-1`, ...) and its policy in
//! the process-information page's word (`keel_protocols::mm_master::
//! policy_word`). It answers init's `route` (which slave a new client goes
//! to) and `reroute` (where an overloaded slave's clients go) with
//! keel-mm-core's router, over the loads it reads from every slave when it
//! decides: it holds no state of the slaves but what they last said, and is
//! off the clients' path.
//!
//! It trusts init (the admin right) and the slaves' answers; it blocks
//! only in its receive and in its Calls to the slaves, which answer at
//! once.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

use alloc::vec::Vec;
use keel_mm_core::routing::{Policy, Router, SlaveLoad};
use keel_protocols::memory::{Load, MemoryClient};
use keel_protocols::mm_master::{
    policy_of, slave_name, MasterError, MasterServer, Serving, OVERLOAD_PERMILLE,
};
use keel_protocols::sys::EndpointClient;
use keel_protocols::sys::EndpointServer;
use keel_protocols::{serve, Caller};
use keel_rt::process::slot;
use keel_rt::{println, ProcessInfo};

keel_rt::main!(main);

/// Exit status when the page lacks a cap the master needs.
const MISSING_CAP_STATUS: u32 = 1;
/// Exit status when the transport cannot be set up.
const TRANSPORT_STATUS: u32 = 2;
/// Exit status for a policy the router refuses.
const POLICY_STATUS: u32 = 3;

/// One slave as the master sees it.
struct Slave {
    client: MemoryClient<EndpointClient>,
    last: Load,
}

/// The master: the slaves and the router.
struct Master {
    slaves: Vec<Slave>,
    router: Router,
}

impl Master {
    /// Reads every slave's load; a slave that refused a request for want
    /// of memory since the last reading, or is loaded past
    /// [`OVERLOAD_PERMILLE`], is overloaded.
    fn loads(&mut self) -> Result<Vec<SlaveLoad>, MasterError> {
        let mut loads = Vec::with_capacity(self.slaves.len());
        for s in &mut self.slaves {
            let now = s.client.load().map_err(|_| MasterError::SlaveFailed)?;
            let mut load = SlaveLoad {
                total: now.total,
                allocated: now.allocated,
                pending: 0,
                overloaded: now.refused > s.last.refused,
            };
            load.overloaded |= load.load_permille() >= OVERLOAD_PERMILLE;
            s.last = now;
            loads.push(load);
        }
        Ok(loads)
    }
}

impl MasterServer for Master {
    fn route(&mut self, _caller: &Caller, _activity: u16) -> Result<u16, MasterError> {
        let loads = self.loads()?;
        let pick = self.router.pick(&loads).ok_or(MasterError::NoSlave)?;
        Ok(pick as u16)
    }

    fn reroute(&mut self, _caller: &Caller, slave: u16) -> Result<u16, MasterError> {
        let from = usize::from(slave);
        if from >= self.slaves.len() {
            return Err(MasterError::NoSuchSlave);
        }
        let loads = self.loads()?;
        if !loads[from].overloaded {
            return Ok(slave);
        }
        let to = self
            .router
            .reroute(&loads, from)
            .ok_or(MasterError::NoSlave)?;
        Ok(to as u16)
    }

    fn load(&mut self, _caller: &Caller, slave: u16) -> Result<Load, MasterError> {
        self.slaves
            .get(usize::from(slave))
            .map(|s| s.last)
            .ok_or(MasterError::NoSuchSlave)
    }
}

fn main(info: &'static ProcessInfo) -> u32 {
    let s = &info.slots;
    let (Some(endpoint), Some(reply)) = (s.endpoint, s.reply) else {
        println!("mm-master: started without an endpoint or a Reply object");
        return MISSING_CAP_STATUS;
    };
    let mut slaves = Vec::new();
    while let Some(cap) = info.connection(&slave_name(slaves.len())) {
        let Ok(transport) = EndpointClient::new(slot(cap), None) else {
            return TRANSPORT_STATUS;
        };
        slaves.push(Slave {
            client: MemoryClient::new(transport),
            last: Load::default(),
        });
    }
    let policy = match policy_of(info.arg) {
        None => Policy::RoundRobin,
        Some((low, high)) => Policy::Watermark {
            low: low.into(),
            high: high.into(),
        },
    };
    let Ok(router) = Router::new(policy) else {
        println!("mm-master: watermarks out of order");
        return POLICY_STATUS;
    };
    let mut transport =
        match EndpointServer::announcing(slot(s.init), slot(endpoint), slot(reply), None) {
            Ok(t) => t,
            Err(e) => {
                println!("mm-master: setting up its endpoint: {e}");
                return TRANSPORT_STATUS;
            }
        };
    let mut master = Master { slaves, router };
    serve(&mut transport, &mut Serving(&mut master))
}
