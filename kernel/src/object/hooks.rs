//! What the kernel does when the capability core creates an object or deletes
//! the last capability to one.

use crate::object::memory::KernelMemory;
use keel_abi::{CapType, ObjectType};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::cspace::ObjectHooks;

/// The kernel's object hooks.
pub struct KernelHooks;

impl ObjectHooks<KernelMemory> for KernelHooks {
    fn finalise(&mut self, _mem: &mut KernelMemory, cap: &Cap) {
        // Threads stop and leave every queue; endpoints and notifications
        // release their waiters. Frames are not yet mapped through caps.
        match cap.kind() {
            CapType::Tcb => {
                crate::ipc::destroy_thread(cap.paddr());
                if crate::sched::current_object() == Some(cap.paddr()) {
                    crate::sched::set_current(0);
                }
            }
            CapType::Endpoint => crate::object::endpoint::cancel_all(cap.paddr()),
            CapType::Notification => crate::object::notification::cancel_all(cap.paddr()),
            _ => {}
        }
    }

    fn init_object(
        &mut self,
        _mem: &mut KernelMemory,
        _ty: ObjectType,
        _paddr: u64,
        _size_bits: u8,
    ) {
        // Retype hands out zeroed memory, and zero is the initial state of every
        // object type so far (a zeroed TCB is an inactive thread).
    }
}
