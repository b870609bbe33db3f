//! The shell's command language: one command per line, words split by
//! spaces, `#` starting a comment. This module only turns a line into a
//! [`Command`] or a [`ParseError`] that says what is wrong; it runs
//! nothing (see `exec`).
//!
//! ```text
//!  ps                     processes, with group, charge, quota
//!  run [--raw] NAME [ARG] spawn program NAME (ARG: its argument word)
//!  kill PID | kill $!     end a process, report teardown against deadline
//!  wait PID | wait $!     wait for a process to end
//!  top                    per-activity CPU use (scheduler server)
//!  free                   memory use (memory manager)
//!  help                   this list
//!  exit [STATUS]          leave the shell
//! ```

use core::fmt;

/// A process named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidRef {
    /// A pid, as `ps` shows it.
    Pid(u64),
    /// `$!`: the last process `run` started.
    Last,
}

/// A parsed command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// An empty line or a comment.
    Nothing,
    /// `ps`.
    Ps,
    /// `run [--raw] NAME [ARG]`.
    Run {
        /// The program's name in the boot archive.
        name: &'a str,
        /// Its argument word (0 when not given).
        arg: u64,
        /// `--raw`: not a keel-rt program (ARG goes to its first register).
        raw: bool,
    },
    /// `kill PID`.
    Kill(PidRef),
    /// `wait PID`.
    Wait(PidRef),
    /// `top`.
    Top,
    /// `free`.
    Free,
    /// `help`.
    Help,
    /// `exit [STATUS]`.
    Exit(Option<u32>),
}

/// Why a line is not a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError<'a> {
    /// The first word is no command.
    Unknown(&'a str),
    /// A command lacks an argument (named).
    Missing {
        /// The command.
        command: &'static str,
        /// What it needs.
        what: &'static str,
    },
    /// A word that should be a number is not one (decimal or 0x hex).
    NotANumber(&'a str),
    /// A command was given more words than it takes.
    TooMany {
        /// The command.
        command: &'static str,
        /// The first extra word.
        extra: &'a str,
    },
    /// An option the command does not know.
    BadOption(&'a str),
}

impl fmt::Display for ParseError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Unknown(w) => write!(f, "unknown command \"{w}\" (try help)"),
            ParseError::Missing { command, what } => write!(f, "{command} needs {what}"),
            ParseError::NotANumber(w) => {
                write!(f, "\"{w}\" is not a number (decimal, or hex with 0x)")
            }
            ParseError::TooMany { command, extra } => {
                write!(
                    f,
                    "{command} takes no more arguments (\"{extra}\" is extra)"
                )
            }
            ParseError::BadOption(w) => write!(f, "unknown option \"{w}\""),
        }
    }
}

/// The commands and what they do, for `help`.
pub const HELP: &[(&str, &str)] = &[
    (
        "ps",
        "list processes: pid, state, group, quota charged, deadline",
    ),
    (
        "run [--raw] NAME [ARG]",
        "start program NAME of the boot archive; prints its pid and deadline",
    ),
    (
        "kill PID",
        "end a process; prints its teardown against its deadline",
    ),
    ("wait PID", "wait until a process ends; prints how"),
    ("top", "CPU use per activity (from the scheduler server)"),
    ("free", "memory use (from the memory manager)"),
    ("help", "this list"),
    ("exit [STATUS]", "leave the shell"),
];

/// A number: decimal, or hex after `0x`.
pub fn number(word: &str) -> Result<u64, ParseError<'_>> {
    let parsed = match word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => word.parse(),
    };
    parsed.map_err(|_| ParseError::NotANumber(word))
}

fn pid<'a>(command: &'static str, word: Option<&'a str>) -> Result<PidRef, ParseError<'a>> {
    match word {
        None => Err(ParseError::Missing {
            command,
            what: "a pid (or $! for the last one run)",
        }),
        Some("$!") => Ok(PidRef::Last),
        Some(w) => number(w).map(PidRef::Pid),
    }
}

fn end<'a>(
    command: &'static str,
    mut rest: impl Iterator<Item = &'a str>,
) -> Result<(), ParseError<'a>> {
    match rest.next() {
        Some(extra) => Err(ParseError::TooMany { command, extra }),
        None => Ok(()),
    }
}

/// Parses one line.
///
/// # Errors
/// What is wrong with it, as a [`ParseError`].
pub fn parse(line: &str) -> Result<Command<'_>, ParseError<'_>> {
    let line = line.split('#').next().unwrap_or("");
    let mut words = line.split_whitespace();
    let Some(first) = words.next() else {
        return Ok(Command::Nothing);
    };
    let command = match first {
        "ps" => Command::Ps,
        "top" => Command::Top,
        "free" => Command::Free,
        "help" => Command::Help,
        "kill" => Command::Kill(pid("kill", words.next())?),
        "wait" => Command::Wait(pid("wait", words.next())?),
        "exit" => match words.next() {
            Some(w) => Command::Exit(Some(
                number(w)?
                    .try_into()
                    .map_err(|_| ParseError::NotANumber(w))?,
            )),
            None => Command::Exit(None),
        },
        "run" => {
            let mut raw = false;
            let mut name = words.next();
            while let Some(option) = name.filter(|w| w.starts_with("--")) {
                match option {
                    "--raw" => raw = true,
                    other => return Err(ParseError::BadOption(other)),
                }
                name = words.next();
            }
            let name = name.ok_or(ParseError::Missing {
                command: "run",
                what: "a program name",
            })?;
            let arg = words.next().map(number).transpose()?.unwrap_or(0);
            Command::Run { name, arg, raw }
        }
        other => return Err(ParseError::Unknown(other)),
    };
    let name = match command {
        Command::Ps => "ps",
        Command::Top => "top",
        Command::Free => "free",
        Command::Help => "help",
        Command::Kill(_) => "kill",
        Command::Wait(_) => "wait",
        Command::Exit(_) => "exit",
        Command::Run { .. } => "run",
        Command::Nothing => "",
    };
    end(name, words)?;
    Ok(command)
}
