//! THREADS: creating threads in the root task's address space, priorities and
//! MCP, suspend and resume, registers, and what happens when threads fault or
//! are destroyed.

use super::donation::passive_server;
use super::retype::make;
use crate::support::{expect_detail, expect_error, slot, step};
use crate::thread::{
    count, count_and_yield, count_once, ipc_buffer_of, reply_of, report_and_stop, set_own_priority,
    shared, spawn, spawn_in, stack_top, yield_times,
};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::bootinfo::BOOTINFO_VADDR;
use keel_abi::{Error, MessageInfo, ObjectType};
use keel_sys::cap::{init_thread, init_thread::DEBUG, Notification, Tcb};
use keel_sys::tcb::UserContext;
use keel_sys::{CPtr, Cap};

/// Counts once, then writes to the read-only BootInfo page.
extern "C" fn count_then_fault(i: u64) -> ! {
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the page is read-only: this store faults and the kernel stops the
    // thread, which is what the test checks.
    unsafe { core::ptr::write_volatile(BOOTINFO_VADDR as usize as *mut u64, 1) };
    keel_rt::halt(91)
}

pub fn runs_and_stops(env: &Env) -> TestResult {
    let t = spawn(env, count_once, 0, 0, 255)?;
    step(t.tcb_resume(), "resume")?;
    ensure!(count(0) == 0, "the thread ran before the root task yielded");
    yield_times(1)?;
    ensure!(count(0) == 1, "counter is {} after one yield", count(0));
    yield_times(2)?;
    ensure!(count(0) == 1, "the suspended thread ran again");
    Ok(())
}

pub fn priorities(env: &Env) -> TestResult {
    let t = spawn(env, count_once, 0, 0, 200)?;
    step(t.tcb_resume(), "resume")?;
    yield_times(3)?;
    ensure!(
        count(0) == 0,
        "a priority-200 thread ran while the root task (255) was runnable"
    );
    // Dropping below the thread hands it the CPU at once.
    step(
        init_thread::TCB.tcb_set_priority(init_thread::TCB, 100),
        "lower the root task",
    )?;
    let seen = count(0);
    step(
        init_thread::TCB.tcb_set_priority(init_thread::TCB, 255),
        "restore the root task",
    )?;
    ensure!(
        seen == 1,
        "the thread had not run when the root task dropped below it"
    );
    Ok(())
}

pub fn suspend_resume(env: &Env) -> TestResult {
    let t = spawn(env, count_and_yield, 0, 0, 255)?;
    step(t.tcb_resume(), "resume")?;
    yield_times(5)?;
    ensure!(count(0) >= 5, "only {} runs in 5 yields", count(0));
    step(t.tcb_suspend(), "suspend")?;
    let frozen = count(0);
    yield_times(5)?;
    ensure!(count(0) == frozen, "a suspended thread ran");
    step(t.tcb_resume(), "resume again")?;
    yield_times(2)?;
    ensure!(count(0) > frozen, "the resumed thread did not run");
    step(t.tcb_suspend(), "suspend at the end")
}

pub fn round_robin(env: &Env) -> TestResult {
    let a = spawn(env, count_and_yield, 0, 0, 255)?;
    let b = spawn(env, count_and_yield, 1, 1, 255)?;
    step(a.tcb_resume(), "resume a")?;
    step(b.tcb_resume(), "resume b")?;
    yield_times(10)?;
    let (ca, cb) = (count(0), count(1));
    step(a.tcb_suspend(), "suspend a")?;
    step(b.tcb_suspend(), "suspend b")?;
    ensure!(ca >= 10 && cb >= 10, "runs: {ca} and {cb} in 10 rounds");
    ensure!(ca.abs_diff(cb) <= 1, "unfair round robin: {ca} and {cb}");
    Ok(())
}

pub fn write_read_registers(env: &Env) -> TestResult {
    let t = spawn(env, count_once, 0, 0, 255)?;
    let mut ctx = UserContext::new_thread(count_once, stack_top(0) - 64, 0x1234);
    ctx.set_arg(2, 0xfeed);
    step(t.tcb_write_all_registers(false, &ctx), "write")?;
    let back = step(t.tcb_read_all_registers(false), "read")?;
    ensure!(
        back.pc() == ctx.pc() && back.sp() == ctx.sp(),
        "pc/sp {:#x}/{:#x}",
        back.pc(),
        back.sp()
    );
    ensure!(
        back.arg(0) == 0x1234 && back.arg(2) == 0xfeed,
        "args {:#x} {:#x}",
        back.arg(0),
        back.arg(2)
    );
    Ok(())
}

/// A flags register written with every bit set keeps exactly what a user
/// thread may hold, and one written with none set gets what it must hold;
/// the thread runs with each. x86_64: the arithmetic flags (CF, PF, AF, ZF,
/// SF, OF) and DF are the thread's, IF and the fixed bit 1 are always set,
/// and nothing else (TF, IOPL, NT, RF, VM, AC, ...); aarch64: the condition
/// flags NZCV are the thread's, and the rest of the SPSR is EL0t in AArch64
/// with no exception masked, all zero.
pub fn wild_flags_written(env: &Env) -> TestResult {
    let (theirs, always) = match env.boot_info.arch() {
        Some(keel_abi::Arch::X86_64) => (0xcd5, 0x202),
        Some(keel_abi::Arch::Aarch64) => (0xf000_0000, 0),
        None => return Err("BootInfo names no architecture".into()),
    };
    for (written, kept) in [(u64::MAX, theirs | always), (0, always)] {
        let t = spawn(env, count_once, 0, 0, 255)?;
        let mut ctx = UserContext::new_thread(count_once, stack_top(0) - 64, 0);
        ctx.set_flags(written);
        step(t.tcb_write_all_registers(false, &ctx), "write")?;
        let back = step(t.tcb_read_all_registers(false), "read")?;
        ensure!(
            back.flags() == kept,
            "flags written as {written:#x} read back as {:#x}, expected {kept:#x}",
            back.flags()
        );
        step(t.tcb_resume(), "resume")?;
        yield_times(1)?;
        ensure!(
            count(0) == 1,
            "the thread did not run with the flags written as {written:#x}"
        );
    }
    Ok(())
}

pub fn copy_registers(env: &Env) -> TestResult {
    let src = spawn(env, count_once, 0, 0, 255)?;
    let dst = spawn(env, count_once, 1, 1, 255)?;
    let mut ctx = UserContext::new_thread(count_once, stack_top(2), 0x77);
    ctx.set_arg(5, 0x99);
    step(src.tcb_write_all_registers(false, &ctx), "write the source")?;
    step(
        dst.tcb_copy_registers(src, false, false, true, false),
        "copy the frame",
    )?;
    let back = step(dst.tcb_read_all_registers(false), "read")?;
    ensure!(
        back.pc() == ctx.pc() && back.sp() == ctx.sp() && back.arg(0) == 0x77,
        "frame not copied"
    );
    ensure!(
        back.arg(5) == 0x99,
        "argument registers are part of the frame"
    );
    Ok(())
}

pub fn mcp_limits(env: &Env) -> TestResult {
    let t = spawn(env, count_once, 0, 0, 10)?;
    step(t.tcb_set_mc_priority(init_thread::TCB, 100), "set MCP 100")?;
    let detail = expect_detail(
        t.tcb_set_priority(t, 101),
        Error::RangeError,
        "priority above the authority's MCP",
    )?;
    ensure!(detail == [0, 100], "detail {detail:?}");
    step(t.tcb_set_priority(t, 100), "priority at the MCP")?;
    expect_error(
        t.tcb_set_mc_priority(t, 101),
        Error::RangeError,
        "MCP above the authority's MCP",
    )?;
    expect_error(
        t.tcb_set_sched_params(t, 50, 101, CPtr::from_bits(0), CPtr::from_bits(0)),
        Error::RangeError,
        "sched params above the MCP",
    )?;
    step(
        t.tcb_set_sched_params(
            init_thread::TCB,
            50,
            40,
            CPtr::from_bits(0),
            CPtr::from_bits(0),
        ),
        "sched params",
    )
}

pub fn errors(env: &Env) -> TestResult {
    let me = init_thread::TCB;
    expect_error(
        me.tcb_read_all_registers(false),
        Error::IllegalOperation,
        "reading one's own registers",
    )?;
    expect_error(
        me.tcb_write_all_registers(false, &UserContext::default()),
        Error::IllegalOperation,
        "writing one's own",
    )?;
    let s = make(env, 12, ObjectType::Tcb, 0, 1)?;
    let bare: Cap<Tcb> = Cap::from_cptr(CPtr::from_bits(s));
    expect_error(
        bare.tcb_resume(),
        Error::IllegalOperation,
        "resuming a thread without a VSpace",
    )?;
    let r = keel_sys::invoke(bare.cptr(), keel_abi::Label::TcbReadRegisters, &[0, 0], &[]);
    expect_error(r, Error::RangeError, "reading 0 registers")?;
    let r = keel_sys::invoke(
        bare.cptr(),
        keel_abi::Label::TcbReadRegisters,
        &[0, 99],
        &[],
    );
    expect_error(r, Error::RangeError, "reading 99 registers")?;
    let ep: Cap<keel_sys::cap::CNode> =
        Cap::from_cptr(CPtr::from_bits(make(env, 12, ObjectType::Endpoint, 0, 1)?));
    let r = bare.tcb_set_space(CPtr::from_bits(0), ep, 0, init_thread::VSPACE);
    expect_error(r, Error::IllegalOperation, "an endpoint as the CSpace root")?;
    let not_tcb: Cap<Tcb> = Cap::from_cptr(init_thread::CNODE.cptr());
    expect_error(
        bare.tcb_set_priority(not_tcb, 1),
        Error::InvalidCapability,
        "a CNode as the authority",
    )?;
    Ok(())
}

pub fn fault_stops_only_the_thread(env: &Env) -> TestResult {
    let t = spawn(env, count_then_fault, 0, 0, 255)?;
    step(t.tcb_resume(), "resume")?;
    yield_times(3)?;
    ensure!(count(0) == 1, "the thread ran {} times", count(0));
    let back = step(t.tcb_read_all_registers(false), "read the stopped thread")?;
    ensure!(back.pc() != 0, "no program counter");
    Ok(())
}

pub fn delete_running_thread(env: &Env) -> TestResult {
    let t = spawn(env, count_and_yield, 0, 0, 255)?;
    step(t.tcb_resume(), "resume")?;
    yield_times(3)?;
    step(
        crate::support::slot(t.cptr().bits()).delete(),
        "delete the only TCB cap",
    )?;
    let frozen = count(0);
    yield_times(3)?;
    ensure!(
        frozen > 0 && count(0) == frozen,
        "counts {frozen} then {}",
        count(0)
    );
    Ok(())
}

/// The word the TLS test thread finds at its thread pointer.
static TLS_BLOCK: [u64; 2] = [0x7151_7151, 0];

/// Reads the first word of its thread-local storage, reports it, stops.
extern "C" fn read_tls(i: u64) -> ! {
    report_and_stop(i, keel_sys::arch::tls_first_word())
}

pub fn tls_base(env: &Env) -> TestResult {
    let t = spawn(env, read_tls, 0, 0, 255)?;
    step(
        t.tcb_set_tls_base(TLS_BLOCK.as_ptr() as u64),
        "set the TLS base",
    )?;
    step(t.tcb_resume(), "resume")?;
    yield_times(1)?;
    ensure!(count(0) == 1, "the thread did not run");
    let v = shared(0).value.load(Ordering::SeqCst);
    ensure!(
        v == TLS_BLOCK[0],
        "the thread found {v:#x} at its thread pointer"
    );
    // Any value is accepted; one the CPU cannot load (x86_64: not
    // canonical) must not stop the kernel from running the thread.
    let u = spawn(env, count_once, 1, 1, 255)?;
    step(
        u.tcb_set_tls_base(0x8000_0000_0000_0000),
        "set a wild TLS base",
    )?;
    step(u.tcb_resume(), "resume")?;
    yield_times(1)?;
    ensure!(count(1) == 1, "the thread with a wild TLS base did not run");
    Ok(())
}

/// Makes its thread pointer 0 behind the kernel's back, yields, stops.
extern "C" fn clear_tls_and_yield(i: u64) -> ! {
    keel_sys::arch::clear_thread_pointer_directly(0);
    let _ = keel_sys::r#yield();
    report_and_stop(i, 0)
}

/// Thread a, given the same thread pointer as thread b, makes its own 0
/// without the kernel (x86_64: a segment selector load; aarch64: a write
/// to TPIDR_EL0) and yields straight to b, which must still find its TLS
/// block: nothing the kernel remembers about the register may be taken
/// from the thread that ran before.
pub fn tls_base_cleared_by_another_thread(env: &Env) -> TestResult {
    let a = spawn(env, clear_tls_and_yield, 0, 0, 255)?;
    let b = spawn(env, read_tls, 1, 1, 255)?;
    for t in [a, b] {
        step(
            t.tcb_set_tls_base(TLS_BLOCK.as_ptr() as u64),
            "set the TLS base",
        )?;
    }
    // Both at the root task's priority, queued a then b: a's yield hands
    // the CPU straight to b.
    step(a.tcb_resume(), "resume a")?;
    step(b.tcb_resume(), "resume b")?;
    yield_times(2)?;
    ensure!(count(0) == 1, "thread a did not run to the end");
    ensure!(
        count(1) == 1,
        "thread b did not get to report (it faulted reading its TLS block)"
    );
    let v = shared(1).value.load(Ordering::SeqCst);
    ensure!(
        v == TLS_BLOCK[0],
        "thread b found {v:#x} at its thread pointer"
    );
    Ok(())
}

/// Answers every Call on `shared(i).cap` with MR0 + 1 when its thread
/// pointer names its own IPC buffer, else with 0; counts.
extern "C" fn echo_checking_thread_pointer(i: u64) -> ! {
    let ep = crate::thread::endpoint_of(i);
    let Some(reply) = reply_of(i) else {
        keel_rt::halt(97)
    };
    let own = ipc_buffer_of(i) as u64;
    let mut r = ep.recv(Some(reply));
    loop {
        shared(i).counter.fetch_add(1, Ordering::SeqCst);
        let answer = if keel_sys::arch::ipc_buffer_address() == own {
            r.mrs[0] + 1
        } else {
            0
        };
        r = ep.reply_recv(MessageInfo::new(0, 0, 0, 1), [answer, 0, 0, 0], reply);
    }
}

/// Makes its thread pointer 0 behind the kernel's back in every way the
/// architecture has, twice over, and after each change returns from the
/// kernel: from a Poll of the notification in `shared(i).value` (the
/// kernel's ordinary return, to the same thread), and from a Call to the
/// server on `shared(i).cap` (the fast path's returns, which on x86_64
/// leave FS holding the selector the thread loaded), then, after the same
/// change again, from a Poll. Reports how many of those returns left the
/// server finding its own IPC buffer at its thread pointer and, where the
/// kernel puts a thread pointer back (`THREAD_POINTER_PUT_BACK`), the
/// thread its own (a thread pointer of 0 faults it instead), then stops.
extern "C" fn lose_thread_pointer_every_way(i: u64) -> ! {
    let own = ipc_buffer_of(i) as u64;
    let ntfn: Cap<Notification> =
        Cap::from_cptr(CPtr::from_bits(shared(i).value.load(Ordering::SeqCst)));
    let ep = crate::thread::endpoint_of(i);
    let has_own =
        || !keel_sys::arch::THREAD_POINTER_PUT_BACK || keel_sys::arch::ipc_buffer_address() == own;
    let mut kept = 0;
    for way in 0..2 * keel_sys::arch::THREAD_POINTER_CLEARS {
        keel_sys::arch::clear_thread_pointer_directly(way);
        ntfn.poll();
        kept += u64::from(has_own());
        keel_sys::arch::clear_thread_pointer_directly(way);
        let r = ep.call(MessageInfo::new(0, 0, 0, 1), [way as u64, 0, 0, 0]);
        kept += u64::from(has_own() && r.mrs[0] == way as u64 + 1);
        keel_sys::arch::clear_thread_pointer_directly(way);
        ntfn.poll();
        kept += u64::from(has_own());
    }
    report_and_stop(i, kept)
}

/// A thread that makes its own thread pointer 0 without the kernel, in any
/// way it can, does not change the passive server's it Calls through the
/// fast path; where the kernel holds the thread pointer (x86_64: loading
/// each kind of selector into FS, the null selector with every RPL among
/// them, and the same selector again after the fast path's return), the
/// thread has its own back after every return from the kernel to it, the
/// fast path's and the others. (On aarch64 TPIDR_EL0 is the thread's own
/// register: it keeps the 0 it wrote.)
pub fn thread_pointer_back_after_every_return(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    passive_server(env, echo_checking_thread_pointer, 1, ep, 0)?;
    // At the server's priority, where the fast path takes both ways.
    let t = spawn(env, lose_thread_pointer_every_way, 0, 0, 255)?;
    shared(0).cap.store(ep, Ordering::SeqCst);
    shared(0).value.store(ntfn, Ordering::SeqCst);
    let was_on = step(DEBUG.debug_set_fastpath(true), "fast path on")?;
    step(t.tcb_resume(), "resume the thread")?;
    // Below the thread, so that nothing else is queued where the fast path
    // looks: the thread runs to its end now.
    set_own_priority(100)?;
    set_own_priority(255)?;
    step(
        DEBUG.debug_set_fastpath(was_on),
        "restore the fast path setting",
    )?;
    ensure!(
        count(0) == 1,
        "the thread did not run to the end (it faulted at a thread pointer of 0)"
    );
    let expected = 6 * keel_sys::arch::THREAD_POINTER_CLEARS as u64;
    let kept = shared(0).value.load(Ordering::SeqCst);
    ensure!(
        kept == expected,
        "the thread (or the server) found its own IPC buffer after {kept} of {expected} returns"
    );
    ensure!(
        count(1) == 2 * keel_sys::arch::THREAD_POINTER_CLEARS as u64,
        "the server answered {} Calls",
        count(1)
    );
    Ok(())
}

/// Puts a marker in the first SIMD register, yields, reports what is there.
extern "C" fn keep_simd(i: u64) -> ! {
    let marker = 0x5151_0000 + i;
    keel_sys::arch::set_simd_register(marker);
    let _ = keel_sys::r#yield();
    let _ = keel_sys::r#yield();
    report_and_stop(i, keel_sys::arch::simd_register())
}

pub fn simd_state_kept(env: &Env) -> TestResult {
    keel_sys::arch::set_simd_register(0x1234);
    let a = spawn(env, keep_simd, 0, 0, 255)?;
    let b = spawn(env, keep_simd, 1, 1, 255)?;
    step(a.tcb_resume(), "resume a")?;
    step(b.tcb_resume(), "resume b")?;
    yield_times(4)?;
    let mine = keel_sys::arch::simd_register();
    ensure!(count(0) == 1 && count(1) == 1, "the threads did not finish");
    for i in 0..2 {
        let seen = shared(i).value.load(Ordering::SeqCst);
        ensure!(
            seen == 0x5151_0000 + i,
            "thread {i} found {seen:#x} in its SIMD register"
        );
    }
    ensure!(
        mine == 0x1234,
        "the root task found {mine:#x} in its SIMD register"
    );
    Ok(())
}

/// Sets its SIMD marker, counts, then yields for ever.
extern "C" fn hold_simd(i: u64) -> ! {
    keel_sys::arch::set_simd_register(0x7777_0000 + i);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    loop {
        let _ = keel_sys::r#yield();
    }
}

/// Reports its first SIMD register as it found it, then stops.
extern "C" fn report_simd(i: u64) -> ! {
    report_and_stop(i, keel_sys::arch::simd_register())
}

/// A thread deleted while its FPU/SIMD state is the one in the registers
/// (aarch64 switches that state lazily) leaves nothing behind: a new
/// thread made in the same memory starts with zeroed SIMD registers, and
/// the root task keeps its own.
pub fn simd_state_of_deleted_thread(env: &Env) -> TestResult {
    keel_sys::arch::set_simd_register(0x4321);
    let (ut, _) = env.untyped(12)?;
    let tcb_slot = env.slots(1)?;
    let here = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
    let make_tcb = || {
        step(
            ut.untyped_retype(ObjectType::Tcb, 0, &here, tcb_slot, 1),
            "retype a TCB",
        )
    };
    make_tcb()?;
    let a = spawn_in(env, tcb_slot, hold_simd, 0, 0, 255)?;
    step(a.tcb_resume(), "resume the first thread")?;
    yield_times(2)?;
    ensure!(count(0) == 1, "the first thread did not set its marker");
    step(slot(tcb_slot).delete(), "delete the first thread")?;
    step(slot(ut.cptr().bits()).revoke(), "reset the untyped")?;
    make_tcb()?;
    let b = spawn_in(env, tcb_slot, report_simd, 1, 1, 255)?;
    step(b.tcb_resume(), "resume the second thread")?;
    yield_times(2)?;
    ensure!(count(1) == 1, "the second thread did not report");
    let seen = shared(1).value.load(Ordering::SeqCst);
    ensure!(
        seen == 0,
        "a new thread found {seen:#x} in its SIMD register"
    );
    let mine = keel_sys::arch::simd_register();
    ensure!(
        mine == 0x4321,
        "the root task found {mine:#x} in its SIMD register"
    );
    Ok(())
}

/// Makes a Yield with every flag it can set set, and reports the flags
/// it finds after the call.
extern "C" fn yield_with_all_flags(i: u64) -> ! {
    let after = keel_sys::arch::yield_with_flags(keel_sys::arch::USER_SETTABLE_FLAGS);
    report_and_stop(i, after)
}

/// A thread makes a system call with every processor flag it can set set
/// (on x86_64 NT among them, which the kernel must not run with: its
/// `iretq` would fault), and gets the flags a call keeps back unchanged.
pub fn flags_across_syscall(env: &Env) -> TestResult {
    use keel_sys::arch::{FLAGS_KEPT_BY_SYSCALL, USER_SETTABLE_FLAGS};
    let t = spawn(env, yield_with_all_flags, 0, 0, 255)?;
    step(t.tcb_resume(), "resume")?;
    yield_times(2)?;
    ensure!(
        count(0) == 1,
        "the thread did not come back from its system call"
    );
    let after = shared(0).value.load(Ordering::SeqCst);
    ensure!(
        after & FLAGS_KEPT_BY_SYSCALL == FLAGS_KEPT_BY_SYSCALL,
        "flags {after:#x} after the call; {:#x} of {USER_SETTABLE_FLAGS:#x} should be kept",
        FLAGS_KEPT_BY_SYSCALL
    );
    Ok(())
}

/// A 16-byte-aligned local: its address shows whether the thread's stack
/// was aligned as the ABI asks when its entry was called.
#[repr(align(16))]
struct Aligned([u64; 2]);

/// Records the address of an aligned local modulo 16 (plus 1, so 0 means
/// not run), counts, suspends itself.
extern "C" fn record_stack_alignment(i: u64) -> ! {
    let local = core::hint::black_box(Aligned([1, i]));
    // Through black_box, so the compiler cannot fold the remainder to the
    // 0 it assumes.
    let at = core::hint::black_box(&local as *const Aligned as u64);
    shared(i)
        .value
        .store(at % 16 + local.0[0], Ordering::SeqCst);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    let me: Cap<Tcb> = Cap::from_cptr(CPtr::from_bits(shared(i).tcb.load(Ordering::SeqCst)));
    let _ = me.tcb_suspend();
    keel_rt::halt(95)
}

/// New threads start with their stacks aligned as the ABI asks: a
/// 16-byte-aligned local of each entry function lies at a multiple of 16.
pub fn new_stacks_aligned(env: &Env) -> TestResult {
    set_own_priority(100)?;
    for i in 0..3u64 {
        let t = spawn(env, record_stack_alignment, i as usize, i, 255)?;
        step(t.tcb_resume(), "resume")?;
        let seen = shared(i).value.load(Ordering::SeqCst);
        ensure!(seen != 0, "thread {i} did not run");
        ensure!(
            seen == 1,
            "thread {i}: the aligned local lies {} bytes past 16",
            seen - 1
        );
    }
    Ok(())
}
