//! The demo the root task runs by default: a tour of what it was given, then
//! a process of its own: the `child` program from the boot archive, built by
//! keel-loader from a fresh untyped, answering a few Calls as an echo
//! server, and torn down with one revoke of that untyped.

use alloc::collections::BTreeMap;
use keel_abi::archive::Archive;
use keel_abi::{BootInfo, CapRights, CapType, Error, MessageInfo, ObjectType};
use keel_loader::{GivenCap, ProcessConfig, Resources, CALLER_SLOTS};
use keel_rt::println;
use keel_sys::cap::{init_thread, Endpoint, Untyped};
use keel_sys::{CPtr, Cap, InvocationError};

/// log2 of the untyped the child process is built from.
const CHILD_BITS: u8 = 22;
/// Where keel-loader fills the child's frames in the root task's VSpace.
const SCRATCH_VADDR: u64 = 0x0000_6000_0000_0000;
/// Calls the demo makes to the child.
const CALLS: u64 = 3;

/// Runs the demo; returns the exit status (0: success).
pub fn run(boot_info: &BootInfo, archive: &Archive<'_>) -> u32 {
    println!("Demo: counting the capabilities in the root CNode by type");
    let slots = 1u64 << boot_info.root_cnode_size_bits;
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    for slot in 0..slots {
        match keel_sys::cap::init_thread::DEBUG.debug_cap_identify(CPtr::from_bits(slot)) {
            Ok(CapType::Null) => {}
            Ok(kind) => *counts.entry(name(kind)).or_default() += 1,
            Err(e) => {
                println!("Demo: identifying slot {slot} failed: {e}");
                return 1;
            }
        }
    }
    for (kind, count) in &counts {
        println!("  {count:5} x {kind}");
    }
    let largest = boot_info.untypeds().iter().max_by_key(|u| u.size_bits);
    if let Some(u) = largest {
        println!(
            "Demo: largest untyped is {} KiB at {:#x}",
            (1u64 << u.size_bits) >> 10,
            u.paddr
        );
    }
    println!(
        "Demo: the boot archive holds {} files",
        archive.entries().len()
    );
    if let Err((step, e)) = run_child(boot_info, archive) {
        println!("Demo: the child process failed at '{step}': {e}");
        return 1;
    }
    println!("Demo finished");
    0
}

/// A failed step, named, with the error and its detail.
type Step = Result<(), (&'static str, InvocationError)>;

/// Names the step `r` came from, if it failed.
fn step<E: Into<InvocationError>>(what: &'static str, r: Result<(), E>) -> Step {
    r.map_err(|e| (what, e.into()))
}

/// Starts `child` in echo mode as a process of its own, Calls it, and tears
/// it down by revoking the untyped it was built from.
fn run_child(boot_info: &BootInfo, archive: &Archive<'_>) -> Step {
    let image = archive.find("child").map(|e| archive.data(e)).ok_or((
        "finding `child` in the boot archive",
        Error::InvalidArgument.into(),
    ))?;
    let source = boot_info
        .untypeds()
        .iter()
        .enumerate()
        .filter(|(_, u)| u.is_device == 0 && u.size_bits > CHILD_BITS)
        .min_by_key(|(_, u)| u.size_bits)
        .map(|(i, _)| boot_info.untyped.start + i as u64)
        .ok_or((
            "finding a large enough untyped",
            Error::NotEnoughMemory.into(),
        ))?;
    let first = boot_info.empty.start;
    let (ut, ep, reply, loader) = (first, first + 1, first + 2, first + 3);
    if loader + CALLER_SLOTS > boot_info.empty.end {
        return Err(("finding empty slots", Error::NotEnoughMemory.into()));
    }
    let here = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
    let source: Cap<Untyped> = Cap::from_cptr(CPtr::from_bits(source));
    step(
        "carving the child's untyped",
        source.untyped_retype(ObjectType::Untyped, CHILD_BITS.into(), &here, ut, 1),
    )?;
    let ut: Cap<Untyped> = Cap::from_cptr(CPtr::from_bits(ut));
    let served = serve_calls(image, ut, [ep, reply], loader);
    // Teardown: one revoke destroys the process, endpoint and Reply object
    // (all made from `ut`); then the untyped itself goes.
    let whole = init_thread::CNODE.absolute_cptr(ut.cptr());
    step("revoking the child's untyped", whole.revoke())?;
    step("deleting the child's untyped", whole.delete())?;
    served?;
    println!("Demo: child process torn down by one revoke");
    Ok(())
}

/// Builds the child from `ut` (endpoint and Reply object in `objects`, the
/// loader's slots from `loader`), then Calls it [`CALLS`] times.
fn serve_calls(image: &[u8], ut: Cap<Untyped>, objects: [u64; 2], loader: u64) -> Step {
    let here = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
    let [ep, reply] = objects;
    step(
        "making the endpoint",
        ut.untyped_retype(ObjectType::Endpoint, 0, &here, ep, 1),
    )?;
    step(
        "making the Reply object",
        ut.untyped_retype(ObjectType::Reply, 0, &here, reply, 1),
    )?;
    let given = |slot: u64| GivenCap {
        cptr: CPtr::from_bits(slot),
        rights: CapRights::ALL,
        badge: 0,
    };
    let caps = [given(ep), given(reply)];
    let res = Resources {
        untyped: ut,
        cnode: init_thread::CNODE,
        slots: loader..loader + CALLER_SLOTS,
        vspace: init_thread::VSPACE,
        scratch_vaddr: SCRATCH_VADDR,
        asid_pool: init_thread::ASID_POOL,
        authority: init_thread::TCB,
        sched_control: init_thread::SCHED_CONTROL,
    };
    let cfg = ProcessConfig {
        arg: keel_child::MODE_ECHO,
        caps: &caps,
        ..ProcessConfig::default()
    };
    let child = keel_loader::spawn(image, &res, &cfg).map_err(|e| (e.step, e.error))?;
    println!(
        "Demo: started `child` as a process of its own ({} slots of its CNode in use)",
        child.slots_used
    );
    step("letting the child reach its receive", keel_sys::r#yield())?;
    let endpoint: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(ep));
    for k in 0..CALLS {
        let words = [0, 10 * k, 20 * k, 30 * k];
        let r = endpoint.call(MessageInfo::new(7, 0, 0, 4), words);
        if r.info.label() != 7 || r.mrs[1..] != words[1..] {
            println!("Demo: call {k}: the child answered {r:?}");
            return Err(("checking the child's answer", Error::InvalidArgument.into()));
        }
    }
    println!("Demo: the child answered {CALLS} Calls");
    Ok(())
}

fn name(kind: CapType) -> &'static str {
    match kind {
        CapType::Null => "null",
        CapType::Untyped => "untyped",
        CapType::CNode => "cnode",
        CapType::Tcb => "tcb",
        CapType::VSpace => "vspace",
        CapType::Frame => "frame",
        CapType::IrqControl => "irq-control",
        CapType::SchedControl => "sched-control",
        CapType::AsidControl => "asid-control",
        CapType::Endpoint => "endpoint",
        CapType::Notification => "notification",
        CapType::Reply => "reply",
        CapType::SchedContext => "sched-context",
        CapType::PageUpperDirectory => "page-upper-directory",
        CapType::PageDirectory => "page-directory",
        CapType::PageTable => "page-table",
        CapType::IrqHandler => "irq-handler",
        CapType::AsidPool => "asid-pool",
        CapType::Zombie => "zombie",
        CapType::Debug => "debug",
    }
}
