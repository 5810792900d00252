//! The plain data that flows through a run: `Command`s from input sources to the
//! session, and `Event`s from the session to the output sink.

use std::time::{Duration, SystemTime};
use tungstenite::{Bytes, Message};
use wsprobe::frame::FrameInfo;

pub use crate::connect::deflate::Wire;

/// What an input source (stdin reader, `-x` list, REPL) asks the session to do.
#[derive(Debug)]
pub enum Command {
    /// Send these messages, in order. Sources batch them so that one channel item
    /// (and one wake-up of the session) carries many messages.
    Send(Vec<Message>),
    /// The source has nothing more to send: the stop rule's "input ended".
    InputEnded,
    /// The source hit bad input (e.g. invalid UTF-8 on stdin). Everything before it
    /// was sent; the session closes and the run fails with a usage error.
    InputFailed(String),
    /// Close the connection now with this code and reason (REPL `/close`, Ctrl-D).
    Close { code: u16, reason: String },
    /// Multi-client `--listen` (REPL): send to one client only (`/to`).
    SendTo { client: u32, messages: Vec<Message> },
    /// Multi-client `--listen` (REPL): close one client (`/kick`).
    Kick {
        client: u32,
        code: u16,
        reason: String,
    },
    /// Multi-client `--listen` (REPL): show the clients (`/clients`).
    ListClients,
}

/// Which way a message travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

/// The kinds of message a user can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Binary,
    Ping,
    Pong,
}

impl Kind {
    /// What kind `message` is; `None` for Close and raw frames.
    pub fn of(message: &Message) -> Option<Kind> {
        match message {
            Message::Text(_) => Some(Kind::Text),
            Message::Binary(_) => Some(Kind::Binary),
            Message::Ping(_) => Some(Kind::Ping),
            Message::Pong(_) => Some(Kind::Pong),
            Message::Close(_) | Message::Frame(_) => None,
        }
    }
}

/// A message's payload, shared rather than copied; empty for Close and raw frames.
pub fn payload_of(message: &Message) -> Bytes {
    match message {
        Message::Text(t) => Bytes::from(t.clone()),
        Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b.clone(),
        Message::Close(_) | Message::Frame(_) => Bytes::new(),
    }
}

/// The payload size of a data message (text or binary); `None` for the others.
pub fn data_len(message: &Message) -> Option<usize> {
    match message {
        Message::Text(t) => Some(t.len()),
        Message::Binary(b) => Some(b.len()),
        _ => None,
    }
}

/// What was negotiated when the connection opened.
#[derive(Debug, Clone)]
pub struct HandshakeInfo {
    /// The URL dialled (credentials removed).
    pub url: String,
    pub status: u16,
    pub reason: String,
    pub subprotocol: Option<String>,
    /// Request headers as sent (credentials not yet redacted: sinks redact).
    pub request_headers: Vec<(String, String)>,
    pub response_headers: Vec<(String, String)>,
    /// When the upgrade completed.
    pub at: SystemTime,
    /// The address actually connected to (the proxy's, with a proxy).
    pub peer: Option<String>,
    /// The proxy used, credentials redacted.
    pub proxy: Option<String>,
    /// wsprobe accepted this connection (`--listen`): the peer is a client, the
    /// request was received and the response sent.
    pub listening: bool,
    /// For wss://: what the server's certificate says.
    pub certificate: Option<CertificateInfo>,
    /// For wss://: what the TLS handshake agreed on.
    pub tls: Option<TlsInfo>,
    pub timings: Option<Timings>,
    /// permessage-deflate, when it was negotiated: what both ends use.
    pub deflate: Option<crate::connect::deflate::Agreed>,
}

/// How long each step of connecting took (`-v`).
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    pub dns: Duration,
    pub tcp: Duration,
    pub tls: Option<Duration>,
    pub upgrade: Duration,
    pub total: Duration,
}

/// The server certificate, as `-v` shows it.
#[derive(Debug, Clone, Default)]
pub struct CertificateInfo {
    pub subject: String,
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
    pub alt_names: Vec<String>,
}

/// The negotiated TLS parameters (`-v`, the `open` event's `tls`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1.3`
    pub version: String,
    /// `TLS_AES_256_GCM_SHA384`
    pub cipher: String,
    /// `http/1.1`, or `None` when the peer chose no application protocol.
    pub alpn: Option<String>,
}

impl HandshakeInfo {
    /// What the other side is called in messages: "server", or "client" with `--listen`.
    pub fn peer_noun(&self) -> &'static str {
        if self.listening {
            "client"
        } else {
            "server"
        }
    }
}

impl Default for HandshakeInfo {
    fn default() -> Self {
        HandshakeInfo {
            url: String::new(),
            status: 0,
            reason: String::new(),
            subprotocol: None,
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            at: SystemTime::UNIX_EPOCH,
            peer: None,
            proxy: None,
            listening: false,
            certificate: None,
            tls: None,
            timings: None,
            deflate: None,
        }
    }
}

/// `-L`: the server redirected the upgrade and wsprobe follows to `location`
/// (absolute and redacted), its `hop`-th redirect of at most `max`.
#[derive(Debug, Clone)]
pub struct Redirect {
    pub status: u16,
    pub reason: String,
    pub location: String,
    pub hop: u32,
    pub max: u32,
    /// Authorization or Cookie was not sent on, the new URL being another origin.
    pub dropped_credentials: bool,
    pub at: SystemTime,
}

/// A server's answer to the upgrade other than 101 (exit 5). It travels as the
/// cause of the `Error::Handshake` (whose message is what humans see) so that
/// `--jsonl`/`--record` can report it as a `rejected` event with its fields.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub status: u16,
    /// The reason phrase as the server sent it (the standard one if it sent none).
    pub reason: String,
    /// Response headers as received (credentials not yet redacted: sinks redact).
    pub headers: Vec<(String, String)>,
    /// The start of the body: at most [`Rejection::MAX_BODY`] bytes, as text
    /// (invalid UTF-8 replaced by U+FFFD).
    pub body: String,
    pub at: SystemTime,
    /// The Location header exactly as received, for `-L` to follow (shown only
    /// through `headers`, redacted).
    pub location: Option<String>,
}

impl Rejection {
    /// How much of a rejection's body is kept (documented in the README).
    pub const MAX_BODY: usize = 4 * 1024;
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {}", self.status, self.reason)
    }
}

impl std::error::Error for Rejection {}

/// What the session reports to the output sink.
#[derive(Debug)]
pub enum Event<'a> {
    Open(&'a HandshakeInfo),
    Message {
        dir: Direction,
        kind: Kind,
        /// Text payloads are valid UTF-8 (checked on both sides).
        payload: &'a Bytes,
        at: SystemTime,
        /// Data messages under permessage-deflate: how it crossed the wire.
        wire: Option<Wire>,
    },
    Close {
        dir: Direction,
        code: Option<u16>,
        reason: &'a str,
        at: SystemTime,
    },
    /// `-vv`: one frame header as it crossed the wire (after TLS).
    Frame {
        dir: Direction,
        frame: &'a FrameInfo,
        at: SystemTime,
    },
    /// The connection ended and wsprobe will connect again (`--reconnect`).
    Reconnect {
        attempt: u32,
        delay: Duration,
        reason: &'a str,
        at: SystemTime,
    },
    /// `-L`: the server redirected the upgrade; the next hop follows.
    Redirect(&'a Redirect),
    /// The server rejected the upgrade (non-101); the `Error` follows.
    Rejected(&'a Rejection),
    /// The run failed; written last (by the app, not the session), but for the
    /// statistics.
    Error {
        message: &'a str,
        exit_code: i32,
        at: SystemTime,
    },
    /// `--stats`: the run's statistics, the very last event (by the app).
    Stats {
        stats: &'a crate::stats::RunStats,
        at: SystemTime,
    },
    /// Multi-client `--listen`: `event` concerns client `id` (its `Open`, its
    /// messages, its Close); sinks render the event and name the client.
    Client {
        id: u32,
        event: &'a Event<'a>,
    },
    /// Multi-client `--listen`: a client's connection is over (how, in words).
    Disconnected {
        reason: &'a str,
        at: SystemTime,
    },
    /// Something for the person at the REPL (the multi-client listener's notes
    /// and `/clients`); not part of the machine-readable output.
    Note {
        text: &'a str,
        at: SystemTime,
    },
}
