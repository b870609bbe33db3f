//! The demo the root task runs by default: a tour of what it was given, using
//! the system calls that exist so far.

use alloc::collections::BTreeMap;
use keel_abi::archive::Archive;
use keel_abi::{BootInfo, CapType};
use keel_rt::println;
use keel_sys::{debug, CPtr};

/// Runs the demo; returns the exit status (0: success).
pub fn run(boot_info: &BootInfo, archive: &Archive<'_>) -> u32 {
    println!("Demo: counting the capabilities in the root CNode by type");
    let slots = 1u64 << boot_info.root_cnode_size_bits;
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    for slot in 0..slots {
        match debug::cap_identify(CPtr::from_bits(slot)) {
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
    println!("Demo finished");
    0
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
    }
}
