//! How a session ends: the exit code follows how the server ends it (0 for
//! 1000/1001, 7 for an error code or no Close frame, 1 for a protocol error),
//! and the ending flags (`--count`, `--wait`, `--timeout`, `--close-code`,
//! `--close-reason`).

use crate::support::*;
use std::time::Duration;

/// A server that sends `texts` at once, then closes with `code`/`reason`.
/// wsprobe is run with `--wait 30s` so that it is the server's Close, not
/// wsprobe's own stop rule, that ends the session.
#[track_caller]
fn server_closes_with(code: u16, reason: &'static str) -> (Run, Observed) {
    let srv = Server::start(push_then_close(&["a", "b"], code, reason));
    let r = wsprobe(&[&srv.url(), "--wait", "30s"], "");
    assert!(
        r.elapsed < Duration::from_secs(25),
        "the server's Close did not end the session\n{r}"
    );
    (r, srv.next())
}

#[test]
fn server_close_1000_exits_0() {
    let (r, obs) = server_closes_with(1000, "bye");
    r.code(0).stdout("a\nb\n").stderr_empty();
    assert!(
        obs.close.is_some(),
        "wsprobe did not answer the Close: {obs:?}"
    );
}

#[test]
fn server_close_1001_exits_0() {
    let (r, _) = server_closes_with(1001, "going away");
    r.code(0).stdout("a\nb\n");
}

#[test]
fn server_close_1011_exits_7_with_code_and_reason() {
    let (r, obs) = server_closes_with(1011, "boom: database down");
    r.code(7)
        .stdout("a\nb\n")
        .stderr_contains("1011")
        .stderr_contains("boom: database down");
    assert!(
        obs.close.is_some(),
        "wsprobe did not answer the Close: {obs:?}"
    );
}

#[test]
fn server_close_4000_exits_7() {
    let (r, _) = server_closes_with(4000, "app says no");
    r.code(7)
        .stdout("a\nb\n")
        .stderr_contains("4000")
        .stderr_contains("app says no");
}

#[test]
fn server_close_1000_before_reply_is_an_unmet_goal() {
    // The server ends the session first, normally, without replying: the default
    // goal (one reply per message) is not met, as with --count 1.
    let srv = Server::start(|c: &mut Conn| {
        c.recv();
        c.close(1000, "done");
    });
    wsprobe(&[&srv.url(), "-x", "hi"], "")
        .code(6)
        .stdout("")
        .stderr_contains("received 0 of 1 replies")
        .one_error_line();
    assert_eq!(srv.next().texts(), ["hi"]);
}

#[test]
fn server_close_1000_ends_a_wait_forever_run_with_0() {
    let srv = Server::start(|c: &mut Conn| {
        c.recv();
        c.close(1000, "done");
    });
    wsprobe(&[&srv.url(), "-x", "hi", "--wait", "forever"], "")
        .code(0)
        .stdout("");
}

#[test]
fn tcp_close_without_close_frame_exits_7() {
    let srv = Server::start(|c: &mut Conn| {
        c.recv();
        c.shutdown();
    });
    let r = wsprobe(&[&srv.url(), "-x", "hi", "--wait", "forever"], "");
    r.code(7).stdout("").no_panic();
    assert_eq!(srv.next().texts(), ["hi"]);
}

#[test]
fn tcp_close_before_the_replies_exits_6_keeping_output() {
    let srv = Server::start(|c: &mut Conn| {
        c.recv();
        c.send_text("partial");
        c.shutdown();
    });
    let r = wsprobe(&[&srv.url(), "-x", "one", "-x", "two"], "");
    r.code(6)
        .stdout("partial\n")
        .stderr_contains("without a Close frame")
        .stderr_contains("received 1 of 2 replies");
}

#[test]
fn invalid_utf8_from_server_exits_1_after_close_1007() {
    let srv = Server::start(|c: &mut Conn| {
        c.recv();
        c.send_raw_text(b"bad \xff\xfe text");
        c.drain();
    });
    let r = wsprobe(&[&srv.url(), "-x", "hi"], "");
    r.code(1).no_panic();
    assert!(!r.stdout_str().contains("bad"), "{r}");
    let obs = srv.next();
    assert_eq!(obs.close_code(), 1007, "{obs:?}");
}

#[test]
fn reserved_bits_from_server_exit_1() {
    let srv = Server::start(|c: &mut Conn| {
        c.recv();
        // A text frame with RSV1 set, no extension negotiated.
        c.write_raw(&[0xc1, 0x02, b'h', b'i']);
        c.drain();
    });
    let r = wsprobe(&[&srv.url(), "-x", "hi"], "");
    r.code(1).stdout("").no_panic();
}

#[test]
fn connection_reset_exits_1() {
    use std::io::{Read, Write};
    let raw = RawServer::start(|mut s| {
        let req = read_request(&mut s).unwrap_or_default();
        let _ = s.write_all(switching_protocols(&req).as_bytes());
        // Wait for the client's first frame, then reset the connection.
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf);
        reset(s);
        req
    });
    let r = wsprobe(&[&raw.url(), "-x", "hi", "--wait", "forever"], "");
    r.code(1).stdout("").no_panic();
    raw.next();
}

#[test]
fn default_close_is_1000_without_reason() {
    let srv = Server::start(echo);
    wsprobe(&[&srv.url(), "-x", "hi"], "").code(0);
    assert_eq!(srv.next().close, Some((1000, String::new())));
}

#[test]
fn close_code_and_reason_flags() {
    let srv = Server::start(echo);
    wsprobe(
        &[
            &srv.url(),
            "-x",
            "hi",
            "--close-code",
            "4000",
            "--close-reason",
            "bye now",
        ],
        "",
    )
    .code(0)
    .stdout("hi\n");
    assert_eq!(srv.next().close, Some((4000, "bye now".to_string())));
}

#[test]
fn invalid_close_code_is_usage_error() {
    let srv = Server::start(echo);
    for code in ["999", "1005", "1006", "70000", "abc"] {
        let r = wsprobe(&[&srv.url(), "-x", "hi", "--close-code", code], "");
        r.code(2).stdout("");
    }
}

#[test]
fn count_stops_after_n_messages() {
    let srv = Server::start(|c: &mut Conn| {
        for i in 1..=5 {
            c.send_text(&format!("m{i}"));
        }
        c.drain();
    });
    wsprobe(&[&srv.url(), "-n", "2"], "")
        .code(0)
        .stdout("m1\nm2\n");
    assert_eq!(srv.next().close_code(), 1000);
}

#[test]
fn count_long_flag_with_input() {
    let srv = Server::start(|c: &mut Conn| {
        c.recv();
        for i in 1..=3 {
            c.send_text(&format!("m{i}"));
        }
        c.drain();
    });
    wsprobe(&[&srv.url(), "--count", "3", "-x", "go"], "")
        .code(0)
        .stdout("m1\nm2\nm3\n");
    assert_eq!(srv.next().close_code(), 1000);
}

#[test]
fn wait_keeps_receiving_after_the_replies() {
    let srv = Server::start(|c: &mut Conn| {
        if let Some(Msg::Text(t)) = c.recv() {
            c.send_text(&t);
            c.send_text("late 1");
            c.send_text("late 2");
        }
        c.drain();
    });
    let r = wsprobe(&[&srv.url(), "-x", "hi", "-w", "1s"], "");
    r.code(0).stdout("hi\nlate 1\nlate 2\n");
    assert!(r.elapsed >= Duration::from_millis(900), "{r}");
    assert_eq!(srv.next().close_code(), 1000);
}

#[test]
fn timeout_with_count_unmet_exits_6() {
    let srv = Server::start(|c: &mut Conn| {
        c.send_text("only one");
        c.drain();
    });
    let r = wsprobe(&[&srv.url(), "-n", "3", "--timeout", "1s"], "");
    r.code(6).stdout("only one\n");
    assert!(r.elapsed >= Duration::from_millis(900), "{r}");
    assert!(r.elapsed < Duration::from_secs(10), "{r}");
    let obs = srv.next();
    assert!(obs.close.is_some(), "wsprobe should still close: {obs:?}");
}

#[test]
fn timeout_not_reached_exits_0() {
    let srv = Server::start(echo);
    let r = wsprobe(&[&srv.url(), "-x", "hi", "--timeout", "30s"], "");
    r.code(0).stdout("hi\n");
    assert!(r.elapsed < Duration::from_secs(20), "{r}");
}

#[test]
fn timeout_waiting_for_replies_exits_6() {
    // The server reads but never replies; the default stop rule (one reply
    // per message sent) is cut short by --timeout. DESIGN.md's exit-code
    // table: 6 = "--timeout reached".
    let srv = Server::start(|c: &mut Conn| c.drain());
    let r = wsprobe(&[&srv.url(), "-x", "hi", "--timeout", "1s"], "");
    r.code(6).stdout("");
    assert!(r.elapsed >= Duration::from_millis(900), "{r}");
    assert!(r.elapsed < Duration::from_secs(10), "{r}");
    let obs = srv.next();
    assert_eq!(obs.texts(), ["hi"]);
    assert!(obs.close.is_some(), "wsprobe should still close: {obs:?}");
}

#[test]
fn close_handshake_wait_is_bounded() {
    // After the upgrade the server never sends anything again, not even an
    // answer to wsprobe's Close: wsprobe must still end, in bounded time.
    let srv = Server::start(|c: &mut Conn| c.stall());
    let r = wsprobe(&[&srv.url(), "-n", "1", "--timeout", "1s"], "");
    r.code(6).stdout("").no_panic();
    assert!(r.elapsed < Duration::from_secs(15), "{r}");
}

#[test]
fn wait_forever_until_the_server_closes() {
    let srv = Server::start(|c: &mut Conn| {
        if c.recv().is_some() {
            for i in 1..=3 {
                c.send_text(&format!("feed {i}"));
            }
        }
        c.close(1000, "end of feed");
    });
    wsprobe(&[&srv.url(), "--wait", "forever"], "subscribe\n")
        .code(0)
        .stdout("feed 1\nfeed 2\nfeed 3\n");
    assert_eq!(srv.next().texts(), ["subscribe"]);
}
