//! One client of the multi-client listener: its WebSocket, where its close
//! handshake is, how much waits in its send queue, and its counters (`/clients`).
//!
//! The client does only what concerns its own socket; the hub decides what is
//! sent to whom and reports what arrives.

use mio::Interest;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Bytes, Message, Utf8Bytes, WebSocket};

use crate::connect::{describe_error, Connection, Tapped};
use crate::event::{data_len, payload_of, HandshakeInfo, Wire};

/// Where a client's connection is.
#[derive(Debug)]
pub enum Phase {
    Open,
    /// We sent Close (`code`); waiting for the client's answer until `deadline`.
    Closing {
        code: u16,
        deadline: Instant,
    },
    /// The client sent Close; our answer is being flushed until `deadline`.
    PeerClosed {
        code: Option<u16>,
        reason: String,
        deadline: Instant,
    },
    /// Nothing more to do: the connection is over (how, in words).
    Over(String),
}

/// What one read from a client produced.
pub enum Incoming {
    Data {
        payload: Bytes,
        /// The payload as checked UTF-8, for a text message.
        text: Option<Utf8Bytes>,
        wire: Option<Wire>,
    },
    Ping(Bytes),
    Pong(Bytes),
    /// The client's Close frame, its code as it was on the wire.
    Close {
        code: Option<u16>,
        reason: String,
    },
    /// The connection is over, in words (dropped, reset, a protocol error…).
    Gone(String),
    /// The client broke the protocol: close with this code.
    Broke {
        code: u16,
        reason: &'static str,
        why: String,
    },
}

/// How a read turn ended.
pub enum ReadEnd {
    /// Everything available was read.
    Drained,
    /// A limit of this turn was hit: more may be waiting.
    More,
}

pub struct Client {
    pub id: u32,
    pub ws: WebSocket<Tapped>,
    pub fd: RawFd,
    pub info: HandshakeInfo,
    pub connected_at: Instant,
    pub phase: Phase,
    /// What the poller watches for on this socket.
    pub interest: Interest,
    /// The socket's send buffer is full: what is written waits in tungstenite's.
    pub write_blocked: bool,
    pub write_error: Option<String>,
    /// Frame bytes handed to tungstenite, to compare with what the socket took.
    handed: u64,
    /// Since when the send queue has been over its limit (cleared below half).
    pub full_since: Option<Instant>,
    /// `--max-clients` was reached: this connection only gets a Close 1013.
    pub refused: bool,
    /// Pings read while the send buffer was full (each queues a pong).
    pub pings_while_blocked: usize,
    pub messages_in: u64,
    pub messages_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// A frame's header is at most this long (server frames are not masked).
const FRAME_HEADER: u64 = 10;

impl Client {
    pub fn new(id: u32, connection: Connection) -> Client {
        let Connection { ws, info } = connection;
        let fd = ws.get_ref().transport().as_raw_fd();
        Client {
            id,
            ws,
            fd,
            info,
            connected_at: Instant::now(),
            phase: Phase::Open,
            interest: Interest::READABLE,
            write_blocked: false,
            write_error: None,
            handed: 0,
            full_since: None,
            refused: false,
            pings_while_blocked: 0,
            messages_in: 0,
            messages_out: 0,
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open) && self.write_error.is_none()
    }

    /// Bytes waiting to be taken by the client's socket.
    pub fn queued(&self) -> u64 {
        self.handed.saturating_sub(self.ws.get_ref().written())
    }

    /// Queue a message (compressed first under permessage-deflate) and write what
    /// the socket takes. Returns how it goes on the wire, for the output.
    pub fn send(&mut self, message: Message) -> Option<Wire> {
        if self.write_error.is_some() {
            return None;
        }
        let data = data_len(&message);
        let (message, wire) = self.ws.get_mut().encode(message);
        let on_wire = wire.map_or_else(|| payload_of(&message).len() as u64, |w| w.size);
        self.handed += on_wire + FRAME_HEADER;
        if let Some(len) = data {
            self.messages_out += 1;
            self.bytes_out += len as u64;
        }
        match self.ws.write(message) {
            Ok(()) => {}
            // Queued in tungstenite's buffer: the socket is full.
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.write_blocked = true;
            }
            Err(e) => self.write_error = Some(describe_error(&e)),
        }
        wire
    }

    /// Write out what is queued, as far as the socket takes it.
    pub fn flush(&mut self) {
        if self.write_error.is_some() {
            return;
        }
        match self.ws.flush() {
            Ok(()) => self.write_blocked = false,
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.write_blocked = true;
            }
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                self.write_blocked = false;
            }
            Err(e) => self.write_error = Some(describe_error(&e)),
        }
        if !self.write_blocked {
            self.pings_while_blocked = 0;
        }
    }

    /// Send our Close (once) and wait for the answer until `deadline`.
    pub fn close(&mut self, code: u16, reason: &str, deadline: Instant) {
        if !matches!(self.phase, Phase::Open) {
            return;
        }
        if self.write_error.is_none() {
            let frame = CloseFrame {
                code: CloseCode::from(code),
                reason: reason.to_string().into(),
            };
            match self.ws.close(Some(frame)) {
                Ok(()) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.write_blocked = true;
                }
                Err(e) => self.write_error = Some(describe_error(&e)),
            }
        }
        self.phase = Phase::Closing { code, deadline };
    }

    /// Read at most `burst` messages and `budget` bytes into `out`.
    pub fn read(&mut self, out: &mut Vec<Incoming>, burst: usize, budget: usize) -> ReadEnd {
        self.ws.get_mut().refill(budget);
        for _ in 0..burst {
            let incoming = match self.ws.read() {
                Ok(Message::Text(text)) => Incoming::Data {
                    payload: Bytes::from(text.clone()),
                    text: Some(text),
                    wire: self.ws.get_mut().take_wire(),
                },
                Ok(Message::Binary(payload)) => Incoming::Data {
                    payload,
                    text: None,
                    wire: self.ws.get_mut().take_wire(),
                },
                Ok(Message::Ping(payload)) => {
                    if self.write_blocked {
                        self.pings_while_blocked += 1;
                    }
                    Incoming::Ping(payload)
                }
                Ok(Message::Pong(payload)) => Incoming::Pong(payload),
                Ok(Message::Close(frame)) => {
                    // tungstenite replaces codes that may not be sent; the tap saw
                    // the wire.
                    let (code, reason) = match self.ws.get_ref().last_close() {
                        Some((code, reason)) => (*code, reason.clone()),
                        None => match frame {
                            Some(f) => (Some(u16::from(f.code)), f.reason.to_string()),
                            None => (None, String::new()),
                        },
                    };
                    out.push(Incoming::Close { code, reason });
                    return ReadEnd::Drained;
                }
                Ok(Message::Frame(_)) => continue,
                Err(e) => {
                    return match self.read_error(e) {
                        Some(incoming) => {
                            out.push(incoming);
                            ReadEnd::Drained
                        }
                        None if self.ws.get_ref().exhausted() => ReadEnd::More,
                        None => ReadEnd::Drained,
                    }
                }
            };
            if let Incoming::Data { payload, .. } = &incoming {
                self.messages_in += 1;
                self.bytes_in += payload.len() as u64;
            }
            out.push(incoming);
        }
        ReadEnd::More
    }

    /// A read error as what it means for the client; `None` when the socket
    /// simply has nothing more for now.
    fn read_error(&mut self, e: tungstenite::Error) -> Option<Incoming> {
        use tungstenite::error::ProtocolError as P;
        use tungstenite::Error as E;
        if let Some(failure) = self.ws.get_ref().deflate_failure().cloned() {
            let (code, reason) = match failure {
                crate::connect::deflate::Failure::TooBig { .. } => (1009, "message too big"),
                crate::connect::deflate::Failure::Corrupt(_) => (1007, "invalid compressed data"),
            };
            return Some(Incoming::Broke {
                code,
                reason,
                why: format!("sent {failure}"),
            });
        }
        Some(match e {
            E::Io(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                return None
            }
            E::ConnectionClosed
            | E::AlreadyClosed
            | E::Protocol(P::ResetWithoutClosingHandshake) => Incoming::Gone(match self.phase {
                Phase::Closing { .. } => "closed without answering our Close".into(),
                _ => "closed the connection without a Close frame".into(),
            }),
            E::Io(e) => Incoming::Gone(format!(
                "connection lost: {}",
                crate::connect::plain_io_message(&e)
            )),
            E::Utf8(_) => Incoming::Broke {
                code: 1007,
                reason: "invalid UTF-8",
                why: "sent a text message that is not valid UTF-8".into(),
            },
            E::Capacity(c) => Incoming::Broke {
                code: 1009,
                reason: "message too big",
                why: format!("{c} (see --max-message-size)"),
            },
            E::Protocol(p) => Incoming::Broke {
                code: 1002,
                reason: "protocol error",
                why: format!("protocol error: {}", crate::text::escape(&p.to_string())),
            },
            other => Incoming::Gone(describe_error(&other)),
        })
    }
}
