//! permessage-deflate's data path (RFC 7692 §6-§7.2): inflating what the peer
//! sends and deflating what wsprobe sends.
//!
//! Why a layer beneath tungstenite: tungstenite 0.30 fails the connection on any
//! frame with RSV1 set and has no extension hook (the upstream pull requests
//! have been open for years), and forking it would leave wsprobe on a private
//! copy of the protocol code. So:
//! - incoming, [`Inflater`] sits on the byte stream (inside the tap, after TLS)
//!   and rewrites it: a data message whose first frame has RSV1 is inflated as
//!   its bytes arrive and handed on as plain frames of at most [`CHUNK`] bytes
//!   (unmasked from a server; masked with a zero key towards tungstenite's
//!   server side in listen mode, so that its masking rule still holds); every
//!   other frame passes through byte for byte. Inflation is pulled by
//!   tungstenite's reads, at most one chunk ahead of them, and counted against
//!   `--max-message-size` while it runs, so a small frame that would expand to
//!   gigabytes is an error after at most the limit, not an allocation;
//! - outgoing, [`Deflater`] compresses a data message before tungstenite sees
//!   it and gives it back as a single frame with RSV1 set (tungstenite writes
//!   `Message::Frame` as it is, masking it with a fresh key on the client side),
//!   so nothing has to parse and re-mask tungstenite's output. Control frames
//!   are never compressed.
//!
//! Window sizes: the inflater always allows the largest window (a smaller one
//! inflates just the same); the deflater uses the negotiated one. zlib cannot
//! compress with a 256-byte window (8 bits), so with 8 wsprobe sends its
//! messages uncompressed, which the RFC allows for any message.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::{Frame, FrameHeader};
use tungstenite::{Bytes, Message};
use wsprobe::frame::{self, header_len, FrameInfo, FrameParser};

/// Inflated data goes to tungstenite in frames of at most this many bytes…
pub const CHUNK: usize = 64 << 10;
/// …and inflation pauses once this much waits for tungstenite to read it.
const OUT_HIGH: usize = 64 << 10;
/// What RFC 7692 §7.2.1 strips from every compressed message (an empty stored
/// block ending a sync flush), and §7.2.2 puts back before inflating.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// How one data message crossed the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wire {
    pub compressed: bool,
    /// The payload bytes of its frames on the wire.
    pub size: u64,
}

/// Why the incoming stream cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A compressed message inflates past `--max-message-size` (Close 1009).
    TooBig { limit: usize },
    /// The compressed data is not valid DEFLATE (Close 1007).
    Corrupt(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::TooBig { limit } => write!(
                f,
                "a compressed message that inflates past {limit} bytes (see --max-message-size)"
            ),
            Failure::Corrupt(e) => write!(
                f,
                "a compressed message that is not valid DEFLATE data ({e})"
            ),
        }
    }
}

#[derive(Debug)]
enum State {
    /// Collecting a frame header.
    Header,
    /// Forwarding a frame's payload as it is.
    Pass { remaining: u64 },
    /// Inflating a compressed frame's payload; `offset` is where in the payload
    /// `remaining` starts (for the mask).
    Inflate {
        remaining: u64,
        offset: u64,
        mask: Option<[u8; 4]>,
        info: FrameInfo,
    },
    /// The message's last frame is in; `fed` bytes of [`TAIL`] were inflated.
    Tail { fed: usize, info: FrameInfo },
}

/// The data message being received.
#[derive(Debug)]
struct Current {
    compressed: bool,
    /// Text or binary.
    opcode: u8,
    /// Its first frame was masked: so are the frames made from it.
    masked: bool,
    /// A frame of it went to tungstenite already (the rest are continuations).
    started: bool,
    inflated: u64,
    wire: u64,
}

/// The incoming side: see the module header.
pub struct Inflater {
    inflate: Decompress,
    /// The peer resets its compressor after each message: so do we.
    reset: bool,
    limit: usize,
    state: State,
    head: Vec<u8>,
    current: Option<Current>,
    /// Inflated bytes not yet framed (capacity [`CHUNK`]).
    pending: Vec<u8>,
    /// Unmasked payload bytes (listen mode), inflated from here.
    scratch: Vec<u8>,
    /// Parses the frames that pass through, for the trace and close codes.
    parser: FrameParser,
    /// Frames seen on the wire, for the tap.
    pub frames: Vec<FrameInfo>,
    /// Data messages completed, in order, for the session's events.
    pub messages: std::collections::VecDeque<Wire>,
}

impl Inflater {
    /// `reset`: the peer's no_context_takeover; `limit`: --max-message-size.
    pub fn new(reset: bool, limit: usize) -> Self {
        Inflater {
            inflate: Decompress::new(false),
            reset,
            limit,
            state: State::Header,
            head: Vec::with_capacity(14),
            current: None,
            pending: Vec::with_capacity(CHUNK),
            scratch: Vec::new(),
            parser: FrameParser::frames_only(),
            frames: Vec::new(),
            messages: std::collections::VecDeque::new(),
        }
    }

    /// Turn wire bytes into plain frames appended to `out`; returns how many of
    /// `input` were used. Stops early once `out` holds [`OUT_HIGH`] bytes.
    pub fn process(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, Failure> {
        let mut used = 0;
        loop {
            if out.len() >= OUT_HIGH {
                return Ok(used);
            }
            let rest = &input[used..];
            match &mut self.state {
                State::Header => {
                    if rest.is_empty() {
                        return Ok(used);
                    }
                    let needed = header_len(&self.head);
                    let take = needed.saturating_sub(self.head.len()).min(rest.len());
                    self.head.extend_from_slice(&rest[..take]);
                    used += take;
                    if self.head.len() >= 2 && self.head.len() == header_len(&self.head) {
                        self.start_frame(out);
                    }
                }
                State::Pass { remaining } => {
                    let take = (*remaining).min(rest.len() as u64) as usize;
                    if take == 0 && *remaining > 0 {
                        return Ok(used);
                    }
                    out.extend_from_slice(&rest[..take]);
                    self.parser.feed(&rest[..take], &mut self.frames);
                    *remaining -= take as u64;
                    used += take;
                    if *remaining == 0 {
                        self.state = State::Header;
                    }
                }
                State::Inflate { .. } => {
                    let n = self.inflate_payload(rest, out)?;
                    used += n;
                    let paused = n == 0 && matches!(self.state, State::Inflate { .. });
                    if paused && (rest.is_empty() || !self.full()) {
                        return Ok(used);
                    }
                }
                State::Tail { .. } => self.inflate_tail(out)?,
            }
        }
    }

    /// A complete header in `head`: decide what its frame is.
    fn start_frame(&mut self, out: &mut Vec<u8>) {
        let b0 = self.head[0];
        let b1 = self.head[1];
        let (len, ext) = match b1 & 0x7F {
            126 => (u16::from_be_bytes([self.head[2], self.head[3]]) as u64, 2),
            127 => {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(&self.head[2..10]);
                (u64::from_be_bytes(bytes), 8)
            }
            n => (n as u64, 0),
        };
        let masked = b1 & 0x80 != 0;
        let mask = masked.then(|| {
            let at = 2 + ext;
            [
                self.head[at],
                self.head[at + 1],
                self.head[at + 2],
                self.head[at + 3],
            ]
        });
        let fin = b0 & 0x80 != 0;
        let rsv = [b0 & 0x40 != 0, b0 & 0x20 != 0, b0 & 0x10 != 0];
        let opcode = b0 & 0x0F;
        let compressed_start =
            matches!(opcode, 1 | 2) && rsv == [true, false, false] && self.current.is_none();
        let compressed_more = opcode == 0
            && rsv == [false, false, false]
            && self.current.as_ref().is_some_and(|c| c.compressed);
        if compressed_start || compressed_more {
            if compressed_start {
                self.current = Some(Current {
                    compressed: true,
                    opcode,
                    masked,
                    started: false,
                    inflated: 0,
                    wire: 0,
                });
            }
            if let Some(current) = &mut self.current {
                current.wire += len;
            }
            let info = FrameInfo {
                fin,
                rsv,
                opcode,
                masked,
                len,
                close: None,
                inflated: None,
            };
            self.head.clear();
            self.state = State::Inflate {
                remaining: len,
                offset: 0,
                mask,
                info,
            };
            return;
        }
        // Everything else goes to tungstenite as it came (which fails the
        // connection on what is not allowed, e.g. RSV1 on a continuation).
        match opcode {
            1 | 2 if self.current.is_none() => {
                self.current = Some(Current {
                    compressed: false,
                    opcode,
                    masked,
                    started: true,
                    inflated: 0,
                    wire: 0,
                })
            }
            _ => {}
        }
        if opcode < 8 {
            if let Some(current) = self.current.as_mut().filter(|c| !c.compressed) {
                current.wire += len;
                if fin {
                    self.messages.push_back(Wire {
                        compressed: false,
                        size: current.wire,
                    });
                    self.current = None;
                }
            }
        }
        out.extend_from_slice(&self.head);
        self.parser.feed(&self.head, &mut self.frames);
        self.head.clear();
        self.state = if len == 0 {
            State::Header
        } else {
            State::Pass { remaining: len }
        };
    }

    /// Inflate what `rest` holds of the current frame's payload; returns the
    /// bytes used.
    fn inflate_payload(&mut self, rest: &[u8], out: &mut Vec<u8>) -> Result<usize, Failure> {
        if self.full() {
            self.emit(out, false);
        }
        let State::Inflate {
            remaining,
            offset,
            mask,
            ..
        } = &mut self.state
        else {
            return Ok(0);
        };
        let avail = (*remaining).min(rest.len() as u64) as usize;
        let input: &[u8] = match mask {
            Some(mask) => {
                let take = avail.min(CHUNK);
                self.scratch.clear();
                let start = *offset as usize;
                self.scratch.extend(
                    rest[..take]
                        .iter()
                        .enumerate()
                        .map(|(i, b)| b ^ mask[(start + i) % 4]),
                );
                &self.scratch
            }
            None => &rest[..avail],
        };
        let mut used = 0;
        let before = self.pending.len();
        if !input.is_empty() {
            used = inflate_into(
                &mut self.inflate,
                input,
                &mut self.pending,
                FlushDecompress::None,
            )?;
        }
        self.count(self.pending.len() - before)?;
        let State::Inflate {
            remaining,
            offset,
            info,
            ..
        } = &mut self.state
        else {
            return Ok(used);
        };
        *remaining -= used as u64;
        *offset += used as u64;
        if *remaining == 0 {
            let info = info.clone();
            if info.fin {
                self.state = State::Tail { fed: 0, info };
            } else {
                self.frames.push(info);
                self.state = State::Header;
            }
        }
        Ok(used)
    }

    /// Inflate the stripped tail, then hand on the message's last frame.
    fn inflate_tail(&mut self, out: &mut Vec<u8>) -> Result<(), Failure> {
        if self.full() {
            self.emit(out, false);
        }
        let State::Tail { fed, .. } = &mut self.state else {
            return Ok(());
        };
        let before = self.pending.len();
        let used = inflate_into(
            &mut self.inflate,
            &TAIL[*fed..],
            &mut self.pending,
            FlushDecompress::Sync,
        )?;
        *fed += used;
        let fed = *fed;
        let done = fed == TAIL.len() && !self.full();
        let stuck = used == 0 && self.pending.len() == before && !self.full();
        self.count(self.pending.len() - before)?;
        if !(done || stuck) {
            return Ok(());
        }
        let State::Tail { mut info, .. } = std::mem::replace(&mut self.state, State::Header) else {
            return Ok(());
        };
        self.emit(out, true);
        if let Some(current) = self.current.take() {
            info.inflated = Some(current.inflated);
            self.messages.push_back(Wire {
                compressed: true,
                size: current.wire,
            });
        }
        self.frames.push(info);
        if self.reset {
            self.inflate.reset(false);
        }
        Ok(())
    }

    /// No room left for inflated bytes: time to frame them.
    fn full(&self) -> bool {
        self.pending.len() >= self.pending.capacity()
    }

    /// Count `produced` inflated bytes against the limit, as they come.
    fn count(&mut self, produced: usize) -> Result<(), Failure> {
        let Some(current) = &mut self.current else {
            return Ok(());
        };
        current.inflated += produced as u64;
        if current.inflated > self.limit as u64 {
            return Err(Failure::TooBig { limit: self.limit });
        }
        Ok(())
    }

    /// Frame `pending` for tungstenite.
    fn emit(&mut self, out: &mut Vec<u8>, fin: bool) {
        let Some(current) = &mut self.current else {
            return;
        };
        let opcode = if current.started { 0 } else { current.opcode };
        current.started = true;
        write_header(out, fin, opcode, current.masked, self.pending.len());
        out.extend_from_slice(&self.pending);
        self.pending.clear();
    }
}

/// Run the decompressor on `input` into the spare room of `output` (at most
/// [`CHUNK`] bytes in all); returns the input used.
fn inflate_into(
    inflate: &mut Decompress,
    input: &[u8],
    output: &mut Vec<u8>,
    flush: FlushDecompress,
) -> Result<usize, Failure> {
    let before = inflate.total_in();
    let status = inflate
        .decompress_vec(input, output, flush)
        .map_err(|e| Failure::Corrupt(e.to_string()))?;
    let used = (inflate.total_in() - before) as usize;
    if status == Status::StreamEnd {
        // A block with BFINAL set (§7.2.3.4): what follows starts afresh.
        inflate.reset(false);
    }
    Ok(used)
}

/// A frame header as tungstenite expects it; a masked one gets the zero key
/// (the payload is already plain).
fn write_header(out: &mut Vec<u8>, fin: bool, opcode: u8, masked: bool, len: usize) {
    let b0 = if fin { 0x80 } else { 0 } | opcode;
    frame::write_header(out, b0, masked.then_some([0; 4]), len);
}

/// The outgoing side: see the module header.
pub struct Deflater {
    /// None with an 8-bit window, which zlib cannot honour: send uncompressed.
    deflate: Option<Compress>,
    /// Our no_context_takeover: reset after each message.
    reset: bool,
}

impl Deflater {
    pub fn new(window_bits: u8, reset: bool) -> Self {
        Deflater {
            deflate: (window_bits >= 9).then(|| {
                Compress::new_with_window_bits(Compression::default(), false, window_bits)
            }),
            reset,
        }
    }

    /// A data message as it goes on the wire, and its wire size; control
    /// messages are returned as they are.
    pub fn encode(&mut self, message: Message) -> (Message, Option<Wire>) {
        let (payload, opcode) = match &message {
            Message::Text(t) => (t.as_bytes(), Data::Text),
            Message::Binary(b) => (&b[..], Data::Binary),
            _ => return (message, None),
        };
        let Some(deflate) = &mut self.deflate else {
            let size = payload.len() as u64;
            return (
                message,
                Some(Wire {
                    compressed: false,
                    size,
                }),
            );
        };
        let compressed = deflate_message(deflate, payload);
        if self.reset {
            deflate.reset();
        }
        let size = compressed.len() as u64;
        let mut header = FrameHeader {
            opcode: OpCode::Data(opcode),
            ..FrameHeader::default()
        };
        header.rsv1 = true;
        let frame = Frame::from_payload(header, Bytes::from(compressed));
        (
            Message::Frame(frame),
            Some(Wire {
                compressed: true,
                size,
            }),
        )
    }
}

/// One message through the compressor with a sync flush, the tail stripped.
fn deflate_message(deflate: &mut Compress, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() / 2 + 64);
    let mut used = 0;
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(1024));
        }
        let before = deflate.total_in();
        // Only a stream error can fail, and the stream is ours and valid.
        if deflate
            .compress_vec(&payload[used..], &mut out, FlushCompress::Sync)
            .is_err()
        {
            break;
        }
        used += (deflate.total_in() - before) as usize;
        // Done once all input is in and the flush did not fill the buffer.
        if used == payload.len() && out.len() < out.capacity() {
            break;
        }
    }
    if out.ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    }
    if out.is_empty() {
        // zlib writes nothing for no input right after a flush; the receiver
        // appends the tail to what came, so an empty message must be the one
        // byte that starts an empty stored block (§7.2.3.6).
        out.push(0x00);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame as a peer sends it.
    fn wire_frame(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut out = Vec::new();
        write_header(
            &mut out,
            b0 & 0x80 != 0,
            b0 & 0x0F,
            mask.is_some(),
            payload.len(),
        );
        out[0] |= b0 & 0x70;
        match mask {
            Some(m) => {
                let at = out.len() - 4;
                out[at..].copy_from_slice(&m);
                out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
            }
            None => out.extend_from_slice(payload),
        }
        out
    }

    fn compressed(deflater: &mut Deflater, payload: &[u8]) -> Vec<u8> {
        match deflater
            .encode(Message::Binary(Bytes::copy_from_slice(payload)))
            .0
        {
            Message::Frame(f) => f.payload().to_vec(),
            other => panic!("not compressed: {other:?}"),
        }
    }

    /// Parse plain frames back into (opcode, fin, masked, payload).
    fn frames(mut bytes: &[u8]) -> Vec<(u8, bool, bool, Vec<u8>)> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let len = header_len(bytes);
            let head = &bytes[..len];
            let n = match head[1] & 0x7F {
                126 => u16::from_be_bytes([head[2], head[3]]) as usize,
                127 => u64::from_be_bytes(head[2..10].try_into().unwrap()) as usize,
                n => n as usize,
            };
            let masked = head[1] & 0x80 != 0;
            let key = if masked {
                &head[len - 4..]
            } else {
                &[0; 4][..]
            };
            let payload = bytes[len..len + n]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[i % 4]);
            out.push((
                head[0] & 0x0F,
                head[0] & 0x80 != 0,
                masked,
                payload.collect(),
            ));
            bytes = &bytes[len + n..];
        }
        out
    }

    /// Run the inflater over `input` in pieces of `piece` bytes, draining its
    /// output as tungstenite would.
    fn inflate_all(
        inflater: &mut Inflater,
        input: &[u8],
        piece: usize,
    ) -> Result<Vec<u8>, Failure> {
        let mut out = Vec::new();
        let mut plain = Vec::new();
        for chunk in input.chunks(piece.max(1)) {
            let mut at = 0;
            while at < chunk.len() {
                at += inflater.process(&chunk[at..], &mut out)?;
                plain.append(&mut out);
            }
        }
        loop {
            inflater.process(&[], &mut out)?;
            if out.is_empty() {
                break;
            }
            plain.append(&mut out);
        }
        Ok(plain)
    }

    /// Join frames into messages.
    fn messages(plain: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut done = Vec::new();
        let mut current: Option<(u8, Vec<u8>)> = None;
        for (opcode, fin, _, payload) in frames(plain) {
            if opcode >= 8 {
                done.push((opcode, payload));
                continue;
            }
            let entry = current.get_or_insert((opcode, Vec::new()));
            entry.1.extend_from_slice(&payload);
            if fin {
                done.extend(current.take());
            }
        }
        done
    }

    fn noise(len: usize) -> Vec<u8> {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    #[test]
    fn round_trips_with_and_without_context_takeover_and_small_windows() {
        let bodies: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"x".to_vec(),
            "hello ".repeat(20_000).into_bytes(),
            noise(300_000),
            Vec::new(),
            b"hello again".to_vec(),
        ];
        for (bits, reset) in [(15, false), (15, true), (9, false), (12, true)] {
            let mut deflater = Deflater::new(bits, reset);
            let mut wire = Vec::new();
            for body in &bodies {
                wire.extend(wire_frame(0xC2, &compressed(&mut deflater, body), None));
            }
            for piece in [1, 7, 1000, 1 << 20] {
                let mut inflater = Inflater::new(reset, 1 << 20);
                let plain = inflate_all(&mut inflater, &wire, piece).unwrap();
                let got = messages(&plain);
                assert_eq!(
                    got.len(),
                    bodies.len(),
                    "bits {bits} reset {reset} piece {piece}"
                );
                for (i, (opcode, body)) in got.iter().enumerate() {
                    assert_eq!(*opcode, 2);
                    assert!(
                        body == &bodies[i],
                        "message {i}, bits {bits}, piece {piece}"
                    );
                }
                let sizes: Vec<bool> = inflater.messages.iter().map(|w| w.compressed).collect();
                assert_eq!(sizes, [true; 6]);
                assert!(frames(&plain).iter().all(|f| f.3.len() <= CHUNK));
            }
        }
    }

    #[test]
    fn fragments_masks_and_interleaved_control_frames() {
        let text = "fragmented ".repeat(1000);
        let data = compressed(&mut Deflater::new(15, false), text.as_bytes());
        let (a, b) = data.split_at(data.len() / 3);
        let (b, c) = b.split_at(b.len() / 2);
        let mask = Some([1, 2, 3, 4]);
        let mut wire = wire_frame(0x41, a, mask); // text, RSV1, not final
        wire.extend(wire_frame(0x89, b"ping", mask));
        wire.extend(wire_frame(0x00, b, mask));
        wire.extend(wire_frame(0x80, c, mask));
        wire.extend(wire_frame(0x82, b"plain", mask)); // uncompressed passes as it is
        let mut inflater = Inflater::new(false, 1 << 20);
        let plain = inflate_all(&mut inflater, &wire, 5).unwrap();
        let got = messages(&plain);
        assert_eq!(got[0], (9, b"ping".to_vec()));
        assert_eq!(got[1], (1, text.into_bytes()));
        assert_eq!(got[2].0, 2);
        assert!(frames(&plain).iter().all(|f| f.2), "masked stays masked");
        let wires: Vec<Wire> = inflater.messages.iter().copied().collect();
        assert_eq!(
            wires,
            [
                Wire {
                    compressed: true,
                    size: data.len() as u64
                },
                Wire {
                    compressed: false,
                    size: 5
                }
            ]
        );
        let traced: Vec<_> = inflater
            .frames
            .iter()
            .map(|f| (f.opcode, f.inflated))
            .collect();
        assert_eq!(
            traced,
            [
                (1, None),
                (9, None),
                (0, None),
                (0, Some(11_000)),
                (2, None)
            ]
        );
    }

    #[test]
    fn a_bomb_fails_at_the_limit_and_garbage_is_corrupt() {
        let zeros = vec![0u8; 50 << 20];
        let data = compressed(&mut Deflater::new(15, false), &zeros);
        assert!(data.len() < 100 << 10, "{}", data.len());
        let mut inflater = Inflater::new(false, 1 << 20);
        let mut out = Vec::new();
        let wire = wire_frame(0xC2, &data, None);
        let mut at = 0;
        let mut peak = 0;
        let failure = loop {
            match inflater.process(&wire[at..], &mut out) {
                Ok(n) => at += n,
                Err(f) => break f,
            }
            peak = peak.max(out.len());
            out.clear();
        };
        assert_eq!(failure, Failure::TooBig { limit: 1 << 20 });
        assert!(peak <= OUT_HIGH + CHUNK + 14, "{peak}");
        let mut inflater = Inflater::new(false, 1 << 20);
        let wire = wire_frame(0xC1, &[0xff; 64], None);
        assert!(matches!(
            inflate_all(&mut inflater, &wire, 64),
            Err(Failure::Corrupt(_))
        ));
    }

    #[test]
    fn an_eight_bit_window_sends_uncompressed_and_control_messages_pass() {
        let (message, wire) = Deflater::new(8, false).encode(Message::text("hi"));
        assert!(matches!(message, Message::Text(_)));
        assert_eq!(
            wire,
            Some(Wire {
                compressed: false,
                size: 2
            })
        );
        let (message, wire) = Deflater::new(15, false).encode(Message::Ping(Bytes::new()));
        assert!(matches!(message, Message::Ping(_)));
        assert_eq!(wire, None);
    }
}
