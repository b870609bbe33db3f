//! The kernel console: formatted output to the architecture's serial port.

use crate::arch::{Console, Serial};

/// A `core::fmt::Write` sink that writes to the serial port.
pub struct ConsoleWriter;

impl core::fmt::Write for ConsoleWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                Serial::put_byte(b'\r');
            }
            Serial::put_byte(b);
        }
        Ok(())
    }
}

/// Prints to the kernel console.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = write!($crate::console::ConsoleWriter, $($arg)*);
    }};
}

/// Prints a line to the kernel console.
#[macro_export]
macro_rules! kprintln {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::console::ConsoleWriter, $($arg)*);
    }};
}
