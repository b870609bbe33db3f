//! CNodes: power-of-two arrays of capability slots.
//!
//! This module owns slot storage and indexing. CPtr resolution through guarded
//! multi-level CSpaces and the derivation tree come with the capability issue.

use keel_kernel_core::cap::Cap;

/// log2 of the number of slots in the root task's CNode.
pub const ROOT_CNODE_BITS: u8 = 13;

/// A CNode's slots.
#[repr(C)]
pub struct CNode<const N: usize> {
    slots: [Cap; N],
}

/// The root task's CNode.
pub type RootCNode = CNode<{ 1 << ROOT_CNODE_BITS }>;

impl<const N: usize> CNode<N> {
    /// The cap in slot `index`, or `None` past the end.
    pub fn get(&self, index: u64) -> Option<Cap> {
        self.slots.get(usize::try_from(index).ok()?).copied()
    }

    /// Writes slot `index`; returns false past the end.
    pub fn set(&mut self, index: u64, cap: Cap) -> bool {
        match usize::try_from(index).ok().and_then(|i| self.slots.get_mut(i)) {
            Some(slot) => {
                *slot = cap;
                true
            }
            None => false,
        }
    }
}
