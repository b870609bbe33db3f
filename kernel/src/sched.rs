//! The scheduler: which thread runs next. For now the kernel has one thread (the
//! root task); run queues, priorities and MCS budgets come with their issues.

use crate::arch::{AddressSpace, Machine, Platform, VSpace};
use crate::object::tcb::{tcb_at, Tcb, ThreadState};
use core::sync::atomic::{AtomicU64, Ordering};

/// Physical address of the current thread's TCB object (0: none).
static CURRENT: AtomicU64 = AtomicU64::new(0);

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
    // SAFETY: CURRENT only holds the address of a TCB object created at boot or
    // by retype and kept alive while current; callers follow the one-reference rule above.
    current_object().map(|paddr| unsafe { tcb_at(paddr) })
}

/// Leaves the kernel: resumes the current thread if it can run, else idles.
pub fn schedule() -> ! {
    match current() {
        Some(tcb) if tcb.state == ThreadState::Running => {
            let vspace = VSpace::from_root(tcb.vspace_root);
            Machine::enter_user(&mut tcb.context, &vspace)
        }
        _ => {
            crate::kprintln!("KEEL: idle: no runnable threads");
            Machine::idle()
        }
    }
}
