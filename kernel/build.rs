//! Checks that the boot archive to embed was named, so a plain `cargo build` of
//! the kernel fails with a message that says what to run instead.

fn main() {
    println!("cargo:rerun-if-env-changed=KEEL_BOOT_ARCHIVE");
    if std::env::var_os("KEEL_BOOT_ARCHIVE").is_none() {
        panic!("KEEL_BOOT_ARCHIVE is not set: build the kernel image with `cargo xtask build`");
    }
}
