//! `print!` and `println!`.
//!
//! In the root task (and programs started with a BootInfo page) they write
//! to the kernel console through the Debug cap in the root task's slot for
//! it (`keel_sys::cap::init_thread::DEBUG`; an output-only copy, with the
//! write right alone, is enough), byte by byte as they format; a program
//! without the cap prints nothing.
//!
//! In a process init started, output is cut into lines and each line goes
//! out whole: to the console server, through the connection named
//! `"console"` (the first line first sets the process's tag to its name), or
//! without one through the process's own Debug cap, or nowhere. The
//! process's threads print under one lock, so one `println!` is one line
//! however threads are preempted; a line longer than
//! `keel_protocols::console::LINE_MAX` bytes goes out in pieces, and
//! control characters, which a console line may not hold, are shown as
//! U+FFFD (a tab as a space). What is left of a line without its newline
//! goes out at [`flush`] and when the process ends.

use core::fmt::Write as _;

use keel_protocols::console::{ConsoleClient, Line, Tag, TAG_MAX};
use keel_protocols::sys::EndpointClient;
use keel_sys::cap::{init_thread, Debug};
use keel_sys::Cap;

use crate::lock::Locked;
use crate::process::slot;
use crate::ProcessInfo;

/// A `core::fmt::Write` sink for the kernel console through the root
/// task's Debug cap slot.
pub struct DebugConsole;

impl core::fmt::Write for DebugConsole {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        init_thread::DEBUG
            .debug_put_str(s)
            .map_err(|_| core::fmt::Error)
    }
}

/// Where a process's lines go. The console client holds its two message
/// buffers inline: a process has one sink, in a static, and a panic's
/// report can make one without allocating.
#[allow(clippy::large_enum_variant)]
enum Sink {
    /// The console server; `tagged` once the tag is set.
    Console {
        client: ConsoleClient<EndpointClient>,
        tagged: bool,
    },
    /// The kernel console, through the process's Debug cap.
    Kernel(Cap<Debug>),
    /// Nowhere: the process has neither.
    Nowhere,
}

impl Sink {
    /// The best sink `info` names.
    fn of(info: &ProcessInfo) -> Sink {
        let console = crate::process::connect(info, "console");
        match (console, info.slots.debug) {
            (Some(endpoint), _) => Sink::Console {
                client: ConsoleClient::new(endpoint),
                tagged: false,
            },
            (None, Some(debug)) => Sink::Kernel(slot(debug)),
            (None, None) => Sink::Nowhere,
        }
    }

    /// Writes one line (without its newline) for the program `name`. A
    /// line that is refused is lost: printing has no one to report to.
    fn write_line(&mut self, name: &str, line: &Line) {
        match self {
            Sink::Console { client, tagged } => {
                if !*tagged {
                    *tagged = true;
                    let _ = client.set_tag(&tag_of(name));
                }
                let _ = client.write_line(line);
            }
            Sink::Kernel(debug) => {
                let _ = debug.debug_put_str(line);
                let _ = debug.debug_put_str("\n");
            }
            Sink::Nowhere => {}
        }
    }

    /// Waits until the lines written have gone out (the kernel console
    /// writes them at once).
    fn flush(&mut self) {
        if let Sink::Console { client, .. } = self {
            let _ = client.flush();
        }
    }
}

/// The longest start of `name` that fits in a tag.
fn tag_of(name: &str) -> Tag {
    let mut end = name.len().min(TAG_MAX);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    Tag::try_from(&name[..end]).unwrap_or_default()
}

/// A process's output: its sink, chosen at the first line, and the line
/// being built.
struct LineWriter {
    sink: Option<Sink>,
    line: Line,
}

impl LineWriter {
    const fn new() -> Self {
        LineWriter {
            sink: None,
            line: Line::new(),
        }
    }

    /// Sends the line built so far and starts the next.
    fn emit(&mut self) {
        let Some(info) = crate::process_info() else {
            return;
        };
        self.sink
            .get_or_insert_with(|| Sink::of(info))
            .write_line(&info.name, &self.line);
        self.line.clear();
    }

    /// Sends what is left of a line and waits until it has gone out.
    fn flush(&mut self) {
        if !self.line.is_empty() {
            self.emit();
        }
        if let Some(sink) = &mut self.sink {
            sink.flush();
        }
    }
}

impl core::fmt::Write for LineWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for c in s.chars() {
            let c = match c {
                '\n' => {
                    self.emit();
                    continue;
                }
                '\t' => ' ',
                c if c.is_control() => char::REPLACEMENT_CHARACTER,
                c => c,
            };
            if self.line.push(c).is_err() {
                self.emit();
                // An empty line holds any one character.
                let _ = self.line.push(c);
            }
        }
        Ok(())
    }
}

/// The output of a process's threads.
static OUTPUT: Locked<LineWriter> = Locked::new(LineWriter::new());

/// Prints `args` (the body of [`print!`] and [`println!`]).
#[doc(hidden)]
pub fn _print(args: core::fmt::Arguments) {
    if crate::process_info().is_some() {
        OUTPUT.with(|out| {
            let _ = out.write_fmt(args);
        });
    } else {
        let _ = DebugConsole.write_fmt(args);
    }
}

/// In a process, sends what is left of a line without its newline and
/// waits until the console server has written every line; the root
/// task's output is written as it is printed.
pub fn flush() {
    if crate::process_info().is_some() {
        OUTPUT.with(LineWriter::flush);
    }
}

/// Prints a panic's message in a process, and flushes. It takes the output
/// lock only if it is free: the panic may have come from inside a print
/// (a `Display` that panicked) or while another thread prints, so when the
/// lock is taken the message goes out through a writer of its own (whole
/// lines still: the console server writes each as one).
pub(crate) fn print_panic(panic: &core::panic::PanicInfo) {
    let report = |out: &mut LineWriter| {
        let _ = writeln!(out, "panic: {panic}");
        out.flush();
    };
    if OUTPUT.try_with(report).is_none() {
        report(&mut LineWriter::new());
    }
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::print::_print(core::format_args!($($arg)*))
    };
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    () => {
        $crate::print::_print(core::format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::print::_print(core::format_args!("{}\n", core::format_args!($($arg)*)))
    };
}
