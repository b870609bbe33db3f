//! keel-top: every second of the timer server's clock, the activities'
//! table: each activity's entitlement, its share of the core in the last
//! window and since boot, its threads, and the share of the core each
//! server the scheduler server reads the records of spent for it. It reads
//! the scheduler server through its `scheduler` connection (whose badge
//! needs the usage right, `rights = ["protocol-0"]`), sleeps through its
//! `timer` connection on the notification init gives a timer client, and
//! prints through the console. The table is keel-protocols' `top`, which
//! the shell's `top` command prints too. It runs [`WINDOWS`] windows (or
//! as many as its argument says), then returns, so a demo system ends.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use core::time::Duration;
use keel_protocols::scheduler::SchedulerClient;
use keel_protocols::sys::EndpointClient;
use keel_protocols::top::{write_table, Snapshot};
use keel_rt::process::slot;
use keel_rt::time::{Deadline, Timer};
use keel_rt::{println, ProcessInfo};

keel_rt::main!(main);

/// Windows printed when the argument does not say.
const WINDOWS: u64 = 5;
/// A window's length.
const WINDOW: Duration = Duration::from_secs(1);
/// Exit status when a connection or the notification is missing.
const MISSING_CAP_STATUS: u32 = 1;
/// Exit status when the timer or the scheduler server refuses.
const REFUSED_STATUS: u32 = 2;

fn main(info: &'static ProcessInfo) -> u32 {
    let (Some(scheduler), Some(timer), Some(notification)) = (
        info.connection("scheduler"),
        info.connection("timer"),
        info.slots.notification,
    ) else {
        println!("top: needs scheduler and timer connections and a notification");
        return MISSING_CAP_STATUS;
    };
    let mut timer = match Timer::new(slot(timer), slot(notification)) {
        Ok(t) => t,
        Err(e) => {
            println!("top: the timer server: {e:?}");
            return REFUSED_STATUS;
        }
    };
    let transport = match EndpointClient::new(slot(scheduler), None) {
        Ok(t) => t,
        Err(e) => {
            println!("top: the scheduler server: {e:?}");
            return REFUSED_STATUS;
        }
    };
    let mut client = SchedulerClient::new(transport);
    match run(&mut timer, &mut client, windows(info.arg)) {
        Ok(()) => 0,
        Err(e) => {
            println!("top: {e}");
            REFUSED_STATUS
        }
    }
}

/// The windows to print: the argument, or [`WINDOWS`].
fn windows(arg: u64) -> u64 {
    match arg {
        0 => WINDOWS,
        n => n,
    }
}

/// The timer's clock in µs.
fn now_us(timer: &mut Timer) -> Result<u64, String> {
    timer
        .now_ns()
        .map(|ns| ns / 1000)
        .map_err(|e| alloc::format!("the timer's clock: {e:?}"))
}

/// Prints `windows` tables, one per [`WINDOW`], each window's deadline
/// reckoned from the first so that the windows do not drift.
fn run(
    timer: &mut Timer,
    client: &mut SchedulerClient<EndpointClient>,
    windows: u64,
) -> Result<(), String> {
    let retake = |s: &mut Snapshot, client: &mut SchedulerClient<EndpointClient>, at_us| {
        s.retake(client, at_us)
            .map_err(|e| alloc::format!("the scheduler server: {e:?}"))
    };
    let start = now_us(timer)?;
    let mut before = Snapshot::default();
    let mut now = Snapshot::default();
    retake(&mut before, client, start)?;
    for window in 1..=windows {
        let end_ns = (start + window * WINDOW.as_micros() as u64) * 1000;
        timer
            .sleep_until(Deadline::at_ns(end_ns))
            .map_err(|e| alloc::format!("a sleep: {e:?}"))?;
        let at = now_us(timer)?;
        retake(&mut now, client, at)?;
        let mut text = String::new();
        let window_number = u32::try_from(window).unwrap_or(u32::MAX);
        write_table(&mut text, window_number, &before, &now)
            .map_err(|_| String::from("formatting the table"))?;
        for line in text.lines() {
            println!("{line}");
        }
        core::mem::swap(&mut before, &mut now);
    }
    Ok(())
}
