//! Relinks keel-rt's programs when a user linker script changes (the build
//! tool passes the script to the linker, which cargo does not track).
fn main() {
    println!("cargo:rerun-if-changed=src/arch/x86_64/link.ld");
    println!("cargo:rerun-if-changed=src/arch/aarch64/link.ld");
}
