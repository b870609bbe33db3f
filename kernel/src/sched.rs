//! The scheduler: which thread runs next. For now the kernel has one thread (the
//! root task); run queues, priorities and MCS budgets come with their issues.

use crate::arch::{AddressSpace, Machine, Platform, VSpace};
use crate::object::{object_mut, tcb::{Tcb, ThreadState}};
use core::sync::atomic::{AtomicU64, Ordering};

/// Physical address of the current thread's TCB (0: none).
static CURRENT: AtomicU64 = AtomicU64::new(0);

/// Makes the TCB at `tcb_paddr` the current thread.
pub fn set_current(tcb_paddr: u64) {
    CURRENT.store(tcb_paddr, Ordering::Relaxed);
}

/// The current thread, if any.
pub fn current() -> Option<&'static mut Tcb> {
    match CURRENT.load(Ordering::Relaxed) {
        0 => None,
        // SAFETY: CURRENT only ever holds the address of a TCB created at boot,
        // and each kernel entry takes this reference once and drops it before
        // leaving the kernel.
        paddr => Some(unsafe { object_mut::<Tcb>(paddr) }),
    }
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
