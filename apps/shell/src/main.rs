//! keel-shell: the everyday face of the system. It reads command lines
//! from the serial server (its connection `serial`) and runs them with
//! keel-shell-core over its connections `process` (the process server;
//! with the admin right it sees and kills every process), `scheduler`
//! (`top`) and `memory` (`free`), printing through its console
//! connection or Debug cap; `top` measures its window by the timer
//! server (connection `timer`). Started with a nonzero argument it runs
//! script `arg - 1` of `keel_shell_core::SCRIPTS` instead of reading, so
//! a run without a terminal ends by itself. It returns the status `exit`
//! gives (by default the number of commands that failed).
//!
//! Waiting for input: the serial server answers `NoLine` when no whole
//! line is waiting and signals the shell's notification (made from the
//! shell's own reclamation group through the process server) when one
//! arrives; the shell then asks again. The timer server gets a second
//! notification made the same way.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

use alloc::boxed::Box;
use core::fmt::Write;

use keel_abi::ObjectType;
use keel_protocols::cap::Grant;
use keel_protocols::process::ProcessClient;
use keel_protocols::serial::{SerialClient, SerialError};
use keel_protocols::sys::EndpointClient;
use keel_rt::process::{connect, slot};
use keel_rt::time::Timer;
use keel_rt::{print, println, ProcessInfo};
use keel_shell_core::{Clock, Flow, Shell, SCRIPTS};
use keel_sys::cap::Notification;
use keel_sys::Cap;

keel_rt::main!(main);

/// The priority `run` starts programs at: below the shell's own in the
/// default description, so the shell answers while they run.
const RUN_PRIORITY: u8 = 50;
/// Exit status when the shell has neither input nor a script.
const NO_INPUT_STATUS: u32 = 1;
/// The prompt.
const PROMPT: &str = "keel> ";

/// The shell's output: keel-rt's printing (whole lines to the console).
struct Out;

impl Write for Out {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        print!("{s}");
        Ok(())
    }
}

fn main(info: &'static ProcessInfo) -> u32 {
    let mut shell = Shell::new(
        connect(info, "process"),
        connect(info, "scheduler"),
        connect(info, "memory"),
        RUN_PRIORITY,
    );
    if let Some(clock) = TimerClock::boxed(info) {
        shell = shell.with_clock(clock);
    }
    let mut shell = Box::new(shell);
    if info.arg != 0 {
        let Some(script) = usize::try_from(info.arg - 1)
            .ok()
            .and_then(|i| SCRIPTS.get(i))
        else {
            println!("shell: there is no script {}", info.arg);
            return NO_INPUT_STATUS;
        };
        println!("shell: running script {}", info.arg);
        for line in script.lines() {
            println!("{PROMPT}{line}");
            if let Flow::Exit(status) = shell.execute(line, &mut Out) {
                return status;
            }
        }
        return shell.failures();
    }
    let Some(mut input) = Input::new(info) else {
        println!("shell: no serial connection (or no notification to wait on): nothing to read");
        return NO_INPUT_STATUS;
    };
    println!("Keel shell: type help for the commands");
    loop {
        print!("{PROMPT}");
        keel_rt::print::flush();
        let mut line = keel_protocols::serial::Line::new();
        if let Err(e) = input.read(&mut line) {
            println!("shell: reading a line failed: {e:?}");
            return NO_INPUT_STATUS;
        }
        let text = core::str::from_utf8(&line).unwrap_or("");
        let text = text.trim_end_matches('\r');
        if text.is_empty() && !line.is_empty() {
            println!("error: the line is not UTF-8");
            continue;
        }
        if let Flow::Exit(status) = shell.execute(text, &mut Out) {
            return status;
        }
    }
}

/// A notification made from the shell's own group through its process
/// server connection.
fn notification_from_group(info: &ProcessInfo) -> Option<Cap<Notification>> {
    let process = connect(info, "process")?;
    let made = ProcessClient::new(process)
        .alloc_object(ObjectType::Notification as u64, 0)
        .ok()?;
    Some(slot(made))
}

/// `top`'s clock: the timer server.
struct TimerClock(Timer);

impl TimerClock {
    /// The shell's timer connection with a notification of its own; `None`
    /// without either. On the heap, and never inlined: the client stub's
    /// buffers would otherwise stay in `main`'s frame, on a 16 KiB stack.
    #[inline(never)]
    fn boxed(info: &ProcessInfo) -> Option<Box<dyn Clock>> {
        let endpoint = slot(info.connection("timer")?);
        let timer = Timer::new(endpoint, notification_from_group(info)?).ok()?;
        Some(Box::new(TimerClock(timer)))
    }
}

impl Clock for TimerClock {
    fn now_us(&mut self) -> Option<u64> {
        self.0.now_ns().ok().map(|ns| ns / 1000)
    }

    fn sleep_us(&mut self, us: u64) -> bool {
        self.0.sleep(core::time::Duration::from_micros(us)).is_ok()
    }
}

/// Lines from the serial server, with the notification a read waits on.
/// The client stub's buffers are on the heap (see `Shell`).
struct Input {
    serial: Box<SerialClient<EndpointClient>>,
    notification: Cap<Notification>,
}

impl Input {
    /// The shell's serial connection, with a notification made from its
    /// group and handed to the serial server; `None` without either.
    fn new(info: &ProcessInfo) -> Option<Input> {
        let serial = connect(info, "serial")?;
        let notification = notification_from_group(info)?;
        let mut serial = Box::new(SerialClient::new(serial));
        serial
            .notify_with(Grant::new(notification.cptr().bits()))
            .ok()?;
        Some(Input {
            serial,
            notification,
        })
    }

    /// The next line, waiting for one.
    fn read(&mut self, into: &mut keel_protocols::serial::Line) -> Result<(), SerialError> {
        loop {
            match self.serial.read_line() {
                Ok(line) => {
                    *into = line;
                    return Ok(());
                }
                Err(SerialError::NoLine) => {
                    self.notification.wait();
                }
                Err(e) => return Err(e),
            }
        }
    }
}
