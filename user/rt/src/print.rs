//! `print!` and `println!` to the kernel console, through the program's
//! Debug cap (`keel_sys::cap::init_thread::DEBUG`; an output-only copy, with
//! the write right alone, is enough). Until a console server exists this is
//! how every program prints; one without the cap prints nothing.

use keel_sys::cap::init_thread;

/// A `core::fmt::Write` sink for the debug console.
pub struct DebugConsole;

impl core::fmt::Write for DebugConsole {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        init_thread::DEBUG
            .debug_put_str(s)
            .map_err(|_| core::fmt::Error)
    }
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = write!($crate::print::DebugConsole, $($arg)*);
    }};
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::print::DebugConsole, $($arg)*);
    }};
}
