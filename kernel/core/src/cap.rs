//! The two-word capability encoding kept in CNode slots.
//!
//! Word 0 holds the cap type in its low 5 bits and the object's physical address
//! (at least 32-byte aligned) above them. Word 1 holds type-specific fields:
//! size bits for Untyped and CNode, rights for frames. Later object types add
//! their fields here; the user-visible type is `keel_abi::CapType`.

use keel_abi::CapType;

const TYPE_BITS: u64 = 5;
const TYPE_MASK: u64 = (1 << TYPE_BITS) - 1;

/// A capability as stored in a slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cap {
    words: [u64; 2],
}

impl Cap {
    /// The empty capability.
    pub const NULL: Cap = Cap { words: [0, 0] };

    /// A capability of `kind` to the object at physical address `paddr`, with
    /// type-specific `info`. `paddr` must be 32-byte aligned.
    pub fn new(kind: CapType, paddr: u64, info: u64) -> Option<Cap> {
        (paddr & TYPE_MASK == 0).then_some(Cap { words: [paddr | kind as u64, info] })
    }

    /// An Untyped cap of `2^size_bits` bytes at `paddr`.
    pub fn untyped(paddr: u64, size_bits: u8, is_device: bool) -> Option<Cap> {
        Cap::new(CapType::Untyped, paddr, u64::from(size_bits) | (u64::from(is_device) << 8))
    }

    /// The cap's type. Slots are written only through `Cap::new`, so the code is valid.
    pub fn kind(&self) -> CapType {
        CapType::try_from(self.words[0] & TYPE_MASK).unwrap_or(CapType::Null)
    }

    /// Physical address of the object.
    pub fn paddr(&self) -> u64 {
        self.words[0] & !TYPE_MASK
    }

    /// The type-specific word.
    pub fn info(&self) -> u64 {
        self.words[1]
    }

    /// True for the empty capability.
    pub fn is_null(&self) -> bool {
        self.kind() == CapType::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let c = Cap::untyped(0x4000_0000, 20, true).unwrap();
        assert_eq!(c.kind(), CapType::Untyped);
        assert_eq!(c.paddr(), 0x4000_0000);
        assert_eq!(c.info() & 0xff, 20);
        assert!(Cap::new(CapType::Frame, 0x1001, 0).is_none());
        assert!(Cap::NULL.is_null());
        assert!(Cap::default().is_null());
    }
}
