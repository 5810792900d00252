//! The stdin reader for pipe mode: splits input into messages on a separator byte
//! and hands them to the session in batches, one batch per read.
//!
//! Messages are zero-copy slices of the chunk that was read, except for a message
//! that straddles two reads.

use std::io::{self, Read};
use tungstenite::{Bytes, Message, Utf8Bytes};

use crate::event::Command;
use crate::mailbox::Outbox;

const CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct LineOptions {
    /// `\n` (a `\r` before it is dropped too) or NUL.
    pub separator: u8,
    pub binary: bool,
}

/// Read `reader` to its end, sending every message; ends with `InputEnded`, or with
/// `InputFailed` at the first line that cannot be sent (everything before it is sent).
pub fn pump(mut reader: impl Read, opts: LineOptions, outbox: &Outbox) {
    let mut splitter = Splitter::new(opts);
    let result = loop {
        let mut buf = vec![0u8; CHUNK];
        let n = match reader.read(&mut buf) {
            Ok(0) => break splitter.finish(),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(format!("cannot read stdin: {e}")),
        };
        buf.truncate(n);
        let (batch, error) = splitter.feed(Bytes::from(buf));
        if !batch.is_empty() && outbox.send(Command::Send(batch)).is_err() {
            return; // the session is over
        }
        if let Some(e) = error {
            break Err(e);
        }
    };
    let last = match result {
        Ok(Some(message)) => outbox.send(Command::Send(vec![message])).is_ok(),
        Ok(None) => true,
        Err(e) => {
            let _ = outbox.send(Command::InputFailed(e));
            return;
        }
    };
    if last {
        let _ = outbox.send(Command::InputEnded);
    }
}

/// The pure part of the reader: bytes in, messages out.
pub struct Splitter {
    opts: LineOptions,
    /// The start of a message whose end has not been read yet.
    partial: Vec<u8>,
    line: u64,
}

impl Splitter {
    pub fn new(opts: LineOptions) -> Self {
        Splitter {
            opts,
            partial: Vec::new(),
            line: 0,
        }
    }

    /// Split a chunk; returns the complete messages, and an error that stops the input.
    pub fn feed(&mut self, chunk: Bytes) -> (Vec<Message>, Option<String>) {
        let mut batch = Vec::new();
        let mut start = 0;
        for end in memchr::memchr_iter(self.opts.separator, &chunk) {
            let raw = if self.partial.is_empty() {
                chunk.slice(start..end)
            } else {
                self.partial.extend_from_slice(&chunk[start..end]);
                Bytes::from(std::mem::take(&mut self.partial))
            };
            start = end + 1;
            match self.message(raw) {
                Ok(m) => batch.push(m),
                Err(e) => return (batch, Some(e)),
            }
        }
        self.partial.extend_from_slice(&chunk[start..]);
        (batch, None)
    }

    /// At EOF: the last message if the input did not end with a separator.
    pub fn finish(&mut self) -> Result<Option<Message>, String> {
        if self.partial.is_empty() {
            return Ok(None);
        }
        let raw = Bytes::from(std::mem::take(&mut self.partial));
        self.message(raw).map(Some)
    }

    fn message(&mut self, mut raw: Bytes) -> Result<Message, String> {
        self.line += 1;
        if self.opts.separator == b'\n' && raw.last() == Some(&b'\r') {
            raw.truncate(raw.len() - 1);
        }
        if self.opts.binary {
            return Ok(Message::Binary(raw));
        }
        match Utf8Bytes::try_from(raw) {
            Ok(text) => Ok(Message::Text(text)),
            Err(_) => Err(format!(
                "stdin {} {} is not valid UTF-8, and text messages must be; nothing from it on was sent (use --binary to send raw bytes)",
                if self.opts.separator == b'\n' { "line" } else { "record" },
                self.line
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(messages: &[Message]) -> Vec<String> {
        messages
            .iter()
            .map(|m| match m {
                Message::Text(t) => t.as_str().to_string(),
                Message::Binary(b) => format!("bin:{b:?}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn text_opts() -> LineOptions {
        LineOptions {
            separator: b'\n',
            binary: false,
        }
    }

    #[test]
    fn splits_lines_and_strips_crlf() {
        let mut s = Splitter::new(text_opts());
        let (batch, err) = s.feed(Bytes::from_static(b"a\r\nb\n\nc"));
        assert!(err.is_none());
        assert_eq!(texts(&batch), ["a", "b", ""]);
        assert_eq!(texts(&[s.finish().unwrap().unwrap()]), ["c"]);
        assert!(s.finish().unwrap().is_none());
    }

    #[test]
    fn joins_lines_across_chunks() {
        let mut s = Splitter::new(text_opts());
        let (batch, _) = s.feed(Bytes::from_static(b"hel"));
        assert!(batch.is_empty());
        let (batch, _) = s.feed(Bytes::from_static(b"lo\xc3"));
        assert!(batch.is_empty());
        let (batch, _) = s.feed(Bytes::from_static(b"\xa9\nx\n"));
        assert_eq!(texts(&batch), ["hello\u{e9}", "x"]);
    }

    #[test]
    fn invalid_utf8_stops_with_the_line_number() {
        let mut s = Splitter::new(text_opts());
        let (batch, err) = s.feed(Bytes::from_static(b"ok\nbad\xff\nnever\n"));
        assert_eq!(texts(&batch), ["ok"]);
        let err = err.unwrap();
        assert!(err.contains("stdin line 2 is not valid UTF-8"), "{err}");
    }

    #[test]
    fn binary_and_nul_separated() {
        let mut s = Splitter::new(LineOptions {
            separator: 0,
            binary: true,
        });
        let (batch, _) = s.feed(Bytes::from_static(b"a\r\n\xff\0b\0"));
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0], Message::Binary(Bytes::from_static(b"a\r\n\xff")));
        assert_eq!(batch[1], Message::Binary(Bytes::from_static(b"b")));
    }
}
