//! A pure, incremental parser of WebSocket frame headers (RFC 6455 §5.2), for the
//! `-vv` frame trace: it sees the bytes as they cross the wire (after TLS) and
//! reports each frame's header, however the bytes are split across reads.
//!
//! tungstenite's own `FrameHeader::parse` is not used: it needs a whole header in
//! one buffer and leaves skipping the payload to its caller, while the tap sees the
//! stream in arbitrary pieces (a header can straddle two reads) and must skip or,
//! for close frames, collect payloads across them. This parser is also what the
//! fuzz target drives.

/// What the trace shows of one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameInfo {
    pub fin: bool,
    pub rsv: [bool; 3],
    pub opcode: u8,
    pub masked: bool,
    pub len: u64,
    /// For close frames: the code (if any) and the reason.
    pub close: Option<(Option<u16>, String)>,
    /// permessage-deflate: on the last frame of a compressed message, the
    /// message's size inflated (incoming) or before compression (outgoing).
    pub inflated: Option<u64>,
}

impl FrameInfo {
    pub fn opcode_name(&self) -> &'static str {
        match self.opcode {
            0x0 => "continuation",
            0x1 => "text",
            0x2 => "binary",
            0x8 => "close",
            0x9 => "ping",
            0xA => "pong",
            0x3..=0x7 => "reserved-data",
            _ => "reserved-control",
        }
    }
}

#[derive(Debug)]
enum State {
    /// Skipping the HTTP request or response that precedes the frames.
    Preamble {
        matched: usize,
    },
    Header,
    /// Skipping (or, for close frames, collecting) the payload.
    Payload {
        remaining: u64,
    },
}

#[derive(Debug)]
pub struct FrameParser {
    state: State,
    buf: Vec<u8>,
    current: Option<(FrameInfo, Option<[u8; 4]>)>,
}

const END_OF_HEADERS: &[u8] = b"\r\n\r\n";

impl FrameParser {
    /// A parser for a stream that starts with an HTTP message (the upgrade).
    pub fn after_http() -> Self {
        FrameParser {
            state: State::Preamble { matched: 0 },
            buf: Vec::new(),
            current: None,
        }
    }

    /// A parser for a stream that starts with frames.
    pub fn frames_only() -> Self {
        FrameParser {
            state: State::Header,
            buf: Vec::new(),
            current: None,
        }
    }

    /// Feed bytes; complete frame headers are appended to `out`.
    pub fn feed(&mut self, mut data: &[u8], out: &mut Vec<FrameInfo>) {
        while !data.is_empty() {
            match &mut self.state {
                State::Preamble { matched } => {
                    let mut consumed = 0;
                    for &b in data {
                        consumed += 1;
                        *matched = if b == END_OF_HEADERS[*matched] {
                            *matched + 1
                        } else if b == END_OF_HEADERS[0] {
                            1
                        } else {
                            0
                        };
                        if *matched == END_OF_HEADERS.len() {
                            self.state = State::Header;
                            break;
                        }
                    }
                    data = &data[consumed..];
                }
                State::Header => {
                    let needed = header_len(&self.buf);
                    let take = needed.saturating_sub(self.buf.len()).min(data.len());
                    self.buf.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.buf.len() >= 2 && self.buf.len() == header_len(&self.buf) {
                        self.start_frame(out);
                    }
                }
                State::Payload { remaining } => {
                    let take = (*remaining).min(data.len() as u64) as usize;
                    if self.current.as_ref().is_some_and(|(f, _)| f.opcode == 0x8)
                        && self.buf.len() < 125
                    {
                        let room = 125 - self.buf.len();
                        self.buf.extend_from_slice(&data[..take.min(room)]);
                    }
                    *remaining -= take as u64;
                    data = &data[take..];
                    if *remaining == 0 {
                        self.finish_frame(out);
                    }
                }
            }
        }
    }

    fn start_frame(&mut self, out: &mut Vec<FrameInfo>) {
        let b0 = self.buf[0];
        let b1 = self.buf[1];
        let masked = b1 & 0x80 != 0;
        let (len, ext) = match b1 & 0x7F {
            126 => (u16::from_be_bytes([self.buf[2], self.buf[3]]) as u64, 2),
            127 => {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(&self.buf[2..10]);
                (u64::from_be_bytes(bytes), 8)
            }
            n => (n as u64, 0),
        };
        let mask = masked.then(|| {
            let at = 2 + ext;
            [
                self.buf[at],
                self.buf[at + 1],
                self.buf[at + 2],
                self.buf[at + 3],
            ]
        });
        let info = FrameInfo {
            fin: b0 & 0x80 != 0,
            rsv: [b0 & 0x40 != 0, b0 & 0x20 != 0, b0 & 0x10 != 0],
            opcode: b0 & 0x0F,
            masked,
            len,
            close: None,
            inflated: None,
        };
        self.buf.clear();
        self.current = Some((info, mask));
        if len == 0 {
            self.finish_frame(out);
        } else {
            self.state = State::Payload { remaining: len };
        }
    }

    fn finish_frame(&mut self, out: &mut Vec<FrameInfo>) {
        if let Some((mut info, mask)) = self.current.take() {
            if info.opcode == 0x8 {
                let mut payload = std::mem::take(&mut self.buf);
                if let Some(mask) = mask {
                    for (i, b) in payload.iter_mut().enumerate() {
                        *b ^= mask[i % 4];
                    }
                }
                info.close = Some(parse_close(&payload));
            }
            out.push(info);
        }
        self.buf.clear();
        self.state = State::Header;
    }
}

/// How many header bytes the frame starting with `buf` has (2 until the second
/// byte is known). Also the permessage-deflate codec's.
pub fn header_len(buf: &[u8]) -> usize {
    if buf.len() < 2 {
        return 2;
    }
    let ext = match buf[1] & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if buf[1] & 0x80 != 0 { 4 } else { 0 };
    2 + ext + mask
}

fn parse_close(payload: &[u8]) -> (Option<u16>, String) {
    if payload.len() < 2 {
        return (None, String::new());
    }
    let code = u16::from_be_bytes([payload[0], payload[1]]);
    (
        Some(code),
        String::from_utf8_lossy(&payload[2..]).into_owned(),
    )
}

/// Write a frame header: `b0` (FIN, RSV bits, opcode), the payload length in its
/// shortest form, and the masking key if any.
pub fn write_header(out: &mut Vec<u8>, b0: u8, mask: Option<[u8; 4]>, len: usize) {
    out.push(b0);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match len {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut out = Vec::new();
        write_header(&mut out, b0, mask, payload.len());
        match mask {
            Some(m) => out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4])),
            None => out.extend_from_slice(payload),
        }
        out
    }

    fn parse_all(bytes: &[u8], chunk: usize) -> Vec<FrameInfo> {
        let mut parser = FrameParser::frames_only();
        let mut out = Vec::new();
        for piece in bytes.chunks(chunk.max(1)) {
            parser.feed(piece, &mut out);
        }
        out
    }

    #[test]
    fn every_opcode_and_length_form() {
        let mut bytes = Vec::new();
        bytes.extend(frame(0x81, b"hello", None));
        bytes.extend(frame(0x02, &[7u8; 300], Some([1, 2, 3, 4]))); // 16-bit length, not final
        bytes.extend(frame(0x80, &vec![0u8; 70_000], None)); // 64-bit length continuation
        bytes.extend(frame(0x89, b"p", None));
        bytes.extend(frame(0x8A, b"", Some([9, 9, 9, 9])));
        let mut close = 4001u16.to_be_bytes().to_vec();
        close.extend_from_slice(b"bye");
        bytes.extend(frame(0x88, &close, Some([0xde, 0xad, 0xbe, 0xef])));
        bytes.extend(frame(0xF3, b"", None)); // reserved opcode with RSV bits set
        for chunk in [1, 2, 3, 7, 64, 100_000] {
            let frames = parse_all(&bytes, chunk);
            let summary: Vec<_> = frames
                .iter()
                .map(|f| (f.opcode_name(), f.fin, f.masked, f.len))
                .collect();
            assert_eq!(
                summary,
                [
                    ("text", true, false, 5),
                    ("binary", false, true, 300),
                    ("continuation", true, false, 70_000),
                    ("ping", true, false, 1),
                    ("pong", true, true, 0),
                    ("close", true, true, 5),
                    ("reserved-data", true, false, 0),
                ],
                "chunk size {chunk}"
            );
            assert_eq!(frames[5].close, Some((Some(4001), "bye".to_string())));
            assert_eq!(frames[6].rsv, [true, true, true]);
            assert_eq!(frames[0].rsv, [false, false, false]);
        }
    }

    #[test]
    fn skips_the_http_upgrade_first() {
        let mut bytes = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".to_vec();
        bytes.extend(frame(0x81, b"hi", None));
        bytes.extend(frame(0x88, b"", None));
        for chunk in [1, 3, 1000] {
            let mut parser = FrameParser::after_http();
            let mut out = Vec::new();
            for piece in bytes.chunks(chunk) {
                parser.feed(piece, &mut out);
            }
            assert_eq!(out.len(), 2, "chunk {chunk}");
            assert_eq!(out[0].opcode_name(), "text");
            assert_eq!(out[1].close, Some((None, String::new())));
        }
    }

    /// Whatever bytes arrive, the parser must not panic (a cheap stand-in for a
    /// fuzzer: a deterministic pseudo-random stream in random splits).
    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200 {
            let len = (next() % 4096) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let mut parser = if next() % 2 == 0 {
                FrameParser::frames_only()
            } else {
                FrameParser::after_http()
            };
            let mut out = Vec::new();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let n = 1 + (next() as usize % rest.len());
                parser.feed(&rest[..n], &mut out);
                rest = &rest[n..];
            }
        }
    }
}
