//! Queues of threads kept in kernel objects (endpoints, notifications): a
//! head and a tail word in the object, and a next/prev link in each queued
//! thread. A queue is ordered as seL4 MCS orders endpoint and notification
//! queues: by priority, highest first, and first come first served within a
//! priority. The queue words live in object memory; where a thread keeps its
//! links and its priority is the kernel's business ([`QueueLinks`]), so the
//! same code runs on the kernel's TCBs and on the host tests' model.

use crate::object_memory::ObjectMemory;

/// Where queued threads keep their links (0: none) and what orders them.
/// Threads are named by their (non-zero) object address.
pub trait QueueLinks {
    /// The thread after `thread`.
    fn next(&self, thread: u64) -> u64;
    /// The thread before `thread`.
    fn prev(&self, thread: u64) -> u64;
    /// Sets the thread after `thread`.
    fn set_next(&mut self, thread: u64, next: u64);
    /// Sets the thread before `thread`.
    fn set_prev(&mut self, thread: u64, prev: u64);
    /// `thread`'s priority, which orders the queues it waits in.
    fn priority(&self, thread: u64) -> u64;
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

    /// Adds `thread` behind every thread of its priority or higher and in
    /// front of every thread of lower priority.
    #[inline(always)]
    pub fn insert(&self, mem: &mut impl ObjectMemory, links: &mut impl QueueLinks, thread: u64) {
        let tail = mem.read(self.tail());
        if tail == 0 {
            self.start(mem, links, thread);
        } else if links.priority(tail) >= links.priority(thread) {
            links.set_prev(thread, tail);
            links.set_next(thread, 0);
            links.set_next(tail, thread);
            mem.write(self.tail(), thread);
        } else {
            self.insert_ahead(mem, links, thread);
        }
    }

    /// Makes `thread` the one thread of the queue, which is empty.
    #[inline(always)]
    pub fn start(&self, mem: &mut impl ObjectMemory, links: &mut impl QueueLinks, thread: u64) {
        links.set_prev(thread, 0);
        links.set_next(thread, 0);
        mem.write(self.head(), thread);
        mem.write(self.tail(), thread);
    }

    /// [`ThreadQueue::insert`] of a `thread` of higher priority than the
    /// last: it goes after the last thread of its priority or higher (at
    /// the head if there is none), found walking forward from the tail.
    #[inline(never)]
    fn insert_ahead(self, mem: &mut impl ObjectMemory, links: &mut impl QueueLinks, thread: u64) {
        let priority = links.priority(thread);
        let mut after = mem.read(self.tail());
        while after != 0 && links.priority(after) < priority {
            after = links.prev(after);
        }
        let before = match after {
            0 => mem.read(self.head()),
            after => links.next(after),
        };
        links.set_prev(thread, after);
        links.set_next(thread, before);
        match after {
            0 => mem.write(self.head(), thread),
            after => links.set_next(after, thread),
        }
        match before {
            0 => mem.write(self.tail(), thread),
            before => links.set_prev(before, thread),
        }
    }

    /// `thread`, queued here, has a new priority: it moves to where
    /// [`ThreadQueue::insert`] puts a thread of that priority (seL4 re-queues
    /// a blocked thread whose priority is set).
    pub fn reorder(&self, mem: &mut impl ObjectMemory, links: &mut impl QueueLinks, thread: u64) {
        self.remove(mem, links, thread);
        self.insert(mem, links, thread);
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
    use crate::test_threads::{model_fields, MapLinks};
    use proptest::prelude::*;
    use std::vec::Vec;

    #[derive(Default)]
    struct Links(MapLinks);

    model_fields!(Links { links: 0 });

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

    fn setup() -> (TestMemory, Links, ThreadQueue) {
        (
            TestMemory::new(0x1000, 0x100),
            Links::default(),
            ThreadQueue::at(0x1000),
        )
    }

    #[test]
    fn fifo_within_a_priority_and_removal_anywhere() {
        let (mut mem, mut links, q) = setup();
        for t in [0x100, 0x200, 0x300, 0x400] {
            q.insert(&mut mem, &mut links, t);
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

    #[test]
    fn higher_priorities_go_ahead_of_lower_ones() {
        let (mut mem, mut links, q) = setup();
        for (t, p) in [
            (0x100, 5),
            (0x200, 9),
            (0x300, 5),
            (0x400, 7),
            (0x500, 9),
            (0x600, 1),
        ] {
            links.0.set_priority(t, p);
            q.insert(&mut mem, &mut links, t);
        }
        assert_eq!(
            contents(&q, &mem, &links),
            [0x200, 0x500, 0x400, 0x100, 0x300, 0x600]
        );
        // A new priority moves a thread behind the others of that priority.
        links.0.set_priority(0x300, 9);
        q.reorder(&mut mem, &mut links, 0x300);
        links.0.set_priority(0x200, 1);
        q.reorder(&mut mem, &mut links, 0x200);
        assert_eq!(
            contents(&q, &mem, &links),
            [0x500, 0x300, 0x400, 0x100, 0x600, 0x200]
        );
    }

    /// The model: (thread, priority) in queue order; a thread goes behind
    /// every thread of its priority or higher.
    fn model_insert(model: &mut Vec<(u64, u64)>, t: u64, p: u64) {
        let at = model
            .iter()
            .position(|&(_, q)| q < p)
            .unwrap_or(model.len());
        model.insert(at, (t, p));
    }

    proptest! {
        /// Random inserts at random priorities, removals, removals of the
        /// front and priority changes keep the order the model keeps, and a
        /// thread taken out has no links.
        #[test]
        fn matches_a_model(ops in proptest::collection::vec((0u8..4, 1u64..12, 0u64..4), 1..80)) {
            let (mut mem, mut links, q) = setup();
            let mut model: Vec<(u64, u64)> = Vec::new();
            for (op, t, p) in ops {
                let t = t * 0x100;
                let queued = model.iter().position(|&(m, _)| m == t);
                match (op, queued) {
                    (0, None) => {
                        links.0.set_priority(t, p);
                        q.insert(&mut mem, &mut links, t);
                        model_insert(&mut model, t, p);
                    }
                    (1, _) if !model.is_empty() => {
                        let first = q.first(&mem).unwrap_or(0);
                        prop_assert_eq!(first, model.remove(0).0);
                        let next = q.remove_first(&mut mem, &mut links, first);
                        prop_assert_eq!(next, model.first().map_or(0, |m| m.0));
                        prop_assert_eq!((links.prev(first), links.next(first)), (0, 0));
                    }
                    (2, Some(i)) => {
                        q.remove(&mut mem, &mut links, t);
                        model.remove(i);
                        prop_assert_eq!((links.prev(t), links.next(t)), (0, 0));
                    }
                    (3, Some(i)) => {
                        links.0.set_priority(t, p);
                        q.reorder(&mut mem, &mut links, t);
                        model.remove(i);
                        model_insert(&mut model, t, p);
                    }
                    _ => {}
                }
                let expected: Vec<u64> = model.iter().map(|m| m.0).collect();
                prop_assert_eq!(contents(&q, &mem, &links), expected);
            }
        }
    }
}
