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
//!   |-- start member; unbind its context        |
//!   |-- admit(member's TCB, a) ---------------->| context made, badged with
//!   |                                           |  a, bound; timeout endpoint
//! ```

use alloc::format;
use keel_protocols::cap::Grant;
use keel_protocols::scheduler::SchedulerClient;
use keel_protocols::sys::EndpointClient;
use keel_protocols::{ActivityId, ClientBadge, ClientId, Rights};
use keel_sys::cap::{init_thread, Endpoint};
use keel_sys::{CPtr, Cap};

use crate::memory::ADMIN_EP;
use crate::start::CLIENT_RIGHTS;
use crate::{Context, InitError, State, System};

/// The badge of init's admin cap to a server (the scheduler, the memory
/// managers): the last client number (the description numbers its
/// clients from 1), the system's activity, the admin right.
fn admin_badge() -> ClientBadge {
    ClientBadge::new(ClientId::MAX, ActivityId(0), Rights::ADMIN)
}

impl System<'_> {
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

    /// The scheduler server is ready: tells it every activity's entitlement.
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
                self.say(&format!(
                    "init: activity {} may exceed its entitlement when idle: the scheduler \
                     server does not lend idle time yet, so it is held to it",
                    a.name
                ));
            }
        }
    }

    /// Program `index` was started: a member of an activity is admitted to
    /// the scheduler server with its thread, its loader-made context given
    /// up (and kept if the scheduler server refuses it).
    pub(crate) fn admit(&mut self, index: usize) -> Result<(), InitError> {
        let Some(activity) = self
            .manifest
            .activities
            .iter()
            .find(|a| a.members.iter().any(|&m| usize::from(m) == index))
        else {
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
