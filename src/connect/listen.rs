//! `--listen`: wait for a client on a local address and accept its WebSocket
//! upgrade, so that the REPL, pipe mode, `--expect`, `--jsonl` and the debugger
//! views work for testing clients as well as servers.

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};
use tungstenite::handshake::server::{Callback, ErrorResponse, Request, Response, ServerHandshake};
use tungstenite::handshake::{HandshakeRole, MidHandshake};
use tungstenite::http::{HeaderName, HeaderValue, StatusCode};

use super::deflate::{Agreed, Deflate, Params, Side};
use super::listener::Listener;
use super::socket::Transport;
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
    /// `--path REGEX`: refuse other paths with 404.
    pub path: Option<regex::Regex>,
}

/// Wait for the next client (until `deadline`, if any) and accept its upgrade.
pub fn accept(
    listener: &Listener,
    opts: &ListenOptions,
    deadline: Option<Instant>,
) -> Result<Connection> {
    if let Some(deadline) = deadline {
        wait_readable(listener, deadline)?;
    }
    let (io, peer) = listener.accept().map_err(|e| {
        Error::Connect(format!("cannot accept a client: {}", tcp::plain_io_message(&e)).into())
    })?;
    let started = Instant::now();
    // The client's TLS handshake and upgrade request get --connect-timeout, and
    // no more than what is left of --timeout.
    let handshake_deadline = deadline.map_or(started + opts.handshake_timeout, |d| {
        d.min(started + opts.handshake_timeout)
    });
    let net = secure(Socket::over(io, Some(handshake_deadline)), opts, &peer)?;
    let stream = Tapped::before_upgrade(net, opts.trace_frames);
    let config = websocket_config(opts.max_message_size);
    let base = listener.base(opts.tls.is_some());
    let mut answered = None;
    // tungstenite's callback signature returns its (large) ErrorResponse by value.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| {
        let (response, answer) = answer(request, response, opts, &base)?;
        answered = Some(answer);
        Ok(response)
    };
    let mut ws = tungstenite::accept_hdr_with_config(stream, callback, Some(config))
        .map_err(|e| upgrade_failed(&peer, e))?;
    ws.get_mut().set_deadline(None);
    let answered = answered.unwrap_or_default();
    into_session_mode(ws.get_ref().transport())?;
    let info = session_ready(&mut ws, answered, &peer, &base, opts, started);
    Ok(Connection { ws, info })
}

/// What the answer to a client's upgrade request decided, for its `HandshakeInfo`.
#[derive(Debug, Default)]
pub struct Answered {
    /// The URL the client asked for (secrets redacted).
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub response_headers: Vec<(String, String)>,
    pub subprotocol: Option<String>,
    pub deflate: Option<Agreed>,
}

/// The answer to an upgrade request: the 101 with the chosen subprotocol and
/// extension and the configured headers, or a refusal (404 for a path that
/// `--path` does not match, 400 for no acceptable subprotocol). `base` is this
/// listener's `ws://ADDR` without a path.
#[allow(clippy::result_large_err)] // The refusal is for the callback, as it takes it.
pub fn answer(
    request: &Request,
    response: Response,
    opts: &ListenOptions,
    base: &str,
) -> std::result::Result<(Response, Answered), ErrorResponse> {
    let path = request.uri().to_string();
    if let Some(allowed) = &opts.path {
        let bare = request.uri().path();
        if !allowed.is_match(bare) {
            let mut refusal = ErrorResponse::new(Some(format!(
                "no WebSocket endpoint at {bare} (this server accepts paths matching '{}')\n",
                allowed.as_str()
            )));
            *refusal.status_mut() = StatusCode::NOT_FOUND;
            return Err(refusal);
        }
    }
    let (mut response, subprotocol) = respond(request, response, opts)?;
    let mut answered = Answered {
        url: crate::redact::url(&format!("{base}{path}")),
        request_headers: header_pairs(request.headers()),
        subprotocol,
        ..Answered::default()
    };
    if let Some((params, agreed)) = choose_deflate(request, opts) {
        if let Ok(value) = HeaderValue::from_str(&params.to_string()) {
            response
                .headers_mut()
                .insert("sec-websocket-extensions", value);
            answered.deflate = Some(agreed);
        }
    }
    answered.response_headers = header_pairs(response.headers());
    Ok((response, answered))
}

/// After the 101: start permessage-deflate if it was agreed, and describe the
/// connection. The socket is already non-blocking.
pub fn session_ready(
    ws: &mut tungstenite::WebSocket<Tapped>,
    answered: Answered,
    peer: &str,
    base: &str,
    opts: &ListenOptions,
    started: Instant,
) -> HandshakeInfo {
    if let Some(agreed) = &answered.deflate {
        // A client sends no frame before the 101 (RFC 6455 §4.1), so nothing
        // has passed the tap uninflated.
        let codec = Deflate::new(agreed, Side::Server, opts.max_message_size);
        ws.get_mut().start_deflate(codec, Vec::new());
    }
    let url = if answered.url.is_empty() {
        format!("{base}/")
    } else {
        answered.url
    };
    HandshakeInfo {
        url,
        status: 101,
        reason: "Switching Protocols".into(),
        peer: Some(peer.to_string()),
        listening: true,
        subprotocol: answered.subprotocol,
        request_headers: answered.request_headers,
        response_headers: answered.response_headers,
        deflate: answered.deflate,
        tls: ws.get_ref().tls_info(),
        at: std::time::SystemTime::now(),
        timings: Some(crate::event::Timings {
            dns: Duration::ZERO,
            tcp: Duration::ZERO,
            tls: None,
            upgrade: started.elapsed(),
            total: started.elapsed(),
        }),
        ..HandshakeInfo::default()
    }
}

/// A client's upgrade in progress on a non-blocking socket: the multi-client
/// listener keeps one per client that has connected but not finished its request,
/// and advances it when its socket is readable.
pub struct Upgrading {
    handshake: Option<Handshake>,
    answered: Rc<RefCell<Option<Answered>>>,
    pub peer: String,
    pub fd: RawFd,
    /// `--connect-timeout` from the moment the client connected.
    pub deadline: Instant,
    base: String,
    started: Instant,
    opts: Rc<ListenOptions>,
}

enum Handshake {
    Fresh(Box<Tapped>),
    Mid(Box<MidHandshake<ServerHandshake<Tapped, Answerer>>>),
}

/// How far an [`Upgrading`] got.
pub enum Upgrade {
    /// The client has more to send (or the 101 more to write).
    Waiting,
    Done(Box<Connection>),
    Failed(Error),
}

/// The upgrade callback as a value the handshake can keep across wake-ups.
struct Answerer {
    opts: Rc<ListenOptions>,
    base: String,
    answered: Rc<RefCell<Option<Answered>>>,
}

impl Callback for Answerer {
    fn on_request(
        self,
        request: &Request,
        response: Response,
    ) -> std::result::Result<Response, ErrorResponse> {
        let (response, answered) = answer(request, response, &self.opts, &self.base)?;
        *self.answered.borrow_mut() = Some(answered);
        Ok(response)
    }
}

impl Upgrading {
    /// Start the upgrade of an accepted plain client (wss:// clients are served
    /// one at a time, see `accept`).
    pub fn start(
        io: Transport,
        peer: String,
        opts: &Rc<ListenOptions>,
        base: &str,
    ) -> Result<Upgrading> {
        io.set_nonblocking(true)
            .map_err(|e| Error::Runtime(format!("cannot configure the socket: {e}").into()))?;
        let fd = io.as_raw_fd();
        let started = Instant::now();
        let stream =
            Tapped::before_upgrade(NetStream::Plain(Socket::over(io, None)), opts.trace_frames);
        Ok(Upgrading {
            handshake: Some(Handshake::Fresh(Box::new(stream))),
            answered: Rc::default(),
            peer,
            fd,
            deadline: started + opts.handshake_timeout,
            base: base.to_string(),
            started,
            opts: opts.clone(),
        })
    }

    /// Go on with the handshake as far as the socket allows.
    pub fn advance(&mut self) -> Upgrade {
        let result = match self.handshake.take() {
            Some(Handshake::Fresh(stream)) => {
                let answerer = Answerer {
                    opts: self.opts.clone(),
                    base: self.base.clone(),
                    answered: self.answered.clone(),
                };
                let config = websocket_config(self.opts.max_message_size);
                tungstenite::accept_hdr_with_config(*stream, answerer, Some(config))
            }
            Some(Handshake::Mid(mid)) => (*mid).handshake(),
            None => return Upgrade::Failed(Error::Runtime("the upgrade is over".into())),
        };
        match result {
            Ok(mut ws) => {
                let answered = self.answered.borrow_mut().take().unwrap_or_default();
                let info = session_ready(
                    &mut ws,
                    answered,
                    &self.peer,
                    &self.base,
                    &self.opts,
                    self.started,
                );
                Upgrade::Done(Box::new(Connection { ws, info }))
            }
            Err(tungstenite::HandshakeError::Interrupted(mid)) => {
                self.handshake = Some(Handshake::Mid(Box::new(mid)));
                Upgrade::Waiting
            }
            Err(e) => Upgrade::Failed(upgrade_failed(&self.peer, e)),
        }
    }
}

/// With `--cert`/`--key`, the client's TLS handshake; otherwise the plain socket.
fn secure(socket: Socket, opts: &ListenOptions, peer: &str) -> Result<NetStream> {
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

pub fn upgrade_failed<R: HandshakeRole>(peer: &str, e: tungstenite::HandshakeError<R>) -> Error {
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
fn wait_readable(listener: &Listener, deadline: Instant) -> Result<()> {
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
