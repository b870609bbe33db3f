//! Crowds of test threads, for tests that need more threads than
//! [`crate::thread`]'s three: one thread at every priority, chains of six
//! servers, queues of five callers.
//!
//! A crowd's TCBs come from one retype, and its scheduling contexts from
//! another. Crowd thread `i` runs on small stack `i` of its own, with no IPC
//! buffer (its messages are the four words that travel in registers), and
//! shares seat `i` with the root task. A crowd thread's argument is its
//! index. This module does not start threads or choose what they run on;
//! tests do that with [`Crowd::start`] and [`Crowd::contexts`].

use crate::cases::retype::make;
use crate::support::step;
use crate::{Env, TestResult};
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};
use keel_abi::ObjectType;
use keel_sys::cap::{init_thread, Endpoint, Reply, SchedContext, Tcb};
use keel_sys::tcb::UserContext;
use keel_sys::{CPtr, Cap};

/// The most threads one crowd has (one per priority).
pub const MAX: usize = 256;
const STACK_SIZE: usize = 2048;

/// A crowd thread's stack.
#[repr(C, align(16))]
struct Stack(UnsafeCell<[u8; STACK_SIZE]>);
// SAFETY: each stack is used by at most one thread at a time (crowd thread
// `i` alone); the root task only takes its address.
unsafe impl Sync for Stack {}

static STACKS: [Stack; MAX] = [const { Stack(UnsafeCell::new([0; STACK_SIZE])) }; MAX];

/// What crowd thread `i` shares with the root task.
pub struct Seat {
    /// Counts the thread's rounds.
    pub counter: AtomicU64,
    /// Counts what the thread found wrong (a message it did not expect).
    pub wrong: AtomicU64,
    /// The endpoint the thread receives on or calls (a CPtr).
    pub ep: AtomicU64,
    /// A second endpoint the thread calls or reports to (a CPtr, 0: none).
    pub next: AtomicU64,
    /// The thread's Reply object (a CPtr, 0: none).
    pub reply: AtomicU64,
}

/// The root slot of the current crowd's first TCB.
static FIRST_TCB: AtomicU64 = AtomicU64::new(0);

static SEATS: [Seat; MAX] = [const {
    Seat {
        counter: AtomicU64::new(0),
        wrong: AtomicU64::new(0),
        ep: AtomicU64::new(0),
        next: AtomicU64::new(0),
        reply: AtomicU64::new(0),
    }
}; MAX];

/// Crowd thread `i`'s seat.
pub fn seat(i: u64) -> &'static Seat {
    &SEATS[i as usize % MAX]
}

fn cap<T: keel_sys::cap::CapKind>(bits: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(bits))
}

impl Seat {
    /// The endpoint in [`Seat::ep`].
    pub fn endpoint(&self) -> Cap<Endpoint> {
        cap(self.ep.load(Ordering::SeqCst))
    }

    /// The endpoint in [`Seat::next`].
    pub fn next_endpoint(&self) -> Cap<Endpoint> {
        cap(self.next.load(Ordering::SeqCst))
    }

    /// The Reply object in [`Seat::reply`].
    pub fn reply_object(&self) -> Option<Cap<Reply>> {
        match self.reply.load(Ordering::SeqCst) {
            0 => None,
            r => Some(cap(r)),
        }
    }

    /// Counts one thing found wrong unless `ok`.
    pub fn check(&self, ok: bool) {
        if !ok {
            self.wrong.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The TCBs of a crowd, in consecutive root slots.
pub struct Crowd {
    first: u64,
    n: u64,
}

/// log2 of the smallest power of two at least `n`.
fn log2_up(n: u64) -> u8 {
    n.max(1).next_power_of_two().trailing_zeros() as u8
}

impl Crowd {
    /// Retypes `n` TCBs (at most [`MAX`]) from one untyped and clears
    /// their seats.
    ///
    /// # Errors
    /// When no untyped or slots are left.
    pub fn new(env: &Env, n: u64) -> Result<Self, alloc::string::String> {
        if n as usize > MAX {
            return Err(alloc::format!("a crowd has at most {MAX} threads, not {n}"));
        }
        let bits = keel_abi::object::TCB_BITS + log2_up(n);
        let first = make(env, bits, ObjectType::Tcb, 0, n)?;
        FIRST_TCB.store(first, Ordering::SeqCst);
        for i in 0..n {
            let s = seat(i);
            for word in [&s.counter, &s.wrong, &s.ep, &s.next, &s.reply] {
                word.store(0, Ordering::SeqCst);
            }
        }
        Ok(Crowd { first, n })
    }

    /// Crowd thread `i`'s TCB.
    pub fn tcb(&self, i: u64) -> Cap<Tcb> {
        cap(self.first + i % self.n)
    }

    /// Sets thread `i` up to run `entry(i)` on its stack in the root task's
    /// CSpace and VSpace at `priority`, and resumes it: it runs once it has
    /// a scheduling context and the priority to.
    ///
    /// # Errors
    /// A failed TCB invocation.
    pub fn start(&self, i: u64, entry: extern "C" fn(u64) -> !, priority: u64) -> TestResult {
        self.set_up(i, entry, priority, true)
    }

    /// As [`Crowd::start`], without resuming the thread.
    ///
    /// # Errors
    /// A failed TCB invocation.
    pub fn prepare(&self, i: u64, entry: extern "C" fn(u64) -> !, priority: u64) -> TestResult {
        self.set_up(i, entry, priority, false)
    }

    fn set_up(
        &self,
        i: u64,
        entry: extern "C" fn(u64) -> !,
        priority: u64,
        resume: bool,
    ) -> TestResult {
        let tcb = self.tcb(i);
        step(
            tcb.tcb_set_space(
                CPtr::from_bits(0),
                init_thread::CNODE,
                0,
                init_thread::VSPACE,
            ),
            "set a crowd thread's space",
        )?;
        step(
            tcb.tcb_set_priority(init_thread::TCB, priority),
            "set a crowd thread's priority",
        )?;
        let top = STACKS[i as usize % MAX].0.get() as u64 + STACK_SIZE as u64;
        let ctx = UserContext::new_thread(entry, top, i);
        step(
            tcb.tcb_write_all_registers(resume, &ctx),
            "set a crowd thread's registers",
        )
    }

    /// Suspends every thread of the crowd, so that a later crowd can use
    /// their stacks and seats.
    ///
    /// # Errors
    /// A failed Suspend.
    pub fn suspend_all(&self) -> TestResult {
        for i in 0..self.n {
            step(self.tcb(i).tcb_suspend(), "suspend a crowd thread")?;
        }
        Ok(())
    }

    /// Retypes `n` scheduling contexts of `budget` µs every `period` µs
    /// from one untyped; returns the first (the others follow it).
    ///
    /// # Errors
    /// When no untyped or slots are left, or a configuration fails.
    pub fn contexts(
        env: &Env,
        n: u64,
        budget: u64,
        period: u64,
    ) -> Result<Vec<Cap<SchedContext>>, alloc::string::String> {
        let bits = crate::thread::SC_BITS as u8 + log2_up(n);
        let first = make(
            env,
            bits,
            ObjectType::SchedContext,
            crate::thread::SC_BITS,
            n,
        )?;
        (first..first + n)
            .map(|s| {
                let sc: Cap<SchedContext> = cap(s);
                crate::thread::configure_context(sc, budget, period)?;
                Ok(sc)
            })
            .collect()
    }
}

/// The bytes of crowd thread `i`'s stack from `sp` (clamped to the stack)
/// to its top: with its registers, a checkpoint of the stopped thread
/// (sel4utils checkpoints a thread's stack the same way).
pub fn save_stack(i: u64, sp: u64) -> Vec<u8> {
    let base = STACKS[i as usize % MAX].0.get().cast::<u8>();
    let start = (sp.saturating_sub(base as u64) as usize).min(STACK_SIZE);
    let mut bytes = alloc::vec![0; STACK_SIZE - start];
    // SAFETY: `start..STACK_SIZE` lies inside stack `i`, whose thread is
    // stopped (the caller checkpoints it), so nothing writes it meanwhile.
    unsafe {
        core::ptr::copy_nonoverlapping(base.add(start), bytes.as_mut_ptr(), bytes.len());
    }
    bytes
}

/// Puts `bytes` (from [`save_stack`]) back at the top of crowd thread
/// `i`'s stack, which must be stopped.
pub fn restore_stack(i: u64, bytes: &[u8]) {
    let base = STACKS[i as usize % MAX].0.get().cast::<u8>();
    let start = STACK_SIZE - bytes.len().min(STACK_SIZE);
    // SAFETY: `start..STACK_SIZE` lies inside stack `i`, whose thread is
    // stopped, waiting for the reply that restores its registers.
    unsafe {
        core::ptr::copy_nonoverlapping(bytes.as_ptr(), base.add(start), STACK_SIZE - start);
    }
}

/// Crowd thread `i`'s TCB, for code that does not hold the [`Crowd`].
pub fn tcb_of(i: u64) -> Cap<Tcb> {
    cap(FIRST_TCB.load(Ordering::SeqCst) + i)
}

/// Suspends crowd thread `i`, the caller, for good.
pub fn stop(i: u64) -> ! {
    let me = tcb_of(i);
    loop {
        let _ = me.tcb_suspend();
    }
}
