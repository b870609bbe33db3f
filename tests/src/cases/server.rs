//! SERVER: the console server and the hello app, started by keel-init from
//! a manifest made in the test (the console passive, with its Debug cap;
//! hello with a "console" connection, or with a Debug cap instead), with
//! the test's thread as init. The test talks to the console through the
//! generated stubs and raw malformed requests, and supervises hello until
//! its exit reaches init.

use crate::support::step;
use crate::system::{
    badge, client_cap, connection, expect_malformed_refused, expect_state, manifest_of, program,
    sched, set_up, start, Operation,
};
use crate::{ensure, Env, TestResult};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use keel_abi::manifest::{Manifest, Restart, Role};
use keel_init::{Event, State, System};
use keel_protocols::console::{self, ConsoleClient, ConsoleError, Line, Tag};
use keel_protocols::sys::EndpointClient;
use keel_protocols::{ClientBadge, Rights, RpcError};

/// The console's index in [`manifest`].
const CONSOLE: usize = 1;
/// Hello's.
const HELLO: usize = 2;
/// The console's priority: above its client's, as the description
/// requires.
const CONSOLE_PRIORITY: u8 = 200;
/// Hello's priority.
const HELLO_PRIORITY: u8 = 100;
/// The badge of hello's connection to the console.
const HELLO_BADGE: ClientBadge = badge(2, 1, Rights::NONE);
/// Clients whose tags the console keeps (keel-console's table).
const CONSOLE_TAGS: u16 = 32;
/// The console's `flush`, as malformed requests vary it.
const FLUSH: Operation = Operation {
    protocol: console::PROTOCOL,
    version: console::VERSION,
    op: 2,
    words: 0,
};

/// Where hello prints.
#[derive(Clone, Copy)]
enum Output {
    /// Through its "console" connection.
    Console,
    /// Through a Debug cap of its own (it has no connection).
    Debug,
}

/// The console system: the console (passive, with a Debug cap, never
/// restarted, so a failure shows as `Stopped`) and, given `hello`, the
/// hello app printing through `hello`.
fn manifest(hello: Option<Output>) -> Manifest {
    let mut console = program(
        "console",
        Role::Server,
        sched(CONSOLE_PRIORITY, true),
        Restart::Never,
    );
    console.debug = true;
    let mut programs = vec![console];
    let mut connections = vec![];
    if let Some(output) = hello {
        let mut app = program(
            "hello",
            Role::App,
            sched(HELLO_PRIORITY, false),
            Restart::Never,
        );
        match output {
            Output::Console => connections.push(connection(HELLO, CONSOLE, "console", HELLO_BADGE)),
            Output::Debug => app.debug = true,
        }
        programs.push(app);
    }
    manifest_of("server-tests", programs, connections, vec![])
}

/// A client of the console: a cap to its endpoint badged for `client`,
/// charged to activity 1.
fn console_client(
    env: &Env,
    system: &System,
    client: u16,
) -> Result<ConsoleClient<EndpointClient>, String> {
    let cap = client_cap(env, system, CONSOLE, badge(client, 1, Rights::NONE).bits())?;
    let endpoint = EndpointClient::new(cap, None).map_err(|e| format!("a console client: {e}"))?;
    Ok(ConsoleClient::new(endpoint))
}

/// A stub's result, its error as the test's reason.
fn served<T>(result: Result<T, ConsoleError>, what: &str) -> Result<T, String> {
    result.map_err(|e| format!("{what}: {e:?}"))
}

fn line(s: &str) -> Line {
    Line::try_from(s).unwrap_or_default()
}

/// SERVER0001: the console, started by init and made passive once ready,
/// serves its stubs and refuses bad lines and tags.
pub fn console_serves_stubs(env: &Env) -> TestResult {
    let (manifest, archive) = (manifest(None), crate::system::archive(env)?);
    let system = start(env, &manifest, &archive)?;
    expect_state(&system, CONSOLE, State::Running)?;
    let mut client = console_client(env, &system, 5)?;
    let tag = Tag::try_from("server0001").unwrap_or_default();
    served(client.set_tag(&tag), "set_tag")?;
    served(
        client.write_line(&line("a line through the console server")),
        "write_line",
    )?;
    served(client.write_text("two lines\nin one text"), "write_text")?;
    served(client.flush(), "flush")?;
    ensure!(
        client.write_line(&line("bell\u{7}")) == Err(ConsoleError::ControlCharacter),
        "a line with a control character was accepted"
    );
    let bad_tag = Tag::try_from("two words").unwrap_or_default();
    ensure!(
        client.set_tag(&bad_tag) == Err(ConsoleError::BadTag),
        "a tag with a space was accepted"
    );
    served(
        client.write_line(&line("still served")),
        "write_line after errors",
    )?;
    Ok(())
}

/// SERVER0002: each malformed request gets the error naming it, and the
/// console serves the next line.
pub fn console_answers_malformed_requests(env: &Env) -> TestResult {
    let (manifest, archive) = (manifest(None), crate::system::archive(env)?);
    let system = start(env, &manifest, &archive)?;
    let mut client = console_client(env, &system, 6)?;
    let ep = client_cap(env, &system, CONSOLE, badge(6, 1, Rights::NONE).bits())?;
    expect_malformed_refused(ep, FLUSH, &[3], || {
        served(
            client.write_line(&line("served after a malformed request")),
            "write_line",
        )
    })
}

/// SERVER0003: the console's tag table holds [`CONSOLE_TAGS`] clients; the
/// next gets `Full` and is still served.
pub fn console_tag_table_is_bounded(env: &Env) -> TestResult {
    let (manifest, archive) = (manifest(None), crate::system::archive(env)?);
    let system = start(env, &manifest, &archive)?;
    let tag = Tag::try_from("t").unwrap_or_default();
    for n in 1..=CONSOLE_TAGS {
        let mut client = console_client(env, &system, n)?;
        served(client.set_tag(&tag), "set_tag while the table has room")?;
    }
    let mut last = console_client(env, &system, CONSOLE_TAGS + 1)?;
    ensure!(
        last.set_tag(&tag) == Err(ConsoleError::Rpc(RpcError::Full)),
        "a tag past the table's capacity was not refused as Full"
    );
    served(
        last.write_line(&line("served without a tag")),
        "write_line from the client with no tag",
    )
}

/// Starts the console system with hello printing through `output` and
/// finding `arg` in its page, and supervises it until hello has exited:
/// checks that the one event was its exit with `status`, that init tore it
/// down, and that the console still serves.
fn hello_exits(env: &Env, output: Output, arg: u64, status: u32) -> TestResult {
    let (manifest, archive) = (manifest(Some(output)), crate::system::archive(env)?);
    let mut system = set_up(env, &manifest, &archive)?;
    system.set_arg(HELLO, arg);
    step(system.start_all(), "start the system")?;
    let mut events = Vec::new();
    while system.program(HELLO).map(|p| p.state) == Some(State::Running) {
        events.push(system.step());
    }
    let want = Event::Exited {
        program: HELLO,
        status,
    };
    ensure!(
        events == [want],
        "init saw {events:?}, expected only {want:?}"
    );
    expect_state(&system, HELLO, State::Exited(status))?;
    ensure!(
        system.program(HELLO).is_some_and(|p| p.process.is_none()),
        "hello was not torn down"
    );
    expect_state(&system, CONSOLE, State::Running)?;
    let mut client = console_client(env, &system, 7)?;
    served(
        client.write_line(&line("served after hello's exit")),
        "write_line",
    )
}

/// SERVER0004: hello prints through its console connection and its main's
/// return reaches init as `exit(0)`.
pub fn app_prints_through_console_and_exits(env: &Env) -> TestResult {
    hello_exits(env, Output::Console, 0, 0)
}

/// SERVER0005: hello's panic is printed through its console connection
/// and reaches init as `exit(PANIC_STATUS)`.
pub fn app_panic_exits_with_panic_status(env: &Env) -> TestResult {
    hello_exits(
        env,
        Output::Console,
        keel_hello::ARG_PANIC,
        keel_rt::PANIC_STATUS,
    )
}

/// SERVER0006: hello without a console connection prints through its
/// Debug cap and exits through init.
pub fn app_without_console_prints_through_debug(env: &Env) -> TestResult {
    hello_exits(env, Output::Debug, 0, 0)
}
