//! Device regions: the frames at a region's fixed physical address, carved
//! out of the device untyped init was given (seL4's way: the kernel hands
//! device memory out as device untyped, and only a retype makes frames of
//! it). An untyped's children are placed from its start in order, so to
//! reach one page init splits the untyped that holds it into two halves,
//! keeps the half with the page and sets the other aside for later
//! regions, down to a page, which it retypes into the frame. The kernel
//! maps a device frame uncached whatever the mapping asks.
//!
//! It refuses an address no device untyped it was given covers, and a page
//! already carved for another region (a device's registers have one
//! region; the build tool refuses the overlap before it gets here).

use alloc::vec::Vec;
use keel_abi::bootinfo::BootInfo;
use keel_abi::{Error, ObjectType, PAGE_SIZE};
use keel_sys::cap::Untyped;
use keel_sys::{CPtr, Cap};

use crate::memory::{retype, Slots};
use crate::InitError;

/// log2 of a page.
const PAGE_BITS: u8 = 12;

/// A device untyped init may carve device regions from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceUntyped {
    /// Its slot in the root task's CNode.
    pub slot: u64,
    /// Physical address of its first byte (aligned to its size).
    pub paddr: u64,
    /// log2 of its size in bytes.
    pub size_bits: u8,
}

impl DeviceUntyped {
    /// Every device untyped `boot_info` names.
    pub fn all(boot_info: &BootInfo) -> Vec<DeviceUntyped> {
        boot_info
            .untypeds()
            .iter()
            .enumerate()
            .filter(|(_, u)| u.is_device != 0)
            .map(|(i, u)| DeviceUntyped {
                slot: boot_info.untyped.start + i as u64,
                paddr: u.paddr,
                size_bits: u.size_bits,
            })
            .collect()
    }

    fn contains(&self, paddr: u64) -> bool {
        paddr
            .checked_sub(self.paddr)
            .is_some_and(|offset| offset >> self.size_bits == 0)
    }

    fn cap(&self) -> Cap<Untyped> {
        Cap::from_cptr(CPtr::from_bits(self.slot))
    }
}

/// The device untyped init was given, and the parts of them not carved yet.
pub(crate) struct DeviceMemory {
    given: Vec<DeviceUntyped>,
    free: Vec<DeviceUntyped>,
}

impl DeviceMemory {
    pub(crate) fn new(given: &[DeviceUntyped]) -> DeviceMemory {
        DeviceMemory {
            given: given.to_vec(),
            free: given.to_vec(),
        }
    }

    /// Retypes the frames of the `pages` pages from `paddr` into the slots
    /// from `first` on, taking the slots splits need from `slots`.
    ///
    /// # Errors
    /// A page no device untyped covers, or one already carved, or too few
    /// slots.
    pub(crate) fn frames(
        &mut self,
        slots: &mut Slots,
        paddr: u64,
        pages: u64,
        first: u64,
    ) -> Result<(), InitError> {
        for i in 0..pages {
            let page = paddr.checked_add(i * PAGE_SIZE as u64).ok_or(InitError {
                step: "map a device region: it runs past the end of physical memory",
                error: Error::RangeError.into(),
            })?;
            self.page(slots, page, first + i)?;
        }
        Ok(())
    }

    /// Splits down to the page at `paddr` and retypes it into a frame in
    /// slot `dest`.
    fn page(&mut self, slots: &mut Slots, paddr: u64, dest: u64) -> Result<(), InitError> {
        let Some(i) = self.free.iter().position(|p| p.contains(paddr)) else {
            let step = match self.given.iter().any(|p| p.contains(paddr)) {
                true => "map a device region: its page is already another region's",
                false => "map a device region: no device untyped init was given covers its address",
            };
            return Err(InitError {
                step,
                error: Error::InvalidArgument.into(),
            });
        };
        let mut piece = self.free.swap_remove(i);
        while piece.size_bits > PAGE_BITS {
            let bits = piece.size_bits - 1;
            let halves = slots.take(2)?.start;
            retype(piece.cap(), ObjectType::Untyped, bits.into(), halves, 2)?;
            let low = DeviceUntyped {
                slot: halves,
                paddr: piece.paddr,
                size_bits: bits,
            };
            let high = DeviceUntyped {
                slot: halves + 1,
                paddr: piece.paddr + (1 << bits),
                size_bits: bits,
            };
            let (keep, spare) = match high.contains(paddr) {
                true => (high, low),
                false => (low, high),
            };
            self.free.push(spare);
            piece = keep;
        }
        retype(piece.cap(), ObjectType::SmallPage, 0, dest, 1)
    }
}
