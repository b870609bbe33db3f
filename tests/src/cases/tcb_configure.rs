//! THREADS: TCB_Configure, which sets a thread's CSpace, VSpace and IPC
//! buffer in one invocation, and SetSpace, refused with an empty slot or a
//! wrong object as a root and leaving the thread as it was; accepted, the
//! thread runs in the spaces it was given. And WriteRegisters, which
//! reaches every register of the thread it starts. And SetSchedParams,
//! which in seL4 MCS also binds a scheduling context and sets the fault
//! endpoint.

use super::retype::make;
use crate::support::{expect_error, step};
use crate::thread::{
    count, count_once, ipc_buffer_of, sched_context, shared, spawn, stack_top, yield_times,
};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::registers::FLAGS;
use keel_abi::{Error, ObjectType};
use keel_sys::cap::{init_thread, CNode, Frame, Notification, Tcb, VSpace};
use keel_sys::tcb::UserContext;
use keel_sys::{CPtr, Cap};

/// The cap in root slot `s`, taken as a cap of kind `T`.
fn cap_at<T: keel_sys::cap::CapKind>(s: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(s))
}

/// Checks that `tcb` still has no VSpace: resuming it is IllegalOperation.
fn still_unconfigured(tcb: Cap<Tcb>, after: &str) -> TestResult {
    expect_error(
        tcb.tcb_resume(),
        Error::IllegalOperation,
        &alloc::format!("resuming the thread after {after}"),
    )
}

/// TCB_Configure with an empty slot, an endpoint as the CSpace root, a
/// CNode as the VSpace root, or a misaligned IPC buffer fails and leaves
/// the thread without spaces; SetSpace with an empty CSpace root fails
/// too. Then TCB_Configure with the root task's CNode, VSpace and an IPC
/// buffer succeeds, and the thread, given registers and a scheduling
/// context, runs in them: it counts and suspends itself through its CSpace.
pub fn configure(env: &Env) -> TestResult {
    let tcb: Cap<Tcb> = cap_at(make(env, 12, ObjectType::Tcb, 0, 1)?);
    let empty = env.slots(1)?;
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let buffer = ipc_buffer_of(0) as u64;
    let frame = init_thread::IPC_BUFFER;
    let vspace = init_thread::VSPACE;
    let cnode = init_thread::CNODE;
    let refused: [(&str, Cap<CNode>, Cap<VSpace>, u64); 3] = [
        ("an endpoint as the CSpace root", cap_at(ep), vspace, buffer),
        (
            "a CNode as the VSpace root",
            cnode,
            cap_at(cnode.cptr().bits()),
            buffer,
        ),
        ("a misaligned buffer", cnode, vspace, buffer + 8),
    ];
    let r = tcb.tcb_configure(cap_at(empty), 0, vspace, buffer, frame);
    ensure!(r.is_err(), "an empty CSpace root was accepted");
    still_unconfigured(tcb, "an empty CSpace root")?;
    let expected = [
        Error::IllegalOperation,
        Error::IllegalOperation,
        Error::AlignmentError,
    ];
    for ((what, cspace, vspace_root, at), error) in refused.into_iter().zip(expected) {
        expect_error(
            tcb.tcb_configure(cspace, 0, vspace_root, at, frame),
            error,
            what,
        )?;
        still_unconfigured(tcb, what)?;
    }
    let r = tcb.tcb_set_space(CPtr::from_bits(0), cap_at(empty), 0, vspace);
    ensure!(r.is_err(), "SetSpace accepted an empty CSpace root");
    still_unconfigured(tcb, "SetSpace with an empty CSpace root")?;
    let not_frame: Cap<Frame> = cap_at(ep);
    let r = tcb.tcb_configure(cnode, 0, vspace, buffer, not_frame);
    expect_error(
        r,
        Error::IllegalOperation,
        "an endpoint as the buffer frame",
    )?;
    step(
        tcb.tcb_configure(cnode, 0, vspace, buffer, frame),
        "configure",
    )?;
    step(tcb.tcb_set_priority(init_thread::TCB, 255), "set priority")?;
    let sh = shared(0);
    sh.counter.store(0, Ordering::SeqCst);
    sh.tcb.store(tcb.cptr().bits(), Ordering::SeqCst);
    let ctx = UserContext::new_thread(count_once, stack_top(0), 0);
    step(tcb.tcb_write_all_registers(false, &ctx), "write registers")?;
    let sc = sched_context(env, 1000, 1000)?;
    step(sc.sched_context_bind(tcb), "bind a scheduling context")?;
    step(tcb.tcb_resume(), "resume")?;
    yield_times(2)?;
    ensure!(
        count(0) == 1,
        "the configured thread counted {} times",
        count(0)
    );
    let r = tcb.tcb_read_all_registers(false);
    let ctx = step(r, "read the stopped thread's registers")?;
    ensure!(ctx.pc() != 0, "the thread has no program counter");
    Ok(())
}

/// Waits on the notification in root slot `shared(i).cap` forever.
extern "C" fn wait_forever(i: u64) -> ! {
    let n: Cap<Notification> =
        Cap::from_cptr(CPtr::from_bits(shared(i).cap.load(Ordering::SeqCst)));
    loop {
        n.wait();
    }
}

/// Starts `tcb` with WriteRegisters (resume) at the register-dump routine,
/// every register set to its own value, and checks the routine saw each.
fn every_register_reaches(tcb: Cap<Tcb>, stack: usize, what: &str) -> TestResult {
    let count = keel_sys::tcb::register_count();
    let mut ctx = UserContext::default();
    for r in 0..count {
        ctx.set_word(
            r,
            0x0102_0304_0506_0708u64.rotate_left(r as u32 * 5) ^ r as u64,
        );
    }
    ctx.set_pc(keel_sys::arch::register_dump_entry());
    ctx.set_sp(stack_top(stack) - 64);
    ctx.set_flags(keel_sys::arch::FLAGS_KEPT_BY_SYSCALL);
    step(
        tcb.tcb_write_all_registers(true, &ctx),
        "write every register",
    )?;
    yield_times(2)?;
    let dump = keel_sys::arch::register_dump();
    for (r, &seen) in dump.iter().enumerate().take(count) {
        let wrote = ctx.word(r).unwrap_or(0);
        let saw = match r {
            FLAGS => seen & keel_sys::arch::USER_SETTABLE_FLAGS,
            _ => seen,
        };
        ensure!(
            wrote == saw,
            "{what}: register {r} written {wrote:#x}, the thread saw {saw:#x}"
        );
    }
    Ok(())
}

/// WriteRegisters with resume reaches every register: a thread that never
/// ran, and one stopped in a system call (a Wait), each start at a routine
/// that stores every register it arrives with.
pub fn write_registers_reach_every_register(env: &Env) -> TestResult {
    let fresh = spawn(env, count_once, 0, 0, 255)?;
    every_register_reaches(fresh, 0, "a thread that never ran")?;
    let n = make(env, 12, ObjectType::Notification, 0, 1)?;
    let waiting = spawn(env, wait_forever, 1, 1, 255)?;
    shared(1).cap.store(n, Ordering::SeqCst);
    step(waiting.tcb_resume(), "start the waiter")?;
    yield_times(1)?;
    every_register_reaches(waiting, 1, "a thread stopped in a Wait")
}

/// A device frame cannot hold a thread's IPC buffer: SetIPCBuffer and
/// TCB_Configure with one are IllegalOperation, and the thread keeps the
/// buffer it had and runs.
pub fn device_frame_refused_as_ipc_buffer(env: &Env) -> TestResult {
    let (ut, _) = env.device_untyped(12)?;
    let s = env.slots(1)?;
    let dst = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
    step(
        ut.untyped_retype(ObjectType::SmallPage, 0, &dst, s, 1),
        "a device frame",
    )?;
    let device: Cap<Frame> = cap_at(s);
    crate::thread::set_own_priority(100)?;
    let t = spawn(env, count_once, 0, 0, 255)?;
    let buffer = ipc_buffer_of(0) as u64;
    let r = t.tcb_set_ipc_buffer(buffer, device);
    expect_error(
        r,
        Error::IllegalOperation,
        "SetIPCBuffer with a device frame",
    )?;
    let (cnode, vspace) = (init_thread::CNODE, init_thread::VSPACE);
    let r = t.tcb_configure(cnode, 0, vspace, buffer, device);
    expect_error(
        r,
        Error::IllegalOperation,
        "TCB_Configure with a device frame",
    )?;
    step(t.tcb_resume(), "resume")?;
    ensure!(count(0) == 1, "the thread ran {} times", count(0));
    Ok(())
}

extern "C" fn undefined_at_once(_: u64) -> ! {
    keel_sys::arch::undefined_instruction()
}

/// seL4 MCS's SetSchedParams: a scheduling context cap binds it to a thread
/// that has none, the fault endpoint becomes the thread's (the thread runs
/// on the context and its fault reaches that endpoint), a null context cap
/// unbinds the thread's context; and its errors: a cap that is no context
/// (InvalidCapability), a fault endpoint without grant (InvalidCapability),
/// a thread or context already bound, and unbinding the caller's own
/// context (IllegalOperation).
pub fn set_sched_params_binds_and_sets_fault_endpoint(env: &Env) -> TestResult {
    let h = super::fault_handler::Handler::new(env)?;
    let t = crate::thread::spawn_passive(env, undefined_at_once, 0, 0, 100)?;
    let sc = sched_context(env, 1000, 1000)?;
    let (none, ep) = (CPtr::from_bits(0), CPtr::from_bits(h.ep));
    let me = init_thread::TCB;
    let no_grant = super::ipc::mint(env, h.ep, 0, keel_abi::CapRights::WRITE)?;
    let refusals = [
        (
            t.tcb_set_sched_params(me, 100, 100, ep, none),
            Error::InvalidCapability,
            "an endpoint as the context",
        ),
        (
            t.tcb_set_sched_params(me, 100, 100, sc.cptr(), no_grant.cptr()),
            Error::InvalidCapability,
            "a fault endpoint without grant",
        ),
        (
            me.tcb_set_sched_params(me, 255, 255, none, none),
            Error::IllegalOperation,
            "unbinding the caller's own context",
        ),
    ];
    for (result, error, what) in refusals {
        expect_error(result, error, what)?;
    }
    step(
        t.tcb_set_sched_params(me, 100, 100, sc.cptr(), ep),
        "bind and set the fault endpoint",
    )?;
    expect_error(
        t.tcb_set_sched_params(me, 100, 100, sc.cptr(), ep),
        Error::IllegalOperation,
        "binding a thread already bound",
    )?;
    step(t.tcb_resume(), "resume")?;
    let r = Cap::<keel_sys::cap::Endpoint>::from_cptr(ep).recv(Some(h.reply));
    ensure!(
        r.info.label() == keel_abi::fault::FaultType::UserException as u64,
        "the thread's fault did not reach the endpoint SetSchedParams gave: {r:?}"
    );
    step(t.tcb_suspend(), "suspend")?;
    step(t.tcb_set_sched_params(me, 100, 100, none, none), "unbind")?;
    step(
        sc.sched_context_bind(t),
        "bind the context again, now that both are free",
    )
}
