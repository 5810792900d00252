//! The scripted in-process WebSocket server (tungstenite, over TCP or TLS):
//! [`Server`], the [`Conn`] a script drives, what a connection [`Observed`],
//! and common scripts.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tungstenite::handshake::server::{Request, Response};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Error as WsError, Message, WebSocket};

use super::{raw_frame, serve, tls_acceptor, unmasked_frame, KeyPairFiles, Served, DEADLINE};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    Text(String),
    Binary(Vec<u8>),
}

impl Msg {
    fn bytes(&self) -> &[u8] {
        match self {
            Msg::Text(s) => s.as_bytes(),
            Msg::Binary(b) => b,
        }
    }
}

/// FNV-1a over messages, each followed by 0xFF (which never occurs in UTF-8
/// text), so the digest is sensitive to content, boundaries and order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest(pub u64);

impl Default for Digest {
    fn default() -> Self {
        Digest(0xcbf2_9ce4_8422_2325)
    }
}

impl Digest {
    pub fn add(&mut self, bytes: &[u8]) {
        for &b in bytes.iter().chain(std::iter::once(&0xffu8)) {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Everything one connection to a scripted server saw.
#[derive(Debug, Default, Clone)]
pub struct Observed {
    /// Request target (path and query), e.g. `/chat?x=1`.
    pub path: String,
    /// Request headers in order; names lowercased.
    pub headers: Vec<(String, String)>,
    /// Data messages received, in order (unless recording was switched off).
    pub messages: Vec<Msg>,
    /// Number of data messages received (always counted).
    pub count: u64,
    /// Digest of all data messages received (always computed).
    pub digest: Digest,
    /// The Close frame received from the client: (code, reason); a Close
    /// without a status code is recorded as 1005.
    pub close: Option<(u16, String)>,
    /// How the connection ended when it was not a close handshake
    /// (error text), if it did.
    pub error: Option<String>,
    /// Set when the WebSocket (or TLS) handshake itself failed.
    pub handshake_error: Option<String>,
    /// Common name of the TLS client certificate, if one was presented.
    pub client_cert_cn: Option<String>,
    /// Payloads of the Pong frames received.
    pub pongs: Vec<Vec<u8>>,
    /// The Ping frames received: when (since the upgrade) and their payload.
    pub pings: Vec<(Duration, Vec<u8>)>,
}

impl Observed {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of header `name`, comma-separated lists split and trimmed.
    pub fn header_list(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The text messages received, in order (panics on a binary one).
    #[track_caller]
    pub fn texts(&self) -> Vec<&str> {
        self.messages
            .iter()
            .map(|m| match m {
                Msg::Text(s) => s.as_str(),
                Msg::Binary(b) => panic!("expected only text messages, got binary {b:?}"),
            })
            .collect()
    }

    /// The close code received from the client.
    #[track_caller]
    pub fn close_code(&self) -> u16 {
        match &self.close {
            Some((code, _)) => *code,
            None => panic!("the server received no Close frame: {self:?}"),
        }
    }
}

/// A byte stream a scripted server can run a WebSocket over (TCP or TLS).
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// How the server answers `Sec-WebSocket-Protocol`.
#[derive(Clone, Debug, Default)]
pub enum Subprotocol {
    /// Select none (do not send the header).
    #[default]
    None,
    /// Select the first protocol the client offered.
    FirstOffered,
    /// Answer with this one, whatever was offered.
    Always(String),
}

/// TLS for a scripted server.
#[derive(Clone)]
pub enum Tls {
    /// native-tls acceptor with a server identity.
    Native(native_tls::TlsAcceptor),
    /// OpenSSL acceptor (used where a client certificate is required).
    OpenSsl(Arc<openssl::ssl::SslAcceptor>),
}

#[derive(Clone, Default)]
pub struct ServerOpts {
    pub subprotocol: Subprotocol,
    pub tls: Option<Tls>,
    /// Listen on [::1] instead of 127.0.0.1.
    pub ipv6: bool,
    /// Extra headers the server adds to its 101 response, in order.
    pub response_headers: Vec<(String, String)>,
    /// Accept this many connections, then close the listener.
    pub max_connections: Option<usize>,
}

type Script = dyn Fn(&mut Conn) + Send + Sync + 'static;

/// An in-process WebSocket server on a loopback address, port 0. Each
/// connection runs `script` on its own thread; when the script returns, what
/// the connection observed is sent to the test ([`Served::next`], through
/// `Deref`, like `port`, `try_next` and `accepted`).
pub struct Server {
    served: Served<Observed>,
    scheme: &'static str,
}

impl Server {
    /// A plain `ws://` server on 127.0.0.1.
    pub fn start(script: impl Fn(&mut Conn) + Send + Sync + 'static) -> Server {
        Self::start_with(ServerOpts::default(), script)
    }

    pub fn start_with(
        opts: ServerOpts,
        script: impl Fn(&mut Conn) + Send + Sync + 'static,
    ) -> Server {
        Self::try_start_with(opts, script).expect("could not start the test server")
    }

    /// Like [`Server::start_with`]; an error where the address cannot be
    /// bound (e.g. no IPv6 loopback on the machine).
    pub fn try_start_with(
        opts: ServerOpts,
        script: impl Fn(&mut Conn) + Send + Sync + 'static,
    ) -> io::Result<Server> {
        let bind = if opts.ipv6 { "[::1]:0" } else { "127.0.0.1:0" };
        Ok(Self::on(TcpListener::bind(bind)?, opts, script))
    }

    /// A server on a listener the test bound itself.
    pub fn on(
        listener: TcpListener,
        opts: ServerOpts,
        script: impl Fn(&mut Conn) + Send + Sync + 'static,
    ) -> Server {
        let scheme = if opts.tls.is_some() { "wss" } else { "ws" };
        let script: Arc<Script> = Arc::new(script);
        let limit = opts.max_connections;
        let served = serve(listener, limit, move |tcp, tx| {
            let _ = tx.send(serve_connection(tcp, &opts, &*script));
        });
        Server { served, scheme }
    }

    /// `ws://127.0.0.1:PORT/` (or `wss://`, or `[::1]`).
    pub fn url(&self) -> String {
        self.url_path("/")
    }

    pub fn url_path(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr(), path)
    }

    /// `wss://localhost:PORT/` style URL with a host name.
    pub fn url_host(&self, host: &str) -> String {
        format!("{}://{}:{}/", self.scheme, host, self.port())
    }
}

impl std::ops::Deref for Server {
    type Target = Served<Observed>;

    fn deref(&self) -> &Served<Observed> {
        &self.served
    }
}

/// An echo server over TLS presenting `pair` (signed by the test CA).
pub fn tls_echo_server(pair: &KeyPairFiles) -> Server {
    let opts = ServerOpts {
        tls: Some(tls_acceptor(pair)),
        ..Default::default()
    };
    Server::start_with(opts, echo)
}

/// Request target and headers, captured in the handshake callback.
type RequestSeen = (String, Vec<(String, String)>);

// The callback's error type is tungstenite's `ErrorResponse`.
#[allow(clippy::result_large_err)]
fn serve_connection(tcp: TcpStream, opts: &ServerOpts, script: &Script) -> Observed {
    let mut obs = Observed::default();
    let raw = match tcp.try_clone() {
        Ok(t) => t,
        Err(e) => {
            obs.handshake_error = Some(e.to_string());
            return obs;
        }
    };
    let stream: Box<dyn Stream> = match &opts.tls {
        None => Box::new(tcp),
        Some(Tls::Native(acceptor)) => match acceptor.accept(tcp) {
            Ok(s) => Box::new(s),
            Err(e) => {
                obs.handshake_error = Some(format!("TLS: {e}"));
                return obs;
            }
        },
        Some(Tls::OpenSsl(acceptor)) => match acceptor.accept(tcp) {
            Ok(s) => {
                obs.client_cert_cn = s.ssl().peer_certificate().and_then(|c| {
                    c.subject_name()
                        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
                        .next()
                        .and_then(|e| e.data().to_string().ok())
                });
                Box::new(s)
            }
            Err(e) => {
                obs.handshake_error = Some(format!("TLS: {e}"));
                return obs;
            }
        },
    };
    let seen: Arc<Mutex<RequestSeen>> = Arc::default();
    let seen2 = seen.clone();
    let subprotocol = opts.subprotocol.clone();
    let extra_headers = opts.response_headers.clone();
    let callback = move |req: &Request, mut resp: Response| {
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        let headers = req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect::<Vec<_>>();
        let offered: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n == "sec-websocket-protocol")
            .flat_map(|(_, v)| v.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let chosen = match &subprotocol {
            Subprotocol::None => None,
            Subprotocol::FirstOffered => offered.first().cloned(),
            Subprotocol::Always(p) => Some(p.clone()),
        };
        if let Some(p) = chosen {
            resp.headers_mut()
                .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
        }
        for (name, value) in &extra_headers {
            let name = tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                .expect("test response header name");
            resp.headers_mut()
                .append(name, value.parse().expect("test response header value"));
        }
        *seen2.lock().unwrap() = (path, headers);
        Ok(resp)
    };
    let ws = match tungstenite::accept_hdr(stream, callback) {
        Ok(ws) => ws,
        Err(e) => {
            let (path, headers) = std::mem::take(&mut *seen.lock().unwrap());
            obs.path = path;
            obs.headers = headers;
            obs.handshake_error = Some(e.to_string());
            return obs;
        }
    };
    let (path, headers) = std::mem::take(&mut *seen.lock().unwrap());
    obs.path = path;
    obs.headers = headers;
    let mut conn = Conn {
        ws,
        tcp: raw,
        opened: Instant::now(),
        obs,
        record: true,
        plain: opts.tls.is_none(),
    };
    script(&mut conn);
    conn.obs
}

/// One accepted WebSocket connection, as seen by a server script.
pub struct Conn {
    ws: WebSocket<Box<dyn Stream>>,
    tcp: TcpStream,
    /// When the upgrade completed.
    opened: Instant,
    pub obs: Observed,
    record: bool,
    plain: bool,
}

enum Read1 {
    Data(Msg),
    Control,
    /// The connection is over (close handshake done, EOF or error).
    Ended,
}

impl Conn {
    /// Stop keeping every message (count and digest are still kept); for
    /// runs with very many messages.
    pub fn set_record(&mut self, record: bool) {
        self.record = record;
    }

    fn note(&mut self, msg: &Msg) {
        self.obs.count += 1;
        self.obs.digest.add(msg.bytes());
        if self.record {
            self.obs.messages.push(msg.clone());
        }
    }

    fn note_error(&mut self, e: &WsError) {
        if self.obs.error.is_none() {
            self.obs.error = Some(e.to_string());
        }
    }

    fn note_close(&mut self, frame: &Option<CloseFrame>) {
        self.obs.close = Some(match frame {
            Some(f) => (u16::from(f.code), f.reason.to_string()),
            None => (1005, String::new()),
        });
    }

    fn read1(&mut self) -> Read1 {
        match self.ws.read() {
            Ok(Message::Text(t)) => {
                let m = Msg::Text(t.to_string());
                self.note(&m);
                Read1::Data(m)
            }
            Ok(Message::Binary(b)) => {
                let m = Msg::Binary(b.to_vec());
                self.note(&m);
                Read1::Data(m)
            }
            Ok(Message::Close(frame)) => {
                self.note_close(&frame);
                Read1::Control
            }
            Ok(Message::Pong(p)) => {
                self.obs.pongs.push(p.to_vec());
                Read1::Control
            }
            Ok(Message::Ping(p)) => {
                let at = self.opened.elapsed();
                self.obs.pings.push((at, p.to_vec()));
                Read1::Control
            }
            Ok(_) => Read1::Control,
            Err(WsError::ConnectionClosed) | Err(WsError::AlreadyClosed) => Read1::Ended,
            Err(e) => {
                self.note_error(&e);
                Read1::Ended
            }
        }
    }

    /// Give up reading after `limit` (a read then ends like EOF): for servers
    /// that require an answer in time.
    pub fn set_read_timeout(&mut self, limit: Option<Duration>) {
        let _ = self.tcp.set_read_timeout(limit);
    }

    /// The next data message from the client; `None` once the connection is
    /// over (after a Close from the client has been answered, or on EOF).
    pub fn recv(&mut self) -> Option<Msg> {
        loop {
            match self.read1() {
                Read1::Data(m) => return Some(m),
                Read1::Control => continue,
                Read1::Ended => return None,
            }
        }
    }

    /// Reads (recording data messages) until a Pong arrives; `false` if the
    /// connection ended first.
    pub fn wait_pong(&mut self) -> bool {
        let before = self.obs.pongs.len();
        while self.obs.pongs.len() == before {
            if let Read1::Ended = self.read1() {
                return false;
            }
        }
        true
    }

    /// Reads (recording data messages, pongs and the client's Close) until
    /// `done(observed)` holds; `false` if the connection ended first.
    pub fn recv_until(&mut self, mut done: impl FnMut(&Observed) -> bool) -> bool {
        while !done(&self.obs) {
            if let Read1::Ended = self.read1() {
                return false;
            }
        }
        true
    }

    /// Reads (recording data messages) until the client's Close frame
    /// arrives, without answering it as long as the script makes no further
    /// call on the WebSocket (e.g. follow with [`Conn::stall`]). `false` if the
    /// connection ended first.
    pub fn until_close_frame(&mut self) -> bool {
        while self.obs.close.is_none() {
            if let Read1::Ended = self.read1() {
                return false;
            }
        }
        true
    }

    pub fn send(&mut self, msg: Message) -> bool {
        match self.ws.send(msg) {
            Ok(()) => true,
            Err(e) => {
                self.note_error(&e);
                false
            }
        }
    }

    pub fn send_text(&mut self, text: &str) -> bool {
        self.send(Message::text(text))
    }

    pub fn send_binary(&mut self, data: &[u8]) -> bool {
        self.send(Message::binary(data.to_vec()))
    }

    /// Sends Close with `code`/`reason`, then reads (recording) until the
    /// client's Close and the end of the connection.
    pub fn close(&mut self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        match self.ws.close(Some(frame)) {
            Ok(()) | Err(WsError::ConnectionClosed) => {}
            Err(e) => {
                self.note_error(&e);
                return;
            }
        }
        self.drain();
    }

    /// Reads and records until the connection ends; answers the client's
    /// Close (and pings) but never sends data.
    pub fn drain(&mut self) {
        while self.recv().is_some() {}
    }

    /// Echoes every data message until the connection ends. Uses a
    /// non-blocking socket and poll(2), so replies are batched and flushed
    /// when there is nothing more to read, and the server stops reading while
    /// the client is not reading its replies (back-pressure).
    pub fn echo(&mut self) {
        if !self.plain {
            // Simple blocking echo for TLS.
            while let Some(m) = self.recv() {
                let reply = match m {
                    Msg::Text(t) => Message::text(t),
                    Msg::Binary(b) => Message::binary(b),
                };
                if !self.send(reply) {
                    break;
                }
            }
            self.drain();
            return;
        }
        if self.tcp.set_nonblocking(true).is_err() {
            return;
        }
        let fd = self.tcp.as_raw_fd();
        let mut backlog = false;
        loop {
            if !backlog {
                match self.ws.read() {
                    Ok(msg) => {
                        let reply = match msg {
                            Message::Text(t) => {
                                self.note(&Msg::Text(t.to_string()));
                                Message::Text(t)
                            }
                            Message::Binary(b) => {
                                self.note(&Msg::Binary(b.to_vec()));
                                Message::Binary(b)
                            }
                            Message::Close(frame) => {
                                self.note_close(&frame);
                                continue;
                            }
                            _ => continue,
                        };
                        match self.ws.write(reply) {
                            Ok(()) => {}
                            Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                                backlog = true;
                            }
                            Err(WsError::ConnectionClosed) => break,
                            Err(e) => {
                                self.note_error(&e);
                                break;
                            }
                        }
                        continue;
                    }
                    Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(WsError::ConnectionClosed) | Err(WsError::AlreadyClosed) => break,
                    Err(e) => {
                        self.note_error(&e);
                        break;
                    }
                }
            }
            // Nothing more to read right now (or the client is behind):
            // flush what is queued, then wait.
            let events = match self.ws.flush() {
                Ok(()) if backlog => {
                    backlog = false;
                    continue;
                }
                Ok(()) => libc::POLLIN,
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    backlog = true;
                    libc::POLLOUT
                }
                Err(WsError::ConnectionClosed) | Err(WsError::AlreadyClosed) => break,
                Err(e) => {
                    self.note_error(&e);
                    break;
                }
            };
            let mut pfd = libc::pollfd {
                fd,
                events,
                revents: 0,
            };
            // SAFETY: one valid pollfd for a socket we own.
            let n = unsafe { libc::poll(&mut pfd, 1, DEADLINE.as_millis() as i32) };
            if n == 0 {
                self.obs.error = Some("echo: client idle for too long".into());
                break;
            }
        }
        let _ = self.tcp.set_nonblocking(false);
    }

    /// Sends messages made by `next(i)` (i = 0, 1, ...) as fast as the
    /// client takes them, until `next` returns `None`, the client sends
    /// Close, or the connection ends; meanwhile reads (and records) what the
    /// client sends. If `next` ran out: closes with `close_code` if given,
    /// otherwise keeps reading until the client ends the connection.
    pub fn flood(&mut self, mut next: impl FnMut(u64) -> Option<Message>, close_code: Option<u16>) {
        if self.tcp.set_nonblocking(true).is_err() {
            return;
        }
        let fd = self.tcp.as_raw_fd();
        let mut i = 0u64;
        let mut sending = true;
        let mut ran_out = false;
        'outer: loop {
            // Read whatever the client has sent.
            loop {
                match self.ws.read() {
                    Ok(Message::Text(t)) => self.note(&Msg::Text(t.to_string())),
                    Ok(Message::Binary(b)) => self.note(&Msg::Binary(b.to_vec())),
                    Ok(Message::Close(frame)) => {
                        self.note_close(&frame);
                        sending = false;
                    }
                    Ok(_) => {}
                    Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(WsError::ConnectionClosed) | Err(WsError::AlreadyClosed) => break 'outer,
                    Err(e) => {
                        self.note_error(&e);
                        break 'outer;
                    }
                }
            }
            // Queue a batch.
            let mut blocked = false;
            if sending {
                for _ in 0..256 {
                    let Some(msg) = next(i) else {
                        sending = false;
                        ran_out = true;
                        break;
                    };
                    i += 1;
                    match self.ws.write(msg) {
                        Ok(()) => {}
                        Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                            blocked = true;
                            break;
                        }
                        Err(e) => {
                            self.note_error(&e);
                            break 'outer;
                        }
                    }
                }
                if let (true, Some(code)) = (ran_out, close_code) {
                    let frame = CloseFrame {
                        code: CloseCode::from(code),
                        reason: "".into(),
                    };
                    match self.ws.close(Some(frame)) {
                        Ok(()) => {}
                        Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                            blocked = true
                        }
                        Err(WsError::ConnectionClosed) => break 'outer,
                        Err(e) => {
                            self.note_error(&e);
                            break 'outer;
                        }
                    }
                }
            }
            if !blocked {
                match self.ws.flush() {
                    Ok(()) => {}
                    Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => blocked = true,
                    Err(WsError::ConnectionClosed) | Err(WsError::AlreadyClosed) => break,
                    Err(e) => {
                        self.note_error(&e);
                        break;
                    }
                }
            }
            if sending && !blocked {
                continue; // room for more
            }
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN | if blocked { libc::POLLOUT } else { 0 },
                revents: 0,
            };
            // SAFETY: one valid pollfd for a socket we own.
            let n = unsafe { libc::poll(&mut pfd, 1, DEADLINE.as_millis() as i32) };
            if n == 0 {
                self.obs.error = Some("flood: client idle for too long".into());
                break;
            }
        }
        let _ = self.tcp.set_nonblocking(false);
    }

    /// Writes raw bytes to the connection, bypassing tungstenite (for
    /// malformed frames).
    pub fn write_raw(&mut self, bytes: &[u8]) {
        let _ = self.ws.flush();
        let s = self.ws.get_mut();
        let _ = s.write_all(bytes);
        let _ = s.flush();
    }

    /// Sends a text frame whose payload is `payload` as is (even if it is
    /// not UTF-8).
    pub fn send_raw_text(&mut self, payload: &[u8]) {
        self.write_raw(&unmasked_frame(0x1, payload));
    }

    /// Sends one unmasked frame with the given FIN bit, opcode and payload,
    /// bypassing tungstenite (for fragmented messages and interleaved
    /// control frames).
    pub fn send_raw_frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        self.write_raw(&raw_frame(fin, opcode, payload));
    }

    /// Never answers anything again: reads raw bytes until the client goes
    /// away (or [`DEADLINE`]), without replying even to Close.
    pub fn stall(&mut self) {
        let mut buf = [0u8; 4096];
        let _ = self.tcp.set_nonblocking(false);
        while let Ok(n) = self.tcp.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    }

    /// Ends the TCP connection without a Close frame (FIN, not RST, as long
    /// as the client has sent nothing unread).
    pub fn shutdown(&mut self) {
        let _ = self.ws.flush();
        let _ = self.tcp.shutdown(Shutdown::Both);
    }
}

// Common scripts.

/// Echo every message until the client closes.
pub fn echo(conn: &mut Conn) {
    conn.echo();
}

/// Sends `texts`, then closes with `code`/`reason`.
pub fn push_then_close(
    texts: &'static [&'static str],
    code: u16,
    reason: &'static str,
) -> impl Fn(&mut Conn) + Send + Sync + 'static {
    move |conn: &mut Conn| {
        for t in texts {
            conn.send_text(t);
        }
        conn.close(code, reason);
    }
}
