//! The layer under tungstenite: a `Read`/`Write` wrapper around the byte stream
//! (after TLS) that
//! - parses the header of every incoming frame as the bytes pass, so that a close
//!   code is reported as it was on the wire (tungstenite replaces codes that may
//!   not be sent with 1002);
//! - with `-vv`, records every frame header both ways, for the session to report
//!   as `Event::Frame`;
//! - hands tungstenite at most a budget of bytes per turn of the session loop:
//!   a peer that streams endless frames cannot keep wsprobe inside one read, away
//!   from its deadlines and signals.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use super::NetStream;
use crate::event::Direction;
use wsprobe::frame::{FrameInfo, FrameParser};

pub struct Tapped {
    inner: NetStream,
    inbound: FrameParser,
    /// Outgoing frames are parsed only for the trace.
    outbound: Option<FrameParser>,
    /// Scratch space for the parser's output.
    parsed: Vec<FrameInfo>,
    /// `-vv`: frame headers not yet taken by the session.
    traced: Vec<(Direction, FrameInfo)>,
    /// The last close frame that came in, as it was on the wire.
    last_close: Option<(Option<u16>, String)>,
    /// Bytes tungstenite may still read in this turn.
    budget: usize,
    exhausted: bool,
    /// Bytes written to the stream so far (what the socket, or TLS, has taken).
    written: u64,
}

impl Tapped {
    /// A tap on a stream whose upgrade is done; `already_read` holds the bytes
    /// read with the upgrade response (the first frames, handed to tungstenite
    /// separately).
    pub fn after_upgrade(inner: NetStream, trace: bool, already_read: &[u8]) -> Self {
        let mut tapped = Tapped::new(
            inner,
            FrameParser::frames_only(),
            trace.then(FrameParser::frames_only),
        );
        tapped.take_in(already_read);
        tapped
    }

    /// A tap on a stream that still carries the HTTP upgrade (listen mode, where
    /// tungstenite runs the server's side of it).
    pub fn before_upgrade(inner: NetStream, trace: bool) -> Self {
        Tapped::new(
            inner,
            FrameParser::after_http(),
            trace.then(FrameParser::after_http),
        )
    }

    fn new(inner: NetStream, inbound: FrameParser, outbound: Option<FrameParser>) -> Self {
        Tapped {
            inner,
            inbound,
            outbound,
            parsed: Vec::new(),
            traced: Vec::new(),
            last_close: None,
            budget: usize::MAX,
            exhausted: false,
            written: 0,
        }
    }

    pub fn tcp(&self) -> &TcpStream {
        self.inner.tcp()
    }

    /// See [`NetStream::set_deadline`].
    pub fn set_deadline(&mut self, deadline: Option<std::time::Instant>) {
        self.inner.set_deadline(deadline);
    }

    /// Allow `bytes` more to be read before reads report WouldBlock.
    pub fn refill(&mut self, bytes: usize) {
        self.budget = bytes;
        self.exhausted = false;
    }

    /// Whether the last WouldBlock was the budget's, not the socket's: data may be
    /// waiting, and no readiness event will say so.
    pub fn exhausted(&self) -> bool {
        self.exhausted
    }

    /// How many bytes the stream has taken so far: a large send's progress.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The frame headers recorded for `-vv` since the last call.
    pub fn take_traced(&mut self) -> Vec<(Direction, FrameInfo)> {
        std::mem::take(&mut self.traced)
    }

    /// Whether `-vv` records frames (so the session asks for them).
    pub fn tracing(&self) -> bool {
        self.outbound.is_some()
    }

    /// The code and reason of the last close frame received, as on the wire.
    pub fn last_close(&self) -> Option<&(Option<u16>, String)> {
        self.last_close.as_ref()
    }

    fn take_in(&mut self, data: &[u8]) {
        self.inbound.feed(data, &mut self.parsed);
        let tracing = self.outbound.is_some();
        for frame in self.parsed.drain(..) {
            if let Some(close) = &frame.close {
                self.last_close = Some(close.clone());
            }
            if tracing {
                self.traced.push((Direction::In, frame));
            }
        }
    }
}

impl Read for Tapped {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.budget == 0 {
            self.exhausted = true;
            return Err(io::Error::from(io::ErrorKind::WouldBlock));
        }
        let room = buf.len().min(self.budget);
        let n = self.inner.read(&mut buf[..room])?;
        self.budget -= n;
        self.take_in(&buf[..n]);
        Ok(n)
    }
}

impl Write for Tapped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        if let Some(parser) = &mut self.outbound {
            parser.feed(&buf[..n], &mut self.parsed);
            self.traced
                .extend(self.parsed.drain(..).map(|f| (Direction::Out, f)));
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
