//! keel-spinner: a CPU-bound app that never blocks or yields: the member
//! program the activity tests and the `cargo xtask run` demo give an
//! entitlement, whose use is then whatever the scheduler server lets it
//! have. Without a `timer` connection it spins forever (the tests stop
//! it); with one it asks the timer server's clock every [`SPINS`] turns and
//! returns once [`RUN_NS`] have passed since the server started, so the
//! demo system ends by itself.
#![no_std]
#![no_main]

use keel_protocols::timer::TimerClient;
use keel_rt::process::connect;
use keel_rt::{println, ProcessInfo};

keel_rt::main!(main);

/// Turns of the loop between two looks at the clock: few enough calls
/// that the timer server's own time stays small beside the spinning.
const SPINS: u64 = 200_000;
/// How long the demo's spinners run, in nanoseconds of the timer server's
/// clock: past `top`'s five windows.
const RUN_NS: u64 = 6_500_000_000;

fn main(info: &'static ProcessInfo) -> u32 {
    let clock = connect(info, "timer").map(TimerClient::new);
    let Some(mut clock) = clock else {
        loop {
            core::hint::spin_loop();
        }
    };
    loop {
        for _ in 0..SPINS {
            core::hint::spin_loop();
        }
        match clock.now() {
            Ok(ns) if ns < RUN_NS => {}
            Ok(_) => return 0,
            Err(e) => {
                println!("{}: the timer's clock: {e:?}", info.name);
                return 1;
            }
        }
    }
}
