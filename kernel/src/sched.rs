//! The scheduler: fixed priorities 0-255, round robin within a priority. Every
//! runnable thread, the running one included, sits in the run queue of its
//! priority; the thread to run is the head of the highest non-empty queue.
//! A thread that yields goes to the back of its queue. No timer preempts yet
//! (MCS budgets come with their issue), so a thread runs until it blocks,
//! yields, or a higher-priority thread becomes runnable.

use crate::arch::{AddressSpace, Machine, Platform, VSpace};
use crate::object::tcb::{tcb_at, Tcb, ThreadState};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

/// Physical address of the current thread's TCB object (0: none).
static CURRENT: AtomicU64 = AtomicU64::new(0);

const PRIORITIES: usize = 256;

struct RunQueues {
    head: [u64; PRIORITIES],
    tail: [u64; PRIORITIES],
    /// Bit `p` set when queue `p` is non-empty.
    bitmap: [u64; PRIORITIES / 64],
}

/// Kernel state touched only with interrupts off on the one core.
struct KernelCell<T>(UnsafeCell<T>);
// SAFETY: Keel runs on one core and the kernel is not re-entered: no two
// references to the cell's contents are ever live at once.
unsafe impl<T> Sync for KernelCell<T> {}

static QUEUES: KernelCell<RunQueues> = KernelCell(UnsafeCell::new(RunQueues {
    head: [0; PRIORITIES],
    tail: [0; PRIORITIES],
    bitmap: [0; PRIORITIES / 64],
}));

fn queues() -> &'static mut RunQueues {
    // SAFETY: see `KernelCell`: each use below takes this reference and drops
    // it before any other call that takes it again.
    unsafe { &mut *QUEUES.0.get() }
}

/// The `Tcb` of the TCB object at `tcb_object`.
fn tcb(tcb_object: u64) -> &'static mut Tcb {
    // SAFETY: the scheduler holds only TCB objects that are alive (a TCB's
    // finalisation takes it off every queue first) and uses each reference
    // briefly, never two to the same TCB at once.
    unsafe { tcb_at(tcb_object) }
}

fn priority_of(t: &Tcb) -> usize {
    (t.priority as usize).min(PRIORITIES - 1)
}

/// Puts a thread at the back of its priority's queue (if not queued yet).
pub fn enqueue(tcb_object: u64) {
    let t = tcb(tcb_object);
    if t.queued {
        return;
    }
    let p = priority_of(t);
    let q = queues();
    t.sched_next = 0;
    t.sched_prev = q.tail[p];
    t.queued = true;
    match q.tail[p] {
        0 => q.head[p] = tcb_object,
        tail => tcb(tail).sched_next = tcb_object,
    }
    q.tail[p] = tcb_object;
    q.bitmap[p / 64] |= 1 << (p % 64);
}

/// Takes a thread out of its run queue (if queued).
pub fn dequeue(tcb_object: u64) {
    let t = tcb(tcb_object);
    if !t.queued {
        return;
    }
    let (p, next, prev) = (priority_of(t), t.sched_next, t.sched_prev);
    t.queued = false;
    t.sched_next = 0;
    t.sched_prev = 0;
    let q = queues();
    match prev {
        0 => q.head[p] = next,
        prev => tcb(prev).sched_next = next,
    }
    match next {
        0 => q.tail[p] = prev,
        next => tcb(next).sched_prev = prev,
    }
    if q.head[p] == 0 {
        q.bitmap[p / 64] &= !(1 << (p % 64));
    }
}

/// Makes a thread runnable.
pub fn make_runnable(tcb_object: u64) {
    tcb(tcb_object).state = ThreadState::Running;
    enqueue(tcb_object);
}

/// Stops a thread: off the run queue, inactive.
pub fn make_inactive(tcb_object: u64) {
    dequeue(tcb_object);
    tcb(tcb_object).state = ThreadState::Inactive;
}

/// Changes a thread's priority, keeping its place in the run queues consistent.
pub fn set_priority(tcb_object: u64, priority: u64) {
    let queued = tcb(tcb_object).queued;
    dequeue(tcb_object);
    tcb(tcb_object).priority = priority;
    if queued {
        enqueue(tcb_object);
    }
}

/// Moves the current thread to the back of its queue.
pub fn yield_current() {
    if let Some(current) = current_object() {
        if tcb(current).queued {
            dequeue(current);
            enqueue(current);
        }
    }
}

/// True when `thread`, at `priority`, would be the one to run once `leaving`
/// (the current thread) blocks: nothing runnable is above that priority, and
/// at it nothing but `leaving` is queued.
pub fn would_run_next(priority: u64, leaving: u64) -> bool {
    let p = (priority as usize).min(PRIORITIES - 1);
    let q = queues();
    // Bits above `p` in its bitmap word, and any bit in the words above it.
    let (word, bit) = (p / 64, p % 64);
    let above_in_word = if bit == 63 {
        0
    } else {
        q.bitmap[word] >> (bit + 1)
    };
    let above = above_in_word != 0 || q.bitmap[word + 1..].iter().any(|w| *w != 0);
    let head = q.head[p];
    !above && (head == 0 || (head == leaving && q.tail[p] == leaving))
}

/// The head of the highest-priority non-empty run queue.
fn choose() -> Option<u64> {
    let q = queues();
    let word = (0..q.bitmap.len()).rev().find(|&w| q.bitmap[w] != 0)?;
    let p = word * 64 + 63 - q.bitmap[word].leading_zeros() as usize;
    Some(q.head[p])
}

/// Makes the TCB object at `tcb_object` the current thread.
pub fn set_current(tcb_object: u64) {
    CURRENT.store(tcb_object, Ordering::Relaxed);
}

/// Physical address of the current thread's TCB object, if any.
pub fn current_object() -> Option<u64> {
    match CURRENT.load(Ordering::Relaxed) {
        0 => None,
        paddr => Some(paddr),
    }
}

/// The current thread, if any. Each kernel entry takes this reference and
/// drops it before the capability core runs or the kernel is left.
pub fn current() -> Option<&'static mut Tcb> {
    current_object().map(tcb)
}

/// Leaves the kernel into the highest-priority runnable thread, or idles.
pub fn schedule() -> ! {
    while let Some(next) = choose() {
        let Some(root) = crate::object::tcb::vspace_root(next) else {
            // Its VSpace cap was deleted while it could run: it has nowhere to run.
            crate::kprintln!("KEEL: thread '{}' has no VSpace; stopped", tcb(next).name());
            crate::ipc::stop_thread(next);
            continue;
        };
        set_current(next);
        let t = tcb(next);
        Machine::enter_user(&mut t.context, &VSpace::from_root(root))
    }
    set_current(0);
    crate::kprintln!("KEEL: idle: no runnable threads");
    Machine::idle()
}
