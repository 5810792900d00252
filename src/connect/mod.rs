//! Dialing a WebSocket server: DNS, TCP, TLS and the upgrade, all within the connect
//! deadline, done in blocking mode; the stream is then switched to non-blocking for
//! the session.

mod listen;
mod proxy;
mod stream;
mod tap;
mod tcp;
mod tls;
mod upgrade;

pub use listen::{accept as accept_client, bind as listen_on, url_of as listen_url, ListenOptions};
pub use proxy::{from_env as proxy_from_env, parse as parse_proxy, Proxy};
pub use stream::NetStream;
pub use tap::Tapped;
pub use tcp::plain_io_message;
pub use tls::acceptor as tls_acceptor;
pub use tls::TlsOptions;
pub use upgrade::UpgradeOptions;

use std::time::{Duration, Instant};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::WebSocket;

use crate::error::{Error, Result};
use crate::event::{HandshakeInfo, Timings};
use crate::target::Target;

/// Everything needed to open a connection, as plain data.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub upgrade: UpgradeOptions,
    pub tls: TlsOptions,
    pub connect_timeout: Duration,
    pub max_message_size: usize,
    /// `-vv`: print every frame's header as it crosses the wire.
    pub trace_frames: bool,
    /// Connect through this proxy (from `--proxy` or the environment).
    pub proxy: Option<Proxy>,
}

/// An open WebSocket, ready for the session (non-blocking).
pub struct Connection {
    pub ws: WebSocket<Tapped>,
    pub info: HandshakeInfo,
}

/// Settings checked before any network activity (files readable, headers valid), so
/// that usage errors are reported as such even when the server is unreachable.
pub struct Prepared {
    target: Target,
    request: tungstenite::handshake::client::Request,
    tls: Option<native_tls::TlsConnector>,
    opts: ConnectOptions,
}

pub fn prepare(target: Target, opts: ConnectOptions) -> Result<Prepared> {
    let request = upgrade::build_request(&target, &opts.upgrade)?;
    // Only build a TLS context when the URL needs one: initialising OpenSSL costs
    // milliseconds that a ws:// one-shot should not pay.
    let tls = if target.tls {
        Some(tls::connector(&opts.tls)?)
    } else {
        None
    };
    Ok(Prepared {
        target,
        request,
        tls,
        opts,
    })
}

impl Prepared {
    /// The request as it will be sent, for `-v` when the upgrade fails.
    pub fn request_view(&self) -> HandshakeInfo {
        HandshakeInfo {
            url: self.target.url.to_string(),
            request_headers: upgrade::wire_names(upgrade::header_pairs(self.request.headers())),
            ..HandshakeInfo::default()
        }
    }
}

/// Open a connection; called again for each reconnection.
pub fn connect(prepared: &Prepared) -> Result<Connection> {
    let Prepared {
        target, tls, opts, ..
    } = prepared;
    // A request is used up by the handshake; it was checked in `prepare`.
    let request = upgrade::build_request(target, &opts.upgrade)?;
    let started = Instant::now();
    let deadline = started + opts.connect_timeout;
    let (tcp, resolved) = match &opts.proxy {
        Some(proxy) => {
            let addrs = tcp::resolve(&proxy.host, proxy.port, deadline)?;
            let resolved = Instant::now();
            let label = format!("the proxy {}", proxy.display());
            let mut tcp = tcp::dial(&addrs, &label, deadline)?;
            set_deadline(&tcp, deadline)?;
            proxy::tunnel(&mut tcp, proxy, &target.host, target.port, deadline)?;
            (tcp, resolved)
        }
        None => {
            let addrs = tcp::resolve(&target.host, target.port, deadline)?;
            let resolved = Instant::now();
            (
                tcp::dial(&addrs, &target.host_header(), deadline)?,
                resolved,
            )
        }
    };
    let peer = tcp.peer_addr().ok();
    let dialed = Instant::now();
    set_deadline(&tcp, deadline)?;
    let stream = match &tls {
        Some(connector) => NetStream::Tls(Box::new(tls::handshake(connector, &target.host, tcp)?)),
        None => NetStream::Plain(tcp),
    };
    let secured = Instant::now();
    let certificate = match &stream {
        NetStream::Tls(s) => tls::describe_peer(s),
        NetStream::Plain(_) => None,
    };
    set_deadline(stream.tcp(), deadline)?;
    let stream = Tapped::new(stream, opts.trace_frames);
    let config = websocket_config(opts.max_message_size);
    let (ws, mut info) = upgrade::upgrade(stream, target, request, config)?;
    let upgraded = Instant::now();
    info.peer = peer.map(|a| a.to_string());
    info.proxy = opts.proxy.as_ref().map(Proxy::display);
    info.certificate = certificate;
    info.timings = Some(Timings {
        dns: resolved - started,
        tcp: dialed - resolved,
        tls: tls.is_some().then(|| secured - dialed),
        upgrade: upgraded - secured,
        total: upgraded - started,
    });
    into_session_mode(ws.get_ref().tcp())?;
    Ok(Connection { ws, info })
}

/// The WebSocket settings of both ends, dialing or accepting.
fn websocket_config(max_message_size: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(64 * 1024)
        // Messages are queued until this much is buffered or the session flushes:
        // the session flushes after each batch, so this only bounds a batch.
        .write_buffer_size(128 * 1024)
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size))
}

/// The handshake ran blocking with timeouts; the session polls a non-blocking socket.
fn into_session_mode(tcp: &std::net::TcpStream) -> Result<()> {
    tcp.set_read_timeout(None)
        .and_then(|_| tcp.set_write_timeout(None))
        .and_then(|_| tcp.set_nonblocking(true))
        .map_err(|e| Error::Runtime(format!("cannot configure the socket: {e}")))
}

fn set_deadline(tcp: &std::net::TcpStream, deadline: Instant) -> Result<()> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(Error::Connect(
            "timed out connecting (--connect-timeout)".to_string(),
        ));
    }
    tcp.set_read_timeout(Some(remaining))
        .and_then(|_| tcp.set_write_timeout(Some(remaining)))
        .map_err(|e| Error::Connect(format!("cannot configure the socket: {e}")))
}
