//! Connecting: URL forms, the upgrade request (headers, subprotocols,
//! origin, auth, user agent) as the server sees it, and the exit codes for
//! usage errors (2), failed connections (3) and rejected handshakes (5).

use crate::support::*;
use std::time::Duration;

/// Runs `wsprobe URL -x hi` against an echo server and checks the reply and
/// the clean close; returns what the server observed.
#[track_caller]
fn hi_through(url: &str, server: &Server, extra: &[&str]) -> Observed {
    let mut args = vec![url, "-x", "hi"];
    args.extend_from_slice(extra);
    wsprobe(&args, "").code(0).stdout("hi\n");
    let obs = server.next();
    assert_eq!(obs.texts(), ["hi"], "{obs:?}");
    assert_eq!(obs.close, Some((1000, String::new())), "{obs:?}");
    obs
}

/// [`hi_through`] an echo server at the URL `url(port)`; returns what the
/// server observed and its port.
#[track_caller]
fn hi_at(url: impl Fn(u16) -> String) -> (Observed, u16) {
    let srv = Server::start(echo);
    (hi_through(&url(srv.port()), &srv, &[]), srv.port())
}

/// [`hi_through`] an echo server's URL with `extra` flags.
#[track_caller]
fn hi_with(extra: &[&str]) -> Observed {
    let srv = Server::start(echo);
    hi_through(&srv.url(), &srv, extra)
}

#[test]
fn ws_url_with_path_and_query() {
    let srv = Server::start(echo);
    let obs = hi_through(&srv.url_path("/chat/room?id=7&x=y"), &srv, &[]);
    assert_eq!(obs.path, "/chat/room?id=7&x=y");
    assert_eq!(
        obs.header("host"),
        Some(&*format!("127.0.0.1:{}", srv.port()))
    );
    assert_eq!(obs.header("sec-websocket-version"), Some("13"));
    assert!(obs.header("sec-websocket-key").is_some());
}

#[test]
fn ws_url_without_path_requests_root() {
    let (obs, _) = hi_at(|port| format!("ws://127.0.0.1:{port}"));
    assert_eq!(obs.path, "/");
}

#[test]
fn http_scheme_means_ws() {
    let (obs, _) = hi_at(|port| format!("http://127.0.0.1:{port}/h"));
    assert_eq!(obs.path, "/h");
}

#[test]
fn host_port_without_scheme_means_ws() {
    let (obs, _) = hi_at(|port| format!("127.0.0.1:{port}/bare"));
    assert_eq!(obs.path, "/bare");
}

#[test]
fn colon_port_means_localhost() {
    let (obs, port) = hi_at(|port| format!(":{port}/local"));
    assert_eq!(obs.path, "/local");
    assert_eq!(obs.header("host"), Some(&*format!("localhost:{port}")));
}

#[test]
fn ipv6_literal() {
    let opts = ServerOpts {
        ipv6: true,
        ..Default::default()
    };
    match Server::try_start_with(opts, echo) {
        Ok(srv) => {
            let url = format!("ws://[::1]:{}/six", srv.port());
            let obs = hi_through(&url, &srv, &[]);
            assert_eq!(obs.path, "/six");
            assert_eq!(obs.header("host"), Some(&*format!("[::1]:{}", srv.port())));
        }
        Err(e) => {
            // No IPv6 loopback on this machine: the URL must still be
            // accepted (a connection failure, not a usage error).
            eprintln!("no [::1] here ({e}); checking only that the URL parses");
            let url = format!("ws://[::1]:{}/", closed_port());
            wsprobe(&[&url, "-x", "hi"], "").code(3);
        }
    }
}

#[test]
fn bad_urls_are_usage_errors() {
    for url in [
        "ftp://example.com/",
        "gopher://x",
        "not a url",
        "ws://",
        "ws://[::1/",
        "ws://host:notaport/",
        "",
    ] {
        let r = wsprobe(&[url, "-x", "hi"], "");
        r.code(2).one_error_line().stdout("");
    }
}

#[test]
fn missing_url_is_usage_error() {
    let r = wsprobe(&[], "");
    r.code(2).stdout("");
    assert!(!r.stderr.is_empty(), "{r}");
}

#[test]
fn unknown_flag_is_usage_error() {
    let srv = Server::start(echo);
    let r = wsprobe(&[&srv.url(), "--no-such-flag"], "");
    r.code(2).stdout("");
}

#[test]
fn custom_headers_are_sent() {
    let obs = hi_with(&[
        "-H",
        "X-Trace-Id: abc-123",
        "--header",
        "X-Spaces:   padded value",
        "-H",
        "X-Multi: one",
        "-H",
        "X-Multi: two",
    ]);
    assert_eq!(obs.header("x-trace-id"), Some("abc-123"));
    assert_eq!(obs.header("x-spaces"), Some("padded value"));
    assert_eq!(obs.header_list("x-multi"), ["one", "two"]);
}

#[test]
fn header_names_go_on_the_wire_as_typed_and_generated_ones_title_cased() {
    let raw = RawServer::reply("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n");
    let run = wsprobe(
        &[&raw.url(), "-H", "x-MiXed-Case: 1", "-H", "ETag: 2", "-v"],
        "",
    );
    run.code(5)
        .stderr_contains("> x-MiXed-Case: 1")
        .stderr_contains("> ETag: 2");
    let spelled = raw.next().spelled;
    for name in [
        "Host",
        "Connection",
        "Upgrade",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Key",
        "User-Agent",
        "x-MiXed-Case",
        "ETag",
    ] {
        assert!(
            spelled.iter().any(|s| s == name),
            "{name} not in {spelled:?}"
        );
    }
}

#[test]
fn header_value_may_contain_colons() {
    let obs = hi_with(&["-H", "X-Time: 12:34:56"]);
    assert_eq!(obs.header("x-time"), Some("12:34:56"));
}

#[test]
fn header_without_colon_is_usage_error() {
    let srv = Server::start(echo);
    let r = wsprobe(&[&srv.url(), "-H", "NoColonHere", "-x", "hi"], "");
    r.code(2).stdout("").stderr_contains("NoColonHere");
}

#[test]
fn subprotocols_are_offered_in_order() {
    let opts = ServerOpts {
        subprotocol: Subprotocol::FirstOffered,
        ..Default::default()
    };
    let srv = Server::start_with(opts, echo);
    let obs = hi_through(
        &srv.url(),
        &srv,
        &["-s", "chat.v2", "--subprotocol", "superchat"],
    );
    assert_eq!(
        obs.header_list("sec-websocket-protocol"),
        ["chat.v2", "superchat"]
    );
}

#[test]
fn no_subprotocol_header_unless_asked() {
    let obs = hi_with(&[]);
    assert_eq!(obs.header("sec-websocket-protocol"), None);
}

#[test]
fn server_selecting_unoffered_subprotocol_is_rejected() {
    let raw = RawServer::upgrade_with(|req| {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: bogus\r\n\r\n",
            req.accept_key()
        )
    });
    let r = wsprobe(&[&raw.url(), "-s", "chat", "-x", "hi"], "");
    r.code(5).stdout("").stderr_contains("subprotocol");
    assert_eq!(raw.next().header("sec-websocket-protocol"), Some("chat"));
}

#[test]
fn server_selecting_subprotocol_when_none_offered_is_rejected() {
    let opts = ServerOpts {
        subprotocol: Subprotocol::Always("chat".into()),
        ..Default::default()
    };
    let srv = Server::start_with(opts, echo);
    let r = wsprobe(&[&srv.url(), "-x", "hi"], "");
    r.code(5).stdout("");
}

#[test]
fn origin_header() {
    let obs = hi_with(&["--origin", "https://app.example.com"]);
    assert_eq!(obs.header("origin"), Some("https://app.example.com"));
}

#[test]
fn no_origin_header_unless_asked() {
    let obs = hi_with(&[]);
    assert_eq!(obs.header("origin"), None);
}

#[test]
fn auth_flag_sends_basic_authorization() {
    let obs = hi_with(&["--auth", "alice:s3cr:et"]);
    let expected = format!("Basic {}", b64(b"alice:s3cr:et"));
    assert_eq!(obs.header("authorization"), Some(&*expected));
}

#[test]
fn url_userinfo_sends_basic_authorization() {
    let (obs, port) = hi_at(|port| format!("ws://bob:hunter2@127.0.0.1:{port}/private"));
    let expected = format!("Basic {}", b64(b"bob:hunter2"));
    assert_eq!(obs.header("authorization"), Some(&*expected));
    assert_eq!(obs.path, "/private");
    // The credentials are not part of the Host header.
    assert_eq!(obs.header("host"), Some(&*format!("127.0.0.1:{port}")));
}

#[test]
fn no_authorization_unless_asked() {
    let obs = hi_with(&[]);
    assert_eq!(obs.header("authorization"), None);
}

#[test]
fn default_user_agent() {
    let obs = hi_with(&[]);
    assert_eq!(
        obs.header("user-agent"),
        Some(&*format!("wsprobe/{VERSION}"))
    );
}

#[test]
fn custom_user_agent() {
    let obs = hi_with(&["--user-agent", "probe-test/9.9 (ci)"]);
    assert_eq!(obs.header("user-agent"), Some("probe-test/9.9 (ci)"));
    assert_eq!(obs.header_list("user-agent").len(), 1, "{obs:?}");
}

#[test]
fn non_101_response_is_rejected_with_status_and_body() {
    let body = "go away: bad token";
    let raw = RawServer::reply(format!(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let r = wsprobe(&[&raw.url(), "-x", "hi"], "");
    r.code(5)
        .stdout("")
        .stderr_contains("403 Forbidden")
        .stderr_contains(body);
    assert!(raw.next().request_line.starts_with("GET / HTTP/1.1"));
}

#[test]
fn non_101_body_is_shown_only_in_part() {
    let body = format!("START{}END-OF-LONG-BODY", "x".repeat(5000));
    let raw = RawServer::reply(format!(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let r = wsprobe(&[&raw.url(), "-x", "hi"], "");
    r.code(5)
        .stderr_contains("500 Internal Server Error")
        .stderr_contains("START");
    assert!(!r.stderr_str().contains("END-OF-LONG-BODY"), "{r}");
    assert!(
        r.stderr.len() < 2000,
        "stderr should show only the start of the body\n{r}"
    );
}

#[test]
fn wrong_accept_key_is_rejected() {
    let raw = RawServer::upgrade_with(|_req| {
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            .to_string()
    });
    let r = wsprobe(&[&raw.url(), "-x", "hi"], "");
    r.code(5).stdout("");
    raw.next();
}

#[test]
fn connection_refused_exits_3() {
    let url = format!("ws://127.0.0.1:{}/", closed_port());
    let r = wsprobe(&[&url, "-x", "hi"], "");
    r.code(3).stdout("");
    assert!(r.stderr_str().starts_with("wsprobe: "), "{r}");
}

#[test]
fn connect_timeout_when_upgrade_never_answered_exits_3() {
    let raw = RawServer::silent();
    let r = wsprobe(&[&raw.url(), "--connect-timeout", "700ms", "-x", "hi"], "");
    r.code(3).stdout("");
    assert!(
        r.elapsed >= Duration::from_millis(600),
        "gave up before the connect timeout\n{r}"
    );
    assert!(
        r.elapsed < Duration::from_secs(6),
        "did not honour --connect-timeout 700ms\n{r}"
    );
}

#[test]
fn connect_timeout_accepts_seconds() {
    let raw = RawServer::silent();
    let r = wsprobe(&[&raw.url(), "--connect-timeout", "1s", "-x", "hi"], "");
    r.code(3);
    assert!(r.elapsed >= Duration::from_millis(900), "{r}");
    assert!(r.elapsed < Duration::from_secs(7), "{r}");
}

#[test]
fn bad_duration_is_usage_error() {
    let srv = Server::start(echo);
    let r = wsprobe(&[&srv.url(), "--connect-timeout", "soon", "-x", "hi"], "");
    r.code(2).stdout("");
}
