//! The kernel image: the kernel library plus the boot archive the build tool
//! packed, linked into the `.boot_archive` section. Build it with
//! `cargo xtask build`, which sets `KEEL_BOOT_ARCHIVE`.
#![no_std]
#![no_main]

// Linking the library brings in the architecture's entry point and trap vectors.
use keel_kernel as _;

const ARCHIVE: &[u8] = include_bytes!(env!("KEEL_BOOT_ARCHIVE"));

#[repr(C, align(4096))]
struct PageAligned<T>(T);

#[used]
#[link_section = ".boot_archive"]
static BOOT_ARCHIVE: PageAligned<[u8; ARCHIVE.len()]> =
    PageAligned(*include_bytes!(env!("KEEL_BOOT_ARCHIVE")));
