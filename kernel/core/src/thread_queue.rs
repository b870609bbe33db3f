//! FIFO queues of threads kept in kernel objects (endpoints, notifications):
//! a head and a tail word in the object, and a next/prev link in each queued
//! thread. The queue words live in object memory; where a thread keeps its
//! links is the kernel's business ([`QueueLinks`]), so the same code runs
//! on the kernel's TCBs and on the host tests' model.

use crate::object_memory::ObjectMemory;

/// Where queued threads keep their links (0: none). Threads are named by
/// their (non-zero) object address.
pub trait QueueLinks {
    /// The thread after `thread`.
    fn next(&self, thread: u64) -> u64;
    /// The thread before `thread`.
    fn prev(&self, thread: u64) -> u64;
    /// Sets the thread after `thread`.
    fn set_next(&mut self, thread: u64, next: u64);
    /// Sets the thread before `thread`.
    fn set_prev(&mut self, thread: u64, prev: u64);
}

/// The words a queue keeps in its object: the first and the last thread
/// (0: none).
#[repr(C)]
pub struct QueueWords {
    /// The first thread.
    pub head: u64,
    /// The last thread.
    pub tail: u64,
}

const _: () = assert!(core::mem::size_of::<QueueWords>() == 16);
const HEAD: u64 = core::mem::offset_of!(QueueWords, head) as u64;
const TAIL: u64 = core::mem::offset_of!(QueueWords, tail) as u64;

/// A queue whose [`QueueWords`] are at a physical address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadQueue {
    words: u64,
}

impl ThreadQueue {
    /// The queue whose [`QueueWords`] are at physical address `words`.
    pub const fn at(words: u64) -> ThreadQueue {
        ThreadQueue { words }
    }

    fn head(&self) -> u64 {
        self.words + HEAD
    }

    fn tail(&self) -> u64 {
        self.words + TAIL
    }

    /// The first thread, if any.
    pub fn first(&self, mem: &impl ObjectMemory) -> Option<u64> {
        match mem.read(self.head()) {
            0 => None,
            t => Some(t),
        }
    }

    /// Adds `thread` at the back.
    #[inline(always)]
    pub fn append(&self, mem: &mut impl ObjectMemory, links: &mut impl QueueLinks, thread: u64) {
        let tail = mem.read(self.tail());
        links.set_prev(thread, tail);
        links.set_next(thread, 0);
        match tail {
            0 => mem.write(self.head(), thread),
            tail => links.set_next(tail, thread),
        }
        mem.write(self.tail(), thread);
    }

    /// Takes `first`, the thread at the front, out ([`ThreadQueue::remove`]
    /// knowing it has no thread before it); returns the new front (0: the
    /// queue is empty).
    #[inline(always)]
    pub fn remove_first(
        &self,
        mem: &mut impl ObjectMemory,
        links: &mut impl QueueLinks,
        first: u64,
    ) -> u64 {
        let next = links.next(first);
        links.set_next(first, 0);
        mem.write(self.head(), next);
        match next {
            0 => mem.write(self.tail(), 0),
            next => links.set_prev(next, 0),
        }
        next
    }

    /// Takes `thread`, which must be queued here, out.
    #[inline(always)]
    pub fn remove(&self, mem: &mut impl ObjectMemory, links: &mut impl QueueLinks, thread: u64) {
        let (prev, next) = (links.prev(thread), links.next(thread));
        links.set_prev(thread, 0);
        links.set_next(thread, 0);
        match prev {
            0 => mem.write(self.head(), next),
            prev => links.set_next(prev, next),
        }
        match next {
            0 => mem.write(self.tail(), prev),
            next => links.set_prev(next, prev),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::object_memory::TestMemory;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, VecDeque};
    use std::vec::Vec;

    #[derive(Default)]
    struct Links(BTreeMap<u64, (u64, u64)>);

    impl QueueLinks for Links {
        fn next(&self, t: u64) -> u64 {
            self.0.get(&t).map_or(0, |l| l.1)
        }
        fn prev(&self, t: u64) -> u64 {
            self.0.get(&t).map_or(0, |l| l.0)
        }
        fn set_next(&mut self, t: u64, next: u64) {
            self.0.entry(t).or_default().1 = next;
        }
        fn set_prev(&mut self, t: u64, prev: u64) {
            self.0.entry(t).or_default().0 = prev;
        }
    }

    /// Walks the queue from the head, checking the back links on the way.
    fn contents(q: &ThreadQueue, mem: &TestMemory, links: &Links) -> Vec<u64> {
        let mut out = Vec::new();
        let mut prev = 0;
        let mut at = q.first(mem);
        while let Some(t) = at {
            assert_eq!(links.prev(t), prev, "back link of {t:#x}");
            out.push(t);
            prev = t;
            at = match links.next(t) {
                0 => None,
                n => Some(n),
            };
        }
        assert_eq!(mem.read(0x1008), prev, "tail word");
        out
    }

    #[test]
    fn fifo_and_removal_anywhere() {
        let mut mem = TestMemory::new(0x1000, 0x100);
        let mut links = Links::default();
        let q = ThreadQueue::at(0x1000);
        for t in [0x100, 0x200, 0x300, 0x400] {
            q.append(&mut mem, &mut links, t);
        }
        assert_eq!(contents(&q, &mem, &links), [0x100, 0x200, 0x300, 0x400]);
        q.remove(&mut mem, &mut links, 0x200);
        q.remove(&mut mem, &mut links, 0x100);
        q.remove(&mut mem, &mut links, 0x400);
        assert_eq!(contents(&q, &mem, &links), [0x300]);
        q.remove(&mut mem, &mut links, 0x300);
        assert_eq!(q.first(&mem), None);
        assert_eq!(mem.read(0x1008), 0);
    }

    proptest! {
        /// Random appends, removals and removals of the front keep the
        /// order a VecDeque keeps, and a thread taken out has no links.
        #[test]
        fn matches_a_model(ops in proptest::collection::vec((0u8..3, 1u64..12), 1..60)) {
            let mut mem = TestMemory::new(0x1000, 0x100);
            let mut links = Links::default();
            let q = ThreadQueue::at(0x1000);
            let mut model: VecDeque<u64> = VecDeque::new();
            for (op, t) in ops {
                let t = t * 0x100;
                if op == 0 && !model.contains(&t) {
                    q.append(&mut mem, &mut links, t);
                    model.push_back(t);
                } else if op == 1 && !model.is_empty() {
                    let first = q.first(&mem).unwrap_or(0);
                    prop_assert_eq!(Some(first), model.pop_front());
                    let next = q.remove_first(&mut mem, &mut links, first);
                    prop_assert_eq!(next, model.front().copied().unwrap_or(0));
                    prop_assert_eq!((links.prev(first), links.next(first)), (0, 0));
                } else if let Some(i) = model.iter().position(|&m| m == t) {
                    q.remove(&mut mem, &mut links, t);
                    model.remove(i);
                    prop_assert_eq!((links.prev(t), links.next(t)), (0, 0));
                }
                prop_assert_eq!(contents(&q, &mem, &links), model.iter().copied().collect::<Vec<_>>());
            }
        }
    }
}
