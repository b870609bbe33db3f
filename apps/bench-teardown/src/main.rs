//! The teardown benchmark, started in the root task's place by `cargo xtask
//! bench teardown`. It calibrates the process server's reclamation costs:
//! for each object kind it fills an untyped (the group) with N objects of
//! that kind, puts them in the state whose delete costs most, and times one
//! revoke of the group, as a process's teardown is one revoke of its group.
//! It prints `BENCH reclaim-<kind> <N> <ticks>` per sample and the kernel's
//! longest stretch between preemption points during that revoke as
//! `BENCH reclaim-<kind>-longest-stretch <N> <instructions>`; the build tool
//! turns them into the per-object cost table. The paper's Figure 2 follows
//! ([`figure2`]): the same groups torn down object by object, one cap
//! delete each, against one revoke. Then it starts the process server,
//! times its quota charge ([`quota`]), and spawns and kills a thousand
//! processes ([`processes`]), each kill's measured teardown beside its
//! declared deadline.
#![no_std]
#![no_main]

extern crate alloc;

mod figure2;
mod processes;
mod quota;
mod reclaim;

use keel_abi::vspace::VmAttributes;
use keel_abi::{BootInfo, ObjectType};
use keel_bench::{at, counter_overhead, Step};
use keel_rt::println;
use keel_sys::cap::init_thread::{CNODE, VSPACE};
use keel_sys::cap::{CapKind, PageDirectory, PageTable, PageUpperDirectory, Untyped};
use keel_sys::{CPtr, Cap};

keel_rt::main!(main);

fn main(boot_info: &'static BootInfo) -> u32 {
    keel_bench::finish(run(boot_info))
}

/// The cap in root slot `s`.
pub(crate) fn cap<T: CapKind>(s: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(s))
}

/// Hands out root slots from the boot info's empty range.
pub(crate) struct Slots(u64);

impl Slots {
    /// `n` consecutive slots; returns the first.
    pub(crate) fn take(&mut self, n: u64) -> u64 {
        let s = self.0;
        self.0 += n;
        s
    }
}

/// Makes one `ty` object of `size_bits` from `from` in a fresh root slot.
pub(crate) fn make(
    from: Cap<Untyped>,
    slots: &mut Slots,
    ty: ObjectType,
    size_bits: u64,
    what: &str,
) -> Step<u64> {
    let s = slots.take(1);
    let here = CNODE.absolute_cptr_with_depth(0, 0);
    at(what, from.untyped_retype(ty, size_bits, &here, s, 1))?;
    Ok(s)
}

/// Where the mapped kinds are mapped in the root VSpace: one level-0 entry
/// whose PageUpperDirectory (made outside the group) holds, per 1 GiB,
/// the PageDirectories the kinds below it need: small pages in the first
/// GiB, large pages in the second, the group's page tables in the third
/// and fourth, its page directories from the fifth on.
pub(crate) const REGION: u64 = 0x0000_2000_0000_0000;
/// One GiB.
pub(crate) const GIB: u64 = 1 << 30;
/// A large page, and what one PageTable maps: 2 MiB.
pub(crate) const LARGE_PAGE: u64 = 1 << 21;
/// Where the group's PageUpperDirectories go, one level-0 entry each.
pub(crate) const UPPER_REGION: u64 = 0x0000_3000_0000_0000;

fn run(boot_info: &'static BootInfo) -> Step<()> {
    let overhead = counter_overhead();
    println!("BENCH counter-overhead 0 {overhead}");
    let (largest, _) = keel_bench::largest_untyped(boot_info, 27)?;
    let big: Cap<Untyped> = cap(largest);
    let mut slots = Slots(boot_info.empty.start);
    let group = make(big, &mut slots, ObjectType::Untyped, 25, "the group")?;
    // The paging structures outside the group: a PageUpperDirectory for the
    // region, PageDirectories for its first four GiB (small pages, large
    // pages, the group's page tables) and PageTables for 1,024 small pages.
    let upper = make(big, &mut slots, ObjectType::PageUpperDirectory, 0, "upper")?;
    at(
        "map upper",
        cap::<PageUpperDirectory>(upper).page_table_map(VSPACE, REGION, VmAttributes::DEFAULT),
    )?;
    for g in 0..4 {
        let pd = make(big, &mut slots, ObjectType::PageDirectory, 0, "directory")?;
        at(
            "map directory",
            cap::<PageDirectory>(pd).page_table_map(
                VSPACE,
                REGION + g * GIB,
                VmAttributes::DEFAULT,
            ),
        )?;
    }
    for t in 0..2 {
        let pt = make(big, &mut slots, ObjectType::PageTable, 0, "table")?;
        at(
            "map table",
            cap::<PageTable>(pt).page_table_map(
                VSPACE,
                REGION + t * LARGE_PAGE,
                VmAttributes::DEFAULT,
            ),
        )?;
    }
    let outside = reclaim::Outside::make(big, &mut slots)?;
    let first = slots.take(reclaim::MOST_OBJECTS);
    let bench = reclaim::Bench {
        group: cap(group),
        first,
        outside,
        overhead,
        scratch: slots.take(1),
    };
    bench.run_all()?;
    bench.run_figure2()?;
    processes::run(boot_info, big, &mut slots, overhead)
}
