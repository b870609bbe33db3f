//! Server processes as their supervisor holds them, and what one restart
//! costs. A [`Server`] is built by keel-loader from an untyped of its own
//! (its Reply object too), so one revoke of that untyped tears it down; its
//! endpoint and fault endpoint come from the supervisor's memory and outlive
//! it, so clients keep their caps across restarts. This program is every
//! server's fault handler: faults arrive on [`Server::faults`]'s endpoint,
//! badged with the server's [`Server::fault_badge`].
//!
//! [`measure_restarts`] makes the stub server fault (a second thread of
//! this program, the crasher, asks it to read an unmapped address) and
//! times from the fault's arrival, through [`restart`], to the first request
//! the new instance answers (this thread's Call returning):
//! `BENCH restart 0 <instructions>`. [`restart`] is the part a supervisor
//! (init) owns; the rest is the measurement.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};
use keel_abi::archive::Archive;
use keel_abi::bootinfo::IPC_BUFFER_VADDR;
use keel_abi::fault::FaultType;
use keel_abi::{BootInfo, CapRights, Error, MessageInfo, ObjectType};
use keel_bench::{at, failed, prepare_thread, Failure, Step};
use keel_echo_server::EchoClient;
use keel_loader::{GivenCap, Process, ProcessConfig, Resources, CALLER_SLOTS};
use keel_protocols::sys::EndpointClient;
use keel_protocols::ClientBadge;
use keel_rt::println;
use keel_sys::arch::cycle_counter;
use keel_sys::cap::{init_thread, Endpoint, SchedContext, Tcb, Untyped};
use keel_sys::tcb::UserContext;
use keel_sys::{CPtr, Cap};

use crate::{cap, Slots};

/// Restarts timed.
const RESTARTS: usize = 21;
/// Where keel-loader fills frames in this program's VSpace.
const SCRATCH_VADDR: u64 = 0x0000_6000_0000_0000;
/// The badge of the crasher's own cap to the fault endpoint, with which it
/// reports that its request was answered (it should never be).
const CRASHER_BADGE: u64 = 0xc0;

const STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct Stack(UnsafeCell<[u8; STACK_SIZE]>);
// SAFETY: the stack is used by the crasher thread only.
unsafe impl Sync for Stack {}
static STACK: Stack = Stack(UnsafeCell::new([0; STACK_SIZE]));

/// The crasher's caps: its endpoint cap to the stub server, its cap to the
/// fault endpoint.
static CRASHER_CAPS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// The boot archive's `echo-server`.
///
/// # Errors
/// When the archive or the program is missing.
pub fn echo_image(boot_info: &'static BootInfo) -> Step<&'static [u8]> {
    let archive = Archive::parse(keel_rt::boot_archive(boot_info))
        .map_err(|_| failed("the boot archive", Error::InvalidArgument))?;
    archive
        .find("echo-server")
        .map(|e| archive.data(e))
        .ok_or_else(|| {
            failed(
                "no `echo-server` in the boot archive",
                Error::InvalidArgument,
            )
        })
}

/// A server process and what its supervisor keeps to rebuild it.
pub struct Server {
    image: &'static [u8],
    mode: u64,
    /// The server's own untyped: everything of the process is made from it.
    untyped: Cap<Untyped>,
    /// The endpoint it serves (the supervisor's memory).
    endpoint: u64,
    /// The fault endpoint, badged with the server's fault badge.
    fault_cap: u64,
    /// The fault endpoint itself, unbadged, as the supervisor receives on it.
    faults: u64,
    /// The slot for its Reply object.
    reply: u64,
    /// The loader's slots.
    loader: u64,
    process: Option<Process>,
}

impl Server {
    /// A server of `image` in `mode`, to be built from `untyped`; its
    /// endpoint is made from `own` and its faults go to the endpoint in
    /// slot `faults`.
    ///
    /// # Errors
    /// Too few slots, or a failed retype.
    pub fn new(
        image: &'static [u8],
        mode: u64,
        untyped: Cap<Untyped>,
        own: Cap<Untyped>,
        faults: u64,
        slots: &mut Slots,
    ) -> Step<Server> {
        let here = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
        let (endpoint, fault_cap, reply) = (slots.take(1)?, slots.take(1)?, slots.take(1)?);
        let loader = slots.take(CALLER_SLOTS)?;
        at(
            "server endpoint",
            own.untyped_retype(ObjectType::Endpoint, 0, &here, endpoint, 1),
        )?;
        let server = Server {
            image,
            mode,
            untyped,
            endpoint,
            fault_cap,
            faults,
            reply,
            loader,
            process: None,
        };
        at(
            "server fault cap",
            slot(fault_cap).mint(&slot(faults), CapRights::ALL, server.fault_badge()),
        )?;
        Ok(server)
    }

    /// The badge its faults arrive with: its endpoint's slot number.
    pub fn fault_badge(&self) -> u64 {
        self.endpoint
    }

    /// The fault endpoint, as the supervisor receives on it.
    pub fn faults(&self) -> Cap<Endpoint> {
        cap(self.faults)
    }

    /// A cap to its endpoint for a client, minted with `badge` into a slot
    /// from `slots`.
    ///
    /// # Errors
    /// Too few slots, or a failed mint.
    pub fn client_cap(&self, slots: &mut Slots, badge: ClientBadge) -> Step<u64> {
        let s = slots.take(1)?;
        let minted = slot(s).mint(&slot(self.endpoint), CapRights::ALL, badge.bits());
        at("mint a client's cap", minted)?;
        Ok(s)
    }

    /// The running process.
    ///
    /// # Errors
    /// When it has not been started.
    pub fn process(&self) -> Step<Process> {
        self.process
            .ok_or_else(|| Failure::new("the server was never started"))
    }

    /// Builds the process from its untyped (which must be empty), lets it
    /// run into its first receive on its own scheduling context, then makes
    /// it passive.
    ///
    /// # Errors
    /// The failed step.
    pub fn start(&mut self) -> Step<()> {
        let here = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
        at(
            "server reply object",
            self.untyped
                .untyped_retype(ObjectType::Reply, 0, &here, self.reply, 1),
        )?;
        let given = |s: u64, rights| GivenCap {
            cptr: CPtr::from_bits(s),
            rights,
            badge: 0,
        };
        let caps = [
            given(self.endpoint, CapRights::ALL),
            given(self.reply, CapRights::ALL),
            given(init_thread::DEBUG.cptr().bits(), CapRights::WRITE),
        ];
        let res = Resources {
            untyped: self.untyped,
            cnode: init_thread::CNODE,
            slots: self.loader..self.loader + CALLER_SLOTS,
            vspace: init_thread::VSPACE,
            scratch_vaddr: SCRATCH_VADDR,
            asid_pool: init_thread::ASID_POOL,
            authority: init_thread::TCB,
            sched_control: init_thread::SCHED_CONTROL,
        };
        let cfg = ProcessConfig {
            arg: self.mode,
            caps: &caps,
            fault_ep: Some(CPtr::from_bits(self.fault_cap)),
            ..ProcessConfig::default()
        };
        let process =
            keel_loader::spawn(self.image, &res, &cfg).or_else(|e| at(e.step, Err(e.error)))?;
        // It runs at this thread's priority: a yield lets it run until it
        // blocks in its first receive.
        at("let the server reach its receive", keel_sys::r#yield())?;
        at(
            "make the server passive",
            process.sched_context.sched_context_unbind(),
        )?;
        self.process = Some(process);
        Ok(())
    }
}

fn slot(s: u64) -> keel_sys::AbsoluteCPtr {
    init_thread::CNODE.absolute_cptr(CPtr::from_bits(s))
}

/// Restarts `server`, whose fault has just arrived: tears the old instance
/// down with one revoke of its untyped (process, Reply object and all), then
/// builds and starts a new one from the same untyped. A client whose
/// request was in flight is left inactive (its Reply object is gone);
/// clients' caps to the endpoint stay good, and their next request reaches
/// the new instance.
///
/// # Errors
/// The failed step.
pub fn restart(server: &mut Server) -> Step<()> {
    server.process = None;
    at(
        "tear the server down (revoke its untyped)",
        slot(server.untyped.cptr().bits()).revoke(),
    )?;
    server.start()
}

/// The crasher thread: asks the stub server to crash; its Call is never
/// answered. If it is, it says so on the fault endpoint and stops.
extern "C" fn crasher(_: u64) -> ! {
    let endpoint: Cap<Endpoint> = cap(CRASHER_CAPS[0].load(Ordering::SeqCst));
    if let Ok(transport) = EndpointClient::new(endpoint, None) {
        let _answered = EchoClient::new(transport).crash();
    }
    let report: Cap<Endpoint> = cap(CRASHER_CAPS[1].load(Ordering::SeqCst));
    report.send(MessageInfo::new(0, 0, 0, 0), [0; 4]);
    loop {
        let _ = keel_sys::r#yield();
    }
}

/// Times [`RESTARTS`] restarts of `server` (the stub server, which `client`
/// calls through the stub), each from its fault to the first request the
/// new instance answers. The crasher's objects come from `own`.
///
/// # Errors
/// The failed step, or a restart that did not serve.
pub fn measure_restarts(
    server: &mut Server,
    client: &mut EchoClient<EndpointClient>,
    own: Cap<Untyped>,
    slots: &mut Slots,
    overhead: u64,
) -> Step<()> {
    let here = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
    let (tcb, sc, report) = (slots.take(1)?, slots.take(1)?, slots.take(1)?);
    at(
        "crasher TCB",
        own.untyped_retype(ObjectType::Tcb, 0, &here, tcb, 1),
    )?;
    let sc_bits = keel_abi::object::MIN_SCHED_CONTEXT_BITS as u64;
    at(
        "crasher scheduling context",
        own.untyped_retype(ObjectType::SchedContext, sc_bits, &here, sc, 1),
    )?;
    at(
        "crasher's report cap",
        slot(report).mint(&slot(server.faults), CapRights::ALL, CRASHER_BADGE),
    )?;
    CRASHER_CAPS[0].store(
        server.client_cap(slots, crate::CLIENT_BADGE)?,
        Ordering::SeqCst,
    );
    CRASHER_CAPS[1].store(report, Ordering::SeqCst);
    let (tcb, sc): (Cap<Tcb>, Cap<SchedContext>) = (cap(tcb), cap(sc));
    let slice = keel_abi::sched::ROOT_TIMESLICE_US;
    prepare_thread(tcb, sc, 255, slice, slice)?;
    // The crasher's own IPC buffer, the second 1 KiB of the root task's
    // IPC buffer page.
    let buffer = (IPC_BUFFER_VADDR + 1024) as usize as *mut keel_abi::IpcBuffer;
    // SAFETY: the root task's IPC buffer page is mapped writable for its
    // lifetime from the frame `IPC_BUFFER` names; the root task uses only
    // its first 1 KiB, and the crasher is the only other thread here.
    let given = unsafe { keel_sys::give_ipc_buffer(tcb, buffer, init_thread::IPC_BUFFER) };
    at("crasher IPC buffer", given)?;
    let stack_top = STACK.0.get() as u64 + STACK_SIZE as u64;
    let start = UserContext::new_thread(crasher, stack_top, 0);

    for _ in 0..RESTARTS {
        // The crasher runs once this thread waits for the fault; it
        // starts afresh each time (its last Call left it inactive).
        at(
            "start the crasher",
            tcb.tcb_write_all_registers(true, &start),
        )?;
        let fault = server.faults().recv(None);
        let t0 = cycle_counter();
        let restarted = restart(server);
        let served = client.empty();
        let t1 = cycle_counter();
        if fault.badge != server.fault_badge() || fault.info.label() != FaultType::VmFault as u64 {
            return Err(Failure::new(alloc::format!(
                "restart: not the server's page fault but badge {:#x} label {}",
                fault.badge,
                fault.info.label()
            )));
        }
        restarted?;
        if served.is_err() {
            return Err(Failure::new(alloc::format!(
                "restart: the new instance answered {served:?}"
            )));
        }
        println!("BENCH restart 0 {}", (t1 - t0).saturating_sub(overhead));
    }
    at("suspend the crasher", tcb.tcb_suspend())
}
