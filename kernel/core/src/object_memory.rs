//! The memory that kernel objects live in, seen one 64-bit word at a time.
//!
//! Every operation of the capability core reads and writes slots and objects by
//! value through [`ObjectMemory`]; nothing holds a reference into object memory.
//! The bare-metal kernel implements the trait over its physical-memory window;
//! host tests use `TestMemory` (built for tests and with the `test-memory`
//! feature). This module does not decide what the words mean.

/// Physical memory holding kernel objects, accessed by word. Slot and object
/// addresses are physical.
pub trait ObjectMemory {
    /// The word at `paddr` (8-byte aligned).
    fn read(&self, paddr: u64) -> u64;
    /// Stores `value` at `paddr` (8-byte aligned).
    fn write(&mut self, paddr: u64, value: u64);
    /// Zeroes `len` bytes from `paddr` (both multiples of 8).
    fn zero(&mut self, paddr: u64, len: u64);
    /// Counts one write of a cap into a slot (`cspace::write_cap`, the only
    /// way a cap changes, calls it).
    fn count_cap_write(&mut self);
    /// The count of cap writes, from 1 (never 0 in practice: it wraps only
    /// after 2^64 writes). A lookup through a CSpace made while it read `n`
    /// finds the same cap again while it still reads `n`: the kernel's IPC
    /// fast path keeps its lookups by it.
    fn cap_writes(&self) -> u64;
}

#[cfg(any(test, feature = "test-memory"))]
pub use test_memory::TestMemory;

#[cfg(any(test, feature = "test-memory"))]
mod test_memory {
    use super::ObjectMemory;
    use alloc::vec::Vec;

    /// Host-test memory: words covering `[base, base + len)`. An access outside
    /// that range, or a misaligned one, is a bug in the code under test and panics.
    /// It counts word writes so tests can measure the work done between
    /// preemption points, and cap writes as the kernel does.
    #[derive(Clone, Debug)]
    pub struct TestMemory {
        base: u64,
        words: Vec<u64>,
        writes: u64,
        cap_writes: u64,
    }

    impl TestMemory {
        /// Zeroed memory of `len` bytes (a multiple of 8) from `base` (8-byte aligned).
        pub fn new(base: u64, len: u64) -> Self {
            assert!(
                base.is_multiple_of(8) && len.is_multiple_of(8),
                "TestMemory: misaligned range"
            );
            let count = usize::try_from(len / 8).expect("TestMemory: length fits usize");
            let words = alloc::vec![0; count];
            TestMemory {
                base,
                words,
                writes: 0,
                cap_writes: 1,
            }
        }

        /// First byte covered.
        pub fn base(&self) -> u64 {
            self.base
        }

        /// Number of bytes covered.
        pub fn len(&self) -> u64 {
            self.words.len() as u64 * 8
        }

        /// True when no byte is covered.
        pub fn is_empty(&self) -> bool {
            self.words.is_empty()
        }

        /// Number of words written so far (`zero` counts one per word).
        pub fn writes(&self) -> u64 {
            self.writes
        }

        fn index(&self, paddr: u64) -> usize {
            assert!(
                paddr.is_multiple_of(8),
                "TestMemory: misaligned access at {paddr:#x}"
            );
            let off = paddr
                .checked_sub(self.base)
                .expect("TestMemory: access below base");
            let i = usize::try_from(off / 8).expect("TestMemory: index fits usize");
            assert!(
                i < self.words.len(),
                "TestMemory: access above end at {paddr:#x}"
            );
            i
        }
    }

    impl ObjectMemory for TestMemory {
        fn read(&self, paddr: u64) -> u64 {
            self.words[self.index(paddr)]
        }

        fn write(&mut self, paddr: u64, value: u64) {
            let i = self.index(paddr);
            self.words[i] = value;
            self.writes += 1;
        }

        fn zero(&mut self, paddr: u64, len: u64) {
            assert!(
                len.is_multiple_of(8),
                "TestMemory: zero length not a multiple of 8"
            );
            if len == 0 {
                return;
            }
            let first = self.index(paddr);
            let last = self.index(paddr + len - 8);
            self.words[first..=last].fill(0);
            self.writes += len / 8;
        }

        fn count_cap_write(&mut self) {
            self.cap_writes = self.cap_writes.wrapping_add(1);
        }

        fn cap_writes(&self) -> u64 {
            self.cap_writes
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn read_write_zero() {
            let mut m = TestMemory::new(0x1000, 0x100);
            assert_eq!(m.len(), 0x100);
            m.write(0x1008, 7);
            m.write(0x10f8, 9);
            assert_eq!(m.read(0x1008), 7);
            m.zero(0x1000, 0x100);
            assert_eq!(m.read(0x1008), 0);
            assert_eq!(m.read(0x10f8), 0);
            assert_eq!(m.writes(), 2 + 32);
        }

        #[test]
        #[should_panic]
        fn out_of_range_panics() {
            let m = TestMemory::new(0x1000, 0x100);
            m.read(0x1100);
        }
    }
}
