//! wsprobe against an independent implementation: the Python `websockets`
//! server (tests/peer/server.py, installed by tests/peer/setup.sh), so
//! wsprobe is not only ever tested against the library it is built on.

use crate::support::*;
use std::time::Duration;

#[test]
fn echo_of_hundreds_of_lines_in_order() {
    let peer = PeerServer::start(&["echo"]);
    let lines: Vec<String> = (0..300)
        .map(|i| format!("line {i}: {}", "é€😀 \"quoted\" \\ ".repeat(i % 4)))
        .collect();
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    wsprobe(&[&peer.url], input.clone())
        .code(0)
        .stdout(&input)
        .stderr_empty();
    let events = peer.events_until_closed();
    assert!(events[0].starts_with(r#"{"event": "open""#), "{events:?}");
    let expected: Vec<String> = lines.iter().map(|l| peer_text(l)).collect();
    assert_eq!(&events[1..events.len() - 1], &expected[..]);
    assert_eq!(events.last().unwrap(), &peer_closed(1000, ""));
}

#[test]
fn binary_echo() {
    let peer = PeerServer::start(&["echo"]);
    wsprobe(&[&peer.url, "--binary"], &b"\x00\x01\xff\nabc\n"[..])
        .code(0)
        .stdout(format!(
            "base64:{}\nbase64:{}\n",
            b64(b"\x00\x01\xff"),
            b64(b"abc")
        ));
    let events = peer.events_until_closed();
    assert_eq!(
        events[1],
        format!(
            r#"{{"event": "message", "type": "binary", "data": "{}"}}"#,
            b64(b"\x00\x01\xff")
        )
    );
    assert_eq!(events.last().unwrap(), &peer_closed(1000, ""));
}

#[test]
fn handshake_seen_by_the_peer() {
    let peer = PeerServer::start(&["--subprotocol", "chat", "echo"]);
    let url = format!("{}/room/1?token=abc", peer.url);
    wsprobe(
        &[
            &url,
            "-s",
            "superchat",
            "-s",
            "chat",
            "-H",
            "X-Test: 42",
            "--origin",
            "http://origin.example",
            "--auth",
            "user:pass",
            "-x",
            "hi",
        ],
        "",
    )
    .code(0)
    .stdout("hi\n");
    let events = peer.events_until_closed();
    let open = &events[0];
    let has = |needle: &str| {
        assert!(open.contains(needle), "{needle} not in {open}");
    };
    has(r#""path": "/room/1?token=abc""#);
    has(r#""subprotocol": "chat""#);
    has(r#"["x-test", "42"]"#);
    has(r#"["origin", "http://origin.example"]"#);
    has(&format!(
        r#"["authorization", "Basic {}"]"#,
        b64(b"user:pass")
    ));
    has(&format!(r#"["user-agent", "wsprobe/{VERSION}"]"#));
    assert!(
        open.contains(r#"["sec-websocket-protocol", "superchat, chat"]"#)
            || (open.contains(r#"["sec-websocket-protocol", "superchat"]"#)
                && open.contains(r#"["sec-websocket-protocol", "chat"]"#)),
        "{open}"
    );
    assert_eq!(events[1], peer_text("hi"));
    assert_eq!(events.last().unwrap(), &peer_closed(1000, ""));
}

#[test]
fn peer_refusing_the_offered_subprotocol_exits_5() {
    // The peer supports only "chat" and answers an offer of "other" with
    // HTTP 400 (websockets' NegotiationError).
    let peer = PeerServer::start(&["--subprotocol", "chat", "echo"]);
    let r = wsprobe(&[&peer.url, "-s", "other", "-x", "hi"], "");
    r.code(5).stdout("").stderr_contains("400");
}

#[test]
fn push_then_close_1000() {
    let peer = PeerServer::start(&["push", "3", "1000", "done"]);
    let r = wsprobe(&[&peer.url, "--wait", "30s"], "");
    r.code(0).stdout("msg 1\nmsg 2\nmsg 3\n");
    assert!(r.elapsed < Duration::from_secs(25), "{r}");
    let events = peer.events_until_closed();
    // The close code the peer received: wsprobe's reply to the Close.
    assert!(
        events.last().unwrap().contains(r#""code": 1000"#),
        "{events:?}"
    );
}

#[test]
fn push_then_close_1011() {
    let peer = PeerServer::start(&["push", "2", "1011", "internal trouble"]);
    let r = wsprobe(&[&peer.url, "--wait", "30s"], "");
    r.code(7)
        .stdout("msg 1\nmsg 2\n")
        .stderr_contains("1011")
        .stderr_contains("internal trouble");
    peer.events_until_closed();
}

#[test]
fn close_code_flag_reaches_the_peer() {
    let peer = PeerServer::start(&["echo"]);
    wsprobe(
        &[
            &peer.url,
            "-x",
            "hi",
            "--close-code",
            "4321",
            "--close-reason",
            "peer test",
        ],
        "",
    )
    .code(0)
    .stdout("hi\n");
    let events = peer.events_until_closed();
    assert_eq!(events.last().unwrap(), &peer_closed(4321, "peer test"));
}
