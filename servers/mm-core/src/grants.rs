//! The untyped blocks a slave has granted one client (the memory
//! protocol's `grant_untyped`), by the key the client named each with: one
//! block per key, at most a bound the slave sets. It makes no cap
//! operation: the slave allocates each block and copies its cap to the
//! client, and revokes and frees what [`Grants::remove`] and
//! [`Grants::pop`] hand back.

use crate::areas::PAGE_BITS;
use crate::buddy::Block;
use alloc::vec::Vec;

/// Why a grant is refused before anything is allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantError {
    /// The client holds a block under that key already.
    Held,
    /// The client holds as many blocks as it may.
    Full,
}

/// One client's granted blocks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    held: Vec<(u64, Block)>,
}

impl Grants {
    /// Whether a block may be granted under `key` to a client that may
    /// hold at most `max`.
    ///
    /// # Errors
    /// `Held` when `key` names a block already, else `Full` at `max`.
    pub fn admit(&self, key: u64, max: usize) -> Result<(), GrantError> {
        if self.held.iter().any(|(k, _)| *k == key) {
            return Err(GrantError::Held);
        }
        if self.held.len() >= max {
            return Err(GrantError::Full);
        }
        Ok(())
    }

    /// Records `block` as granted under `key`.
    ///
    /// # Errors
    /// `Held` when `key` names a block already (nothing is recorded).
    pub fn insert(&mut self, key: u64, block: Block) -> Result<(), GrantError> {
        self.admit(key, usize::MAX)?;
        self.held.push((key, block));
        Ok(())
    }

    /// The block granted under `key`, no longer recorded.
    pub fn remove(&mut self, key: u64) -> Option<Block> {
        let at = self.held.iter().position(|(k, _)| *k == key)?;
        Some(self.held.swap_remove(at).1)
    }

    /// Any one granted block, no longer recorded (the client's detach
    /// takes them all).
    pub fn pop(&mut self) -> Option<Block> {
        self.held.pop().map(|(_, b)| b)
    }

    /// Pages in the granted blocks.
    pub fn pages(&self) -> u64 {
        self.held.iter().map(|(_, b)| b.size() >> PAGE_BITS).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(order: u8, index: u64) -> Block {
        Block::in_region_0(order, index)
    }

    #[test]
    fn a_key_names_one_block_until_it_is_removed() {
        let mut g = Grants::default();
        g.insert(7, block(16, 0)).unwrap();
        assert_eq!(g.admit(7, 4), Err(GrantError::Held));
        assert_eq!(g.insert(7, block(16, 1)), Err(GrantError::Held));
        assert_eq!(g.pages(), 16);
        assert_eq!(g.remove(8), None);
        assert_eq!(g.remove(7), Some(block(16, 0)));
        assert_eq!(g.remove(7), None);
        assert_eq!(g.pages(), 0);
        assert_eq!(g.admit(7, 4), Ok(()));
    }

    #[test]
    fn grants_stop_at_the_bound_and_all_come_back() {
        let mut g = Grants::default();
        for key in 0..3 {
            assert_eq!(g.admit(key, 3), Ok(()));
            g.insert(key, block(12 + key as u8, key)).unwrap();
        }
        assert_eq!(g.admit(9, 3), Err(GrantError::Full));
        assert_eq!(g.pages(), 1 + 2 + 4);
        let mut back = Vec::new();
        while let Some(b) = g.pop() {
            back.push(b);
        }
        back.sort_by_key(|b| b.index);
        assert_eq!(back, [block(12, 0), block(13, 1), block(14, 2)]);
        assert_eq!(g, Grants::default());
    }
}
