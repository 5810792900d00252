//! In-test proxies on 127.0.0.1: HTTP CONNECT ([`http_proxy`]), the same
//! behind TLS ([`https_proxy`]), and SOCKS5 ([`socks_proxy`], RFC 1928 and
//! 1929). Each session reports what it was asked for ([`Served::next`])
//! before it tunnels. Whatever host a client asks for, they dial 127.0.0.1
//! at the requested port: the tests check what was asked for, and every
//! connection stays on loopback.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, TcpStream};
use std::sync::mpsc::Sender;
use std::thread;

use super::{
    answer_and_hold, b64, loopback, read_request, serve, KeyPairFiles, RawRequest, Served, DEADLINE,
};

/// A proxy: what each of its sessions observed is a `T`.
pub type Proxy<T> = Served<T>;

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

// HTTP CONNECT ---------------------------------------------------------------

/// What an HTTP proxy does with a CONNECT request.
#[derive(Clone)]
pub enum HttpMode {
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
pub fn http_proxy(mode: HttpMode) -> Proxy<RawRequest> {
    serve(loopback(), None, move |client, tx| {
        http_session(client, &mode, tx)
    })
}

/// An HTTP proxy that requires `Proxy-Authorization: Basic user:pass`.
pub fn http_proxy_with_auth(user: &str, pass: &str) -> Proxy<RawRequest> {
    let expected = format!("Basic {}", b64(format!("{user}:{pass}").as_bytes()));
    http_proxy(HttpMode::TunnelWithAuth(expected))
}

/// An HTTP proxy answering every CONNECT with `status` (e.g. `502 Bad
/// Gateway`) and a short body.
pub fn http_proxy_replying(status: &str) -> Proxy<RawRequest> {
    let body = "refused by the test proxy";
    http_proxy(HttpMode::Reply(format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )))
}

/// A proxy that must not be used: it refuses everything with a 403, so a
/// run that wrongly goes through it fails.
pub fn decoy() -> Proxy<RawRequest> {
    http_proxy_replying("403 Forbidden")
}

fn http_session(mut client: TcpStream, mode: &HttpMode, tx: &Sender<RawRequest>) {
    let req = read_request(&mut client).unwrap_or_default();
    let _ = tx.send(req.clone());
    let status = match mode {
        HttpMode::Reply(response) => return answer_and_hold(&mut client, response.as_bytes()),
        HttpMode::TunnelWithAuth(expected)
            if req.header("proxy-authorization") != Some(expected.as_str()) =>
        {
            return answer_and_hold(&mut client, PROXY_AUTH_REQUIRED.as_bytes());
        }
        HttpMode::TunnelWithStatus(line) => line,
        _ => "HTTP/1.1 200 Connection established",
    };
    let Some(port) = connect_target_port(&req) else {
        return answer_and_hold(&mut client, b"HTTP/1.1 400 Bad Request\r\n\r\n");
    };
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", port)) else {
        return answer_and_hold(&mut client, b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
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

// HTTPS: HTTP CONNECT inside TLS ---------------------------------------------

/// An HTTP CONNECT proxy that clients reach over TLS (`https://`): a TLS
/// front on its own port, presenting `pair`, that passes the decrypted bytes
/// to an [`http_proxy`] of `mode`. `port` is the front's; `next` what the
/// proxy behind it was asked.
pub struct HttpsProxy {
    front: Served<()>,
    inner: Proxy<RawRequest>,
}

pub fn https_proxy(mode: HttpMode, pair: &KeyPairFiles) -> HttpsProxy {
    use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
    let inner = http_proxy(mode);
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    builder
        .set_private_key_file(&pair.key, SslFiletype::PEM)
        .unwrap();
    builder.set_certificate_chain_file(&pair.cert).unwrap();
    let acceptor = builder.build();
    let behind = inner.port();
    let front = serve(loopback(), None, move |client, _tx| {
        // A client that rejects the certificate ends here.
        let Ok(tls) = acceptor.accept(client) else {
            return;
        };
        if let Ok(plain) = TcpStream::connect(("127.0.0.1", behind)) {
            relay(tls, plain);
        }
    });
    HttpsProxy { front, inner }
}

impl HttpsProxy {
    pub fn port(&self) -> u16 {
        self.front.port()
    }

    /// TCP connections to the TLS front (whether or not TLS succeeded).
    pub fn accepted(&self) -> usize {
        self.front.accepted()
    }

    /// The next request the proxy behind the front received.
    #[track_caller]
    pub fn next(&self) -> RawRequest {
        self.inner.next()
    }

    pub fn try_next(&self, timeout: std::time::Duration) -> Option<RawRequest> {
        self.inner.try_next(timeout)
    }
}

/// One direction of [`relay`]: bytes read from one side, not yet written to
/// the other, and whether the reading side has ended.
#[derive(Default)]
struct Leg {
    pending: Vec<u8>,
    ended: bool,
}

impl Leg {
    /// Reads from `from` when nothing is pending, writes what is pending to
    /// `to` (a write that would block is retried with the same bytes, as
    /// OpenSSL requires); whether anything moved, or `Err` when `to` failed.
    fn step(
        &mut self,
        from: &mut impl Read,
        to: &mut impl Write,
        buf: &mut [u8],
    ) -> Result<bool, ()> {
        let would_block = |e: &io::Error| e.kind() == io::ErrorKind::WouldBlock;
        let mut moved = false;
        if !self.ended && self.pending.is_empty() {
            match from.read(buf) {
                Ok(0) => self.ended = true,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if would_block(&e) => {}
                Err(_) => self.ended = true,
            }
            moved = self.ended || !self.pending.is_empty();
        }
        if !self.pending.is_empty() {
            match to.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                    moved = true;
                }
                Err(e) if would_block(&e) => {}
                Err(_) => return Err(()),
            }
        }
        Ok(moved)
    }

    /// The reading side ended and everything it sent was passed on.
    fn done(&self) -> bool {
        self.ended && self.pending.is_empty()
    }
}

/// Copies bytes both ways between a TLS session and a plain socket until
/// both directions have ended: one thread, both sockets non-blocking,
/// waiting in poll(2) when neither can move.
fn relay(mut tls: openssl::ssl::SslStream<TcpStream>, mut plain: TcpStream) {
    use std::os::fd::AsRawFd;
    use std::time::Instant;
    if tls.get_ref().set_nonblocking(true).is_err() || plain.set_nonblocking(true).is_err() {
        return;
    }
    let (mut up, mut down) = (Leg::default(), Leg::default());
    let mut shut = false;
    let mut buf = vec![0u8; 64 * 1024];
    let give_up = Instant::now() + DEADLINE;
    while Instant::now() < give_up {
        let (Ok(a), Ok(b)) = (
            up.step(&mut tls, &mut plain, &mut buf),
            down.step(&mut plain, &mut tls, &mut buf),
        ) else {
            return;
        };
        let moved = a || b;
        if up.done() && !shut {
            let _ = plain.shutdown(Shutdown::Write);
            shut = true;
        }
        if down.done() {
            let _ = tls.shutdown();
            if up.done() {
                return;
            }
        }
        if !moved {
            let mut fds = [
                libc::pollfd {
                    fd: tls.get_ref().as_raw_fd(),
                    events: libc::POLLIN
                        | if down.pending.is_empty() {
                            0
                        } else {
                            libc::POLLOUT
                        },
                    revents: 0,
                },
                libc::pollfd {
                    fd: plain.as_raw_fd(),
                    events: libc::POLLIN
                        | if up.pending.is_empty() {
                            0
                        } else {
                            libc::POLLOUT
                        },
                    revents: 0,
                },
            ];
            // SAFETY: two valid pollfd structs, and their count.
            unsafe { libc::poll(fds.as_mut_ptr(), 2, 100) };
        }
    }
}

// SOCKS5 ---------------------------------------------------------------------

/// What a SOCKS5 proxy observed in one session.
#[derive(Debug, Clone, Default)]
pub struct SocksSeen {
    /// The authentication methods the client offered.
    pub methods: Vec<u8>,
    /// The method the proxy chose (0xFF: none acceptable).
    pub method: Option<u8>,
    /// Username and password (RFC 1929), if the client sent them.
    pub credentials: Option<(String, String)>,
    /// The request's command (1 = CONNECT).
    pub cmd: Option<u8>,
    /// The request's address type: 1 IPv4, 3 domain name, 4 IPv6.
    pub atyp: Option<u8>,
    /// The requested address: an IP address as text, or the domain name.
    pub host: String,
    pub port: u16,
}

#[derive(Clone, Default)]
pub struct SocksOpts {
    /// Require username/password authentication with these credentials.
    pub auth: Option<(String, String)>,
    /// Answer every CONNECT with this reply code instead of dialing (0:
    /// dial, and answer 5 "connection refused" if that fails).
    pub reply: u8,
}

pub fn socks_proxy(opts: SocksOpts) -> Proxy<SocksSeen> {
    serve(loopback(), None, move |mut client, tx| {
        let mut seen = SocksSeen::default();
        let upstream = socks_handshake(&mut client, &opts, &mut seen);
        let _ = tx.send(seen);
        match upstream {
            Ok(Some(upstream)) => tunnel(client, upstream),
            _ => answer_and_hold(&mut client, b""),
        }
    })
}

pub fn socks_proxy_with_auth(user: &str, pass: &str) -> Proxy<SocksSeen> {
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
