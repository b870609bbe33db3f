//! The Serial protocol's logic against a recording stand-in for the UART
//! and the kernel: output keeps its order and loses nothing whatever the
//! transmitter takes, a line once begun is sent whole, input waits in the
//! UART while the line queue is full, and waiting readers are signalled
//! once per arrival, a gone one forgotten; typed input is echoed as it is
//! taken, erases included, in order with output.

extern crate std;

use super::*;
use keel_abi::CapType;
use keel_protocols::cap::ReceivedCap;
use keel_protocols::{ActivityId, ClientBadge, ClientId, Rights};
use std::collections::VecDeque;
use std::vec::Vec;

/// A UART whose transmitter takes `room` bytes at once until the test
/// empties it, recording what went out and how.
#[derive(Default)]
struct Uart {
    sent: Vec<u8>,
    /// Bytes the transmitter takes without polling; `None`: any number.
    room: Option<usize>,
    /// Bytes written by polling (`put`), in order.
    polled: Vec<u8>,
    input: VecDeque<u8>,
    tx_on: bool,
    rx_on: bool,
}

impl Device for Uart {
    fn try_put(&mut self, byte: u8) -> bool {
        match &mut self.room {
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                self.sent.push(byte);
                true
            }
            None => {
                self.sent.push(byte);
                true
            }
        }
    }
    fn put(&mut self, byte: u8) {
        self.polled.push(byte);
        self.sent.push(byte);
    }
    fn get(&mut self) -> Option<u8> {
        self.input.pop_front()
    }
    fn tx_interrupt(&mut self, on: bool) {
        self.tx_on = on;
    }
    fn rx_interrupt(&mut self, on: bool) {
        self.rx_on = on;
    }
}

#[derive(Default)]
struct Kept {
    kept: Vec<Client>,
    gone: Vec<Client>,
    signals: Vec<Client>,
}

impl Clients for Kept {
    fn keep(&mut self, client: Client, _n: Granted<Notification>) -> Result<(), SerialError> {
        self.kept.retain(|&c| c != client);
        self.kept.push(client);
        Ok(())
    }
    fn signal(&mut self, client: Client) -> bool {
        let alive = self.kept.contains(&client) && !self.gone.contains(&client);
        if alive {
            self.signals.push(client);
        }
        alive
    }
    fn forget(&mut self, client: Client) {
        self.kept.retain(|&c| c != client);
    }
}

type Service = SerialService<Uart, Kept, 64, 2>;

fn service() -> Service {
    SerialService::new(Uart::default(), Kept::default())
}

fn caller(client: u16) -> Caller {
    let badge = ClientBadge::new(ClientId::new(client).unwrap(), ActivityId(1), Rights::NONE);
    Caller {
        badge,
        activity: badge.activity(),
    }
}

fn notification() -> Granted<Notification> {
    Granted::check(ReceivedCap::Transferred {
        cptr: 40,
        kind: CapType::Notification,
    })
    .unwrap()
}

fn chunk(bytes: &[u8]) -> Chunk {
    Chunk::from_slice(bytes).unwrap()
}

#[test]
fn output_keeps_order_and_loses_nothing_past_the_buffer() {
    let mut s = service();
    let mut expected = Vec::new();
    for i in 0..40u8 {
        let line: Vec<u8> = (0..9).map(|k| b'a' + (i + k) % 26).chain([b'\n']).collect();
        s.write(&caller(1), chunk(&line)).unwrap();
        expected.extend(line);
    }
    assert_eq!(s.device().sent, expected);
    assert_eq!(s.buffered(), 0);
    assert!(!s.device().tx_on);
}

#[test]
fn a_line_begins_only_when_the_transmitter_has_room_and_then_goes_out_whole() {
    let mut s = service();
    s.device.room = Some(1);
    s.write(&caller(1), chunk(b"hello\nworld\n")).unwrap();
    // The first byte taken at once, the rest of the line polled; then the
    // transmitter is full at the next line's start: wait for its interrupt.
    assert_eq!(s.device().sent, b"hello\n");
    assert_eq!(s.device().polled, b"ello\n");
    assert!(s.device().tx_on);
    assert_eq!(s.buffered(), 6);
    s.device.room = None;
    s.interrupt();
    assert_eq!(s.device().sent, b"hello\nworld\n");
    assert!(!s.device().tx_on);
}

#[test]
fn a_write_past_a_full_buffer_sends_the_oldest_first() {
    let mut s = service();
    s.device.room = Some(0);
    let mut bytes = [b'a'; 100];
    bytes[35] = b'\n';
    bytes[36..].fill(b'b');
    s.write(&caller(1), chunk(&bytes)).unwrap();
    // The oldest 36 bytes went out, polled, ending a line; the next line
    // waits for the transmitter.
    assert_eq!(s.buffered(), 64);
    assert_eq!(s.device().sent, bytes[..36]);
    assert!(s.device().tx_on);
    s.device.room = None;
    s.interrupt();
    assert_eq!(s.device().sent, bytes);
}

#[test]
fn lines_go_to_whoever_asks_first_oldest_first() {
    let mut s = service();
    assert_eq!(s.read_line(&caller(1)), Err(SerialError::NoLine));
    s.device.input.extend(b"first\r\nsecond\n");
    s.interrupt();
    assert_eq!(s.read_line(&caller(2)).unwrap().as_slice(), b"first");
    assert_eq!(s.read_line(&caller(1)).unwrap().as_slice(), b"second");
    assert_eq!(s.read_line(&caller(1)), Err(SerialError::NoLine));
}

#[test]
fn waiting_readers_are_signalled_once_per_arrival() {
    let mut s = service();
    s.notify_with(&caller(1), notification()).unwrap();
    s.notify_with(&caller(2), notification()).unwrap();
    assert_eq!(s.read_line(&caller(1)), Err(SerialError::NoLine));
    assert_eq!(s.read_line(&caller(1)), Err(SerialError::NoLine));
    s.device.input.extend(b"partial");
    s.interrupt();
    assert!(s.clients().signals.is_empty(), "no whole line yet");
    s.device.input.extend(b"\nmore\n");
    s.interrupt();
    assert_eq!(s.clients().signals, [1], "client 2 was not waiting");
    s.device.input.extend(b"x\n");
    s.interrupt();
    assert_eq!(
        s.clients().signals,
        [1],
        "signalled once, until it asks again"
    );
}

#[test]
fn a_gone_reader_is_forgotten_and_its_line_stays() {
    let mut s = service();
    s.notify_with(&caller(3), notification()).unwrap();
    assert_eq!(s.read_line(&caller(3)), Err(SerialError::NoLine));
    s.clients.gone.push(3);
    s.device.input.extend(b"for whoever asks\n");
    s.interrupt();
    assert!(s.clients().kept.is_empty());
    assert_eq!(
        s.read_line(&caller(4)).unwrap().as_slice(),
        b"for whoever asks"
    );
}

#[test]
fn input_waits_in_the_uart_while_the_line_queue_is_full() {
    let mut s = service();
    assert!(s.device().rx_on);
    s.device.input.extend(b"a\nb\nc\nd\n");
    s.interrupt();
    assert!(!s.device().rx_on, "two lines wait: receiving stops");
    assert_eq!(s.device().input.len(), 4);
    assert_eq!(s.read_line(&caller(1)).unwrap().as_slice(), b"a");
    assert_eq!(s.device().input.len(), 2, "taking a line reads the next");
    for want in [b"b", b"c", b"d"] {
        assert_eq!(s.read_line(&caller(1)).unwrap().as_slice(), want);
    }
    assert!(s.device().rx_on);
}

#[test]
fn too_many_waiters_is_full() {
    let mut s = service();
    for c in 1..=WAITERS as u16 {
        assert_eq!(s.read_line(&caller(c)), Err(SerialError::NoLine));
    }
    assert_eq!(
        s.read_line(&caller(WAITERS as u16 + 1)),
        Err(SerialError::Rpc(RpcError::Full))
    );
}

#[test]
fn typed_input_is_echoed_as_it_is_taken_with_erases() {
    let mut s = service();
    s.device.input.extend(b"lx\x7fs -l\r\n");
    s.interrupt();
    assert_eq!(s.device().sent, b"lx\x08 \x08s -l\r\n");
    assert_eq!(s.read_line(&caller(1)).unwrap().as_slice(), b"ls -l");
    // Echo and output share the transmit buffer, in the order they came.
    s.device.input.extend(b"ec");
    s.interrupt();
    s.write(&caller(1), chunk(b"[out]\n")).unwrap();
    s.device.input.extend(b"ho\n");
    s.interrupt();
    assert_eq!(s.device().sent, b"lx\x08 \x08s -l\r\nec[out]\nho\r\n");
    assert_eq!(s.read_line(&caller(1)).unwrap().as_slice(), b"echo");
}

#[test]
fn input_left_in_the_uart_is_echoed_only_when_taken() {
    let mut s = service();
    s.device.input.extend(b"a\nb\nc\n");
    s.interrupt();
    assert_eq!(s.device().sent, b"a\r\nb\r\n", "two lines fill the queue");
    assert_eq!(s.read_line(&caller(1)).unwrap().as_slice(), b"a");
    assert_eq!(s.device().sent, b"a\r\nb\r\nc\r\n");
}
