//! The cross-address-space half of the benchmark: the echo server is a
//! separate process (`keel-child` in timed-echo mode, started by
//! keel-loader from the boot archive) with its own CSpace, VSpace and IPC
//! buffer. It writes its two timestamps (after receive, before reply) into a
//! frame mapped in both address spaces; the cycle counter is global, so they
//! compare with the root task's. Figures are named `...-xas-fast` and
//! `...-xas-slow` for the server on its own scheduling context, and
//! `...-xas-passive-fast`/`-slow` for it made passive (seL4's MCS fast path
//! takes only Calls to a passive server, so those compare with seL4's).
//! `...-xas-passive-cold-fast` is that round trip with a cap written just
//! before each Call, so the lookups the fast path keeps are all stale.

use keel_abi::archive::Archive;
use keel_abi::vspace::VmAttributes;
use keel_abi::{BootInfo, CapRights, Error, ObjectType};
use keel_bench::{at, failed, served_within, Step};
use keel_loader::{GivenCap, ProcessConfig, Resources, SharedFrame, CALLER_SLOTS};
use keel_rt::println;
use keel_sys::cap::{init_thread, CapKind, Endpoint, Frame, PageDirectory, PageTable};
use keel_sys::cap::{PageUpperDirectory, Untyped};
use keel_sys::{CPtr, Cap};

/// Where the loader fills frames in the root task.
const SCRATCH_VADDR: u64 = 0x0000_6000_0000_0000;
/// Where the root task sees the shared timestamp frame.
const TIMES_VADDR: u64 = 0x0000_6100_0000_0000;
/// Slots this module uses, from its first.
pub const SLOTS: u64 = 7 + CALLER_SLOTS;

fn cap<T: CapKind>(s: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(s))
}

/// Measures Call, ReplyRecv and the round trip against a child process.
/// `ut` (the root task's benchmark untyped, slot `ut_slot`) provides the
/// endpoint, the shared frame and its page tables; slots `first..first +
/// SLOTS` are free.
pub fn run(boot_info: &'static BootInfo, ut_slot: u64, first: u64, overhead: u64) -> Step<()> {
    let ut: Cap<Untyped> = cap(ut_slot);
    let here = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
    let (ep, frame, tables, reply) = (first, first + 1, first + 2, first + 5);
    at(
        "xas endpoint",
        ut.untyped_retype(ObjectType::Endpoint, 0, &here, ep, 1),
    )?;
    at(
        "xas reply object",
        ut.untyped_retype(ObjectType::Reply, 0, &here, reply, 1),
    )?;
    at(
        "xas frame",
        ut.untyped_retype(ObjectType::SmallPage, 0, &here, frame, 1),
    )?;
    let kinds = [
        ObjectType::PageUpperDirectory,
        ObjectType::PageDirectory,
        ObjectType::PageTable,
    ];
    for (i, ty) in kinds.into_iter().enumerate() {
        at(
            "xas tables",
            ut.untyped_retype(ty, 0, &here, tables + i as u64, 1),
        )?;
    }
    let (vs, attrs) = (init_thread::VSPACE, VmAttributes::DEFAULT);
    at(
        "map PUD",
        cap::<PageUpperDirectory>(tables).page_table_map(vs, TIMES_VADDR, attrs),
    )?;
    at(
        "map PD",
        cap::<PageDirectory>(tables + 1).page_table_map(vs, TIMES_VADDR, attrs),
    )?;
    at(
        "map PT",
        cap::<PageTable>(tables + 2).page_table_map(vs, TIMES_VADDR, attrs),
    )?;
    let rw = CapRights::READ.union(CapRights::WRITE);
    at(
        "map the timestamp frame",
        cap::<Frame>(frame).frame_map(vs, TIMES_VADDR, rw, attrs),
    )?;

    let archive = Archive::parse(keel_rt::boot_archive(boot_info))
        .map_err(|_| failed("the boot archive", Error::InvalidArgument))?;
    let image = archive
        .find("child")
        .map(|e| archive.data(e))
        .ok_or_else(|| failed("no `child` in the boot archive", Error::InvalidArgument))?;
    let loader_slots = first + 7;
    let res = Resources {
        untyped: cap(keel_bench::smallest_untyped(boot_info, 18, Some(ut_slot))?),
        cnode: init_thread::CNODE,
        slots: loader_slots..loader_slots + CALLER_SLOTS,
        vspace: vs,
        scratch_vaddr: SCRATCH_VADDR,
        asid_pool: init_thread::ASID_POOL,
        authority: init_thread::TCB,
        sched_control: init_thread::SCHED_CONTROL,
    };
    let caps = [
        GivenCap {
            cptr: CPtr::from_bits(ep),
            rights: CapRights::ALL,
            badge: 0,
        },
        GivenCap {
            cptr: CPtr::from_bits(reply),
            rights: CapRights::ALL,
            badge: 0,
        },
    ];
    let shared = [SharedFrame {
        frame: cap(frame),
        vaddr: keel_child::SHARED_VADDR,
        rights: rw,
    }];
    let cfg = ProcessConfig {
        arg: keel_child::MODE_TIMED_ECHO,
        caps: &caps,
        shared_frames: &shared,
        ..ProcessConfig::default()
    };
    let child = keel_loader::spawn(image, &res, &cfg).or_else(|e| at(e.step, Err(e.error)))?;
    // Let the child run into its first receive.
    at("yield to the child", keel_sys::r#yield())?;

    let times = TIMES_VADDR as usize as *const u64;
    let endpoint: Cap<Endpoint> = cap(ep);
    let server_times = || {
        // SAFETY: the frame is mapped readable at TIMES_VADDR; the child wrote
        // both words before replying.
        unsafe { (times.read_volatile(), times.add(1).read_volatile()) }
    };
    crate::time_calls(endpoint, overhead, "-xas", server_times)?;
    // The same server made passive: it runs on each caller's context, which
    // is what seL4's MCS fast path requires of a server.
    at(
        "make the child passive",
        child.sched_context.sched_context_unbind(),
    )?;
    crate::time_calls(endpoint, overhead, "-xas-passive", server_times)?;
    // The same, with a cap written before each Call (copied into slot
    // `first + 6` and deleted again): the fast path's kept lookups all
    // miss, and the caps are looked up in full.
    let scratch = init_thread::CNODE.absolute_cptr(CPtr::from_bits(first + 6));
    let ep_slot = init_thread::CNODE.absolute_cptr(CPtr::from_bits(ep));
    let cold_round_trip = || -> Step<u64> {
        at("copy a cap", scratch.copy(&ep_slot, CapRights::ALL))?;
        at("delete it", scratch.delete())?;
        let t0 = keel_sys::arch::cycle_counter();
        endpoint.call(keel_abi::MessageInfo::new(0, 0, 0, 0), [1, 2, 3, 4]);
        let t1 = keel_sys::arch::cycle_counter();
        let row = format_args!("call+replyrecv-xas-passive-cold-fast 0");
        served_within(row, (t0, t1), server_times())?;
        Ok((t1 - t0).saturating_sub(overhead))
    };
    for _ in 0..crate::RUNS {
        let ticks = cold_round_trip()?;
        println!("BENCH call+replyrecv-xas-passive-cold-fast 0 {ticks}");
    }
    at("suspend the child", child.tcb.tcb_suspend())
}
