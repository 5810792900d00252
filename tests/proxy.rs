//! Proxies: HTTP CONNECT (with Basic credentials) and SOCKS5 (`socks5://`
//! resolves locally, `socks5h://` sends the host name; RFC 1928 and 1929),
//! chosen with `--proxy` or from the environment (`ws_proxy`, `http_proxy`,
//! `https_proxy`, `all_proxy`, `no_proxy`, `--no-proxy`); exit 3 for proxy
//! failures and 2 for bad proxy URLs; `--connect-timeout` covering the proxy;
//! and the proxy password kept out of every output.
//!
//! The proxies are small in-test ones on 127.0.0.1. Whatever host a client
//! asks for, they dial 127.0.0.1 at the requested port: the tests check what
//! was asked for, and every connection stays on loopback.

mod support;

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use support::*;

// ---------------------------------------------------------------------------
// In-test proxies
// ---------------------------------------------------------------------------

/// A proxy on 127.0.0.1:0. Each accepted connection runs a session on its
/// own thread, which reports what it observed (`T`) before tunnelling.
struct Proxy<T> {
    addr: SocketAddr,
    seen: Receiver<T>,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl<T: Send + 'static> Proxy<T> {
    fn start(session: impl Fn(TcpStream, &Sender<T>) + Send + Sync + 'static) -> Proxy<T> {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let (tx, seen) = mpsc::channel();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (accepted2, stop2) = (accepted.clone(), stop.clone());
        let session = Arc::new(session);
        thread::spawn(move || {
            for tcp in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = tcp else { continue };
                accepted2.fetch_add(1, Ordering::SeqCst);
                let _ = tcp.set_nodelay(true);
                let _ = tcp.set_read_timeout(Some(DEADLINE));
                let _ = tcp.set_write_timeout(Some(DEADLINE));
                let (tx, session) = (tx.clone(), session.clone());
                thread::spawn(move || session(tcp, &tx));
            }
        });
        Proxy {
            addr,
            seen,
            accepted,
            stop,
        }
    }
}

impl<T> Proxy<T> {
    fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `SCHEME://127.0.0.1:PORT`
    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    /// `SCHEME://USER:PASS@127.0.0.1:PORT`
    fn url_with(&self, scheme: &str, user: &str, pass: &str) -> String {
        format!("{scheme}://{user}:{pass}@{}", self.addr)
    }

    /// How many TCP connections the proxy has accepted.
    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// What the next proxy session observed, if one has already reported
    /// (sessions report before they answer, so once wsprobe has exited, every
    /// session it had has reported).
    fn try_next(&self) -> Option<T> {
        self.seen.try_recv().ok()
    }

    /// What the next proxy session observed. Panics after [`DEADLINE`].
    #[track_caller]
    fn next(&self) -> T {
        match self.seen.recv_timeout(DEADLINE) {
            Ok(t) => t,
            Err(_) => panic!("no proxy session on {} within {DEADLINE:?}", self.addr),
        }
    }
}

impl<T> Drop for Proxy<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// Copies bytes both ways until both directions have ended.
fn tunnel(client: TcpStream, upstream: TcpStream) {
    let _ = upstream.set_nodelay(true);
    let _ = upstream.set_read_timeout(Some(DEADLINE));
    let (Ok(client2), Ok(upstream2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let up = thread::spawn(move || pump(client2, upstream2));
    pump(upstream, client);
    let _ = up.join();
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

/// Sends `response`, ends our side and waits for the client to go away.
fn refuse(client: &mut TcpStream, response: &[u8]) {
    let _ = client.write_all(response);
    let _ = client.flush();
    let _ = client.shutdown(Shutdown::Write);
    hold_silently(client);
}

// HTTP CONNECT ---------------------------------------------------------------

/// What an HTTP proxy does with a CONNECT request.
#[derive(Clone)]
enum HttpMode {
    /// Answer `HTTP/1.1 200 Connection established` and tunnel.
    Tunnel,
    /// Tunnel only if `Proxy-Authorization` is exactly this value; answer
    /// 407 otherwise.
    TunnelWithAuth(String),
    /// Tunnel, answering with this status line instead.
    TunnelWithStatus(&'static str),
    /// Tunnel, writing the 200 answer one byte at a time.
    TunnelTrickle,
    /// Answer with this whole response, then close.
    Reply(String),
}

const PROXY_AUTH_REQUIRED: &str = "HTTP/1.1 407 Proxy Authentication Required\r\n\
    Proxy-Authenticate: Basic realm=\"wsprobe-test\"\r\nContent-Length: 0\r\n\r\n";

/// An HTTP CONNECT proxy that records each request (line and headers).
fn http_proxy(mode: HttpMode) -> Proxy<RawRequest> {
    Proxy::start(move |client, tx| http_session(client, &mode, tx))
}

/// An HTTP proxy that requires `Proxy-Authorization: Basic user:pass`.
fn http_proxy_with_auth(user: &str, pass: &str) -> Proxy<RawRequest> {
    let expected = format!("Basic {}", b64(format!("{user}:{pass}").as_bytes()));
    http_proxy(HttpMode::TunnelWithAuth(expected))
}

/// An HTTP proxy answering every CONNECT with `status` (e.g. `502 Bad
/// Gateway`) and a short body.
fn http_proxy_replying(status: &str) -> Proxy<RawRequest> {
    let body = "refused by the test proxy";
    http_proxy(HttpMode::Reply(format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )))
}

/// A proxy that must not be used: it refuses everything with a 403, so a
/// run that wrongly goes through it fails.
fn decoy() -> Proxy<RawRequest> {
    http_proxy_replying("403 Forbidden")
}

fn http_session(mut client: TcpStream, mode: &HttpMode, tx: &Sender<RawRequest>) {
    let req = read_request(&mut client).unwrap_or_default();
    let _ = tx.send(req.clone());
    let status = match mode {
        HttpMode::Reply(response) => return refuse(&mut client, response.as_bytes()),
        HttpMode::TunnelWithAuth(expected)
            if req.header("proxy-authorization") != Some(expected.as_str()) =>
        {
            return refuse(&mut client, PROXY_AUTH_REQUIRED.as_bytes());
        }
        HttpMode::TunnelWithStatus(line) => line,
        _ => "HTTP/1.1 200 Connection established",
    };
    let Some(port) = connect_target_port(&req) else {
        return refuse(&mut client, b"HTTP/1.1 400 Bad Request\r\n\r\n");
    };
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", port)) else {
        return refuse(&mut client, b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
    };
    let head = format!("{status}\r\nProxy-Agent: wsprobe-test-proxy\r\n\r\n");
    let sent = if let HttpMode::TunnelTrickle = mode {
        head.bytes()
            .all(|b| client.write_all(&[b]).and_then(|_| client.flush()).is_ok())
    } else {
        client.write_all(head.as_bytes()).is_ok()
    };
    if sent {
        tunnel(client, upstream);
    }
}

/// The port of `CONNECT host:port HTTP/1.1`.
fn connect_target_port(req: &RawRequest) -> Option<u16> {
    let mut parts = req.request_line.split(' ');
    if parts.next()? != "CONNECT" {
        return None;
    }
    parts.next()?.rsplit_once(':')?.1.parse().ok()
}

// SOCKS5 ---------------------------------------------------------------------

/// What a SOCKS5 proxy observed in one session.
#[derive(Debug, Clone, Default)]
struct SocksSeen {
    /// The authentication methods the client offered.
    methods: Vec<u8>,
    /// The method the proxy chose (0xFF: none acceptable).
    method: Option<u8>,
    /// Username and password (RFC 1929), if the client sent them.
    credentials: Option<(String, String)>,
    /// The request's command (1 = CONNECT).
    cmd: Option<u8>,
    /// The request's address type: 1 IPv4, 3 domain name, 4 IPv6.
    atyp: Option<u8>,
    /// The requested address: an IP address as text, or the domain name.
    host: String,
    port: u16,
}

#[derive(Clone, Default)]
struct SocksOpts {
    /// Require username/password authentication with these credentials.
    auth: Option<(String, String)>,
    /// Answer every CONNECT with this reply code instead of dialing (0:
    /// dial, and answer 5 "connection refused" if that fails).
    reply: u8,
}

fn socks_proxy(opts: SocksOpts) -> Proxy<SocksSeen> {
    Proxy::start(move |mut client, tx| {
        let mut seen = SocksSeen::default();
        let upstream = socks_handshake(&mut client, &opts, &mut seen);
        let _ = tx.send(seen);
        match upstream {
            Ok(Some(upstream)) => tunnel(client, upstream),
            _ => refuse(&mut client, b""),
        }
    })
}

fn socks_proxy_with_auth(user: &str, pass: &str) -> Proxy<SocksSeen> {
    socks_proxy(SocksOpts {
        auth: Some((user.into(), pass.into())),
        ..Default::default()
    })
}

fn read_u8(s: &mut TcpStream) -> io::Result<u8> {
    let mut b = [0u8; 1];
    s.read_exact(&mut b)?;
    Ok(b[0])
}

/// A length byte, then that many bytes of text.
fn read_short_string(s: &mut TcpStream) -> io::Result<String> {
    let mut buf = vec![0u8; read_u8(s)? as usize];
    s.read_exact(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Runs the SOCKS5 negotiation; returns the connection to the target when
/// the proxy granted the request.
fn socks_handshake(
    s: &mut TcpStream,
    opts: &SocksOpts,
    seen: &mut SocksSeen,
) -> io::Result<Option<TcpStream>> {
    // Greeting: VER NMETHODS METHODS...
    if read_u8(s)? != 5 {
        return Ok(None);
    }
    let mut methods = vec![0u8; read_u8(s)? as usize];
    s.read_exact(&mut methods)?;
    seen.methods = methods;
    let wanted = if opts.auth.is_some() { 0x02 } else { 0x00 };
    let method = if seen.methods.contains(&wanted) {
        wanted
    } else {
        0xFF
    };
    seen.method = Some(method);
    s.write_all(&[5, method])?;
    if method == 0xFF {
        return Ok(None);
    }
    if method == 0x02 {
        // RFC 1929: VER ULEN UNAME PLEN PASSWD
        let _version = read_u8(s)?;
        let user = read_short_string(s)?;
        let pass = read_short_string(s)?;
        let ok = opts.auth.as_ref() == Some(&(user.clone(), pass.clone()));
        seen.credentials = Some((user, pass));
        s.write_all(&[1, if ok { 0 } else { 1 }])?;
        if !ok {
            return Ok(None);
        }
    }
    // Request: VER CMD RSV ATYP DST.ADDR DST.PORT
    let mut head = [0u8; 4];
    s.read_exact(&mut head)?;
    seen.cmd = Some(head[1]);
    seen.atyp = Some(head[3]);
    seen.host = match head[3] {
        1 => {
            let mut a = [0u8; 4];
            s.read_exact(&mut a)?;
            Ipv4Addr::from(a).to_string()
        }
        4 => {
            let mut a = [0u8; 16];
            s.read_exact(&mut a)?;
            Ipv6Addr::from(a).to_string()
        }
        3 => read_short_string(s)?,
        _ => {
            s.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0])?;
            return Ok(None);
        }
    };
    let mut port = [0u8; 2];
    s.read_exact(&mut port)?;
    seen.port = u16::from_be_bytes(port);
    let (reply, upstream) = if opts.reply != 0 {
        (opts.reply, None)
    } else if head[1] != 1 {
        (7, None) // command not supported
    } else {
        match TcpStream::connect(("127.0.0.1", seen.port)) {
            Ok(up) => (0, Some(up)),
            Err(_) => (5, None), // connection refused
        }
    };
    s.write_all(&[5, reply, 0, 1, 127, 0, 0, 1, 0, 0])?;
    Ok(upstream)
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const USER: &str = "alice";
const PW: &str = "S3CRET-PROXYPW";

fn run(args: &[&str]) -> Run {
    wsprobe_proxy_env(args, "", &[])
}

fn run_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    wsprobe_proxy_env(args, "", env)
}

fn ca() -> &'static str {
    pki().ca.to_str().unwrap()
}

fn tls_echo_server() -> Server {
    let opts = ServerOpts {
        tls: Some(tls_acceptor(&pki().localhost)),
        ..Default::default()
    };
    Server::start_with(opts, echo)
}

fn closed_url() -> String {
    format!("ws://127.0.0.1:{}/", closed_port())
}

/// The server side of a `-x hi` run: the upgrade arrived (with the target's
/// Host header and no proxy credentials), `hi` was received, and the close
/// handshake was done.
#[track_caller]
fn assert_hi_served(srv: &Server, host: &str) -> Observed {
    let obs = srv.next();
    assert_eq!(obs.handshake_error, None, "{obs:?}");
    assert_eq!(obs.path, "/", "{obs:?}");
    assert_eq!(
        obs.header("host"),
        Some(&*format!("{host}:{}", srv.port())),
        "{obs:?}"
    );
    assert_eq!(obs.header("proxy-authorization"), None, "{obs:?}");
    assert_eq!(obs.texts(), ["hi"], "{obs:?}");
    assert_eq!(obs.close, Some((1000, String::new())), "{obs:?}");
    obs
}

/// The CONNECT request an HTTP proxy received for `host:port`.
#[track_caller]
fn assert_connect(req: &RawRequest, authority: &str) {
    assert_eq!(
        req.request_line,
        format!("CONNECT {authority} HTTP/1.1"),
        "{req:?}"
    );
    assert_eq!(req.header("host"), Some(authority), "{req:?}");
}

/// Every form in which the proxy password could leak.
fn secret_forms() -> Vec<String> {
    vec![
        PW.to_string(),
        "S3CRET".to_string(),
        b64(format!("{USER}:{PW}").as_bytes()),
    ]
}

#[track_caller]
fn assert_no_secret(what: &str, text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    for s in secret_forms() {
        assert!(!text.contains(&s), "{what} leaks {s:?}:\n{text}");
    }
}

/// Runs wsprobe with `args` plus `--record FILE`, with `env`; asserts that
/// the password appears neither in stdout, stderr nor the record.
#[track_caller]
fn run_redacted(args: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = test_tempdir();
    let record = dir.path().join("rec.jsonl");
    let mut all = args.to_vec();
    all.extend(["--record", record.to_str().unwrap()]);
    let r = run_env(&all, env);
    assert_no_secret(&format!("stdout of {all:?} (env {env:?})"), &r.stdout);
    assert_no_secret(&format!("stderr of {all:?} (env {env:?})"), &r.stderr);
    let recorded = std::fs::read(&record).unwrap_or_default();
    assert!(!recorded.is_empty(), "nothing recorded\n{r}");
    assert_no_secret(&format!("record of {all:?}"), &recorded);
    r
}

/// The `* via proxy ...` lines of `-v` output.
fn via_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("* via proxy"))
        .collect()
}

// ---------------------------------------------------------------------------
// HTTP CONNECT
// ---------------------------------------------------------------------------

#[test]
fn http_connect_tunnels_ws() {
    let srv = Server::start(echo);
    let proxy = http_proxy(HttpMode::Tunnel);
    run(&["--proxy", &proxy.url("http"), &srv.url(), "-x", "hi"])
        .code(0)
        .stdout("hi\n")
        .stderr_empty();
    let req = proxy.next();
    assert_connect(&req, &format!("127.0.0.1:{}", srv.port()));
    assert_eq!(req.header("proxy-authorization"), None, "{req:?}");
    assert_hi_served(&srv, "127.0.0.1");
    assert_eq!(proxy.accepted(), 1);
}

#[test]
fn http_connect_tunnels_pipe_mode() {
    let srv = Server::start(echo);
    let proxy = http_proxy(HttpMode::Tunnel);
    let input: String = (0..500).map(|i| format!("proxied line {i}\n")).collect();
    wsprobe_proxy_env(
        &["--proxy", &proxy.url("http"), &srv.url()],
        input.clone(),
        &[],
    )
    .code(0)
    .stdout(&input);
    assert_connect(&proxy.next(), &format!("127.0.0.1:{}", srv.port()));
    let obs = srv.next();
    assert_eq!(obs.count, 500, "{obs:?}");
    assert_eq!(obs.close_code(), 1000);
}

#[test]
fn http_connect_tunnels_wss() {
    let srv = tls_echo_server();
    let proxy = http_proxy(HttpMode::Tunnel);
    let url = srv.url_host("localhost");
    run(&[
        "--proxy",
        &proxy.url("http"),
        &url,
        "--cacert",
        ca(),
        "-x",
        "hi",
    ])
    .code(0)
    .stdout("hi\n")
    .stderr_empty();
    // The proxy is asked for the host name; TLS (and its certificate check
    // for `localhost`) runs inside the tunnel.
    assert_connect(&proxy.next(), &format!("localhost:{}", srv.port()));
    assert_hi_served(&srv, "localhost");
}

#[test]
fn wss_through_proxy_still_verifies_the_certificate() {
    let srv = tls_echo_server();
    let proxy = http_proxy(HttpMode::Tunnel);
    let url = srv.url_host("localhost");
    // No --cacert: the test CA is not trusted, through a proxy or not.
    let r = run(&["--proxy", &proxy.url("http"), &url, "-x", "hi"]);
    r.code(4).stdout("").stderr_contains("certificate");
    assert_connect(&proxy.next(), &format!("localhost:{}", srv.port()));
    assert!(srv.next().handshake_error.is_some());
}

#[test]
fn http_1_0_200_answer_is_accepted() {
    let srv = Server::start(echo);
    let proxy = http_proxy(HttpMode::TunnelWithStatus("HTTP/1.0 200 OK"));
    run(&["--proxy", &proxy.url("http"), &srv.url(), "-x", "hi"])
        .code(0)
        .stdout("hi\n");
    assert_connect(&proxy.next(), &format!("127.0.0.1:{}", srv.port()));
    assert_hi_served(&srv, "127.0.0.1");
}

#[test]
fn connect_answer_arriving_byte_by_byte() {
    let srv = tls_echo_server();
    let proxy = http_proxy(HttpMode::TunnelTrickle);
    let url = srv.url_host("localhost");
    run(&[
        "--proxy",
        &proxy.url("http"),
        &url,
        "--cacert",
        ca(),
        "-x",
        "hi",
    ])
    .code(0)
    .stdout("hi\n");
    assert_connect(&proxy.next(), &format!("localhost:{}", srv.port()));
    assert_hi_served(&srv, "localhost");
}

#[test]
fn proxy_url_without_scheme_means_http() {
    let srv = Server::start(echo);
    let proxy = http_proxy(HttpMode::Tunnel);
    let bare = format!("127.0.0.1:{}", proxy.port());
    run(&["--proxy", &bare, &srv.url(), "-x", "hi"])
        .code(0)
        .stdout("hi\n");
    assert_connect(&proxy.next(), &format!("127.0.0.1:{}", srv.port()));
    assert_hi_served(&srv, "127.0.0.1");
}

#[test]
fn proxy_credentials_are_sent_as_proxy_authorization() {
    let srv = Server::start(echo);
    let proxy = http_proxy_with_auth(USER, PW);
    let r = run(&[
        "--proxy",
        &proxy.url_with("http", USER, PW),
        &srv.url(),
        "-x",
        "hi",
    ]);
    r.code(0).stdout("hi\n").stderr_empty();
    let req = proxy.next();
    assert_connect(&req, &format!("127.0.0.1:{}", srv.port()));
    let expected = format!("Basic {}", b64(format!("{USER}:{PW}").as_bytes()));
    assert_eq!(
        req.header("proxy-authorization"),
        Some(&*expected),
        "{req:?}"
    );
    // The proxy's credentials are for the proxy only.
    let obs = assert_hi_served(&srv, "127.0.0.1");
    assert_eq!(obs.header("authorization"), None, "{obs:?}");
}

#[test]
fn percent_encoded_proxy_credentials_are_decoded() {
    let srv = Server::start(echo);
    let proxy = http_proxy_with_auth("al ice", "p@ss:w/rd");
    let url = format!("http://al%20ice:p%40ss%3Aw%2Frd@127.0.0.1:{}", proxy.port());
    run(&["--proxy", &url, &srv.url(), "-x", "hi"])
        .code(0)
        .stdout("hi\n");
    let req = proxy.next();
    let expected = format!("Basic {}", b64(b"al ice:p@ss:w/rd"));
    assert_eq!(
        req.header("proxy-authorization"),
        Some(&*expected),
        "{req:?}"
    );
    assert_hi_served(&srv, "127.0.0.1");
}

#[test]
fn missing_proxy_credentials_get_407_and_exit_3() {
    let proxy = http_proxy_with_auth(USER, PW);
    let r = run(&["--proxy", &proxy.url("http"), &closed_url(), "-x", "hi"]);
    r.code(3)
        .stdout("")
        .stderr_contains("407 Proxy Authentication Required")
        .no_panic();
    let req = proxy.next();
    assert!(
        req.request_line.starts_with("CONNECT 127.0.0.1:"),
        "{req:?}"
    );
    assert_eq!(req.header("proxy-authorization"), None, "{req:?}");
}

#[test]
fn wrong_proxy_credentials_get_407_and_exit_3() {
    let proxy = http_proxy_with_auth(USER, "the-right-one");
    let srv = Server::start(echo);
    let r = run(&[
        "--proxy",
        &proxy.url_with("http", USER, PW),
        &srv.url(),
        "-x",
        "hi",
    ]);
    r.code(3)
        .stdout("")
        .stderr_contains("407 Proxy Authentication Required");
    assert_no_secret("stderr", &r.stderr);
    let req = proxy.next();
    let sent = format!("Basic {}", b64(format!("{USER}:{PW}").as_bytes()));
    assert_eq!(req.header("proxy-authorization"), Some(&*sent), "{req:?}");
    assert!(srv.try_next(Duration::ZERO).is_none());
}

#[test]
fn non_200_connect_answers_exit_3_with_the_status_line() {
    for status in [
        "403 Forbidden",
        "502 Bad Gateway",
        "503 Service Unavailable",
    ] {
        let proxy = http_proxy_replying(status);
        let srv = Server::start(echo);
        let r = run(&["--proxy", &proxy.url("http"), &srv.url(), "-x", "hi"]);
        r.code(3).stdout("").stderr_contains(status).no_panic();
        assert_connect(&proxy.next(), &format!("127.0.0.1:{}", srv.port()));
        assert_eq!(proxy.accepted(), 1);
    }
}

#[test]
fn target_unreachable_behind_http_proxy_exits_3() {
    // The test proxy answers 502 when it cannot reach the target.
    let proxy = http_proxy(HttpMode::Tunnel);
    let port = closed_port();
    let url = format!("ws://127.0.0.1:{port}/");
    let r = run(&["--proxy", &proxy.url("http"), &url, "-x", "hi"]);
    r.code(3).stdout("").stderr_contains("502");
    assert_connect(&proxy.next(), &format!("127.0.0.1:{port}"));
}

#[test]
fn http_proxy_unreachable_exits_3() {
    let srv = Server::start(echo);
    let proxy = format!("http://127.0.0.1:{}", closed_port());
    let r = run(&["--proxy", &proxy, &srv.url(), "-x", "hi"]);
    r.code(3).stdout("").no_panic();
    assert!(r.stderr_str().starts_with("wsprobe: "), "{r}");
    // wsprobe did not fall back to a direct connection.
    assert!(srv.try_next(Duration::ZERO).is_none());
}

#[test]
fn stalled_http_proxy_honours_connect_timeout() {
    let stalled = RawServer::silent();
    let proxy = format!("http://127.0.0.1:{}", stalled.port());
    let r = run(&[
        "--proxy",
        &proxy,
        &closed_url(),
        "--connect-timeout",
        "500ms",
        "-x",
        "hi",
    ]);
    r.code(3).stdout("").no_panic();
    assert!(
        r.elapsed >= Duration::from_millis(450),
        "gave up before the connect timeout\n{r}"
    );
    assert!(
        r.elapsed < Duration::from_secs(5),
        "did not honour --connect-timeout 500ms\n{r}"
    );
}

#[test]
fn connect_timeout_covers_proxy_and_upgrade_together() {
    // The proxy answers at once, but the target never answers the upgrade.
    let target = RawServer::silent();
    let proxy = http_proxy(HttpMode::Tunnel);
    let r = run(&[
        "--proxy",
        &proxy.url("http"),
        &target.url(),
        "--connect-timeout",
        "500ms",
        "-x",
        "hi",
    ]);
    r.code(3).stdout("").no_panic();
    assert!(r.elapsed >= Duration::from_millis(450), "{r}");
    assert!(r.elapsed < Duration::from_secs(5), "{r}");
    assert_connect(&proxy.next(), &format!("127.0.0.1:{}", target.port()));
}

#[test]
fn bad_proxy_urls_are_usage_errors() {
    // A live proxy on the port: a usage error must not connect anywhere.
    let proxy = http_proxy(HttpMode::Tunnel);
    let port = proxy.port();
    for bad in [
        format!("ftp://127.0.0.1:{port}"),
        format!("gopher://127.0.0.1:{port}"),
        format!("socks4://127.0.0.1:{port}"),
        "http://127.0.0.1:notaport".to_string(),
        "http://[::1".to_string(),
        "http://".to_string(),
        "not a url at all".to_string(),
    ] {
        let r = run(&["--proxy", &bad, &closed_url(), "-x", "hi"]);
        r.code(2).stdout("").no_panic();
        assert!(r.stderr_str().starts_with("wsprobe: "), "{r}");
    }
    assert_eq!(proxy.accepted(), 0);
}

// ---------------------------------------------------------------------------
// SOCKS5
// ---------------------------------------------------------------------------

#[test]
fn socks5_without_credentials() {
    let srv = Server::start(echo);
    let proxy = socks_proxy(SocksOpts::default());
    run(&["--proxy", &proxy.url("socks5"), &srv.url(), "-x", "hi"])
        .code(0)
        .stdout("hi\n")
        .stderr_empty();
    let seen = proxy.next();
    assert!(seen.methods.contains(&0x00), "{seen:?}");
    assert!(!seen.methods.contains(&0x02), "{seen:?}");
    assert_eq!(seen.method, Some(0x00), "{seen:?}");
    assert_eq!(seen.credentials, None, "{seen:?}");
    assert_eq!(seen.cmd, Some(1), "{seen:?}");
    assert_eq!(seen.atyp, Some(1), "{seen:?}");
    assert_eq!(seen.host, "127.0.0.1", "{seen:?}");
    assert_eq!(seen.port, srv.port(), "{seen:?}");
    assert_hi_served(&srv, "127.0.0.1");
}

#[test]
fn socks5_with_username_and_password() {
    let srv = Server::start(echo);
    let proxy = socks_proxy_with_auth(USER, PW);
    run(&[
        "--proxy",
        &proxy.url_with("socks5", USER, PW),
        &srv.url(),
        "-x",
        "hi",
    ])
    .code(0)
    .stdout("hi\n")
    .stderr_empty();
    let seen = proxy.next();
    assert!(seen.methods.contains(&0x02), "{seen:?}");
    assert_eq!(seen.method, Some(0x02), "{seen:?}");
    assert_eq!(
        seen.credentials,
        Some((USER.to_string(), PW.to_string())),
        "{seen:?}"
    );
    assert_eq!((seen.atyp, seen.port), (Some(1), srv.port()), "{seen:?}");
    let obs = assert_hi_served(&srv, "127.0.0.1");
    assert_eq!(obs.header("authorization"), None, "{obs:?}");
}

#[test]
fn socks5_resolves_the_host_name_itself() {
    let srv = Server::start(echo);
    let proxy = socks_proxy(SocksOpts::default());
    let url = srv.url_host("localhost");
    run(&["--proxy", &proxy.url("socks5"), &url, "-x", "hi"])
        .code(0)
        .stdout("hi\n");
    let seen = proxy.next();
    // An IP address (ATYP 1 or 4), never the name (ATYP 3).
    assert!(matches!(seen.atyp, Some(1) | Some(4)), "{seen:?}");
    let ip: std::net::IpAddr = seen.host.parse().expect("an IP address");
    assert!(ip.is_loopback(), "{seen:?}");
    assert_eq!(seen.port, srv.port(), "{seen:?}");
    // The upgrade still names the host as typed.
    assert_hi_served(&srv, "localhost");
}

#[test]
fn socks5h_sends_the_host_name_to_the_proxy() {
    let srv = Server::start(echo);
    let proxy = socks_proxy(SocksOpts::default());
    let url = srv.url_host("localhost");
    run(&["--proxy", &proxy.url("socks5h"), &url, "-x", "hi"])
        .code(0)
        .stdout("hi\n")
        .stderr_empty();
    let seen = proxy.next();
    assert_eq!(seen.atyp, Some(3), "{seen:?}");
    assert_eq!(seen.host, "localhost", "{seen:?}");
    assert_eq!(seen.port, srv.port(), "{seen:?}");
    assert_hi_served(&srv, "localhost");
}

#[test]
fn socks5h_name_is_not_resolved_locally() {
    // A name only the proxy can resolve: wsprobe must pass it on as is.
    let srv = Server::start(echo);
    let proxy = socks_proxy(SocksOpts::default());
    let url = format!("ws://svc.internal.invalid:{}/", srv.port());
    run(&["--proxy", &proxy.url("socks5h"), &url, "-x", "hi"])
        .code(0)
        .stdout("hi\n");
    let seen = proxy.next();
    assert_eq!(
        (seen.atyp, seen.host.as_str()),
        (Some(3), "svc.internal.invalid"),
        "{seen:?}"
    );
    assert_hi_served(&srv, "svc.internal.invalid");
}

#[test]
fn socks5h_tunnels_wss() {
    let srv = tls_echo_server();
    let proxy = socks_proxy_with_auth(USER, PW);
    let url = srv.url_host("localhost");
    run(&[
        "--proxy",
        &proxy.url_with("socks5h", USER, PW),
        &url,
        "--cacert",
        ca(),
        "-x",
        "hi",
    ])
    .code(0)
    .stdout("hi\n");
    let seen = proxy.next();
    assert_eq!(seen.method, Some(0x02), "{seen:?}");
    assert_eq!(
        (seen.atyp, seen.host.as_str(), seen.port),
        (Some(3), "localhost", srv.port()),
        "{seen:?}"
    );
    assert_hi_served(&srv, "localhost");
}

#[test]
fn socks5_wrong_password_exits_3() {
    let srv = Server::start(echo);
    let proxy = socks_proxy_with_auth(USER, "the-right-one");
    let r = run(&[
        "--proxy",
        &proxy.url_with("socks5", USER, PW),
        &srv.url(),
        "-x",
        "hi",
    ]);
    r.code(3).stdout("").stderr_contains("socks").no_panic();
    assert_no_secret("stderr", &r.stderr);
    let seen = proxy.next();
    assert_eq!(
        seen.credentials,
        Some((USER.to_string(), PW.to_string())),
        "{seen:?}"
    );
    assert_eq!(seen.cmd, None, "no CONNECT after a failed login: {seen:?}");
    assert!(srv.try_next(Duration::ZERO).is_none());
}

#[test]
fn socks5_proxy_requiring_credentials_none_given_exits_3() {
    let srv = Server::start(echo);
    let proxy = socks_proxy_with_auth(USER, PW);
    let r = run(&["--proxy", &proxy.url("socks5"), &srv.url(), "-x", "hi"]);
    r.code(3).stdout("").stderr_contains("socks").no_panic();
    let seen = proxy.next();
    assert_eq!(seen.method, Some(0xFF), "{seen:?}");
    assert_eq!(seen.cmd, None, "{seen:?}");
}

#[test]
fn socks5_refusals_exit_3_naming_the_reply() {
    // (reply code, words that name it)
    let cases: [(u8, &[&str]); 4] = [
        (0x01, &["general"]),
        (0x02, &["not allowed", "ruleset"]),
        (0x04, &["host unreachable"]),
        (0x05, &["refused"]),
    ];
    for (code, names) in cases {
        let srv = Server::start(echo);
        let proxy = socks_proxy(SocksOpts {
            reply: code,
            ..Default::default()
        });
        let r = run(&["--proxy", &proxy.url("socks5"), &srv.url(), "-x", "hi"]);
        r.code(3).stdout("").stderr_contains("socks").no_panic();
        let mut accepted: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        accepted.extend([
            format!("reply {code}"),
            format!("code {code}"),
            format!("error {code}"),
            format!("({code})"),
            format!("0x{code:02x}"),
        ]);
        let accepted: Vec<&str> = accepted.iter().map(|s| s.as_str()).collect();
        r.stderr_contains_any(&accepted);
        let seen = proxy.next();
        assert_eq!((seen.cmd, seen.port), (Some(1), srv.port()), "{seen:?}");
    }
}

#[test]
fn target_unreachable_behind_socks5_exits_3() {
    let proxy = socks_proxy(SocksOpts::default());
    let port = closed_port();
    let url = format!("ws://127.0.0.1:{port}/");
    let r = run(&["--proxy", &proxy.url("socks5h"), &url, "-x", "hi"]);
    r.code(3).stdout("").stderr_contains("refused");
    let seen = proxy.next();
    assert_eq!(seen.port, port, "{seen:?}");
}

#[test]
fn socks5_proxy_unreachable_exits_3() {
    let srv = Server::start(echo);
    for scheme in ["socks5", "socks5h"] {
        let proxy = format!("{scheme}://127.0.0.1:{}", closed_port());
        let r = run(&["--proxy", &proxy, &srv.url(), "-x", "hi"]);
        r.code(3).stdout("").no_panic();
        assert!(r.stderr_str().starts_with("wsprobe: "), "{r}");
    }
    assert!(srv.try_next(Duration::ZERO).is_none());
}

#[test]
fn stalled_socks5_proxy_honours_connect_timeout() {
    let stalled = RawServer::silent();
    let proxy = format!("socks5h://127.0.0.1:{}", stalled.port());
    let r = run(&[
        "--proxy",
        &proxy,
        &closed_url(),
        "--connect-timeout",
        "500ms",
        "-x",
        "hi",
    ]);
    r.code(3).stdout("").no_panic();
    assert!(r.elapsed >= Duration::from_millis(450), "{r}");
    assert!(r.elapsed < Duration::from_secs(5), "{r}");
}

// ---------------------------------------------------------------------------
// The environment
// ---------------------------------------------------------------------------

const WS_ORDER: [&str; 6] = [
    "ws_proxy",
    "WS_PROXY",
    "http_proxy",
    "HTTP_PROXY",
    "all_proxy",
    "ALL_PROXY",
];
const WSS_ORDER: [&str; 6] = [
    "wss_proxy",
    "WSS_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
];

#[test]
fn http_proxy_is_used_for_ws() {
    let srv = Server::start(echo);
    let proxy = http_proxy(HttpMode::Tunnel);
    let p = proxy.url("http");
    run_env(&[&srv.url(), "-x", "hi"], &[("http_proxy", &p)])
        .code(0)
        .stdout("hi\n")
        .stderr_empty();
    assert_connect(&proxy.next(), &format!("127.0.0.1:{}", srv.port()));
    assert_hi_served(&srv, "127.0.0.1");
}

#[test]
fn https_proxy_is_used_for_wss() {
    let srv = tls_echo_server();
    let proxy = http_proxy(HttpMode::Tunnel);
    let wrong = decoy();
    let (p, w) = (proxy.url("http"), wrong.url("http"));
    let env = [("https_proxy", p.as_str()), ("http_proxy", w.as_str())];
    let url = srv.url_host("localhost");
    run_env(&[&url, "--cacert", ca(), "-x", "hi"], &env)
        .code(0)
        .stdout("hi\n");
    assert_connect(&proxy.next(), &format!("localhost:{}", srv.port()));
    assert_hi_served(&srv, "localhost");
    assert_eq!(
        wrong.accepted(),
        0,
        "http_proxy must not be used for wss://"
    );
}

#[test]
fn https_proxy_is_not_used_for_ws() {
    let srv = Server::start(echo);
    let wrong = decoy();
    let w = wrong.url("http");
    for var in ["https_proxy", "HTTPS_PROXY", "wss_proxy", "WSS_PROXY"] {
        run_env(&[&srv.url(), "-x", "hi"], &[(var, &w)])
            .code(0)
            .stdout("hi\n");
        assert_hi_served(&srv, "127.0.0.1");
    }
    assert_eq!(wrong.accepted(), 0);
}

#[test]
fn http_proxy_is_not_used_for_wss() {
    let srv = tls_echo_server();
    let wrong = decoy();
    let w = wrong.url("http");
    let url = srv.url_host("localhost");
    for var in ["http_proxy", "HTTP_PROXY", "ws_proxy", "WS_PROXY"] {
        run_env(&[&url, "--cacert", ca(), "-x", "hi"], &[(var, &w)])
            .code(0)
            .stdout("hi\n");
        assert_hi_served(&srv, "localhost");
    }
    assert_eq!(wrong.accepted(), 0);
}

#[test]
fn ws_proxy_wins_over_http_proxy() {
    let srv = Server::start(echo);
    let proxy = http_proxy(HttpMode::Tunnel);
    let wrong = decoy();
    let (p, w) = (proxy.url("http"), wrong.url("http"));
    let env = [("http_proxy", w.as_str()), ("ws_proxy", p.as_str())];
    run_env(&[&srv.url(), "-x", "hi"], &env)
        .code(0)
        .stdout("hi\n");
    assert_connect(&proxy.next(), &format!("127.0.0.1:{}", srv.port()));
    assert_hi_served(&srv, "127.0.0.1");
    assert_eq!(wrong.accepted(), 0);
}

/// For each position in `order`: set that variable and every later one,
/// each to a different proxy; only the first set one may be used.
#[track_caller]
fn check_precedence(order: &[&str], url: &str, srv: &Server, host: &str, extra: &[&str]) {
    for first in 0..order.len() {
        let chosen = http_proxy(HttpMode::Tunnel);
        let decoys: Vec<_> = (first + 1..order.len()).map(|_| decoy()).collect();
        let urls: Vec<String> = std::iter::once(chosen.url("http"))
            .chain(decoys.iter().map(|d| d.url("http")))
            .collect();
        let env: Vec<(&str, &str)> = order[first..]
            .iter()
            .copied()
            .zip(urls.iter().map(|u| u.as_str()))
            .collect();
        let mut args = vec![url, "-x", "hi"];
        args.extend_from_slice(extra);
        let r = run_env(&args, &env);
        assert_eq!(r.code, Some(0), "env {env:?}\n{r}");
        r.stdout("hi\n");
        let req = chosen.next();
        assert!(
            req.request_line
                .starts_with(&format!("CONNECT {host}:{} ", srv.port())),
            "env {env:?}: {req:?}"
        );
        assert_hi_served(srv, host);
        for (d, (var, _)) in decoys.iter().zip(&env[1..]) {
            assert_eq!(d.accepted(), 0, "{var} used although {} is set", env[0].0);
        }
    }
}

#[test]
fn environment_precedence_for_ws() {
    let srv = Server::start(echo);
    check_precedence(&WS_ORDER, &srv.url(), &srv, "127.0.0.1", &[]);
}

#[test]
fn environment_precedence_for_wss() {
    let srv = tls_echo_server();
    let url = srv.url_host("localhost");
    check_precedence(&WSS_ORDER, &url, &srv, "localhost", &["--cacert", ca()]);
}

#[test]
fn all_proxy_may_be_socks5h() {
    let srv = Server::start(echo);
    let proxy = socks_proxy(SocksOpts::default());
    let p = proxy.url("socks5h");
    let url = srv.url_host("localhost");
    run_env(&[&url, "-x", "hi"], &[("ALL_PROXY", &p)])
        .code(0)
        .stdout("hi\n");
    let seen = proxy.next();
    assert_eq!(
        (seen.atyp, seen.host.as_str()),
        (Some(3), "localhost"),
        "{seen:?}"
    );
    assert_hi_served(&srv, "localhost");
}

#[test]
fn environment_proxy_without_scheme_means_http() {
    let srv = Server::start(echo);
    let proxy = http_proxy_with_auth(USER, PW);
    let bare = format!("{USER}:{PW}@127.0.0.1:{}", proxy.port());
    run_env(&[&srv.url(), "-x", "hi"], &[("http_proxy", &bare)])
        .code(0)
        .stdout("hi\n");
    let req = proxy.next();
    assert_connect(&req, &format!("127.0.0.1:{}", srv.port()));
    assert!(req.header("proxy-authorization").is_some(), "{req:?}");
    assert_hi_served(&srv, "127.0.0.1");
}

#[test]
fn bad_proxy_url_in_the_environment_is_a_usage_error() {
    let wrong = decoy();
    let ftp = format!("ftp://127.0.0.1:{}", wrong.port());
    for (var, value) in [
        ("http_proxy", ftp.as_str()),
        ("ALL_PROXY", "http://127.0.0.1:notaport"),
    ] {
        let r = run_env(&[&closed_url(), "-x", "hi"], &[(var, value)]);
        assert_eq!(r.code, Some(2), "env {var}={value}\n{r}");
        r.stdout("").stderr_contains(var).no_panic();
    }
    assert_eq!(wrong.accepted(), 0);
}

#[test]
fn proxy_flag_overrides_the_environment() {
    let srv = Server::start(echo);
    let proxy = http_proxy(HttpMode::Tunnel);
    let wrong = decoy();
    let w = wrong.url("http");
    let env = [
        ("ws_proxy", w.as_str()),
        ("http_proxy", w.as_str()),
        ("all_proxy", w.as_str()),
    ];
    run_env(
        &["--proxy", &proxy.url("http"), &srv.url(), "-x", "hi"],
        &env,
    )
    .code(0)
    .stdout("hi\n");
    assert_connect(&proxy.next(), &format!("127.0.0.1:{}", srv.port()));
    assert_hi_served(&srv, "127.0.0.1");
    assert_eq!(wrong.accepted(), 0);
}

#[test]
fn no_proxy_flag_ignores_the_environment() {
    let srv = Server::start(echo);
    let wrong = decoy();
    let w = wrong.url("http");
    let env = [
        ("ws_proxy", w.as_str()),
        ("http_proxy", w.as_str()),
        ("ALL_PROXY", w.as_str()),
    ];
    let r = run_env(&["--no-proxy", &srv.url(), "-v", "-x", "hi"], &env);
    r.code(0).stdout("hi\n");
    assert!(via_lines(&r.stderr_str()).is_empty(), "{r}");
    assert_hi_served(&srv, "127.0.0.1");
    assert_eq!(wrong.accepted(), 0);
}

#[test]
fn no_proxy_exact_host_and_star_bypass_the_proxy() {
    let srv = Server::start(echo);
    let wrong = decoy();
    let w = wrong.url("http");
    for (var, value) in [
        ("no_proxy", "127.0.0.1"),
        ("NO_PROXY", "127.0.0.1"),
        ("no_proxy", "other.example, 127.0.0.1"),
        ("no_proxy", "other.example,127.0.0.1,third.example"),
        ("no_proxy", "*"),
        ("NO_PROXY", "*"),
    ] {
        let env = [("http_proxy", w.as_str()), (var, value)];
        let r = run_env(&[&srv.url(), "-x", "hi"], &env);
        assert_eq!(r.code, Some(0), "env {env:?}\n{r}");
        r.stdout("hi\n");
        assert_hi_served(&srv, "127.0.0.1");
        assert_eq!(wrong.accepted(), 0, "env {env:?}: the proxy was used");
    }
}

#[test]
fn no_proxy_host_name_bypasses_the_proxy() {
    let srv = Server::start(echo);
    let wrong = decoy();
    let w = wrong.url("http");
    let url = srv.url_host("localhost");
    for value in ["localhost", "example.invalid,localhost"] {
        let env = [("http_proxy", w.as_str()), ("no_proxy", value)];
        let r = run_env(&[&url, "-x", "hi"], &env);
        assert_eq!(r.code, Some(0), "env {env:?}\n{r}");
        r.stdout("hi\n");
        assert_hi_served(&srv, "localhost");
    }
    assert_eq!(wrong.accepted(), 0);
}

#[test]
fn no_proxy_entries_that_do_not_match_keep_the_proxy() {
    let srv = Server::start(echo);
    let proxy = http_proxy(HttpMode::Tunnel);
    let p = proxy.url("http");
    for value in [
        "example.com",
        "127.0.0.2",
        // IP literals match exactly, not as suffixes.
        ".0.0.1",
        "0.0.1",
        "127.0.0.10",
        "",
    ] {
        let env = [("http_proxy", p.as_str()), ("no_proxy", value)];
        let r = run_env(&[&srv.url(), "-x", "hi"], &env);
        assert_eq!(r.code, Some(0), "env {env:?}\n{r}");
        r.stdout("hi\n");
        let req = proxy
            .try_next()
            .unwrap_or_else(|| panic!("env {env:?}: the proxy was not used"));
        assert_connect(&req, &format!("127.0.0.1:{}", srv.port()));
        assert_hi_served(&srv, "127.0.0.1");
    }
}

#[test]
fn no_proxy_domain_suffix() {
    // `svc.example.invalid` resolves nowhere: through the proxy (which
    // dials 127.0.0.1) the run succeeds; bypassing it, the direct
    // connection fails to resolve the name (exit 3) without touching the
    // proxy.
    let srv = Server::start(echo);
    let url = format!("ws://svc.example.invalid:{}/", srv.port());
    for value in [
        "example.invalid",
        ".example.invalid",
        "svc.example.invalid",
        "other.test,example.invalid",
        "*",
    ] {
        let proxy = http_proxy(HttpMode::Tunnel);
        let p = proxy.url("http");
        let env = [("http_proxy", p.as_str()), ("no_proxy", value)];
        let r = run_env(&[&url, "--connect-timeout", "5s", "-x", "hi"], &env);
        assert_eq!(
            r.code,
            Some(3),
            "env {env:?}: expected a direct attempt\n{r}"
        );
        r.stdout("").stderr_contains("svc.example.invalid");
        assert_eq!(proxy.accepted(), 0, "env {env:?}: the proxy was used");
    }
    for value in [
        "ample.invalid",
        "xample.invalid",
        "example.invalid.com",
        "svc.example",
        "other.invalid",
    ] {
        let proxy = http_proxy(HttpMode::Tunnel);
        let p = proxy.url("http");
        let env = [("http_proxy", p.as_str()), ("no_proxy", value)];
        let r = run_env(&[&url, "-x", "hi"], &env);
        assert_eq!(r.code, Some(0), "env {env:?}: expected the proxy\n{r}");
        r.stdout("hi\n");
        let req = proxy
            .try_next()
            .unwrap_or_else(|| panic!("env {env:?}: the proxy was not used"));
        assert_connect(&req, &format!("svc.example.invalid:{}", srv.port()));
        assert_hi_served(&srv, "svc.example.invalid");
    }
}

// ---------------------------------------------------------------------------
// -v and redaction
// ---------------------------------------------------------------------------

#[test]
fn verbose_names_the_proxy() {
    let srv = Server::start(echo);
    let proxy = http_proxy(HttpMode::Tunnel);
    let r = run(&["--proxy", &proxy.url("http"), &srv.url(), "-v", "-x", "hi"]);
    r.code(0).stdout("hi\n");
    let err = r.stderr_str();
    assert_eq!(
        via_lines(&err),
        [format!("* via proxy http://127.0.0.1:{}", proxy.port())],
        "{err}"
    );
    // The upgrade request shown is the one sent to the server.
    assert!(err.lines().any(|l| l == "> GET / HTTP/1.1"), "{err}");
    assert_hi_served(&srv, "127.0.0.1");
}

#[test]
fn verbose_names_a_proxy_from_the_environment() {
    let srv = Server::start(echo);
    let proxy = socks_proxy(SocksOpts::default());
    let p = proxy.url("socks5h");
    let r = run_env(&[&srv.url(), "-v", "-x", "hi"], &[("all_proxy", &p)]);
    r.code(0).stdout("hi\n");
    let err = r.stderr_str();
    assert_eq!(
        via_lines(&err),
        [format!("* via proxy socks5h://127.0.0.1:{}", proxy.port())],
        "{err}"
    );
    proxy.next();
    assert_hi_served(&srv, "127.0.0.1");
}

#[test]
fn no_via_line_without_a_proxy() {
    let srv = Server::start(echo);
    let r = run(&[&srv.url(), "-v", "-x", "hi"]);
    r.code(0).stdout("hi\n");
    assert!(via_lines(&r.stderr_str()).is_empty(), "{r}");
    assert_hi_served(&srv, "127.0.0.1");
}

#[test]
fn proxy_password_is_redacted_in_verbose_output() {
    let srv = Server::start(echo);
    let proxy = http_proxy_with_auth(USER, PW);
    let p = proxy.url_with("http", USER, PW);
    let url = srv.url();
    for extra in [&["-v"][..], &["-vv"][..]] {
        let mut args = vec!["--proxy", p.as_str(), url.as_str()];
        args.extend_from_slice(extra);
        args.extend(["-x", "hi"]);
        let r = run_redacted(&args, &[]);
        r.code(0).stdout("hi\n");
        let err = r.stderr_str();
        let via = via_lines(&err);
        assert_eq!(via.len(), 1, "{err}");
        assert!(via[0].starts_with("* via proxy http://"), "{err}");
        assert!(
            via[0].ends_with(&format!("127.0.0.1:{}", proxy.port())),
            "{err}"
        );
        assert!(proxy.next().header("proxy-authorization").is_some());
        assert_hi_served(&srv, "127.0.0.1");
    }
}

#[test]
fn proxy_password_from_the_environment_is_redacted() {
    let srv = Server::start(echo);
    let proxy = http_proxy_with_auth(USER, PW);
    let p = proxy.url_with("http", USER, PW);
    let r = run_redacted(&[&srv.url(), "-v", "-x", "hi"], &[("http_proxy", &p)]);
    r.code(0).stdout("hi\n");
    assert_eq!(via_lines(&r.stderr_str()).len(), 1, "{r}");
    proxy.next();
    assert_hi_served(&srv, "127.0.0.1");
}

#[test]
fn proxy_password_is_redacted_in_jsonl() {
    let srv = Server::start(echo);
    let proxy = socks_proxy_with_auth(USER, PW);
    let p = proxy.url_with("socks5", USER, PW);
    let r = run_redacted(&["--proxy", &p, &srv.url(), "--jsonl", "-x", "hi"], &[]);
    r.code(0);
    let events = parse_jsonl(&r.stdout);
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["open", "text", "text", "close", "close"], "{r}");
    assert_eq!(events[0]["url"], srv.url(), "{r}");
    assert_eq!(events[1]["data"], "hi");
    assert_eq!(events[2]["data"], "hi");
    proxy.next();
    assert_hi_served(&srv, "127.0.0.1");
}

#[test]
fn proxy_password_is_redacted_when_the_proxy_fails() {
    let http_407 = http_proxy_with_auth(USER, "the-right-one");
    let http_502 = http_proxy_replying("502 Bad Gateway");
    let socks_bad_login = socks_proxy_with_auth(USER, "the-right-one");
    let socks_refusing = socks_proxy(SocksOpts {
        reply: 5,
        ..Default::default()
    });
    let stalled = RawServer::silent();
    let closed = closed_port();
    let proxies = [
        http_407.url_with("http", USER, PW),
        http_502.url_with("http", USER, PW),
        socks_bad_login.url_with("socks5", USER, PW),
        socks_refusing.url_with("socks5h", USER, PW),
        format!("http://{USER}:{PW}@127.0.0.1:{}", stalled.port()),
        format!("http://{USER}:{PW}@127.0.0.1:{closed}"),
        format!("socks5://{USER}:{PW}@127.0.0.1:{closed}"),
    ];
    let target = closed_url();
    for p in &proxies {
        for extra in [&["-v"][..], &["-vv", "--jsonl"][..]] {
            let mut args = vec!["--proxy", p.as_str(), target.as_str()];
            args.extend_from_slice(extra);
            args.extend(["--connect-timeout", "500ms", "-x", "hi"]);
            let r = run_redacted(&args, &[]);
            r.code(3).no_panic();
        }
        // The same through the environment.
        let r = run_redacted(
            &[&target, "-v", "--connect-timeout", "500ms", "-x", "hi"],
            &[("all_proxy", p)],
        );
        r.code(3).no_panic();
    }
}

#[test]
fn proxy_password_is_redacted_in_usage_errors() {
    for bad in [
        format!("ftp://{USER}:{PW}@127.0.0.1:1"),
        format!("http://{USER}:{PW}@127.0.0.1:notaport"),
    ] {
        let r = run(&["--proxy", &bad, &closed_url(), "-x", "hi"]);
        r.code(2).stdout("");
        assert_no_secret("stderr", &r.stderr);
    }
}

#[test]
fn record_of_a_proxy_failure_ends_with_the_error() {
    let proxy = http_proxy_replying("502 Bad Gateway");
    let dir = test_tempdir();
    let file = dir.path().join("fail.jsonl");
    let r = run(&[
        "--proxy",
        &proxy.url("http"),
        &closed_url(),
        "--record",
        file.to_str().unwrap(),
        "-x",
        "hi",
    ]);
    r.code(3).stdout("");
    let events = parse_jsonl(&std::fs::read(&file).unwrap());
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "error");
    assert_eq!(events[0]["exit_code"], 3);
    proxy.next();
}
