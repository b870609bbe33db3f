//! The memory client: pages from the program's memory-manager slave, for
//! a process init made a memory client (it has a connection named
//! `memory`). Areas go at addresses this library hands out in order from
//! [`AREA_BASE`], so the program never names addresses itself; `*_at`
//! places an area where the caller says. Immediate areas are mapped when
//! the call returns; delayed ones are filled by the slave page by page on
//! first touch (the program's faults go to its slave).
//!
//! ```ignore
//! let mut memory = keel_rt::memory::Memory::connect().expect("a memory client");
//! let area = memory.allocate(16, rights::READ | rights::WRITE)?;
//! // SAFETY: the slave mapped 16 pages there, read-write, just now.
//! unsafe { core::ptr::write_bytes(area as *mut u8, 7, 16 * 4096) };
//! memory.free(area)?;
//! ```
//!
//! When the slave refuses an allocation for want of memory, the library
//! asks init to move the program (the relocation protocol) and, moved,
//! asks the new slave once more. The `memory` slot then names the new
//! slave; the program's older areas stay with the slaves it left, whose
//! caps init moved to other slots (kept in [`FORMER`]), and [`Memory::free`]
//! finds the slave that holds an area. keel-rt's heap grows through the
//! same path (see `heap`).

use core::sync::atomic::{AtomicU64, Ordering};
use keel_protocols::memory::{MemoryClient, MemoryError, Usage, MAX_PAGES, PAGE_BITS};
use keel_protocols::relocation::RelocationClient;
use keel_protocols::sys::EndpointClient;

pub use keel_protocols::memory::rights;

/// Where the areas this library places start: far from the program's
/// image, stack, IPC buffer and the pages init maps.
pub const AREA_BASE: u64 = 0x0000_2000_0000_0000;
/// The end of the range it places areas in.
pub const AREA_END: u64 = 0x0000_3000_0000_0000;

/// The most moves the library remembers: a program moved more often
/// cannot free what it left at its earliest slaves (they get it back when
/// it ends).
pub const MAX_MOVES: usize = 4;

/// The slots of the program's caps to the slaves it was moved from, in
/// order (0: none yet).
static FORMER: [AtomicU64; MAX_MOVES] = [const { AtomicU64::new(0) }; MAX_MOVES];

/// The slots of the caps to the slaves the program was moved from, oldest
/// first.
pub fn former_slaves() -> impl Iterator<Item = u64> {
    FORMER
        .iter()
        .map(|s| s.load(Ordering::Acquire))
        .take_while(|&s| s != 0)
}

/// A client of the slave whose cap is in `slot`.
pub(crate) fn client_at(slot: u64) -> Option<MemoryClient<EndpointClient>> {
    let transport = EndpointClient::new(crate::process::slot(slot), None).ok()?;
    Some(MemoryClient::new(transport))
}

/// Asks init to move the program to another slave; true when it did (the
/// program's cap to its old slave is then in the slot kept in [`FORMER`]).
/// Never inlined: its client's buffers stay off the stack of an allocation
/// that needs no move.
#[inline(never)]
fn relocate() -> bool {
    let Some(info) = crate::process_info() else {
        return false;
    };
    let Ok(transport) = EndpointClient::new(crate::process::slot(info.slots.init), None) else {
        return false;
    };
    let Ok(old) = RelocationClient::new(transport).relocate() else {
        return false;
    };
    if let Some(free) = FORMER.iter().find(|s| s.load(Ordering::Acquire) == 0) {
        free.store(old, Ordering::Release);
    }
    true
}

/// Allocates `pages` pages at `vaddr` through `client` (immediate); when
/// the slave has no memory for them, asks init to move the program and
/// asks the new slave (the same slot names it then).
///
/// # Errors
/// The slave's refusal (the new one's, after a move).
pub(crate) fn allocate_moving(
    client: &mut MemoryClient<EndpointClient>,
    vaddr: u64,
    pages: u64,
    rights: u8,
) -> Result<(), MemoryError> {
    match client.allocate(vaddr, pages, rights) {
        Err(MemoryError::OutOfMemory) if relocate() => client.allocate(vaddr, pages, rights),
        done => done,
    }
}

/// A connection to the program's slave, and where the next area goes.
pub struct Memory {
    client: MemoryClient<EndpointClient>,
    next: u64,
}

impl Memory {
    /// The connection init gave the program, or `None` when it is not a
    /// memory client.
    pub fn connect() -> Option<Memory> {
        let slot = crate::process_info()?.connection("memory")?;
        Memory::through(slot)
    }

    /// A connection through the endpoint cap in `slot`.
    pub fn through(slot: u64) -> Option<Memory> {
        Some(Memory {
            client: client_at(slot)?,
            next: AREA_BASE,
        })
    }

    /// The next free address range of `pages` pages, after a gap page
    /// (so that running off an area's end faults).
    fn place(&mut self, pages: u64) -> Result<u64, MemoryError> {
        if pages == 0 || pages > MAX_PAGES {
            return Err(MemoryError::BadSize);
        }
        let at = self.next;
        let end = at + ((pages + 1) << PAGE_BITS);
        if end > AREA_END {
            return Err(MemoryError::OutOfMemory);
        }
        self.next = end;
        Ok(at)
    }

    /// Allocates `pages` pages mapped with `rights` before it returns;
    /// returns their address. A slave out of memory has init move the
    /// program first (see the module's text).
    ///
    /// # Errors
    /// The slave's refusal (a limit, no memory, bad rights).
    pub fn allocate(&mut self, pages: u64, rights: u8) -> Result<u64, MemoryError> {
        let at = self.place(pages)?;
        allocate_moving(&mut self.client, at, pages, rights).map(|()| at)
    }

    /// Reserves `pages` pages with `rights`, filled on first touch; returns
    /// their address.
    ///
    /// # Errors
    /// The slave's refusal.
    pub fn reserve(&mut self, pages: u64, rights: u8) -> Result<u64, MemoryError> {
        let at = self.place(pages)?;
        self.client.reserve(at, pages, rights).map(|()| at)
    }

    /// Allocates `pages` pages at `vaddr` (immediate).
    ///
    /// # Errors
    /// The slave's refusal, bad input among them.
    pub fn allocate_at(&mut self, vaddr: u64, pages: u64, rights: u8) -> Result<(), MemoryError> {
        allocate_moving(&mut self.client, vaddr, pages, rights)
    }

    /// Reserves `pages` pages at `vaddr` (delayed).
    ///
    /// # Errors
    /// The slave's refusal, bad input among them.
    pub fn reserve_at(&mut self, vaddr: u64, pages: u64, rights: u8) -> Result<(), MemoryError> {
        self.client.reserve(vaddr, pages, rights)
    }

    /// Frees the area at `vaddr`: its pages are unmapped. An area made
    /// before a move is freed at the slave that holds it.
    ///
    /// # Errors
    /// `NotAllocated` when no area starts there at any of the program's
    /// slaves.
    pub fn free(&mut self, vaddr: u64) -> Result<(), MemoryError> {
        match self.client.free(vaddr) {
            Err(MemoryError::NotAllocated) => former_slaves()
                .filter_map(client_at)
                .map(|mut c| c.free(vaddr))
                .find(Result::is_ok)
                .unwrap_or(Err(MemoryError::NotAllocated)),
            done => done,
        }
    }

    /// The program's use, its activity's and its slave's partition's.
    ///
    /// # Errors
    /// The slave's refusal.
    pub fn usage(&mut self) -> Result<Usage, MemoryError> {
        self.client.usage()
    }
}
