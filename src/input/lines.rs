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
        let read = if splitter.in_long_line() {
            // A message longer than one read: let it grow in place instead of
            // copying each chunk into it.
            splitter.extend_long_line(&mut reader)
        } else {
            read_chunk(&mut reader).map(|chunk| chunk.map(|c| splitter.feed(c)))
        };
        let (batch, error) = match read {
            Ok(Some(result)) => result,
            Ok(None) => break splitter.finish(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(format!("cannot read stdin: {e}")),
        };
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

/// One read into a fresh buffer; None at EOF.
fn read_chunk(reader: &mut impl Read) -> io::Result<Option<Bytes>> {
    let mut buf = vec![0u8; CHUNK];
    let n = reader.read(&mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    buf.truncate(n);
    Ok(Some(Bytes::from(buf)))
}

/// Messages split off one read, and the error that stops the input, if any.
type Split = (Vec<Message>, Option<String>);

/// The pure part of the reader: bytes in, messages out.
pub struct Splitter {
    opts: LineOptions,
    /// The start of a message whose end has not been read yet.
    partial: Vec<u8>,
    line: u64,
    /// The size of the last message that spanned reads: long messages tend to
    /// come in runs of similar size, so the next one starts with room for it.
    long_hint: usize,
}

impl Splitter {
    pub fn new(opts: LineOptions) -> Self {
        Splitter {
            opts,
            partial: Vec::new(),
            line: 0,
            long_hint: 0,
        }
    }

    /// Split a chunk; returns the complete messages, and an error that stops the input.
    pub fn feed(&mut self, chunk: Bytes) -> Split {
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

    /// Whether a message is in progress across reads.
    pub fn in_long_line(&self) -> bool {
        !self.partial.is_empty()
    }

    /// Read the next bytes straight onto the message in progress; when the read
    /// contains its end, the rest of the read is split as usual. None at EOF.
    pub fn extend_long_line(&mut self, reader: &mut impl Read) -> io::Result<Option<Split>> {
        let start = self.partial.len();
        if self.partial.capacity() < start + CHUNK {
            self.partial
                .reserve((start + CHUNK).max(self.long_hint) - start);
        }
        self.partial.resize(start + CHUNK, 0);
        let n = match reader.read(&mut self.partial[start..]) {
            Ok(n) => n,
            Err(e) => {
                self.partial.truncate(start);
                return Err(e);
            }
        };
        self.partial.truncate(start + n);
        if n == 0 {
            return Ok(None);
        }
        let Some(end) = memchr::memchr(self.opts.separator, &self.partial[start..]) else {
            return Ok(Some((Vec::new(), None)));
        };
        let rest = self.partial.split_off(start + end + 1);
        self.partial.pop(); // the separator
        self.long_hint = self.partial.len() + CHUNK;
        let raw = Bytes::from(std::mem::take(&mut self.partial));
        let mut batch = Vec::new();
        match self.message(raw) {
            Ok(m) => batch.push(m),
            Err(e) => return Ok(Some((batch, Some(e)))),
        }
        let (more, error) = self.feed(Bytes::from(rest));
        batch.extend(more);
        Ok(Some((batch, error)))
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

#[cfg(test)]
mod long_lines {
    use super::*;

    /// A reader that hands out its data in reads of a fixed size.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn split_all(input: &[u8], read_size: usize) -> Vec<Vec<u8>> {
        let mut splitter = Splitter::new(LineOptions {
            separator: b'\n',
            binary: true,
        });
        let mut reader = Trickle(input, read_size);
        let mut out = Vec::new();
        loop {
            let read = if splitter.in_long_line() {
                splitter.extend_long_line(&mut reader).unwrap()
            } else {
                read_chunk(&mut reader).unwrap().map(|c| splitter.feed(c))
            };
            match read {
                Some((batch, None)) => out.extend(batch),
                Some((_, Some(e))) => panic!("{e}"),
                None => break,
            }
        }
        out.extend(splitter.finish().unwrap());
        out.into_iter()
            .map(|m| match m {
                Message::Binary(b) => b.to_vec(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn long_and_short_lines_in_any_read_size() {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for (i, len) in [5usize, 200_000, 0, 70_000, 3, 1 << 20, 1]
            .into_iter()
            .enumerate()
        {
            let line = vec![b'a' + i as u8; len];
            input.extend_from_slice(&line);
            input.push(b'\n');
            expected.push(line);
        }
        input.extend_from_slice(b"tail without newline");
        expected.push(b"tail without newline".to_vec());
        for read_size in [1000, CHUNK, 100_000, 1 << 22] {
            assert_eq!(
                split_all(&input, read_size),
                expected,
                "reads of {read_size}"
            );
        }
    }
}
