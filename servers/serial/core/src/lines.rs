//! Input assembled into lines: bytes from the UART go in one at a time;
//! a carriage return, a newline, or the pair `\r\n` (as terminals and
//! files send them) ends a line, and a line that reaches
//! [`LINE_MAX`](keel_protocols::serial::LINE_MAX) bytes is ended there (the rest comes as the next line).
//! At most `N` whole lines wait to be taken; the caller stops feeding bytes
//! while the queue is [`Lines::full`], so none is dropped.
//!
//! As a terminal's cooked mode does, a backspace (`\x08`, or DEL `\x7f`,
//! which most terminals send for the key) erases the last character of the
//! line being typed (every byte of a UTF-8 character), and each byte says
//! what to echo back so the typist sees the line: the byte itself, `\r\n`
//! for a line's end, `\x08 \x08` for an erase.

use heapless::Deque;
use keel_protocols::serial::Line;

/// What a terminal shows for one byte fed: at most three bytes.
pub type Echo = heapless::Vec<u8, 3>;

/// The echo of an erase: back one column, blank it, back again.
const ERASE_ECHO: &[u8] = b"\x08 \x08";

/// What feeding one byte did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fed {
    /// It completed a line.
    pub line: bool,
    /// What to echo for it: nothing for a refused byte, the `\n` of a
    /// `\r\n` pair, or an erase with nothing to erase.
    pub echo: Echo,
}

impl Fed {
    fn echo(line: bool, bytes: &[u8]) -> Fed {
        Fed {
            line,
            // Every echo is at most three bytes.
            echo: Echo::from_slice(bytes).unwrap_or_default(),
        }
    }
}

/// The line being typed and the whole lines waiting to be taken.
#[derive(Default)]
pub struct Lines<const N: usize> {
    current: Line,
    ready: Deque<Line, N>,
    after_cr: bool,
}

impl<const N: usize> Lines<N> {
    /// No input yet.
    pub const fn new() -> Self {
        Lines {
            current: Line::new(),
            ready: Deque::new(),
            after_cr: false,
        }
    }

    /// True when `N` whole lines wait: take one before feeding more.
    pub fn full(&self) -> bool {
        self.ready.is_full()
    }

    /// Whole lines waiting.
    pub fn waiting(&self) -> usize {
        self.ready.len()
    }

    /// Feeds one byte: whether it completed a line, and what to echo. A
    /// byte fed while [`Lines::full`] is refused (nothing done) and must
    /// be fed again later.
    pub fn push(&mut self, byte: u8) -> Fed {
        if self.full() {
            return Fed::default();
        }
        let after_cr = core::mem::replace(&mut self.after_cr, byte == b'\r');
        match byte {
            b'\n' if after_cr => Fed::default(),
            b'\r' | b'\n' => Fed::echo(self.end_line(), b"\r\n"),
            0x08 | 0x7f => match self.erase() {
                true => Fed::echo(false, ERASE_ECHO),
                false => Fed::default(),
            },
            _ => {
                // `current` has room: a full one was ended at its last push.
                let _ = self.current.push(byte);
                Fed::echo(self.current.is_full() && self.end_line(), &[byte])
            }
        }
    }

    /// The line being typed, so far.
    pub fn typed(&self) -> &[u8] {
        &self.current
    }

    /// Erases the last character of the line being typed (all its UTF-8
    /// bytes); false when the line is empty.
    fn erase(&mut self) -> bool {
        while let Some(b) = self.current.pop() {
            // A continuation byte (0b10xx_xxxx): its character goes on below.
            if b & 0xc0 != 0x80 {
                return true;
            }
        }
        false
    }

    /// Takes the oldest whole line.
    pub fn pop(&mut self) -> Option<Line> {
        self.ready.pop_front()
    }

    fn end_line(&mut self) -> bool {
        let line = core::mem::take(&mut self.current);
        // The caller checked `full` before this push.
        self.ready.push_back(line).is_ok()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use keel_protocols::serial::LINE_MAX;

    fn feed<const N: usize>(lines: &mut Lines<N>, bytes: &[u8]) -> usize {
        bytes.iter().filter(|&&b| lines.push(b).line).count()
    }

    /// Everything echoed for `bytes`.
    fn echoed<const N: usize>(lines: &mut Lines<N>, bytes: &[u8]) -> std::vec::Vec<u8> {
        bytes.iter().flat_map(|&b| lines.push(b).echo).collect()
    }

    #[test]
    fn every_line_ending_ends_one_line() {
        let mut l: Lines<8> = Lines::new();
        assert_eq!(feed(&mut l, b"one\ntwo\r\nthree\rfour"), 3);
        assert_eq!(l.pop().unwrap().as_slice(), b"one");
        assert_eq!(l.pop().unwrap().as_slice(), b"two");
        assert_eq!(l.pop().unwrap().as_slice(), b"three");
        assert!(l.pop().is_none());
        assert_eq!(feed(&mut l, b"\n\n"), 2);
        assert_eq!(l.pop().unwrap().as_slice(), b"four");
        assert_eq!(l.pop().unwrap().as_slice(), b"");
    }

    #[test]
    fn a_long_line_comes_in_pieces() {
        let mut l: Lines<4> = Lines::new();
        let long = [b'x'; LINE_MAX + 3];
        assert_eq!(feed(&mut l, &long), 1);
        assert_eq!(feed(&mut l, b"\n"), 1);
        assert_eq!(l.pop().unwrap().len(), LINE_MAX);
        assert_eq!(l.pop().unwrap().as_slice(), b"xxx");
    }

    #[test]
    fn a_full_queue_refuses_bytes_until_a_line_is_taken() {
        let mut l: Lines<2> = Lines::new();
        assert_eq!(feed(&mut l, b"a\nb\n"), 2);
        assert!(l.full());
        assert_eq!(l.push(b'c'), Fed::default());
        assert_eq!(l.waiting(), 2);
        assert_eq!(l.pop().unwrap().as_slice(), b"a");
        assert_eq!(feed(&mut l, b"c\n"), 1);
        assert_eq!(l.pop().unwrap().as_slice(), b"b");
        assert_eq!(l.pop().unwrap().as_slice(), b"c");
    }

    #[test]
    fn typed_bytes_echo_and_line_ends_echo_cr_lf() {
        let mut l: Lines<4> = Lines::new();
        assert_eq!(echoed(&mut l, b"ls -l\r\n"), b"ls -l\r\n");
        assert_eq!(echoed(&mut l, b"a\nb\r"), b"a\r\nb\r\n");
        assert_eq!(l.pop().unwrap().as_slice(), b"ls -l");
        assert_eq!(l.pop().unwrap().as_slice(), b"a");
        assert_eq!(l.pop().unwrap().as_slice(), b"b");
    }

    #[test]
    fn backspace_erases_the_last_character_of_the_line() {
        let mut l: Lines<4> = Lines::new();
        assert_eq!(echoed(&mut l, b"hellp\x08o"), b"hellp\x08 \x08o");
        assert_eq!(l.typed(), b"hello");
        // DEL erases too; on an empty line an erase does and echoes nothing.
        assert_eq!(
            echoed(&mut l, b"\x7f\x7f\x7f\x7f\x7f\x7f\x7f"),
            b"\x08 \x08".repeat(5)
        );
        assert_eq!(l.typed(), b"");
        assert_eq!(echoed(&mut l, b"ok\n"), b"ok\r\n");
        assert_eq!(l.pop().unwrap().as_slice(), b"ok");
        // An erase never reaches a line already ended.
        assert_eq!(echoed(&mut l, b"\x08x\n"), b"x\r\n");
        assert_eq!(l.pop().unwrap().as_slice(), b"x");
    }

    #[test]
    fn backspace_erases_a_whole_utf8_character() {
        let mut l: Lines<4> = Lines::new();
        let typed = "na\u{ef}ve\u{20ac}".as_bytes();
        feed(&mut l, typed);
        assert_eq!(echoed(&mut l, b"\x08"), b"\x08 \x08");
        assert_eq!(l.typed(), "na\u{ef}ve".as_bytes());
        feed(&mut l, b"\x08\x08\x08");
        assert_eq!(l.typed(), b"na");
    }

    #[test]
    fn a_cr_lf_pair_ends_one_line_and_an_erase_breaks_the_pair() {
        let mut l: Lines<4> = Lines::new();
        assert_eq!(echoed(&mut l, b"a\r\x08\n"), b"a\r\n\r\n");
        assert_eq!(l.waiting(), 2);
    }
}
