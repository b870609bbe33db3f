//! The paper's Figure 2 on Keel: a process's objects torn down one at a
//! time from the parent, as a system without reclamation groups must (one
//! cap delete per object: the kernel unmaps each frame and paging
//! structure, takes each blocked thread out of its queue, unbinds each
//! context as it deletes it), against one revoke of the group holding the
//! same objects in the same state. Per kind and for a mix of kinds, at
//! N = 1 to 1,000, it prints `BENCH fig2-<kind>-each <N> <ticks>` (all N
//! deletes) and `BENCH fig2-<kind>-group <N> <ticks>` (the revoke).

use crate::reclaim::{Bench, Row};
use keel_abi::ObjectType;
use keel_bench::{at, Step};
use keel_rt::println;
use keel_sys::arch::cycle_counter;
use keel_sys::cap::init_thread::CNODE;
use keel_sys::CPtr;

/// Samples per method, kind and N (`-icount` makes them repeat exactly).
const RUNS: usize = 2;
/// The numbers of objects.
const NS: [u64; 4] = [1, 10, 100, 1000];

/// What a Figure 2 row fills the group with.
#[derive(Clone, Copy)]
enum Content {
    /// N objects of one kind.
    Kind(Row),
    /// N objects spread evenly over [`MIX`]'s kinds.
    Mix,
}

/// The kinds of the mix, each in its dearest state.
const MIX: [Row; 8] = [
    Row::BlockedThread,
    Row::Plain(ObjectType::Endpoint, "endpoint"),
    Row::Plain(ObjectType::Notification, "notification"),
    Row::Plain(ObjectType::Reply, "reply"),
    Row::ConfiguredContext,
    Row::Plain(ObjectType::CNode, "cnode"),
    Row::MappedSmallPage,
    Row::MappedPageTable,
];

/// Every row: each kind of the mix alone, then the mix.
const CONTENTS: [Content; 9] = [
    Content::Kind(MIX[0]),
    Content::Kind(MIX[1]),
    Content::Kind(MIX[2]),
    Content::Kind(MIX[3]),
    Content::Kind(MIX[4]),
    Content::Kind(MIX[5]),
    Content::Kind(MIX[6]),
    Content::Kind(MIX[7]),
    Content::Mix,
];

impl Content {
    fn name(self) -> &'static str {
        match self {
            Content::Kind(row) => row.name(),
            Content::Mix => "mix",
        }
    }
}

impl Bench {
    /// Runs every Figure 2 row.
    pub(crate) fn run_figure2(&self) -> Step<()> {
        for content in CONTENTS {
            let name = content.name();
            for n in NS {
                for _ in 0..RUNS {
                    self.fill_with(content, n)?;
                    let each = self.delete_each(n)?;
                    // The group is empty now; its revoke only rewinds it.
                    self.timed_revoke()?;
                    println!("BENCH fig2-{name}-each {n} {each}");
                    self.fill_with(content, n)?;
                    let group = self.timed_revoke()?;
                    println!("BENCH fig2-{name}-group {n} {group}");
                }
            }
        }
        Ok(())
    }

    /// Fills the group with `n` objects of `content`.
    fn fill_with(&self, content: Content, n: u64) -> Step<()> {
        match content {
            Content::Kind(row) => self.fill(row, n, 0),
            Content::Mix => {
                let kinds = MIX.len() as u64;
                let mut from = 0;
                for (k, row) in (0u64..).zip(MIX) {
                    let count = n / kinds + u64::from(k < n % kinds);
                    self.fill(row, count, from)?;
                    from += count;
                }
                Ok(())
            }
        }
    }

    /// Deletes the caps of the group's `n` objects one by one, in counter
    /// ticks.
    fn delete_each(&self, n: u64) -> Step<u64> {
        let t0 = cycle_counter();
        for i in 0..n {
            let object = CNODE.absolute_cptr(CPtr::from_bits(self.first + i));
            at("delete an object", object.delete())?;
        }
        let t1 = cycle_counter();
        Ok((t1 - t0).saturating_sub(self.overhead))
    }
}
