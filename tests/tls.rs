//! TLS: certificates generated at test time (rcgen); verification on by
//! default, `--cacert`, `-k`, client certificates, and exit 4 for an
//! untrusted CA or a wrong host name.

mod support;

use support::*;

fn tls_server(pair: &KeyPairFiles) -> Server {
    let opts = ServerOpts {
        tls: Some(tls_acceptor(pair)),
        ..Default::default()
    };
    Server::start_with(opts, echo)
}

fn ca() -> &'static str {
    pki().ca.to_str().unwrap()
}

#[track_caller]
fn assert_hi_echoed(srv: &Server) {
    let obs = srv.next();
    assert_eq!(obs.handshake_error, None, "{obs:?}");
    assert_eq!(obs.texts(), ["hi"], "{obs:?}");
    assert_eq!(obs.close_code(), 1000, "{obs:?}");
}

#[test]
fn cacert_trusts_the_test_ca() {
    let srv = tls_server(&pki().localhost);
    let url = srv.url_host("localhost");
    wsprobe(&[&url, "--cacert", ca(), "-x", "hi"], "")
        .code(0)
        .stdout("hi\n");
    assert_hi_echoed(&srv);
}

#[test]
fn cacert_with_ip_address_url() {
    let srv = tls_server(&pki().localhost);
    let url = srv.url_host("127.0.0.1");
    wsprobe(&[&url, "--cacert", ca(), "-x", "hi"], "")
        .code(0)
        .stdout("hi\n");
    assert_hi_echoed(&srv);
}

#[test]
fn https_scheme_means_wss() {
    let srv = tls_server(&pki().localhost);
    let url = format!("https://localhost:{}/secure?x=1", srv.port());
    wsprobe(&[&url, "--cacert", ca(), "-x", "hi"], "")
        .code(0)
        .stdout("hi\n");
    let obs = srv.next();
    assert_eq!(obs.path, "/secure?x=1");
    assert_eq!(obs.texts(), ["hi"]);
}

#[test]
fn pipe_mode_over_tls() {
    let srv = tls_server(&pki().localhost);
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
    let srv = tls_server(&pki().localhost);
    let url = srv.url_host("localhost");
    let r = wsprobe(&[&url, "-x", "hi"], "");
    r.code(4).stdout("").stderr_contains("certificate");
    let obs = srv.next();
    assert!(obs.handshake_error.is_some(), "{obs:?}");
    assert!(obs.messages.is_empty());
}

#[test]
fn wrong_hostname_exits_4() {
    let srv = tls_server(&pki().other_host);
    let url = srv.url_host("localhost");
    let r = wsprobe(&[&url, "--cacert", ca(), "-x", "hi"], "");
    r.code(4)
        .stdout("")
        .stderr_contains_any(&["hostname", "host name"]);
    let obs = srv.next();
    assert!(obs.messages.is_empty(), "{obs:?}");
}

#[test]
fn insecure_accepts_untrusted_certificate() {
    let srv = tls_server(&pki().localhost);
    let url = srv.url_host("localhost");
    wsprobe(&[&url, "-k", "-x", "hi"], "")
        .code(0)
        .stdout("hi\n");
    assert_hi_echoed(&srv);
}

#[test]
fn insecure_accepts_wrong_hostname() {
    let srv = tls_server(&pki().other_host);
    let url = srv.url_host("localhost");
    wsprobe(&[&url, "--insecure", "-x", "hi"], "")
        .code(0)
        .stdout("hi\n");
    assert_hi_echoed(&srv);
}

#[test]
fn missing_cacert_file_is_usage_error() {
    let srv = tls_server(&pki().localhost);
    let missing = pki().dir().join("no-such-ca.pem");
    let r = wsprobe(
        &[
            &srv.url_host("localhost"),
            "--cacert",
            missing.to_str().unwrap(),
            "-x",
            "hi",
        ],
        "",
    );
    r.code(2).stdout("").stderr_contains("no-such-ca.pem");
}

#[test]
fn garbage_cacert_file_is_usage_error() {
    let srv = tls_server(&pki().localhost);
    let r = wsprobe(
        &[
            &srv.url_host("localhost"),
            "--cacert",
            pki().garbage.to_str().unwrap(),
            "-x",
            "hi",
        ],
        "",
    );
    r.code(2).stdout("");
}

fn mtls_server() -> Server {
    let opts = ServerOpts {
        tls: Some(tls_acceptor_requiring_client_cert(&pki().localhost)),
        ..Default::default()
    };
    Server::start_with(opts, echo)
}

#[test]
fn client_certificate_is_presented() {
    let srv = mtls_server();
    let p = pki();
    wsprobe(
        &[
            &srv.url_host("localhost"),
            "--cacert",
            ca(),
            "--cert",
            p.client.cert.to_str().unwrap(),
            "--key",
            p.client.key.to_str().unwrap(),
            "-x",
            "hi",
        ],
        "",
    )
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
    let srv = mtls_server();
    let r = wsprobe(
        &[&srv.url_host("localhost"), "--cacert", ca(), "-x", "hi"],
        "",
    );
    r.code(4).stdout("");
    let obs = srv.next();
    assert!(obs.handshake_error.is_some(), "{obs:?}");
}

#[test]
fn garbage_client_key_is_usage_error() {
    let srv = tls_server(&pki().localhost);
    let p = pki();
    let r = wsprobe(
        &[
            &srv.url_host("localhost"),
            "--cacert",
            ca(),
            "--cert",
            p.client.cert.to_str().unwrap(),
            "--key",
            p.garbage.to_str().unwrap(),
            "-x",
            "hi",
        ],
        "",
    );
    r.code(2).stdout("").stderr_contains("garbage.key");
}

#[test]
fn missing_client_key_file_is_usage_error() {
    let srv = tls_server(&pki().localhost);
    let p = pki();
    let missing = p.dir().join("missing.key");
    let r = wsprobe(
        &[
            &srv.url_host("localhost"),
            "--cacert",
            ca(),
            "--cert",
            p.client.cert.to_str().unwrap(),
            "--key",
            missing.to_str().unwrap(),
            "-x",
            "hi",
        ],
        "",
    );
    r.code(2).stdout("").stderr_contains("missing.key");
}

#[test]
fn cert_without_key_is_usage_error() {
    let srv = tls_server(&pki().localhost);
    let r = wsprobe(
        &[
            &srv.url_host("localhost"),
            "--cacert",
            ca(),
            "--cert",
            pki().client.cert.to_str().unwrap(),
            "-x",
            "hi",
        ],
        "",
    );
    r.code(2).stdout("");
}
