//! The capability benchmark, started in the root task's place by
//! `cargo xtask bench caps`. It times retype, copy, mint and delete of one
//! object, and revoke of an Untyped with N children, with the cycle counter
//! (guest instructions under QEMU `-icount shift=0`), minus the cost of reading
//! the counter. For each revoke it also reads the kernel's longest stretch of
//! work between preemption points, as it does for the delete of an endpoint
//! or notification that N threads wait on (`waiters`). It prints one line
//! per sample, `BENCH <name> <N> <ticks>`, which the build tool summarises.
#![no_std]
#![no_main]

use keel_abi::{BootInfo, CapRights, ObjectType};
use keel_bench::{at, counter_overhead, Step};
use keel_rt::println;
use keel_sys::arch::cycle_counter;
use keel_sys::cap::{init_thread::CNODE, init_thread::DEBUG, Untyped};
use keel_sys::{AbsoluteCPtr, CPtr, Cap, InvocationError};

mod waiters;

keel_rt::main!(main);

/// Samples per measurement.
pub(crate) const RUNS: usize = 5;
/// Children counts for the revoke measurement.
const CHILDREN: [u64; 4] = [1, 100, 10_000, 100_000];
/// log2 of the slots in the CNode that holds the children.
const CHILD_CNODE_RADIX: u64 = 17;

fn main(boot_info: &'static BootInfo) -> u32 {
    keel_bench::finish(run(boot_info))
}

pub(crate) fn slot(index: u64) -> AbsoluteCPtr {
    CNODE.absolute_cptr(CPtr::from_bits(index))
}

/// Times `f`; its result is checked after the second counter read, so the
/// check adds nothing to the time.
pub(crate) fn timed<T>(
    overhead: u64,
    f: impl FnOnce() -> Result<T, InvocationError>,
) -> Result<u64, InvocationError> {
    let t0 = cycle_counter();
    let result = f();
    let t1 = cycle_counter();
    result.map(|_| (t1 - t0).saturating_sub(overhead))
}

fn run(boot_info: &'static BootInfo) -> Step<()> {
    let overhead = counter_overhead();
    println!("BENCH counter-overhead 0 {overhead}");
    let (largest, _) = keel_bench::largest_untyped(boot_info, 26)?;
    let big: Cap<Untyped> = Cap::from_cptr(CPtr::from_bits(largest));
    let mut next = boot_info.empty.start;
    let mut take = |n: u64| {
        let s = next;
        next += n;
        s
    };
    let here = CNODE.absolute_cptr_with_depth(0, 0);
    // A CNode for the children, the untyped they come from, and a small one for single operations.
    let (cnode, parent, small) = (take(1), take(1), take(1));
    at(
        "child CNode",
        big.untyped_retype(ObjectType::CNode, CHILD_CNODE_RADIX, &here, cnode, 1),
    )?;
    at(
        "parent untyped",
        big.untyped_retype(ObjectType::Untyped, 22, &here, parent, 1),
    )?;
    at(
        "small untyped",
        big.untyped_retype(ObjectType::Untyped, 16, &here, small, 1),
    )?;
    let small: Cap<Untyped> = Cap::from_cptr(CPtr::from_bits(small));
    let parent: Cap<Untyped> = Cap::from_cptr(CPtr::from_bits(parent));
    let (obj, copy, minted) = (take(1), take(1), take(1));

    for _ in 0..RUNS {
        let t = at(
            "retype",
            timed(overhead, || {
                small.untyped_retype(ObjectType::Endpoint, 0, &here, obj, 1)
            }),
        )?;
        println!("BENCH retype 1 {t}");
        let t = at(
            "copy",
            timed(overhead, || slot(copy).copy(&slot(obj), CapRights::ALL)),
        )?;
        println!("BENCH copy 1 {t}");
        let t = at(
            "mint",
            timed(overhead, || {
                slot(minted).mint(&slot(obj), CapRights::ALL, 7)
            }),
        )?;
        println!("BENCH mint 1 {t}");
        let t = at("delete", timed(overhead, || slot(copy).delete()))?;
        println!("BENCH delete 1 {t}");
        at("cleanup", CNODE.absolute_cptr(small.cptr()).revoke())?;
    }

    let children = CNODE.absolute_cptr(CPtr::from_bits(cnode));
    for n in CHILDREN {
        for _ in 0..RUNS {
            let mut made = 0;
            while made < n {
                let k = (n - made).min(keel_abi::object::RETYPE_FAN_OUT_LIMIT);
                at(
                    "children",
                    parent.untyped_retype(ObjectType::Endpoint, 0, &children, made, k),
                )?;
                made += k;
            }
            at("stretch reset", DEBUG.debug_longest_kernel_stretch())?;
            let t = at(
                "revoke",
                timed(overhead, || CNODE.absolute_cptr(parent.cptr()).revoke()),
            )?;
            let stretch = at("stretch", DEBUG.debug_longest_kernel_stretch())?;
            println!("BENCH revoke {n} {t}");
            println!("BENCH revoke-longest-stretch {n} {stretch}");
        }
    }

    // 10,000 TCBs of 2 KiB, and the object, from 32 MiB.
    let (waiters_ut, object, scratch, context, badged) =
        (take(1), take(1), take(1), take(1), take(1));
    at(
        "waiters' untyped",
        big.untyped_retype(ObjectType::Untyped, 25, &here, waiters_ut, 1),
    )?;
    at(
        "waiters' context",
        small.untyped_retype(
            ObjectType::SchedContext,
            u64::from(keel_abi::object::MIN_SCHED_CONTEXT_BITS),
            &here,
            context,
            1,
        ),
    )?;
    let room = keel_bench::waiters::Room {
        untyped: Cap::from_cptr(CPtr::from_bits(waiters_ut)),
        cnode: Cap::from_cptr(CPtr::from_bits(cnode)),
        cnode_depth: CHILD_CNODE_RADIX,
        first: 0,
        object,
        scratch,
        context: Cap::from_cptr(CPtr::from_bits(context)),
        fault_ep: 0,
    };
    waiters::run(&room, badged, overhead)
}
