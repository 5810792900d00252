//! Proxies: HTTP CONNECT (with Basic credentials) and SOCKS5 (`socks5://`
//! resolves locally, `socks5h://` sends the host name; RFC 1928 and 1929),
//! chosen with `--proxy` or from the environment (`ws_proxy`, `http_proxy`,
//! `https_proxy`, `all_proxy`, `no_proxy`, `--no-proxy`); exit 3 for proxy
//! failures and 2 for bad proxy URLs; `--connect-timeout` covering the proxy;
//! and the proxy password kept out of every output.
//!
//! What every kind of proxy must do alike is tested once, over a table of
//! proxy kinds ([`Kind`]); the proxies themselves are in support/proxy.rs.

use std::time::Duration;

use base64::Engine;

use crate::support::*;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const USER: &str = "alice";
const PW: &str = "S3CRET-PROXYPW";

fn run(args: &[&str]) -> Run {
    wsprobe(args, "")
}

fn run_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    wsprobe_env(args, "", env)
}

/// Starts a [`Target`] (one kind per table row).
type MakeTarget = fn() -> Target;

/// A username and password, if any.
type Credentials<'a> = Option<(&'a str, &'a str)>;

/// The server a run reaches through the proxy, and the `-x hi` run's
/// arguments for it.
struct Target {
    srv: Server,
    url: String,
    /// The host as the URL names it.
    host: &'static str,
    tls: bool,
}

impl Target {
    /// `ws://127.0.0.1:PORT/`, an echo server.
    fn ws() -> Target {
        Self::ws_named("127.0.0.1")
    }

    /// `ws://HOST:PORT/` for an echo server on 127.0.0.1 (the test proxies
    /// dial 127.0.0.1 whatever the host).
    fn ws_named(host: &'static str) -> Target {
        let srv = Server::start(echo);
        let url = srv.url_host(host);
        Target {
            srv,
            url,
            host,
            tls: false,
        }
    }

    /// `wss://localhost:PORT/`, a TLS echo server trusted with `--cacert`.
    fn wss() -> Target {
        let srv = tls_echo_server(&pki().localhost);
        let url = srv.url_host("localhost");
        Target {
            srv,
            url,
            host: "localhost",
            tls: true,
        }
    }

    /// `HOST:PORT`, as a proxy is asked for it.
    fn authority(&self) -> String {
        format!("{}:{}", self.host, self.srv.port())
    }

    /// `URL [--cacert CA] EXTRA... -x hi`
    fn args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![self.url.as_str()];
        if self.tls {
            args.extend(["--cacert", ca()]);
        }
        args.extend_from_slice(extra);
        args.extend(["-x", "hi"]);
        args
    }

    /// `--proxy PROXY URL [--cacert CA] -x hi`
    fn via<'a>(&'a self, proxy: &'a str) -> Vec<&'a str> {
        self.args(&["--proxy", proxy])
    }

    /// The server side of a `-x hi` run: see [`assert_hi_served`].
    #[track_caller]
    fn served(&self) -> Observed {
        assert_hi_served(&self.srv, self.host)
    }

    /// The server saw no connection at all.
    #[track_caller]
    fn untouched(&self) {
        assert!(self.srv.try_next(Duration::ZERO).is_none());
    }
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
    assert_eq!(obs.header("authorization"), None, "{obs:?}");
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

/// The `* via proxy ...` lines of `-v` output.
fn via_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("* via proxy"))
        .collect()
}

// ---------------------------------------------------------------------------
// Every kind of proxy
// ---------------------------------------------------------------------------

/// The kinds of proxy, by URL scheme.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Http,
    Socks5,
    Socks5h,
}

use Kind::*;

impl Kind {
    fn scheme(self) -> &'static str {
        match self {
            Http => "http",
            Socks5 => "socks5",
            Socks5h => "socks5h",
        }
    }
}

/// A running test proxy of any kind.
enum AnyProxy {
    Http(Proxy<RawRequest>),
    Socks(Proxy<SocksSeen>),
}

/// What a proxy of any kind was asked in one session.
#[derive(Debug)]
struct Asked {
    /// The requested host (a name, or an IP address as text) and port.
    host: String,
    port: u16,
    /// The credentials the client sent (HTTP Basic, decoded; RFC 1929).
    credentials: Option<(String, String)>,
    /// Whether the client asked to be connected (for SOCKS5: only after a
    /// successful login).
    connect: bool,
    http: Option<RawRequest>,
    socks: Option<SocksSeen>,
}

impl AnyProxy {
    /// A proxy that tunnels, requiring `auth` if given.
    fn start(kind: Kind, auth: Credentials) -> AnyProxy {
        match (kind, auth) {
            (Http, None) => AnyProxy::Http(http_proxy(HttpMode::Tunnel)),
            (Http, Some((u, p))) => AnyProxy::Http(http_proxy_with_auth(u, p)),
            (_, None) => AnyProxy::Socks(socks_proxy(SocksOpts::default())),
            (_, Some((u, p))) => AnyProxy::Socks(socks_proxy_with_auth(u, p)),
        }
    }

    fn accepted(&self) -> usize {
        match self {
            AnyProxy::Http(p) => p.accepted(),
            AnyProxy::Socks(p) => p.accepted(),
        }
    }

    fn port(&self) -> u16 {
        match self {
            AnyProxy::Http(p) => p.port(),
            AnyProxy::Socks(p) => p.port(),
        }
    }

    /// `SCHEME://127.0.0.1:PORT`, with `USER:PASS@` if `auth`.
    fn url(&self, kind: Kind, auth: Credentials) -> String {
        let scheme = kind.scheme();
        match auth {
            None => format!("{scheme}://127.0.0.1:{}", self.port()),
            Some((u, p)) => format!("{scheme}://{u}:{p}@127.0.0.1:{}", self.port()),
        }
    }

    #[track_caller]
    fn next(&self) -> Asked {
        match self {
            AnyProxy::Http(p) => {
                let req = p.next();
                let target = req.request_line.split(' ').nth(1).unwrap_or_default();
                let (host, port) = target.rsplit_once(':').unwrap_or_default();
                let credentials = req
                    .header("proxy-authorization")
                    .and_then(|v| v.strip_prefix("Basic "))
                    .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
                    .and_then(|v| {
                        v.split_once(':')
                            .map(|(u, p)| (u.to_string(), p.to_string()))
                    });
                Asked {
                    host: host.to_string(),
                    port: port.parse().unwrap_or(0),
                    credentials,
                    connect: req.request_line.starts_with("CONNECT "),
                    http: Some(req),
                    socks: None,
                }
            }
            AnyProxy::Socks(p) => {
                let seen = p.next();
                Asked {
                    host: seen.host.clone(),
                    port: seen.port,
                    credentials: seen.credentials.clone(),
                    connect: seen.cmd == Some(1),
                    http: None,
                    socks: Some(seen),
                }
            }
        }
    }
}

/// A `-x hi` run through `proxy` to `target` that works: exit 0, the echo
/// on stdout, and the server side as it should be.
#[track_caller]
fn hi_via(target: &Target, proxy: &str) -> Run {
    let r = run(&target.via(proxy));
    r.code(0).stdout("hi\n");
    target.served();
    r
}

// Each table below runs one body for every kind of proxy: a row is a test.

/// Named tests, one per row: `NAME: BODY;`.
macro_rules! rows {
    ($($(#[$doc:meta])* $name:ident: $body:expr;)*) => {
        $($(#[$doc])* #[test] fn $name() { $body; })*
    };
}

/// A run through a tunnelling proxy of `kind` (requiring credentials if
/// `with_auth`, and given them) to `target`: through HTTP and socks5h the
/// proxy is asked for the host as typed (for wss://, TLS and its
/// certificate check for `localhost` run inside the tunnel); socks5
/// resolves a name itself and asks for the address; an IP address is sent
/// as one.
#[track_caller]
fn tunnels(kind: Kind, with_auth: bool, target: MakeTarget) {
    let target = target();
    let auth = with_auth.then_some((USER, PW));
    let proxy = AnyProxy::start(kind, auth);
    let url = proxy.url(kind, auth);
    let case = format!("{kind:?} proxy {url} to {}", target.url);
    let r = run(&target.via(&url));
    assert_eq!(r.code, Some(0), "{case}\n{r}");
    r.stdout("hi\n").stderr_empty();
    let asked = proxy.next();
    let typed_ip = target.host.parse::<std::net::IpAddr>().is_ok();
    if kind == Socks5 && !typed_ip {
        let ip: std::net::IpAddr = asked.host.parse().expect("an IP address");
        assert!(ip.is_loopback(), "{case}: {asked:?}");
    } else {
        assert_eq!(asked.host, target.host, "{case}: {asked:?}");
    }
    assert_eq!(asked.port, target.srv.port(), "{case}: {asked:?}");
    let sent = auth.map(|(u, p)| (u.to_string(), p.to_string()));
    assert_eq!(asked.credentials, sent, "{case}: {asked:?}");
    assert!(asked.connect, "{case}: {asked:?}");
    if let Some(req) = &asked.http {
        assert_connect(req, &target.authority());
    }
    if let Some(seen) = &asked.socks {
        let method = if with_auth { 0x02 } else { 0x00 };
        assert!(seen.methods.contains(&method), "{case}: {seen:?}");
        assert!(
            with_auth || !seen.methods.contains(&0x02),
            "{case}: {seen:?}"
        );
        assert_eq!(seen.method, Some(method), "{case}: {seen:?}");
        // 1 IPv4, 3 a name, 4 IPv6.
        let atyps: &[u8] = match (typed_ip, kind) {
            (true, _) => &[1],
            (false, Socks5h) => &[3],
            (false, _) => &[1, 4],
        };
        assert!(
            seen.atyp.is_some_and(|a| atyps.contains(&a)),
            "{case}: {seen:?}"
        );
    }
    // The proxy's credentials are for the proxy only.
    target.served();
    assert_eq!(proxy.accepted(), 1, "{case}");
}

rows! {
    http_connect_tunnels_ws: tunnels(Http, false, Target::ws);
    http_connect_tunnels_wss: tunnels(Http, false, Target::wss);
    proxy_credentials_are_sent_as_proxy_authorization: tunnels(Http, true, Target::ws);
    socks5_without_credentials: tunnels(Socks5, false, Target::ws);
    socks5_with_username_and_password: tunnels(Socks5, true, Target::ws);
    socks5_resolves_the_host_name_itself: tunnels(Socks5, false, || Target::ws_named("localhost"));
    socks5h_sends_the_host_name_to_the_proxy:
        tunnels(Socks5h, false, || Target::ws_named("localhost"));
    // A name only the proxy can resolve: passed on as is.
    socks5h_name_is_not_resolved_locally:
        tunnels(Socks5h, false, || Target::ws_named("svc.internal.invalid"));
    socks5h_tunnels_wss: tunnels(Socks5h, true, Target::wss);
}

/// A proxy of `kind` requiring the password `required`, given `sent`: exit
/// 3 with stderr naming the failure (`named`), no password on stderr, and
/// nothing reaches the target.
#[track_caller]
fn login_fails(kind: Kind, required: &str, sent: Credentials, named: &str) {
    let target = Target::ws();
    let proxy = AnyProxy::start(kind, Some((USER, required)));
    let url = proxy.url(kind, sent);
    let case = format!("{kind:?} proxy requiring a password, sent {sent:?}");
    let r = run(&target.via(&url));
    assert_eq!(r.code, Some(3), "{case}\n{r}");
    r.stdout("").stderr_contains(named).no_panic();
    assert_no_secret("stderr", &r.stderr, &secret_forms());
    let asked = proxy.next();
    let sent = sent.map(|(u, p)| (u.to_string(), p.to_string()));
    assert_eq!(asked.credentials, sent, "{case}: {asked:?}");
    if let Some(req) = &asked.http {
        assert_connect(req, &target.authority());
    }
    if let Some(seen) = &asked.socks {
        let method = if sent.is_some() { 0x02 } else { 0xFF };
        assert_eq!(seen.method, Some(method), "{case}: {seen:?}");
        assert!(!asked.connect, "no CONNECT after a failed login: {seen:?}");
    }
    target.untouched();
}

const AUTH_REQUIRED: &str = "407 Proxy Authentication Required";

rows! {
    missing_proxy_credentials_get_407_and_exit_3: login_fails(Http, PW, None, AUTH_REQUIRED);
    wrong_proxy_credentials_get_407_and_exit_3:
        login_fails(Http, "the-right-one", Some((USER, PW)), AUTH_REQUIRED);
    socks5_proxy_requiring_credentials_none_given_exits_3: login_fails(Socks5, PW, None, "socks");
    socks5_wrong_password_exits_3: login_fails(Socks5, "the-right-one", Some((USER, PW)), "socks");
}

/// How a test proxy refuses every request.
#[derive(Clone, Copy, Debug)]
enum Refusal {
    /// An HTTP proxy answering with this status.
    Http(&'static str),
    /// A SOCKS5 proxy answering with this reply code, with words that
    /// name it.
    Socks(u8, &'static [&'static str]),
}

/// For each of `refusals`: exit 3, stderr naming the answer, the proxy
/// asked for the target once, and nothing reaches the target.
#[track_caller]
fn refused(refusals: &[Refusal]) {
    for &refusal in refusals {
        let target = Target::ws();
        let (proxy, kind) = match refusal {
            Refusal::Http(status) => (AnyProxy::Http(http_proxy_replying(status)), Http),
            Refusal::Socks(code, _) => {
                let opts = SocksOpts {
                    reply: code,
                    ..Default::default()
                };
                (AnyProxy::Socks(socks_proxy(opts)), Socks5)
            }
        };
        let r = run(&target.via(&proxy.url(kind, None)));
        assert_eq!(r.code, Some(3), "{refusal:?}\n{r}");
        r.stdout("").no_panic();
        match refusal {
            Refusal::Http(status) => {
                r.stderr_contains(status);
            }
            Refusal::Socks(code, names) => {
                let mut named: Vec<String> = names.iter().map(|s| s.to_string()).collect();
                named.extend([
                    format!("reply {code}"),
                    format!("code {code}"),
                    format!("error {code}"),
                    format!("({code})"),
                    format!("0x{code:02x}"),
                ]);
                let named: Vec<&str> = named.iter().map(|s| s.as_str()).collect();
                r.stderr_contains("socks").stderr_contains_any(&named);
            }
        }
        let asked = proxy.next();
        assert!(asked.connect, "{refusal:?}: {asked:?}");
        assert_eq!(asked.port, target.srv.port(), "{refusal:?}: {asked:?}");
        if let Some(req) = &asked.http {
            assert_connect(req, &target.authority());
        }
        assert_eq!(proxy.accepted(), 1, "{refusal:?}");
        target.untouched();
    }
}

#[test]
fn non_200_connect_answers_exit_3_with_the_status_line() {
    refused(&[
        Refusal::Http("403 Forbidden"),
        Refusal::Http("502 Bad Gateway"),
        Refusal::Http("503 Service Unavailable"),
    ]);
}

#[test]
fn socks5_refusals_exit_3_naming_the_reply() {
    refused(&[
        Refusal::Socks(0x01, &["general"]),
        Refusal::Socks(0x02, &["not allowed", "ruleset"]),
        Refusal::Socks(0x04, &["host unreachable"]),
        Refusal::Socks(0x05, &["refused"]),
    ]);
}

/// A proxy of `kind` that cannot reach the target: exit 3, stderr with
/// `named` (the test proxies answer 502 for HTTP, 5 "connection refused"
/// for SOCKS5).
#[track_caller]
fn target_unreachable_behind(kind: Kind, named: &str) {
    let proxy = AnyProxy::start(kind, None);
    let port = closed_port();
    let url = format!("ws://127.0.0.1:{port}/");
    let r = run(&["--proxy", &proxy.url(kind, None), &url, "-x", "hi"]);
    r.code(3).stdout("").stderr_contains(named);
    let asked = proxy.next();
    assert_eq!(asked.port, port, "{asked:?}");
    if let Some(req) = &asked.http {
        assert_connect(req, &format!("127.0.0.1:{port}"));
    }
}

rows! {
    target_unreachable_behind_http_proxy_exits_3: target_unreachable_behind(Http, "502");
    target_unreachable_behind_socks5_exits_3: target_unreachable_behind(Socks5h, "refused");
}

/// A proxy URL for each of `kinds` on a port nothing listens on: exit 3,
/// and no direct connection instead.
#[track_caller]
fn proxy_unreachable(kinds: &[Kind]) {
    let target = Target::ws();
    for kind in kinds {
        let proxy = format!("{}://127.0.0.1:{}", kind.scheme(), closed_port());
        let r = run(&target.via(&proxy));
        assert_eq!(r.code, Some(3), "{kind:?}\n{r}");
        r.stdout("").no_panic();
        assert!(r.stderr_str().starts_with("wsprobe: "), "{r}");
    }
    target.untouched();
}

rows! {
    http_proxy_unreachable_exits_3: proxy_unreachable(&[Http]);
    socks5_proxy_unreachable_exits_3: proxy_unreachable(&[Socks5, Socks5h]);
}

/// A proxy of `kind` that accepts the connection and never answers:
/// `--connect-timeout 500ms` ends the run (exit 3) at that time.
#[track_caller]
fn stalled_proxy(kind: Kind) {
    let stalled = RawServer::silent();
    let proxy = format!("{}://127.0.0.1:{}", kind.scheme(), stalled.port());
    let r = run(&[
        "--proxy",
        &proxy,
        &closed_url(),
        "--connect-timeout",
        "500ms",
        "-x",
        "hi",
    ]);
    r.code(3)
        .stdout("")
        .no_panic()
        .took_between(Duration::from_millis(450), Duration::from_secs(5));
}

rows! {
    stalled_http_proxy_honours_connect_timeout: stalled_proxy(Http);
    stalled_socks5_proxy_honours_connect_timeout: stalled_proxy(Socks5h);
}

// ---------------------------------------------------------------------------
// HTTP CONNECT
// ---------------------------------------------------------------------------

#[test]
fn http_connect_tunnels_pipe_mode() {
    let srv = Server::start(echo);
    let proxy = http_proxy(HttpMode::Tunnel);
    let input: String = (0..500).map(|i| format!("proxied line {i}\n")).collect();
    wsprobe(
        &["--proxy", &proxy.url_as("http"), &srv.url()],
        input.clone(),
    )
    .code(0)
    .stdout(&input);
    assert_connect(&proxy.next(), &format!("127.0.0.1:{}", srv.port()));
    let obs = srv.next();
    assert_eq!(obs.count, 500, "{obs:?}");
    assert_eq!(obs.close_code(), 1000);
}

#[test]
fn wss_through_proxy_still_verifies_the_certificate() {
    let target = Target::wss();
    let proxy = http_proxy(HttpMode::Tunnel);
    // No --cacert: the test CA is not trusted, through a proxy or not.
    let r = run(&["--proxy", &proxy.url_as("http"), &target.url, "-x", "hi"]);
    r.code(4).stdout("").stderr_contains("certificate");
    assert_connect(&proxy.next(), &target.authority());
    assert!(target.srv.next().handshake_error.is_some());
}

#[test]
fn http_1_0_200_answer_is_accepted() {
    let target = Target::ws();
    let proxy = http_proxy(HttpMode::TunnelWithStatus("HTTP/1.0 200 OK"));
    hi_via(&target, &proxy.url_as("http"));
    assert_connect(&proxy.next(), &target.authority());
}

#[test]
fn connect_answer_arriving_byte_by_byte() {
    let target = Target::wss();
    let proxy = http_proxy(HttpMode::TunnelTrickle);
    hi_via(&target, &proxy.url_as("http"));
    assert_connect(&proxy.next(), &target.authority());
}

#[test]
fn proxy_url_without_scheme_means_http() {
    let target = Target::ws();
    let proxy = http_proxy(HttpMode::Tunnel);
    hi_via(&target, &format!("127.0.0.1:{}", proxy.port()));
    assert_connect(&proxy.next(), &target.authority());
}

#[test]
fn percent_encoded_proxy_credentials_are_decoded() {
    let target = Target::ws();
    let proxy = http_proxy_with_auth("al ice", "p@ss:w/rd");
    let url = format!("http://al%20ice:p%40ss%3Aw%2Frd@127.0.0.1:{}", proxy.port());
    hi_via(&target, &url);
    let req = proxy.next();
    let expected = format!("Basic {}", b64(b"al ice:p@ss:w/rd"));
    assert_eq!(
        req.header("proxy-authorization"),
        Some(&*expected),
        "{req:?}"
    );
}

#[test]
fn connect_timeout_covers_proxy_and_upgrade_together() {
    // The proxy answers at once, but the target never answers the upgrade.
    let target = RawServer::silent();
    let proxy = http_proxy(HttpMode::Tunnel);
    let r = run(&[
        "--proxy",
        &proxy.url_as("http"),
        &target.url(),
        "--connect-timeout",
        "500ms",
        "-x",
        "hi",
    ]);
    r.code(3)
        .stdout("")
        .no_panic()
        .took_between(Duration::from_millis(450), Duration::from_secs(5));
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
// HTTPS proxies: TLS to the proxy, CONNECT inside it
// ---------------------------------------------------------------------------

/// `https://127.0.0.1:PORT` of an [`HttpsProxy`].
fn https_url(proxy: &HttpsProxy) -> String {
    format!("https://127.0.0.1:{}", proxy.port())
}

/// A tunnelling HTTPS proxy presenting the test PKI's localhost certificate.
fn https_tunnel() -> HttpsProxy {
    https_proxy(HttpMode::Tunnel, &pki().localhost)
}

#[test]
fn https_proxy_tunnels_ws_and_wss() {
    for make in [Target::ws as MakeTarget, Target::wss] {
        let target = make();
        let proxy = https_tunnel();
        let url = https_url(&proxy);
        let r = run(&target.args(&["--proxy", &url, "--proxy-cacert", ca(), "-v"]));
        assert_eq!(r.code, Some(0), "{} via {url}\n{r}", target.url);
        r.stdout("hi\n");
        assert_eq!(via_lines(&r.stderr_str()), [format!("* via proxy {url}")]);
        assert_connect(&proxy.next(), &target.authority());
        target.served();
    }
}

#[test]
fn https_proxy_carries_pipe_mode_tls_inside_tls() {
    let target = Target::wss();
    let proxy = https_tunnel();
    let url = https_url(&proxy);
    let input: String = (0..2000)
        .map(|i| format!("tls in tls line {i}\n"))
        .collect();
    let args = [
        "--proxy",
        &url,
        "--proxy-cacert",
        ca(),
        "--cacert",
        ca(),
        &target.url,
    ];
    wsprobe(&args, input.clone()).code(0).stdout(&input);
    assert_connect(&proxy.next(), &target.authority());
    let obs = target.srv.next();
    assert_eq!(obs.count, 2000, "{obs:?}");
    assert_eq!(obs.close_code(), 1000);
}

#[test]
fn an_untrusted_proxy_certificate_exits_4_naming_the_proxy() {
    // --cacert trusts the server's CA, not the proxy's: --proxy-cacert does.
    let target = Target::wss();
    let proxy = https_tunnel();
    let url = https_url(&proxy);
    let r = run(&target.via(&url));
    r.code(4)
        .stdout("")
        .one_error_line()
        .stderr_has(&format!("the certificate of the proxy {url} was rejected"))
        .stderr_has("--proxy-cacert");
    assert_eq!(proxy.accepted(), 1, "the proxy's TLS front was reached");
    assert!(proxy.try_next(Duration::from_millis(200)).is_none());
    target.untouched();
}

#[test]
fn a_misnamed_proxy_certificate_is_rejected_unless_proxy_insecure() {
    let target = Target::ws();
    let proxy = https_proxy(HttpMode::Tunnel, &pki().other_host);
    let url = https_url(&proxy);
    run(&target.args(&["--proxy", &url, "--proxy-cacert", ca()]))
        .code(4)
        .stdout("")
        .stderr_has(&format!("the proxy {url}"))
        .stderr_has("mismatch");
    target.untouched();
    // -k is about the server: it does not excuse the proxy.
    run(&target.args(&["--proxy", &url, "-k"])).code(4);
    hi_via_with(&target, &["--proxy", &url, "--proxy-insecure"]);
    assert_connect(&proxy.next(), &target.authority());
}

/// A `-x hi` run to `target` with `extra` flags that works.
#[track_caller]
fn hi_via_with(target: &Target, extra: &[&str]) {
    let r = run(&target.args(extra));
    assert_eq!(r.code, Some(0), "{r}");
    r.stdout("hi\n");
    target.served();
}

#[test]
fn https_proxy_from_the_environment() {
    let target = Target::wss();
    let proxy = https_tunnel();
    let url = https_url(&proxy);
    let r = run_env(
        &target.args(&["--proxy-cacert", ca(), "-v"]),
        &[("https_proxy", &url)],
    );
    assert_eq!(r.code, Some(0), "{r}");
    r.stdout("hi\n");
    assert_eq!(via_lines(&r.stderr_str()), [format!("* via proxy {url}")]);
    assert_connect(&proxy.next(), &target.authority());
    target.served();
}

#[test]
fn https_proxy_credentials_travel_inside_tls_and_stay_redacted() {
    let target = Target::ws();
    let expected = format!("Basic {}", b64(format!("{USER}:{PW}").as_bytes()));
    let proxy = https_proxy(HttpMode::TunnelWithAuth(expected), &pki().localhost);
    let url = format!("https://{USER}:{PW}@127.0.0.1:{}", proxy.port());
    let r = run(&target.args(&["--proxy", &url, "--proxy-cacert", ca(), "-v"]));
    assert_eq!(r.code, Some(0), "{r}");
    for secret in secret_forms() {
        assert!(!r.stderr_str().contains(&secret), "{secret} leaked\n{r}");
    }
    let asked = proxy.next();
    assert_connect(&asked, &target.authority());
    assert!(asked.header("proxy-authorization").is_some(), "{asked:?}");
    target.served();
}

#[test]
fn an_https_proxy_url_for_a_plain_proxy_is_a_tls_error() {
    let target = Target::ws();
    // A plain HTTP server answers the TLS hello with an HTTP error.
    let proxy = RawServer::start(|mut tcp| {
        let _ = std::io::Write::write_all(&mut tcp, b"HTTP/1.1 400 Bad Request\r\n\r\n");
        hold_silently(&mut tcp);
        RawRequest::default()
    });
    let url = format!("https://127.0.0.1:{}", proxy.port());
    run(&target.args(&["--proxy", &url, "--proxy-cacert", ca()]))
        .code(4)
        .stdout("")
        .one_error_line()
        .stderr_has(&format!("TLS handshake with the proxy {url} failed"))
        .stderr_has("http://");
    target.untouched();
}

#[test]
fn connect_timeout_covers_the_tls_handshake_with_the_proxy() {
    let target = Target::ws();
    let proxy = RawServer::silent();
    let url = format!("https://127.0.0.1:{}", proxy.port());
    let args = target.args(&["--proxy", &url, "--connect-timeout", "500ms"]);
    run(&args)
        .code(3)
        .stdout("")
        .stderr_has(&format!("in the TLS handshake with the proxy {url}"))
        .took_between(Duration::from_millis(450), Duration::from_secs(5));
    target.untouched();
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

/// A run to `target` with `used` set to a proxy and `other` (a variable for
/// the other scheme) to a decoy: only the proxy is used.
#[track_caller]
fn scheme_chooses(target: MakeTarget, used: &str, other: &str) {
    let target = target();
    let proxy = http_proxy(HttpMode::Tunnel);
    let wrong = decoy();
    let (p, w) = (proxy.url_as("http"), wrong.url_as("http"));
    let env = [(used, p.as_str()), (other, w.as_str())];
    let r = run_env(&target.args(&[]), &env);
    assert_eq!(r.code, Some(0), "env {env:?}\n{r}");
    r.stdout("hi\n").stderr_empty();
    assert_connect(&proxy.next(), &target.authority());
    target.served();
    assert_eq!(
        wrong.accepted(),
        0,
        "{other} must not be used for {}",
        target.url
    );
}

rows! {
    http_proxy_is_used_for_ws: scheme_chooses(Target::ws, "http_proxy", "https_proxy");
    https_proxy_is_used_for_wss: scheme_chooses(Target::wss, "https_proxy", "http_proxy");
}

/// Runs to `target`, with each of `vars` set to a decoy in turn: none is
/// used.
#[track_caller]
fn not_used_for(target: MakeTarget, vars: [&str; 4]) {
    let target = target();
    let wrong = decoy();
    let w = wrong.url_as("http");
    for var in vars {
        hi_bypassing(&target, &[], &[(var, &w)], &wrong);
    }
}

#[test]
fn https_proxy_is_not_used_for_ws() {
    not_used_for(
        Target::ws,
        ["https_proxy", "HTTPS_PROXY", "wss_proxy", "WSS_PROXY"],
    );
}

#[test]
fn http_proxy_is_not_used_for_wss() {
    not_used_for(
        Target::wss,
        ["http_proxy", "HTTP_PROXY", "ws_proxy", "WS_PROXY"],
    );
}

#[test]
fn ws_proxy_wins_over_http_proxy() {
    let target = Target::ws();
    let proxy = http_proxy(HttpMode::Tunnel);
    let wrong = decoy();
    let (p, w) = (proxy.url_as("http"), wrong.url_as("http"));
    let env = [("http_proxy", w.as_str()), ("ws_proxy", p.as_str())];
    run_env(&target.args(&[]), &env).code(0).stdout("hi\n");
    assert_connect(&proxy.next(), &target.authority());
    target.served();
    assert_eq!(wrong.accepted(), 0);
}

/// For each position in `order`: set that variable and every later one,
/// each to a different proxy; only the first set one may be used.
#[track_caller]
fn check_precedence(target: MakeTarget, order: [&str; 6]) {
    let target = target();
    for first in 0..order.len() {
        let chosen = http_proxy(HttpMode::Tunnel);
        let decoys: Vec<_> = (first + 1..order.len()).map(|_| decoy()).collect();
        let urls: Vec<String> = std::iter::once(chosen.url_as("http"))
            .chain(decoys.iter().map(|d| d.url_as("http")))
            .collect();
        let env: Vec<(&str, &str)> = order[first..]
            .iter()
            .copied()
            .zip(urls.iter().map(|u| u.as_str()))
            .collect();
        let r = run_env(&target.args(&[]), &env);
        assert_eq!(r.code, Some(0), "env {env:?}\n{r}");
        r.stdout("hi\n");
        assert_connect(&chosen.next(), &target.authority());
        target.served();
        for (d, (var, _)) in decoys.iter().zip(&env[1..]) {
            assert_eq!(d.accepted(), 0, "{var} used although {} is set", env[0].0);
        }
    }
}

rows! {
    environment_precedence_for_ws: check_precedence(Target::ws, WS_ORDER);
    environment_precedence_for_wss: check_precedence(Target::wss, WSS_ORDER);
}

#[test]
fn all_proxy_may_be_socks5h() {
    let target = Target::ws_named("localhost");
    let proxy = socks_proxy(SocksOpts::default());
    let p = proxy.url_as("socks5h");
    run_env(&target.args(&[]), &[("ALL_PROXY", &p)])
        .code(0)
        .stdout("hi\n");
    let seen = proxy.next();
    assert_eq!(
        (seen.atyp, seen.host.as_str()),
        (Some(3), "localhost"),
        "{seen:?}"
    );
    target.served();
}

#[test]
fn environment_proxy_without_scheme_means_http() {
    let target = Target::ws();
    let proxy = http_proxy_with_auth(USER, PW);
    let bare = format!("{USER}:{PW}@127.0.0.1:{}", proxy.port());
    run_env(&target.args(&[]), &[("http_proxy", &bare)])
        .code(0)
        .stdout("hi\n");
    let req = proxy.next();
    assert_connect(&req, &target.authority());
    assert!(req.header("proxy-authorization").is_some(), "{req:?}");
    target.served();
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

/// A `-x hi` run to `target` (with `extra` arguments and `env`) that goes
/// through `proxy`: exit 0, the proxy asked for the target, the target
/// served.
#[track_caller]
fn hi_through(target: &Target, extra: &[&str], env: &[(&str, &str)], proxy: &Proxy<RawRequest>) {
    let r = run_env(&target.args(extra), env);
    assert_eq!(r.code, Some(0), "env {env:?}: expected the proxy\n{r}");
    r.stdout("hi\n");
    let req = proxy
        .try_next(Duration::ZERO)
        .unwrap_or_else(|| panic!("env {env:?}: the proxy was not used"));
    assert_connect(&req, &target.authority());
    target.served();
}

/// A `-x hi` run to `target` (with `extra` arguments and `env`) that goes
/// straight to it, leaving `decoy` alone; returns the run.
#[track_caller]
fn hi_bypassing(
    target: &Target,
    extra: &[&str],
    env: &[(&str, &str)],
    decoy: &Proxy<RawRequest>,
) -> Run {
    let r = run_env(&target.args(extra), env);
    assert_eq!(r.code, Some(0), "env {env:?}: expected no proxy\n{r}");
    r.stdout("hi\n");
    target.served();
    assert_eq!(decoy.accepted(), 0, "env {env:?}: the proxy was used");
    r
}

#[test]
fn proxy_flag_overrides_the_environment() {
    let target = Target::ws();
    let proxy = http_proxy(HttpMode::Tunnel);
    let wrong = decoy();
    let w = wrong.url_as("http");
    let env = [
        ("ws_proxy", w.as_str()),
        ("http_proxy", w.as_str()),
        ("all_proxy", w.as_str()),
    ];
    hi_through(&target, &["--proxy", &proxy.url_as("http")], &env, &proxy);
    assert_eq!(wrong.accepted(), 0);
}

#[test]
fn no_proxy_flag_ignores_the_environment() {
    let target = Target::ws();
    let wrong = decoy();
    let w = wrong.url_as("http");
    let env = [
        ("ws_proxy", w.as_str()),
        ("http_proxy", w.as_str()),
        ("ALL_PROXY", w.as_str()),
    ];
    let r = hi_bypassing(&target, &["--no-proxy", "-v"], &env, &wrong);
    assert!(via_lines(&r.stderr_str()).is_empty(), "{r}");
}

#[test]
fn no_proxy_exact_host_and_star_bypass_the_proxy() {
    let target = Target::ws();
    let wrong = decoy();
    let w = wrong.url_as("http");
    for (var, value) in [
        ("no_proxy", "127.0.0.1"),
        ("NO_PROXY", "127.0.0.1"),
        ("no_proxy", "other.example, 127.0.0.1"),
        ("no_proxy", "other.example,127.0.0.1,third.example"),
        ("no_proxy", "*"),
        ("NO_PROXY", "*"),
    ] {
        hi_bypassing(&target, &[], &[("http_proxy", &w), (var, value)], &wrong);
    }
}

#[test]
fn no_proxy_host_name_bypasses_the_proxy() {
    let target = Target::ws_named("localhost");
    let wrong = decoy();
    let w = wrong.url_as("http");
    for value in ["localhost", "example.invalid,localhost"] {
        hi_bypassing(
            &target,
            &[],
            &[("http_proxy", &w), ("no_proxy", value)],
            &wrong,
        );
    }
}

#[test]
fn no_proxy_entries_that_do_not_match_keep_the_proxy() {
    no_proxy_keeps_the_proxy(
        &Target::ws(),
        &[
            "example.com",
            "127.0.0.2",
            // IP literals match exactly, not as suffixes.
            ".0.0.1",
            "0.0.1",
            "127.0.0.10",
            "",
        ],
    );
}

/// With each of `values` as `no_proxy`, a run to `target` goes through the
/// proxy set with `http_proxy` all the same.
#[track_caller]
fn no_proxy_keeps_the_proxy(target: &Target, values: &[&str]) {
    for value in values {
        let proxy = http_proxy(HttpMode::Tunnel);
        let p = proxy.url_as("http");
        let env = [("http_proxy", p.as_str()), ("no_proxy", value)];
        hi_through(target, &[], &env, &proxy);
    }
}

#[test]
fn no_proxy_domain_suffix() {
    // `svc.example.invalid` resolves nowhere: through the proxy (which
    // dials 127.0.0.1) the run succeeds; bypassing it, the direct
    // connection fails to resolve the name (exit 3) without touching the
    // proxy.
    let target = Target::ws_named("svc.example.invalid");
    for value in [
        "example.invalid",
        ".example.invalid",
        "svc.example.invalid",
        "other.test,example.invalid",
        "*",
    ] {
        let proxy = http_proxy(HttpMode::Tunnel);
        let p = proxy.url_as("http");
        let env = [("http_proxy", p.as_str()), ("no_proxy", value)];
        let r = run_env(&target.args(&["--connect-timeout", "5s"]), &env);
        assert_eq!(
            r.code,
            Some(3),
            "env {env:?}: expected a direct attempt\n{r}"
        );
        r.stdout("").stderr_contains("svc.example.invalid");
        assert_eq!(proxy.accepted(), 0, "env {env:?}: the proxy was used");
    }
    no_proxy_keeps_the_proxy(
        &target,
        &[
            "ample.invalid",
            "xample.invalid",
            "example.invalid.com",
            "svc.example",
            "other.invalid",
        ],
    );
}

// ---------------------------------------------------------------------------
// -v and redaction
// ---------------------------------------------------------------------------

#[test]
fn verbose_names_the_proxy() {
    let srv = Server::start(echo);
    let proxy = http_proxy(HttpMode::Tunnel);
    let r = run(&[
        "--proxy",
        &proxy.url_as("http"),
        &srv.url(),
        "-v",
        "-x",
        "hi",
    ]);
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
    let p = proxy.url_as("socks5h");
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
        let r = run_redacted(&args, &[], &secret_forms());
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
    let r = run_redacted(
        &[&srv.url(), "-v", "-x", "hi"],
        &[("http_proxy", &p)],
        &secret_forms(),
    );
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
    let r = run_redacted(
        &["--proxy", &p, &srv.url(), "--jsonl", "-x", "hi"],
        &[],
        &secret_forms(),
    );
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
            let r = run_redacted(&args, &[], &secret_forms());
            r.code(3).no_panic();
        }
        // The same through the environment.
        let r = run_redacted(
            &[&target, "-v", "--connect-timeout", "500ms", "-x", "hi"],
            &[("all_proxy", p)],
            &secret_forms(),
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
        assert_no_secret("stderr", &r.stderr, &secret_forms());
    }
}

#[test]
fn record_of_a_proxy_failure_ends_with_the_error() {
    let proxy = http_proxy_replying("502 Bad Gateway");
    let p = proxy.url_as("http");
    let rec = wsprobe_recorded(&["--proxy", &p, &closed_url(), "-x", "hi"], &[]);
    rec.run.code(3).stdout("");
    rec.only_error(3);
    proxy.next();
}
