//! PAGEFAULT0300–0304 and PAGEFAULT0310–0313: sel4test's fault tests. For
//! each kind of fault (a read, a write and an execute page fault, an unknown
//! system call, an undefined instruction) a faulter at priority 100, 101
//! and 102 faults to a handler at 101, through a plain and a badged fault
//! endpoint. The handler checks the whole message (label, length, the
//! faulting instruction's address, the address and access, the registers
//! and flags, the exception number), reads the register the faulter holds
//! `BAD_MAGIC` in, writes `GOOD_MAGIC` there and the PC past the fault, and
//! then either lets the faulter go on (any reply to a page fault, label 0
//! otherwise), after which the faulter stores the register where the test
//! reads it and reports, or leaves it stopped (a page fault never replied
//! to, label 1 otherwise), after which it must not run.
//!
//! The faulter runs machine code the test writes to a page of its own, so
//! no compiled code touches its registers: in the root task's address
//! space (the handler's), or in a child process's (the `child` program,
//! whose thread the test points at the page mapped into its VSpace and
//! which, past the fault, goes on into its own entry in report mode).

mod code;

use super::retype::make;
use super::unknown_syscall::{map_code, message};
use super::vspace::{copy_of, frames, region, tables, ATTRS, PAGE};
use crate::process::{cap, child_image, resources, CHILD_UNTYPED_BITS};
use crate::support::{slot, step};
use crate::thread::{endpoint_of, report_and_stop, set_own_priority, shared, spawn};
use crate::thread::{stack_top, yield_times};
use crate::{ensure, Env, TestResult};
use alloc::format;
use alloc::string::String;
use code::{code_page, machine, Machine, SNIPPET_STRIDE};
use core::sync::atomic::{AtomicU64, Ordering};
use keel_abi::fault::{self as layout, unknown_syscall_registers, FaultType};
use keel_abi::registers::PC;
use keel_abi::{CapRights, MessageInfo, ObjectType};
use keel_child::{MODE_REPORT, REPORT_LABEL, REPORT_VALUE, SHARED_VADDR};
use keel_loader::{GivenCap, ProcessConfig, SharedFrame};
use keel_sys::cap::{init_thread, Endpoint, Frame, Reply, Tcb};
use keel_sys::ipc::Received;
use keel_sys::tcb::UserContext;
use keel_sys::CPtr;
use keel_sys::Cap;

/// The address the page faults touch: in the user half of both
/// architectures, mapped by no test.
const BAD_VADDR: u64 = 0x7edc_ba98_7650;
/// What the handler writes into the faulter's register.
const GOOD_MAGIC: u64 = 0x1583_1851;
/// What the faulter holds in it when it faults.
const BAD_MAGIC: u64 = !GOOD_MAGIC;
/// A system-call number Keel does not have.
const BAD_SYSCALL: u64 = 0xc1;
/// The badge of the badged fault endpoint.
const EXPECTED_BADGE: u64 = 0x0aba_baba;
/// The handler's priority; the faulter's is swept around it.
const HANDLER_PRIORITY: u64 = 101;
/// The priority the suite runs tests at, given back at the end.
const TEST_PRIORITY: u64 = 255;
/// The label of the one-address-space faulter's report.
const DONE_LABEL: u64 = 0xd0;

/// The kinds of fault, in the order of [`Machine::snippets`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A load from [`BAD_VADDR`].
    Read,
    /// A store to [`BAD_VADDR`].
    Write,
    /// A jump to [`BAD_VADDR`].
    Execute,
    /// A system call numbered [`BAD_SYSCALL`].
    UnknownSyscall,
    /// An undefined instruction, with the stack pointer at the value word.
    Undefined,
}

/// A word the faulter can point its stack at, 16-byte aligned.
#[repr(C, align(16))]
struct Word(AtomicU64);
/// The undefined instruction's value word (the root task's address space).
static VALUE_WORD: Word = Word(AtomicU64::new(0));
/// Where the one-address-space faulter stores its value past the fault.
static OUT_WORD: Word = Word(AtomicU64::new(0));

/// One round's faulter, ready to be resumed: what the handler needs.
struct Faulter {
    tcb: Cap<Tcb>,
    /// The code page's address in the faulter's address space.
    code: u64,
    /// The stack pointer it goes on with.
    sp: u64,
    /// The value word's address in the faulter's address space (the root
    /// task reads it at the same address: undefined instructions are only
    /// tested in one address space, as in sel4test).
    value_word: u64,
}

/// The round: the faulter's kind, priority, endpoint and whether the
/// handler lets it go on.
#[derive(Clone, Copy, Debug)]
struct Round {
    kind: Kind,
    priority: u64,
    badged: bool,
    restart: bool,
}

/// Every round, in sel4test's order.
fn rounds(kind: Kind) -> impl Iterator<Item = Round> {
    [false, true].into_iter().flat_map(move |restart| {
        (100..=102).flat_map(move |priority| {
            [false, true].into_iter().map(move |badged| Round {
                kind,
                priority,
                badged,
                restart,
            })
        })
    })
}

/// Writes the faulter's registers for `round` into `ctx`.
fn fault_registers(m: &Machine, round: Round, ctx: &mut UserContext, at: FaultSite) {
    let k = round.kind as usize;
    ctx.set_pc(at.code + k as u64 * SNIPPET_STRIDE);
    ctx.set_flags(m.flags);
    ctx.set_word(m.value, BAD_MAGIC);
    ctx.set_word(m.addr, BAD_VADDR);
    if round.kind == Kind::UnknownSyscall {
        ctx.set_word(m.syscall_value, BAD_MAGIC);
        ctx.set_word(m.number, BAD_SYSCALL);
    }
    if round.kind == Kind::Undefined {
        ctx.set_word(m.addr, at.value_word);
        ctx.set_sp(at.value_word);
    } else {
        ctx.set_sp(at.sp);
    }
    ctx.set_word(m.out, at.out);
    ctx.set_word(m.cont, at.cont);
    ctx.set_word(m.arg, at.arg);
}

/// Where a faulter's code, words and continuation are.
#[derive(Clone, Copy)]
struct FaultSite {
    code: u64,
    sp: u64,
    value_word: u64,
    out: u64,
    cont: u64,
    arg: u64,
}

/// The one-address-space faulter's continuation: reports on its endpoint
/// and stops.
extern "C" fn report_done(i: u64) -> ! {
    endpoint_of(i).send(MessageInfo::new(DONE_LABEL, 0, 0, 0), [0; 4]);
    report_and_stop(i, 0)
}

/// Checks the fault message `r` of `round` and sets the faulter up to go
/// on past the fault; replies when the round lets it go on.
fn handle(m: &Machine, round: Round, f: &Faulter, r: &Received, reply: Cap<Reply>) -> TestResult {
    let want_badge = if round.badged { EXPECTED_BADGE } else { 0 };
    ensure!(r.badge == want_badge, "badge {:#x}", r.badge);
    let snippet = &m.snippets[round.kind as usize];
    let at = f.code + round.kind as u64 * SNIPPET_STRIDE;
    let restart = at + snippet.restart;
    match round.kind {
        Kind::Read | Kind::Write | Kind::Execute => {
            let (ip, prefetch, access) = match round.kind {
                Kind::Read => (at, 0, 0),
                Kind::Write => (at, 0, 1),
                _ => (BAD_VADDR, 1, 2),
            };
            ensure!(
                r.info.label() == FaultType::VmFault as u64
                    && r.info.length() == layout::VM_FAULT_LENGTH,
                "label {} length {}",
                r.info.label(),
                r.info.length()
            );
            let got = [
                r.mrs[layout::VM_FAULT_IP],
                r.mrs[layout::VM_FAULT_ADDR],
                r.mrs[layout::VM_FAULT_PREFETCH],
                r.mrs[layout::VM_FAULT_FSR],
            ];
            let want = [ip, BAD_VADDR, prefetch, access];
            ensure!(
                got == want,
                "IP, address, prefetch, access {got:#x?}, expected {want:#x?}"
            );
            let mut ctx = step(f.tcb.tcb_read_all_registers(false), "read the registers")?;
            ensure!(
                ctx.word(m.value) == Some(BAD_MAGIC),
                "the faulter's register holds {:#x?}",
                ctx.word(m.value)
            );
            ctx.set_word(m.value, GOOD_MAGIC);
            ctx.set_pc(restart);
            step(
                f.tcb.tcb_write_all_registers(false, &ctx),
                "write the registers",
            )?;
            if round.restart {
                reply.reply(MessageInfo::new(0, 0, 0, 0), [0; 4]);
            }
        }
        Kind::UnknownSyscall => {
            let regs = unknown_syscall_registers(keel_sys::arch::ARCH);
            ensure!(
                r.info.label() == FaultType::UnknownSyscall as u64
                    && r.info.length() == regs.len() + 1,
                "label {} length {}",
                r.info.label(),
                r.info.length()
            );
            let mut words = message(r)?;
            let index = |reg| regs.iter().position(|&x| x == reg).unwrap_or(usize::MAX);
            let (value, pc) = (index(m.syscall_value), index(PC));
            ensure!(
                words.get(value) == Some(&BAD_MAGIC),
                "the value register's word is {:#x?}",
                words.get(value)
            );
            // Keel's UnknownSyscall carries the address after the call.
            ensure!(
                words.get(pc) == Some(&restart),
                "FaultIP {:#x?}, expected {restart:#x}",
                words.get(pc)
            );
            ensure!(
                words.last() == Some(&BAD_SYSCALL),
                "system-call number {:#x?}",
                words.last()
            );
            words.truncate(regs.len());
            words[value] = GOOD_MAGIC;
            words[pc] = restart;
            reply_with(reply, u64::from(!round.restart), &words)?;
        }
        Kind::Undefined => {
            ensure!(
                r.info.label() == FaultType::UserException as u64
                    && r.info.length() == layout::USER_EXCEPTION_LENGTH,
                "label {} length {}",
                r.info.label(),
                r.info.length()
            );
            let got = message(r)?;
            let want = [at, f.value_word, m.flags, m.undefined_number, 0];
            ensure!(
                got == want,
                "IP, SP, flags, number, code {got:#x?}, expected {want:#x?}"
            );
            let word = VALUE_WORD.0.load(Ordering::SeqCst);
            ensure!(
                word == BAD_MAGIC,
                "the word at the faulter's SP holds {word:#x}"
            );
            VALUE_WORD.0.store(GOOD_MAGIC, Ordering::SeqCst);
            reply_with(reply, u64::from(!round.restart), &[restart, f.sp, m.flags])?;
        }
    }
    Ok(())
}

/// Replies on `reply` with `label` and `words`.
fn reply_with(reply: Cap<Reply>, label: u64, words: &[u64]) -> TestResult {
    let mut regs = [0u64; 4];
    for (i, w) in words.iter().enumerate() {
        match regs.get_mut(i) {
            Some(r) => *r = *w,
            None => keel_sys::ipc::set_mr(i, *w).map_err(|e| format!("set_mr: {e}"))?,
        }
    }
    reply.reply(MessageInfo::new(label, 0, 0, words.len() as u64), regs);
    Ok(())
}

/// The rounds' endpoints and Reply objects, one of each per round, each
/// kind made in one retype (a test has only so many untypeds), with one of
/// each past the rounds' for the test's report.
struct Objects {
    endpoints: u64,
    replies: u64,
}

/// Rounds per kind: restart or not, three priorities, badged or not.
const ROUNDS: u64 = 12;

impl Objects {
    fn new(env: &Env) -> Result<Objects, String> {
        Ok(Objects {
            endpoints: make(env, 12, ObjectType::Endpoint, 0, ROUNDS + 1)?,
            replies: make(env, 12, ObjectType::Reply, 0, ROUNDS + 1)?,
        })
    }

    /// Round `n`'s fault endpoint, the cap the faulter gets to it (badged
    /// or not), and the Reply object the handler receives with.
    fn round(
        &self,
        env: &Env,
        n: u64,
        round: Round,
    ) -> Result<(Cap<Endpoint>, u64, Cap<Reply>), String> {
        let ep = self.endpoints + n;
        let reply = cap(self.replies + n);
        if !round.badged {
            return Ok((cap(ep), ep, reply));
        }
        let badged = env.slots(1)?;
        step(
            slot(badged).mint(&slot(ep), CapRights::ALL, EXPECTED_BADGE),
            "mint the badged fault endpoint",
        )?;
        Ok((cap(ep), badged, reply))
    }
}

/// Lets every thread at or above the lowest faulter priority run, then
/// checks that nothing faulted again or reported.
fn expect_stopped(round: Round, fault_ep: Cap<Endpoint>, report: Cap<Endpoint>) -> TestResult {
    set_own_priority(99)?;
    yield_times(2)?;
    set_own_priority(HANDLER_PRIORITY)?;
    let again = fault_ep.nb_recv(None);
    ensure!(
        again.info.label() == 0 && again.info.length() == 0 && again.badge == 0,
        "{round:?}: the faulter faulted again: {again:?}"
    );
    let done = report.nb_recv(None);
    ensure!(
        done.info.label() == 0 && done.badge == 0,
        "{round:?}: a faulter left stopped went on: {done:?}"
    );
    Ok(())
}

/// Runs every round of `kind` with the faulter in the handler's address space.
pub fn one_space(env: &Env, kind: Kind) -> TestResult {
    let m = machine(env)?;
    let code = map_code(env, &code_page(m))?;
    let report = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let objects = Objects::new(env)?;
    let tcb = spawn(env, report_done, 0, 0, HANDLER_PRIORITY)?;
    let result = (0..).zip(rounds(kind)).try_for_each(|(n, round)| {
        let (ep, fault_cap, reply) = objects.round(env, n, round)?;
        set_own_priority(HANDLER_PRIORITY)?;
        step(
            tcb.tcb_set_space(
                CPtr::from_bits(fault_cap),
                init_thread::CNODE,
                0,
                init_thread::VSPACE,
            ),
            "set the fault endpoint",
        )?;
        step(
            tcb.tcb_set_priority(init_thread::TCB, round.priority),
            "set the faulter's priority",
        )?;
        shared(0).cap.store(report, Ordering::SeqCst);
        VALUE_WORD.0.store(BAD_MAGIC, Ordering::SeqCst);
        OUT_WORD.0.store(0, Ordering::SeqCst);
        let site = FaultSite {
            code,
            sp: stack_top(0) - m.entry_bias,
            value_word: &VALUE_WORD.0 as *const AtomicU64 as u64,
            out: &OUT_WORD.0 as *const AtomicU64 as u64,
            cont: report_done as *const () as u64,
            arg: 0,
        };
        let mut ctx = UserContext::default();
        fault_registers(m, round, &mut ctx, site);
        step(tcb.tcb_write_all_registers(true, &ctx), "start the faulter")?;
        let r = ep.recv(Some(reply));
        let f = Faulter {
            tcb,
            code,
            sp: site.sp,
            value_word: site.value_word,
        };
        handle(m, round, &f, &r, reply).map_err(|e| format!("{round:?}: {e}"))?;
        if round.restart {
            let done = cap::<Endpoint>(report).recv(None);
            ensure!(
                done.info.label() == DONE_LABEL,
                "{round:?}: report {done:?}"
            );
            let out = OUT_WORD.0.load(Ordering::SeqCst);
            ensure!(
                out == GOOD_MAGIC,
                "{round:?}: past the fault the faulter held {out:#x}"
            );
        } else {
            expect_stopped(round, ep, cap(report))?;
        }
        step(tcb.tcb_suspend(), "stop the faulter")
    });
    set_own_priority(TEST_PRIORITY)?;
    result
}

/// Where the child sees the code page: just past its shared frame, in the
/// page table that maps it.
const CHILD_CODE: u64 = SHARED_VADDR + PAGE;

/// Runs every round of `kind` with the faulter in a child process: a new
/// child each round, from one untyped, torn down by revoking it.
pub fn across_spaces(env: &Env, kind: Kind) -> TestResult {
    let m = machine(env)?;
    let code_frame = written_frame(env, &code_page(m))?;
    let v = region(25);
    tables(env, v, 3)?;
    let data = frames(env, 1)?;
    let rw = CapRights::READ.union(CapRights::WRITE);
    step(
        cap::<Frame>(data).frame_map(init_thread::VSPACE, v, rw, ATTRS),
        "map the shared frame",
    )?;
    let shared_frames = [SharedFrame {
        frame: cap(data),
        vaddr: SHARED_VADDR,
        rights: rw,
    }];
    let (ut, _) = env.untyped(CHILD_UNTYPED_BITS)?;
    let res = resources(env, ut)?;
    // The report endpoint and its Reply object come with the rounds' (one
    // untyped each): the test's untypeds are few, and fewer as the boot
    // archive grows.
    let objects = Objects::new(env)?;
    let report = objects.endpoints + ROUNDS;
    let report_reply: Cap<Reply> = cap(objects.replies + ROUNDS);
    let given = [GivenCap {
        cptr: CPtr::from_bits(report),
        rights: CapRights::ALL,
        badge: 0,
    }];
    let out = v as usize as *mut u64;
    let result = (0..).zip(rounds(kind)).try_for_each(|(n, round)| {
        let (ep, fault_cap, reply) = objects.round(env, n, round)?;
        set_own_priority(HANDLER_PRIORITY)?;
        let cfg = ProcessConfig {
            priority: round.priority,
            fault_ep: Some(CPtr::from_bits(fault_cap)),
            arg: MODE_REPORT,
            caps: &given,
            shared_frames: &shared_frames,
            start: false,
            ..ProcessConfig::default()
        };
        let p = keel_loader::spawn(child_image(env)?, &res, &cfg)
            .map_err(|e| format!("spawning the child: {e}"))?;
        let code = copy_of(env, code_frame)?;
        step(
            cap::<Frame>(code).frame_map(p.vspace, CHILD_CODE, CapRights::READ, ATTRS),
            "map the code into the child",
        )?;
        // SAFETY: the frame is mapped read-write at `v` for this test; the
        // child writes it only past its fault, and is not running.
        unsafe { out.write_volatile(0) };
        let mut ctx = step(
            p.tcb.tcb_read_all_registers(false),
            "read the child's registers",
        )?;
        let site = FaultSite {
            code: CHILD_CODE,
            sp: ctx.sp(),
            value_word: 0,
            out: SHARED_VADDR,
            cont: p.entry,
            arg: MODE_REPORT,
        };
        fault_registers(m, round, &mut ctx, site);
        step(p.tcb.tcb_write_all_registers(true, &ctx), "start the child")?;
        let r = ep.recv(Some(reply));
        let f = Faulter {
            tcb: p.tcb,
            code: CHILD_CODE,
            sp: site.sp,
            value_word: 0,
        };
        handle(m, round, &f, &r, reply).map_err(|e| format!("{round:?}: {e}"))?;
        if round.restart {
            let done = cap::<Endpoint>(report).recv(Some(report_reply));
            ensure!(
                done.info.label() == REPORT_LABEL && done.mrs[0] == REPORT_VALUE,
                "{round:?}: the child's report {done:?}"
            );
            report_reply.reply(MessageInfo::new(0, 0, 0, 0), [0; 4]);
            // SAFETY: as above; the child wrote it before it reported.
            let value = unsafe { out.read_volatile() };
            ensure!(
                value == GOOD_MAGIC,
                "{round:?}: past the fault the child held {value:#x}"
            );
        } else {
            expect_stopped(round, ep, cap(report))?;
        }
        step(cap::<Frame>(code).frame_unmap(), "unmap the child's code")?;
        step(slot(ut.cptr().bits()).revoke(), "tear the child down")?;
        step(slot(code).delete(), "delete the code copy")
    });
    set_own_priority(TEST_PRIORITY)?;
    result
}

/// A fresh frame holding `bytes` (written through a mapping in the root
/// task, then unmapped).
fn written_frame(env: &Env, bytes: &[u8]) -> Result<u64, String> {
    let f = frames(env, 1)?;
    let scratch = region(28);
    tables(env, scratch, 3)?;
    let frame = cap::<Frame>(f);
    step(
        frame.frame_map(
            init_thread::VSPACE,
            scratch,
            CapRights::READ.union(CapRights::WRITE),
            ATTRS,
        ),
        "map to write",
    )?;
    for (i, byte) in bytes.iter().enumerate() {
        // SAFETY: the page was just mapped writable at `scratch`, for this alone.
        unsafe { core::ptr::write_volatile((scratch + i as u64) as usize as *mut u8, *byte) };
    }
    step(frame.frame_unmap(), "unmap after writing")?;
    Ok(f)
}

pub fn read_fault(env: &Env) -> TestResult {
    one_space(env, Kind::Read)
}

pub fn write_fault(env: &Env) -> TestResult {
    one_space(env, Kind::Write)
}

pub fn execute_fault(env: &Env) -> TestResult {
    one_space(env, Kind::Execute)
}

pub fn unknown_syscall(env: &Env) -> TestResult {
    one_space(env, Kind::UnknownSyscall)
}

pub fn undefined_instruction(env: &Env) -> TestResult {
    one_space(env, Kind::Undefined)
}

pub fn read_fault_across_spaces(env: &Env) -> TestResult {
    across_spaces(env, Kind::Read)
}

pub fn write_fault_across_spaces(env: &Env) -> TestResult {
    across_spaces(env, Kind::Write)
}

pub fn execute_fault_across_spaces(env: &Env) -> TestResult {
    across_spaces(env, Kind::Execute)
}

pub fn unknown_syscall_across_spaces(env: &Env) -> TestResult {
    across_spaces(env, Kind::UnknownSyscall)
}
