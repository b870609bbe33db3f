//! Init's part in scheduling activities: what it gives the scheduler server
//! (the program the manifest names `scheduler`), and the threads it admits
//! to it. When the scheduler server is ready, init tells it every
//! activity's entitlement; each member program it starts then loses the
//! context keel-loader made for it and is admitted to its activity, so the
//! scheduler server holds every context of every activity thread.
//!
//! ```text
//!  init                                       scheduler server
//!   |-- start scheduler (SchedControl, untyped, |
//!   |   spare slots, timeout endpoint)          |
//!   |<------------------------------- ready ----|
//!   |-- set_entitlement(a, budget, period) ---->| for each activity
//!   |-- lend_when_idle(a, priority) ----------->| if it may exceed it
//!   |-- start member; unbind its context        |
//!   |-- admit(member's TCB, a) ---------------->| context made, badged with
//!   |                                           |  a, bound; timeout endpoint
//!   |-- add_server(records cap, passive) ------>| for each server the
//!   |                                           |  description marks
//!   |                                           |  `accounting`, once both run
//! ```

use alloc::format;
use keel_abi::manifest::Activity;
use keel_protocols::accounting;
use keel_protocols::cap::Grant;
use keel_protocols::scheduler::SchedulerClient;
use keel_protocols::sys::EndpointClient;
use keel_protocols::{ActivityId, ClientBadge, ClientId, Rights};
use keel_sys::cap::{init_thread, Endpoint};
use keel_sys::{CPtr, Cap};

use crate::memory::{ADMIN_EP, BLOCK};
use crate::start::CLIENT_RIGHTS;
use crate::{Context, InitError, State, System};

/// Init's cap to a server that keeps records, badged with the accounting
/// usage right, that it hands the scheduler server: the last slot of the
/// server's block.
const RECORDS_EP: u64 = BLOCK - 1;
const _: () = assert!(crate::memory::PROCESS_OWN < RECORDS_EP);

/// The badge of init's admin cap to a server (the scheduler, the memory
/// managers): the last client number (the description numbers its
/// clients from 1), the system's activity, the admin right.
fn admin_badge() -> ClientBadge {
    ClientBadge::new(ClientId::MAX, ActivityId(0), Rights::ADMIN)
}

impl<'a> System<'a> {
    /// The scheduler server's index, when the manifest names one.
    pub(crate) fn scheduler(&self) -> Option<usize> {
        self.manifest.scheduler.map(usize::from)
    }

    /// A client of the scheduler server through init's admin cap.
    fn scheduler_client(&mut self) -> Result<Option<SchedulerClient<EndpointClient>>, InitError> {
        let Some(index) = self.scheduler() else {
            return Ok(None);
        };
        Ok(self.admin_transport(index)?.map(SchedulerClient::new))
    }

    /// A transport to the running server `index` through init's admin cap
    /// to it, minted into the server's block the first time.
    pub(crate) fn admin_transport(
        &mut self,
        index: usize,
    ) -> Result<Option<EndpointClient>, InitError> {
        if self.programs.get(index).map(|p| p.state) != Some(State::Running) {
            return Ok(None);
        }
        let Some(endpoint) = self.server_endpoint(index) else {
            return Ok(None);
        };
        let slot = self.programs[index].block + ADMIN_EP;
        let cnode = init_thread::CNODE;
        if !self.programs[index].admin_minted {
            cnode
                .absolute_cptr(CPtr::from_bits(slot))
                .mint(
                    &cnode.absolute_cptr(endpoint.cptr()),
                    CLIENT_RIGHTS,
                    admin_badge().bits(),
                )
                .context("mint init's admin cap to a server")?;
            self.programs[index].admin_minted = true;
        }
        let cap: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(slot));
        // Without a receive slot, arming cannot fail.
        let transport = EndpointClient::new(cap, None).map_err(|_| InitError {
            step: "call a server",
            error: keel_abi::Error::InvalidArgument.into(),
        })?;
        Ok(Some(transport))
    }

    /// The scheduler server is ready: tells it every activity's entitlement,
    /// and which may run on idle time (their threads' priority with it: a
    /// member's maximum controlled priority is its priority, so the
    /// scheduler server can lower it and raise it back).
    pub(crate) fn scheduler_ready(&mut self) {
        let client = match self.scheduler_client() {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => return self.say(&format!("init: reaching the scheduler server: {e}")),
        };
        let mut client = client;
        for a in &self.manifest.activities {
            if let Err(e) = client.set_entitlement(a.id, a.budget_us, a.period_us) {
                self.say(&format!(
                    "init: activity {}: entitlement refused: {e:?}",
                    a.name
                ));
            }
            if a.may_exceed_when_idle {
                if let Err(e) = client.lend_when_idle(a.id, a.priority) {
                    self.say(&format!(
                        "init: activity {}: idle time refused ({e:?}); it is held to its \
                         entitlement",
                        a.name
                    ));
                }
            }
        }
    }

    /// Server `ready` is serving: when it is the scheduler server, it is
    /// told of every running server that keeps records; when it keeps
    /// records and first starts (a restart keeps its endpoint, which the
    /// scheduler server still reads), it is added to the scheduler server.
    pub(crate) fn accounting_ready(&mut self, ready: usize) {
        let servers: alloc::vec::Vec<usize> = if self.scheduler() == Some(ready) {
            self.manifest
                .accounting
                .iter()
                .map(|&i| usize::from(i))
                .collect()
        } else if self
            .manifest
            .accounting
            .iter()
            .any(|&i| usize::from(i) == ready)
            && self.programs[ready].restarts == 0
        {
            alloc::vec![ready]
        } else {
            return;
        };
        for index in servers {
            if let Err(e) = self.add_records_of(index) {
                self.say(&format!(
                    "init: adding {}'s records to the scheduler server: {e}",
                    self.manifest.programs[index].name
                ));
            }
        }
    }

    /// Adds running server `index`'s records to the running scheduler
    /// server, through a cap with the accounting usage right.
    fn add_records_of(&mut self, index: usize) -> Result<(), InitError> {
        let Some(endpoint) = self.server_endpoint(index) else {
            return Ok(());
        };
        if self.programs[index].state != State::Running {
            return Ok(());
        }
        let Some(mut client) = self.scheduler_client()? else {
            return Ok(());
        };
        let slot = self.programs[index].block + RECORDS_EP;
        let cnode = init_thread::CNODE;
        let at = cnode.absolute_cptr(CPtr::from_bits(slot));
        // The slot holds the cap handed to an earlier scheduler server
        // instance, if any: a transfer copies it.
        let _ = at.delete();
        let badge = ClientBadge::new(ClientId::MAX, ActivityId(0), accounting::USAGE);
        at.mint(
            &cnode.absolute_cptr(endpoint.cptr()),
            CLIENT_RIGHTS,
            badge.bits(),
        )
        .context("mint a records cap to a server")?;
        let passive = self.manifest.programs[index]
            .sched
            .is_some_and(|s| s.passive);
        client
            .add_server(Grant::new(slot), u8::from(passive))
            .map_err(|e| InitError {
                step: match e {
                    keel_protocols::scheduler::SchedulerError::Records => {
                        "add a server: the scheduler server reads as many as it can"
                    }
                    _ => "add a server's records to the scheduler server",
                },
                error: keel_abi::Error::IllegalOperation.into(),
            })?;
        Ok(())
    }

    /// The activity program `index` belongs to, if any.
    pub(crate) fn activity_containing(&self, index: usize) -> Option<&'a Activity> {
        self.manifest
            .activities
            .iter()
            .find(|a| a.members.iter().any(|&m| usize::from(m) == index))
    }

    /// Program `index` was started: a member of an activity is admitted to
    /// the scheduler server with its thread, its loader-made context given
    /// up (and kept if the scheduler server refuses it).
    pub(crate) fn admit(&mut self, index: usize) -> Result<(), InitError> {
        let Some(activity) = self.activity_containing(index) else {
            return Ok(());
        };
        let Some(process) = self.programs[index].process else {
            return Ok(());
        };
        let Some(mut client) = self.scheduler_client()? else {
            return Ok(());
        };
        process
            .sched_context
            .sched_context_unbind()
            .context("take a member's context before admitting it")?;
        let tcb = Grant::new(process.tcb.cptr().bits());
        if let Err(e) = client.admit(tcb, activity.id) {
            self.say(&format!(
                "init: admitting {} to activity {} failed ({e:?}); it keeps its own context",
                self.manifest.programs[index].name, activity.name
            ));
            process
                .sched_context
                .sched_context_bind(process.tcb)
                .context("give a refused member its context back")?;
        }
        Ok(())
    }
}
