//! Running the shell's commands: each is a call or two of a server's
//! client stub (the process server for `ps`, `run`, `kill`, `wait`; the
//! scheduler server's `usage` and `attribution` for `top`; the memory
//! manager's `usage` for `free`), with what came back written as text. A
//! refusal, a missing server or a bad line is printed as an error and the
//! shell goes on; only `exit` ends it. Generic over the transport, so the
//! host tests and the on-target tests run the same code as the shell.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use core::fmt::Write;

use keel_protocols::memory::MemoryClient;
use keel_protocols::process::{how, Ended, Name, ProcessClient, ProcessError, SpawnArgs, KEEL_RT};
use keel_protocols::scheduler::SchedulerClient;
use keel_protocols::top::{write_table, Snapshot};
use keel_protocols::Transport;

use crate::parse::{parse, Command, PidRef, HELP};

/// The group `run` gives a keel-rt program (its 1 MiB heap, image, stack).
pub const RUN_MEMORY: u64 = 1 << 21;
/// The group `run --raw` gives a program without keel-rt.
pub const RAW_MEMORY: u64 = 1 << 17;
/// The reclamation quota `run` gives, in instructions of teardown.
pub const RUN_QUOTA: u64 = 1 << 23;

/// What the shell does after a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Read the next line.
    Continue,
    /// Leave with this status.
    Exit(u32),
}

/// The clock `top` measures its window by (the timer server's, on the
/// target).
pub trait Clock {
    /// Microseconds since the clock started, or `None` when it cannot be
    /// read.
    fn now_us(&mut self) -> Option<u64>;
    /// Waits `us` microseconds; false when the wait failed.
    fn sleep_us(&mut self, us: u64) -> bool;
}

/// The window `top` measures.
const TOP_WINDOW_US: u64 = 1_000_000;

/// The servers the shell reaches, and what it remembers between lines.
/// Each client stub holds its message buffers inline (about 2 KiB), so
/// they live on the heap: a process's stack is 16 KiB.
pub struct Shell<T: Transport> {
    process: Option<Box<ProcessClient<T>>>,
    scheduler: Option<Box<SchedulerClient<T>>>,
    memory: Option<Box<MemoryClient<T>>>,
    /// The clock `top` measures a window by.
    clock: Option<Box<dyn Clock>>,
    /// The priority `run` starts programs at.
    priority: u8,
    /// The pid of the last program `run` started (`$!`).
    last: Option<u64>,
    /// Commands that failed.
    failures: u32,
}

impl<T: Transport> Shell<T> {
    /// A shell over the connections it has; `run` starts programs at
    /// `priority`.
    pub fn new(process: Option<T>, scheduler: Option<T>, memory: Option<T>, priority: u8) -> Self {
        Shell {
            process: process.map(|t| Box::new(ProcessClient::new(t))),
            scheduler: scheduler.map(|t| Box::new(SchedulerClient::new(t))),
            memory: memory.map(|t| Box::new(MemoryClient::new(t))),
            clock: None,
            priority,
            last: None,
            failures: 0,
        }
    }

    /// The shell with `clock` for `top`'s window.
    pub fn with_clock(mut self, clock: Box<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Commands that failed so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Runs one line, writing what it prints to `out`.
    pub fn execute(&mut self, line: &str, out: &mut impl Write) -> Flow {
        let result = match parse(line) {
            Ok(Command::Exit(status)) => {
                return Flow::Exit(status.unwrap_or(self.failures));
            }
            Ok(command) => self.run_command(command, out),
            Err(e) => Err(format!("{e}")),
        };
        if let Err(e) = result {
            self.failures += 1;
            let _ = writeln!(out, "error: {e}");
        }
        Flow::Continue
    }

    fn run_command(&mut self, command: Command<'_>, out: &mut impl Write) -> Result<(), String> {
        match command {
            Command::Nothing | Command::Exit(_) => Ok(()),
            Command::Help => {
                for (usage, what) in HELP {
                    let _ = writeln!(out, "  {usage:<24} {what}");
                }
                Ok(())
            }
            Command::Ps => self.ps(out),
            Command::Run { name, arg, raw } => self.run(name, arg, raw, out),
            Command::Kill(p) => self.kill(p, out),
            Command::Wait(p) => self.wait(p, out),
            Command::Top => self.top(out),
            Command::Free => self.free(out),
        }
    }

    fn process(&mut self) -> Result<&mut ProcessClient<T>, String> {
        self.process
            .as_deref_mut()
            .ok_or_else(|| String::from("no process server"))
    }

    fn pid(&self, p: PidRef) -> Result<u64, String> {
        match p {
            PidRef::Pid(pid) => Ok(pid),
            PidRef::Last => self
                .last
                .ok_or_else(|| String::from("$!: nothing was run yet")),
        }
    }

    fn ps(&mut self, out: &mut impl Write) -> Result<(), String> {
        let entries = self.process()?.list().map_err(refusal)?;
        let _ = writeln!(
            out,
            "{:>7}  {:<8} {:<16} {:>8} {:>10} {:>10} {:>10}",
            "PID", "STATE", "PROGRAM", "GROUP", "CHARGED", "QUOTA", "DEADLINE"
        );
        for e in entries.iter() {
            let _ = writeln!(
                out,
                "{:>7}  {:<8} {:<16} {:>7}K {:>10} {:>10} {:>10}",
                e.pid,
                state_name(e.state),
                e.name.as_str(),
                e.memory >> 10,
                e.charged,
                e.quota,
                e.deadline
            );
        }
        let _ = writeln!(
            out,
            "{} processes (charges, quotas and deadlines in instructions of teardown)",
            entries.len()
        );
        Ok(())
    }

    fn run(&mut self, name: &str, arg: u64, raw: bool, out: &mut impl Write) -> Result<(), String> {
        let program = Name::try_from(name)
            .map_err(|_| format!("\"{name}\" is too long for a program name"))?;
        let args = SpawnArgs {
            memory: match raw {
                true => RAW_MEMORY,
                false => RUN_MEMORY,
            },
            quota: RUN_QUOTA,
            arg,
            priority: self.priority,
            flags: match raw {
                true => 0,
                false => KEEL_RT,
            },
            ..SpawnArgs::default()
        };
        let s = self.process()?.spawn(args, &program).map_err(refusal)?;
        self.last = Some(s.pid);
        let _ = writeln!(
            out,
            "started {name}: pid {}, deadline {} instructions (charged {} of quota {})",
            s.pid, s.deadline, s.charged, RUN_QUOTA
        );
        Ok(())
    }

    fn kill(&mut self, p: PidRef, out: &mut impl Write) -> Result<(), String> {
        let pid = self.pid(p)?;
        let t = self.process()?.kill(pid).map_err(refusal)?;
        let verdict = match t.measured <= t.deadline {
            true => "within its deadline",
            false => "OVER its deadline",
        };
        let _ = writeln!(
            out,
            "killed pid {pid} ({} process(es)): teardown {} counter ticks (instructions under \
             -icount) against a deadline of {} instructions: {verdict} ({}.{}%)",
            t.processes,
            t.measured,
            t.deadline,
            per_mille(t.measured, t.deadline) / 10,
            per_mille(t.measured, t.deadline) % 10
        );
        Ok(())
    }

    fn wait(&mut self, p: PidRef, out: &mut impl Write) -> Result<(), String> {
        let pid = self.pid(p)?;
        let ended = self.process()?.wait(pid).map_err(refusal)?;
        let _ = writeln!(out, "pid {pid} {}", describe(ended));
        Ok(())
    }

    /// The activities' table (keel-protocols' `top`) over one window of
    /// [`TOP_WINDOW_US`] of the clock. Never inlined, and its snapshots
    /// (some 3 KiB each) filled in place on the heap: in `execute`'s frame
    /// they would take that room from every command on a 16 KiB stack.
    #[inline(never)]
    fn top(&mut self, out: &mut impl Write) -> Result<(), String> {
        let Some(s) = self.scheduler.as_deref_mut() else {
            let _ = writeln!(
                out,
                "top: no scheduler server (this shell has no connection to one)"
            );
            return Ok(());
        };
        let Some(clock) = self.clock.as_deref_mut() else {
            let _ = writeln!(out, "top: no clock (this shell has no timer server)");
            return Ok(());
        };
        let refused = |e| format!("the scheduler server refused: {e:?}");
        let unread = || String::from("the timer server could not be read");
        let start = clock.now_us().ok_or_else(unread)?;
        let mut before = Box::<Snapshot>::default();
        before.retake(s, start).map_err(refused)?;
        if !clock.sleep_us(TOP_WINDOW_US) {
            return Err(unread());
        }
        let end = clock.now_us().ok_or_else(unread)?;
        let mut now = Box::<Snapshot>::default();
        now.retake(s, end).map_err(refused)?;
        let _ = write_table(out, 1, &before, &now);
        Ok(())
    }

    fn free(&mut self, out: &mut impl Write) -> Result<(), String> {
        let Some(m) = self.memory.as_deref_mut() else {
            let _ = writeln!(
                out,
                "free: no memory manager (this shell has no connection to one)"
            );
            return Ok(());
        };
        let u = m
            .usage()
            .map_err(|e| format!("the memory manager refused: {e:?}"))?;
        let _ = writeln!(
            out,
            "partition {}K, free {}K in {} blocks (largest {}K); this shell {} pages in {} areas; \
             its activity {} pages",
            u.partition_bytes >> 10,
            u.free_bytes >> 10,
            u.free_blocks,
            u.largest_free >> 10,
            u.client_pages,
            u.areas,
            u.activity_pages
        );
        Ok(())
    }
}

/// Thousandths of `part` over `whole`, for a ratio printed to 0.1%.
fn per_mille(part: u64, whole: u64) -> u64 {
    match whole {
        0 => 0,
        w => u64::try_from(u128::from(part) * 1000 / u128::from(w)).unwrap_or(u64::MAX),
    }
}

/// A list entry's state in a word.
pub fn state_name(state: u64) -> &'static str {
    match state {
        0 => "running",
        how::EXITED => "exited",
        how::KILLED => "killed",
        how::FAULTED => "faulted",
        _ => "?",
    }
}

/// How a process ended, in words.
pub fn describe(ended: Ended) -> String {
    match ended.how {
        how::EXITED => format!("exited with status {}", ended.status),
        how::KILLED => String::from("was killed"),
        how::FAULTED => format!("faulted (fault type {})", ended.status),
        other => format!("ended in an unknown way ({other})"),
    }
}

/// A process-server refusal in words.
fn refusal(e: ProcessError) -> String {
    match e {
        ProcessError::NoSuchProgram => String::from("no program of that name in the boot archive"),
        ProcessError::NoSuchProcess => String::from("no such process (or not yours to act on)"),
        ProcessError::Ended => String::from("that process has already ended"),
        ProcessError::NoMemory => String::from("the process server's pool has no room"),
        other => format!("the process server refused: {other:?}"),
    }
}
