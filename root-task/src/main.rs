//! The root task, init: the first user program. It prints a banner with the
//! architecture, a summary of BootInfo and the boot manifest's entries, then
//! runs what the manifest asks for: the described system (keel-init starts
//! its programs and supervises them until every app has exited) or the
//! on-target test suite.
#![no_std]
#![no_main]

extern crate alloc;

use keel_abi::archive::{Archive, MANIFEST_NAME};
use keel_abi::manifest::{Manifest, Start};
use keel_abi::BootInfo;
use keel_init::{Resources, System, SCRATCH_VADDR};
use keel_rt::println;
use keel_sys::cap::{init_thread, Untyped};
use keel_sys::{CPtr, Cap};

keel_rt::main!(main);

/// Exit status when the boot archive or manifest is unusable.
const BAD_ARCHIVE_STATUS: u32 = 2;

fn main(boot_info: &'static BootInfo) -> u32 {
    let _ = keel_sys::cap::init_thread::DEBUG.debug_name_thread("root-task");
    let arch = boot_info.arch().map_or("unknown", |a| a.name());
    println!("Keel root task on {arch}");
    let untyped_bytes: u64 = boot_info
        .untypeds()
        .iter()
        .map(|u| 1u64 << u.size_bits)
        .sum();
    println!(
        "BootInfo: {} untyped regions, {} bytes ({} MiB); empty slots {}..{}",
        boot_info.untyped_count,
        untyped_bytes,
        untyped_bytes >> 20,
        boot_info.empty.start,
        boot_info.empty.end
    );
    let archive = match Archive::parse(keel_rt::boot_archive(boot_info)) {
        Ok(a) => a,
        Err(e) => {
            println!("root task: the boot archive is unreadable: {e:?}");
            return BAD_ARCHIVE_STATUS;
        }
    };
    let manifest = match archive
        .find(MANIFEST_NAME)
        .map(|e| Manifest::decode(archive.data(e)))
    {
        Some(Ok(m)) => m,
        Some(Err(e)) => {
            println!("root task: the boot manifest is malformed: {e}");
            return BAD_ARCHIVE_STATUS;
        }
        None => {
            println!("root task: the boot archive has no manifest");
            return BAD_ARCHIVE_STATUS;
        }
    };
    println!(
        "Boot manifest '{}': {} programs",
        manifest.system,
        manifest.programs.len()
    );
    for program in &manifest.programs {
        let size = archive.find(&program.name).map_or(0, |e| e.size.get());
        println!("  {} ({}, {} bytes)", program.name, program.role, size);
    }
    match manifest.start {
        Start::System => system(boot_info, &archive, &manifest),
        Start::Tests { only, resume_after } => {
            keel_tests::run(boot_info, &only, resume_after.as_deref())
        }
    }
}

/// Exit status when init could not start the system.
const START_FAILED_STATUS: u32 = 3;

/// Starts the described system from the largest ordinary untyped and
/// supervises it; returns its status once every app has exited.
fn system(boot_info: &BootInfo, archive: &Archive<'_>, manifest: &Manifest) -> u32 {
    let Some(pool) = boot_info
        .untypeds()
        .iter()
        .enumerate()
        .filter(|(_, u)| u.is_device == 0)
        .max_by_key(|(_, u)| u.size_bits)
        .map(|(i, _)| boot_info.untyped.start + i as u64)
    else {
        println!("init: no untyped memory to start the system from");
        return START_FAILED_STATUS;
    };
    let res = Resources {
        pool: Cap::<Untyped>::from_cptr(CPtr::from_bits(pool)),
        slots: boot_info.empty.start..boot_info.empty.end,
        scratch_vaddr: SCRATCH_VADDR,
        debug: init_thread::DEBUG,
        archive: Some(keel_init::ArchiveFrames::of(boot_info)),
        devices: keel_init::DeviceUntyped::all(boot_info),
    };
    let mut system = match System::new(manifest, archive, res) {
        Ok(s) => s,
        Err(e) => {
            println!("init: setting up failed: {e}");
            return START_FAILED_STATUS;
        }
    };
    if let Err(e) = system.start_all() {
        println!("init: starting the system failed: {e}");
        return START_FAILED_STATUS;
    }
    let status = system.run();
    println!("init: every app has exited; the system stops with status {status}");
    status
}
