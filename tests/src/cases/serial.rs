//! SERIAL: the serial server (keel-serial), started by keel-init from a
//! manifest made in the test with the kernel's UART lent to it and its
//! interrupt line, the test's thread as init and as its client. Input comes
//! from the build tool, which types what a `Test NAME types: TEXT` line
//! asks for into QEMU's serial input; a burst of output is checked by the
//! build tool on the serial line (`Test NAME expects burst: N`). While a
//! test waits for typed input a spinner keeps the CPU busy: under `-icount`
//! an idle CPU skips virtual time to the next timer, and the watchdog's
//! periods would pass before the host's bytes arrive. SERIAL0005 checks the
//! kernel's lending itself, in the root task.

use crate::cases::retype::make;
use crate::support::{expect_error, slot, step};
use crate::system::{
    badge, client_cap, expect_malformed_refused, expect_state, manifest_of, program, sched, start,
    Operation,
};
use crate::thread::{spawn, spin_and_yield};
use crate::{ensure, Env, TestResult};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use keel_abi::cap::SERIAL_PORTS;
use keel_abi::manifest::{Irq, Manifest, Restart, Role};
use keel_abi::{Arch, CapType, Error, InitCap, ObjectType};
use keel_init::{State, System};
use keel_protocols::cap::Grant;
use keel_protocols::serial::{
    self, burst_line, SerialClient, SerialError, BURST_LINES, BURST_LINE_BYTES, CHUNK_MAX,
};
use keel_protocols::sys::EndpointClient;
use keel_protocols::{Rights, RpcError};
use keel_sys::arch::ARCH;
use keel_sys::cap::{init_thread, IoPort, Notification};
use keel_sys::{CPtr, Cap};

/// The serial server's index in [`manifest`].
const SERIAL: usize = 1;
/// Its priority, as in `system.toml`.
const SERIAL_PRIORITY: u8 = 250;
/// The spinner's priority: below everything else.
const SPINNER_PRIORITY: u64 = 1;
/// How many signals a reader waits for before it gives up on a line.
const WAITS: usize = 64;

/// The serial system: the serial server (active, with the kernel's UART
/// and its line on each architecture, never restarted).
pub(crate) fn manifest() -> Manifest {
    let mut server = program(
        "serial",
        Role::Server,
        sched(SERIAL_PRIORITY, false),
        Restart::Never,
    );
    server.debug = true;
    server.irqs = vec![
        Irq {
            irq: 4,
            event: 0,
            arch: Some(Arch::X86_64),
        },
        Irq {
            irq: 33,
            event: 0,
            arch: Some(Arch::Aarch64),
        },
    ];
    Manifest {
        serial: Some(SERIAL as u16),
        ..manifest_of("serial-tests", vec![server], vec![], vec![])
    }
}

/// Starts the serial system.
fn serial_system<'a>(
    env: &Env,
    manifest: &'a Manifest,
    archive: &'a keel_abi::archive::Archive<'a>,
) -> Result<System<'a>, String> {
    let system = start(env, manifest, archive)?;
    expect_state(&system, SERIAL, State::Running)?;
    Ok(system)
}

/// A client of the serial server, badged for `client`.
fn client(env: &Env, system: &System, client: u16) -> Result<SerialClient<EndpointClient>, String> {
    let cap = client_cap(env, system, SERIAL, badge(client, 1, Rights::NONE).bits())?;
    let endpoint = EndpointClient::new(cap, None).map_err(|e| format!("a serial client: {e}"))?;
    Ok(SerialClient::new(endpoint))
}

/// A notification of the test's, handed to the server for `client`.
fn notified(env: &Env, client: &mut SerialClient<EndpointClient>) -> Result<u64, String> {
    let ntfn = make(env, 12, ObjectType::Notification, 0, 1)?;
    client
        .notify_with(Grant::new(ntfn))
        .map_err(|e| format!("notify_with: {e:?}"))?;
    Ok(ntfn)
}

/// Starts the spinner that keeps virtual time tied to instructions.
pub(crate) fn spinner(env: &Env) -> TestResult {
    let tcb = spawn(env, spin_and_yield, 0, 0, SPINNER_PRIORITY)?;
    step(tcb.tcb_resume(), "start the spinner")
}

/// Reads the next line, waiting on `ntfn` while there is none.
fn read(client: &mut SerialClient<EndpointClient>, ntfn: u64) -> Result<String, String> {
    for _ in 0..WAITS {
        match client.read_line() {
            Ok(line) => return Ok(String::from_utf8_lossy(&line).into_owned()),
            Err(SerialError::NoLine) => {
                Cap::<Notification>::from_cptr(CPtr::from_bits(ntfn)).wait();
            }
            Err(e) => return Err(format!("read_line: {e:?}")),
        }
    }
    Err(format!("no line after {WAITS} signals"))
}

/// Asks the build tool, for test `name`, to type `text` and a newline into
/// the serial input.
pub(crate) fn type_in(name: &str, text: &str) {
    keel_rt::println!("Test {name} types: {text}");
}

/// Asks the build tool to check that the serial server echoes `text` (a
/// line of its own) before the test's result.
fn expect_echo(name: &str, text: &str) {
    keel_rt::println!("Test {name} expects echo: {text}");
}

/// SERIAL0001: lines typed into the UART reach a reader whole and in
/// order, however they end, are echoed by the server as they are typed,
/// and written back through it.
pub fn echo_of_typed_lines(env: &Env) -> TestResult {
    let (manifest, archive) = (manifest(), crate::system::archive(env)?);
    let system = serial_system(env, &manifest, &archive)?;
    let mut reader = client(env, &system, 3)?;
    let ntfn = notified(env, &mut reader)?;
    ensure!(
        reader.read_line() == Err(SerialError::NoLine),
        "a line was waiting before any was typed"
    );
    spinner(env)?;
    let typed = ["hello from the host", "a second line, read in order"];
    for text in typed {
        expect_echo("SERIAL0001", text);
    }
    for text in typed {
        type_in("SERIAL0001", text);
    }
    for want in typed {
        let got = read(&mut reader, ntfn)?;
        ensure!(got == want, "read {got:?}, typed {want:?}");
        reader
            .write_all(format!("echo: {got}\n").as_bytes())
            .map_err(|e| format!("write: {e:?}"))?;
    }
    Ok(())
}

/// SERIAL0100: a backspace typed erases the last character of the line
/// being typed: the reader gets the line as corrected, and the server
/// echoes the erase as back, blank, back (the build tool checks the echo).
pub fn backspace_erases_as_typed(env: &Env) -> TestResult {
    let (manifest, archive) = (manifest(), crate::system::archive(env)?);
    let system = serial_system(env, &manifest, &archive)?;
    let mut reader = client(env, &system, 6)?;
    let ntfn = notified(env, &mut reader)?;
    spinner(env)?;
    // `\b` is the build tool's escape for a backspace byte.
    expect_echo("SERIAL0100", r"kernel\b \b\b \b\b \b\b \b\b \beel");
    type_in("SERIAL0100", r"kernel\b\b\b\b\beel");
    let got = read(&mut reader, ntfn)?;
    ensure!(
        got == "keel",
        "read {got:?} after the erases, expected \"keel\""
    );
    Ok(())
}

/// SERIAL0002: 64 KiB written through the server come out on the UART in
/// order and whole (the build tool checks every line).
pub fn a_long_burst_keeps_everything_in_order(env: &Env) -> TestResult {
    let (manifest, archive) = (manifest(), crate::system::archive(env)?);
    let system = serial_system(env, &manifest, &archive)?;
    let mut writer = client(env, &system, 4)?;
    keel_rt::println!("Test SERIAL0002 expects burst: {BURST_LINES}");
    let per_write = (CHUNK_MAX / BURST_LINE_BYTES) as u32;
    let mut chunk = vec![];
    for first in (0..BURST_LINES).step_by(per_write as usize) {
        chunk.clear();
        for i in first..(first + per_write).min(BURST_LINES) {
            chunk.extend_from_slice(&burst_line(i));
        }
        writer
            .write_all(&chunk)
            .map_err(|e| format!("write of burst line {first}: {e:?}"))?;
    }
    Ok(())
}

/// SERIAL0003: malformed requests get the error naming what is wrong, a
/// cap that is no notification is refused, and the server serves on.
pub fn malformed_requests_are_refused(env: &Env) -> TestResult {
    let (manifest, archive) = (manifest(), crate::system::archive(env)?);
    let system = serial_system(env, &manifest, &archive)?;
    let mut c = client(env, &system, 5)?;
    let ep = client_cap(env, &system, SERIAL, badge(5, 1, Rights::NONE).bits())?;
    let endpoint_cap = ep.cptr().bits();
    let wrong = c.notify_with(Grant::new(endpoint_cap));
    ensure!(
        matches!(wrong, Err(SerialError::Rpc(_))),
        "an endpoint cap handed over as a notification: {wrong:?}"
    );
    let read_line = Operation {
        protocol: serial::PROTOCOL,
        version: serial::VERSION,
        op: 3,
        words: 0,
    };
    expect_malformed_refused(ep, read_line, &[2], || {
        match c.read_line() {
            Err(SerialError::NoLine) | Ok(_) => Ok(()),
            Err(e) => Err(format!("read_line after a malformed request: {e:?}")),
        }?;
        c.write_all(b"served after a malformed request\n")
            .map_err(|e| format!("write: {e:?}"))
    })?;
    let many = c.read_line();
    ensure!(
        !matches!(many, Err(SerialError::Rpc(RpcError::Full))),
        "one waiting client filled the table: {many:?}"
    );
    Ok(())
}

/// SERIAL0004: a reader's pending read dies with it: once its notification
/// is gone (as when its process's memory is revoked) the server forgets it
/// at the next line, which goes to the next reader.
pub fn a_dead_readers_read_goes_with_it(env: &Env) -> TestResult {
    let (manifest, archive) = (manifest(), crate::system::archive(env)?);
    let system = serial_system(env, &manifest, &archive)?;
    let mut dying = client(env, &system, 6)?;
    let dying_ntfn = notified(env, &mut dying)?;
    ensure!(
        dying.read_line() == Err(SerialError::NoLine),
        "a line was waiting before any was typed"
    );
    // Its notification goes, the server's copy (derived from it) with it.
    step(
        slot(dying_ntfn).revoke(),
        "revoke the dying reader's notification",
    )?;
    let mut next = client(env, &system, 7)?;
    let ntfn = notified(env, &mut next)?;
    spinner(env)?;
    let text = "for the next reader";
    type_in("SERIAL0004", text);
    let got = read(&mut next, ntfn)?;
    ensure!(got == text, "the next reader read {got:?}, typed {text:?}");
    Ok(())
}

/// SERIAL0005: the kernel lends its UART through `InitCap::SerialDevice`
/// and keeps it: on x86_64 an IOPort cap over COM1 that reaches the 16550
/// (its scratch register written and read back) while `IOPortControl_Issue`
/// still refuses COM1; on aarch64 a device frame.
pub fn the_kernel_lends_its_uart(_env: &Env) -> TestResult {
    let lent = crate::support::identify(InitCap::SerialDevice as u64)?;
    if ARCH == Arch::Aarch64 {
        ensure!(lent == CapType::Frame, "the serial device is {lent:?}");
        return Ok(());
    }
    ensure!(lent == CapType::IoPort, "the serial device is {lent:?}");
    let (first, last) = SERIAL_PORTS;
    let ports: Cap<IoPort> = Cap::from_cptr(init_thread::SERIAL_DEVICE);
    for value in [0x5a, 0xa5] {
        step(
            ports.ioport_out8(last, value),
            "write COM1's scratch register",
        )?;
        let read = step(ports.ioport_in8(last), "read COM1's scratch register")?;
        ensure!(
            read == value,
            "scratch register read {read:#x}, wrote {value:#x}"
        );
    }
    expect_error(
        init_thread::IO_PORT_CONTROL.ioport_control_issue(first, last, &slot(InitCap::Null as u64)),
        Error::RevokeFirst,
        "issuing COM1 while the kernel keeps it",
    )
}
