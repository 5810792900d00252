//! Pipe-mode output: one received message per line, nothing else on stdout.
//!
//! Text messages are written as they are, followed by the separator (`\n`, or NUL
//! with `-0`). Binary messages are written as `base64:` followed by the payload in
//! standard base64, so they survive a text pipeline and can be told apart from text.
//! With `--tag` (multi-client `--listen`), each line starts with the client's id
//! and a tab.

use base64::Engine as _;
use std::io;

use std::time::SystemTime;

use super::human::{local_time, TimestampMode};
use super::{Out, Sink};
use crate::event::{Direction, Event, Kind};
use tungstenite::Bytes;

pub struct Plain<W: Out> {
    out: W,
    separator: u8,
    timestamps: Option<TimestampMode>,
    started: SystemTime,
    /// `--tag`: start each line with the client's id and a tab.
    tagged: bool,
}

impl<W: Out> Plain<W> {
    pub fn new(out: W, separator: u8, timestamps: Option<TimestampMode>) -> Self {
        Plain {
            out,
            separator,
            timestamps,
            started: SystemTime::now(),
            tagged: false,
        }
    }

    /// `--tag`: lines from a client start with its id and a tab.
    pub fn tagged(mut self) -> Self {
        self.tagged = true;
        self
    }
}

impl<W: Out> Sink for Plain<W> {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        match event {
            Event::Client { id, event } => self.line(event, Some(*id)),
            _ => self.line(event, None),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl<W: Out> Plain<W> {
    /// A received data message as one line; everything else shows nothing.
    fn line(&mut self, event: &Event, client: Option<u32>) -> io::Result<()> {
        if let Event::Message {
            dir: Direction::In,
            kind,
            payload,
            at,
            ..
        } = event
        {
            if matches!(kind, Kind::Ping | Kind::Pong) {
                return Ok(());
            }
            if let (true, Some(id)) = (self.tagged, client) {
                write!(self.out, "{id}\t")?;
            }
            match self.timestamps {
                None => {}
                Some(TimestampMode::Local) => write!(self.out, "{} ", local_time(*at))?,
                Some(TimestampMode::Relative) => {
                    let since = at.duration_since(self.started).unwrap_or_default();
                    write!(self.out, "{:.3} ", since.as_secs_f64())?
                }
            }
            match kind {
                Kind::Text => self.out.write_payload((*payload).clone())?,
                Kind::Binary => {
                    self.out.write_all(b"base64:")?;
                    let encoded = base64::engine::general_purpose::STANDARD.encode(payload);
                    self.out.write_payload(Bytes::from(encoded))?;
                }
                Kind::Ping | Kind::Pong => return Ok(()),
            }
            self.out.write_all(&[self.separator])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::Bytes;

    fn render(separator: u8, messages: &[(Direction, Kind, &[u8])]) -> Vec<u8> {
        let mut buf = Vec::new();
        {
            let mut sink = Plain::new(&mut buf, separator, None);
            for (dir, kind, data) in messages {
                let payload = Bytes::copy_from_slice(data);
                sink.event(&Event::Message {
                    dir: *dir,
                    kind: *kind,
                    payload: &payload,
                    at: SystemTime::now(),
                    wire: None,
                })
                .unwrap();
            }
            sink.flush().unwrap();
        }
        buf
    }

    #[test]
    fn text_and_binary_lines() {
        let out = render(
            b'\n',
            &[
                (Direction::In, Kind::Text, b"hello"),
                (Direction::Out, Kind::Text, b"not shown"),
                (Direction::In, Kind::Binary, b"\x00\xffhi"),
                (Direction::In, Kind::Ping, b"p"),
                (Direction::In, Kind::Text, b""),
            ],
        );
        assert_eq!(out, b"hello\nbase64:AP9oaQ==\n\n");
    }

    #[test]
    fn nul_separator() {
        let out = render(
            0,
            &[
                (Direction::In, Kind::Text, b"a\nb"),
                (Direction::In, Kind::Text, b"c"),
            ],
        );
        assert_eq!(out, b"a\nb\0c\0");
    }
}
