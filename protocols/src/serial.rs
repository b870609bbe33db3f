//! The serial protocol: clients of the serial server (which owns the UART)
//! write bytes to its transmit buffer and read the lines that arrive on its
//! input. A read never blocks the server: a client with no whole line
//! waiting gets `NoLine`, and the server signals the notification it handed
//! over (`notify_with`) when the next line arrives, once; then the client
//! asks again. Lines go to whichever client asks first, oldest first. This
//! module is the contract; the server implements [`SerialServer`] (its
//! logic is keel-serial-core's).
//!
//! ```text
//!  client                                serial server (owns the UART)
//!   |-- Call notify_with(cap notification) -->| keeps it in a spare slot
//!   |-- Call write(bytes) ------------------->| into the transmit buffer, out
//!   |<-------------------------- reply () ----|  whole lines at a time
//!   |-- Call read_line() -------------------->| none yet: the client waits
//!   |<------------------- NoLine -------------|
//!   |-- Wait on the notification              |<- receive interrupt: a line
//!   |<------------------- Signal -------------|
//!   |-- Call read_line() -------------------->|
//!   |<------------------- the line -----------|
//! ```
//!
//! A client that dies while it waits leaves nothing behind in the server:
//! its notification goes with its memory (the server's copy is derived from
//! it), the server's signal to it fails, and the server forgets it; the line
//! stays for the next reader.

use crate::cap::Notification;
use crate::client::Transport;
use crate::protocol;

/// Most bytes in one `write`.
pub const CHUNK_MAX: usize = 512;
/// Most bytes in one line read (a longer input line arrives in pieces).
pub const LINE_MAX: usize = 256;
/// Spare slots init gives the serial server, for its clients' notifications.
pub const SPARE_SLOTS: u64 = 32;

/// Bytes to write.
pub type Chunk = crate::List<u8, CHUNK_MAX>;
/// A line of input, without its line ending.
pub type Line = crate::List<u8, LINE_MAX>;

protocol! {
    /// A client of the serial server.
    protocol Serial {
        id: 5,
        version: 1,
        client: SerialClient,
        server: SerialServer,
        error: SerialError {
            /// No whole line is waiting: wait for the signal of the
            /// notification handed over with `notify_with`, then ask again.
            NoLine = 1,
            /// The server could not keep the notification.
            CannotKeep = 2,
        },
        ops: {
            /// Queues `bytes` for the UART, in order after every byte queued
            /// before; returns once they are in the transmit buffer.
            1 => write(data bytes: Chunk) -> fixed ();
            /// The notification the server signals when a line arrives
            /// while the client waits for one; replaces one handed over before.
            2 => notify_with(cap notification: Notification) -> fixed ();
            /// Takes the oldest whole line of input; `NoLine` when there is
            /// none (the client then counts as waiting for one).
            3 => read_line() -> data Line;
        }
    }
}

impl<T: Transport> SerialClient<T> {
    /// Writes all of `bytes`, in pieces of at most [`CHUNK_MAX`].
    ///
    /// # Errors
    /// The first error of a `write`; the pieces before it were queued.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), SerialError> {
        for piece in bytes.chunks(CHUNK_MAX) {
            let chunk = Chunk::from_slice(piece).map_err(|_| crate::RpcError::TooLong)?;
            self.write(&chunk)?;
        }
        Ok(())
    }
}

/// Lines in the burst SERIAL0002 writes through the serial server (64 KiB
/// in all) and the build tool checks, in order and whole.
pub const BURST_LINES: u32 = 1024;
/// Bytes of each burst line, its newline included.
pub const BURST_LINE_BYTES: usize = 64;

/// Burst line `i`: `burst NNNN ` and 52 letters and digits that shift with
/// `i`, then a newline, so a lost, repeated, reordered or torn line shows.
pub fn burst_line(i: u32) -> [u8; BURST_LINE_BYTES] {
    const SYMBOLS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut line = [b'\n'; BURST_LINE_BYTES];
    line[..6].copy_from_slice(b"burst ");
    let mut n = i % 10_000;
    for d in (6..10).rev() {
        line[d] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    line[10] = b' ';
    for (k, b) in line[11..BURST_LINE_BYTES - 1].iter_mut().enumerate() {
        *b = SYMBOLS[(i as usize * 7 + k) % SYMBOLS.len()];
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_lines_differ_and_end_in_a_newline() {
        let a = burst_line(0);
        let b = burst_line(1);
        assert_ne!(a, b);
        assert!(a.starts_with(b"burst 0000 0123456"));
        assert!(burst_line(1023).starts_with(b"burst 1023 "));
        assert_eq!(a[BURST_LINE_BYTES - 1], b'\n');
        assert!(!a[..BURST_LINE_BYTES - 1].contains(&b'\n'));
        assert_eq!(BURST_LINES as usize * BURST_LINE_BYTES, 64 * 1024);
    }
}
