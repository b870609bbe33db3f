//! The root task: the first user program. It prints a banner with the
//! architecture, a summary of BootInfo and the boot manifest's entries, then
//! runs what the manifest asks for: the demo or the on-target test suite.
#![no_std]
#![no_main]

extern crate alloc;

mod demo;

use keel_abi::archive::{Archive, MANIFEST_NAME};
use keel_abi::manifest::{Manifest, Start};
use keel_abi::BootInfo;
use keel_rt::println;

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
        Start::Demo => demo::run(boot_info, &archive),
        Start::Tests { only, resume_after } => {
            keel_tests::run(boot_info, &only, resume_after.as_deref())
        }
    }
}
