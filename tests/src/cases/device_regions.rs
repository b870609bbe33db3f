//! Device regions: the kernel hands out the platform's free device page
//! (q35's HPET, virt's PL031) as a device untyped of its own, and init maps
//! a region at a fixed physical address into a program from the device
//! untyped it was given, splitting a larger one down to the pages it needs;
//! an address it was given no device untyped for, and a page two regions
//! claim, are refused.

use crate::support::step;
use crate::system::{archive, badge, client_cap, probe_client, probe_manifest, resources, PROBE};
use crate::{ensure, Env, TestResult};
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use keel_abi::bootinfo::{free_device_page, KERNEL_DEVICE_MEMORY};
use keel_abi::manifest::{Manifest, Map, MapRights, Region};
use keel_abi::{Arch, PAGE_SIZE};
use keel_init::{DeviceUntyped, System};
use keel_protocols::badge::Rights;
use keel_sys::arch::ARCH;
use keel_sys::cap::Frame;
use keel_sys::{CPtr, Cap};

/// Where the probe maps the second (PCI window) region.
const WINDOW_VADDR: u64 = 0x5000_0000;
/// The window region's first page, in pages from its untyped's start.
const WINDOW_PAGE: u64 = 5;
/// The window region's pages.
const WINDOW_PAGES: u64 = 3;

/// What the platform page reads: `(offset, value)` of 32-bit registers.
/// q35's HPET: the low half of its General Capabilities register has the
/// vendor ID (bits 31:16, 0x8086 under QEMU), three timers (bits 12:8)
/// and revision 1. virt's PL031: its PrimeCell peripheral and cell IDs.
fn device_ids() -> Vec<(u64, u32)> {
    match ARCH {
        Arch::X86_64 => vec![(0, 0x8086_a201)],
        Arch::Aarch64 => [0x31, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1]
            .iter()
            .enumerate()
            .map(|(i, &b)| (0xfe0 + 4 * i as u64, b))
            .collect(),
    }
}

/// A device region of `pages` pages at `paddr`.
fn device(name: &str, paddr: u64, pages: u64) -> Region {
    Region {
        name: name.to_string(),
        size: pages * PAGE_SIZE as u64,
        phys_addr: Some(paddr),
        arch: Some(ARCH),
    }
}

/// The probe system with `regions` in place of its shared region (the
/// first mapped where the probe peeks, the second at [`WINDOW_VADDR`]);
/// the peer maps nothing.
fn manifest_with(regions: Vec<Region>) -> Manifest {
    let mut m = probe_manifest(0);
    let map = |region, vaddr| Map {
        region,
        vaddr,
        rights: MapRights {
            read: true,
            write: false,
            execute: false,
        },
        cached: false,
    };
    let probe = &mut m.programs[PROBE].maps;
    probe.clear();
    probe.extend(
        [crate::system::PROBE_REGION_VADDR, WINDOW_VADDR]
            .iter()
            .take(regions.len())
            .enumerate()
            .map(|(i, &v)| map(i as u16, v)),
    );
    for p in &mut m.programs[PROBE + 1..] {
        p.maps.clear();
    }
    m.regions = regions;
    m
}

/// Sets up `manifest` with `devices`: the error init gave, if any.
fn set_up_devices<'a>(
    env: &Env,
    manifest: &'a Manifest,
    archive: &'a keel_abi::archive::Archive<'a>,
    devices: Vec<DeviceUntyped>,
) -> Result<Result<System<'a>, String>, String> {
    let res = resources(env, manifest, 23, devices)?;
    Ok(System::new(manifest, archive, res).map_err(|e| e.to_string()))
}

pub fn the_platform_page_is_device_untyped(env: &Env) -> TestResult {
    let bi = env.boot_info;
    let page = free_device_page(ARCH);
    let found: Vec<_> = bi
        .untypeds()
        .iter()
        .filter(|u| u.region().overlaps(&page))
        .collect();
    ensure!(
        found.len() == 1
            && found[0].is_device != 0
            && found[0].paddr == page.start
            && found[0].size_bits == 12,
        "the page {:#x} is described as {found:?}",
        page.start
    );
    for (arch, kept) in KERNEL_DEVICE_MEMORY.iter().filter(|(a, _)| *a == ARCH) {
        let covering = bi.untypeds().iter().find(|u| u.region().overlaps(kept));
        ensure!(
            covering.is_none(),
            "the kernel's device memory {:#x}..{:#x} on {} is handed out: {covering:?}",
            kept.start,
            kept.end,
            arch.name()
        );
    }
    Ok(())
}

pub fn a_device_region_reads_the_device(env: &Env) -> TestResult {
    let page = free_device_page(ARCH).start;
    let platform = env.device_untyped_covering(page)?;
    let (window, window_bits) = env.device_untyped(16)?;
    let index = window.cptr().bits() - env.boot_info.untyped.start;
    let window_base = env.boot_info.untypeds()[index as usize].paddr;
    let window_paddr = window_base + WINDOW_PAGE * PAGE_SIZE as u64;
    let manifest = manifest_with(vec![
        device(keel_probe::SHARED_REGION, page, 1),
        device("window", window_paddr, WINDOW_PAGES),
    ]);
    let archive = archive(env)?;
    let devices = vec![
        platform,
        DeviceUntyped {
            slot: window.cptr().bits(),
            paddr: window_base,
            size_bits: window_bits,
        },
    ];
    let mut system = set_up_devices(env, &manifest, &archive, devices)??;
    system.set_verbose(false);
    step(system.start_all(), "start the system")?;
    // Each frame is at its region's address, the window's split out of
    // the middle of a larger untyped.
    for (region, paddr) in [(0, page), (1, window_paddr)] {
        let frames = system.region_frames(region).ok_or("no frames")?;
        for (i, slot) in frames.enumerate() {
            let frame: Cap<Frame> = Cap::from_cptr(CPtr::from_bits(slot));
            let got = step(frame.frame_get_address(), "get a frame's address")?;
            let want = paddr + i as u64 * PAGE_SIZE as u64;
            ensure!(
                got == want,
                "region {region} page {i} is at {got:#x}, not {want:#x}"
            );
        }
    }
    let mut probe = probe_client(client_cap(
        env,
        &system,
        PROBE,
        badge(3, 0, Rights::NONE).bits(),
    )?)?;
    for (offset, want) in device_ids() {
        let got = step(probe.peek32(offset), "read the device through the probe")?;
        ensure!(
            got == want,
            "the device's register at {:#x} reads {got:#x}, expected {want:#x}",
            page + offset
        );
    }
    Ok(())
}

pub fn device_regions_refused(env: &Env) -> TestResult {
    let page = free_device_page(ARCH).start;
    let platform = env.device_untyped_covering(page)?;
    let archive = archive(env)?;
    let expect_refused = |regions: Vec<Region>, want: &str| -> TestResult {
        let manifest = manifest_with(regions);
        let got = set_up_devices(env, &manifest, &archive, vec![platform])?;
        // What a failed set-up carved goes back for the next case.
        step(
            crate::support::slot(platform.slot).revoke(),
            "revoke the platform page's untyped",
        )?;
        match got {
            Ok(_) => Err(String::from("init set the system up")),
            Err(e) if e.contains(want) => Ok(()),
            Err(e) => Err(alloc::format!("init refused with `{e}`, not `{want}`")),
        }
    };
    // Device memory the kernel keeps, and a device page init was not given.
    let kept = KERNEL_DEVICE_MEMORY
        .iter()
        .find(|(a, _)| *a == ARCH)
        .map(|(_, r)| r.start)
        .ok_or("no kernel device memory")?;
    let not_covered = "no device untyped init was given covers its address";
    expect_refused(vec![device("kept", kept, 1)], not_covered)?;
    let (other, _) = env.device_untyped(16)?;
    let index = other.cptr().bits() - env.boot_info.untyped.start;
    let other_paddr = env.boot_info.untypeds()[index as usize].paddr;
    expect_refused(vec![device("other", other_paddr, 1)], not_covered)?;
    // A region running past the platform page's untyped.
    expect_refused(vec![device("long", page, 2)], not_covered)?;
    // The same page twice.
    expect_refused(
        vec![device("a", page, 1), device("b", page, 1)],
        "its page is already another region's",
    )
}
