//! CPtr resolution through guarded CNodes (seL4 `resolveAddressBits`), and the
//! two lookups built on it: the slot a CNode operation names, and the cap a
//! system call invokes. Reads slots only; never changes anything.

use super::slot::{read_cap, SLOT_SIZE};
use crate::cap::relations::mask;
use crate::cap::Cap;
use crate::error::SyscallError;
use crate::object_memory::ObjectMemory;
use keel_abi::{CapType, LookupFailure};

/// Why a resolution stopped, how many bits were left to resolve then, and
/// what the CNode it stopped at held (seL4's lookup fault, which a cap
/// fault message carries whole).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LookupError {
    /// What went wrong.
    pub failure: LookupFailure,
    /// Bits of the CPtr not yet resolved when it went wrong.
    pub bits_left: u8,
    /// `GuardMismatch`: the CNode's guard; otherwise 0.
    pub guard_found: u64,
    /// `GuardMismatch`: the CNode's guard size; `DepthMismatch`: the bits
    /// the CNode resolves (guard and radix); otherwise 0.
    pub bits_found: u8,
}

impl LookupError {
    /// A failure with nothing found: `InvalidRoot`, `MissingCapability`, or
    /// a depth left over after the walk.
    pub const fn new(failure: LookupFailure, bits_left: u8) -> Self {
        LookupError {
            failure,
            bits_left,
            guard_found: 0,
            bits_found: 0,
        }
    }

    /// The lookup-failure words of seL4's messages, after the failure's
    /// type: none, bits left, bits left and found, or bits left, guard
    /// found and bits found. Returns the words and how many are used.
    pub fn detail_words(&self) -> ([u64; 3], usize) {
        let left = u64::from(self.bits_left);
        let found = u64::from(self.bits_found);
        match self.failure {
            LookupFailure::InvalidRoot => ([0; 3], 0),
            LookupFailure::MissingCapability => ([left, 0, 0], 1),
            LookupFailure::DepthMismatch => ([left, found, 0], 2),
            LookupFailure::GuardMismatch => ([left, self.guard_found, found], 3),
        }
    }
}

/// seL4 `resolveAddressBits`: walks guarded CNodes from `root` (a CNode cap),
/// resolving the low `depth` bits of `cptr` from the most significant down.
/// Stops when the bits run out, or at a slot holding anything but a CNode cap.
/// Returns the slot address and the bits left unresolved.
///
/// # Errors
/// `InvalidRoot` when `root` is not a CNode; `GuardMismatch` when a guard does
/// not match (or is longer than the bits left); `DepthMismatch` when fewer bits
/// are left than a CNode's guard and radix need.
pub fn resolve(
    mem: &impl ObjectMemory,
    root: Cap,
    cptr: u64,
    depth: u8,
) -> Result<(u64, u8), LookupError> {
    if !root.is(CapType::CNode) {
        return Err(LookupError::new(LookupFailure::InvalidRoot, depth));
    }
    let mut node = root;
    let mut bits = depth.min(64);
    loop {
        let (slot, level) = step(node, cptr, bits)?;
        bits -= level;
        if bits == 0 {
            return Ok((slot, 0));
        }
        let next = read_cap(mem, slot);
        if !next.is(CapType::CNode) {
            return Ok((slot, bits));
        }
        node = next;
    }
}

/// seL4's `lookup_fp`, for the IPC fast path: the cap [`lookup_cap`] finds
/// for `cptr`, or the null cap where it would fail (the slow path then
/// reports the failure). The same walk, kept short: the bits still to
/// resolve are held left-aligned, so each level is two shifts and a
/// compare, and nothing is kept of what went wrong.
#[inline(always)]
pub fn lookup_cap_fast(mem: &impl ObjectMemory, root: Cap, cptr: u64) -> Cap {
    // The usual CSpace: one CNode whose guard takes every bit above its
    // radix. Then the guard is the CPtr's top bits and the index its low
    // ones: no loop. (A radix of 64 cannot be stored, so the shift is in
    // range.)
    let radix = u32::from(root.cnode_radix_raw());
    if root.is(CapType::CNode) && radix + u32::from(root.cnode_guard_size()) == 64 {
        if cptr >> radix != root.cnode_guard() {
            return Cap::NULL;
        }
        let index = cptr & ((1u64 << radix) - 1);
        return read_cap(mem, root.paddr() + index * SLOT_SIZE);
    }
    let mut node = root;
    let mut rest = cptr;
    let mut bits = 64u32;
    while node.is(CapType::CNode) {
        let radix = u32::from(node.cnode_radix_raw());
        let guard_size = u32::from(node.cnode_guard_size());
        let level = radix + guard_size;
        if level > bits {
            break;
        }
        // `guard_size <= bits <= 64` here; the stored guard has no bits
        // above its size, and a guard of 0 bits is 0 and always matches.
        if rest.checked_shr(64 - guard_size).unwrap_or(0) != node.cnode_guard() {
            break;
        }
        rest = rest.checked_shl(guard_size).unwrap_or(0);
        let index = rest.checked_shr(64 - radix).unwrap_or(0);
        rest = rest.checked_shl(radix).unwrap_or(0);
        bits -= level;
        let cap = read_cap(mem, node.paddr() + index * SLOT_SIZE);
        if bits == 0 || !cap.is(CapType::CNode) {
            return cap;
        }
        node = cap;
    }
    Cap::NULL
}

/// One level of [`resolve`]: the slot of the CNode `node` that the top of
/// the low `bits` bits of `cptr` names after its guard, and how many bits
/// (guard and radix) that took.
#[inline(always)]
fn step(node: Cap, cptr: u64, bits: u8) -> Result<(u64, u8), LookupError> {
    let (radix, guard_size) = (node.cnode_radix_raw(), node.cnode_guard_size());
    let guard_mismatch = LookupError {
        failure: LookupFailure::GuardMismatch,
        bits_left: bits,
        guard_found: node.cnode_guard(),
        bits_found: guard_size,
    };
    if guard_size > bits {
        return Err(guard_mismatch);
    }
    let guard = cptr.checked_shr(u32::from(bits - guard_size)).unwrap_or(0);
    if (guard ^ node.cnode_guard()) & mask(guard_size) != 0 {
        return Err(guard_mismatch);
    }
    // At most 63 + 127: fits a u8.
    let level = radix + guard_size;
    if level > bits {
        return Err(LookupError {
            failure: LookupFailure::DepthMismatch,
            bits_left: bits,
            guard_found: 0,
            bits_found: level,
        });
    }
    let index = cptr.checked_shr(u32::from(bits - level)).unwrap_or(0) & mask(radix);
    Ok((node.paddr() + index * SLOT_SIZE, level))
}

/// The slot a CNode operation names: `depth` in 1..=64, and exactly `depth`
/// bits resolved.
///
/// # Errors
/// `RangeError(1, 64)` for a bad depth; `FailedLookup` (not marked as a source
/// lookup) with the failure, `DepthMismatch` when bits are left over.
pub fn lookup_slot(
    mem: &impl ObjectMemory,
    root: Cap,
    cptr: u64,
    depth: u64,
) -> Result<u64, SyscallError> {
    if !(1..=64).contains(&depth) {
        return Err(SyscallError::range(1, 64));
    }
    // In 1..=64 after the check above.
    let depth = depth as u8;
    match resolve(mem, root, cptr, depth) {
        Ok((slot, 0)) => Ok(slot),
        Ok((_, bits_left)) => Err(SyscallError::failed_lookup(
            false,
            LookupError::new(LookupFailure::DepthMismatch, bits_left),
        )),
        Err(e) => Err(SyscallError::failed_lookup(false, e)),
    }
}

/// [`lookup_slot`] for a source slot: a `FailedLookup` is marked as such.
///
/// # Errors
/// As [`lookup_slot`].
pub fn lookup_source_slot(
    mem: &impl ObjectMemory,
    root: Cap,
    cptr: u64,
    depth: u64,
) -> Result<u64, SyscallError> {
    lookup_slot(mem, root, cptr, depth).map_err(SyscallError::as_source)
}

/// The cap a system call invokes (seL4 `lookupCap`): resolves all 64 bits,
/// stopping at the first slot that does not hold a CNode cap. The cap may be
/// null; the caller decides what that means.
///
/// # Errors
/// The failure as [`resolve`] reports it: an invocation answers it as
/// `FailedLookup` (`SyscallError` converts from it), a system call's own cap
/// turns it into a cap fault.
pub fn lookup_cap(
    mem: &impl ObjectMemory,
    root: Cap,
    cptr: u64,
) -> Result<(u64, Cap), LookupError> {
    let (slot, _) = resolve(mem, root, cptr, 64)?;
    Ok((slot, read_cap(mem, slot)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cspace::slot::write_cap;
    use crate::object_memory::TestMemory;
    use keel_abi::{CapRights, Error};

    const ROOT: u64 = 0x1_0000;
    const MID: u64 = 0x2_0000;
    const LEAF: u64 = 0x3_0000;

    /// Root: radix 4, guard 0 of 4 bits. Root[3] -> MID (radix 8, guard 0x5 of
    /// 3 bits). MID[0x42] -> LEAF (radix 2, guard 0x2a of 6 bits... zero-size
    /// guard here to end exactly at 64 with padding below).
    fn setup() -> (TestMemory, Cap) {
        let mut m = TestMemory::new(0x1_0000, 0x3_0000);
        let root = Cap::cnode(ROOT, 4, 4, 0);
        write_cap(&mut m, ROOT + 3 * 32, Cap::cnode(MID, 8, 3, 0x5));
        write_cap(&mut m, MID + 0x42 * 32, Cap::cnode(LEAF, 2, 6, 0x2a));
        write_cap(&mut m, LEAF + 32, Cap::endpoint(0x4000, 7, CapRights::ALL));
        write_cap(&mut m, ROOT + 5 * 32, Cap::tcb(0x8000));
        (m, root)
    }

    #[test]
    fn multi_level() {
        let (m, root) = setup();
        // 0000 0011 | 101 0100_0010 | 101010 01 : 4+4, 3+8, 6+2 = 27 bits.
        let cptr = (0b0000_0011 << 19) | (0b101_0100_0010 << 8) | 0b1010_1001;
        assert_eq!(resolve(&m, root, cptr, 27), Ok((LEAF + 32, 0)));
        assert_eq!(lookup_slot(&m, root, cptr, 27), Ok(LEAF + 32));
        assert_eq!(lookup_slot(&m, root, cptr >> 8, 19), Ok(MID + 0x42 * 32));
        assert_eq!(lookup_slot(&m, root, 3, 8), Ok(ROOT + 3 * 32));
        // Invoked caps are found with the cptr left-aligned in 64 bits; a
        // non-CNode cap stops the walk with bits left.
        let (slot, cap) = lookup_cap(&m, root, 5 << 56).unwrap();
        assert_eq!((slot, cap.kind()), (ROOT + 5 * 32, CapType::Tcb));
        assert_eq!(resolve(&m, root, 5 << 56, 64), Ok((ROOT + 5 * 32, 56)));
        let err = lookup_slot(&m, root, 5 << 56, 64).unwrap_err();
        assert_eq!(
            (err.error, err.detail),
            (
                Error::FailedLookup,
                [LookupFailure::DepthMismatch as u64, 56]
            )
        );
        let (_, empty) = lookup_cap(&m, root, 6 << 56).unwrap();
        assert!(empty.is_null());
    }

    #[test]
    fn fast_lookup_agrees() {
        let (m, root) = setup();
        let cptrs = [
            5 << 56,
            6 << 56,
            3 << 60,
            (0b0000_0011 << 59) | (0b101_0100_0010 << 48) | (0b1010_1001 << 40),
            (0b0000_0011 << 59) | (0b111_0100_0010 << 48),
            u64::MAX,
            0,
        ];
        for root in [root, Cap::tcb(0x800), Cap::cnode(ROOT, 1, 63, 0)] {
            for cptr in cptrs {
                assert_fast_agrees(&m, root, cptr);
            }
        }
    }

    fn assert_fast_agrees(m: &TestMemory, root: Cap, cptr: u64) {
        let slow = lookup_cap(m, root, cptr).map_or(Cap::NULL, |(_, cap)| cap);
        assert_eq!(lookup_cap_fast(m, root, cptr), slow, "cptr {cptr:#x}");
    }

    proptest::proptest! {
        /// Any CPtr, with its top byte drawn to reach the CNodes below the
        /// root often: the fast lookup finds what the full one does.
        #[test]
        fn fast_lookup_agrees_everywhere(top in 0u64..8, mid in 0u64..2048, low: u64) {
            let (m, root) = setup();
            let cptr = (top << 56) | (mid << 45) | (low >> 19);
            assert_fast_agrees(&m, root, cptr);
        }
    }

    proptest::proptest! {
        /// A one-level CSpace whose guard takes every bit above the radix
        /// (the usual shape, looked up without a loop): any CPtr, half of
        /// them with the right guard, is found as the full lookup finds it.
        #[test]
        fn fast_lookup_agrees_in_one_level(
            radix in 1u8..=12,
            guard: u64,
            low: u64,
            right_guard: bool,
            flip in 0u32..64,
        ) {
            let mut m = TestMemory::new(0x1_0000, 0x3_0000);
            let guard_bits = 64 - radix;
            let guard = guard & ((1u64 << guard_bits) - 1);
            let root = Cap::cnode(ROOT, radix, guard_bits, guard);
            let index = low & ((1u64 << radix) - 1);
            write_cap(&mut m, ROOT + index * 32, Cap::endpoint(0x4000, 9, CapRights::ALL));
            let mut cptr = (guard << radix) | index;
            if !right_guard {
                cptr ^= 1u64 << flip;
            }
            assert_fast_agrees(&m, root, cptr);
        }
    }

    #[test]
    fn failures() {
        let (m, root) = setup();
        let e = |failure, bits_left, guard_found, bits_found| {
            Err(LookupError {
                failure,
                bits_left,
                guard_found,
                bits_found,
            })
        };
        assert_eq!(
            resolve(&m, Cap::tcb(0x800), 0, 8),
            e(LookupFailure::InvalidRoot, 8, 0, 0)
        );
        // The root's guard is 0 of 4 bits.
        assert_eq!(
            resolve(&m, root, 0x13, 8),
            e(LookupFailure::GuardMismatch, 8, 0, 4)
        );
        assert_eq!(
            resolve(&m, root, 0, 3),
            e(LookupFailure::GuardMismatch, 3, 0, 4)
        );
        // The root resolves 8 bits (guard and radix); 6 are left.
        assert_eq!(
            resolve(&m, root, 0, 6),
            e(LookupFailure::DepthMismatch, 6, 0, 8)
        );
        // Into MID (guard 0x5 of 3 bits) with a wrong guard: 0000 0011 | 111 ...
        assert_eq!(
            resolve(&m, root, (0b11 << 11) | (0b111 << 8), 19),
            e(LookupFailure::GuardMismatch, 11, 0x5, 3)
        );
        let words = |r: Result<(u64, u8), LookupError>| r.unwrap_err().detail_words();
        assert_eq!(words(resolve(&m, root, 0, 6)), ([6, 8, 0], 2));
        assert_eq!(
            words(resolve(&m, root, (0b11 << 11) | (0b111 << 8), 19)),
            ([11, 0x5, 3], 3)
        );
        assert_eq!(words(resolve(&m, Cap::tcb(0x800), 0, 8)), ([0, 0, 0], 0));
        assert_eq!(lookup_slot(&m, root, 0, 0), Err(SyscallError::range(1, 64)));
        assert_eq!(
            lookup_slot(&m, root, 0, 65),
            Err(SyscallError::range(1, 64))
        );
        let src = lookup_source_slot(&m, root, 0x13, 8).unwrap_err();
        assert_eq!(src.detail, [LookupFailure::GuardMismatch as u64 | 0x100, 8]);
        let guard64 = Cap::cnode(ROOT, 1, 63, 0);
        assert_eq!(resolve(&m, guard64, 1, 64), Ok((ROOT + 32, 0)));
        assert_eq!(
            resolve(&m, guard64, 1 << 63, 64),
            e(LookupFailure::GuardMismatch, 64, 0, 63)
        );
    }
}
