//! The layer under tungstenite: a `Read`/`Write` wrapper around the byte stream
//! (after TLS) that
//! - parses the header of every incoming frame as the bytes pass, so that a close
//!   code is reported as it was on the wire (tungstenite replaces codes that may
//!   not be sent with 1002);
//! - with `-vv`, records every frame header both ways, for the session to report
//!   as `Event::Frame`;
//! - hands tungstenite at most a budget of bytes per turn of the session loop:
//!   a peer that streams endless frames cannot keep wsprobe inside one read, away
//!   from its deadlines and signals;
//! - with permessage-deflate negotiated, runs the codec (`super::deflate`): what
//!   comes in is rewritten into plain frames before tungstenite reads it.

use std::io::{self, Read, Write};

use super::deflate::{Deflate, Failure, Wire};
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
    /// permessage-deflate, once negotiated (boxed: most connections have none).
    deflate: Option<Box<Deflating>>,
}

/// The tap's state under permessage-deflate.
struct Deflating {
    codec: Deflate,
    /// Wire bytes read and not yet taken by the codec (from `raw_pos`).
    raw: Vec<u8>,
    raw_pos: usize,
    /// Plain frames for tungstenite (from `out_pos`).
    out: Vec<u8>,
    out_pos: usize,
    failure: Option<Failure>,
    /// The sizes before compression of messages sent compressed, for the trace.
    sent: std::collections::VecDeque<u64>,
}

/// How much is read from the socket at once under permessage-deflate.
const RAW_READ: usize = 64 << 10;

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
            deflate: None,
        }
    }

    /// Run permessage-deflate from now on; `already_read` are wire bytes that
    /// came with the upgrade response (then not handed to tungstenite).
    pub fn start_deflate(&mut self, codec: Deflate, already_read: Vec<u8>) {
        self.deflate = Some(Box::new(Deflating {
            codec,
            raw: already_read,
            raw_pos: 0,
            out: Vec::new(),
            out_pos: 0,
            failure: None,
            sent: std::collections::VecDeque::new(),
        }));
    }

    /// A data message as it goes on the wire under permessage-deflate
    /// (compressed), with its wire size; without it, the message as it is.
    pub fn encode(
        &mut self,
        message: tungstenite::Message,
    ) -> (tungstenite::Message, Option<Wire>) {
        let Some(d) = &mut self.deflate else {
            return (message, None);
        };
        let size = match &message {
            tungstenite::Message::Text(t) => t.len(),
            tungstenite::Message::Binary(b) => b.len(),
            _ => 0,
        };
        let (message, wire) = d.codec.deflater.encode(message);
        if self.outbound.is_some() && wire.is_some_and(|w| w.compressed) {
            d.sent.push_back(size as u64);
        }
        (message, wire)
    }

    /// How the next data message tungstenite returns crossed the wire (under
    /// permessage-deflate; in order).
    pub fn take_wire(&mut self) -> Option<Wire> {
        self.deflate.as_mut()?.codec.inflater.messages.pop_front()
    }

    /// Why inflating failed, once it has (the read then fails too).
    pub fn deflate_failure(&self) -> Option<&Failure> {
        self.deflate.as_ref()?.failure.as_ref()
    }

    pub fn transport(&self) -> &super::socket::Transport {
        self.inner.transport()
    }

    /// See [`NetStream::tls_info`].
    pub fn tls_info(&self) -> Option<crate::event::TlsInfo> {
        self.inner.tls_info()
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

impl Tapped {
    /// `read` under permessage-deflate: serve the codec's plain frames, feed it
    /// the wire bytes read, and read the socket (within the budget) only when
    /// both are used up.
    fn read_inflated(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let tracing = self.outbound.is_some();
        loop {
            let Some(d) = self.deflate.as_deref_mut() else {
                return Ok(0);
            };
            if d.out_pos < d.out.len() {
                let n = buf.len().min(d.out.len() - d.out_pos);
                buf[..n].copy_from_slice(&d.out[d.out_pos..d.out_pos + n]);
                d.out_pos += n;
                if d.out_pos == d.out.len() {
                    d.out.clear();
                    d.out_pos = 0;
                }
                return Ok(n);
            }
            if let Some(failure) = &d.failure {
                return Err(io::Error::other(failure.to_string()));
            }
            // Even with no new input the codec may have work left (the rest of
            // a message it paused once tungstenite had enough to read).
            match d.codec.inflater.process(&d.raw[d.raw_pos..], &mut d.out) {
                Ok(used) => d.raw_pos += used,
                Err(failure) => d.failure = Some(failure),
            }
            for frame in d.codec.inflater.frames.drain(..) {
                if let Some(close) = &frame.close {
                    self.last_close = Some(close.clone());
                }
                if tracing {
                    self.traced.push((Direction::In, frame));
                }
            }
            if !d.out.is_empty() || d.failure.is_some() {
                continue;
            }
            d.raw.drain(..d.raw_pos);
            d.raw_pos = 0;
            if self.budget == 0 {
                self.exhausted = true;
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            }
            let start = d.raw.len();
            d.raw.resize(start + RAW_READ.min(self.budget), 0);
            let n = match self.inner.read(&mut d.raw[start..]) {
                Ok(n) => n,
                Err(e) => {
                    d.raw.truncate(start);
                    return Err(e);
                }
            };
            d.raw.truncate(start + n);
            self.budget -= n;
            if n == 0 {
                return Ok(0);
            }
        }
    }
}

impl Read for Tapped {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.deflate.is_some() {
            return self.read_inflated(buf);
        }
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
            let sent = self.deflate.as_mut().map(|d| &mut d.sent);
            note_sizes(&mut self.parsed, sent);
            self.traced
                .extend(self.parsed.drain(..).map(|f| (Direction::Out, f)));
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Outgoing compressed frames show the size before compression (`sent` holds
/// them in order).
fn note_sizes(frames: &mut [FrameInfo], sent: Option<&mut std::collections::VecDeque<u64>>) {
    let Some(sent) = sent else {
        return;
    };
    for frame in frames
        .iter_mut()
        .filter(|f| f.rsv[0] && matches!(f.opcode, 1 | 2))
    {
        frame.inflated = sent.pop_front();
    }
}
