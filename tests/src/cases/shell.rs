//! SHELL0001-0002, PROCESS0200-0201: init starting apps through the
//! process server, and the shell over it. The test's thread is init
//! (keel-init's `System`), as in the process-server tests; init's
//! end notification is bound to the test's thread while the system
//! lives. SHELL0001 runs the shell's commands (keel-shell-core, the
//! code the shell program runs) in the test's thread with an admin
//! connection and checks what they print; SHELL0002 runs the shell
//! program itself, started by init, on its built-in script, and checks
//! that it exits 0 (every command succeeded); SHELL0003 runs it on lines
//! the build tool types into the serial server.

use crate::cases::process_server::{self as ps, Client, Lowered, PLENTY, SMALL, SYSTEM_BITS};
use crate::cases::{retype, serial};
use crate::support::step;
use crate::system::{archive, badge, client_cap, connection, program, sched, set_up_sized};
use crate::thread::set_own_priority;
use crate::{ensure, Env, TestResult};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use keel_abi::manifest::{Manifest, Restart, Role};
use keel_abi::ObjectType;
use keel_init::{Event, State, System};
use keel_protocols::cap::Grant;
use keel_protocols::process::{ConnectionName, ProcessError, SpawnArgs, ADMIN, OFFERED_MAX};
use keel_protocols::sys::EndpointClient;
use keel_protocols::Rights;
use keel_shell_core::{Flow, Shell};
use keel_spawnee::{arg, MODE_EXIT};
use keel_sys::cap::Notification;
use keel_sys::{CPtr, Cap};

/// Program indices of [`apps_manifest`].
const SPINNER: usize = 2;
const HELLO: usize = 3;
/// The shell's index in [`shell_manifest`].
const SHELL: usize = 2;

/// The process server and two apps init starts through it: the spinner
/// (below everything, never ends) and hello (prints and exits).
fn apps_manifest() -> Manifest {
    let mut m = ps::manifest();
    m.programs.push(program(
        "spinner",
        Role::App,
        sched(1, false),
        Restart::Never,
    ));
    m.programs.push(program(
        "hello",
        Role::App,
        sched(ps::CHILD_PRIORITY, false),
        Restart::Never,
    ));
    m
}

/// The process server and the shell, connected to it with the admin right.
fn shell_manifest() -> Manifest {
    let mut m = ps::manifest();
    m.programs.push(program(
        "shell",
        Role::App,
        sched(100, false),
        Restart::Never,
    ));
    m.connections.push(connection(
        SHELL,
        ps::SERVER,
        "process",
        badge(1, 0, Rights::ADMIN),
    ));
    m
}

/// Starts `m`'s system with the test's thread at init's priority.
fn started<'a>(
    env: &Env,
    m: &'a Manifest,
    archive: &'a keel_abi::archive::Archive<'a>,
) -> Result<System<'a>, String> {
    let mut system = set_up_sized(env, m, archive, SYSTEM_BITS)?;
    set_own_priority(ps::DRIVER_PRIORITY)?;
    step(system.start_all(), "start the system")?;
    crate::system::expect_state(&system, ps::SERVER, State::Running)?;
    Ok(system)
}

/// The pid init's process server gave program `index`.
fn pid_of(system: &System, index: usize) -> Result<u64, String> {
    system
        .program(index)
        .and_then(|p| p.pid)
        .ok_or_else(|| format!("program {index} was not started through the process server"))
}

/// Steps init until program `index` is no longer running (at most `steps`).
fn until_ended(system: &mut System, index: usize, steps: usize) -> Result<State, String> {
    for _ in 0..steps {
        let state = system.program(index).map(|p| p.state);
        match state {
            Some(State::Running) => {
                system.step();
            }
            Some(s) => return Ok(s),
            None => return Err(format!("no program {index}")),
        }
    }
    Err(format!(
        "program {index} still runs after {steps} messages to init"
    ))
}

/// PROCESS0200: init starts a system's apps through its process server:
/// an admin's list shows them with a group, charge, quota and deadline, a
/// plain client sees none of them, init learns of an exit through its
/// notification (the status) and of an admin's kill (stopped).
pub fn init_starts_apps_through_it(env: &Env) -> TestResult {
    let m = apps_manifest();
    let archive = archive(env)?;
    let mut system = started(env, &m, &archive)?;
    let (spinner, hello) = (pid_of(&system, SPINNER)?, pid_of(&system, HELLO)?);
    let mut admin = ps::client_of(env, &system, ps::SERVER, 1, Rights::ADMIN)?;
    let mut plain = ps::client_of(env, &system, ps::SERVER, 2, Rights::NONE)?;
    let listed = admin.list().map_err(|e| format!("admin list: {e:?}"))?;
    let entry = listed
        .iter()
        .find(|e| e.pid == spinner)
        .ok_or("the admin's list lacks init's spinner")?;
    ensure!(
        entry.name.as_str() == "spinner"
            && entry.state == 0
            && entry.memory == keel_init::APP_MEMORY
            && entry.charged > 0
            && entry.quota == keel_init::APP_QUOTA
            && entry.deadline > entry.quota,
        "init's spinner listed as {entry:?}"
    );
    let theirs = plain.list().map_err(|e| format!("plain list: {e:?}"))?;
    ensure!(
        theirs.is_empty(),
        "a plain client sees init's processes: {theirs:?}"
    );
    ensure!(
        plain.kill(spinner) == Err(ProcessError::NoSuchProcess),
        "a plain client killed init's spinner"
    );
    {
        // Hello runs (above the test's thread) and exits.
        let _lowered = Lowered::new()?;
    }
    let event = system.step();
    ensure!(
        event
            == Event::Exited {
                program: HELLO,
                status: 0
            },
        "init saw {event:?} for hello's exit (pid {hello:#x})"
    );
    let t = admin
        .kill(spinner)
        .map_err(|e| format!("admin kill: {e:?}"))?;
    ensure!(t.processes == 1, "killed {t:?}");
    let state = until_ended(&mut system, SPINNER, 4)?;
    ensure!(
        state == State::Stopped,
        "init's spinner is {state:?} after the kill"
    );
    ensure!(
        system.program(SPINNER).is_some_and(|p| p.pid.is_none()),
        "init still keeps the killed spinner's pid"
    );
    ps::pool_is_whole(&mut admin)
}

/// PROCESS0201: a spawner's offered connections and end notification:
/// the admin flag needs the admin right; an offer of a cap to the server
/// itself, a duplicate name and one past OFFERED_MAX are refused; a spawn
/// takes what was offered (the next offers fit again); a registered
/// notification is signalled when a process ends; a notify with another
/// kind of cap is refused.
pub fn offers_and_notifications(env: &Env) -> TestResult {
    ps::started!(env, system, c);
    let mut args = SpawnArgs {
        memory: SMALL,
        quota: PLENTY,
        arg: arg(MODE_EXIT, 5),
        priority: ps::CHILD_PRIORITY,
        flags: ADMIN,
        ..SpawnArgs::default()
    };
    let spawnee = "spawnee".try_into().unwrap_or_default();
    ensure!(
        c.spawn(args, &spawnee) == Err(ProcessError::NotAdmin),
        "a plain client spawned an admin"
    );
    args.flags = 0;
    let own = client_cap(env, &system, ps::SERVER, 0x55)?;
    let name = |n: &str| ConnectionName::try_from(n).unwrap_or_default();
    ensure!(
        c.offer(&name("self"), Grant::new(own.cptr().bits())) == Err(ProcessError::BadArgument),
        "an offer of the server's own endpoint was kept"
    );
    let endpoint = retype::make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let offer_all = |c: &mut Client| -> TestResult {
        for i in 0..OFFERED_MAX {
            c.offer(&name(&format!("c{i}")), Grant::new(endpoint))
                .map_err(|e| format!("offer {i}: {e:?}"))?;
        }
        Ok(())
    };
    offer_all(&mut c)?;
    ensure!(
        c.offer(&name("more"), Grant::new(endpoint)) == Err(ProcessError::BadArgument),
        "an offer past OFFERED_MAX was kept"
    );
    let notification = retype::make(env, 12, ObjectType::Notification, 0, 1)?;
    // A signal ORs the badge in: the server's copy needs a nonzero one.
    let badged = env.slots(1)?;
    step(
        crate::support::slot(badged).mint(
            &crate::support::slot(notification),
            keel_abi::CapRights::ALL,
            1,
        ),
        "mint a badged notification",
    )?;
    ensure!(
        c.notify(Grant::new(endpoint)).is_err(),
        "notify took an endpoint"
    );
    c.notify(Grant::new(badged))
        .map_err(|e| format!("notify: {e:?}"))?;
    let s = c
        .spawn(args, &spawnee)
        .map_err(|e| format!("spawn with offers: {e:?}"))?;
    // It exited before spawn's reply was read: the signal is waiting.
    let signalled = Cap::<Notification>::from_cptr(CPtr::from_bits(notification)).poll();
    ensure!(
        signalled == 1,
        "signal {signalled:#x} for the end of pid {:#x}",
        s.pid
    );
    ps::wait_for(&mut c, s.pid, ps::exited(5))?;
    offer_all(&mut c)?;
    ensure!(
        c.offer(&name("c0"), Grant::new(endpoint)) == Err(ProcessError::BadArgument),
        "a second offer named c0 was kept"
    );
    ps::pool_is_whole(&mut c)
}

/// Runs `line` in `shell`, prints what it wrote, and returns it.
fn run_line(shell: &mut Shell<EndpointClient>, line: &str) -> Result<String, String> {
    let mut out = String::new();
    let flow = shell.execute(line, &mut out);
    for l in out.lines() {
        keel_rt::println!("  shell> {line}: {l}");
    }
    ensure!(flow == Flow::Continue, "{line}: the shell left ({flow:?})");
    Ok(out)
}

/// SHELL0001: the shell's ps, kill, run and wait on a system whose apps
/// init started through the process server: ps lists init's spinner and
/// the shell's own processes, a kill of init's spinner reports its
/// teardown within its deadline (and init sees it end), run starts a
/// program and wait reports its exit, and a bad line is an error.
pub fn commands_on_init_started_apps(env: &Env) -> TestResult {
    let m = apps_manifest();
    let archive = archive(env)?;
    let mut system = started(env, &m, &archive)?;
    let spinner = pid_of(&system, SPINNER)?;
    let cap = client_cap(env, &system, ps::SERVER, badge(1, 0, Rights::ADMIN).bits())?;
    let transport = EndpointClient::new(cap, None).map_err(|e| format!("a client: {e}"))?;
    let mut shell = Shell::new(Some(transport), None, None, ps::CHILD_PRIORITY);
    let _lowered = Lowered::new()?;
    let out = run_line(&mut shell, "ps")?;
    ensure!(
        out.lines().any(|l| l.contains("spinner")
            && l.contains("running")
            && l.contains(&format!("{spinner}"))),
        "ps does not list init's spinner (pid {spinner}): {out}"
    );
    let out = run_line(&mut shell, &format!("kill {spinner}"))?;
    ensure!(
        out.contains(&format!("killed pid {spinner} (1 process(es))"))
            && out.contains("within its deadline"),
        "kill of init's spinner: {out}"
    );
    let state = until_ended(&mut system, SPINNER, 4)?;
    ensure!(
        state == State::Stopped,
        "init's spinner is {state:?} after the kill"
    );
    let out = run_line(&mut shell, "run hello")?;
    ensure!(out.starts_with("started hello: pid "), "run hello: {out}");
    let out = run_line(&mut shell, "wait $!")?;
    ensure!(
        out.contains("exited with status 0"),
        "wait for hello: {out}"
    );
    let out = run_line(&mut shell, "ps")?;
    ensure!(
        !out.contains("spinner"),
        "the killed spinner is still listed: {out}"
    );
    let out = run_line(&mut shell, "kill $!")?;
    ensure!(
        out.contains("error: no such process"),
        "kill of a reaped pid: {out}"
    );
    let out = run_line(&mut shell, "top")?;
    ensure!(
        out.contains("no scheduler server"),
        "top without one: {out}"
    );
    ensure!(
        shell.failures() == 1,
        "{} commands failed, expected 1",
        shell.failures()
    );
    let mut out = String::new();
    ensure!(
        shell.execute("exit", &mut out) == Flow::Exit(1),
        "exit without a status is not the failure count"
    );
    Ok(())
}

/// SHELL0002: the shell program, started by init through the process
/// server with the admin right, runs its built-in script (ps, run and
/// kill a spinner, run and wait for hello, top, free, exit) and exits 0:
/// every command succeeded.
pub fn the_shell_runs_a_script(env: &Env) -> TestResult {
    let m = shell_manifest();
    let archive = archive(env)?;
    let mut system = set_up_sized(env, &m, &archive, SYSTEM_BITS)?;
    system.set_arg(SHELL, 1);
    set_own_priority(ps::DRIVER_PRIORITY)?;
    step(system.start_all(), "start the system")?;
    pid_of(&system, SHELL)?;
    let state = until_ended(&mut system, SHELL, 8)?;
    ensure!(
        state == State::Exited(0),
        "the shell ended {state:?} (its status counts the commands that failed)"
    );
    let mut admin = ps::client_of(env, &system, ps::SERVER, 1, Rights::ADMIN)?;
    let left = admin.list().map_err(|e| format!("list: {e:?}"))?;
    ensure!(left.is_empty(), "processes left after the shell: {left:?}");
    ps::pool_is_whole(&mut admin)
}

/// SHELL0003: the shell program reading typed input: init starts the
/// serial server, the process server and the shell (connected to both,
/// the admin right on the latter); the build tool types `run hello`,
/// `wait $!`, `ps`, a line that is no command and `exit`; the shell reads
/// them from the serial server (waiting on a notification it got from its
/// own group) and exits with 1, the one command that failed.
pub fn the_shell_reads_typed_lines(env: &Env) -> TestResult {
    const SERIAL: usize = 1;
    const PROCESS: usize = 2;
    const TYPED_SHELL: usize = 3;
    let mut m = serial::manifest();
    m.programs.push(ps::server(ps::SERVER_PRIORITY));
    m.programs.push(program(
        "shell",
        Role::App,
        sched(100, false),
        Restart::Never,
    ));
    m.process = Some(PROCESS as u16);
    m.connections = vec![
        connection(TYPED_SHELL, SERIAL, "serial", badge(1, 0, Rights::NONE)),
        connection(TYPED_SHELL, PROCESS, "process", badge(1, 0, Rights::ADMIN)),
    ];
    let archive = archive(env)?;
    let mut system = set_up_sized(env, &m, &archive, SYSTEM_BITS)?;
    set_own_priority(ps::DRIVER_PRIORITY)?;
    step(system.start_all(), "start the system")?;
    pid_of(&system, TYPED_SHELL)?;
    serial::spinner(env)?;
    for line in ["run hello", "wait $!", "ps", "no-such-command", "exit"] {
        serial::type_in("SHELL0003", line);
    }
    let state = until_ended(&mut system, TYPED_SHELL, 16)?;
    ensure!(
        state == State::Exited(1),
        "the shell ended {state:?}, expected Exited(1): one typed line was no command"
    );
    Ok(())
}
