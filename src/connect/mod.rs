//! Dialing a WebSocket server: DNS, TCP, proxy, TLS and the upgrade, all within one
//! deadline (`--connect-timeout`, or `--timeout` when that comes first), done in
//! blocking mode; the stream is then switched to non-blocking for the session.

mod deadline;
pub mod deflate;
mod eyeballs;
mod keylog;
mod listen;
mod listener;
mod openssl_extras;
mod proxy;
mod redirect;
pub mod route;
mod socket;
mod stream;
mod tap;
mod tcp;
mod tls;
mod upgrade;

pub use deadline::Deadline;

pub use listen::{accept as accept_client, ListenOptions, Upgrade, Upgrading};
pub use listener::Listener;
pub use openssl_extras::library_version as tls_library_version;
pub use proxy::{from_env as proxy_from_env, parse as parse_proxy, Proxy};
pub use redirect::connect;

use socket::{Socket, Transport};
pub use stream::NetStream;
pub use tap::Tapped;
pub use tcp::plain_io_message;
pub use tls::acceptor as tls_acceptor;
pub use tls::TlsOptions;
pub use upgrade::UpgradeOptions;

use std::time::{Duration, Instant};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::WebSocket;

use crate::error::{Error, Result};
use crate::event::{HandshakeInfo, Timings};
use crate::target::Target;

/// The step a dial is in, reported as it begins (for the terminal's "connecting…"
/// line and the message of a Ctrl-C). Through a proxy, `Resolve` and `Connect`
/// are the proxy's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Resolve,
    Connect,
    /// The proxy opens the tunnel (HTTP CONNECT or SOCKS5).
    Tunnel,
    Tls,
    Upgrade,
}

/// Everything needed to open a connection, as plain data.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub upgrade: UpgradeOptions,
    pub tls: TlsOptions,
    /// TLS to an `https://` proxy (`--proxy-cacert`, `--proxy-insecure`).
    pub proxy_tls: TlsOptions,
    pub connect_timeout: Duration,
    pub max_message_size: usize,
    /// `-vv`: print every frame's header as it crosses the wire.
    pub trace_frames: bool,
    /// Connect through this proxy (from `--proxy` or the environment).
    pub proxy: Option<Proxy>,
    /// `--resolve`, `--connect-to`: where the TCP connection goes.
    pub routes: route::Routes,
    /// `-L`: follow at most this many redirects (`--max-redirs`); `None`: none.
    pub max_redirects: Option<u32>,
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
    tls: Option<tls::Connector>,
    /// For an `https://` proxy.
    proxy_tls: Option<tls::Connector>,
    opts: ConnectOptions,
}

pub fn prepare(target: Target, opts: ConnectOptions) -> Result<Prepared> {
    let request = upgrade::build_request(&target, &opts.upgrade)?;
    upgrade::remember_secrets(&target, &opts.upgrade, &request);
    // Only build a TLS context when the URL needs one: initialising OpenSSL costs
    // milliseconds that a ws:// one-shot should not pay.
    let tls = if target.tls {
        Some(tls::connector(&opts.tls)?)
    } else {
        None
    };
    let proxy_tls = match &opts.proxy {
        Some(proxy) if proxy.kind == proxy::ProxyKind::HttpsConnect => {
            Some(tls::connector(&opts.proxy_tls)?)
        }
        _ => None,
    };
    Ok(Prepared {
        target,
        request,
        tls,
        proxy_tls,
        opts,
    })
}

impl Prepared {
    /// The request as it will be sent, for `-v` when the upgrade fails.
    pub fn request_view(&self) -> HandshakeInfo {
        HandshakeInfo {
            url: crate::redact::url(self.target.url.as_str()),
            request_headers: upgrade::request_pairs(&self.request),
            ..HandshakeInfo::default()
        }
    }

    /// `host:port` as dialed (always with the port), or the Unix socket, and the proxy if any: what
    /// the terminal says it is connecting to.
    pub fn endpoint(&self) -> (String, Option<String>) {
        if let Some(path) = &self.target.unix {
            return (format!("unix socket {}", path.display()), None);
        }
        let host = match self.target.url.host() {
            Some(url::Host::Ipv6(addr)) => format!("[{addr}]"),
            _ => self.target.host.clone(),
        };
        (
            format!("{host}:{}", self.target.port),
            self.opts.proxy.as_ref().map(Proxy::display),
        )
    }
}

/// Open a connection to one URL (one hop of [`connect`]). Every step runs under
/// one deadline: `--connect-timeout` from now, or the run's `--timeout` (`run`:
/// when it passes, and its value) if that comes first. `stage` hears of each step
/// as it begins, `note` of each TCP attempt (`-v`).
fn dial(
    prepared: &Prepared,
    run: Option<(Instant, Duration)>,
    stage: &mut dyn FnMut(Stage),
    note: &mut dyn FnMut(String),
) -> Result<Connection> {
    let Prepared {
        target,
        tls,
        proxy_tls,
        opts,
        ..
    } = prepared;
    // A request is used up by the handshake; it was checked in `prepare`.
    let request = upgrade::build_request(target, &opts.upgrade)?;
    let started = Instant::now();
    let deadline = Deadline::for_attempt(started, opts.connect_timeout, run);
    let (tcp, resolved) = match (&target.unix, &opts.proxy) {
        (Some(path), _) => {
            stage(Stage::Connect);
            let unix = tcp::dial_unix(path, &deadline)?;
            (
                Socket::over(Transport::Unix(unix), Some(deadline.at())),
                Instant::now(),
            )
        }
        (None, Some(proxy)) => {
            stage(Stage::Resolve);
            // Through a proxy, --resolve can name the proxy's addresses and
            // --connect-to changes what the tunnel is asked for.
            let addrs = match opts.routes.addresses(&proxy.host, proxy.port) {
                Some(addrs) => addrs,
                None => tcp::resolve(&proxy.host, proxy.port, &deadline)?,
            };
            let addrs = opts
                .routes
                .keep_family(addrs, &proxy.host)
                .map_err(|m| Error::Connect(m.into()))?;
            let resolved = Instant::now();
            let label = format!("the proxy {}", proxy.display());
            stage(Stage::Connect);
            let tcp = tcp::dial(&addrs, &label, &deadline, note)?;
            let mut socket = Socket::new(tcp, Some(deadline.at()));
            stage(Stage::Tunnel);
            if let Some(connector) = proxy_tls {
                // https://: TLS to the proxy (its name as SNI and for the
                // certificate), then CONNECT inside it.
                let peer = tls::Peer {
                    name: &label,
                    proxy: true,
                };
                let secured = tls::handshake(connector, &proxy.host, socket, &deadline, peer)?;
                socket = Socket::over(Transport::ProxyTls(Box::new(secured)), Some(deadline.at()));
            }
            let (host, port) = opts.routes.destination(&target.host, target.port);
            proxy::tunnel(&mut socket, proxy, &host, port, &deadline)?;
            (socket, resolved)
        }
        (None, None) => {
            stage(Stage::Resolve);
            let (host, port) = opts.routes.destination(&target.host, target.port);
            let addrs = match opts.routes.addresses(&host, port) {
                Some(addrs) => addrs,
                None => tcp::resolve(&host, port, &deadline)?,
            };
            let addrs = opts
                .routes
                .keep_family(addrs, &host)
                .map_err(|m| Error::Connect(m.into()))?;
            let resolved = Instant::now();
            stage(Stage::Connect);
            let label = if (host.as_str(), port) == (target.host.as_str(), target.port) {
                target.host_header()
            } else {
                format!("{} (--connect-to {host}:{port})", target.host_header())
            };
            let tcp = tcp::dial(&addrs, &label, &deadline, note)?;
            (Socket::new(tcp, Some(deadline.at())), resolved)
        }
    };
    let peer = tcp.transport().peer();
    let dialed = Instant::now();
    let mut stream = match &tls {
        Some(connector) => {
            stage(Stage::Tls);
            let name = target.host_header();
            let peer = tls::Peer {
                name: &name,
                proxy: false,
            };
            NetStream::Tls(Box::new(tls::handshake(
                connector,
                &target.host,
                tcp,
                &deadline,
                peer,
            )?))
        }
        None => NetStream::Plain(tcp),
    };
    let secured = Instant::now();
    let (certificate, negotiated) = match &stream {
        NetStream::Tls(s) => (tls::describe_peer(s.ssl()), stream.tls_info()),
        NetStream::Plain(_) => (None, None),
    };
    stage(Stage::Upgrade);
    let (first_frames, mut info) = upgrade::upgrade(
        &mut stream,
        target,
        &request,
        opts.upgrade.deflate.as_ref(),
        &deadline,
    )?;
    let upgraded = Instant::now();
    stream.set_deadline(None);
    into_session_mode(stream.transport())?;
    let (stream, first_frames) = match &info.deflate {
        // The codec rewrites what came with the response too.
        Some(agreed) => {
            let mut tapped = Tapped::after_upgrade(stream, opts.trace_frames, &[]);
            let codec = deflate::Deflate::new(agreed, deflate::Side::Client, opts.max_message_size);
            tapped.start_deflate(codec, first_frames);
            (tapped, Vec::new())
        }
        None => (
            Tapped::after_upgrade(stream, opts.trace_frames, &first_frames),
            first_frames,
        ),
    };
    let ws = WebSocket::from_partially_read(
        stream,
        first_frames,
        Role::Client,
        Some(websocket_config(opts.max_message_size)),
    );
    info.peer = peer;
    info.proxy = opts.proxy.as_ref().map(Proxy::display);
    info.certificate = certificate;
    info.tls = negotiated;
    info.timings = Some(Timings {
        dns: resolved - started,
        tcp: dialed - resolved,
        tls: tls.is_some().then(|| secured - dialed),
        upgrade: upgraded - secured,
        total: upgraded - started,
    });
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

/// A tungstenite error in the words of the rest of wsprobe's messages.
pub fn describe_error(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Io(io) => plain_io_message(io),
        other => other.to_string(),
    }
}

/// The handshake ran blocking with timeouts; the session polls a non-blocking socket.
fn into_session_mode(tcp: &Transport) -> Result<()> {
    tcp.set_read_timeout(None)
        .and_then(|_| tcp.set_write_timeout(None))
        .and_then(|_| tcp.set_nonblocking(true))
        .map_err(|e| Error::Runtime(format!("cannot configure the socket: {e}").into()))
}
