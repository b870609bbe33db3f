//! Init's part in the process server (the program the manifest names
//! `process`): what it gives it beyond a server's caps. Its program untyped
//! is larger than the others' ([`keel_protocols::process::SERVER_BITS`]);
//! at each start init retypes from it the pool the server carves its
//! processes' groups from and a small untyped for the server's own objects,
//! so the server's teardown takes every process it started too.
//!
//! ```text
//!  named cap     what
//!  pool          untyped, 2^POOL_BITS: the processes' reclamation groups
//!  untyped       untyped, 2^OWN_BITS: the server's Reply objects
//!  sched-control SchedControl: its processes' scheduling contexts
//!  asid-pool     the ASID pool its processes' VSpaces are assigned from
//!  region        "archive": the boot archive, read-only at ARCHIVE_VADDR
//!  spare slots   SPARE_SLOTS from the first loader slot
//! ```

use alloc::vec::Vec;
use keel_abi::process::MappedRegion;
use keel_abi::{CapRights, ObjectType, PAGE_SIZE};
use keel_loader::SharedFrame;
use keel_protocols::process::{ARCHIVE_VADDR, OWN_BITS, POOL_BITS, SPARE_SLOTS};
use keel_sys::cap::{init_thread, Untyped};
use keel_sys::{CPtr, Cap};

use crate::memory::{retype, PROCESS_OWN, PROCESS_POOL};
use crate::start::{Grants, FIRST_LOADER};
use crate::{InitError, System};

impl System<'_> {
    /// The manifest's process server, if it names one.
    pub(crate) fn process_server(&self) -> Option<usize> {
        self.manifest.process.map(usize::from)
    }

    /// Retypes the process server's pool and own untyped from its program
    /// untyped `untyped`, first of all (the pool is aligned to its size:
    /// at the untyped's start it wastes nothing).
    pub(crate) fn process_memory(
        &self,
        index: usize,
        untyped: Cap<Untyped>,
    ) -> Result<(), InitError> {
        let block = self.programs[index].block;
        retype(
            untyped,
            ObjectType::Untyped,
            POOL_BITS.into(),
            block + PROCESS_POOL,
            1,
        )?;
        retype(
            untyped,
            ObjectType::Untyped,
            OWN_BITS.into(),
            block + PROCESS_OWN,
            1,
        )
    }

    /// What the process server (program `index`) gets beyond a server's
    /// caps (see the module documentation).
    pub(crate) fn process_grants(&self, g: &mut Grants, index: usize) -> Result<(), InitError> {
        let block = self.programs[index].block;
        let pool = g.give(block + PROCESS_POOL, CapRights::ALL, 0);
        g.named("pool", pool);
        let own = g.give(block + PROCESS_OWN, CapRights::ALL, 0);
        g.named("untyped", own);
        let control = g.give(init_thread::SCHED_CONTROL.cptr().bits(), CapRights::ALL, 0);
        g.named("sched-control", control);
        let asids = g.give(init_thread::ASID_POOL.cptr().bits(), CapRights::ALL, 0);
        g.named("asid-pool", asids);
        g.slots.spare = Some((FIRST_LOADER, FIRST_LOADER + SPARE_SLOTS));
        Ok(())
    }

    /// The boot archive's frames, mapped read-only at [`ARCHIVE_VADDR`],
    /// and what the process server's page says of them; nothing when init
    /// was not given them.
    pub(crate) fn archive_frames(&self, frames: &mut Vec<SharedFrame>) -> Option<MappedRegion> {
        let archive = self.res.archive.as_ref()?;
        for (i, slot) in archive.slots.clone().enumerate() {
            frames.push(SharedFrame {
                frame: Cap::from_cptr(CPtr::from_bits(slot)),
                vaddr: ARCHIVE_VADDR + (i * PAGE_SIZE) as u64,
                rights: CapRights::READ,
            });
        }
        Some(MappedRegion {
            name: "archive".into(),
            vaddr: ARCHIVE_VADDR,
            size: archive.size,
            writable: false,
        })
    }
}
