//! Shared helpers for wsprobe's integration tests: running the binary,
//! scripted in-process WebSocket servers (tungstenite), raw misbehaving TCP
//! servers, test-time TLS certificates (rcgen) and the independent Python
//! `websockets` peer (tests/peer/).
//!
//! Every wait has a deadline; nothing sleeps for a fixed time. Servers only
//! ever listen on loopback addresses, port 0.

#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::handshake::server::{Request, Response};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Error as WsError, Message, WebSocket};

/// Upper bound for anything a test waits for (a run of the binary, a server
/// observation, a line of output). Generous, because CI machines are slow;
/// a hang fails the test after this long instead of hanging the suite.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The version wsprobe reports in its default User-Agent.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

// ---------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------

/// Path of the wsprobe binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_wsprobe")
}

/// Environment variables that could change how wsprobe behaves (proxies,
/// colors); removed so the tests do not depend on the caller's shell.
const SCRUBBED_ENV: &[&str] = &[
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "WS_PROXY",
    "WSS_PROXY",
    "ws_proxy",
    "wss_proxy",
    "CLICOLOR_FORCE",
];

fn scrub(cmd: &mut Command) {
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1");
}

/// A `std::process::Command` for wsprobe with a scrubbed environment, for
/// tests that drive a live process (see [`Live`]).
pub fn wsprobe_cmd() -> Command {
    let mut cmd = Command::new(bin());
    scrub(&mut cmd);
    cmd
}

/// The outcome of one finished run of wsprobe.
pub struct Run {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
}

/// Runs wsprobe with `args` and `stdin` as its whole standard input (a pipe,
/// so wsprobe is in pipe mode), killing it after [`DEADLINE`].
pub fn wsprobe(args: &[&str], stdin: impl Into<Vec<u8>>) -> Run {
    wsprobe_with_timeout(args, stdin, DEADLINE)
}

/// Like [`wsprobe`] with a chosen deadline.
pub fn wsprobe_with_timeout(args: &[&str], stdin: impl Into<Vec<u8>>, timeout: Duration) -> Run {
    wsprobe_env(args, stdin, &[], timeout)
}

/// Like [`wsprobe_with_timeout`], with extra environment variables (e.g.
/// `TZ`).
pub fn wsprobe_env(
    args: &[&str],
    stdin: impl Into<Vec<u8>>,
    env: &[(&str, &str)],
    timeout: Duration,
) -> Run {
    let mut std_cmd = wsprobe_cmd();
    std_cmd.args(args);
    for (k, v) in env {
        std_cmd.env(k, v);
    }
    let mut cmd = assert_cmd::Command::from_std(std_cmd);
    cmd.write_stdin(stdin).timeout(timeout);
    let start = Instant::now();
    let out = cmd.output().expect("could not run wsprobe");
    Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: out.status.code(),
        status: out.status,
        stdout: out.stdout,
        stderr: out.stderr,
        elapsed: start.elapsed(),
    }
}

/// Every environment variable wsprobe reads to choose a proxy (the default
/// scrub above misses the lowercase `ws_proxy` and `wss_proxy`).
pub const PROXY_ENV: &[&str] = &[
    "ws_proxy",
    "WS_PROXY",
    "wss_proxy",
    "WSS_PROXY",
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// Like [`wsprobe`], but with every variable of [`PROXY_ENV`] removed and
/// then exactly the variables of `env` set: for proxy tests, which must not
/// depend on the caller's shell.
pub fn wsprobe_proxy_env(args: &[&str], stdin: impl Into<Vec<u8>>, env: &[(&str, &str)]) -> Run {
    let mut std_cmd = wsprobe_cmd();
    std_cmd.args(args);
    for var in PROXY_ENV {
        std_cmd.env_remove(var);
    }
    for (k, v) in env {
        std_cmd.env(k, v);
    }
    let mut cmd = assert_cmd::Command::from_std(std_cmd);
    cmd.write_stdin(stdin).timeout(DEADLINE);
    let start = Instant::now();
    let out = cmd.output().expect("could not run wsprobe");
    Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: out.status.code(),
        status: out.status,
        stdout: out.stdout,
        stderr: out.stderr,
        elapsed: start.elapsed(),
    }
}

fn clip(bytes: &[u8]) -> String {
    const MAX: usize = 2000;
    let s = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]).into_owned();
    if bytes.len() > MAX {
        format!("{s}... ({} bytes in all)", bytes.len())
    } else {
        s
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "wsprobe {:?}", self.args)?;
        writeln!(f, "  status: {} (after {:?})", self.status, self.elapsed)?;
        writeln!(f, "  stdout: {:?}", clip(&self.stdout))?;
        write!(f, "  stderr: {:?}", clip(&self.stderr))
    }
}

impl Run {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(expected),
            "expected exit code {expected}\n{self}"
        );
        self
    }

    #[track_caller]
    pub fn stdout(&self, expected: impl AsRef<[u8]>) -> &Self {
        let expected = expected.as_ref();
        assert!(
            self.stdout == expected,
            "expected stdout {:?}\n{self}",
            clip(expected)
        );
        self
    }

    #[track_caller]
    pub fn stderr_empty(&self) -> &Self {
        assert!(self.stderr.is_empty(), "expected empty stderr\n{self}");
        self
    }

    /// stderr contains `needle`, ignoring ASCII case.
    #[track_caller]
    pub fn stderr_contains(&self, needle: &str) -> &Self {
        let hay = self.stderr_str().to_ascii_lowercase();
        assert!(
            hay.contains(&needle.to_ascii_lowercase()),
            "expected stderr to contain {needle:?}\n{self}"
        );
        self
    }

    /// stderr contains at least one of `needles`, ignoring ASCII case.
    #[track_caller]
    pub fn stderr_contains_any(&self, needles: &[&str]) -> &Self {
        let hay = self.stderr_str().to_ascii_lowercase();
        assert!(
            needles
                .iter()
                .any(|n| hay.contains(&n.to_ascii_lowercase())),
            "expected stderr to contain one of {needles:?}\n{self}"
        );
        self
    }

    /// stderr is exactly one line, starting with `wsprobe: `.
    #[track_caller]
    pub fn one_error_line(&self) -> &Self {
        let err = self.stderr_str();
        let body = err.strip_suffix('\n').unwrap_or(&err);
        assert!(
            body.starts_with("wsprobe: ") && !body.contains('\n'),
            "expected one stderr line starting with `wsprobe: `\n{self}"
        );
        self
    }

    /// No panic message or backtrace on stderr.
    #[track_caller]
    pub fn no_panic(&self) -> &Self {
        let err = self.stderr_str();
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
            "wsprobe panicked\n{self}"
        );
        self
    }
}

/// Where a [`Live`] process's stdout goes.
pub enum LiveStdout {
    /// Read line by line (terminator included) into [`Live::line`].
    Lines,
    /// Read this many lines, then close the read end of the pipe (like
    /// `| head -N`).
    LinesThenClose(usize),
    /// Written to this file.
    File(std::fs::File),
}

/// A running wsprobe process driven step by step (signals, interleaved
/// input and output). Killed on drop if still running.
pub struct Live {
    pid: i32,
    pub stdin: Option<ChildStdin>,
    lines: Option<Receiver<Vec<u8>>>,
    stderr: Option<thread::JoinHandle<Vec<u8>>>,
    exit: Receiver<ExitStatus>,
    exited: Option<ExitStatus>,
    args: Vec<String>,
}

impl Live {
    /// Starts wsprobe with piped stdin (kept open until [`Live::close_stdin`])
    /// and captured stderr.
    pub fn spawn(args: &[&str], stdout: LiveStdout) -> Live {
        Self::spawn_with_stdin(args, Stdio::piped(), stdout)
    }

    pub fn spawn_with_stdin(args: &[&str], stdin: impl Into<Stdio>, stdout: LiveStdout) -> Live {
        let mut cmd = wsprobe_cmd();
        cmd.args(args).stdin(stdin).stderr(Stdio::piped());
        let mut max_lines = None;
        match stdout {
            LiveStdout::Lines => {
                cmd.stdout(Stdio::piped());
            }
            LiveStdout::LinesThenClose(n) => {
                cmd.stdout(Stdio::piped());
                max_lines = Some(n);
            }
            LiveStdout::File(f) => {
                cmd.stdout(f);
            }
        }
        let mut child: Child = cmd.spawn().expect("could not start wsprobe");
        let pid = child.id() as i32;
        let lines = child.stdout.take().map(|out| {
            let (tx, rx) = mpsc::channel();
            thread::spawn(move || {
                let mut reader = BufReader::new(out);
                let mut read = 0;
                loop {
                    if max_lines.is_some_and(|m| read >= m) {
                        break; // drops the pipe's read end
                    }
                    let mut line = Vec::new();
                    match reader.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            read += 1;
                            if tx.send(line).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
            rx
        });
        let stderr = child.stderr.take().map(|mut err| {
            thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = err.read_to_end(&mut buf);
                buf
            })
        });
        let stdin = child.stdin.take();
        let (tx, exit) = mpsc::channel();
        thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = tx.send(status);
            }
        });
        Live {
            pid,
            stdin,
            lines,
            stderr,
            exit,
            exited: None,
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Writes to wsprobe's stdin and flushes.
    pub fn send_stdin(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        stdin.write_all(data).expect("write to wsprobe's stdin");
        stdin.flush().expect("flush wsprobe's stdin");
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next line wsprobe wrote to stdout (with its `\n`), or `None` at
    /// end of output. Panics after [`DEADLINE`].
    #[track_caller]
    pub fn line(&mut self) -> Option<Vec<u8>> {
        let rx = self
            .lines
            .as_ref()
            .expect("stdout is not captured as lines");
        match rx.recv_timeout(DEADLINE) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => {
                panic!("no line from wsprobe {:?} within {DEADLINE:?}", self.args)
            }
        }
    }

    pub fn signal(&self, sig: i32) {
        if self.exited.is_none() {
            // SAFETY: plain kill(2) on our own child, which has not been reaped
            // (the waiter thread only reaps it after it exits).
            unsafe {
                libc::kill(self.pid, sig);
            }
        }
    }

    /// Waits for the process to exit; kills it and panics after `timeout`.
    /// Returns the exit status and everything it wrote to stderr.
    #[track_caller]
    pub fn wait(&mut self, timeout: Duration) -> (ExitStatus, String) {
        let status = match self.exited {
            Some(s) => s,
            None => match self.exit.recv_timeout(timeout) {
                Ok(s) => s,
                Err(_) => {
                    self.signal(libc::SIGKILL);
                    let err = self.take_stderr();
                    panic!(
                        "wsprobe {:?} did not exit within {timeout:?}; stderr: {err:?}",
                        self.args
                    );
                }
            },
        };
        self.exited = Some(status);
        (status, self.take_stderr())
    }

    fn take_stderr(&mut self) -> String {
        match self.stderr.take() {
            Some(h) => String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned(),
            None => String::new(),
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if self.exited.is_none() && self.exit.try_recv().is_err() {
            self.signal(libc::SIGKILL);
        }
    }
}

// ---------------------------------------------------------------------------
// What a scripted server observed
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Scripted WebSocket server (tungstenite)
// ---------------------------------------------------------------------------

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
}

type Script = dyn Fn(&mut Conn) + Send + Sync + 'static;

/// An in-process WebSocket server on a loopback address, port 0. Each
/// connection runs `script` on its own thread; when the script returns, what
/// the connection observed is sent to the test ([`Server::next`]).
pub struct Server {
    addr: SocketAddr,
    scheme: &'static str,
    observed: Receiver<Observed>,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// A plain `ws://` server on 127.0.0.1.
    pub fn start(script: impl Fn(&mut Conn) + Send + Sync + 'static) -> Server {
        Self::start_with(ServerOpts::default(), script)
    }

    /// Tries to start a server on [::1]; `None` where the machine has no
    /// IPv6 loopback.
    pub fn try_start_with(
        opts: ServerOpts,
        script: impl Fn(&mut Conn) + Send + Sync + 'static,
    ) -> io::Result<Server> {
        let bind: SocketAddr = if opts.ipv6 {
            "[::1]:0".parse().unwrap()
        } else {
            "127.0.0.1:0".parse().unwrap()
        };
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let (tx, observed) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let scheme = if opts.tls.is_some() { "wss" } else { "ws" };
        let script: Arc<Script> = Arc::new(script);
        thread::spawn(move || {
            for tcp in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = tcp else { continue };
                let (tx, script, opts) = (tx.clone(), script.clone(), opts.clone());
                thread::spawn(move || {
                    let obs = serve_connection(tcp, &opts, &*script);
                    let _ = tx.send(obs);
                });
            }
        });
        Ok(Server {
            addr,
            scheme,
            observed,
            stop,
        })
    }

    pub fn start_with(
        opts: ServerOpts,
        script: impl Fn(&mut Conn) + Send + Sync + 'static,
    ) -> Server {
        Self::try_start_with(opts, script).expect("could not start the test server")
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT/` (or `wss://`, or `[::1]`).
    pub fn url(&self) -> String {
        self.url_path("/")
    }

    pub fn url_path(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path)
    }

    /// `wss://localhost:PORT/` style URL with a host name.
    pub fn url_host(&self, host: &str) -> String {
        format!("{}://{}:{}/", self.scheme, host, self.port())
    }

    /// What the next finished connection observed. Panics after [`DEADLINE`].
    #[track_caller]
    pub fn next(&self) -> Observed {
        match self.observed.recv_timeout(DEADLINE) {
            Ok(o) => o,
            Err(_) => panic!(
                "no connection finished on {} within {DEADLINE:?}",
                self.url()
            ),
        }
    }

    /// Like [`Server::next`] with a shorter wait; `None` if no connection
    /// finished in time.
    pub fn try_next(&self, timeout: Duration) -> Option<Observed> {
        self.observed.recv_timeout(timeout).ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so its thread ends.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// Request target and headers, captured in the handshake callback.
type RequestSeen = (String, Vec<(String, String)>);

// The callback's error type is tungstenite's `ErrorResponse`.
#[allow(clippy::result_large_err)]
fn serve_connection(tcp: TcpStream, opts: &ServerOpts, script: &Script) -> Observed {
    let mut obs = Observed::default();
    let _ = tcp.set_nodelay(true);
    // No server thread outlives a dead client for long.
    let _ = tcp.set_read_timeout(Some(DEADLINE));
    let _ = tcp.set_write_timeout(Some(DEADLINE));
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
            Ok(_) => Read1::Control,
            Err(WsError::ConnectionClosed) | Err(WsError::AlreadyClosed) => Read1::Ended,
            Err(e) => {
                self.note_error(&e);
                Read1::Ended
            }
        }
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

    /// Receives `n` data messages (fewer if the connection ends first).
    pub fn recv_n(&mut self, n: usize) -> Vec<Msg> {
        (0..n).map_while(|_| self.recv()).collect()
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

/// A server-to-client (unmasked) frame with FIN set.
pub fn unmasked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(true, opcode, payload)
}

/// A server-to-client (unmasked) frame; `fin` false for all but the last
/// fragment of a message.
pub fn raw_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
    let len = payload.len();
    if len < 126 {
        f.push(len as u8);
    } else if len <= 0xffff {
        f.push(126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(127);
        f.extend_from_slice(&(len as u64).to_be_bytes());
    }
    f.extend_from_slice(payload);
    f
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

// ---------------------------------------------------------------------------
// Raw TCP servers (misbehaving peers)
// ---------------------------------------------------------------------------

/// An HTTP request head read by a raw server.
#[derive(Debug, Default, Clone)]
pub struct RawRequest {
    pub request_line: String,
    pub headers: Vec<(String, String)>,
}

impl RawRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Sec-WebSocket-Accept` value a correct server would answer with.
    pub fn accept_key(&self) -> String {
        tungstenite::handshake::derive_accept_key(
            self.header("sec-websocket-key").unwrap_or("").as_bytes(),
        )
    }
}

/// Reads an HTTP request head (up to the blank line) from `stream`.
pub fn read_request(stream: &mut TcpStream) -> io::Result<RawRequest> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
        if head.len() > 64 * 1024 {
            return Err(io::Error::other("request head too long"));
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(RawRequest {
        request_line,
        headers,
    })
}

/// Reads until EOF (or [`DEADLINE`]); never writes.
pub fn hold_silently(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}

/// A TCP server on 127.0.0.1:0 that hands each accepted connection to
/// `script` on its own thread. The script usually calls [`read_request`] and
/// writes whatever broken answer the test needs. What each script returns
/// (e.g. the request it read) is sent to the test ([`RawServer::next`]).
pub struct RawServer {
    addr: SocketAddr,
    seen: Receiver<RawRequest>,
    stop: Arc<AtomicBool>,
}

impl RawServer {
    pub fn start(script: impl Fn(TcpStream) -> RawRequest + Send + Sync + 'static) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let (tx, seen) = mpsc::channel::<RawRequest>();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let script = Arc::new(script);
        thread::spawn(move || {
            for tcp in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = tcp else { continue };
                let _ = tcp.set_read_timeout(Some(DEADLINE));
                let (tx, script) = (tx.clone(), script.clone());
                thread::spawn(move || {
                    let _ = tx.send(script(tcp));
                });
            }
        });
        RawServer { addr, seen, stop }
    }

    /// Answers every request with `response` (after reading the request
    /// head), then closes the connection.
    pub fn reply(response: impl Into<Vec<u8>>) -> RawServer {
        let response: Vec<u8> = response.into();
        Self::start(move |mut s| {
            let req = read_request(&mut s).unwrap_or_default();
            let _ = s.write_all(&response);
            let _ = s.flush();
            let _ = s.shutdown(Shutdown::Write);
            hold_silently(&mut s);
            req
        })
    }

    /// Answers with a 101 built by `build(request)`, then holds the
    /// connection open without sending anything else.
    pub fn upgrade_with(
        build: impl Fn(&RawRequest) -> String + Send + Sync + 'static,
    ) -> RawServer {
        Self::start(move |mut s| {
            let req = read_request(&mut s).unwrap_or_default();
            let _ = s.write_all(build(&req).as_bytes());
            let _ = s.flush();
            hold_silently(&mut s);
            req
        })
    }

    /// Accepts TCP connections and never answers (for connect timeouts).
    pub fn silent() -> RawServer {
        Self::start(|mut s| {
            hold_silently(&mut s);
            RawRequest::default()
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// What the next finished connection's script returned.
    #[track_caller]
    pub fn next(&self) -> RawRequest {
        match self.seen.recv_timeout(DEADLINE) {
            Ok(r) => r,
            Err(_) => panic!(
                "no connection finished on {} within {DEADLINE:?}",
                self.url()
            ),
        }
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// Closes `stream` with a TCP reset (SO_LINGER 0) instead of a FIN.
pub fn reset(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket we own, with a correctly sized value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}

/// The answer of a correct server to `req`: 101 with the right accept key.
pub fn switching_protocols(req: &RawRequest) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        req.accept_key()
    )
}

/// A port on 127.0.0.1 with nothing listening (connection refused).
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------
// TLS material, generated at test time
// ---------------------------------------------------------------------------

pub struct KeyPairFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub cert_pem: String,
    pub key_pem: String,
}

/// A test CA and certificates signed by it, as PEM files in a temp dir.
pub struct Pki {
    dir: tempfile::TempDir,
    /// The CA certificate (give to wsprobe with `--cacert`).
    pub ca: PathBuf,
    /// Server certificate for `localhost`, 127.0.0.1 and ::1.
    pub localhost: KeyPairFiles,
    /// Server certificate for `other.example` only (wrong hostname).
    pub other_host: KeyPairFiles,
    /// Client certificate (CN `wsprobe test client`).
    pub client: KeyPairFiles,
    /// A file that is not a key.
    pub garbage: PathBuf,
}

impl Pki {
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn write_pair(
    dir: &Path,
    name: &str,
    cert: &rcgen::Certificate,
    key: &rcgen::KeyPair,
) -> KeyPairFiles {
    let cert_pem = cert.pem();
    let key_pem = key.serialize_pem();
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}.key"));
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, &key_pem).unwrap();
    KeyPairFiles {
        cert: cert_path,
        key: key_path,
        cert_pem,
        key_pem,
    }
}

/// A temporary directory under Cargo's `target/tmp` (removed on drop).
pub fn test_tempdir() -> tempfile::TempDir {
    let base = env!("CARGO_TARGET_TMPDIR");
    std::fs::create_dir_all(base).unwrap();
    tempfile::tempdir_in(base).unwrap()
}

/// The test PKI, generated once per test process (in `target/tmp`).
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        // A static is never dropped, so this directory outlives the process:
        // remove the ones earlier runs left (older than an hour).
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(base).unwrap();
        if let Ok(entries) = std::fs::read_dir(base) {
            for e in entries.flatten() {
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > Duration::from_secs(3600));
                if old && e.file_name().to_string_lossy().starts_with("pki-") {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("pki-")
            .tempdir_in(base)
            .unwrap();

        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "wsprobe test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, ca_cert.pem()).unwrap();

        let leaf = |names: &[&str], cn: &str, client: bool| {
            let key = KeyPair::generate().unwrap();
            let mut params =
                CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                    .unwrap();
            params.distinguished_name.push(DnType::CommonName, cn);
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![if client {
                ExtendedKeyUsagePurpose::ClientAuth
            } else {
                ExtendedKeyUsagePurpose::ServerAuth
            }];
            let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
            (cert, key)
        };

        let (c, k) = leaf(&["localhost", "127.0.0.1", "::1"], "localhost", false);
        let localhost = write_pair(dir.path(), "localhost", &c, &k);
        let (c, k) = leaf(&["other.example"], "other.example", false);
        let other_host = write_pair(dir.path(), "other", &c, &k);
        let (c, k) = leaf(&[], "wsprobe test client", true);
        let client = write_pair(dir.path(), "client", &c, &k);
        let garbage = dir.path().join("garbage.key");
        std::fs::write(&garbage, "this is not a PEM key\n").unwrap();

        Pki {
            dir,
            ca,
            localhost,
            other_host,
            client,
            garbage,
        }
    })
}

/// A native-tls acceptor presenting `pair`.
pub fn tls_acceptor(pair: &KeyPairFiles) -> Tls {
    let id = native_tls::Identity::from_pkcs8(pair.cert_pem.as_bytes(), pair.key_pem.as_bytes())
        .expect("identity from test certificate");
    Tls::Native(native_tls::TlsAcceptor::new(id).expect("TLS acceptor"))
}

/// An OpenSSL acceptor presenting `pair` that requires a client
/// certificate signed by the test CA.
pub fn tls_acceptor_requiring_client_cert(pair: &KeyPairFiles) -> Tls {
    use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod, SslVerifyMode};
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    b.set_private_key_file(&pair.key, SslFiletype::PEM).unwrap();
    b.set_certificate_chain_file(&pair.cert).unwrap();
    b.set_ca_file(&pki().ca).unwrap();
    b.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    Tls::OpenSsl(Arc::new(b.build()))
}

// ---------------------------------------------------------------------------
// The independent peer: Python `websockets`
// ---------------------------------------------------------------------------

fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs tests/peer/setup.sh once per process; returns the launcher that runs
/// Python with `websockets` importable. Panics (fails the test) with the
/// script's stderr if the setup fails.
pub fn peer_python() -> &'static Path {
    static LAUNCHER: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let r = LAUNCHER.get_or_init(|| {
        let script = crate_root().join("tests/peer/setup.sh");
        let out = Command::new("sh")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("could not run {}: {e}", script.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}):\n{}{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr),
                stdout
            ));
        }
        stdout
            .lines()
            .last()
            .map(PathBuf::from)
            .filter(|p| p.is_file())
            .ok_or_else(|| format!("{} printed no launcher path: {stdout:?}", script.display()))
    });
    match r {
        Ok(p) => p,
        Err(e) => panic!("peer setup failed: {e}"),
    }
}

/// One line of JSON the Python peer printed about what it observed.
pub type PeerEvent = String;

/// The Python `websockets` server (tests/peer/server.py), killed on drop.
pub struct PeerServer {
    child: Child,
    pub url: String,
    events: Receiver<PeerEvent>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl PeerServer {
    /// Starts server.py with `args` (e.g. `["echo"]`,
    /// `["--subprotocol", "chat", "push", "3", "1000"]`), waiting for its
    /// `listening on ...` line.
    #[track_caller]
    pub fn start(args: &[&str]) -> PeerServer {
        let python = peer_python();
        let mut child = Command::new(python)
            .arg(crate_root().join("tests/peer/server.py"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tests/peer/server.py");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        {
            let stderr = stderr.clone();
            let mut err = child.stderr.take().unwrap();
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    stderr.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
        let (tx, rx): (Sender<String>, _) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut peer = PeerServer {
            child,
            url: String::new(),
            events: rx,
            stderr,
        };
        match peer.events.recv_timeout(DEADLINE) {
            Ok(line) if line.starts_with("listening on ws://127.0.0.1:") => {
                peer.url = line["listening on ".len()..].to_string();
            }
            other => panic!(
                "server.py did not report its port: {other:?}; stderr: {}",
                peer.stderr_str()
            ),
        }
        peer
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// The next JSON event line. Panics after [`DEADLINE`].
    #[track_caller]
    pub fn event(&self) -> PeerEvent {
        match self.events.recv_timeout(DEADLINE) {
            Ok(e) => e,
            Err(e) => panic!(
                "no event from server.py within {DEADLINE:?} ({e}); stderr: {}",
                self.stderr_str()
            ),
        }
    }

    /// Events up to and including the next `closed` event.
    #[track_caller]
    pub fn events_until_closed(&self) -> Vec<PeerEvent> {
        let mut out = Vec::new();
        loop {
            let e = self.event();
            let done = e.contains(r#""event": "closed""#);
            out.push(e);
            if done {
                return out;
            }
        }
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Minimal JSON string encoder, to compare with the peer's `json.dumps`
/// output (ASCII-only escaping, as Python does by default).
pub fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Base64 (standard alphabet, padded), as wsprobe prints binary messages.
pub fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

// ---------------------------------------------------------------------------
// JSON lines (`--jsonl`, `--record`)
// ---------------------------------------------------------------------------

/// Parses JSON-lines output: every line must be one JSON object (panics,
/// showing the text, otherwise).
#[track_caller]
pub fn parse_jsonl(bytes: &[u8]) -> Vec<serde_json::Value> {
    let text = std::str::from_utf8(bytes).expect("JSON lines must be UTF-8");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "JSON lines must end with a newline: {text:?}"
    );
    text.lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}\nin:\n{text}"));
            assert!(value.is_object(), "not a JSON object: {line:?}");
            value
        })
        .collect()
}
