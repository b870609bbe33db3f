//! Host tests: the parser's every command and error, and the commands run
//! against a process server stand-in over the loopback transport.

use super::*;
use keel_protocols::loopback::Loopback;
use keel_protocols::process::{
    self, how, ConnectionName, Ended, Entries, Entry, Name, ProcessError, ProcessServer, SpawnArgs,
    Spawned, Teardown,
};
use keel_protocols::wire::{Incoming, OutMessage};
use keel_protocols::{Caller, Transport};
use std::string::String;

#[test]
fn parses_every_command() {
    assert_eq!(parse("ps"), Ok(Command::Ps));
    assert_eq!(parse("  top  "), Ok(Command::Top));
    assert_eq!(parse("free"), Ok(Command::Free));
    assert_eq!(parse("help"), Ok(Command::Help));
    assert_eq!(parse(""), Ok(Command::Nothing));
    assert_eq!(parse("# a comment"), Ok(Command::Nothing));
    assert_eq!(parse("ps # list"), Ok(Command::Ps));
    assert_eq!(
        parse("run hello"),
        Ok(Command::Run {
            name: "hello",
            arg: 0,
            raw: false
        })
    );
    assert_eq!(
        parse("run --raw spawnee 0x207"),
        Ok(Command::Run {
            name: "spawnee",
            arg: 0x207,
            raw: true
        })
    );
    assert_eq!(parse("kill 12"), Ok(Command::Kill(PidRef::Pid(12))));
    assert_eq!(parse("kill $!"), Ok(Command::Kill(PidRef::Last)));
    assert_eq!(parse("wait 0x10"), Ok(Command::Wait(PidRef::Pid(16))));
    assert_eq!(parse("exit"), Ok(Command::Exit(None)));
    assert_eq!(parse("exit 3"), Ok(Command::Exit(Some(3))));
}

#[test]
fn refuses_bad_lines_with_what_is_wrong() {
    assert_eq!(parse("rm -rf"), Err(ParseError::Unknown("rm")));
    assert_eq!(
        parse("kill"),
        Err(ParseError::Missing {
            command: "kill",
            what: "a pid (or $! for the last one run)"
        })
    );
    assert_eq!(parse("wait x1"), Err(ParseError::NotANumber("x1")));
    assert_eq!(parse("kill 0xzz"), Err(ParseError::NotANumber("0xzz")));
    assert_eq!(
        parse("ps aux"),
        Err(ParseError::TooMany {
            command: "ps",
            extra: "aux"
        })
    );
    assert_eq!(
        parse("run"),
        Err(ParseError::Missing {
            command: "run",
            what: "a program name"
        })
    );
    assert_eq!(
        parse("run --fast hello"),
        Err(ParseError::BadOption("--fast"))
    );
    assert_eq!(
        parse("run hello 1 2"),
        Err(ParseError::TooMany {
            command: "run",
            extra: "2"
        })
    );
    assert_eq!(
        parse("exit 99999999999"),
        Err(ParseError::NotANumber("99999999999"))
    );
    let said = format!("{}", parse("frobnicate").unwrap_err());
    assert!(
        said.contains("frobnicate") && said.contains("help"),
        "{said}"
    );
}

#[test]
fn the_scripts_parse() {
    for script in SCRIPTS {
        for line in script.lines() {
            assert!(parse(line).is_ok(), "{line}");
        }
    }
}

/// A process server stand-in: one program ("hello"), processes that run
/// until killed or waited for (then they exit 0).
#[derive(Default)]
struct Fake {
    running: Vec<u64>,
    next: u64,
}

impl ProcessServer for Fake {
    fn spawn(&mut self, _: &Caller, args: SpawnArgs, name: Name) -> Result<Spawned, ProcessError> {
        if name.as_str() != "hello" {
            return Err(ProcessError::NoSuchProgram);
        }
        self.next += 1;
        self.running.push(self.next);
        Ok(Spawned {
            pid: self.next,
            deadline: args.quota + 800,
            charged: 100,
        })
    }

    fn wait(&mut self, _: &Caller, pid: u64) -> Result<Ended, ProcessError> {
        let i = self.running.iter().position(|&p| p == pid);
        let i = i.ok_or(ProcessError::NoSuchProcess)?;
        self.running.remove(i);
        Ok(Ended {
            how: how::EXITED,
            status: 0,
        })
    }

    fn kill(&mut self, _: &Caller, pid: u64) -> Result<Teardown, ProcessError> {
        let i = self.running.iter().position(|&p| p == pid);
        let i = i.ok_or(ProcessError::NoSuchProcess)?;
        self.running.remove(i);
        Ok(Teardown {
            measured: 5_000,
            deadline: 10_000,
            processes: 1,
        })
    }

    fn list(&mut self, _: &Caller) -> Result<Entries, ProcessError> {
        let mut entries = Entries::new();
        for &pid in &self.running {
            let entry = Entry {
                pid,
                name: Name::try_from("hello").unwrap(),
                memory: 2 << 20,
                charged: 100,
                quota: 1000,
                deadline: 1800,
                ..Entry::default()
            };
            entries.push(entry).map_err(|_| ProcessError::Full)?;
        }
        Ok(entries)
    }

    fn alloc_object(&mut self, _: &Caller, _: u64, _: u64) -> Result<u64, ProcessError> {
        Err(ProcessError::NotAProcess)
    }

    fn offer(
        &mut self,
        _: &Caller,
        _: ConnectionName,
        _: keel_protocols::cap::Granted<keel_protocols::cap::Endpoint>,
    ) -> Result<(), ProcessError> {
        Err(ProcessError::BadArgument)
    }

    fn notify(
        &mut self,
        _: &Caller,
        _: keel_protocols::cap::Granted<keel_protocols::cap::Notification>,
    ) -> Result<(), ProcessError> {
        Err(ProcessError::BadArgument)
    }
}

/// Runs `script` in a shell connected to `fake` (and no other server);
/// returns what it printed and how it ended.
fn session(fake: &mut Fake, script: &str) -> (String, Flow, u32) {
    let badge = keel_protocols::ClientBadge::new(
        keel_protocols::ClientId::new(1).unwrap(),
        keel_protocols::ActivityId(0),
        keel_protocols::Rights::NONE,
    )
    .bits();
    let mut link = Loopback::new(
        badge,
        |request: &Incoming, reply: &mut OutMessage| process::dispatch(&mut *fake, request, reply),
        |_| None,
    );
    let mut shell: Shell<&mut dyn Transport> =
        Shell::new(Some(&mut link as &mut dyn Transport), None, None, 50);
    let mut out = String::new();
    let mut flow = Flow::Continue;
    for line in script.lines() {
        flow = shell.execute(line, &mut out);
        if flow != Flow::Continue {
            break;
        }
    }
    let failures = shell.failures();
    (out, flow, failures)
}

#[test]
fn run_ps_kill_and_wait_print_what_the_server_said() {
    let mut fake = Fake::default();
    let (out, flow, failures) = session(
        &mut fake,
        "run hello\nps\nkill $!\nrun hello\nwait $!\nps\nexit\n",
    );
    assert_eq!((flow, failures), (Flow::Exit(0), 0), "{out}");
    assert!(
        out.contains("started hello: pid 1, deadline 8389408"),
        "{out}"
    );
    assert!(out.contains("      1  running  hello"), "{out}");
    assert!(
        out.contains("killed pid 1 (1 process(es)): teardown 5000 counter ticks (instructions under -icount) against a deadline of 10000 instructions: within its deadline (50.0%)"),
        "{out}"
    );
    assert!(out.contains("pid 2 exited with status 0"), "{out}");
    assert!(out.contains("0 processes"), "{out}");
}

#[test]
fn errors_are_printed_and_counted_and_the_shell_goes_on() {
    let mut fake = Fake::default();
    let (out, flow, failures) = session(
        &mut fake,
        "kill $!\nrun nothing\nkill 7\nbogus\nrun hello\ntop\nfree\n",
    );
    assert_eq!((flow, failures), (Flow::Continue, 4), "{out}");
    assert!(out.contains("error: $!: nothing was run yet"), "{out}");
    assert!(out.contains("error: no program of that name"), "{out}");
    assert!(out.contains("error: no such process"), "{out}");
    assert!(out.contains("error: unknown command \"bogus\""), "{out}");
    assert!(out.contains("started hello"), "{out}");
    assert!(out.contains("no scheduler server"), "{out}");
    assert!(out.contains("no memory manager"), "{out}");
    let (_, flow, _) = session(&mut fake, "exit 7\nps\n");
    assert_eq!(flow, Flow::Exit(7));
}

#[test]
fn without_a_process_server_ps_says_so() {
    let mut shell: Shell<&mut dyn Transport> = Shell::new(None, None, None, 50);
    let mut out = String::new();
    assert_eq!(shell.execute("ps", &mut out), Flow::Continue);
    assert_eq!(shell.execute("exit", &mut out), Flow::Exit(1));
    assert!(out.contains("error: no process server"), "{out}");
}
