//! The serial server's logic, apart from the system calls so that it runs
//! under `cargo test`: the program, `keel-serial`, drives the UART behind
//! [`Device`] and keeps its clients' notifications behind [`Clients`].
//!
//! [`SerialService`] serves the Serial protocol (`keel_protocols::serial`):
//!
//! - **Output.** `write` appends to a transmit buffer of `TX` bytes, then
//!   [`SerialService::pump`] moves bytes to the UART. A line is begun only
//!   when the transmitter takes its first byte at once (else the server asks
//!   for the transmitter's interrupt and goes on at it); once begun, a line
//!   is sent to its newline without the server blocking, polling the
//!   transmitter between bytes. So the kernel, which writes its own
//!   messages to the same UART, never lands inside a line the server
//!   began (see the README). A write that does not fit in the buffer
//!   first sends the oldest bytes, polling, so nothing is dropped: the
//!   writer waits instead.
//! - **Input.** At a receive interrupt, [`SerialService::interrupt`] reads
//!   the received bytes into [`Lines`] while fewer than `LINES` whole
//!   lines wait; past that it leaves them in the UART and turns its receive
//!   interrupt off until a line is taken, so input waits in the UART (and
//!   in QEMU's backend) rather than being dropped. Each byte taken is
//!   echoed as a terminal's cooked mode echoes it ([`Lines`]: the byte, a
//!   line's end as `\r\n`, a backspace as an erase of the last character),
//!   through the transmit buffer like any output, so an interactive user
//!   sees what they type.
//! - **Readers.** `read_line` takes the oldest whole line, or answers
//!   `NoLine` and records the caller as waiting; when a line arrives every
//!   waiting client's notification is signalled once. A signal that fails
//!   means the client's notification is gone (it died): the client is
//!   forgotten, and the line stays for the next reader.
//!
//! Nothing a client sends makes the server panic or grow: tables are bounded
//! and a full one is an `Rpc(Full)` reply.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod lines;

use heapless::Deque;
use keel_protocols::cap::{Granted, Notification};
use keel_protocols::serial::{Chunk, Line, SerialError, SerialServer};
use keel_protocols::{Caller, RpcError};

pub use lines::{Echo, Fed, Lines};

/// A client, by its badge's client number.
pub type Client = u16;

/// The UART, as the server drives it.
pub trait Device {
    /// Writes `byte` if the transmitter can take one now; false when full.
    fn try_put(&mut self, byte: u8) -> bool;
    /// Writes `byte`, polling until the transmitter can take it.
    fn put(&mut self, byte: u8);
    /// A received byte, if one is waiting.
    fn get(&mut self) -> Option<u8>;
    /// Turns the interrupt that says the transmitter can take more on or off.
    fn tx_interrupt(&mut self, on: bool);
    /// Turns the receive interrupt on or off.
    fn rx_interrupt(&mut self, on: bool);
}

/// The clients' notifications, kept by the program in slots of its own.
pub trait Clients {
    /// Keeps `notification` as `client`'s, replacing one kept before.
    ///
    /// # Errors
    /// `CannotKeep` when it cannot be kept (no slot left, the kernel refused).
    fn keep(
        &mut self,
        client: Client,
        notification: Granted<Notification>,
    ) -> Result<(), SerialError>;
    /// Signals `client`'s notification; false when it has none or the
    /// signal failed (the notification is gone).
    fn signal(&mut self, client: Client) -> bool;
    /// Drops `client`'s notification, if one is kept.
    fn forget(&mut self, client: Client);
}

/// Most clients waiting for a line at once.
pub const WAITERS: usize = 32;

/// The serial server's state: the device, the clients' notifications, `TX`
/// bytes of transmit buffer and `LINES` whole lines of input.
pub struct SerialService<D, K, const TX: usize, const LINES: usize> {
    device: D,
    clients: K,
    tx: Deque<u8, TX>,
    /// A line is begun on the UART and not yet ended.
    mid_line: bool,
    input: Lines<LINES>,
    waiting: heapless::Vec<Client, WAITERS>,
}

impl<D: Device, K: Clients, const TX: usize, const LINES: usize> SerialService<D, K, TX, LINES> {
    /// Nothing buffered; takes what the UART received already and turns
    /// its receive interrupt on.
    pub fn new(device: D, clients: K) -> Self {
        let mut s = SerialService {
            device,
            clients,
            tx: Deque::new(),
            mid_line: false,
            input: Lines::new(),
            waiting: heapless::Vec::new(),
        };
        s.device.tx_interrupt(false);
        s.interrupt();
        s
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.device
    }

    /// The clients' side.
    pub fn clients(&self) -> &K {
        &self.clients
    }

    /// Bytes waiting in the transmit buffer.
    pub fn buffered(&self) -> usize {
        self.tx.len()
    }

    /// The UART interrupted: takes its input, wakes the waiting readers if
    /// a line arrived, and sends what the transmitter can take.
    pub fn interrupt(&mut self) {
        self.receive();
        self.pump();
    }

    /// Sends buffered bytes: a line is begun only when the transmitter
    /// takes its first byte at once, and a begun line is sent to its end.
    /// When the transmitter is full at a line's start, asks for its
    /// interrupt and stops.
    pub fn pump(&mut self) {
        while let Some(&byte) = self.tx.front() {
            if self.mid_line {
                self.device.put(byte);
            } else if !self.device.try_put(byte) {
                self.device.tx_interrupt(true);
                return;
            }
            self.tx.pop_front();
            self.mid_line = byte != b'\n';
        }
        self.device.tx_interrupt(false);
    }

    /// Reads received bytes into lines while there is room, echoing
    /// them; wakes the waiting readers when a line completed.
    fn receive(&mut self) {
        let mut arrived = false;
        while !self.input.full() {
            let Some(byte) = self.device.get() else {
                break;
            };
            let fed = self.input.push(byte);
            arrived |= fed.line;
            self.buffer(&fed.echo);
        }
        self.device.rx_interrupt(!self.input.full());
        if arrived {
            for client in core::mem::take(&mut self.waiting) {
                if !self.clients.signal(client) {
                    self.clients.forget(client);
                }
            }
        }
    }

    /// Appends `bytes` to the transmit buffer; when it is full, first sends
    /// the oldest bytes, polling, so nothing is dropped.
    fn buffer(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if self.tx.is_full() {
                self.send_oldest();
            }
            // Room was made above.
            let _ = self.tx.push_back(byte);
        }
    }

    /// Sends the oldest buffered byte, polling.
    fn send_oldest(&mut self) {
        if let Some(byte) = self.tx.pop_front() {
            self.device.put(byte);
            self.mid_line = byte != b'\n';
        }
    }
}

fn client(caller: &Caller) -> Client {
    caller.badge.client().get()
}

impl<D: Device, K: Clients, const TX: usize, const LINES: usize> SerialServer
    for SerialService<D, K, TX, LINES>
{
    fn write(&mut self, _caller: &Caller, bytes: Chunk) -> Result<(), SerialError> {
        self.buffer(&bytes);
        self.pump();
        Ok(())
    }

    fn notify_with(
        &mut self,
        caller: &Caller,
        notification: Granted<Notification>,
    ) -> Result<(), SerialError> {
        self.clients.keep(client(caller), notification)
    }

    fn read_line(&mut self, caller: &Caller) -> Result<Line, SerialError> {
        let was_full = self.input.full();
        if let Some(line) = self.input.pop() {
            if was_full {
                self.interrupt();
            }
            return Ok(line);
        }
        let c = client(caller);
        if !self.waiting.contains(&c) {
            self.waiting.push(c).map_err(|_| RpcError::Full)?;
        }
        Err(SerialError::NoLine)
    }
}

#[cfg(test)]
mod tests;
