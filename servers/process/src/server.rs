//! The process server's state and its answers: spawn into a group (a
//! block of the pool or the slave's partition, see [`crate::groups`]),
//! charging the initial objects before the process runs;
//! reclaim (one revoke of the group, the fault endpoint cap dropped, the
//! processes it spawned reclaimed with it); waits kept until their process
//! ends; objects made from a process's own group, charged to its quota.
//!
//! A process is named to the server by its badge: client
//! `CHILD_CLIENT_BASE + i` is the process in table slot `i`. A client acts
//! only on processes whose parent is its own client number, unless its
//! badge carries the admin right; a spawner's offered connections and
//! end notification are [`links`].

use alloc::vec::Vec;
use keel_abi::archive::Archive;
use keel_abi::process::{NamedCap, ProcessInfo, ProcessSlots, PROCESS_INFO_VADDR};
use keel_abi::{CapRights, Error, MessageInfo, ObjectType};
use keel_loader::{
    slot, Budget, ExtraPage, GivenCap, ProcessConfig, SlotLayout, CALLER_SLOTS, SCHED_CONTEXT_BITS,
};
use keel_process_core::cost::CostTable;
use keel_process_core::quota::{Quota, QuotaError};
use keel_process_core::table::{Pid, ProcessTable, State};
use keel_protocols::badge::{ActivityId, ClientBadge, ClientId, Rights};
use keel_protocols::process::{
    how, Ended, Name, ProcessError, SpawnArgs, Spawned, ADMIN, CHILD_CLIENT_BASE, KEEL_RT,
    MIN_GROUP_BITS, POOL_BITS,
};
use keel_protocols::wire::REPLY_OK;
use keel_protocols::Caller;
use keel_sys::cap::{AsidPool, CNode, Endpoint, Reply, SchedControl, Tcb, VSpace};
use keel_sys::{CPtr, Cap, InvocationError};

use crate::groups::{Group, Groups};

mod links;
mod ops;

pub use links::{Links, SLOTS as LINK_SLOTS};

/// Processes the server keeps (running, or ended and not yet waited for).
pub const MAX_PROCESSES: usize = 32;
/// Slots per process in the server's CNode: keel-loader's, then the
/// process's badged cap to the server (its fault endpoint).
pub const PER_PROCESS: u64 = CALLER_SLOTS + 1;
/// The process's fault endpoint, among its [`PER_PROCESS`] slots.
const FAULT_EP: u64 = CALLER_SLOTS;
/// The slot of a process's CNode where the caps it receives go.
const RECEIVE_SLOT: u64 = slot::FIRST_LOADER - 1;
/// The rights of a process's cap to the server: Call, never receive.
const CLIENT_RIGHTS: CapRights = CapRights::WRITE
    .union(CapRights::GRANT)
    .union(CapRights::GRANT_REPLY);

/// The server's own caps and slots.
pub struct Machine {
    /// Its CNode (slot numbers are CPtrs).
    pub cnode: Cap<CNode>,
    /// Its VSpace (keel-loader's scratch mappings go here).
    pub vspace: Cap<VSpace>,
    /// Its TCB: its maximum controlled priority bounds its processes'.
    pub tcb: Cap<Tcb>,
    /// The ASID pool for its processes' VSpaces.
    pub asid_pool: Cap<AsidPool>,
    /// Configures its processes' scheduling contexts.
    pub sched_control: Cap<SchedControl>,
    /// The endpoint it serves on.
    pub endpoint: Cap<Endpoint>,
    /// Its Debug cap, passed on to its processes.
    pub debug: Option<u64>,
    /// An unused page of its VSpace for keel-loader's scratch mapping.
    pub scratch_vaddr: u64,
    /// The first of its Reply objects' slots.
    pub replies: u64,
    /// The first of [`MAX_PROCESSES`] * [`PER_PROCESS`] slots.
    pub process_slots: u64,
}

/// What the server keeps of one process.
pub struct Record {
    /// Its program.
    name: Name,
    /// The client number of the one that spawned it.
    parent: u16,
    /// Its group, until it is reclaimed.
    block: Option<Group>,
    /// Its reclamation quota.
    quota: Quota,
    /// Its declared teardown deadline.
    deadline: u64,
    /// The next free slot of its CNode (alloc_object's).
    next_slot: u64,
    /// Slots of its CNode.
    slots: u64,
}

/// A wait whose reply the server keeps, in its Reply object's place.
#[derive(Clone, Copy)]
pub struct Wait {
    /// The waiting client's number.
    pub waiter: u16,
    /// The process waited for.
    pub pid: Pid,
}

/// The server.
pub struct Server<'a> {
    machine: Machine,
    archive: Archive<'a>,
    groups: Groups,
    table: ProcessTable<Record>,
    costs: CostTable,
    links: Links,
    /// One entry per Reply object: the wait it holds.
    pub waits: Vec<Option<Wait>>,
    /// The Reply object the next receive uses.
    pub current: usize,
    /// Set by `wait` when it keeps the current reply.
    pub deferred: bool,
}

fn kernel(_: InvocationError) -> ProcessError {
    ProcessError::Kernel
}

impl<'a> Server<'a> {
    /// A server with no processes, charging by `costs`, with `replies`
    /// Reply objects.
    pub fn new(
        machine: Machine,
        archive: Archive<'a>,
        groups: Groups,
        costs: CostTable,
        replies: usize,
        links: Links,
    ) -> Self {
        Server {
            machine,
            archive,
            groups,
            table: ProcessTable::new(MAX_PROCESSES),
            costs,
            links,
            waits: (0..replies).map(|_| None).collect(),
            current: 0,
            deferred: false,
        }
    }

    fn base(&self, pid: Pid) -> u64 {
        self.machine.process_slots + pid.index() as u64 * PER_PROCESS
    }

    /// The badge of the process in table slot `index`.
    fn badge(index: usize, activity: ActivityId, rights: Rights) -> Option<ClientBadge> {
        let client = CHILD_CLIENT_BASE.checked_add(u16::try_from(index).ok()?)?;
        Some(ClientBadge::new(ClientId::new(client)?, activity, rights))
    }

    /// The running process a badge's client number names.
    pub fn process_of(&self, client: u16) -> Option<Pid> {
        let index = usize::from(client.checked_sub(CHILD_CLIENT_BASE)?);
        let p = self.table.at(index)?;
        (p.state == State::Running).then_some(p.pid)
    }

    /// The caller's process `pid` (any process, for an admin).
    fn own(&self, caller: &Caller, pid: u64) -> Result<Pid, ProcessError> {
        let pid = Pid::from_raw(pid);
        match self.table.get(pid) {
            Some(p) if Self::reaches(caller, p.record.parent) => Ok(pid),
            _ => Err(ProcessError::NoSuchProcess),
        }
    }

    /// Whether `caller` acts on the processes client `parent` spawned.
    fn reaches(caller: &Caller, parent: u16) -> bool {
        parent == caller.badge.client().get() || caller.badge.rights().contains(Rights::ADMIN)
    }

    /// Builds program `name` in a new group and charges its objects;
    /// leaves nothing behind on failure.
    fn build(
        &mut self,
        caller: &Caller,
        args: &SpawnArgs,
        name: &Name,
    ) -> Result<Spawned, ProcessError> {
        let image = self
            .archive
            .find(name.as_str())
            .map(|e| self.archive.data(e))
            .ok_or(ProcessError::NoSuchProgram)?;
        let order = args
            .memory
            .max(1 << MIN_GROUP_BITS)
            .checked_next_power_of_two()
            .map(u64::trailing_zeros)
            .filter(|&o| o <= u32::from(POOL_BITS))
            .ok_or(ProcessError::BadArgument)?;
        let quota = Quota::new(args.quota);
        let deadline = quota
            .deadline(&self.costs)
            .ok_or(ProcessError::BadArgument)?;
        // A CNode slot per page the group could hold, within 2^8..2^12.
        let radix = u64::from(order.saturating_sub(12) + 1).clamp(8, 12);
        let record = Record {
            name: name.clone(),
            parent: caller.badge.client().get(),
            block: None,
            quota,
            deadline,
            next_slot: 0,
            slots: 1 << radix,
        };
        let pid = self.table.insert(record).map_err(|_| ProcessError::Full)?;
        let block = match self.groups.alloc(order as u8, pid.index() as u32) {
            Ok(b) => b,
            Err(e) => {
                self.forget(pid);
                return Err(e);
            }
        };
        if let Some(p) = self.table.get_mut(pid) {
            p.record.block = Some(block);
        }
        let activity = match args.activity {
            0 => caller.activity,
            a => ActivityId(a),
        };
        let built = self.load(pid, image, args, radix, activity, caller);
        match built {
            Ok(spawned) => Ok(spawned),
            Err(e) => {
                self.reclaim(pid, State::Killed);
                self.forget(pid);
                Err(e)
            }
        }
    }

    /// keel-loader's half of spawn: builds the process suspended, charges
    /// what was made, then starts it.
    fn load(
        &mut self,
        pid: Pid,
        image: &[u8],
        args: &SpawnArgs,
        radix: u64,
        activity: ActivityId,
        caller: &Caller,
    ) -> Result<Spawned, ProcessError> {
        let rights = match args.flags & ADMIN {
            0 => Rights::NONE,
            _ if caller.badge.rights().contains(Rights::ADMIN) => Rights::ADMIN,
            _ => return Err(ProcessError::NotAdmin),
        };
        let m = &self.machine;
        let base = self.base(pid);
        let badge = Self::badge(pid.index(), activity, rights).ok_or(ProcessError::Full)?;
        let block = self
            .table
            .get(pid)
            .and_then(|p| p.record.block)
            .ok_or(ProcessError::Kernel)?;
        m.cnode
            .absolute_cptr(CPtr::from_bits(base + FAULT_EP))
            .mint(
                &m.cnode.absolute_cptr(m.endpoint.cptr()),
                CLIENT_RIGHTS,
                badge.bits(),
            )
            .map_err(kernel)?;
        let mut caps = alloc::vec![GivenCap {
            cptr: CPtr::from_bits(base + FAULT_EP),
            rights: CLIENT_RIGHTS,
            badge: 0,
        }];
        if let Some(debug) = m.debug {
            caps.push(GivenCap {
                cptr: CPtr::from_bits(debug),
                rights: CapRights::READ.union(CapRights::WRITE),
                badge: 0,
            });
        }
        let (offered, mut connections) = self.offered_to(
            caller.badge.client().get(),
            slot::FIRST_GIVEN + caps.len() as u64,
        );
        caps.extend(offered);
        connections.insert(
            0,
            NamedCap {
                name: "process".into(),
                slot: slot::FIRST_GIVEN,
            },
        );
        let info = ProcessInfo {
            name: self
                .table
                .get(pid)
                .map(|p| p.record.name.as_str().into())
                .unwrap_or_default(),
            slots: ProcessSlots {
                tcb: slot::TCB,
                cnode: slot::CNODE,
                vspace: slot::VSPACE,
                init: slot::FIRST_GIVEN,
                receive: RECEIVE_SLOT,
                debug: m.debug.map(|_| slot::FIRST_GIVEN + 1),
                ..ProcessSlots::default()
            },
            connections,
            regions: Vec::new(),
            irqs: Vec::new(),
            ioports: Vec::new(),
            arg: args.arg,
        };
        let page = info.encode_page().map_err(|_| ProcessError::BadArgument)?;
        let extra = [ExtraPage {
            vaddr: PROCESS_INFO_VADDR,
            bytes: &page,
        }];
        let res = keel_loader::Resources {
            untyped: self.groups.untyped(block),
            cnode: m.cnode,
            slots: base..base + CALLER_SLOTS,
            vspace: m.vspace,
            scratch_vaddr: m.scratch_vaddr,
            asid_pool: m.asid_pool,
            authority: m.tcb,
            sched_control: m.sched_control,
        };
        let cfg = ProcessConfig {
            priority: args.priority.into(),
            fault_ep: Some(CPtr::from_bits(base + FAULT_EP)),
            arg: match args.flags & KEEL_RT {
                0 => args.arg,
                _ => PROCESS_INFO_VADDR,
            },
            caps: &caps,
            layout: SlotLayout {
                cnode_radix: radix,
                ..SlotLayout::default()
            },
            extra_pages: &extra,
            budget: Some(Budget::ROUND_ROBIN),
            start: false,
            ..ProcessConfig::default()
        };
        let process = keel_loader::spawn(image, &res, &cfg).map_err(|e| {
            match e.error == Error::NotEnoughMemory {
                true => ProcessError::GroupTooSmall,
                false => ProcessError::Kernel,
            }
        })?;
        let charged = self.charge_initial(pid, &process.made, radix)?;
        if let Some(p) = self.table.get_mut(pid) {
            p.record.next_slot = process.slots_used;
        }
        process.tcb.tcb_resume().map_err(kernel)?;
        let deadline = self.table.get(pid).map_or(0, |p| p.record.deadline);
        Ok(Spawned {
            pid: pid.get(),
            deadline,
            charged,
        })
    }

    /// Charges the objects keel-loader made to `pid`'s quota.
    fn charge_initial(&mut self, pid: Pid, made: &[u64], radix: u64) -> Result<u64, ProcessError> {
        let costs = &self.costs;
        let p = self.table.get_mut(pid).ok_or(ProcessError::Kernel)?;
        let mut quota = p.record.quota;
        for &kind in ObjectType::ALL {
            let count = made[kind as usize];
            if count == 0 {
                continue;
            }
            let bits = match kind {
                ObjectType::CNode => radix,
                ObjectType::SchedContext => SCHED_CONTEXT_BITS,
                _ => 0,
            };
            quota
                .charge_objects(costs, kind, bits, count)
                .map_err(quota_error)?;
        }
        p.record.quota = quota;
        Ok(quota.charged())
    }

    /// Ends `pid` in `state`: one revoke of its group, its fault endpoint
    /// cap dropped, the processes it spawned ended too. Returns how many
    /// processes ended. A process already reclaimed is left as it is.
    fn reclaim(&mut self, pid: Pid, state: State) -> u64 {
        let Ok(p) = self.table.end(pid, state) else {
            return 0;
        };
        let parent = p.record.parent;
        let block = p.record.block.take();
        if let Some(block) = block {
            self.groups.release(block);
        }
        let base = self.base(pid);
        let _ = self
            .machine
            .cnode
            .absolute_cptr(CPtr::from_bits(base + FAULT_EP))
            .delete();
        let me = CHILD_CLIENT_BASE + pid.index() as u16;
        self.forget_links(me);
        self.tell(parent);
        for w in self.waits.iter_mut() {
            // Its own wait: the kernel cleared the Reply object with it.
            if w.is_some_and(|w| w.waiter == me) {
                *w = None;
            }
        }
        let children: Vec<Pid> = self
            .table
            .iter()
            .filter(|c| c.record.parent == me)
            .map(|c| c.pid)
            .collect();
        let mut ended = 1;
        for child in children {
            ended += self.reclaim(child, State::Killed);
            self.forget(child);
        }
        ended
    }

    /// Removes the ended `pid` from the table: its slot and badge are free.
    fn forget(&mut self, pid: Pid) {
        if let Some(p) = self.table.get_mut(pid) {
            if p.state == State::Running {
                p.state = State::Killed;
            }
        }
        let _ = self.table.reap(pid);
    }

    /// Ends the process in table slot of client `client` in `state` (its
    /// exit or fault), answering a wait kept for it.
    pub fn ended(&mut self, client: u16, state: State) {
        let Some(pid) = self.process_of(client) else {
            return;
        };
        self.reclaim(pid, state);
        self.answer_waits(pid);
    }

    /// Answers every kept wait for the ended `pid`; the first reaps it.
    fn answer_waits(&mut self, pid: Pid) {
        let Some(ended) = self.table.get(pid).map(|p| ended_of(p.state)) else {
            return;
        };
        let mut answered = false;
        for (i, w) in self.waits.iter_mut().enumerate() {
            if w.is_some_and(|w| w.pid == pid) {
                *w = None;
                let info = MessageInfo::new(REPLY_OK, 0, 0, 2);
                reply_cap(self.machine.replies, i).reply(info, [ended.how, ended.status, 0, 0]);
                answered = true;
            }
        }
        if answered {
            self.forget(pid);
        }
    }

    /// Reply object `index`.
    pub fn reply(&self, index: usize) -> Cap<Reply> {
        reply_cap(self.machine.replies, index)
    }
}

/// Reply object `index` of those from slot `base`.
fn reply_cap(base: u64, index: usize) -> Cap<Reply> {
    Cap::from_cptr(CPtr::from_bits(base + index as u64))
}

/// What wait answers for a process in `state`.
fn ended_of(state: State) -> Ended {
    match state {
        State::Exited(status) => Ended {
            how: how::EXITED,
            status,
        },
        State::Faulted(kind) => Ended {
            how: how::FAULTED,
            status: kind,
        },
        State::Killed | State::Running => Ended {
            how: how::KILLED,
            status: 0,
        },
    }
}

fn quota_error(e: QuotaError) -> ProcessError {
    match e {
        QuotaError::Exceeded { .. } => ProcessError::QuotaExceeded,
        QuotaError::Cost(_) => ProcessError::BadArgument,
    }
}
