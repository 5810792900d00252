//! Scripted reactions (issue 13): `--expect-jq`, `--jq`, `--fail-on`,
//! `--fail-on-jq` (exit 8) and `--reply`, against the in-process server and the
//! independent Python peer, pass and fail paths with exact exit codes and
//! elapsed bounds.

use std::time::{Duration, Instant};

use crate::support::*;

/// Sends `texts` at once, then keeps reading (never closes by itself).
fn push_then_drain(texts: &'static [&'static str]) -> impl Fn(&mut Conn) + Send + Sync {
    move |c: &mut Conn| {
        for t in texts {
            c.send_text(t);
        }
        c.drain();
    }
}

const SECS_5: Duration = Duration::from_secs(5);

#[test]
fn expect_jq_passes_on_the_python_peer() {
    let peer = PeerServer::start(&["echo"]);
    wsprobe(
        &[
            &peer.url,
            "-x",
            r#"{"type":"ack","id":7}"#,
            "--expect-jq",
            r#".type == "ack" and .id > 5"#,
            "--timeout",
            "5s",
        ],
        "",
    )
    .code(0)
    .stdout("{\"type\":\"ack\",\"id\":7}\n")
    .finished_within(SECS_5);
}

#[test]
fn expect_and_expect_jq_match_in_command_line_order() {
    let srv = Server::start(push_then_drain(&[r#"{"n":1}"#, "hello", r#"{"n":2}"#]));
    // --expect-jq first, then --expect: {"n":1} then hello.
    wsprobe(
        &[
            &srv.url(),
            "--expect-jq",
            ".n == 1",
            "--expect",
            "hel+o",
            "--timeout",
            "5s",
        ],
        "",
    )
    .code(0)
    .stdout("{\"n\":1}\nhello\n")
    .finished_within(SECS_5);
    // The other order can never be met: hello comes before {"n":2}… which is
    // matched, but the regex needs a later message.
    let srv = Server::start(push_then_drain(&[r#"{"n":1}"#, "hello"]));
    let started = Instant::now();
    wsprobe(
        &[
            &srv.url(),
            "--expect",
            "hello",
            "--expect-jq",
            ".n == 1",
            "--timeout",
            "1s",
        ],
        "",
    )
    .code(6)
    .stderr_contains("--expect-jq '.n == 1' (1 of 2 patterns matched)");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn expect_jq_never_matches_non_json() {
    let srv = Server::start(push_then_drain(&["true", "not json {"]));
    wsprobe(
        &[
            &srv.url(),
            "--expect-jq",
            ". == false",
            "--timeout",
            "700ms",
        ],
        "",
    )
    .code(6)
    .took_between(Duration::from_millis(600), Duration::from_secs(3));
}

#[test]
fn a_filter_that_does_not_parse_is_exit_2_naming_the_column() {
    for flag in ["--expect-jq", "--jq", "--fail-on-jq"] {
        wsprobe(&["ws://127.0.0.1:9", flag, ".a | | .b"], "")
            .code(2)
            .stderr_contains("column 6")
            .no_panic()
            .finished_within(SECS_5);
    }
    wsprobe(&["ws://127.0.0.1:9", "--jq", "nosuchfunction(1)"], "")
        .code(2)
        .stderr_contains("undefined filter 'nosuchfunction'");
}

#[test]
fn jq_prints_only_the_filters_outputs() {
    let srv = Server::start(push_then_drain(&[
        r#"{"items":[{"id":1},{"id":"b"}]}"#,
        "plain text",
        r#"{"items":[]}"#,
    ]));
    wsprobe(
        &[
            &srv.url(),
            "--jq",
            ".items[].id",
            "--count",
            "3",
            "--timeout",
            "5s",
        ],
        "",
    )
    .code(0)
    .stdout("1\n\"b\"\nplain text\n")
    .finished_within(SECS_5);
}

#[test]
fn fail_on_ends_the_run_with_exit_8_at_the_first_match() {
    let srv = Server::start(push_then_drain(&["ok 1", "ERROR: boom", "ok 2"]));
    let r = wsprobe(
        &[
            &srv.url(),
            "--fail-on",
            "^ERROR",
            "--wait",
            "10s",
            "--timeout",
            "10s",
        ],
        "",
    );
    r.code(8)
        .stdout("ok 1\nERROR: boom\n")
        .stderr_contains("matched --fail-on '^ERROR'")
        .one_error_line()
        .finished_within(SECS_5);
    assert_eq!(srv.next().close, Some((1000, String::new())));
}

#[test]
fn fail_on_jq_ends_the_run_with_exit_8_and_jsonl_records_it() {
    let srv = Server::start(push_then_drain(&[
        r#"{"type":"event"}"#,
        r#"{"type":"error","msg":"x"}"#,
    ]));
    let r = wsprobe(
        &[
            &srv.url(),
            "--fail-on-jq",
            r#".type == "error""#,
            "--expect",
            "never",
            "--timeout",
            "10s",
            "--jsonl",
        ],
        "",
    );
    r.code(8).finished_within(SECS_5);
    assert!(
        r.stdout_str().contains(r#""exit_code":8"#) || r.stdout_str().contains("fail-on"),
        "{}",
        r.stdout_str()
    );
}

#[test]
fn fail_on_not_matched_leaves_the_goal_in_charge() {
    let srv = Server::start(push_then_drain(&["ok 1", "done"]));
    wsprobe(
        &[
            &srv.url(),
            "--fail-on",
            "ERROR",
            "--expect",
            "done",
            "--timeout",
            "5s",
        ],
        "",
    )
    .code(0)
    .stdout("ok 1\ndone\n")
    .finished_within(SECS_5);
}

/// A server that sends `2` (a Socket.IO-style heartbeat) and requires `3` within
/// 1 s; it then says `alive`, or closes with 4000.
fn heartbeat(c: &mut Conn) {
    let sent = Instant::now();
    c.set_read_timeout(Some(Duration::from_secs(1)));
    c.send_text("2");
    match c.recv() {
        Some(Msg::Text(t)) if t == "3" && sent.elapsed() < Duration::from_secs(1) => {
            c.set_read_timeout(None);
            c.send_text("alive");
            c.drain();
        }
        _ => c.close(4000, "heartbeat missed"),
    }
}

#[test]
fn reply_answers_a_heartbeat_within_a_second() {
    let srv = Server::start(heartbeat);
    wsprobe(
        &[
            &srv.url(),
            "--reply",
            "^2$",
            "3",
            "--expect",
            "alive",
            "--timeout",
            "5s",
            "-v",
        ],
        "",
    )
    .code(0)
    .stdout("2\nalive\n")
    .finished_within(Duration::from_secs(3));
    assert_eq!(srv.next().texts(), ["3"]);
}

#[test]
fn without_reply_the_heartbeat_server_closes() {
    let srv = Server::start(heartbeat);
    wsprobe(&[&srv.url(), "--expect", "alive", "--timeout", "5s"], "")
        .code(6)
        .stderr_contains("4000 heartbeat missed")
        .took_between(Duration::from_millis(900), Duration::from_secs(4));
}

#[test]
fn reply_expands_capture_groups_and_the_first_rule_wins() {
    let srv = Server::start(|c: &mut Conn| {
        c.send_text("ping 42 from alice");
        c.send_text("other");
        c.recv_until(|o| o.texts().len() >= 2);
        c.send_text("done");
        c.drain();
    });
    wsprobe(
        &[
            &srv.url(),
            "--reply",
            r"^ping (\d+) from (?P<who>\w+)$",
            "pong $1 to ${who}",
            "--reply",
            "^ping",
            "never used",
            "--reply",
            "other",
            "-other",
            "--expect",
            "done",
            "--timeout",
            "5s",
        ],
        "",
    )
    .code(0)
    .finished_within(SECS_5);
    assert_eq!(srv.next().texts(), ["pong 42 to alice", "-other"]);
}

#[test]
fn reply_with_an_invalid_regex_is_exit_2() {
    wsprobe(&["ws://127.0.0.1:9", "--reply", "(", "x"], "")
        .code(2)
        .one_error_line()
        .stderr_contains("--reply '('")
        .finished_within(SECS_5);
}

#[test]
fn reply_to_a_flooding_peer_keeps_memory_bounded() {
    // The peer floods `2` without reading: replies must not pile up in memory.
    let srv = Server::start(|c: &mut Conn| {
        c.flood(
            |i| (i < 400_000).then(|| tungstenite::Message::text("2")),
            Some(1000),
        );
    });
    let r = Wsprobe::new(&[
        &srv.url(),
        "--reply",
        "^2$",
        "3",
        "--wait",
        "forever",
        "--timeout",
        "20s",
        "-q",
    ])
    .measure_memory()
    .time_limit(Duration::from_secs(30))
    .run();
    r.code(0)
        .no_panic()
        .finished_within(Duration::from_secs(20));
    assert_eq!(r.stdout_str().len(), 800_000, "every message shown");
    let rss = r.peak_rss_kb.expect("VmHWM of wsprobe from /proc");
    assert!(rss < 64 * 1024, "peak RSS {rss} KiB");
}

#[test]
fn reply_works_as_a_canned_server_in_listen_mode() {
    use tungstenite::Message;
    let mut live = Wsprobe::new(&[
        "--listen",
        "127.0.0.1:0",
        "--reply",
        r"^hello (?P<who>\w+)$",
        "hi ${who}",
        "--expect",
        "bye",
        "--timeout",
        "10s",
    ])
    .stdin_from(Stdin::Null)
    .spawn();
    let url = live.listening_url();
    let mut ws = ws_client(&url, None);
    ws.send(Message::text("hello bob")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("hi bob"));
    ws.send(Message::text("bye")).unwrap();
    let (rest, code) = read_to_end(&mut ws);
    assert!(rest.is_empty(), "{rest:?}");
    assert_eq!(code, Some(1000));
    live.wait(SECS_5).code(0).stdout("hello bob\nbye\n");
}
