//! keel-spinner: a CPU-bound app that never returns, blocks or yields: the
//! member program the activity tests give an entitlement, whose use is
//! then whatever the scheduler server lets it have.
#![no_std]
#![no_main]

keel_rt::main!(main);

fn main(_info: &'static keel_rt::ProcessInfo) -> u32 {
    loop {
        core::hint::spin_loop();
    }
}
