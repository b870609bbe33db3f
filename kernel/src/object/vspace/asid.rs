//! ASIDs: the kernel's table of 128 ASID pools, each a 4 KiB object of 512
//! entries naming the VSpace root that holds each ASID (0: free), and the
//! `AsidControl_MakePool` and `AsidPool_Assign` invocations (seL4's rules and
//! errors). ASID 0 is never given out. Deleting a pool empties its table
//! entry and deleting a VSpace its pool entry, so every ASID they held stops
//! resolving; caps that still record such an ASID fail their lookups.
//!
//! A VSpace runs under its ASID, which aarch64 tags its translations with
//! (x86_64 does not tag them): ASIDs are given out only below
//! `PagingFormat::hardware_asids`, and deleting a VSpace or pool flushes
//! every translation before its ASIDs can be given out again.

use crate::arch::{PagingFormat, VSpace};
use crate::kernel_cell::KernelCell;
use crate::object::memory::KernelMemory;
use crate::syscall::invocation::{Message, Outcome};
use keel_abi::vspace::{ASIDS_PER_POOL, ASID_POOL_BITS, ASID_POOL_COUNT, ASID_POOL_INDEX_BITS};
use keel_abi::{CapType, Error, Label, LookupFailure};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::cspace::{
    has_children, insert_new, lookup_slot, read_cap, write_cap, LookupError,
};
use keel_kernel_core::error::SyscallError;
use keel_kernel_core::object_memory::ObjectMemory;

/// Physical address of each pool by `asid >> 9` (0: none).
static POOLS: [KernelCell<u64>; ASID_POOL_COUNT as usize] =
    [const { KernelCell::new(0) }; ASID_POOL_COUNT as usize];

fn pool_at(index: u64) -> u64 {
    POOLS.get(index as usize).map_or(0, KernelCell::read)
}

/// An ASID pool object's layout: the VSpace root holding each of its
/// ASIDs (0: free), by the ASID's low bits.
#[repr(C)]
pub struct AsidPool {
    /// The VSpace roots.
    pub roots: [u64; ASIDS_PER_POOL as usize],
}

const _: () = assert!(core::mem::size_of::<AsidPool>() == 1 << ASID_POOL_BITS);

fn entry_addr(pool: u64, asid: u64) -> u64 {
    let index = (asid & (ASIDS_PER_POOL - 1)) as usize;
    let offset = core::mem::offset_of!(AsidPool, roots) + index * core::mem::size_of::<u64>();
    pool + offset as u64
}

/// The VSpace root holding `asid`, if its pool exists and gave it out.
#[inline]
pub fn find_vspace(asid: u16) -> Option<u64> {
    let asid = u64::from(asid);
    let pool = pool_at(asid >> ASID_POOL_INDEX_BITS);
    if pool == 0 {
        return None;
    }
    match KernelMemory.read(entry_addr(pool, asid)) {
        0 => None,
        root => Some(root),
    }
}

/// Boot: registers the root task's pool (zeroed memory at `pool`) as pool 0
/// and gives `root` its first ASID. Returns the pool cap and the ASID.
pub fn boot_pool(pool: u64, root: u64) -> (Cap, u16) {
    POOLS[0].write(pool);
    let asid = 1;
    KernelMemory.write(entry_addr(pool, asid), root);
    (Cap::asid_pool(pool, 0), asid as u16)
}

/// `AsidControl_MakePool`: MR0 index and MR1 depth of the destination slot
/// under extra cap 1 (a CNode); extra cap 0 an untyped of exactly 4 KiB.
///
/// # Errors
/// seL4's, in its order: `TruncatedMessage`; `DeleteFirst` when all 128
/// pools exist (or every pool the hardware can tag the ASIDs of: on a CPU
/// with 8-bit ASIDs, pool 0 only); `InvalidCapability(1)` unless the
/// untyped is 4 KiB of RAM;
/// `RevokeFirst` when it has children; `FailedLookup`/`RangeError` for the
/// slot; `DeleteFirst` when the slot is full.
pub fn invoke_control(label: Label, msg: &Message) -> Result<Outcome, SyscallError> {
    if label != Label::AsidControlMakePool {
        return Err(Error::IllegalOperation.into());
    }
    let mut mem = KernelMemory;
    let (index, depth) = (msg.mr(0)?, msg.mr(1)?);
    let (ut_slot, ut) = msg.extra_cap(0)?;
    let (_, root) = msg.extra_cap(1)?;
    let free = (0..ASID_POOL_COUNT)
        .take_while(|i| i << ASID_POOL_INDEX_BITS < VSpace::hardware_asids())
        .find(|i| pool_at(*i) == 0);
    let free = free.ok_or(SyscallError::from(Error::DeleteFirst))?;
    if ut.kind() != CapType::Untyped || ut.untyped_size_bits() != ASID_POOL_BITS || ut.is_device() {
        return Err(SyscallError::invalid_capability(1));
    }
    if has_children(&mem, ut_slot) {
        return Err(Error::RevokeFirst.into());
    }
    if root.kind() != CapType::CNode {
        return Err(SyscallError::failed_lookup(
            false,
            LookupError::new(LookupFailure::InvalidRoot, depth.min(64) as u8),
        ));
    }
    let dest = lookup_slot(&mem, root, index, depth)?;
    if !read_cap(&mem, dest).is_null() {
        return Err(Error::DeleteFirst.into());
    }
    let size = 1u64 << ASID_POOL_BITS;
    mem.zero(ut.paddr(), size);
    write_cap(&mut mem, ut_slot, ut.with_free_index(size));
    let base = free << ASID_POOL_INDEX_BITS;
    insert_new(&mut mem, ut_slot, dest, Cap::asid_pool(ut.paddr(), base));
    POOLS[free as usize].write(ut.paddr());
    Ok(Outcome::Done([0, 0]))
}

/// `AsidPool_Assign`: gives the VSpace of extra cap 0 the pool's first free
/// ASID the hardware can tag translations with, recorded in that cap (in its
/// slot) and in the pool.
///
/// # Errors
/// `TruncatedMessage`; `InvalidCapability(1)` unless the cap is a VSpace
/// without an ASID; `FailedLookup` (InvalidRoot) when the pool is no longer in
/// the table; `InvalidCapability(0)` for a stale pool cap; `DeleteFirst` when
/// the pool is full (or, on a CPU with 8-bit ASIDs, holds none below 256).
pub fn invoke_pool(label: Label, msg: &Message, pool_cap: Cap) -> Result<Outcome, SyscallError> {
    if label != Label::AsidPoolAssign {
        return Err(Error::IllegalOperation.into());
    }
    let mut mem = KernelMemory;
    let (vs_slot, vs) = msg.extra_cap(0)?;
    if vs.kind() != CapType::VSpace || vs.is_mapped() {
        return Err(SyscallError::invalid_capability(1));
    }
    let base = pool_cap.word1();
    let pool = pool_at(base >> ASID_POOL_INDEX_BITS);
    if pool == 0 {
        return Err(SyscallError::failed_lookup(
            false,
            LookupError::new(LookupFailure::InvalidRoot, 0),
        ));
    }
    if pool != pool_cap.paddr() {
        return Err(SyscallError::invalid_capability(0));
    }
    let free = (0..ASIDS_PER_POOL)
        .map(|i| base + i)
        .take_while(|a| *a < VSpace::hardware_asids())
        .find(|a| *a != 0 && mem.read(entry_addr(pool, *a)) == 0);
    let asid = free.ok_or(SyscallError::from(Error::DeleteFirst))?;
    mem.write(entry_addr(pool, asid), vs.paddr());
    // Below 2^16: 128 pools of 512.
    write_cap(&mut mem, vs_slot, vs.with_mapping_in(asid as u16, 0));
    Ok(Outcome::Done([0, 0]))
}

/// The final cap to a VSpace: its ASID stops naming it, and the CPU stops
/// using its tables.
pub fn finalise_vspace(cap: &Cap) {
    if cap.is_mapped() && find_vspace(cap.mapped_asid()) == Some(cap.paddr()) {
        let a = u64::from(cap.mapped_asid());
        let pool = pool_at(a >> ASID_POOL_INDEX_BITS);
        KernelMemory.write(entry_addr(pool, a), 0);
        super::roots_changed();
    }
    VSpace::forget_root(cap.paddr());
    VSpace::flush_all();
}

/// The final cap to an ASID pool: every ASID it gave out stops resolving, and
/// the CPU stops using any root they named (seL4's `deleteASIDPool`). The
/// threads of those VSpaces no longer run (`live_root` fails for them).
pub fn finalise_pool(cap: &Cap) {
    let index = cap.word1() >> ASID_POOL_INDEX_BITS;
    if let Some(p) = POOLS.get(index as usize) {
        if p.read() == cap.paddr() {
            for entry in 0..(1u64 << ASID_POOL_INDEX_BITS) {
                let root = KernelMemory.read(entry_addr(cap.paddr(), entry));
                if root != 0 {
                    VSpace::forget_root(root);
                }
            }
            p.write(0);
            super::roots_changed();
        }
    }
    VSpace::flush_all();
}
