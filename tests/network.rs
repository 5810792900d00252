//! Network reach (issue 12, part): `--resolve` and `--connect-to` change where the
//! TCP connection goes while the Host header, TLS SNI and the certificate check
//! keep the URL's name.

use std::time::Duration;

use crate::support::*;

const SECS_5: Duration = Duration::from_secs(5);

/// `wsprobe URL FLAG RULE -x hi` must get its echo.
#[track_caller]
fn hi_through(url: &str, flag: &str, rule: &str) {
    wsprobe(&[url, flag, rule, "-x", "hi"], "")
        .code(0)
        .stdout("hi\n")
        .finished_within(SECS_5);
}

#[test]
fn resolve_makes_a_name_reachable_and_host_keeps_the_name() {
    let srv = Server::start(echo);
    // `.invalid` never resolves (RFC 6761): only --resolve can make it reachable.
    let url = format!("ws://api.example.invalid:{}/chat", srv.port());
    let rule = format!("api.example.invalid:{}:127.0.0.1", srv.port());
    hi_through(&url, "--resolve", &rule);
    let seen = srv.next();
    assert_eq!(
        seen.header("host"),
        Some(&*format!("api.example.invalid:{}", srv.port()))
    );
    assert_eq!(seen.texts(), ["hi"]);
}

#[test]
fn resolve_tries_its_addresses_in_turn() {
    let srv = Server::start(echo);
    let url = format!("ws://multi.invalid:{}/", srv.port());
    // The first address refuses (nothing listens on 127.0.0.2 at this port).
    let rule = format!("multi.invalid:{}:127.0.0.2,127.0.0.1", srv.port());
    hi_through(&url, "--resolve", &rule);
}

#[test]
fn connect_to_sends_the_connection_elsewhere_with_the_urls_host() {
    let srv = Server::start(echo);
    let rule = format!("prod.example.invalid:443:127.0.0.1:{}", srv.port());
    let run = wsprobe(
        &[
            "ws://prod.example.invalid:443/",
            "--connect-to",
            &rule,
            "-x",
            "hi",
            "-v",
        ],
        "",
    );
    run.code(0).stdout("hi\n").finished_within(SECS_5);
    run.stderr_contains(&format!("(127.0.0.1:{})", srv.port()));
    assert_eq!(srv.next().header("host"), Some("prod.example.invalid:443"));
}

#[test]
fn connect_to_empty_fields_match_any_and_keep_the_urls() {
    let srv = Server::start(echo);
    // Any host, any port -> 127.0.0.1, the server's port.
    let rule = format!("::127.0.0.1:{}", srv.port());
    wsprobe(
        &[
            "ws://anything.invalid:7/",
            "--connect-to",
            &rule,
            "-x",
            "hi",
        ],
        "",
    )
    .code(0)
    .stdout("hi\n")
    .finished_within(SECS_5);
    assert_eq!(srv.next().header("host"), Some("anything.invalid:7"));
}

#[test]
fn tls_verifies_the_urls_name_not_the_address_connected_to() {
    let srv = tls_echo_server(&pki().localhost);
    // The certificate names localhost: reached through --connect-to, it verifies.
    let rule = format!("localhost:1:127.0.0.1:{}", srv.port());
    wsprobe(
        &[
            "wss://localhost:1/",
            "--connect-to",
            &rule,
            "--cacert",
            ca(),
            "-x",
            "hi",
        ],
        "",
    )
    .code(0)
    .stdout("hi\n")
    .finished_within(SECS_5);
    // A name the certificate does not carry fails verification, wherever it goes.
    let url = format!("wss://other.invalid:{}/", srv.port());
    let rule = format!("other.invalid:{}:127.0.0.1", srv.port());
    wsprobe(
        &[&url, "--resolve", &rule, "--cacert", ca(), "-x", "hi"],
        "",
    )
    .code(4)
    .finished_within(SECS_5);
}

#[test]
fn malformed_rules_are_usage_errors() {
    for (flag, value, message) in [
        ("--resolve", "host:443", "expected HOST:PORT:ADDR"),
        ("--resolve", "host:443:not-an-ip", "not an IP address"),
        ("--resolve", "host:99999:127.0.0.1", "not a port"),
        ("--connect-to", "a:1:b", "HOST:PORT:HOST2:PORT2"),
    ] {
        let run = wsprobe(&["ws://127.0.0.1:9/", flag, value], "");
        run.code(2).stderr_contains(message).finished_within(SECS_5);
        assert!(
            run.stderr_str().starts_with("wsprobe: "),
            "{}",
            run.stderr_str()
        );
    }
}

#[test]
fn ipv4_and_ipv6_keep_one_family_of_the_addresses() {
    let srv = Server::start(echo);
    let url = format!("ws://dual.invalid:{}/", srv.port());
    // The name "resolves" to an IPv6 address first, then the server's IPv4 one.
    let rule = format!("dual.invalid:{}:[::1],127.0.0.1", srv.port());
    wsprobe(&[&url, "--resolve", &rule, "-4", "-x", "hi"], "")
        .code(0)
        .stdout("hi\n")
        .finished_within(SECS_5);
    let v4_only = format!("dual.invalid:{}:127.0.0.1", srv.port());
    wsprobe(&[&url, "--resolve", &v4_only, "-6", "-x", "hi"], "")
        .code(3)
        .one_error_line()
        .stderr_contains("'dual.invalid' has no IPv6 address (-6)")
        .finished_within(SECS_5);
    wsprobe(&[&url, "-4", "-6"], "")
        .code(2)
        .finished_within(SECS_5);
}
