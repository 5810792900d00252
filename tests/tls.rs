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
