//! The calibration rows: one revoke of a group holding N objects of one
//! kind, each in the state whose delete costs most that Keel's kernel has:
//! threads blocked in an endpoint's queue, contexts configured, frames and
//! paging structures mapped, VSpaces holding an ASID, CNode slots full.

use crate::{cap, make, Slots, GIB, LARGE_PAGE, REGION, UPPER_REGION};
use keel_abi::object::{MIN_SCHED_CONTEXT_BITS, RETYPE_FAN_OUT_LIMIT};
use keel_abi::vspace::VmAttributes;
use keel_abi::{CapRights, ObjectType};
use keel_bench::waiters::{park, Kind as Waiting, Room};
use keel_bench::{at, Step};
use keel_rt::println;
use keel_sys::arch::cycle_counter;
use keel_sys::cap::init_thread::{ASID_POOL, CNODE, DEBUG, SCHED_CONTROL, VSPACE};
use keel_sys::cap::{
    CNode, LargePage, PageDirectory, PageTable, PageUpperDirectory, SchedContext, SmallPage,
    Untyped, VSpace,
};
use keel_sys::sched::SchedContextFlags;
use keel_sys::{CPtr, Cap};

/// Samples per row.
const RUNS: usize = 5;
/// Most objects a row puts in the group (root slots set aside for them).
pub(crate) const MOST_OBJECTS: u64 = 1024;
/// The radix of the CNode whose slots the `cnode-slot` row fills.
const SLOT_ROW_RADIX: u64 = 10;
/// The radix of the CNodes of the `cnode` row (their slots stay empty).
const CNODE_ROW_RADIX: u64 = 1;
/// A small page.
const PAGE: u64 = 1 << 12;

/// What the rows use that is not in the group: an endpoint for the
/// blocked threads and the CNode slots' copies, and the context each
/// blocked thread runs on into its receive.
pub(crate) struct Outside {
    endpoint: u64,
    context: Cap<SchedContext>,
}

impl Outside {
    /// Makes them from `from`.
    pub(crate) fn make(from: Cap<Untyped>, slots: &mut Slots) -> Step<Self> {
        let endpoint = make(from, slots, ObjectType::Endpoint, 0, "endpoint")?;
        let bits = u64::from(MIN_SCHED_CONTEXT_BITS);
        let context = cap(make(
            from,
            slots,
            ObjectType::SchedContext,
            bits,
            "context",
        )?);
        configure(context)?;
        Ok(Outside { endpoint, context })
    }
}

/// Gives `sc` a budget, so a thread bound to it runs.
fn configure(sc: Cap<SchedContext>) -> Step<()> {
    at(
        "configure",
        SCHED_CONTROL.sched_control_configure_flags(
            sc,
            1_000,
            1_000,
            0,
            0,
            SchedContextFlags::NONE,
        ),
    )
}

/// A row: the objects it fills the group with, and the N it is run at.
#[derive(Clone, Copy)]
pub(crate) enum Row {
    Empty,
    Plain(ObjectType, &'static str),
    ConfiguredContext,
    CNodeSlot,
    BlockedThread,
    MappedSmallPage,
    MappedLargePage,
    MappedPageTable,
    MappedPageDirectory,
    MappedPageUpperDirectory,
    AssignedVSpace,
}

/// Every row, with its N.
const ROWS: [(Row, &[u64]); 13] = [
    (Row::Empty, &[0]),
    (
        Row::Plain(ObjectType::Endpoint, "endpoint"),
        &[1, 16, 256, 1024],
    ),
    (
        Row::Plain(ObjectType::Notification, "notification"),
        &[1, 16, 256, 1024],
    ),
    (Row::Plain(ObjectType::Reply, "reply"), &[1, 16, 256, 1024]),
    (Row::Plain(ObjectType::CNode, "cnode"), &[1, 16, 256]),
    (Row::ConfiguredContext, &[1, 16, 256]),
    (Row::CNodeSlot, &[1, 16, 256, 1024]),
    (Row::BlockedThread, &[1, 16, 256]),
    (Row::MappedSmallPage, &[1, 16, 256, 512]),
    (Row::MappedLargePage, &[1, 2, 4, 8]),
    (Row::MappedPageTable, &[1, 16, 256]),
    (Row::MappedPageDirectory, &[1, 16, 256]),
    (Row::MappedPageUpperDirectory, &[1, 4, 16]),
];

/// The row for VSpaces, apart because the root task's ASID pool limits it.
const VSPACE_ROW: (Row, &[u64]) = (Row::AssignedVSpace, &[1, 16, 64]);

impl Row {
    /// The name after `reclaim-` in the row's lines.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Row::Empty => "empty",
            Row::Plain(_, name) => name,
            Row::ConfiguredContext => "sched-context",
            Row::CNodeSlot => "cnode-slot",
            Row::BlockedThread => "tcb",
            Row::MappedSmallPage => "small-page",
            Row::MappedLargePage => "large-page",
            Row::MappedPageTable => "page-table",
            Row::MappedPageDirectory => "page-directory",
            Row::MappedPageUpperDirectory => "page-upper-directory",
            Row::AssignedVSpace => "vspace",
        }
    }
}

/// The group, the root slots its objects' caps go in (from `first` on), and
/// what the rows use outside it.
pub(crate) struct Bench {
    pub(crate) group: Cap<Untyped>,
    pub(crate) first: u64,
    pub(crate) outside: Outside,
    pub(crate) overhead: u64,
    /// A root slot for a thread being set up.
    pub(crate) scratch: u64,
}

impl Bench {
    /// Runs every row.
    pub(crate) fn run_all(&self) -> Step<()> {
        for (row, ns) in ROWS.iter().chain(core::iter::once(&VSPACE_ROW)) {
            for &n in *ns {
                for _ in 0..RUNS {
                    self.fill(*row, n, 0)?;
                    self.time_revoke(*row, n)?;
                }
            }
        }
        Ok(())
    }

    /// Times the revoke of the group and reads the longest stretch.
    fn time_revoke(&self, row: Row, n: u64) -> Step<()> {
        at("stretch reset", DEBUG.debug_longest_kernel_stretch())?;
        let ticks = self.timed_revoke()?;
        let stretch = at("stretch", DEBUG.debug_longest_kernel_stretch())?;
        let name = row.name();
        println!("BENCH reclaim-{name} {n} {ticks}");
        println!("BENCH reclaim-{name}-longest-stretch {n} {stretch}");
        Ok(())
    }

    /// The revoke of the group, in counter ticks.
    pub(crate) fn timed_revoke(&self) -> Step<u64> {
        let group = CNODE.absolute_cptr(self.group.cptr());
        let t0 = cycle_counter();
        let result = group.revoke();
        let t1 = cycle_counter();
        at("revoke the group", result)?;
        Ok((t1 - t0).saturating_sub(self.overhead))
    }

    /// Retypes `n` objects of `ty` from the group into the root slots from
    /// `first + from` on.
    fn retype(&self, ty: ObjectType, size_bits: u64, n: u64, from: u64) -> Step<()> {
        let here = CNODE.absolute_cptr_with_depth(0, 0);
        let mut made = 0;
        while made < n {
            let k = (n - made).min(RETYPE_FAN_OUT_LIMIT);
            let to = self.first + from + made;
            at(
                "retype into the group",
                self.group.untyped_retype(ty, size_bits, &here, to, k),
            )?;
            made += k;
        }
        Ok(())
    }

    /// Fills the group for `row` with `n` objects in their dearest state,
    /// the `i`-th in root slot `first + from + i` (mapped kinds at their
    /// `from + i`-th place).
    pub(crate) fn fill(&self, row: Row, n: u64, from: u64) -> Step<()> {
        let rw = CapRights::READ.union(CapRights::WRITE);
        let attrs = VmAttributes::DEFAULT;
        let each = |i: u64| self.first + from + i;
        let place = |i: u64| from + i;
        match row {
            Row::Empty => Ok(()),
            Row::Plain(ty, _) => {
                let size = if ty == ObjectType::CNode {
                    CNODE_ROW_RADIX
                } else {
                    0
                };
                self.retype(ty, size, n, from)
            }
            Row::ConfiguredContext => {
                self.retype(
                    ObjectType::SchedContext,
                    u64::from(MIN_SCHED_CONTEXT_BITS),
                    n,
                    from,
                )?;
                (0..n).try_for_each(|i| configure(cap(each(i))))
            }
            Row::CNodeSlot => {
                self.retype(ObjectType::CNode, SLOT_ROW_RADIX, 1, from)?;
                let cnode = cap::<CNode>(each(0));
                let endpoint = CNODE.absolute_cptr(CPtr::from_bits(self.outside.endpoint));
                (0..n).try_for_each(|i| {
                    let dst = cnode.absolute_cptr_with_depth(i, SLOT_ROW_RADIX);
                    at("fill a slot", dst.copy(&endpoint, CapRights::ALL))
                })
            }
            Row::BlockedThread => {
                let room = Room {
                    untyped: self.group,
                    cnode: CNODE,
                    cnode_depth: 64,
                    first: each(0),
                    object: self.outside.endpoint,
                    scratch: self.scratch,
                    context: self.outside.context,
                    fault_ep: 0,
                };
                park(&room, Waiting::Endpoint, n, self.outside.endpoint)
            }
            Row::MappedSmallPage => {
                self.retype(ObjectType::SmallPage, 0, n, from)?;
                (0..n).try_for_each(|i| {
                    let page = cap::<SmallPage>(each(i));
                    at(
                        "map a page",
                        page.frame_map(VSPACE, REGION + place(i) * PAGE, rw, attrs),
                    )
                })
            }
            Row::MappedLargePage => {
                self.retype(ObjectType::LargePage, 0, n, from)?;
                (0..n).try_for_each(|i| {
                    let page = cap::<LargePage>(each(i));
                    let at_ = REGION + GIB + place(i) * LARGE_PAGE;
                    at("map a large page", page.frame_map(VSPACE, at_, rw, attrs))
                })
            }
            Row::MappedPageTable => {
                self.retype(ObjectType::PageTable, 0, n, from)?;
                (0..n).try_for_each(|i| {
                    let table = cap::<PageTable>(each(i));
                    let at_ = REGION + 2 * GIB + place(i) * LARGE_PAGE;
                    at("map a table", table.page_table_map(VSPACE, at_, attrs))
                })
            }
            Row::MappedPageDirectory => {
                self.retype(ObjectType::PageDirectory, 0, n, from)?;
                (0..n).try_for_each(|i| {
                    let dir = cap::<PageDirectory>(each(i));
                    let at_ = REGION + (4 + place(i)) * GIB;
                    at("map a directory", dir.page_table_map(VSPACE, at_, attrs))
                })
            }
            Row::MappedPageUpperDirectory => {
                self.retype(ObjectType::PageUpperDirectory, 0, n, from)?;
                (0..n).try_for_each(|i| {
                    let upper = cap::<PageUpperDirectory>(each(i));
                    let at_ = UPPER_REGION + place(i) * 512 * GIB;
                    at(
                        "map an upper directory",
                        upper.page_table_map(VSPACE, at_, attrs),
                    )
                })
            }
            Row::AssignedVSpace => {
                self.retype(ObjectType::VSpace, 0, n, from)?;
                (0..n).try_for_each(|i| {
                    at(
                        "assign an ASID",
                        ASID_POOL.asid_pool_assign(cap::<VSpace>(each(i))),
                    )
                })
            }
        }
    }
}
