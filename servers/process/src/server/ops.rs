//! The Process protocol's operations on the server's state (see the
//! parent module): checks of who asks and for what, then the state's own
//! steps.

use super::{ended_of, quota_error, Server, Wait};
use keel_abi::{Error, ObjectType};
use keel_process_core::table::State;
use keel_protocols::cap::{Endpoint as EndpointKind, Granted, Notification as NotificationKind};
use keel_protocols::process::{
    ConnectionName, Ended, Entries, Entry, Name, ProcessError, ProcessServer, SpawnArgs, Spawned,
    Teardown,
};
use keel_protocols::Caller;
use keel_sys::arch::cycle_counter;
use keel_sys::CPtr;

impl ProcessServer for Server<'_> {
    fn spawn(
        &mut self,
        caller: &Caller,
        args: SpawnArgs,
        name: Name,
    ) -> Result<Spawned, ProcessError> {
        let spawned = self.build(caller, &args, &name);
        self.drop_offered(caller.badge.client().get());
        spawned
    }

    fn wait(&mut self, caller: &Caller, pid: u64) -> Result<Ended, ProcessError> {
        let pid = self.own(caller, pid)?;
        let state = self.table.get(pid).map_or(State::Killed, |p| p.state);
        if state != State::Running {
            self.forget(pid);
            return Ok(ended_of(state));
        }
        // Keep the reply: the loop switches to a free Reply object, which
        // must exist.
        if self.waits.iter().filter(|w| w.is_none()).count() < 2 {
            return Err(ProcessError::Full);
        }
        self.waits[self.current] = Some(Wait {
            waiter: caller.badge.client().get(),
            pid,
        });
        self.deferred = true;
        // Not sent: the loop sees `deferred`.
        Err(ProcessError::Ended)
    }

    fn kill(&mut self, caller: &Caller, pid: u64) -> Result<Teardown, ProcessError> {
        let pid = self.own(caller, pid)?;
        let deadline = self.table.get(pid).map_or(0, |p| p.record.deadline);
        let start = cycle_counter();
        let processes = self.reclaim(pid, State::Killed);
        let measured = cycle_counter().wrapping_sub(start);
        if processes == 0 {
            return Err(ProcessError::Ended);
        }
        self.answer_waits(pid);
        self.forget(pid);
        Ok(Teardown {
            measured,
            deadline,
            processes,
        })
    }

    fn list(&mut self, caller: &Caller) -> Result<Entries, ProcessError> {
        let mut entries = Entries::new();
        for p in self
            .table
            .iter()
            .filter(|p| Self::reaches(caller, p.record.parent))
        {
            let entry = Entry {
                pid: p.pid.get(),
                name: p.record.name.clone(),
                state: match p.state {
                    State::Running => 0,
                    s => ended_of(s).how,
                },
                memory: p.record.block.map_or(0, |b| b.size()),
                charged: p.record.quota.charged(),
                quota: p.record.quota.limit(),
                deadline: p.record.deadline,
            };
            entries.push(entry).map_err(|_| ProcessError::Full)?;
        }
        Ok(entries)
    }

    fn alloc_object(
        &mut self,
        caller: &Caller,
        kind: u64,
        size_bits: u64,
    ) -> Result<u64, ProcessError> {
        let pid = self
            .process_of(caller.badge.client().get())
            .ok_or(ProcessError::NotAProcess)?;
        let kind = ObjectType::try_from(kind).map_err(|_| ProcessError::BadArgument)?;
        let base = self.base(pid);
        let p = self.table.get_mut(pid).ok_or(ProcessError::NotAProcess)?;
        let r = &mut p.record;
        let cost = r
            .quota
            .admit(&self.costs, kind, size_bits, 1)
            .map_err(quota_error)?;
        if r.next_slot >= r.slots {
            return Err(ProcessError::Full);
        }
        let block = r.block.ok_or(ProcessError::NotAProcess)?;
        let child_cnode = self.machine.cnode.absolute_cptr(CPtr::from_bits(base));
        self.groups
            .untyped(block)
            .untyped_retype(kind, size_bits, &child_cnode, r.next_slot, 1)
            .map_err(|e| match e == Error::NotEnoughMemory {
                true => ProcessError::NoMemory,
                false => ProcessError::Kernel,
            })?;
        r.quota.charge(cost).map_err(quota_error)?;
        r.next_slot += 1;
        Ok(r.next_slot - 1)
    }

    fn offer(
        &mut self,
        caller: &Caller,
        name: ConnectionName,
        connection: Granted<EndpointKind>,
    ) -> Result<(), ProcessError> {
        self.offer_connection(caller.badge.client().get(), name, connection)
    }

    fn notify(
        &mut self,
        caller: &Caller,
        notification: Granted<NotificationKind>,
    ) -> Result<(), ProcessError> {
        self.register(caller.badge.client().get(), notification)
    }
}
