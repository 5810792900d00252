//! TLS: certificates generated at test time (rcgen); verification on by
//! default, `--cacert`, `-k`, client certificates, and exit 4 for an
//! untrusted CA or a wrong host name.

use crate::support::*;

/// `wsprobe wss://localhost:PORT/ FLAGS... -x hi`
fn hi_to(srv: &Server, flags: &[&str]) -> Run {
    hi_at(&srv.url_host("localhost"), flags)
}

/// `wsprobe URL FLAGS... -x hi`
fn hi_at(url: &str, flags: &[&str]) -> Run {
    let mut args = vec![url];
    args.extend_from_slice(flags);
    args.extend(["-x", "hi"]);
    wsprobe(&args, "")
}

/// The echo of `hi` worked, and the server saw it and the close.
#[track_caller]
fn assert_hi_echoed(r: &Run, srv: &Server) {
    r.code(0).stdout("hi\n");
    let obs = srv.next();
    assert_eq!(obs.handshake_error, None, "{obs:?}");
    assert_eq!(obs.texts(), ["hi"], "{obs:?}");
    assert_eq!(obs.close_code(), 1000, "{obs:?}");
}

#[test]
fn cacert_trusts_the_test_ca() {
    let srv = tls_echo_server(&pki().localhost);
    assert_hi_echoed(&hi_to(&srv, &["--cacert", ca()]), &srv);
}

#[test]
fn cacert_with_ip_address_url() {
    let srv = tls_echo_server(&pki().localhost);
    let url = srv.url_host("127.0.0.1");
    assert_hi_echoed(&hi_at(&url, &["--cacert", ca()]), &srv);
}

#[test]
fn https_scheme_means_wss() {
    let srv = tls_echo_server(&pki().localhost);
    let url = format!("https://localhost:{}/secure?x=1", srv.port());
    hi_at(&url, &["--cacert", ca()]).code(0).stdout("hi\n");
    let obs = srv.next();
    assert_eq!(obs.path, "/secure?x=1");
    assert_eq!(obs.texts(), ["hi"]);
}

#[test]
fn pipe_mode_over_tls() {
    let srv = tls_echo_server(&pki().localhost);
    let url = srv.url_host("localhost");
    let input: String = (0..200).map(|i| format!("tls line {i}\n")).collect();
    wsprobe(&[&url, "--cacert", ca()], input.clone())
        .code(0)
        .stdout(&input);
    let obs = srv.next();
    assert_eq!(obs.count, 200);
    assert_eq!(obs.close_code(), 1000);
}

#[test]
fn untrusted_ca_exits_4() {
    let srv = tls_echo_server(&pki().localhost);
    hi_to(&srv, &[])
        .code(4)
        .stdout("")
        .stderr_contains("certificate");
    let obs = srv.next();
    assert!(obs.handshake_error.is_some(), "{obs:?}");
    assert!(obs.messages.is_empty());
}

#[test]
fn wrong_hostname_exits_4() {
    let srv = tls_echo_server(&pki().other_host);
    hi_to(&srv, &["--cacert", ca()])
        .code(4)
        .stdout("")
        .stderr_contains_any(&["hostname", "host name"]);
    let obs = srv.next();
    assert!(obs.messages.is_empty(), "{obs:?}");
}

#[test]
fn insecure_accepts_untrusted_certificate() {
    let srv = tls_echo_server(&pki().localhost);
    assert_hi_echoed(&hi_to(&srv, &["-k"]), &srv);
}

#[test]
fn insecure_accepts_wrong_hostname() {
    let srv = tls_echo_server(&pki().other_host);
    assert_hi_echoed(&hi_to(&srv, &["--insecure"]), &srv);
}

/// A path as an argument.
fn arg(path: &std::path::Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn missing_cacert_file_is_usage_error() {
    let srv = tls_echo_server(&pki().localhost);
    let missing = pki().dir().join("no-such-ca.pem");
    hi_to(&srv, &["--cacert", arg(&missing)])
        .code(2)
        .stdout("")
        .stderr_contains("no-such-ca.pem");
}

#[test]
fn garbage_cacert_file_is_usage_error() {
    let srv = tls_echo_server(&pki().localhost);
    hi_to(&srv, &["--cacert", arg(&pki().garbage)])
        .code(2)
        .stdout("");
}

fn mtls_echo_server() -> Server {
    let opts = ServerOpts {
        tls: Some(tls_acceptor_requiring_client_cert(&pki().localhost)),
        ..Default::default()
    };
    Server::start_with(opts, echo)
}

#[test]
fn client_certificate_is_presented() {
    let srv = mtls_echo_server();
    let p = pki();
    let (cert, key) = (arg(&p.client.cert), arg(&p.client.key));
    hi_to(&srv, &["--cacert", ca(), "--cert", cert, "--key", key])
        .code(0)
        .stdout("hi\n");
    let obs = srv.next();
    assert_eq!(
        obs.client_cert_cn.as_deref(),
        Some("wsprobe test client"),
        "{obs:?}"
    );
    assert_eq!(obs.texts(), ["hi"]);
}

#[test]
fn client_certificate_required_but_not_given_exits_4() {
    let srv = mtls_echo_server();
    hi_to(&srv, &["--cacert", ca()]).code(4).stdout("");
    let obs = srv.next();
    assert!(obs.handshake_error.is_some(), "{obs:?}");
}

#[test]
fn garbage_client_key_is_usage_error() {
    let srv = tls_echo_server(&pki().localhost);
    let p = pki();
    let (cert, key) = (arg(&p.client.cert), arg(&p.garbage));
    hi_to(&srv, &["--cacert", ca(), "--cert", cert, "--key", key])
        .code(2)
        .stdout("")
        .stderr_contains("garbage.key");
}

#[test]
fn missing_client_key_file_is_usage_error() {
    let srv = tls_echo_server(&pki().localhost);
    let p = pki();
    let missing = p.dir().join("missing.key");
    let (cert, key) = (arg(&p.client.cert), arg(&missing));
    hi_to(&srv, &["--cacert", ca(), "--cert", cert, "--key", key])
        .code(2)
        .stdout("")
        .stderr_contains("missing.key");
}

#[test]
fn cert_without_key_is_usage_error() {
    let srv = tls_echo_server(&pki().localhost);
    hi_to(&srv, &["--cacert", ca(), "--cert", arg(&pki().client.cert)])
        .code(2)
        .stdout("");
}

// ---------------------------------------------------------------------------
// What was negotiated: -v, the open event, --version -v
// ---------------------------------------------------------------------------

/// The Python `websockets` server with TLS (the test PKI's localhost
/// certificate), accepting ALPN http/1.1, echoing; `keylog`: where it logs
/// its own secrets.
fn python_tls_peer(keylog: Option<&std::path::Path>) -> PeerServer {
    let pair = &pki().localhost;
    let mut args = vec!["--tls", arg(&pair.cert), arg(&pair.key)];
    if let Some(path) = keylog {
        args.extend(["--keylog", arg(path)]);
    }
    args.push("echo");
    PeerServer::start(&args)
}

#[test]
fn verbose_shows_version_cipher_and_alpn() {
    let peer = python_tls_peer(None);
    let r = hi_at(&peer.url, &["--cacert", ca(), "-v"]);
    r.code(0).stdout("hi\n");
    let line = r
        .stderr_str()
        .lines()
        .find(|l| l.starts_with("* TLS: "))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no '* TLS:' line\n{r}"));
    let shape = regex::Regex::new(r"^\* TLS: TLSv1\.[23] [A-Z0-9_-]+, ALPN http/1\.1$").unwrap();
    assert!(shape.is_match(&line), "{line}");
    // The server agrees: wsprobe offered http/1.1 and it was chosen.
    let open = peer.event();
    assert!(open.contains(r#""alpn": "http/1.1""#), "{open}");
}

#[test]
fn the_open_event_carries_the_tls_parameters() {
    let peer = python_tls_peer(None);
    let r = hi_at(&peer.url, &["--cacert", ca(), "--jsonl"]);
    r.code(0);
    let open = &parse_jsonl(&r.stdout)[0];
    assert_eq!(open["type"], "open", "{open}");
    let tls = &open["tls"];
    assert!(
        ["TLSv1.2", "TLSv1.3"].contains(&tls["version"].as_str().unwrap_or("")),
        "{open}"
    );
    assert!(!tls["cipher"].as_str().unwrap_or("").is_empty(), "{open}");
    assert_eq!(tls["alpn"], "http/1.1", "{open}");
}

#[test]
fn a_server_without_alpn_is_shown_as_such() {
    // The native-tls test server selects no application protocol.
    let srv = tls_echo_server(&pki().localhost);
    let r = hi_to(&srv, &["--cacert", ca(), "-v", "--jsonl"]);
    r.code(0).stderr_has(", no ALPN");
    let open = &parse_jsonl(&r.stdout)[0];
    assert!(open["tls"]["alpn"].is_null(), "{open}");
    assert!(open["tls"]["version"].is_string(), "{open}");
}

#[test]
fn no_tls_object_for_ws() {
    let srv = Server::start(echo);
    let r = hi_at(&srv.url_host("127.0.0.1"), &["--jsonl", "-v"]);
    r.code(0).stderr_lacks("* TLS:");
    let open = &parse_jsonl(&r.stdout)[0];
    assert!(open.get("tls").is_none(), "{open}");
}

#[test]
fn listen_mode_accepts_alpn_http_1_1() {
    let pair = &pki().localhost;
    let mut live = Wsprobe::new(&[
        "--listen",
        "0",
        "--cert",
        arg(&pair.cert),
        "--key",
        arg(&pair.key),
        "-x",
        "hello",
        "-v",
    ])
    .stdin_from(Stdin::Null)
    .spawn();
    let url = live.listening_url();
    let r = Wsprobe::new(&[&url, "--cacert", ca(), "-x", "hi", "-v"])
        .stdin_from(Stdin::Null)
        .run();
    r.code(0).stdout("hello\n").stderr_has(", ALPN http/1.1");
    live.wait(DEADLINE)
        .code(0)
        .stdout("hi\n")
        .stderr_has(", ALPN http/1.1");
}

#[test]
fn version_verbose_names_openssl() {
    let r = wsprobe(&["--version", "-v"], "");
    r.code(0);
    assert!(
        r.stdout_str()
            .lines()
            .any(|l| l.starts_with("TLS: OpenSSL ")),
        "{r}"
    );
}

// ---------------------------------------------------------------------------
// SSLKEYLOGFILE
// ---------------------------------------------------------------------------

/// `LABEL <64 hex digits of client random> <hex secret>`: the NSS key log
/// format's lines (comments aside).
fn assert_nss_key_log(text: &str) {
    let line = regex::Regex::new(
        r"^(CLIENT_RANDOM|CLIENT_EARLY_TRAFFIC_SECRET|CLIENT_HANDSHAKE_TRAFFIC_SECRET|SERVER_HANDSHAKE_TRAFFIC_SECRET|CLIENT_TRAFFIC_SECRET_0|SERVER_TRAFFIC_SECRET_0|EARLY_EXPORTER_SECRET|EXPORTER_SECRET) [0-9a-f]{64} [0-9a-f]{32,}$",
    )
    .unwrap();
    assert!(!text.trim().is_empty(), "the key log is empty");
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.is_match(l), "not an NSS key log line: {l:?}\n{text}");
    }
}

#[test]
fn key_log_file_gets_the_secrets_the_server_also_logged() {
    use std::os::unix::fs::PermissionsExt;
    let dir = test_tempdir();
    let ours = dir.path().join("keys.log");
    let theirs = dir.path().join("server-keys.log");
    let peer = python_tls_peer(Some(&theirs));
    let r = Wsprobe::new(&[&peer.url, "--cacert", ca(), "-x", "hi", "-q"])
        .env("SSLKEYLOGFILE", arg(&ours))
        .run();
    r.code(0).stdout("hi\n");
    // One notice, even with -q, naming the file.
    let stderr = r.stderr_str();
    let notices: Vec<&str> = stderr.lines().collect();
    assert_eq!(notices.len(), 1, "{r}");
    assert!(
        notices[0].contains("TLS secrets") && notices[0].contains(arg(&ours)),
        "{r}"
    );
    let logged = std::fs::read_to_string(&ours).unwrap();
    assert_nss_key_log(&logged);
    let mode = std::fs::metadata(&ours).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    // Each secret is the one the server derived (the server closes after the
    // client: wait for its report so that its log is complete).
    peer.events_until_closed();
    let server_log = std::fs::read_to_string(&theirs).unwrap();
    for l in logged.lines() {
        assert!(
            server_log.contains(l),
            "the server did not log {l:?}\n{server_log}"
        );
    }
}

#[test]
fn key_log_file_is_appended_to() {
    let dir = test_tempdir();
    let path = dir.path().join("keys.log");
    std::fs::write(&path, "# kept\n").unwrap();
    let peer = python_tls_peer(None);
    let once = || {
        Wsprobe::new(&[&peer.url, "--cacert", ca(), "-x", "hi"])
            .env("SSLKEYLOGFILE", arg(&path))
            .run()
            .code(0)
            .stdout("hi\n")
            .stderr_has("TLS secrets");
        std::fs::read_to_string(&path).unwrap()
    };
    let first = once();
    assert!(first.starts_with("# kept\n"), "{first}");
    let second = once();
    assert!(second.starts_with(&first), "{second}");
    assert!(second.len() > first.len(), "{second}");
    assert_nss_key_log(&second);
}

#[test]
fn unopenable_key_log_file_is_a_usage_error() {
    let srv = tls_echo_server(&pki().localhost);
    let missing_dir = pki().dir().join("no-such-dir").join("keys.log");
    Wsprobe::new(&[&srv.url_host("localhost"), "--cacert", ca(), "-x", "hi"])
        .env("SSLKEYLOGFILE", arg(&missing_dir))
        .run()
        .code(2)
        .stdout("")
        .one_error_line()
        .stderr_has("SSLKEYLOGFILE");
    assert!(srv.try_next(std::time::Duration::ZERO).is_none());
}

#[test]
fn no_key_log_notice_for_ws() {
    let srv = Server::start(echo);
    let dir = test_tempdir();
    let path = dir.path().join("keys.log");
    Wsprobe::new(&[&srv.url_host("127.0.0.1"), "-x", "hi"])
        .env("SSLKEYLOGFILE", arg(&path))
        .run()
        .code(0)
        .stderr_empty();
    assert!(!path.exists());
}
