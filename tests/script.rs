//! Conversation scripts (`--script FILE`, issue 13): every step kind against
//! the in-process server and the Python peer (what the server observed: the
//! messages, the ping, the close code and reason), failing steps (exit 6 naming
//! the line, bounded by `within`, not `--timeout`), `--timeout` cutting a long
//! `wait`, parse errors (exit 2 naming FILE:LINE, before connecting), `-x`
//! before the script, greeting, flooding and silent peers, and `--reconnect`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::*;
use tungstenite::Message;

const SECS_5: Duration = Duration::from_secs(5);

/// Writes `script` as `chat.ws` (and any `files`) in a fresh directory.
fn script_file(script: &str, files: &[(&str, &[u8])]) -> (tempfile::TempDir, String) {
    let dir = test_tempdir();
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    let path: PathBuf = dir.path().join("chat.ws");
    std::fs::write(&path, script).unwrap();
    let path = path.to_string_lossy().into_owned();
    (dir, path)
}

/// Echoes data messages with blocking reads, which record pings and the
/// client's Close (the non-blocking `Conn::echo` does not record pings).
fn recording_echo(c: &mut Conn) {
    while let Some(m) = c.recv() {
        let reply = match m {
            Msg::Text(t) => Message::text(t),
            Msg::Binary(b) => Message::binary(b),
        };
        if !c.send(reply) {
            break;
        }
    }
}

const EVERY_STEP: &str = "\
# every step kind, in order
send hello\\tworld
expect ^hello\\tworld$
send-binary 68 69
expect ^hi$ within 2s
send-file payload.json
  expect-jq .n == 42 within 2s
ping probe
wait 150ms

close 4001 all done
";

#[test]
fn every_step_kind_runs_in_order() {
    let srv = Server::start(recording_echo);
    let (_dir, script) = script_file(EVERY_STEP, &[("payload.json", br#"{"n":42}"#)]);
    wsprobe(&[&srv.url(), "--script", &script, "--timeout", "10s"], "")
        .code(0)
        .stdout("hello\tworld\nbase64:aGk=\n{\"n\":42}\n")
        .stderr_empty()
        .took_between(Duration::from_millis(150), SECS_5);
    let seen = srv.next();
    assert_eq!(
        seen.messages,
        [
            Msg::Text("hello\tworld".into()),
            Msg::Binary(b"hi".to_vec()),
            Msg::Text(r#"{"n":42}"#.into()),
        ]
    );
    let pings: Vec<&[u8]> = seen.pings.iter().map(|(_, p)| &p[..]).collect();
    assert_eq!(pings, [&b"probe"[..]]);
    assert_eq!(seen.close, Some((4001, "all done".to_string())));
}

#[test]
fn every_step_kind_against_the_python_peer() {
    let peer = PeerServer::start(&["echo"]);
    let (_dir, script) = script_file(EVERY_STEP, &[("payload.json", br#"{"n":42}"#)]);
    wsprobe(&[&peer.url, "--script", &script, "--timeout", "10s"], "")
        .code(0)
        .stdout("hello\tworld\nbase64:aGk=\n{\"n\":42}\n")
        .finished_within(SECS_5);
    let events = peer.events_until_closed();
    assert_eq!(
        events[1..],
        [
            peer_text("hello\tworld"),
            r#"{"event": "message", "type": "binary", "data": "aGk="}"#.to_string(),
            peer_text(r#"{"n":42}"#),
            peer_closed(4001, "all done"),
        ]
    );
}

#[test]
fn a_step_not_met_within_its_bound_exits_6_naming_its_line() {
    let srv = Server::start(recording_echo);
    let (_dir, script) = script_file(
        "send hi\nexpect ^hi$\n# the server never says this\nexpect ^ack within 300ms\nsend never\n",
        &[],
    );
    wsprobe(&[&srv.url(), "--script", &script, "--timeout", "30s"], "")
        .code(6)
        .stdout("hi\n")
        .stderr_contains("wsprobe: script line 4 not met within 300ms: expect ^ack")
        .one_error_line()
        // `within` ended it, not --timeout.
        .took_between(Duration::from_millis(300), Duration::from_secs(3));
    let seen = srv.next();
    assert_eq!(
        seen.texts(),
        ["hi"],
        "the steps after the failed one do not run"
    );
    assert_eq!(seen.close_code(), 1000);
}

#[test]
fn timeout_cuts_a_long_wait() {
    let srv = Server::start(recording_echo);
    let (_dir, script) = script_file("send a\nwait 1m\nsend b\n", &[]);
    wsprobe(&[&srv.url(), "--script", &script, "--timeout", "500ms"], "")
        .code(6)
        .stderr_contains("timed out (--timeout 500ms): script stopped at line 2: wait 1m")
        .one_error_line()
        .took_between(Duration::from_millis(500), Duration::from_secs(3));
    assert_eq!(srv.next().texts(), ["a"]);
}

#[test]
fn timeout_bounds_an_expect_without_within() {
    // A silent peer: it upgrades, then never says anything.
    let srv = Server::start(|c: &mut Conn| c.drain());
    let (_dir, script) = script_file("expect-jq .ready\n", &[]);
    wsprobe(&[&srv.url(), "--script", &script, "--timeout", "400ms"], "")
        .code(6)
        .stderr_contains("timed out (--timeout 400ms): script line 1 not met: expect-jq .ready")
        .took_between(Duration::from_millis(400), Duration::from_secs(3));
}

#[test]
fn parse_errors_are_usage_errors_naming_file_and_line() {
    let cases: &[(&str, &str)] = &[
        ("send a\n\nsned b\n", "chat.ws:3: unknown step 'sned'"),
        ("send-binary 0g\n", "chat.ws:1: '0g' is not hex bytes"),
        ("# x\nexpect (\n", "chat.ws:2: invalid regular expression"),
        (
            "expect-jq .a ==\n",
            "chat.ws:1: invalid jq filter at column",
        ),
        (
            "wait 3 fortnights\n",
            "chat.ws:1: '3 fortnights' is not a duration",
        ),
        (
            "expect x within soon\n",
            "chat.ws:1: 'soon' is not a duration",
        ),
        ("send-file nope.txt\n", "chat.ws:1: cannot read '"),
        (
            "close 999\n",
            "chat.ws:1: 999 cannot be sent as a close code",
        ),
        ("send a\\z\n", "chat.ws:1: unknown escape '\\z'"),
        (
            "close\nsend x\n",
            "chat.ws:2: nothing can follow the 'close' step of line 1",
        ),
    ];
    // Nothing listens there: a run that tried to connect would exit 3.
    let url = closed_url();
    for (text, message) in cases {
        let (_dir, script) = script_file(text, &[]);
        wsprobe(&[&url, "--script", &script], "")
            .code(2)
            .stderr_contains(message)
            .one_error_line()
            .no_panic()
            .finished_within(Duration::from_secs(2));
    }
    wsprobe(&[&url, "--script", "/nonexistent/chat.ws"], "")
        .code(2)
        .stderr_contains("cannot read '/nonexistent/chat.ws' (--script)")
        .one_error_line()
        .finished_within(Duration::from_secs(2));
}

#[test]
fn execute_messages_are_sent_before_the_script() {
    let peer = PeerServer::start(&["echo"]);
    let (_dir, script) = script_file("send third\nexpect ^third$\n", &[]);
    wsprobe(
        &[
            &peer.url,
            "-x",
            "first",
            "-x",
            "second",
            "--script",
            &script,
            "--timeout",
            "10s",
        ],
        "",
    )
    .code(0)
    .stdout("first\nsecond\nthird\n")
    .finished_within(SECS_5);
    let events = peer.events_until_closed();
    assert_eq!(
        events[1..],
        [
            peer_text("first"),
            peer_text("second"),
            peer_text("third"),
            peer_closed(1000, ""),
        ]
    );
}

#[test]
fn the_script_is_read_from_stdin_with_a_dash_and_stdin_is_not_sent() {
    let srv = Server::start(recording_echo);
    wsprobe(
        &[
            &srv.url(),
            "--script",
            "-",
            "--close-code",
            "4000",
            "--timeout",
            "10s",
        ],
        "send from stdin\nexpect stdin\n",
    )
    .code(0)
    .stdout("from stdin\n")
    .finished_within(SECS_5);
    let seen = srv.next();
    assert_eq!(seen.texts(), ["from stdin"]);
    assert_eq!(
        seen.close_code(),
        4000,
        "the end of the script closes like a met goal"
    );
    // With a script file, stdin is not an input.
    let srv = Server::start(recording_echo);
    let (_dir, script) = script_file("send only this\nexpect only\n", &[]);
    wsprobe(
        &[&srv.url(), "--script", &script, "--timeout", "10s"],
        "not sent\n",
    )
    .code(0)
    .stdout("only this\n");
    assert_eq!(srv.next().texts(), ["only this"]);
}

#[test]
fn a_greeting_sent_at_once_meets_the_first_expect() {
    let srv = Server::start(|c: &mut Conn| {
        c.send_text("welcome");
        recording_echo(c);
    });
    let (_dir, script) = script_file(
        "expect ^welcome$ within 2s\nsend thanks\nexpect thanks\n",
        &[],
    );
    wsprobe(&[&srv.url(), "--script", &script, "--timeout", "10s"], "")
        .code(0)
        .stdout("welcome\nthanks\n")
        .finished_within(SECS_5);
    assert_eq!(srv.next().texts(), ["thanks"]);
}

#[test]
fn messages_before_an_expect_step_are_shown_but_not_matched() {
    let srv = Server::start(|c: &mut Conn| {
        c.send_text("early");
        c.drain();
    });
    let (_dir, script) = script_file("wait 200ms\nexpect early within 300ms\n", &[]);
    wsprobe(&[&srv.url(), "--script", &script, "--timeout", "10s"], "")
        .code(6)
        .stdout("early\n")
        .stderr_contains("script line 2 not met within 300ms: expect early")
        .took_between(Duration::from_millis(500), Duration::from_secs(4));
}

#[test]
fn an_expect_finds_its_message_in_a_flood() {
    const NOISE: u64 = 20_000;
    let srv = Server::start(|c: &mut Conn| {
        c.set_record(false);
        c.flood(
            |i| match i {
                i if i < NOISE => Some(Message::text(format!("noise {i}"))),
                i if i == NOISE => Some(Message::text("needle")),
                _ => None,
            },
            None,
        );
    });
    let (_dir, script) = script_file("expect ^needle$ within 10s\nclose 4002 found\n", &[]);
    let run = wsprobe(&[&srv.url(), "--script", &script, "--timeout", "20s"], "");
    run.code(0).finished_within(Duration::from_secs(15));
    let out = run.stdout_str();
    assert_eq!(out.lines().count() as u64, NOISE + 1);
    assert!(
        out.ends_with("noise 19999\nneedle\n"),
        "{}",
        &out[out.len() - 40..]
    );
    assert_eq!(srv.next().close, Some((4002, "found".to_string())));
}

#[test]
fn the_peer_closing_before_the_script_is_done_exits_6() {
    let srv = Server::start(|c: &mut Conn| {
        c.recv();
        c.close(1000, "bye");
    });
    let (_dir, script) = script_file("send a\nexpect ^never$\n", &[]);
    wsprobe(&[&srv.url(), "--script", &script, "--timeout", "10s"], "")
        .code(6)
        .stderr_contains(
            "the server closed the connection (1000 bye) before the goal was met: script line 2 not met: expect ^never",
        )
        .finished_within(SECS_5);
}

#[test]
fn with_reconnect_the_script_runs_once_and_goes_on() {
    let opts = ServerOpts {
        max_connections: Some(2),
        ..Default::default()
    };
    let next = AtomicUsize::new(0);
    let srv = Server::start_with(opts, move |c: &mut Conn| {
        if next.fetch_add(1, Ordering::SeqCst) == 0 {
            // Echo the first message, then go away.
            if let Some(Msg::Text(t)) = c.recv() {
                c.send_text(&t);
            }
            c.close(1012, "restart");
        } else {
            c.send_text("reconnected");
            recording_echo(c);
        }
    });
    let (_dir, script) = script_file(
        "send one\nexpect ^one$\nexpect ^reconnected$\nsend two\nexpect ^two$\n",
        &[],
    );
    wsprobe(
        &[
            &srv.url(),
            "--script",
            &script,
            "--reconnect=3",
            "--timeout",
            "20s",
        ],
        "",
    )
    .code(0)
    .stdout("one\nreconnected\ntwo\n")
    .finished_within(Duration::from_secs(10));
    assert_eq!(srv.next().texts(), ["one"]);
    assert_eq!(
        srv.next().texts(),
        ["two"],
        "steps already run are not run again"
    );
}

#[test]
fn script_conflicts_with_echo_and_interactive() {
    for flag in ["--echo", "--exec=cat", "-i"] {
        wsprobe(&[&closed_url(), "--script", "x.ws", flag], "")
            .code(2)
            .stderr_contains("wsprobe: the argument '--script <FILE>' cannot be used with")
            .finished_within(Duration::from_secs(2));
    }
    wsprobe(&[&closed_url(), "--script", "-", "-x", "@-"], "send a\n")
        .code(2)
        .stderr_contains("--script - and -x @- both read stdin")
        .finished_within(Duration::from_secs(2));
}

#[test]
fn jsonl_shows_the_steps_as_sent_events() {
    let srv = Server::start(recording_echo);
    let (_dir, script) = script_file("send a\nexpect ^a$\nping p\nclose 4003\n", &[]);
    let run = wsprobe(
        &[
            &srv.url(),
            "--jsonl",
            "--script",
            &script,
            "--timeout",
            "10s",
        ],
        "",
    );
    run.code(0).finished_within(SECS_5);
    // Every line was checked against doc/jsonl.schema.json by the runner.
    let seen: Vec<(String, String)> = parse_jsonl(&run.stdout)
        .iter()
        .filter(|e| e.get("dir").is_some())
        .map(|e| {
            let kind = e["type"].as_str().unwrap_or("?").to_string();
            (e["dir"].as_str().unwrap_or("?").to_string(), kind)
        })
        .collect();
    let expected = [
        ("out", "text"),
        ("in", "text"),
        ("out", "ping"),
        ("out", "close"),
    ];
    for (dir, kind) in expected {
        assert!(
            seen.iter().any(|(d, k)| d == dir && k == kind),
            "no {dir} {kind} event in {seen:?}"
        );
    }
    assert_eq!(srv.next().close_code(), 4003);
}

#[test]
fn a_peer_that_drops_the_connection_mid_script_exits_6() {
    let srv = Server::start(|c: &mut Conn| {
        c.recv();
        c.shutdown();
    });
    let (_dir, script) = script_file("send a\nexpect ^a$ within 5s\n", &[]);
    wsprobe(&[&srv.url(), "--script", &script, "--timeout", "10s"], "")
        .code(6)
        .stderr_contains("before the goal was met: script line 2 not met: expect ^a$")
        .finished_within(Duration::from_secs(3));
}
