//! PAGEFAULT and FAULT with handlers: faults reach the thread's fault
//! endpoint in seL4's layouts, and the handler's reply resumes the thread.
//!
//! The root task is the handler: it receives with a Reply object and
//! answers with a Send on it.

use super::retype::make;
use crate::support::{reply_object, slot, step};
use crate::thread::{count, shared, spawn_with_handler, stack_top, yield_times};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::bootinfo::BOOTINFO_VADDR;
use keel_abi::fault::{self as layout, FaultType};
use keel_abi::{CapRights, MessageInfo, ObjectType};
use keel_sys::cap::{init_thread, Endpoint, Reply, Tcb};
use keel_sys::ipc::Received;
use keel_sys::tcb::UserContext;
use keel_sys::{CPtr, Cap};

/// An address no Keel root task maps.
const UNMAPPED: u64 = 0x0000_4000_0000_0000;

fn me(i: u64) -> Cap<Tcb> {
    Cap::from_cptr(CPtr::from_bits(shared(i).tcb.load(Ordering::SeqCst)))
}

fn stop(i: u64) -> ! {
    let _ = me(i).tcb_suspend();
    keel_rt::halt(95)
}

extern "C" fn read_unmapped(i: u64) -> ! {
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    // SAFETY: nothing is mapped there: the load faults, and the handler moves
    // the thread elsewhere; no value is produced.
    let v = unsafe { core::ptr::read_volatile(UNMAPPED as usize as *const u64) };
    shared(i).value.store(v, Ordering::SeqCst);
    stop(i)
}

extern "C" fn write_read_only(i: u64) -> ! {
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the BootInfo page is read-only: the store faults before changing memory.
    unsafe { core::ptr::write_volatile(BOOTINFO_VADDR as usize as *mut u64, 1) };
    stop(i)
}

extern "C" fn execute_no_exec(i: u64) -> ! {
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the BootInfo page is not executable: the fetch faults.
    let jump: extern "C" fn() = unsafe { core::mem::transmute(BOOTINFO_VADDR as usize) };
    jump();
    stop(i)
}

extern "C" fn undefined(i: u64) -> ! {
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    keel_sys::arch::undefined_instruction()
}

extern "C" fn send_through_slot(i: u64) -> ! {
    let ep = crate::thread::endpoint_of(i);
    ep.nb_send(MessageInfo::new(0, 0, 0, 0), [0; 4]);
    shared(i).counter.fetch_add(1, Ordering::SeqCst);
    stop(i)
}

/// Where a handler sends a faulted thread.
extern "C" fn recovered(_: u64) -> ! {
    shared(0).counter.fetch_add(100, Ordering::SeqCst);
    stop(0)
}

/// A fault handler: an endpoint the faulting thread's fault endpoint cap
/// names, and the Reply object the root task receives its faults with.
pub(super) struct Handler {
    /// The endpoint's root slot.
    pub(super) ep: u64,
    /// The Reply object.
    pub(super) reply: Cap<Reply>,
}

impl Handler {
    /// A new endpoint and Reply object.
    pub(super) fn new(env: &Env) -> Result<Handler, alloc::string::String> {
        Ok(Handler {
            ep: make(env, 12, ObjectType::Endpoint, 0, 1)?,
            reply: reply_object(env)?,
        })
    }

    /// Starts `entry` as thread 0 with this handler, runs it into its fault, returns the message.
    fn run(
        &self,
        env: &Env,
        entry: extern "C" fn(u64) -> !,
        fault_ep: u64,
    ) -> Result<(Cap<Tcb>, Received), alloc::string::String> {
        let t = spawn_with_handler(env, entry, 0, 0, 255, fault_ep)?;
        step(t.tcb_resume(), "resume")?;
        let r = Cap::<Endpoint>::from_cptr(CPtr::from_bits(self.ep)).recv(Some(self.reply));
        Ok((t, r))
    }

    /// Replies with `label` and `words` and returns at once.
    pub(super) fn reply(&self, label: u64, words: &[u64]) -> TestResult {
        for (i, w) in words.iter().enumerate().skip(4) {
            keel_sys::ipc::set_mr(i, *w).map_err(|e| alloc::format!("set_mr: {e}"))?;
        }
        let mut regs = [0u64; 4];
        for (r, w) in regs.iter_mut().zip(words) {
            *r = *w;
        }
        self.reply
            .reply(MessageInfo::new(label, 0, 0, words.len() as u64), regs);
        Ok(())
    }
}

/// Points a faulted thread at `recovered` on a fresh stack.
fn redirect(t: Cap<Tcb>) -> TestResult {
    step(
        t.tcb_write_all_registers(false, &UserContext::new_thread(recovered, stack_top(0), 0)),
        "redirect",
    )
}

fn vm_fault(
    env: &Env,
    entry: extern "C" fn(u64) -> !,
    addr: u64,
    prefetch: u64,
    access: u64,
) -> TestResult {
    let h = Handler::new(env)?;
    let (t, r) = h.run(env, entry, h.ep)?;
    ensure!(
        r.info.label() == FaultType::VmFault as u64,
        "label {}",
        r.info.label()
    );
    ensure!(
        r.info.length() == layout::VM_FAULT_LENGTH,
        "length {}",
        r.info.length()
    );
    ensure!(
        r.mrs[layout::VM_FAULT_ADDR] == addr,
        "address {:#x}",
        r.mrs[layout::VM_FAULT_ADDR]
    );
    ensure!(
        r.mrs[layout::VM_FAULT_PREFETCH] == prefetch,
        "prefetch flag {}",
        r.mrs[layout::VM_FAULT_PREFETCH]
    );
    ensure!(
        r.mrs[layout::VM_FAULT_FSR] == access,
        "access {}",
        r.mrs[layout::VM_FAULT_FSR]
    );
    ensure!(r.mrs[layout::VM_FAULT_IP] != 0, "no fault address");
    redirect(t)?;
    h.reply(0, &[])?;
    yield_times(1)?;
    ensure!(
        count(0) == 101,
        "the thread did not resume where the handler sent it ({})",
        count(0)
    );
    Ok(())
}

pub fn read_fault_handled(env: &Env) -> TestResult {
    vm_fault(env, read_unmapped, UNMAPPED, 0, 0)
}

pub fn write_fault_handled(env: &Env) -> TestResult {
    vm_fault(env, write_read_only, BOOTINFO_VADDR, 0, 1)
}

pub fn execute_fault_handled(env: &Env) -> TestResult {
    vm_fault(env, execute_no_exec, BOOTINFO_VADDR, 1, 2)
}

/// Where a handler's reply sends a faulted thread: notes an address on the
/// stack it runs on, counts 100 and stops.
extern "C" fn recovered_noting_stack(_: u64) -> ! {
    let on_stack = 0u64;
    let at = core::ptr::addr_of!(on_stack) as u64;
    shared(0).value.store(at, Ordering::SeqCst);
    shared(0).counter.fetch_add(100, Ordering::SeqCst);
    stop(0)
}

/// The message carries the thread's IP, SP and flags; a label-0 reply's IP
/// and SP are where it runs on. The handler writes only the argument
/// registers (the entry function), so the thread leaves its `ud2`/`udf`
/// only if the kernel applies the reply's IP, and runs on the second stack
/// only if it applies the reply's SP.
pub fn user_exception_resumed_at_new_ip(env: &Env) -> TestResult {
    let h = Handler::new(env)?;
    let (t, r) = h.run(env, undefined, h.ep)?;
    ensure!(
        r.info.label() == FaultType::UserException as u64,
        "label {}",
        r.info.label()
    );
    ensure!(
        r.info.length() == layout::USER_EXCEPTION_LENGTH,
        "length {}",
        r.info.length()
    );
    let mut at_fault = step(t.tcb_read_all_registers(false), "read the registers")?;
    let sent = [
        r.mrs[layout::USER_EXCEPTION_IP],
        r.mrs[layout::USER_EXCEPTION_SP],
        r.mrs[layout::USER_EXCEPTION_FLAGS],
    ];
    ensure!(
        sent == [at_fault.pc(), at_fault.sp(), at_fault.flags()],
        "the message says IP, SP, flags {sent:#x?}, the thread has {:#x?}",
        [at_fault.pc(), at_fault.sp(), at_fault.flags()]
    );
    let start = UserContext::new_thread(recovered_noting_stack, stack_top(1), 0);
    ensure!(
        start.pc() != at_fault.pc(),
        "the new IP is the faulting one"
    );
    at_fault.set_arg(0, start.arg(0));
    at_fault.set_arg(1, start.arg(1));
    step(t.tcb_write_all_registers(false, &at_fault), "arguments")?;
    h.reply(0, &[start.pc(), start.sp(), at_fault.flags()])?;
    yield_times(1)?;
    ensure!(
        count(0) == 101,
        "the thread did not run at the reply's IP (count {})",
        count(0)
    );
    let at = shared(0).value.load(Ordering::SeqCst);
    ensure!(
        at < start.sp() && at > start.sp() - 4096,
        "the thread ran on the stack at {at:#x}, not the reply's (below {:#x})",
        start.sp()
    );
    Ok(())
}

/// A reply with label 1 leaves the thread inactive: the handler first points
/// it at `recovered`, so a thread resumed wrongly would count 100 rather than
/// fault again; TCB_Resume then starts it.
pub fn user_exception_refused(env: &Env) -> TestResult {
    let h = Handler::new(env)?;
    let (t, r) = h.run(env, undefined, h.ep)?;
    ensure!(
        r.info.label() == FaultType::UserException as u64,
        "label {}",
        r.info.label()
    );
    redirect(t)?;
    h.reply(1, &[])?;
    yield_times(2)?;
    ensure!(
        count(0) == 1,
        "a thread whose fault reply had a non-zero label ran on (count {})",
        count(0)
    );
    let again = Cap::<Endpoint>::from_cptr(CPtr::from_bits(h.ep)).nb_recv(Some(h.reply));
    ensure!(
        again.info.label() == 0 && again.info.length() == 0,
        "the thread faulted again: {again:?}"
    );
    step(t.tcb_resume(), "resume the stopped thread")?;
    yield_times(1)?;
    ensure!(
        count(0) == 101,
        "the thread was not left inactive: resumed, it did not run (count {})",
        count(0)
    );
    Ok(())
}

pub fn cap_fault_fixed_and_retried(env: &Env) -> TestResult {
    let h = Handler::new(env)?;
    let empty = env.slots(1)?;
    shared(0).cap.store(empty, Ordering::SeqCst);
    let (_, r) = h.run(env, send_through_slot, h.ep)?;
    ensure!(
        r.info.label() == FaultType::CapFault as u64,
        "label {}",
        r.info.label()
    );
    ensure!(
        r.mrs[layout::CAP_FAULT_ADDR] == empty,
        "CPtr {:#x}",
        r.mrs[layout::CAP_FAULT_ADDR]
    );
    ensure!(
        r.mrs[layout::CAP_FAULT_IN_RECV_PHASE] == 0,
        "a send's cap fault marked as in the receive phase"
    );
    ensure!(count(0) == 0, "the send went through");
    step(
        slot(empty).copy(&slot(h.ep), CapRights::ALL),
        "install the missing cap",
    )?;
    h.reply(0, &[])?;
    yield_times(1)?;
    ensure!(count(0) == 1, "the retried send did not complete");
    Ok(())
}

pub fn handler_badge(env: &Env) -> TestResult {
    let h = Handler::new(env)?;
    let badged = env.slots(1)?;
    step(slot(badged).mint(&slot(h.ep), CapRights::ALL, 0x33), "mint")?;
    let (t, r) = h.run(env, read_unmapped, badged)?;
    ensure!(r.badge == 0x33, "badge {:#x}", r.badge);
    redirect(t)?;
    h.reply(0, &[])
}

/// seL4's `validFaultHandler`: TCB_SetSpace and TCB_SetTimeoutEndpoint take
/// an endpoint cap only with the write right and the grant or grant-reply
/// right (a fault message is a Call that waits for its reply); anything else
/// is an invalid cap.
pub fn handler_needs_write_and_grant_or_grant_reply(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let t = crate::thread::spawn_passive(env, read_unmapped, 0, 0, 200)?;
    let rights = [
        (CapRights::WRITE, false),
        (CapRights::WRITE.union(CapRights::GRANT_REPLY), true),
        (CapRights::WRITE.union(CapRights::GRANT), true),
        (
            CapRights::GRANT
                .union(CapRights::GRANT_REPLY)
                .union(CapRights::READ),
            false,
        ),
    ];
    for (have, valid) in rights {
        let s = env.slots(1)?;
        step(slot(s).mint(&slot(ep), have, 0), "mint")?;
        let cap: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(s));
        let results = [
            t.tcb_set_space(cap.cptr(), init_thread::CNODE, 0, init_thread::VSPACE),
            t.tcb_set_timeout_endpoint(Some(cap)),
        ];
        for (r, what) in results.into_iter().zip(["SetSpace", "SetTimeoutEndpoint"]) {
            match (r, valid) {
                (Ok(()), true) => {}
                (Err(e), false) => crate::support::expect_error(
                    Err::<(), _>(e),
                    keel_abi::Error::InvalidCapability,
                    what,
                )?,
                (r, _) => {
                    return Err(alloc::format!("{what} with {have:?} gave {r:?}"));
                }
            }
        }
    }
    Ok(())
}

/// The user half's last instruction is a system call (Yield), so the address
/// it returns to lies just past the user half. The kernel must not go down:
/// on x86_64 that address is not canonical, and the kernel returns to 0
/// instead (as seL4 does with such a RIP), which then faults; on aarch64 the
/// fetch at the top of the user half faults. Either way the fault reaches
/// the handler, and the kernel stays up.
pub fn syscall_at_top_of_user_half(env: &Env) -> TestResult {
    use super::vspace::{copy_of, frames, region, tables, ATTRS, PAGE, ROOT, RW};
    use keel_abi::Arch;
    use keel_sys::cap::Frame;
    // mov eax, 11; syscall  /  movz x8, #11; svc #0  (11: Yield)
    const X86_64_CODE: [u8; 7] = [0xb8, 11, 0, 0, 0, 0x0f, 0x05];
    const AARCH64_CODE: [u8; 8] = [0x68, 0x01, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4];
    let (user_top, code, returns_to): (u64, &[u8], u64) = match env.boot_info.arch() {
        Some(Arch::X86_64) => (1 << 47, &X86_64_CODE, 0),
        Some(Arch::Aarch64) => (1 << 48, &AARCH64_CODE, 1 << 48),
        None => return Err("BootInfo names no architecture".into()),
    };
    let top_page = user_top - PAGE;
    // Write the code through a writable mapping, then map a copy of the
    // frame read-only and executable at the top (the kernel makes the
    // instruction fetch see what was written).
    let f = frames(env, 1)?;
    let scratch = region(1);
    tables(env, scratch, 3)?;
    step(
        Cap::<Frame>::from_cptr(CPtr::from_bits(f)).frame_map(ROOT, scratch, RW, ATTRS),
        "map to write",
    )?;
    let start = PAGE - code.len() as u64;
    for (i, byte) in code.iter().enumerate() {
        // SAFETY: the page was just mapped writable at `scratch`.
        unsafe {
            core::ptr::write_volatile((scratch + start + i as u64) as usize as *mut u8, *byte)
        };
    }
    let exec = copy_of(env, f)?;
    tables(env, top_page, 3)?;
    step(
        Cap::<Frame>::from_cptr(CPtr::from_bits(exec)).frame_map(
            ROOT,
            top_page,
            CapRights::READ,
            ATTRS,
        ),
        "map at the top of the user half",
    )?;
    // SAFETY: the address holds the code written above; the thread that
    // runs it never comes back into Rust code.
    let entry: extern "C" fn(u64) -> ! =
        unsafe { core::mem::transmute((top_page + start) as usize) };
    let h = Handler::new(env)?;
    let (t, r) = h.run(env, entry, h.ep)?;
    ensure!(
        r.info.label() == FaultType::VmFault as u64,
        "label {} (expected a VM fault)",
        r.info.label()
    );
    ensure!(
        r.mrs[layout::VM_FAULT_IP] == returns_to && r.mrs[layout::VM_FAULT_ADDR] == returns_to,
        "the thread faulted at {:#x} (address {:#x}), not {returns_to:#x}",
        r.mrs[layout::VM_FAULT_IP],
        r.mrs[layout::VM_FAULT_ADDR]
    );
    step(t.tcb_suspend(), "stop the thread")
}

/// Faults in a 32-bit mode where the architecture lets a thread enter one
/// itself (x86_64), else in 64-bit mode.
extern "C" fn undefined_in_32_bit_mode(_: u64) -> ! {
    keel_sys::arch::undefined_in_32_bit_mode()
}

/// Makes a system call in a 32-bit mode where the architecture lets a
/// thread enter one itself (x86_64), else faults in 64-bit mode.
extern "C" fn syscall_in_32_bit_mode(_: u64) -> ! {
    keel_sys::arch::syscall_in_32_bit_mode()
}

/// A thread that asked for a 32-bit mode takes a user-exception fault and
/// runs on in 64-bit mode once its handler sends it on. x86_64: it
/// far-returned into the 32-bit user code segment and faulted there, once
/// on `ud2` and once on `syscall` (a 32-bit system call is a fault, not a
/// kernel entry on the thread's stack); the kernel returns it with the
/// 64-bit selectors. aarch64: the registers the handler writes ask for
/// AArch32 in the SPSR, and the kernel keeps only the flags.
pub fn back_in_64_bit_mode(env: &Env) -> TestResult {
    let entries: [extern "C" fn(u64) -> !; 2] = [undefined_in_32_bit_mode, syscall_in_32_bit_mode];
    for (run, entry) in (1u64..).zip(entries) {
        let h = Handler::new(env)?;
        let (t, r) = h.run(env, entry, h.ep)?;
        ensure!(
            r.info.label() == FaultType::UserException as u64,
            "run {run}: label {} (expected a user exception)",
            r.info.label()
        );
        let mut start = UserContext::new_thread(recovered, stack_top(0), 0);
        start.set_flags(keel_sys::arch::FLAGS_32_BIT_MODE);
        step(t.tcb_write_all_registers(false, &start), "redirect")?;
        h.reply(0, &[])?;
        yield_times(1)?;
        ensure!(
            count(0) == 100,
            "run {run}: the thread did not run on in 64-bit mode (count {})",
            count(0)
        );
        step(t.tcb_suspend(), "stop the thread")?;
    }
    Ok(())
}
