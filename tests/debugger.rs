//! Debugger views (issue 5): `-v` handshake details (headers, subprotocol,
//! extensions, timings, the server certificate over wss), the body of a
//! rejected upgrade, the `-vv` frame trace, `--record FILE`, and redaction of
//! credentials in every output.

use crate::support::*;
use regex::Regex;
use serde_json::json;
use tungstenite::Message;

/// stderr lines starting with `prefix`.
fn lines_with<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

#[track_caller]
fn has_line(text: &str, line: &str) {
    assert!(
        text.lines().any(|l| l == line),
        "no line {line:?} in:\n{text}"
    );
}

#[track_caller]
fn has_line_matching(text: &str, re: &str) -> Vec<String> {
    let re = Regex::new(re).unwrap();
    for l in text.lines() {
        if let Some(c) = re.captures(l) {
            return c
                .iter()
                .map(|m| m.map_or(String::new(), |m| m.as_str().to_string()))
                .collect();
        }
    }
    panic!("no line matching {re} in:\n{text}");
}

/// A `> ` (request) or `< ` (response) header line for `name` (in any case)
/// with exactly `value`.
#[track_caller]
fn has_header(text: &str, prefix: &str, name: &str, value: &str) {
    let wanted = (name.to_ascii_lowercase(), value.to_string());
    assert!(
        header_lines(text, prefix).contains(&wanted),
        "no header line {prefix}{name}: {value} in:\n{text}"
    );
}

/// `Name: value` header lines after `prefix` (`> ` or `< `), as lower-case
/// name and value.
fn header_lines(text: &str, prefix: &str) -> Vec<(String, String)> {
    lines_with(text, prefix)
        .into_iter()
        .skip(1) // the request or status line
        .filter_map(|l| l[prefix.len()..].split_once(": "))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
        .collect()
}

fn server_with_headers(headers: &[(&str, &str)], subprotocol: Subprotocol) -> ServerOpts {
    ServerOpts {
        subprotocol,
        response_headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

const TIMING_MS: &str = r"\d+(?:\.\d+)? ms";

// ---------------------------------------------------------------------------
// -v
// ---------------------------------------------------------------------------

#[test]
fn verbose_shows_request_response_subprotocol_and_timings() {
    let opts = server_with_headers(
        &[("X-Test", "42"), ("X-Other", "hello world")],
        Subprotocol::FirstOffered,
    );
    let srv = Server::start_with(opts, echo);
    let url = srv.url_path("/v/path?q=1");
    let r = wsprobe(
        &[
            &url,
            "-v",
            "-s",
            "chat",
            "-H",
            "X-Client: abc",
            "--origin",
            "http://o.example",
            "-x",
            "hi",
        ],
        "",
    );
    r.code(0).stdout("hi\n");
    let obs = srv.next();
    let err = r.stderr_str();

    // The request: its line and exactly the headers the server received.
    has_line(&err, "> GET /v/path?q=1 HTTP/1.1");
    has_line(&err, &format!("> Host: 127.0.0.1:{}", srv.port()));
    let mut shown = header_lines(&err, "> ");
    let mut received = obs.headers.clone();
    shown.sort();
    received.sort();
    assert_eq!(
        shown, received,
        "-v must show every request header as sent\n{err}"
    );
    assert!(shown.contains(&("x-client".into(), "abc".into())), "{err}");

    // The response: status line and every header the server sent.
    has_line(&err, "< HTTP/1.1 101 Switching Protocols");
    let key = obs.header("sec-websocket-key").unwrap();
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut shown = header_lines(&err, "< ");
    shown.sort();
    let mut sent = vec![
        ("connection".to_string(), "Upgrade".to_string()),
        ("upgrade".into(), "websocket".into()),
        ("sec-websocket-accept".into(), accept),
        ("sec-websocket-protocol".into(), "chat".into()),
        ("x-test".into(), "42".into()),
        ("x-other".into(), "hello world".into()),
    ];
    sent.sort();
    assert_eq!(shown, sent, "-v must show every response header\n{err}");

    has_line(&err, "* subprotocol: chat");
    has_line(&err, "* extensions: (none)");
    has_line_matching(
        &err,
        &format!(
            r"^\* timings: DNS {t}, TCP {t}, upgrade {t}, total {t}$",
            t = TIMING_MS
        ),
    );
    assert!(
        lines_with(&err, "* certificate").is_empty(),
        "no certificate over ws://\n{err}"
    );
}

#[test]
fn verbose_over_wss_shows_the_certificate_and_tls_timing() {
    let opts = ServerOpts {
        tls: Some(tls_acceptor(&pki().localhost)),
        response_headers: vec![("X-Test".into(), "42".into())],
        ..Default::default()
    };
    let srv = Server::start_with(opts, echo);
    let url = srv.url_host("localhost");
    let ca = pki().ca.to_str().unwrap();
    let r = wsprobe(&[&url, "-v", "--cacert", ca, "-x", "hi"], "");
    r.code(0).stdout("hi\n");
    let err = r.stderr_str();
    has_line(&err, "> GET / HTTP/1.1");
    has_line(&err, &format!("> Host: localhost:{}", srv.port()));
    has_line(&err, "< HTTP/1.1 101 Switching Protocols");
    has_header(&err, "< ", "X-Test", "42");
    has_line(&err, "* subprotocol: (none)");
    let subject = has_line_matching(&err, r"^\* certificate subject:\s+(.*)$");
    assert!(subject[1].contains("CN=localhost"), "{err}");
    let issuer = has_line_matching(&err, r"^\* certificate issuer:\s+(.*)$");
    assert!(issuer[1].contains("CN=wsprobe test CA"), "{err}");
    // rcgen's default validity: 1975-01-01 to 4096-01-01.
    let valid = has_line_matching(&err, r"^\* certificate valid:\s+(.+) to (.+)$");
    assert!(valid[1].contains("1975"), "{err}");
    assert!(valid[2].contains("4096"), "{err}");
    let names = has_line_matching(&err, r"^\* certificate names:\s+(.*)$");
    let names: Vec<&str> = names[1].split(", ").collect();
    assert!(names.contains(&"DNS:localhost"), "{err}");
    assert!(names.contains(&"IP:127.0.0.1"), "{err}");
    has_line_matching(
        &err,
        &format!(
            r"^\* timings: DNS {t}, TCP {t}, TLS {t}, upgrade {t}, total {t}$",
            t = TIMING_MS
        ),
    );
    assert_eq!(srv.next().texts(), ["hi"]);
}

#[test]
fn without_verbose_no_handshake_is_shown() {
    let opts = server_with_headers(&[("X-Test", "42")], Subprotocol::None);
    let srv = Server::start_with(opts, echo);
    wsprobe(&[&srv.url(), "-x", "hi"], "")
        .code(0)
        .stdout("hi\n")
        .stderr_empty();
}

#[test]
fn rejected_upgrade_shows_status_and_body_without_verbose() {
    let body = "access denied: token expired at 12:00";
    let raw = RawServer::reply(format!(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let r = wsprobe(&[&raw.url(), "-x", "hi"], "");
    r.code(5)
        .stdout("")
        .no_panic()
        .stderr_contains("403 Forbidden")
        .stderr_contains(body);
    raw.next();
}

#[test]
fn rejected_upgrade_shows_response_headers_without_verbose() {
    // Issue 5: "On a rejected upgrade (non-101) the status, headers and the
    // first part of the body are shown even without -v".
    let body = "denied";
    let raw = RawServer::reply(format!(
        "HTTP/1.1 403 Forbidden\r\nX-Denial-Reason: quota-exceeded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let r = wsprobe(&[&raw.url(), "-x", "hi"], "");
    r.code(5)
        .stdout("")
        .stderr_contains("403 Forbidden")
        .stderr_contains("quota-exceeded")
        .stderr_contains(body);
    raw.next();
}

// ---------------------------------------------------------------------------
// -vv: the frame trace
// ---------------------------------------------------------------------------

#[test]
fn frame_trace_shows_fragments_pings_and_close_codes() {
    let big = vec![0x5a_u8; 70_000];
    let big2 = big.clone();
    let srv = Server::start(move |c: &mut Conn| {
        if c.recv().is_none() {
            return;
        }
        c.send_raw_frame(false, 0x1, b"abc");
        c.send_raw_frame(true, 0x9, b"pp");
        c.send_raw_frame(true, 0x0, b"defg");
        c.send_binary(&big2);
        if c.wait_pong() {
            c.close(4001, "bye");
        }
    });
    let r = wsprobe(&[&srv.url(), "-vv", "-x", "hi", "-w", "forever"], "");
    r.code(7)
        .no_panic()
        .stdout(format!("abcdefg\nbase64:{}\n", b64(&big)));
    let err = r.stderr_str();
    // -vv includes -v.
    has_line(&err, "< HTTP/1.1 101 Switching Protocols");
    let incoming = lines_with(&err, "<< frame");
    assert_eq!(
        incoming,
        [
            "<< frame text         FIN=0 RSV=000 MASK=0 len=3",
            "<< frame ping         FIN=1 RSV=000 MASK=0 len=2",
            "<< frame continuation FIN=1 RSV=000 MASK=0 len=4",
            "<< frame binary       FIN=1 RSV=000 MASK=0 len=70000",
            "<< frame close        FIN=1 RSV=000 MASK=0 len=5 code=4001 reason=\"bye\"",
        ],
        "{err}"
    );
    let outgoing = lines_with(&err, ">> frame");
    assert_eq!(
        outgoing,
        [
            ">> frame text         FIN=1 RSV=000 MASK=1 len=2",
            ">> frame pong         FIN=1 RSV=000 MASK=1 len=2",
            ">> frame close        FIN=1 RSV=000 MASK=1 len=5 code=4001 reason=\"bye\"",
        ],
        "{err}"
    );
    // wsprobe's text goes out before anything comes in (the server waits for it).
    let first_out = err.find(">> frame text").unwrap();
    let first_in = err.find("<< frame").unwrap();
    assert!(first_out < first_in, "{err}");
    assert!(!r.stdout_str().contains("frame"), "the trace is on stderr");

    let obs = srv.next();
    assert_eq!(obs.texts(), ["hi"]);
    assert_eq!(obs.pongs, [b"pp".to_vec()]);
    assert_eq!(obs.close, Some((4001, "bye".to_string())));
}

#[test]
fn frame_trace_of_a_close_started_by_wsprobe() {
    let srv = Server::start(echo);
    let r = wsprobe(
        &[
            &srv.url(),
            "-vv",
            "-x",
            "hello",
            "--close-code",
            "4000",
            "--close-reason",
            "done now",
        ],
        "",
    );
    r.code(0).stdout("hello\n");
    let err = r.stderr_str();
    assert_eq!(
        lines_with(&err, ">> frame"),
        [
            ">> frame text         FIN=1 RSV=000 MASK=1 len=5",
            ">> frame close        FIN=1 RSV=000 MASK=1 len=10 code=4000 reason=\"done now\"",
        ],
        "{err}"
    );
    assert_eq!(
        lines_with(&err, "<< frame"),
        [
            "<< frame text         FIN=1 RSV=000 MASK=0 len=5",
            "<< frame close        FIN=1 RSV=000 MASK=0 len=10 code=4000 reason=\"done now\"",
        ],
        "{err}"
    );
    assert_eq!(srv.next().close, Some((4000, "done now".into())));
}

#[test]
fn single_verbose_shows_no_frames() {
    let srv = Server::start(echo);
    let r = wsprobe(&[&srv.url(), "-v", "-x", "hi"], "");
    r.code(0).stdout("hi\n");
    let err = r.stderr_str();
    assert!(
        !err.contains("frame"),
        "-v alone shows no frame trace\n{err}"
    );
}

#[test]
fn frame_trace_over_tls() {
    // The tap sits under tungstenite, after TLS: frames, not TLS records.
    let opts = ServerOpts {
        tls: Some(tls_acceptor(&pki().localhost)),
        ..Default::default()
    };
    let srv = Server::start_with(opts, echo);
    let url = srv.url_host("localhost");
    let ca = pki().ca.to_str().unwrap();
    let r = wsprobe(&[&url, "-vv", "--cacert", ca, "-x", "secure"], "");
    r.code(0).stdout("secure\n");
    let err = r.stderr_str();
    assert_eq!(
        lines_with(&err, "<< frame"),
        [
            "<< frame text         FIN=1 RSV=000 MASK=0 len=6",
            "<< frame close        FIN=1 RSV=000 MASK=0 len=2 code=1000 reason=\"\"",
        ],
        "{err}"
    );
    assert_eq!(lines_with(&err, ">> frame").len(), 2, "{err}");
}

// ---------------------------------------------------------------------------
// --record
// ---------------------------------------------------------------------------

#[test]
fn record_file_holds_the_whole_session() {
    let opts = server_with_headers(&[("X-Test", "42")], Subprotocol::None);
    let srv = Server::start_with(opts, |c: &mut Conn| {
        if let Some(Msg::Text(t)) = c.recv() {
            c.send_text(&format!("got {t}"));
        }
        c.drain();
    });
    let rec = wsprobe_recorded(&[&srv.url(), "-x", "hello"], &[]);
    // The normal output is unchanged.
    rec.run.code(0).stdout("got hello\n").stderr_empty();
    let obs = srv.next();
    assert_eq!(obs.texts(), ["hello"]);
    assert_eq!(obs.close, Some((1000, String::new())));

    let events = rec.events();
    assert_eq!(
        rec.timeless(),
        [
            json!({"dir": "in", "type": "open", "url": srv.url(), "status": 101,
                   "subprotocol": null, "peer": srv.addr().to_string()}),
            json!({"dir": "out", "type": "text", "data": "hello", "size": 5}),
            json!({"dir": "in", "type": "text", "data": "got hello", "size": 9}),
            json!({"dir": "out", "type": "close", "code": 1000, "reason": ""}),
            json!({"dir": "in", "type": "close", "code": 1000, "reason": ""}),
        ]
    );
    assert_eq!(events[0]["headers"]["x-test"], "42");
}

#[test]
fn record_with_binary_pushes_and_a_server_close() {
    let srv = Server::start(|c: &mut Conn| {
        c.send_binary(&[0xde, 0xad, 0xbe, 0xef]);
        c.send(Message::Ping(b"hb".to_vec().into()));
        c.send_text("last");
        c.close(1001, "going away");
    });
    let rec = wsprobe_recorded(&[&srv.url(), "-w", "forever"], &[]);
    rec.run
        .code(0)
        .stdout(format!("base64:{}\nlast\n", b64(&[0xde, 0xad, 0xbe, 0xef])));
    let shape = rec.timeless();
    let expected = [
        json!({"dir": "in", "type": "open", "url": srv.url(), "status": 101,
               "subprotocol": null, "peer": srv.addr().to_string()}),
        json!({"dir": "in", "type": "binary", "data": b64(&[0xde, 0xad, 0xbe, 0xef]),
               "encoding": "base64", "size": 4}),
        json!({"dir": "in", "type": "ping", "data": "hb", "size": 2}),
        // wsprobe's automatic answers are part of the session too.
        json!({"dir": "out", "type": "pong", "data": "hb", "size": 2}),
        json!({"dir": "in", "type": "text", "data": "last", "size": 4}),
        json!({"dir": "in", "type": "close", "code": 1001, "reason": "going away"}),
        json!({"dir": "out", "type": "close", "code": 1001, "reason": "going away"}),
    ];
    assert_eq!(&shape[..], &expected, "{shape:#?}");
    assert_eq!(srv.next().close_code(), 1001);
}

#[test]
fn record_of_a_failed_connection_ends_with_the_error() {
    let rec = wsprobe_recorded(&[&closed_url(), "-x", "hi"], &[]);
    rec.run.code(3).stdout("").one_error_line();
    rec.only_error(3);
}

#[test]
fn record_in_an_unwritable_place_is_a_usage_error() {
    let srv = Server::start(echo);
    let dir = test_tempdir();
    let file = dir.path().join("no/such/dir/rec.jsonl");
    let r = wsprobe(
        &[&srv.url(), "--record", file.to_str().unwrap(), "-x", "hi"],
        "",
    );
    r.code(2).stdout("").one_error_line();
}

#[test]
fn record_file_is_private_and_not_overwritten_without_force() {
    use std::os::unix::fs::PermissionsExt;
    let srv = Server::start(echo);
    let dir = test_tempdir();
    let file = dir.path().join("rec.jsonl");
    let path = file.to_str().unwrap();
    let r = wsprobe(&[&srv.url(), "--record", path, "-x", "hi"], "");
    r.code(0).stdout("hi\n");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "record file mode {mode:o}");
    let first = std::fs::read(&file).unwrap();
    assert!(!first.is_empty());

    // A second run must not clobber it.
    let r = wsprobe(&[&srv.url(), "--record", path, "-x", "again"], "");
    r.code(2)
        .stdout("")
        .one_error_line()
        .stderr_contains("--force");
    assert_eq!(std::fs::read(&file).unwrap(), first);

    // --force overwrites, and narrows a wider mode.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = wsprobe(
        &[&srv.url(), "--record", path, "--force", "-x", "again"],
        "",
    );
    r.code(0).stdout("again\n");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("again") && !text.contains("\"hi\""), "{text}");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "record file mode {mode:o}");
}

// ---------------------------------------------------------------------------
// Redaction
// ---------------------------------------------------------------------------

const SECRETS: [&str; 9] = [
    "S3CRET-QUERY",
    "S3CRET-APIKEY",
    "S3CRET-AUTHTOKEN",
    "S3CRET-K8S",
    "S3CRET-PW",
    "S3CRET-TOKEN",
    "S3CRET-COOKIE",
    "S3CRET-URLPW",
    "S3CRET-SETCOOKIE",
];

/// Every form in which a secret could leak: as is, and inside a Basic
/// Authorization value.
fn secret_forms() -> Vec<String> {
    let mut forms: Vec<String> = SECRETS.iter().map(|s| s.to_string()).collect();
    forms.push("S3CRET".into());
    forms.push(b64(b"user:S3CRET-PW"));
    forms.push(b64(b"u:S3CRET-URLPW"));
    forms
}

fn secret_server() -> Server {
    let opts = server_with_headers(
        &[("Set-Cookie", "S3CRET-SETCOOKIE"), ("X-Test", "42")],
        Subprotocol::FirstOffered,
    );
    Server::start_with(opts, echo)
}

fn url_with_password(port: u16) -> String {
    format!("ws://u:S3CRET-URLPW@127.0.0.1:{port}/?access_token=S3CRET-QUERY&room=1")
}

fn credential_args(url: &str) -> Vec<String> {
    [
        url,
        "--auth",
        "user:S3CRET-PW",
        "-H",
        "Authorization: Bearer S3CRET-TOKEN",
        "-H",
        "Cookie: sid=S3CRET-COOKIE",
        "-H",
        "X-Api-Key: S3CRET-APIKEY",
        "-H",
        "X-Auth-Token: S3CRET-AUTHTOKEN",
        "-s",
        "chat",
        "-s",
        "base64url.bearer.authorization.k8s.io.S3CRET-K8S",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Runs wsprobe with all the credentials plus `extra`, recording to a file;
/// asserts that no secret appears in stdout, stderr or the record.
#[track_caller]
fn run_redacted_with_credentials(url: &str, extra: &[&str]) -> Run {
    let mut args = credential_args(url);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    run_redacted(&args, &[], &secret_forms())
}

#[test]
fn secrets_are_redacted_in_verbose_output() {
    let srv = secret_server();
    let url = url_with_password(srv.port());
    let r = run_redacted_with_credentials(&url, &["-v", "-x", "hi"]);
    r.code(0).stdout("hi\n");
    let err = r.stderr_str();
    has_header(&err, "> ", "Authorization", "<redacted>");
    has_header(&err, "> ", "Cookie", "<redacted>");
    has_header(&err, "< ", "Set-Cookie", "<redacted>");
    // The server did receive the credentials.
    let obs = srv.next();
    assert_eq!(obs.header("authorization"), Some("Bearer S3CRET-TOKEN"));
    assert_eq!(obs.header("cookie"), Some("sid=S3CRET-COOKIE"));
}

#[test]
fn secrets_are_redacted_in_the_frame_trace() {
    let srv = secret_server();
    let url = url_with_password(srv.port());
    let r = run_redacted_with_credentials(&url, &["-vv", "-x", "hi"]);
    r.code(0).stdout("hi\n");
    assert!(!lines_with(&r.stderr_str(), ">> frame").is_empty(), "{r}");
}

#[test]
fn secrets_are_redacted_in_jsonl() {
    let srv = secret_server();
    let url = url_with_password(srv.port());
    let r = run_redacted_with_credentials(&url, &["--jsonl", "-x", "hi"]);
    r.code(0);
    let events = parse_jsonl(&r.stdout);
    assert_eq!(events[0]["headers"]["set-cookie"], "<redacted>");
    assert_eq!(events[0]["headers"]["x-test"], "42");
    assert_eq!(
        events[0]["url"],
        format!(
            "ws://127.0.0.1:{}/?access_token=<redacted>&room=1",
            srv.port()
        )
    );
}

#[test]
fn redact_adds_parameter_and_header_names() {
    let srv = secret_server();
    let url = format!("ws://127.0.0.1:{}/?room=S3CRET-ROOM", srv.port());
    let r = wsprobe(
        &[
            &url,
            "-H",
            "X-Tenant: S3CRET-TENANT",
            "--redact",
            "room",
            "--redact",
            "x-tenant",
            "-v",
            "--jsonl",
            "-x",
            "hi",
        ],
        "",
    );
    r.code(0);
    let secrets = ["S3CRET-ROOM".to_string(), "S3CRET-TENANT".to_string()];
    assert_no_secret("stdout", &r.stdout, &secrets);
    assert_no_secret("stderr", &r.stderr, &secrets);
    has_header(&r.stderr_str(), "> ", "X-Tenant", "<redacted>");
    let obs = srv.next();
    assert_eq!(obs.header("x-tenant"), Some("S3CRET-TENANT"));
}

#[test]
fn show_secrets_reveals_query_parameters_and_subprotocol_tokens() {
    let srv = secret_server();
    let url = url_with_password(srv.port());
    let mut args = credential_args(&url);
    args.extend(["-v", "--jsonl", "--show-secrets", "-x", "hi"].map(String::from));
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let r = wsprobe(&args, "");
    r.code(0);
    let events = parse_jsonl(&r.stdout);
    assert_eq!(
        events[0]["url"],
        format!(
            "ws://127.0.0.1:{}/?access_token=S3CRET-QUERY&room=1",
            srv.port()
        )
    );
    let err = r.stderr_str();
    has_header(&err, "> ", "X-Api-Key", "S3CRET-APIKEY");
    assert!(err.contains("k8s.io.S3CRET-K8S"), "{err}");
}

#[test]
fn secrets_are_redacted_when_the_upgrade_is_rejected() {
    // A careless server echoes what it was sent, in its body and a Location.
    let body = "forbidden: token S3CRET-TOKEN, key S3CRET-APIKEY, query S3CRET-QUERY, \
                k8s S3CRET-K8S, password S3CRET-URLPW";
    let raw = RawServer::reply(format!(
        "HTTP/1.1 403 Forbidden\r\nSet-Cookie: S3CRET-SETCOOKIE\r\n\
         Location: /login?next=/&session=S3CRET-COOKIE&echo=S3CRET-AUTHTOKEN\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let url = url_with_password(raw.port());
    for extra in [&["-v", "-x", "hi"][..], &["-vv", "--jsonl", "-x", "hi"][..]] {
        let r = run_redacted_with_credentials(&url, extra);
        r.code(5).stderr_contains("403");
        let req = raw.next();
        assert_eq!(
            req.header("authorization"),
            Some("Bearer S3CRET-TOKEN"),
            "{req:?}"
        );
    }
}

/// A REPL run (stdin and stdout a terminal, by `script`) whose upgrade is
/// rejected records the rejection and the error, as pipe mode does.
#[test]
fn a_rejection_before_the_repl_starts_is_recorded() {
    let body = "no entry for S3CRET-QUERY";
    let raw = RawServer::reply(format!(
        "HTTP/1.1 403 Forbidden\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let dir = test_tempdir();
    let record = dir.path().join("repl.jsonl");
    let url = format!("{}?access_token=S3CRET-QUERY", raw.url());
    let command = format!(
        "script -qec \"wsprobe '{url}' --record '{}' --no-history --color never\" /dev/null",
        record.display()
    );
    let run = Wsprobe::shell(&command).stdin_from(Stdin::Null).run();
    run.code(5);
    let out = run.stdout_str();
    assert!(out.contains("HTTP 403 Forbidden"), "{out}");
    assert!(!out.contains("S3CRET"), "{out}");
    let recorded = std::fs::read_to_string(&record).expect("the record file");
    assert!(!recorded.contains("S3CRET"), "{recorded}");
    let events = parse_jsonl(recorded.as_bytes());
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["rejected", "error"], "{recorded}");
    assert_eq!(events[0]["status"], 403);
    assert_eq!(events[0]["body"], "no entry for <redacted>");
    assert_eq!(events[1]["exit_code"], 5);
}

#[test]
fn secrets_are_redacted_when_the_connection_fails() {
    let url = url_with_password(closed_port());
    let r = run_redacted_with_credentials(&url, &["-v", "--jsonl", "-x", "hi"]);
    r.code(3);
}

#[test]
fn secrets_are_redacted_when_the_server_closes_with_an_error() {
    let opts = server_with_headers(
        &[("Set-Cookie", "S3CRET-SETCOOKIE")],
        Subprotocol::FirstOffered,
    );
    let srv = Server::start_with(opts, push_then_close(&["x"], 4003, "not allowed"));
    let url = url_with_password(srv.port());
    let r = run_redacted_with_credentials(&url, &["-vv", "-w", "forever"]);
    r.code(7).stdout("x\n").stderr_contains("4003");
}

#[test]
fn malformed_auth_does_not_echo_the_secret() {
    let url = format!("ws://127.0.0.1:{}/", closed_port());
    let r = wsprobe(&[&url, "--auth", "S3CRET-PW-no-colon"], "");
    r.code(2).stdout("");
    assert_no_secret("stderr", &r.stderr, &secret_forms());
}

#[test]
fn show_secrets_reveals_them_in_verbose_output() {
    let srv = secret_server();
    let url = url_with_password(srv.port());
    let mut args = credential_args(&url);
    args.extend(["-v", "--show-secrets", "-x", "hi"].map(String::from));
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let r = wsprobe(&args, "");
    r.code(0).stdout("hi\n");
    let err = r.stderr_str();
    // -H Authorization replaces --auth and the URL's credentials.
    has_header(&err, "> ", "Authorization", "Bearer S3CRET-TOKEN");
    has_header(&err, "> ", "Cookie", "sid=S3CRET-COOKIE");
    has_header(&err, "< ", "Set-Cookie", "S3CRET-SETCOOKIE");
    assert_eq!(
        srv.next().header("authorization"),
        Some("Bearer S3CRET-TOKEN")
    );
}

#[test]
fn show_secrets_reveals_auth_and_url_credentials() {
    let srv = secret_server();
    let port = srv.port();
    // --auth alone.
    let url = format!("ws://127.0.0.1:{port}/");
    let r = wsprobe(
        &[
            &url,
            "--auth",
            "user:S3CRET-PW",
            "-v",
            "--show-secrets",
            "-x",
            "hi",
        ],
        "",
    );
    r.code(0);
    has_header(
        &r.stderr_str(),
        "> ",
        "Authorization",
        &format!("Basic {}", b64(b"user:S3CRET-PW")),
    );
    srv.next();
    // URL userinfo alone.
    let url = url_with_password(port);
    let r = wsprobe(&[&url, "-v", "--show-secrets", "-x", "hi"], "");
    r.code(0);
    has_header(
        &r.stderr_str(),
        "> ",
        "Authorization",
        &format!("Basic {}", b64(b"u:S3CRET-URLPW")),
    );
    // ... and without --show-secrets, neither.
    let r = wsprobe(&[&url, "-v", "-x", "hi"], "");
    r.code(0);
    assert_no_secret("stderr", &r.stderr, &secret_forms());
    has_header(&r.stderr_str(), "> ", "Authorization", "<redacted>");
}

#[test]
fn show_secrets_applies_to_jsonl_headers() {
    let srv = secret_server();
    let r = wsprobe(&[&srv.url(), "--jsonl", "--show-secrets", "-x", "hi"], "");
    r.code(0);
    let events = parse_jsonl(&r.stdout);
    assert_eq!(events[0]["headers"]["set-cookie"], "S3CRET-SETCOOKIE");
}
