//! `-L/--location` and `--max-redirs` (issue 12, part): raw servers answer the
//! upgrade with 3xx, then a real server (or the raw one) upgrades; credentials
//! go only to the original scheme, host and port.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::support::*;

const SECS_5: Duration = Duration::from_secs(5);

/// A raw server routing on the request path: a path in `redirects` is answered
/// with that status and Location; any other path is upgraded and closed
/// normally (1000), so that a run with nothing to send ends with exit 0.
fn router(redirects: &'static [(&'static str, u16, &'static str)]) -> RawServer {
    RawServer::start(move |mut s: TcpStream| {
        let req = read_request(&mut s).unwrap_or_default();
        let path = req.request_line.split(' ').nth(1).unwrap_or("").to_string();
        match redirects.iter().find(|(p, _, _)| *p == path) {
            Some((_, status, location)) => {
                answer_and_hold(&mut s, redirect_head(*status, location).as_bytes());
            }
            None => {
                let mut answer = switching_protocols(&req).into_bytes();
                answer.extend(unmasked_frame(0x8, &1000u16.to_be_bytes()));
                let _ = s.write_all(&answer);
                let _ = s.flush();
                hold_silently(&mut s);
            }
        }
        req
    })
}

fn path_of(req: &RawRequest) -> &str {
    req.request_line.split(' ').nth(1).unwrap_or("")
}

/// `HTTP/1.1 302 Found` and its Location, as a server sends a redirect.
fn redirect_head(status: u16, location: &str) -> String {
    let reason = match status {
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        _ => "Permanent Redirect",
    };
    format!("HTTP/1.1 {status} {reason}\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n")
}

/// A raw server answering every upgrade with `status` and `location`.
fn redirecting(status: u16, location: &str) -> RawServer {
    RawServer::reply(redirect_head(status, location))
}

#[test]
fn each_redirect_status_is_followed_to_a_real_server() {
    for status in [301, 302, 303, 307, 308] {
        let srv = Server::start(echo);
        let raw = redirecting(status, &srv.url_path("/final?room=1"));
        wsprobe(&[&raw.url(), "-L", "-x", "hi"], "")
            .code(0)
            .stdout("hi\n")
            .finished_within(SECS_5);
        let seen = srv.next();
        assert_eq!(seen.path, "/final?room=1", "{status}");
        assert_eq!(seen.texts(), ["hi"]);
    }
}

#[test]
fn without_location_flag_the_error_names_the_location_and_suggests_it() {
    let raw = redirecting(302, "/next");
    let run = wsprobe(&[&raw.url(), "-x", "hi"], "");
    run.code(5).finished_within(SECS_5);
    run.stderr_contains(&format!(
        "server answered HTTP 302 Found, redirecting to ws://127.0.0.1:{}/next; use -L to follow",
        raw.port()
    ));
    // --max-redirs alone is allowed, as in curl, and changes nothing.
    let run = wsprobe(&[&raw.url(), "--max-redirs", "3", "-x", "hi"], "");
    run.code(5).stderr_contains("use -L to follow");
}

#[test]
fn a_relative_same_origin_hop_keeps_the_credentials() {
    let raw = router(&[("/a", 307, "b?x=1")]);
    let url = format!("ws://127.0.0.1:{}/a", raw.port());
    let run = wsprobe(
        &[
            &url,
            "-L",
            "-H",
            "Cookie: session=c00kie",
            "--auth",
            "user:pa55",
        ],
        "",
    );
    run.code(0).finished_within(SECS_5);
    let first = raw.next();
    let second = raw.next();
    assert_eq!(path_of(&first), "/a");
    assert_eq!(path_of(&second), "/b?x=1");
    assert_eq!(second.header("cookie"), Some("session=c00kie"));
    assert!(second.header("authorization").is_some(), "{second:?}");
    assert_eq!(
        second.header("authorization"),
        first.header("authorization")
    );
}

#[test]
fn a_hop_to_another_port_gets_no_credentials() {
    let srv = Server::start(echo);
    let raw = redirecting(302, &srv.url_path("/ws"));
    let run = wsprobe(
        &[
            &raw.url(),
            "-L",
            "-v",
            "-H",
            "Authorization: Bearer T0KEN",
            "-H",
            "Cookie: a=1",
            "-x",
            "hi",
        ],
        "",
    );
    run.code(0).stdout("hi\n").finished_within(SECS_5);
    assert_eq!(raw.next().header("authorization"), Some("Bearer T0KEN"));
    let seen = srv.next();
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(seen.header("cookie"), None);
    run.stderr_contains(&format!(
        "* 302 Found → ws://127.0.0.1:{}/ws (redirect 1 of 10)",
        srv.port()
    ));
    run.stderr_contains("not sending Authorization or Cookie on");
    run.stderr_lacks("T0KEN");
}

#[test]
fn a_loop_is_an_error_naming_it() {
    let raw = router(&[("/a", 302, "/b"), ("/b", 301, "/a")]);
    let url = format!("ws://127.0.0.1:{}/a", raw.port());
    let run = wsprobe(&[&url, "-L"], "");
    run.code(5).one_error_line().finished_within(SECS_5);
    let p = raw.port();
    run.stderr_contains(&format!(
        "redirect loop: ws://127.0.0.1:{p}/a → ws://127.0.0.1:{p}/b → ws://127.0.0.1:{p}/a"
    ));
}

#[test]
fn max_redirs_is_a_limit_naming_itself() {
    let raw = router(&[("/1", 302, "/2"), ("/2", 302, "/3")]);
    let url = format!("ws://127.0.0.1:{}/1", raw.port());
    let run = wsprobe(&[&url, "-L", "--max-redirs", "1"], "");
    run.code(5).one_error_line().finished_within(SECS_5);
    run.stderr_contains("too many redirects")
        .stderr_contains("--max-redirs 1");
    // One more allowed: /3 upgrades.
    wsprobe(&[&url, "-L", "--max-redirs", "2"], "")
        .code(0)
        .finished_within(SECS_5);
}

#[test]
fn jsonl_records_each_hop() {
    let raw = router(&[("/a", 302, "/b"), ("/b", 308, "/c")]);
    let url = format!("ws://127.0.0.1:{}/a", raw.port());
    let run = wsprobe(&[&url, "-L", "--jsonl", "--max-redirs", "5"], "");
    run.code(0).finished_within(SECS_5);
    check_machine_output(&run);
    let events = parse_jsonl(&run.stdout);
    let hops: Vec<_> = events.iter().filter(|e| e["type"] == "redirect").collect();
    assert_eq!(hops.len(), 2, "{run}");
    let p = raw.port();
    assert_eq!(hops[0]["status"], 302);
    assert_eq!(hops[0]["hop"], 1);
    assert_eq!(hops[0]["max"], 5);
    assert_eq!(hops[0]["location"], format!("ws://127.0.0.1:{p}/b"));
    assert_eq!(hops[1]["status"], 308);
    assert_eq!(hops[1]["hop"], 2);
    assert_eq!(events[2]["type"], "open", "{run}");
    assert_eq!(events[2]["url"], format!("ws://127.0.0.1:{p}/c"));
}

#[test]
fn secrets_in_hop_urls_are_redacted() {
    let srv = Server::start(echo);
    let location = srv.url_path("/ws?token=S3CRET");
    let raw = redirecting(302, &location);
    let run = wsprobe(&[&raw.url(), "-L", "-v", "--jsonl", "-x", "hi"], "");
    run.code(0).finished_within(SECS_5);
    assert_eq!(srv.next().path, "/ws?token=S3CRET");
    run.stderr_lacks("S3CRET");
    assert!(!run.stdout_str().contains("S3CRET"), "{run}");
}

#[test]
fn an_https_location_leads_to_wss() {
    let srv = tls_echo_server(&pki().localhost);
    let raw = redirecting(301, &format!("https://localhost:{}/secure", srv.port()));
    wsprobe(&[&raw.url(), "-L", "--cacert", ca(), "-x", "hi"], "")
        .code(0)
        .stdout("hi\n")
        .finished_within(SECS_5);
    assert_eq!(srv.next().path, "/secure");
}

#[test]
fn each_hop_has_its_connect_timeout_under_the_runs_timeout() {
    // The hop goes to a server that accepts and never answers.
    let silent = RawServer::silent();
    let raw = redirecting(302, &silent.url());
    let run = wsprobe(
        &[&raw.url(), "-L", "--connect-timeout", "300ms", "-x", "hi"],
        "",
    );
    run.code(3).finished_within(Duration::from_secs(3));
    assert!(run.elapsed >= Duration::from_millis(300), "{run}");
}
