//! keel-hello: the smallest program init starts. It prints a few lines,
//! which keel-rt sends to the console server through its "console"
//! connection (tagged with the program's name), and returns 0, which
//! keel-rt turns into Init `exit(0)`; asked to (`keel_hello::ARG_PANIC`),
//! it panics instead, which keel-rt reports and turns into Init
//! `exit(keel_rt::PANIC_STATUS)`. A memory client (as in the default
//! system) also fills a 64 KiB vector, which its heap gets from its
//! memory manager, and says how large the heap grew.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

use keel_rt::{println, ProcessInfo};

keel_rt::main!(main);

fn main(info: &'static ProcessInfo) -> u32 {
    println!("hello from {}, a process init started", info.name);
    println!(
        "I hold {} connection(s); my console is slot {:?}",
        info.connections.len(),
        info.connection("console")
    );
    for n in 1..=3 {
        println!("line {n} of 3");
    }
    if info.connection("memory").is_some() {
        let filled = alloc::vec![1u8; 64 << 10];
        let kib = keel_rt::heap_size() >> 10;
        println!(
            "my heap grew to {kib} KiB through my memory manager ({} bytes filled)",
            filled.iter().filter(|&&b| b == 1).count()
        );
    }
    if info.arg == keel_hello::ARG_PANIC {
        panic!("{}", keel_hello::PANIC_MESSAGE);
    }
    0
}
