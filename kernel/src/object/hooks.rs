//! What the kernel does when the capability core creates an object, deletes
//! a capability, or deletes the last capability to an object.

use crate::arch::{PagingFormat, VSpace};
use crate::object::handle::{EndpointRef, SchedContextRef, Thread};
use crate::object::memory::KernelMemory;
use keel_abi::{CapType, ObjectType};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::cspace::{ObjectHooks, Progress};

/// The kernel's object hooks.
pub struct KernelHooks;

impl ObjectHooks<KernelMemory> for KernelHooks {
    fn finalise(&mut self, _mem: &mut KernelMemory, cap: &Cap) {
        // Threads stop and leave every queue; a notification stops the
        // interrupt lines that signalled it (endpoints and notifications
        // released their waiters in `release_waiters`); address-space
        // objects give up their ASIDs and mappings; interrupt lines are
        // masked and I/O ports freed.
        match cap.kind() {
            CapType::Tcb => {
                let thread = Thread::from_cap(cap).expect("invariant: a TCB cap");
                crate::ipc::destroy_thread(thread);
                thread.forget_user_state();
                if let Some(context) = SchedContextRef::from_link(thread.sched_context()) {
                    crate::object::sched_context::unbind_tcb(context);
                    crate::object::sched_context::complete_yield(context);
                }
                if crate::sched::current() == Some(thread) {
                    crate::sched::set_current(None);
                }
            }
            CapType::Notification => crate::object::irq::notification_deleted(cap.paddr()),
            CapType::IrqHandler => crate::object::irq::finalise(cap.word1()),
            CapType::IoPort => crate::arch::finalise_arch_cap(cap),
            CapType::SchedContext => crate::object::sched_context::finalise(
                SchedContextRef::from_cap(cap).expect("invariant: a SchedContext cap"),
            ),
            CapType::Reply => crate::object::reply::finalise(cap.paddr()),
            CapType::VSpace
            | CapType::AsidPool
            | CapType::PageUpperDirectory
            | CapType::PageDirectory
            | CapType::PageTable => crate::object::vspace::finalise(cap),
            _ => {}
        }
    }

    fn release_waiters(&mut self, _mem: &mut KernelMemory, cap: &Cap) -> Progress {
        let emptied = match cap.kind() {
            CapType::Endpoint => crate::object::endpoint::close_step(
                EndpointRef::from_cap(cap).expect("invariant: an endpoint cap"),
            ),
            CapType::Notification => crate::object::notification::close_step(cap.paddr()),
            _ => true,
        };
        if emptied {
            Progress::Done
        } else {
            Progress::Preempted
        }
    }

    fn cap_deleted(&mut self, _mem: &mut KernelMemory, cap: &Cap) {
        // Each frame cap is one mapping.
        crate::object::vspace::cap_deleted(cap);
    }

    fn init_object(&mut self, _mem: &mut KernelMemory, ty: ObjectType, paddr: u64, _size_bits: u8) {
        // Retype hands out zeroed memory, and zero is the initial state of every
        // object type but a VSpace root, which maps the kernel on x86_64, and
        // a TCB (an inactive thread), whose register file starts valid to
        // return to user mode with.
        if ty == ObjectType::VSpace {
            <VSpace as PagingFormat>::init_root(paddr);
        }
        if ty == ObjectType::Tcb {
            Thread::linked(paddr).init();
        }
    }
}
