//! Thread control blocks: a thread's registers, address space, CSpace root,
//! name and scheduling state.

use crate::arch::UserContext;
use keel_abi::syscall::THREAD_NAME_MAX;

/// Whether a thread may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Runnable.
    Running,
    /// Stopped (suspended, or faulted with no handler).
    Inactive,
}

/// A thread control block.
#[repr(C)]
pub struct Tcb {
    /// Saved user registers.
    pub context: UserContext,
    /// Physical address of the VSpace root table.
    pub vspace_root: u64,
    /// Physical address of the CSpace root CNode.
    pub cspace_root: u64,
    /// Scheduling state.
    pub state: ThreadState,
    name: [u8; THREAD_NAME_MAX],
    name_len: usize,
}

const _: () = assert!(core::mem::size_of::<Tcb>() <= keel_abi::PAGE_SIZE);

impl Tcb {
    /// A runnable thread.
    pub fn new(context: UserContext, vspace_root: u64, cspace_root: u64, name: &str) -> Tcb {
        let mut tcb = Tcb {
            context,
            vspace_root,
            cspace_root,
            state: ThreadState::Running,
            name: [0; THREAD_NAME_MAX],
            name_len: 0,
        };
        tcb.set_name(name.as_bytes());
        tcb
    }

    /// Sets the name used in fault reports; longer names are cut, and bytes that
    /// are not UTF-8 make the name `?`.
    pub fn set_name(&mut self, name: &[u8]) {
        let name = core::str::from_utf8(name).unwrap_or("?");
        let mut len = name.len().min(THREAD_NAME_MAX);
        while !name.is_char_boundary(len) {
            len -= 1;
        }
        self.name[..len].copy_from_slice(&name.as_bytes()[..len]);
        self.name_len = len;
    }

    /// The thread's name.
    pub fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..self.name_len]).unwrap_or("?")
    }
}
