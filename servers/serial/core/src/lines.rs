//! Input assembled into lines: bytes from the UART go in one at a time;
//! a carriage return, a newline, or the pair `\r\n` (as terminals and
//! files send them) ends a line, and a line that reaches
//! [`LINE_MAX`](keel_protocols::serial::LINE_MAX) bytes is ended there (the rest comes as the next line).
//! At most `N` whole lines wait to be taken; the caller stops feeding bytes
//! while the queue is [`Lines::full`], so none is dropped.

use heapless::Deque;
use keel_protocols::serial::Line;

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

    /// Feeds one byte; true when it completed a line. A byte fed while
    /// [`Lines::full`] is refused (false) and must be fed again later.
    pub fn push(&mut self, byte: u8) -> bool {
        if self.full() {
            return false;
        }
        let after_cr = core::mem::replace(&mut self.after_cr, byte == b'\r');
        match byte {
            b'\n' if after_cr => false,
            b'\r' | b'\n' => self.end_line(),
            _ => {
                // `current` has room: a full one was ended at its last push.
                let _ = self.current.push(byte);
                self.current.is_full() && self.end_line()
            }
        }
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
    use super::*;
    use keel_protocols::serial::LINE_MAX;

    fn feed<const N: usize>(lines: &mut Lines<N>, bytes: &[u8]) -> usize {
        bytes.iter().filter(|&&b| lines.push(b)).count()
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
        assert!(!l.push(b'c'));
        assert_eq!(l.waiting(), 2);
        assert_eq!(l.pop().unwrap().as_slice(), b"a");
        assert_eq!(feed(&mut l, b"c\n"), 1);
        assert_eq!(l.pop().unwrap().as_slice(), b"b");
        assert_eq!(l.pop().unwrap().as_slice(), b"c");
    }
}
