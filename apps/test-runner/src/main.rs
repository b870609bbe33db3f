//! keel-test-runner: the program each on-target test runs in. The test
//! driver in the root task builds it with keel-loader from a fresh untyped,
//! with a BootInfo page of its own that names the test; it runs that one
//! test and reports to the driver (`keel_tests::protocol`), then stops. It
//! never returns to keel-rt, which would halt the whole system.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

keel_rt::main!(main);

fn main(boot_info: &'static keel_rt::BootInfo) -> u32 {
    keel_tests::run_child(boot_info)
}
