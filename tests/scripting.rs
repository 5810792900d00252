//! Scripting and CI (issue 4): `-x` (literal, `@file`, `@-`, `@@`), the ending
//! flags (`--expect`, `--count`, `--wait`, `--timeout`, `--close-code`,
//! `--close-reason`), `--jsonl` checked field by field, `--timestamps`, `-q`
//! and `--echo`, against the scripted in-process server and the independent
//! Python peer.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use crate::support::*;
use regex::Regex;
use serde_json::{json, Value};
use tungstenite::Message;

/// A server that answers the first message with `reply to <msg>`.
fn reply_once(c: &mut Conn) {
    if let Some(Msg::Text(t)) = c.recv() {
        c.send_text(&format!("reply to {t}"));
    }
    c.drain();
}

/// After the first message from the client, sends `texts` and keeps reading
/// (never closes by itself).
fn after_first_send(texts: &'static [&'static str]) -> impl Fn(&mut Conn) + Send + Sync {
    move |c: &mut Conn| {
        if c.recv().is_some() {
            for t in texts {
                c.send_text(t);
            }
        }
        c.drain();
    }
}

/// Sends `texts` at once, then keeps reading (never closes by itself).
fn push_then_drain(texts: &'static [&'static str]) -> impl Fn(&mut Conn) + Send + Sync {
    move |c: &mut Conn| {
        for t in texts {
            c.send_text(t);
        }
        c.drain();
    }
}

// ---------------------------------------------------------------------------
// -x / --execute
// ---------------------------------------------------------------------------

#[test]
fn execute_once_prints_the_reply_and_exits_0() {
    let srv = Server::start(reply_once);
    wsprobe(&[&srv.url(), "-x", "hi"], "")
        .code(0)
        .stdout("reply to hi\n")
        .stderr_empty();
    let obs = srv.next();
    assert_eq!(obs.texts(), ["hi"]);
    assert_eq!(obs.close, Some((1000, String::new())));
}

#[test]
fn execute_is_repeatable_and_sent_in_order() {
    let srv = Server::start(echo);
    wsprobe(
        &[&srv.url(), "-x", "one", "--execute", "two", "-x", "three"],
        "",
    )
    .code(0)
    .stdout("one\ntwo\nthree\n");
    let obs = srv.next();
    assert_eq!(obs.texts(), ["one", "two", "three"]);
    assert_eq!(obs.close_code(), 1000);
}

#[test]
fn execute_at_file_sends_the_exact_contents_as_one_message() {
    let dir = test_tempdir();
    let file = dir.path().join("msg.json");
    let contents = "{\"op\": \"subscribe\",\n \"topic\": \"ticks\"}\n";
    std::fs::write(&file, contents).unwrap();
    let arg = format!("@{}", file.display());
    let srv = Server::start(echo);
    // The echoed message keeps its own trailing newline; pipe mode adds one.
    wsprobe(&[&srv.url(), "-x", &arg], "")
        .code(0)
        .stdout(format!("{contents}\n"));
    let obs = srv.next();
    assert_eq!(obs.messages, [Msg::Text(contents.to_string())]);
    assert_eq!(obs.close_code(), 1000);
}

#[test]
fn execute_at_file_with_binary_sends_the_bytes() {
    let dir = test_tempdir();
    let file = dir.path().join("blob.bin");
    let bytes = b"\x00\x01\xfe\xff\nend\n".to_vec();
    std::fs::write(&file, &bytes).unwrap();
    let arg = format!("@{}", file.display());
    let srv = Server::start(echo);
    wsprobe(&[&srv.url(), "--binary", "-x", &arg], "")
        .code(0)
        .stdout(format!("base64:{}\n", b64(&bytes)));
    let obs = srv.next();
    assert_eq!(obs.messages, [Msg::Binary(bytes)]);
}

#[test]
fn binary_applies_to_literal_execute() {
    let srv = Server::start(echo);
    wsprobe(&[&srv.url(), "--binary", "-x", "raw bytes"], "")
        .code(0)
        .stdout(format!("base64:{}\n", b64(b"raw bytes")));
    assert_eq!(srv.next().messages, [Msg::Binary(b"raw bytes".to_vec())]);
}

#[test]
fn execute_at_file_that_is_not_utf8_needs_binary() {
    let dir = test_tempdir();
    let file = dir.path().join("blob.bin");
    std::fs::write(&file, b"\xff\xfe").unwrap();
    let arg = format!("@{}", file.display());
    let srv = Server::start(echo);
    let r = wsprobe(&[&srv.url(), "-x", &arg], "");
    r.code(2).stdout("").no_panic().stderr_contains("utf-8");
    if let Some(obs) = srv.try_next(Duration::from_secs(5)) {
        assert_eq!(obs.count, 0, "nothing may be sent: {obs:?}");
    }
}

#[test]
fn execute_at_missing_file_is_a_usage_error() {
    let srv = Server::start(echo);
    let dir = test_tempdir();
    let missing = dir.path().join("does-not-exist.txt");
    let arg = format!("@{}", missing.display());
    let r = wsprobe(&[&srv.url(), "-x", &arg], "");
    r.code(2)
        .stdout("")
        .one_error_line()
        .stderr_contains("does-not-exist.txt");
    if let Some(obs) = srv.try_next(Duration::from_secs(5)) {
        assert_eq!(obs.count, 0, "nothing may be sent: {obs:?}");
    }
}

#[test]
fn execute_at_dash_sends_all_of_stdin_as_one_message() {
    let srv = Server::start(echo);
    let input = "line 1\nline 2\n\nline 4 without newline";
    wsprobe(
        &[&srv.url(), "-x", "before", "-x", "@-", "-x", "after"],
        input,
    )
    .code(0)
    .stdout(format!("before\n{input}\nafter\n"));
    let obs = srv.next();
    assert_eq!(obs.texts(), ["before", input, "after"]);
    assert_eq!(obs.close_code(), 1000);
}

#[test]
fn execute_double_at_is_a_literal_at() {
    let srv = Server::start(echo);
    wsprobe(&[&srv.url(), "-x", "@@x", "-x", "@@@y"], "")
        .code(0)
        .stdout("@x\n@@y\n");
    assert_eq!(srv.next().texts(), ["@x", "@@y"]);
}

#[test]
fn execute_messages_go_before_piped_stdin_lines() {
    let dir = test_tempdir();
    let file = dir.path().join("second.txt");
    std::fs::write(&file, "from file").unwrap();
    let arg = format!("@{}", file.display());
    let srv = Server::start(echo);
    wsprobe(
        &[&srv.url(), "-x", "first", "-x", &arg],
        "stdin 1\nstdin 2\n",
    )
    .code(0)
    .stdout("first\nfrom file\nstdin 1\nstdin 2\n");
    assert_eq!(
        srv.next().texts(),
        ["first", "from file", "stdin 1", "stdin 2"]
    );
}

// ---------------------------------------------------------------------------
// --expect
// ---------------------------------------------------------------------------

#[test]
fn expect_met_exits_0_and_output_stops_at_the_match() {
    let srv = Server::start(after_first_send(&[
        "status: starting",
        "pong 1",
        "after the match",
    ]));
    let r = wsprobe(
        &[
            &srv.url(),
            "-x",
            "{\"op\":\"ping\"}",
            "--expect",
            "pong",
            "--timeout",
            "30s",
        ],
        "",
    );
    r.code(0)
        .stdout("status: starting\npong 1\n")
        .stderr_empty();
    assert!(r.elapsed < Duration::from_secs(20), "{r}");
    let obs = srv.next();
    assert_eq!(obs.texts(), ["{\"op\":\"ping\"}"]);
    assert_eq!(obs.close, Some((1000, String::new())));
}

#[test]
fn expect_without_input_waits_for_pushed_messages() {
    let srv = Server::start(push_then_drain(&["tick 1", "READY 42", "tick 2"]));
    wsprobe(&[&srv.url(), "--expect", "^READY [0-9]+$"], "")
        .code(0)
        .stdout("tick 1\nREADY 42\n");
    let obs = srv.next();
    assert_eq!(obs.count, 0);
    assert_eq!(obs.close_code(), 1000);
}

#[test]
fn expects_are_matched_in_order_one_pattern_per_message() {
    // "xb" matches only the second pattern (too early); "ab" matches both,
    // but one message satisfies one pattern; "cb" then satisfies the second.
    let srv = Server::start(push_then_drain(&["xb", "ab", "cb", "db"]));
    wsprobe(&[&srv.url(), "--expect", "^a", "--expect", "b$"], "")
        .code(0)
        .stdout("xb\nab\ncb\n");
    assert_eq!(srv.next().close_code(), 1000);
}

#[test]
fn expect_not_met_before_timeout_exits_6_naming_the_pattern() {
    let srv = Server::start(push_then_drain(&["nope", "still nope"]));
    let r = wsprobe(
        &[&srv.url(), "--expect", "^READY [0-9]+$", "--timeout", "1s"],
        "",
    );
    r.code(6)
        .stdout("nope\nstill nope\n")
        .one_error_line()
        .stderr_contains("^READY [0-9]+$");
    assert!(r.elapsed >= Duration::from_millis(950), "{r}");
    assert!(r.elapsed < Duration::from_secs(20), "{r}");
    let obs = srv.next();
    assert_eq!(
        obs.close_code(),
        1000,
        "wsprobe should still close: {obs:?}"
    );
}

#[test]
fn expect_not_met_because_the_server_closed_exits_6() {
    let srv = Server::start(push_then_close(&["nope"], 1000, "done"));
    let r = wsprobe(&[&srv.url(), "--expect", "never-sent-pattern"], "");
    r.code(6)
        .stdout("nope\n")
        .one_error_line()
        .stderr_contains("never-sent-pattern");
    assert!(r.elapsed < Duration::from_secs(20), "{r}");
    let obs = srv.next();
    assert!(
        obs.close.is_some(),
        "wsprobe must answer the Close: {obs:?}"
    );
}

#[test]
fn second_expect_unmet_is_the_one_named() {
    let srv = Server::start(push_then_close(&["first-ok"], 1000, ""));
    let r = wsprobe(
        &[
            &srv.url(),
            "--expect",
            "first",
            "--expect",
            "second-pattern",
        ],
        "",
    );
    r.code(6)
        .stdout("first-ok\n")
        .stderr_contains("second-pattern");
    assert!(
        !r.stderr_str().contains("'first'"),
        "the met pattern is not the unmet one\n{r}"
    );
}

#[test]
fn invalid_expect_regex_is_a_usage_error() {
    let url = format!("ws://127.0.0.1:{}/", closed_port());
    let r = wsprobe(&[&url, "--expect", "(unclosed"], "");
    r.code(2).stdout("").no_panic();
}

// ---------------------------------------------------------------------------
// --count, --wait, --timeout, --close-code/--close-reason
// ---------------------------------------------------------------------------

#[test]
fn count_3_of_5_pushed() {
    let srv = Server::start(push_then_drain(&["m1", "m2", "m3", "m4", "m5"]));
    wsprobe(&[&srv.url(), "-n", "3"], "")
        .code(0)
        .stdout("m1\nm2\nm3\n")
        .stderr_empty();
    let obs = srv.next();
    assert_eq!(obs.close, Some((1000, String::new())));
}

#[test]
fn count_long_flag() {
    let srv = Server::start(push_then_drain(&["m1", "m2", "m3", "m4", "m5"]));
    wsprobe(&[&srv.url(), "--count", "3"], "")
        .code(0)
        .stdout("m1\nm2\nm3\n");
    assert_eq!(srv.next().close_code(), 1000);
}

#[test]
fn count_unmet_when_the_server_closes_exits_6() {
    let srv = Server::start(push_then_close(&["m1", "m2"], 1000, ""));
    let r = wsprobe(&[&srv.url(), "-n", "3"], "");
    r.code(6)
        .stdout("m1\nm2\n")
        .one_error_line()
        .stderr_contains("--count");
}

#[test]
fn wait_keeps_receiving_after_input_ends() {
    // Without --wait the run would end at the first reply (one reply per
    // message sent); with it, wsprobe keeps reading for 300ms.
    let srv = Server::start(after_first_send(&["r1", "r2", "r3"]));
    let r = wsprobe(&[&srv.url(), "-x", "hi", "-w", "300ms"], "");
    r.code(0).stdout("r1\nr2\nr3\n").stderr_empty();
    assert!(r.elapsed >= Duration::from_millis(300), "{r}");
    let obs = srv.next();
    assert_eq!(obs.texts(), ["hi"]);
    assert_eq!(obs.close_code(), 1000);
}

#[test]
fn wait_long_flag_with_no_input() {
    let srv = Server::start(push_then_drain(&["a", "b"]));
    let r = wsprobe(&[&srv.url(), "--wait", "300ms"], "");
    r.code(0).stdout("a\nb\n");
    assert!(r.elapsed >= Duration::from_millis(300), "{r}");
    assert_eq!(srv.next().close_code(), 1000);
}

#[test]
fn timeout_is_a_hard_deadline_even_while_input_is_open() {
    let srv = Server::start(echo);
    let url = srv.url();
    let mut live = Wsprobe::new(&[&url, "--timeout", "500ms"])
        .stdin_from(Stdin::Piped)
        .stdout(Stdout::Lines)
        .spawn();
    live.send_stdin(b"x\n");
    assert_eq!(live.line().as_deref(), Some(&b"x\n"[..]));
    // stdin stays open: only the deadline can end the run, and reaching it is a
    // failure (exit 6) even though every reply came.
    let r = live.wait(DEADLINE);
    r.code(6).stderr_contains("timed out (--timeout 500ms)");
    assert!(r.elapsed >= Duration::from_millis(500), "{r}");
    let obs = srv.next();
    assert_eq!(obs.texts(), ["x"]);
    assert_eq!(obs.close_code(), 1000);
}

#[test]
fn timeout_cuts_wait_forever_short_and_fails() {
    let srv = Server::start(push_then_drain(&["only"]));
    let r = wsprobe(&[&srv.url(), "--wait", "forever", "--timeout", "500ms"], "");
    // Output before the deadline is kept; reaching --timeout is exit 6 (--wait D
    // is the way to stop successfully after D).
    r.code(6).stdout("only\n").one_error_line();
    assert!(r.elapsed >= Duration::from_millis(500), "{r}");
    assert!(r.elapsed < Duration::from_secs(20), "{r}");
    assert_eq!(srv.next().close_code(), 1000);
}

#[test]
fn durations_accept_units() {
    let srv = Server::start(echo);
    wsprobe(
        &[
            &srv.url(),
            "-x",
            "hi",
            "--timeout",
            "1m",
            "--connect-timeout",
            "2s",
        ],
        "",
    )
    .code(0)
    .stdout("hi\n");
    let r = wsprobe(&[&srv.url(), "-x", "hi", "--timeout", "soon"], "");
    r.code(2).stdout("").stderr_contains("soon");
}

#[test]
fn close_code_and_reason_reach_the_server() {
    let srv = Server::start(echo);
    wsprobe(
        &[
            &srv.url(),
            "-x",
            "hi",
            "--close-code",
            "4000",
            "--close-reason",
            "bye",
        ],
        "",
    )
    .code(0)
    .stdout("hi\n");
    assert_eq!(srv.next().close, Some((4000, "bye".to_string())));
}

#[test]
fn close_code_applies_when_expect_ends_the_run() {
    let srv = Server::start(push_then_drain(&["done"]));
    wsprobe(
        &[
            &srv.url(),
            "--expect",
            "done",
            "--close-code",
            "4000",
            "--close-reason",
            "bye",
        ],
        "",
    )
    .code(0)
    .stdout("done\n");
    assert_eq!(srv.next().close, Some((4000, "bye".to_string())));
}

// ---------------------------------------------------------------------------
// --jsonl
// ---------------------------------------------------------------------------

#[track_caller]
fn keys(event: &Value) -> BTreeSet<&str> {
    event
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect()
}

#[track_caller]
fn assert_keys(event: &Value, expected: &[&str]) {
    assert_eq!(
        keys(event),
        expected.iter().copied().collect::<BTreeSet<_>>(),
        "fields of {event}"
    );
}

#[test]
fn jsonl_events_field_by_field() {
    let opts = ServerOpts {
        response_headers: vec![
            ("X-Test".into(), "42".into()),
            ("Set-Cookie".into(), "sid=server-cookie".into()),
        ],
        ..Default::default()
    };
    let srv = Server::start_with(opts, |c: &mut Conn| {
        if c.recv().is_none() {
            return;
        }
        c.send_text("héllo \"wörld\"\nsecond line");
        c.send_binary(&[0x00, 0x01, 0x02, 0xfe, 0xff]);
        c.send(Message::Ping(b"\xff\x00p".to_vec().into()));
        c.send(Message::Ping(b"utf8 ping".to_vec().into()));
        c.close(4001, "custom bye");
    });
    let before = SystemTime::now();
    // --wait forever: it is the server's Close that ends the run.
    let r = wsprobe(&[&srv.url(), "--jsonl", "-x", "hello", "-w", "forever"], "");
    let after = SystemTime::now();
    r.code(7).no_panic();
    let events = parse_jsonl(&r.stdout);
    let port = srv.port();

    // open
    let open = &events[0];
    assert_keys(
        open,
        &[
            "time",
            "dir",
            "type",
            "url",
            "status",
            "subprotocol",
            "headers",
            "peer",
        ],
    );
    assert_eq!(open["peer"], format!("127.0.0.1:{port}"));
    let mut last = check_time(open, before, after);
    assert_eq!(open["dir"], "in");
    assert_eq!(open["type"], "open");
    assert_eq!(open["url"], format!("ws://127.0.0.1:{port}/"));
    assert_eq!(open["status"], 101);
    assert_eq!(open["subprotocol"], Value::Null);
    let headers = open["headers"].as_object().expect("headers is an object");
    for name in headers.keys() {
        assert_eq!(
            name,
            &name.to_ascii_lowercase(),
            "header names are lower case"
        );
    }
    assert_eq!(headers["x-test"], "42");
    assert_eq!(headers["upgrade"], "websocket");
    assert_eq!(headers["set-cookie"], "<redacted>");
    assert!(headers["sec-websocket-accept"].is_string(), "{open}");
    assert!(!r.stdout_str().contains("server-cookie"), "{r}");

    let expected: Vec<Value> = vec![
        json!({"dir": "out", "type": "text", "data": "hello", "size": 5}),
        json!({"dir": "in", "type": "text", "data": "héllo \"wörld\"\nsecond line",
               "size": "héllo \"wörld\"\nsecond line".len()}),
        json!({"dir": "in", "type": "binary", "data": b64(&[0x00, 0x01, 0x02, 0xfe, 0xff]),
               "encoding": "base64", "size": 5}),
        json!({"dir": "in", "type": "ping", "data": b64(b"\xff\x00p"),
               "encoding": "base64", "size": 3}),
        // The automatic pong is recorded as sent.
        json!({"dir": "out", "type": "pong", "data": b64(b"\xff\x00p"),
               "encoding": "base64", "size": 3}),
        json!({"dir": "in", "type": "ping", "data": "utf8 ping", "size": 9}),
        json!({"dir": "out", "type": "pong", "data": "utf8 ping", "size": 9}),
        json!({"dir": "in", "type": "close", "code": 4001, "reason": "custom bye"}),
    ];
    let messages: Vec<&Value> = events[1..]
        .iter()
        .filter(|e| e["type"] != "error" && !(e["type"] == "close" && e["dir"] == "out"))
        .collect();
    assert_eq!(
        messages.len(),
        expected.len(),
        "events:\n{}",
        r.stdout_str()
    );
    for (got, want) in messages.iter().zip(&expected) {
        let at = check_time(got, before, after);
        assert!(at >= last, "times go backwards: {got}");
        last = at;
        let mut without_time = (*got).clone();
        without_time.as_object_mut().unwrap().remove("time");
        assert_eq!(&without_time, want);
    }

    // wsprobe's answer to the Close, if shown, carries the code it echoed.
    for e in events
        .iter()
        .filter(|e| e["type"] == "close" && e["dir"] == "out")
    {
        assert_eq!(e["code"], 4001, "{e}");
    }

    // The failure (server closed with 4001: exit 7) ends the stream.
    let error = events.last().unwrap();
    assert_keys(error, &["time", "type", "message", "exit_code"]);
    check_time(error, before, after);
    assert_eq!(error["type"], "error");
    assert_eq!(error["exit_code"], 7);
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("4001"), "{error}");
    assert!(message.contains("custom bye"), "{error}");

    let obs = srv.next();
    assert_eq!(obs.texts(), ["hello"]);
    assert_eq!(obs.close_code(), 4001, "wsprobe echoes the close code");
}

#[test]
fn jsonl_close_both_ways_when_wsprobe_ends_the_run() {
    let srv = Server::start(echo);
    let before = SystemTime::now();
    let r = wsprobe(&[&srv.url(), "--jsonl", "-x", "hi"], "");
    let after = SystemTime::now();
    r.code(0).stderr_empty();
    let events = parse_jsonl(&r.stdout);
    let shape = timeless(&events, before, after);
    assert_eq!(
        shape,
        [
            json!({"dir": "in", "type": "open", "url": srv.url(), "status": 101,
                   "subprotocol": null, "peer": srv.addr().to_string()}),
            json!({"dir": "out", "type": "text", "data": "hi", "size": 2}),
            json!({"dir": "in", "type": "text", "data": "hi", "size": 2}),
            json!({"dir": "out", "type": "close", "code": 1000, "reason": ""}),
            json!({"dir": "in", "type": "close", "code": 1000, "reason": ""}),
        ],
        "{r}"
    );
}

#[test]
fn jsonl_binary_out_and_subprotocol() {
    let opts = ServerOpts {
        subprotocol: Subprotocol::FirstOffered,
        ..Default::default()
    };
    let srv = Server::start_with(opts, echo);
    let r = wsprobe(
        &[
            &srv.url(),
            "--jsonl",
            "--binary",
            "-s",
            "chat",
            "-x",
            "\u{1}z",
        ],
        "",
    );
    r.code(0);
    let events = parse_jsonl(&r.stdout);
    assert_eq!(events[0]["subprotocol"], "chat");
    assert_eq!(events[0]["headers"]["sec-websocket-protocol"], "chat");
    for (e, dir) in events[1..3].iter().zip(["out", "in"]) {
        assert_eq!(e["dir"], dir, "{e}");
        assert_eq!(e["type"], "binary", "{e}");
        assert_eq!(e["data"], b64(b"\x01z"), "{e}");
        assert_eq!(e["encoding"], "base64", "{e}");
        assert_eq!(e["size"], 2, "{e}");
    }
    assert_eq!(srv.next().messages, [Msg::Binary(b"\x01z".to_vec())]);
}

#[test]
fn jsonl_failure_to_connect_is_a_final_error_line() {
    let url = format!("ws://127.0.0.1:{}/", closed_port());
    let r = wsprobe(&[&url, "--jsonl", "-x", "hi"], "");
    r.code(3);
    let events = parse_jsonl(&r.stdout);
    assert_eq!(events.len(), 1, "{r}");
    assert_eq!(events[0]["type"], "error");
    assert_eq!(events[0]["exit_code"], 3);
    assert!(events[0]["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[test]
fn jsonl_rejected_upgrade_ends_with_an_error_line() {
    let body = "no entry";
    let raw = RawServer::reply(format!(
        "HTTP/1.1 403 Forbidden\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let r = wsprobe(&[&raw.url(), "--jsonl", "-x", "hi"], "");
    r.code(5);
    let events = parse_jsonl(&r.stdout);
    assert_eq!(events.len(), 2, "{r}");
    // The structured event (tests/schema.rs), then the error a human reads.
    assert_eq!(events[0]["type"], "rejected");
    assert_eq!(events[1]["type"], "error");
    assert_eq!(events[1]["exit_code"], 5);
    let message = events[1]["message"].as_str().unwrap();
    assert!(message.contains("403"), "{message}");
    assert!(message.contains(body), "{message}");
}

#[test]
fn jsonl_expect_timeout_reports_exit_6() {
    let srv = Server::start(push_then_drain(&["nope"]));
    let r = wsprobe(
        &[
            &srv.url(),
            "--jsonl",
            "--expect",
            "yes",
            "--timeout",
            "500ms",
        ],
        "",
    );
    r.code(6);
    let events = parse_jsonl(&r.stdout);
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"open"), "{r}");
    assert!(types.contains(&"text"), "{r}");
    let error = events.last().unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["exit_code"], 6);
    assert!(
        error["message"].as_str().unwrap().contains("yes"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------
// --timestamps, -q
// ---------------------------------------------------------------------------

/// Milliseconds since midnight in a zone `offset` seconds east of UTC.
fn ms_of_day(t: SystemTime, offset: i64) -> i64 {
    let ms = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    (ms + offset * 1000).rem_euclid(86_400_000)
}

#[test]
fn timestamps_local_prefix_each_line() {
    let srv = Server::start(after_first_send(&["one", "two"]));
    // A fixed zone, 5h30 east of UTC: proves the time is local, not UTC.
    let env = [("TZ", "WSP-05:30")];
    let before = SystemTime::now();
    let r = wsprobe_env(
        &[&srv.url(), "-x", "go", "-n", "2", "--timestamps"],
        "",
        &env,
    );
    let after = SystemTime::now();
    r.code(0).stderr_empty();
    let re = Regex::new(r"^(\d{2}):(\d{2}):(\d{2})\.(\d{3}) (.*)$").unwrap();
    let out = r.stdout_str();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{r}");
    for (line, text) in lines.iter().zip(["one", "two"]) {
        let c = re
            .captures(line)
            .unwrap_or_else(|| panic!("{line:?} has no HH:MM:SS.mmm prefix"));
        assert_eq!(&c[5], text);
        let n = |i: usize| c[i].parse::<i64>().unwrap();
        let ms = ((n(1) * 60 + n(2)) * 60 + n(3)) * 1000 + n(4);
        let (lo, hi) = (ms_of_day(before, 19_800), ms_of_day(after, 19_800));
        if lo <= hi {
            // (Midnight in that zone during the run would be skipped.)
            assert!(
                ms + 1 >= lo && ms <= hi,
                "{line:?} is not local time (UTC+05:30) during the run"
            );
        }
    }
}

#[test]
fn timestamps_relative_prefix_each_line() {
    let srv = Server::start(after_first_send(&["one", "two"]));
    let r = wsprobe(
        &[&srv.url(), "-x", "go", "-n", "2", "--timestamps=relative"],
        "",
    );
    r.code(0).stderr_empty();
    let re = Regex::new(r"^(\d+)\.(\d{3}) (.*)$").unwrap();
    let out = r.stdout_str();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{r}");
    let mut last = 0.0;
    for (line, text) in lines.iter().zip(["one", "two"]) {
        let c = re
            .captures(line)
            .unwrap_or_else(|| panic!("{line:?} has no S.mmm prefix"));
        assert_eq!(&c[3], text);
        let secs: f64 = format!("{}.{}", &c[1], &c[2]).parse().unwrap();
        assert!(secs >= last, "{line:?}: relative times go backwards");
        assert!(secs <= r.elapsed.as_secs_f64(), "{line:?}: beyond the run");
        last = secs;
    }
}

#[test]
fn timestamps_require_equals_for_the_mode() {
    // `--timestamps relative` would be ambiguous with the URL: the mode
    // needs `=`, so here "relative" is an extra positional argument.
    let url = format!("ws://127.0.0.1:{}/", closed_port());
    let r = wsprobe(&["--timestamps", "relative", &url], "");
    r.code(2).stdout("");
}

/// A server that answers the first message and then never answers wsprobe's
/// Close (so wsprobe warns about it, unless `-q`).
fn never_answers_close(c: &mut Conn) {
    if let Some(Msg::Text(t)) = c.recv() {
        c.send_text(&t);
    }
    if c.until_close_frame() {
        c.stall();
    }
}

#[test]
fn quiet_suppresses_warnings() {
    let srv = Server::start(never_answers_close);
    let r = wsprobe(&[&srv.url(), "-q", "-x", "hi"], "");
    r.code(0).stdout("hi\n").stderr_empty();
    assert_eq!(srv.next().close_code(), 1000);
}

#[test]
fn without_quiet_the_unanswered_close_is_a_warning() {
    // The counterpart of `quiet_suppresses_warnings`: the same run without
    // -q prints something on stderr, which -q must remove.
    let srv = Server::start(never_answers_close);
    let r = wsprobe(&[&srv.url(), "-x", "hi"], "");
    r.code(0).stdout("hi\n").stderr_contains("warning");
}

#[test]
fn quiet_still_prints_errors() {
    let srv = Server::start(push_then_close(&["a"], 4000, "app error"));
    let r = wsprobe(&[&srv.url(), "--quiet", "-w", "forever"], "");
    r.code(7)
        .stdout("a\n")
        .one_error_line()
        .stderr_contains("4000");
}

// ---------------------------------------------------------------------------
// --echo
// ---------------------------------------------------------------------------

#[test]
fn echo_returns_text_binary_fragmented_and_answers_pings() {
    let srv = Server::start(|c: &mut Conn| {
        c.send_text("t1");
        c.send_binary(&[0x00, 0x01, 0xff]);
        c.send(Message::Ping(b"p1".to_vec().into()));
        // A fragmented text message with a ping between its fragments.
        c.send_raw_frame(false, 0x1, b"frag");
        c.send_raw_frame(true, 0x9, b"p2");
        c.send_raw_frame(true, 0x0, "mented ✓".as_bytes());
        let all_back = c.recv_until(|o| o.count >= 3 && o.pongs.len() >= 2);
        if all_back {
            c.close(1000, "done");
        }
    });
    let r = wsprobe(&[&srv.url(), "--echo"], "");
    r.code(0)
        .stdout(format!(
            "t1\nbase64:{}\nfragmented ✓\n",
            b64(&[0x00, 0x01, 0xff])
        ))
        .stderr_empty();
    let obs = srv.next();
    assert_eq!(obs.error, None, "{obs:?}");
    assert_eq!(
        obs.messages,
        [
            Msg::Text("t1".into()),
            Msg::Binary(vec![0x00, 0x01, 0xff]),
            Msg::Text("fragmented ✓".into()),
        ]
    );
    assert_eq!(obs.pongs, [b"p1".to_vec(), b"p2".to_vec()]);
    assert_eq!(obs.close_code(), 1000, "wsprobe answers the server's Close");
}

#[test]
fn echo_does_not_read_stdin() {
    // stdin lines are not messages in echo mode: only echoes go out.
    let srv = Server::start(|c: &mut Conn| {
        c.send_text("ping-me");
        if c.recv_until(|o| o.count >= 1) {
            c.close(1000, "");
        }
    });
    wsprobe(&[&srv.url(), "--echo"], "not a message\n")
        .code(0)
        .stdout("ping-me\n");
    assert_eq!(srv.next().texts(), ["ping-me"]);
}

#[test]
fn echo_with_invalid_utf8_closes_1007_and_exits_1() {
    let srv = Server::start(|c: &mut Conn| {
        c.send_text("ok");
        if c.recv_until(|o| o.count >= 1) {
            c.send_raw_text(b"bad \xff\xfe text");
        }
        c.drain();
    });
    let r = wsprobe(&[&srv.url(), "--echo"], "");
    r.code(1).no_panic().stdout("ok\n").stderr_contains("utf-8");
    let obs = srv.next();
    assert_eq!(obs.texts(), ["ok"], "the invalid message is not echoed");
    assert_eq!(obs.close_code(), 1007, "{obs:?}");
}

// ---------------------------------------------------------------------------
// Against the independent Python peer
// ---------------------------------------------------------------------------

#[test]
fn peer_echo_mode() {
    let bin = b64(&[0x00, 0x80, 0xff]);
    let binary_item = format!("binary:{bin}");
    let peer = PeerServer::start(&[
        "converse",
        "--replies",
        "3",
        "--close",
        "1000",
        "--reason",
        "enough",
        "text:héllo",
        &binary_item,
        "frag:frag|men|ted",
        "ping:are you there",
    ]);
    let r = wsprobe(&[&peer.url, "--echo"], "");
    r.code(0)
        .stdout(format!("héllo\nbase64:{bin}\nfragmented\n"))
        .stderr_empty();
    let events = peer.events_until_closed();
    assert!(events[0].starts_with(r#"{"event": "open""#), "{events:?}");
    assert_eq!(
        &events[1..],
        [
            peer_text("héllo"),
            format!(r#"{{"event": "message", "type": "binary", "data": "{bin}"}}"#),
            peer_text("fragmented"),
            r#"{"event": "pong", "data": "are you there"}"#.to_string(),
            peer_closed(1000, "enough"),
        ]
    );
}

#[test]
fn peer_expect_with_jsonl() {
    let peer = PeerServer::start(&[
        "--subprotocol",
        "v2.chat",
        "converse",
        "text:status: starting",
        "text:status: ready",
        "text:never shown",
    ]);
    let before = SystemTime::now();
    let r = wsprobe(
        &[
            &peer.url,
            "--jsonl",
            "-s",
            "v2.chat",
            "-x",
            "hello peer",
            "--expect",
            "ready$",
            "--close-reason",
            "got it",
            "--timeout",
            "30s",
        ],
        "",
    );
    let after = SystemTime::now();
    r.code(0).stderr_empty();
    let events = parse_jsonl(&r.stdout);
    let shape = timeless(&events, before, after);
    // The server's messages may arrive before or after ours is sent.
    let out_hello = json!({"dir": "out", "type": "text", "data": "hello peer", "size": 10});
    let without_out: Vec<&Value> = shape.iter().filter(|e| **e != out_hello).collect();
    assert_eq!(
        shape.len() - without_out.len(),
        1,
        "exactly one out text: {r}"
    );
    assert_eq!(
        without_out,
        [
            &json!({"dir": "in", "type": "open", "url": format!("{}/", peer.url),
                    "status": 101, "subprotocol": "v2.chat",
                    "peer": peer.url.trim_start_matches("ws://")}),
            &json!({"dir": "in", "type": "text", "data": "status: starting", "size": 16}),
            &json!({"dir": "in", "type": "text", "data": "status: ready", "size": 13}),
            &json!({"dir": "out", "type": "close", "code": 1000, "reason": "got it"}),
            &json!({"dir": "in", "type": "close", "code": 1000, "reason": "got it"}),
        ],
        "{r}"
    );
    let headers = events[0]["headers"].as_object().unwrap();
    assert_eq!(headers["sec-websocket-protocol"], "v2.chat");
    assert_eq!(headers["upgrade"], "websocket");

    let events = peer.events_until_closed();
    assert_eq!(
        &events[1..],
        [peer_text("hello peer"), peer_closed(1000, "got it")]
    );
}
