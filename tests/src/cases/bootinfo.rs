//! BOOTINFO: the page the kernel hands the root task describes the machine truthfully.

use crate::support::identify;
use crate::{ensure, Env, TestResult};
use keel_abi::archive::{Archive, MANIFEST_NAME};
use keel_abi::bootinfo::{MemRegion, BOOTINFO_MAGIC};
use keel_abi::{CapType, InitCap, PAGE_SIZE};

pub fn magic_and_arch(env: &Env) -> TestResult {
    let bi = env.boot_info;
    ensure!(bi.magic == BOOTINFO_MAGIC, "magic {:#x}", bi.magic);
    ensure!(
        bi.arch() == Some(keel_sys::arch::ARCH),
        "arch {} but built for {:?}",
        bi.arch,
        keel_sys::arch::ARCH
    );
    ensure!(bi.untyped_count > 0, "no untyped memory");
    Ok(())
}

pub fn untyped_inside_ram(env: &Env) -> TestResult {
    let bi = env.boot_info;
    ensure!(!bi.ram_regions().is_empty(), "no RAM regions reported");
    for u in bi.untypeds() {
        let r = u.region();
        ensure!(
            u.size_bits >= 12,
            "untyped at {:#x} has {} size bits",
            u.paddr,
            u.size_bits
        );
        ensure!(
            u.paddr % (1 << u.size_bits) == 0,
            "untyped at {:#x} not aligned to 2^{}",
            u.paddr,
            u.size_bits
        );
        if u.is_device == 0 {
            ensure!(
                bi.ram_regions().iter().any(|ram| ram.contains(&r)),
                "untyped {:#x}..{:#x} is outside RAM",
                r.start,
                r.end
            );
        } else {
            ensure!(
                !bi.ram_regions().iter().any(|ram| ram.overlaps(&r)),
                "device untyped {:#x} overlaps RAM",
                r.start
            );
        }
    }
    ensure!(
        bi.untypeds().iter().any(|u| u.is_device != 0),
        "no device untyped"
    );
    Ok(())
}

pub fn untyped_disjoint(env: &Env) -> TestResult {
    let bi = env.boot_info;
    let untypeds = bi.untypeds();
    let reserved = [
        ("kernel image", bi.kernel_phys),
        ("boot archive", bi.archive_phys),
    ];
    ensure!(
        bi.kernel_phys.start < bi.kernel_phys.end,
        "empty kernel image range"
    );
    ensure!(
        bi.kernel_phys.contains(&bi.archive_phys),
        "archive is not inside the kernel image"
    );
    for (i, a) in untypeds.iter().enumerate() {
        for b in &untypeds[i + 1..] {
            ensure!(
                !a.region().overlaps(&b.region()),
                "untypeds {:#x} and {:#x} overlap",
                a.paddr,
                b.paddr
            );
        }
        for (what, region) in reserved {
            ensure!(
                !a.region().overlaps(&region),
                "untyped {:#x} overlaps the {what}",
                a.paddr
            );
        }
    }
    Ok(())
}

pub fn slot_ranges_typed(env: &Env) -> TestResult {
    let bi = env.boot_info;
    ensure!(
        bi.untyped.len() == u64::from(bi.untyped_count),
        "{} untyped slots for {} untypeds",
        bi.untyped.len(),
        bi.untyped_count
    );
    for slot in bi.untyped.start..bi.untyped.end {
        ensure!(
            identify(slot)? == CapType::Untyped,
            "slot {slot} in the untyped range is not untyped"
        );
    }
    let archive_pages = bi.archive_size.div_ceil(PAGE_SIZE as u64);
    ensure!(
        bi.archive_frames.len() == archive_pages,
        "{} archive frame caps for {archive_pages} pages",
        bi.archive_frames.len()
    );
    for slot in bi.archive_frames.start..bi.archive_frames.end {
        ensure!(
            identify(slot)? == CapType::Frame,
            "slot {slot} in the archive range is not a frame"
        );
    }
    Ok(())
}

pub fn empty_slots_empty(env: &Env) -> TestResult {
    let bi = env.boot_info;
    let slots = 1u64 << bi.root_cnode_size_bits;
    ensure!(
        bi.empty.end == slots,
        "empty range ends at {} but the CNode has {slots} slots",
        bi.empty.end
    );
    ensure!(
        bi.empty.start >= bi.untyped.end && bi.empty.start >= bi.archive_frames.end,
        "empty range overlaps a filled range"
    );
    ensure!(!bi.empty.is_empty(), "no empty slots");
    for slot in bi.empty.start..bi.empty.end {
        ensure!(
            identify(slot)? == CapType::Null,
            "slot {slot} in the empty range is not empty"
        );
    }
    Ok(())
}

pub fn initial_caps(_env: &Env) -> TestResult {
    let expected = [
        (InitCap::Null, CapType::Null),
        (InitCap::InitThreadTcb, CapType::Tcb),
        (InitCap::InitThreadCNode, CapType::CNode),
        (InitCap::InitThreadVSpace, CapType::VSpace),
        (InitCap::IrqControl, CapType::IrqControl),
        (InitCap::AsidControl, CapType::AsidControl),
        (InitCap::BootInfoFrame, CapType::Frame),
        (InitCap::InitThreadIpcBuffer, CapType::Frame),
        (InitCap::SchedControl, CapType::SchedControl),
        (InitCap::InitThreadAsidPool, CapType::AsidPool),
        (InitCap::InitThreadSchedContext, CapType::SchedContext),
        (InitCap::Debug, CapType::Debug),
        (
            InitCap::IoPortControl,
            if keel_sys::arch::ARCH == keel_abi::Arch::X86_64 {
                CapType::IoPortControl
            } else {
                CapType::Null
            },
        ),
    ];
    for (slot, kind) in expected {
        let found = identify(slot as u64)?;
        ensure!(
            found == kind,
            "slot {:?} holds {found:?}, expected {kind:?}",
            slot
        );
    }
    Ok(())
}

pub fn archive_mapped(env: &Env) -> TestResult {
    let bytes = keel_rt::boot_archive(env.boot_info);
    ensure!(
        bytes.len() as u64 == env.boot_info.archive_size,
        "archive mapping has {} bytes",
        bytes.len()
    );
    let archive =
        Archive::parse(bytes).map_err(|e| alloc::format!("archive does not parse: {e:?}"))?;
    ensure!(
        archive.find(MANIFEST_NAME).is_some(),
        "no manifest in the archive"
    );
    let root = archive.root();
    ensure!(
        archive.data(root).starts_with(b"\x7fELF"),
        "root entry '{}' is not an ELF",
        root.name()
    );
    let phys = env.boot_info.archive_phys;
    ensure!(
        phys.end - phys.start == archive.total_size(),
        "archive physical range {:#x}..{:#x} has the wrong size",
        phys.start,
        phys.end
    );
    Ok(())
}

pub fn most_ram_untyped(env: &Env) -> TestResult {
    let bi = env.boot_info;
    let ram: u64 = bi
        .ram_regions()
        .iter()
        .map(|r: &MemRegion| r.end - r.start)
        .sum();
    let untyped: u64 = bi
        .untypeds()
        .iter()
        .filter(|u| u.is_device == 0)
        .map(|u| 1u64 << u.size_bits)
        .sum();
    ensure!(
        untyped <= ram,
        "{untyped} untyped bytes but only {ram} bytes of RAM"
    );
    // The kernel image, boot archive, root task and its tables are a few MiB.
    ensure!(
        untyped * 10 >= ram * 8,
        "only {untyped} of {ram} bytes of RAM became untyped"
    );
    Ok(())
}
