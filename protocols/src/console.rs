//! The console protocol: clients write lines of text, each shown with the
//! tag its client chose, and may wait until what they wrote has gone out.
//! This module is the contract (operations, bounds, what a valid line and tag
//! are); the console server implements [`ConsoleServer`].
//!
//! ```text
//!  init                        client                      console (passive)
//!   | holds the endpoint;        |                              | Recv on the endpoint
//!   | mints one cap per client   |                              | with its Reply object
//!   |-- ep cap, badge ---------->|                              |
//!   |   (client, activity)       |-- Call write_line(text) ---->| runs on the client's
//!   |                            |<-------------- reply () -----|  donated SchedContext
//!   |                            |-- Call set_tag(tag) -------->|
//!   |                            |<--- reply () or Full --------| (tag table is bounded)
//! ```

use crate::client::Transport;
use crate::protocol;

/// Most bytes in one line.
pub const LINE_MAX: usize = 200;
/// Most bytes in a tag.
pub const TAG_MAX: usize = 16;

/// One line of text.
pub type Line = crate::Text<LINE_MAX>;
/// A client's tag.
pub type Tag = crate::Text<TAG_MAX>;

/// True when `text` may be written as a line: no control characters (a
/// request carries one line, so no newline either).
pub fn valid_line(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

/// True when `tag` may name a client: non-empty, and visible characters only.
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty() && !tag.chars().any(|c| c.is_control() || c.is_whitespace())
}

protocol! {
    /// A client of the console server.
    protocol Console {
        id: 1,
        version: 1,
        client: ConsoleClient,
        server: ConsoleServer,
        error: ConsoleError {
            /// The line holds a control character (see [`valid_line`]).
            ControlCharacter = 1,
            /// The tag is empty or holds an invisible character (see [`valid_tag`]).
            BadTag = 2,
        },
        ops: {
            /// Writes one line, shown with the client's tag.
            1 => write_line(data text: Line) -> fixed ();
            /// Returns once every line written so far has gone out.
            2 => flush() -> fixed ();
            /// Sets the tag the client's lines are shown with.
            3 => set_tag(data tag: Tag) -> fixed ();
        }
    }
}

impl<T: Transport> ConsoleClient<T> {
    /// Writes `text` as lines: one per `\n`-separated part, each part split
    /// into pieces of at most [`LINE_MAX`] bytes on character boundaries.
    ///
    /// # Errors
    /// The first error of a `write_line`; the lines before it were written.
    pub fn write_text(&mut self, text: &str) -> Result<(), ConsoleError> {
        for mut part in text.split('\n') {
            loop {
                let mut end = part.len().min(LINE_MAX);
                while !part.is_char_boundary(end) {
                    end -= 1;
                }
                let (piece, rest) = part.split_at(end);
                let line = Line::try_from(piece).map_err(|_| crate::RpcError::TooLong)?;
                self.write_line(&line)?;
                if rest.is_empty() {
                    break;
                }
                part = rest;
            }
        }
        Ok(())
    }
}
