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

use keel_protocols::memory::{MemoryClient, MemoryError, Usage, MAX_PAGES, PAGE_BITS};
use keel_protocols::sys::EndpointClient;
use keel_sys::{CPtr, Cap};

pub use keel_protocols::memory::rights;

/// Where the areas this library places start: far from the program's
/// image, stack, IPC buffer and the pages init maps.
pub const AREA_BASE: u64 = 0x0000_2000_0000_0000;
/// The end of the range it places areas in.
pub const AREA_END: u64 = 0x0000_3000_0000_0000;

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
        let transport = EndpointClient::new(Cap::from_cptr(CPtr::from_bits(slot)), None).ok()?;
        Some(Memory {
            client: MemoryClient::new(transport),
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
    /// returns their address.
    ///
    /// # Errors
    /// The slave's refusal (a limit, no memory, bad rights).
    pub fn allocate(&mut self, pages: u64, rights: u8) -> Result<u64, MemoryError> {
        let at = self.place(pages)?;
        self.client.allocate(at, pages, rights).map(|()| at)
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
        self.client.allocate(vaddr, pages, rights)
    }

    /// Reserves `pages` pages at `vaddr` (delayed).
    ///
    /// # Errors
    /// The slave's refusal, bad input among them.
    pub fn reserve_at(&mut self, vaddr: u64, pages: u64, rights: u8) -> Result<(), MemoryError> {
        self.client.reserve(vaddr, pages, rights)
    }

    /// Frees the area at `vaddr`: its pages are unmapped.
    ///
    /// # Errors
    /// `NotAllocated` when no area starts there.
    pub fn free(&mut self, vaddr: u64) -> Result<(), MemoryError> {
        self.client.free(vaddr)
    }

    /// The program's use, its activity's and its slave's partition's.
    ///
    /// # Errors
    /// The slave's refusal.
    pub fn usage(&mut self) -> Result<Usage, MemoryError> {
        self.client.usage()
    }
}
