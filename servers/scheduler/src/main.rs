//! keel-scheduler: the scheduler server. Init starts it as an active server
//! (it runs on a context of its own: timeout faults come from threads whose
//! budget is spent, which have none to lend) and gives it, besides a
//! server's caps, the named caps `sched-control` (SchedControl),
//! `untyped` (memory for the contexts it makes) and `timeout` (its own
//! endpoint badged `TIMEOUT_FAULT_BADGE`, every admitted thread's timeout
//! endpoint), and spare slots. It serves the scheduler protocol with the
//! logic of `keel-scheduler-core`; a timeout fault is recorded against the
//! activity its context's badge names and answered at once, so the thread
//! goes on when its context's next refill comes; a thread of an activity
//! that may exceed its entitlement moves to a background context first
//! (keel-scheduler-core's `lend`). For an attribution it
//! reads the records of the servers added to it, Calling each on its own
//! context: it trusts them to answer (only an admin adds one).
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use keel_abi::fault::{FaultType, TIMEOUT_CONSUMED, TIMEOUT_DATA};
use keel_abi::object::MIN_SCHED_CONTEXT_BITS;
use keel_abi::ObjectType;
use keel_protocols::accounting::{AccountingClient, AccountingError, Record};
use keel_protocols::cap::{Endpoint as EndpointKind, Granted, ReceivedCap, Tcb as TcbKind};
use keel_protocols::registers::{Arrival, RegisterReply};
use keel_protocols::scheduler::{SchedulerError, Serving, TIMEOUT_FAULT_BADGE};
use keel_protocols::sys::{serve_emptying, EndpointClient, EndpointServer, ReceiveSlot};
use keel_protocols::wire::{Incoming, OutMessage, REGISTER_WORDS};
use keel_protocols::{Service, SignalSet};
use keel_rt::process::slot;
use keel_rt::{println, ProcessInfo};
use keel_scheduler_core::{Kernel, Scheduler};
use keel_sys::cap::{CNode, Endpoint, SchedContext, SchedControl, Tcb, Untyped};
use keel_sys::sched::SchedContextFlags;
use keel_sys::{CPtr, Cap};

keel_rt::main!(main);

/// Activities the server keeps.
const ACTIVITIES: usize = 32;
/// Threads it keeps (each with a context).
const THREADS: usize = 64;
/// Exit status when the page lacks a cap the server needs.
const MISSING_CAP_STATUS: u32 = 1;
/// Exit status when the transport cannot be set up.
const TRANSPORT_STATUS: u32 = 2;

/// The kernel side: SchedControl, the untyped contexts are made from, and
/// the spare slots contexts and kept threads go to.
struct Machine {
    cnode: Cap<CNode>,
    untyped: Cap<Untyped>,
    control: Cap<SchedControl>,
    timeout: Cap<Endpoint>,
    next: u64,
    end: u64,
}

impl Machine {
    fn take_slot(&mut self) -> Result<u64, SchedulerError> {
        if self.next >= self.end {
            return Err(SchedulerError::TooManyThreads);
        }
        self.next += 1;
        Ok(self.next - 1)
    }

    fn at(&self, slot: u64) -> keel_sys::AbsoluteCPtr {
        self.cnode.absolute_cptr(CPtr::from_bits(slot))
    }

    /// Moves a cap that arrived into a slot of the server's own.
    fn keep(&mut self, cap: ReceivedCap) -> Result<u64, SchedulerError> {
        let ReceivedCap::Transferred { cptr, .. } = cap else {
            return Err(SchedulerError::Kernel);
        };
        let slot = self.take_slot()?;
        kernel(self.at(slot).move_(&self.at(cptr)))?;
        Ok(slot)
    }
}

fn kernel<T, E>(result: Result<T, E>) -> Result<T, SchedulerError> {
    result.map_err(|_| SchedulerError::Kernel)
}

impl Kernel for Machine {
    fn make_context(&mut self) -> Result<u64, SchedulerError> {
        let slot = self.take_slot()?;
        kernel(self.untyped.untyped_retype(
            ObjectType::SchedContext,
            MIN_SCHED_CONTEXT_BITS.into(),
            &self.cnode.absolute_cptr_with_depth(0, 0),
            slot,
            1,
        ))
        .map_err(|_| SchedulerError::TooManyThreads)?;
        Ok(slot)
    }

    fn keep_thread(&mut self, tcb: Granted<TcbKind>) -> Result<u64, SchedulerError> {
        self.keep(tcb.received())
    }

    fn keep_server(&mut self, endpoint: Granted<EndpointKind>) -> Result<u64, SchedulerError> {
        self.keep(endpoint.received())
    }

    fn record(&mut self, server: u64, index: u16) -> Result<Option<Record>, SchedulerError> {
        let transport =
            EndpointClient::new(slot(server), None).map_err(|_| SchedulerError::Records)?;
        match AccountingClient::new(transport).record(index) {
            Ok(r) => Ok(Some(r)),
            Err(AccountingError::NoSuchRecord) => Ok(None),
            Err(_) => Err(SchedulerError::Records),
        }
    }

    fn now(&mut self) -> u64 {
        keel_sys::arch::cycle_counter()
    }

    /// Every context gets the most refills a context holds: an activity's
    /// thread that blocks (a call to a server) splits its budget into one
    /// refill per run, and with seL4's two a full list pushes the rest of
    /// its budget to a later period (the demo's spinners, which ask the
    /// timer's clock now and then, got 25-30% of a 45% entitlement).
    fn configure(
        &mut self,
        context: u64,
        budget_us: u32,
        period_us: u32,
        badge: u64,
    ) -> Result<(), SchedulerError> {
        kernel(self.control.sched_control_configure_flags(
            slot(context),
            budget_us.into(),
            period_us.into(),
            keel_abi::sched::MAX_EXTRA_REFILLS,
            badge,
            SchedContextFlags::NONE,
        ))
    }

    fn bind(&mut self, context: u64, thread: u64) -> Result<(), SchedulerError> {
        let tcb: Cap<Tcb> = slot(thread);
        kernel(tcb.tcb_set_timeout_endpoint(Some(self.timeout)))?;
        kernel(slot::<SchedContext>(context).sched_context_bind(tcb))
    }

    fn consumed(&mut self, context: u64) -> Result<u64, SchedulerError> {
        kernel(slot::<SchedContext>(context).sched_context_consumed())
    }

    fn unbind(&mut self, context: u64) -> Result<(), SchedulerError> {
        kernel(slot::<SchedContext>(context).sched_context_unbind())
    }

    fn set_priority(&mut self, thread: u64, priority: u8) -> Result<(), SchedulerError> {
        let tcb: Cap<Tcb> = slot(thread);
        kernel(tcb.tcb_set_priority(tcb, priority.into()))
    }
}

/// The protocol's service, with timeout faults taken first.
struct WithFaults<'a>(&'a mut Scheduler<Machine, ACTIVITIES, THREADS>);

impl Service for WithFaults<'_> {
    fn handle(&mut self, request: &Incoming, reply: &mut OutMessage) {
        Serving(&mut *self.0).handle(request, reply);
    }

    fn handle_registers(
        &mut self,
        request: &Arrival,
        past: impl FnOnce(&mut [u64]) -> bool,
    ) -> Option<RegisterReply> {
        if request.badge == TIMEOUT_FAULT_BADGE && request.label == FaultType::Timeout as u64 {
            let badge = request.registers[TIMEOUT_DATA];
            if let Err(e) = self.0.timeout(badge, request.registers[TIMEOUT_CONSUMED]) {
                println!("scheduler: moving a lent thread (context badge {badge:#x}): {e:?}");
            }
            // Label 0 and no words: the thread goes on as it was.
            return Some(RegisterReply {
                label: 0,
                length: 0,
                words: [0; REGISTER_WORDS],
            });
        }
        Serving(&mut *self.0).handle_registers(request, past)
    }

    fn signalled(&mut self, signals: SignalSet) {
        Serving(&mut *self.0).signalled(signals);
    }
}

fn main(info: &'static ProcessInfo) -> u32 {
    let s = &info.slots;
    let named = |name| info.connection(name);
    let (Some(endpoint), Some(reply), Some(debug), Some((first, end))) =
        (s.endpoint, s.reply, s.debug, s.spare)
    else {
        println!("scheduler: started without an endpoint, Reply object, Debug cap or spare slots");
        return MISSING_CAP_STATUS;
    };
    let (Some(control), Some(untyped), Some(timeout)) =
        (named("sched-control"), named("untyped"), named("timeout"))
    else {
        println!("scheduler: started without sched-control, untyped or timeout");
        return MISSING_CAP_STATUS;
    };
    let cnode = slot::<CNode>(s.cnode);
    let receive = ReceiveSlot::in_own_cnode(s.cnode, s.receive, Some(slot(debug)));
    let mut transport = match EndpointServer::announcing(
        slot(s.init),
        slot(endpoint),
        slot(reply),
        Some(receive),
    ) {
        Ok(t) => t,
        Err(e) => {
            println!("scheduler: setting up its endpoint: {e}");
            return TRANSPORT_STATUS;
        }
    };
    let mut scheduler: Scheduler<Machine, ACTIVITIES, THREADS> = Scheduler::new(Machine {
        cnode,
        untyped: slot(untyped),
        control: slot(control),
        timeout: slot(timeout),
        next: first,
        end,
    });
    serve_emptying(&mut transport, &mut WithFaults(&mut scheduler))
}
