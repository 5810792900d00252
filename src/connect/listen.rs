//! `--listen`: wait for a client on a local address and accept its WebSocket
//! upgrade, so that the REPL, pipe mode, `--expect`, `--jsonl` and the debugger
//! views work for testing clients as well as servers.

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::handshake::HandshakeRole;
use tungstenite::http::{HeaderName, HeaderValue, StatusCode};

use super::deflate::{Agreed, Deflate, Params, Side};
use super::upgrade::header_pairs;
use super::{into_session_mode, tcp, websocket_config, Connection, NetStream, Socket, Tapped};
use crate::error::{Error, Result};
use crate::event::HandshakeInfo;

/// What the listening side offers.
#[derive(Clone)]
pub struct ListenOptions {
    /// Subprotocols wsprobe accepts, in order of preference (`-s`).
    pub subprotocols: Vec<String>,
    /// Extra headers for the 101 response (`-H`).
    pub headers: Vec<(String, String)>,
    /// How long a client may take to send its upgrade request.
    pub handshake_timeout: Duration,
    pub max_message_size: usize,
    pub trace_frames: bool,
    /// `--cert`/`--key`: serve wss:// with this identity.
    pub tls: Option<openssl::ssl::SslAcceptor>,
    /// `--deflate[=PARAMS]`: accept a client's permessage-deflate offer, asking
    /// for these parameters where the RFC lets the server.
    pub deflate: Option<Params>,
}

/// `PORT`, `HOST:PORT` or `[IPv6]:PORT`; a bare port means 127.0.0.1 (listening
/// on every interface has to be asked for: `0.0.0.0:PORT`).
pub fn bind(spec: &str) -> Result<TcpListener> {
    let spec = spec.trim();
    let text = if spec.parse::<u16>().is_ok() {
        format!("127.0.0.1:{spec}")
    } else {
        spec.to_string()
    };
    let addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|_| {
            Error::Usage(format!(
                "--listen expects PORT or ADDRESS:PORT (e.g. 9001, 0.0.0.0:9001, [::1]:9001), got '{spec}'"
            ).into())
        })?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match TcpListener::bind(addr) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some((addr, e)),
        }
    }
    Err(match last {
        Some((addr, e)) => {
            Error::Connect(format!("cannot listen on {addr}: {}", tcp::plain_io_message(&e)).into())
        }
        None => Error::Usage(format!("--listen: '{spec}' has no address").into()),
    })
}

/// The URL clients use to reach this listener.
pub fn url_of(listener: &TcpListener, tls: bool) -> String {
    let scheme = if tls { "wss" } else { "ws" };
    match listener.local_addr() {
        Ok(addr) => format!("{scheme}://{addr}/"),
        Err(_) => format!("{scheme}://?/"),
    }
}

/// Wait for the next client (until `deadline`, if any) and accept its upgrade.
pub fn accept(
    listener: &TcpListener,
    opts: &ListenOptions,
    deadline: Option<Instant>,
) -> Result<Connection> {
    if let Some(deadline) = deadline {
        wait_readable(listener, deadline)?;
    }
    let (tcp, peer) = listener.accept().map_err(|e| {
        Error::Connect(format!("cannot accept a client: {}", tcp::plain_io_message(&e)).into())
    })?;
    let started = Instant::now();
    let _ = tcp.set_nodelay(true);
    // The client's TLS handshake and upgrade request get --connect-timeout, and
    // no more than what is left of --timeout.
    let handshake_deadline = deadline.map_or(started + opts.handshake_timeout, |d| {
        d.min(started + opts.handshake_timeout)
    });
    let net = secure(Socket::new(tcp, Some(handshake_deadline)), opts, peer)?;
    let negotiated = net.tls_info();
    let stream = Tapped::before_upgrade(net, opts.trace_frames);
    let config = websocket_config(opts.max_message_size);
    let scheme = if opts.tls.is_some() { "wss" } else { "ws" };
    let mut info = HandshakeInfo {
        url: url_of(listener, opts.tls.is_some()),
        status: 101,
        reason: "Switching Protocols".into(),
        peer: Some(peer.to_string()),
        listening: true,
        tls: negotiated,
        ..HandshakeInfo::default()
    };
    // tungstenite's callback signature returns its (large) ErrorResponse by value.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| {
        info.url = crate::redact::url(&request_url(scheme, listener, request));
        info.request_headers = header_pairs(request.headers());
        let (mut response, subprotocol) = respond(request, response, opts)?;
        info.subprotocol = subprotocol;
        if let Some((params, agreed)) = choose_deflate(request, opts) {
            if let Ok(value) = HeaderValue::from_str(&params.to_string()) {
                response
                    .headers_mut()
                    .insert("sec-websocket-extensions", value);
                info.deflate = Some(agreed);
            }
        }
        info.response_headers = header_pairs(response.headers());
        Ok(response)
    };
    let mut ws = tungstenite::accept_hdr_with_config(stream, callback, Some(config))
        .map_err(|e| upgrade_failed(peer, e))?;
    ws.get_mut().set_deadline(None);
    if let Some(agreed) = &info.deflate {
        // A client sends no frame before the 101 (RFC 6455 §4.1), so nothing
        // has passed the tap uninflated.
        let codec = Deflate::new(agreed, Side::Server, opts.max_message_size);
        ws.get_mut().start_deflate(codec, Vec::new());
    }
    into_session_mode(ws.get_ref().transport())?;
    info.at = std::time::SystemTime::now();
    info.timings = Some(crate::event::Timings {
        dns: Duration::ZERO,
        tcp: Duration::ZERO,
        tls: None,
        upgrade: started.elapsed(),
        total: started.elapsed(),
    });
    Ok(Connection { ws, info })
}

/// With `--cert`/`--key`, the client's TLS handshake; otherwise the plain socket.
fn secure(socket: Socket, opts: &ListenOptions, peer: SocketAddr) -> Result<NetStream> {
    let Some(acceptor) = &opts.tls else {
        return Ok(NetStream::Plain(socket));
    };
    let tls = acceptor.accept(socket).map_err(|e| {
        Error::Tls(
            format!(
                "TLS handshake with the client at {peer} failed: {}",
                match e {
                    openssl::ssl::HandshakeError::WouldBlock(_) => "timed out".to_string(),
                    openssl::ssl::HandshakeError::SetupFailure(e) => e.to_string(),
                    openssl::ssl::HandshakeError::Failure(mid) => {
                        super::openssl_extras::reason_of(mid.ssl(), mid.error())
                    }
                }
            )
            .into(),
        )
    })?;
    Ok(NetStream::Tls(Box::new(tls)))
}

/// The URL the client asked for: this listener's address and the request's path.
fn request_url(scheme: &str, listener: &TcpListener, request: &Request) -> String {
    format!(
        "{scheme}://{}{}",
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        request.uri()
    )
}

/// The 101 response to the client's upgrade request, with the subprotocol chosen
/// (if any) and the `-H` headers; or a 400 when wsprobe was given subprotocols
/// and the client offers none of them.
#[allow(clippy::result_large_err)] // The refusal is for the callback, as it takes it.
fn respond(
    request: &Request,
    mut response: Response,
    opts: &ListenOptions,
) -> std::result::Result<(Response, Option<String>), ErrorResponse> {
    let mut subprotocol = None;
    if let Some(chosen) = choose_subprotocol(request, &opts.subprotocols)? {
        if let Ok(value) = HeaderValue::from_str(chosen) {
            response
                .headers_mut()
                .insert("sec-websocket-protocol", value);
            subprotocol = Some(chosen.clone());
        }
    }
    for (name, value) in &opts.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    Ok((response, subprotocol))
}

/// With `--deflate`: the answer to the client's permessage-deflate offer, if it
/// made a valid one.
fn choose_deflate(request: &Request, opts: &ListenOptions) -> Option<(Params, Agreed)> {
    let wishes = opts.deflate.as_ref()?;
    let offers: Vec<String> = request
        .headers()
        .get_all("sec-websocket-extensions")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    super::deflate::params::choose(wishes, &offers)
}

/// The first of `accepted` (wsprobe's order of preference) that the client offers;
/// none when wsprobe accepts any (`accepted` is empty), a refusal when it offers
/// none of them.
#[allow(clippy::result_large_err)] // The refusal is for the callback, as it takes it.
fn choose_subprotocol<'a>(
    request: &Request,
    accepted: &'a [String],
) -> std::result::Result<Option<&'a String>, ErrorResponse> {
    let offered = super::upgrade::offered_subprotocols(request.headers());
    if let Some(chosen) = accepted.iter().find(|p| offered.contains(p)) {
        return Ok(Some(chosen));
    }
    if accepted.is_empty() {
        return Ok(None);
    }
    let mut refusal = ErrorResponse::new(Some(format!(
        "none of the offered subprotocols is accepted (accepted: {})\n",
        accepted.join(", ")
    )));
    *refusal.status_mut() = StatusCode::BAD_REQUEST;
    Err(refusal)
}

fn upgrade_failed<R: HandshakeRole>(peer: SocketAddr, e: tungstenite::HandshakeError<R>) -> Error {
    Error::Handshake(
        format!(
            "the client at {peer} did not complete a WebSocket upgrade: {}",
            match e {
                tungstenite::HandshakeError::Interrupted(_) => "timed out".to_string(),
                tungstenite::HandshakeError::Failure(e) => e.to_string(),
            }
        )
        .into(),
    )
}

/// Wait until a client is waiting to be accepted, or the deadline passes. The
/// listener stays in blocking mode: it is only watched here, and accepted from
/// once it is readable.
fn wait_readable(listener: &TcpListener, deadline: Instant) -> Result<()> {
    let cannot_wait =
        |e: io::Error| Error::Runtime(format!("cannot wait for a client: {e}").into());
    let mut poll = Poll::new().map_err(cannot_wait)?;
    let fd = listener.as_raw_fd();
    poll.registry()
        .register(&mut SourceFd(&fd), CLIENT_WAITING, Interest::READABLE)
        .map_err(cannot_wait)?;
    let mut events = Events::with_capacity(1);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(Error::Timeout(
                "no client connected before the deadline (--timeout)".into(),
            ));
        }
        match poll.poll(&mut events, Some(remaining)) {
            Ok(()) if !events.is_empty() => return Ok(()),
            // Timed out, or woke with nothing ready: check the deadline again.
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(cannot_wait(e)),
        }
    }
}

/// The only source `wait_readable` registers.
const CLIENT_WAITING: Token = Token(0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        let l = bind("0").unwrap();
        assert!(l.local_addr().unwrap().ip().is_loopback());
        assert!(url_of(&l, false).starts_with("ws://127.0.0.1:"));
        assert!(url_of(&l, true).starts_with("wss://127.0.0.1:"));
        let l = bind("127.0.0.1:0").unwrap();
        assert!(l.local_addr().unwrap().port() > 0);
        assert!(matches!(bind("not an address"), Err(Error::Usage(_))));
        let taken = bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        assert!(matches!(
            bind(&format!("127.0.0.1:{port}")),
            Err(Error::Connect(_))
        ));
    }
}
