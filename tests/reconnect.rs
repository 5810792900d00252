//! `--reconnect`: when the server closes or the connection drops, wsprobe connects
//! again with backoff and re-sends the `-x` messages; it also waits for a server
//! that is not up yet. Without the flag, the same endings end the run.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::*;

/// A server for `conns.len()` connections, one after another (then the
/// listener is closed): connection `i` reads one text message, sends
/// `conns[i].0`, then closes with `conns[i].1` (None: keeps reading until
/// the client closes).
fn scripted(conns: Vec<(Vec<&'static str>, Option<u16>)>) -> Server {
    let opts = ServerOpts {
        max_connections: Some(conns.len()),
        ..Default::default()
    };
    let next = AtomicUsize::new(0);
    Server::start_with(opts, move |c: &mut Conn| {
        let (push, close) = &conns[next.fetch_add(1, Ordering::SeqCst)];
        c.recv();
        for p in push {
            c.send_text(p);
        }
        match close {
            Some(code) => c.close(*code, ""),
            None => c.drain(),
        }
    })
}

/// Runs wsprobe with stdin from /dev/null.
fn run(args: &[&str]) -> Run {
    Wsprobe::new(args).stdin_from(Stdin::Null).run()
}

#[test]
fn reconnects_and_replays_the_execute_messages() {
    let srv = scripted(vec![(vec!["a", "b"], Some(1012)), (vec!["c"], None)]);
    let url = srv.url();
    run(&[
        &url,
        "-x",
        "sub",
        "--reconnect",
        "--count",
        "3",
        "--timeout",
        "20s",
    ])
    .code(0)
    .stdout("a\nb\nc\n")
    .stderr_has("the server closed the connection (1012); reconnecting in 500ms (attempt 1)")
    .stderr_has(&format!("wsprobe: connected again to {url} (attempt 1)\n"));
    assert_eq!(srv.next().texts(), ["sub"]);
    assert_eq!(
        srv.next().texts(),
        ["sub"],
        "the -x message is sent again after reconnecting"
    );
}

#[test]
fn jsonl_shows_the_reconnect_between_two_opens() {
    let srv = scripted(vec![(vec!["a"], Some(1001)), (vec!["b"], None)]);
    let url = srv.url();
    let r = run(&[
        &url,
        "-x",
        "sub",
        "--reconnect",
        "-n",
        "2",
        "--jsonl",
        "--timeout",
        "20s",
    ]);
    r.code(0);
    let events = parse_jsonl(&r.stdout);
    let types: Vec<String> = events
        .iter()
        .map(|v| {
            format!(
                "{}:{}",
                v["dir"].as_str().unwrap_or("-"),
                v["type"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            "in:open",
            "out:text",
            "in:text",
            "in:close",
            "out:close",
            "out:reconnect",
            "in:open",
            "out:text",
            "in:text",
            "out:close",
            "in:close"
        ]
    );
    let reconnect = events.iter().find(|e| e["type"] == "reconnect").unwrap();
    assert_eq!(reconnect["attempt"], 1);
    assert_eq!(reconnect["delay_ms"], 500);
    assert_eq!(
        reconnect["reason"],
        "the server closed the connection (1001)"
    );
}

#[test]
fn waits_for_a_server_that_is_not_up_yet() {
    let port = closed_port();
    let url = format!("ws://127.0.0.1:{port}/");
    let mut live = Wsprobe::new(&[&url, "-x", "hello", "--reconnect=10", "--timeout", "30s"])
        .stdin_from(Stdin::Null)
        .spawn();
    // Once wsprobe says it will retry, bring the server up.
    let line = live.stderr_line().unwrap_or_default();
    assert!(
        line.contains("connection refused; retrying in 500ms (--reconnect)"),
        "{line}"
    );
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let srv = Server::on(listener, ServerOpts::default(), echo);
    live.wait(DEADLINE).code(0).stdout("hello\n");
    assert_eq!(srv.next().texts(), ["hello"]);
}

#[test]
fn gives_up_after_the_limit_with_the_last_error() {
    // One connection, closed by the server; then nothing listens any more.
    let srv = scripted(vec![(vec![], Some(1001))]);
    let url = srv.url();
    let r = run(&[&url, "-x", "sub", "--reconnect=2", "--wait", "forever"]);
    r.code(3)
        .stderr_has("(attempt 1)")
        .stderr_has("(attempt 2)")
        .stderr_lacks("(attempt 3)");
    assert!(
        r.stderr_str().trim_end().ends_with("connection refused"),
        "the run ends with the last attempt's error\n{r}"
    );
    assert_eq!(srv.next().texts(), ["sub"]);
}

#[test]
fn without_the_flag_a_server_close_ends_the_run() {
    let srv = scripted(vec![(vec!["a"], Some(1012))]);
    run(&[&srv.url(), "-x", "sub", "--wait", "forever"])
        .code(7)
        .stdout("a\n");
    assert_eq!(srv.next().texts(), ["sub"]);
}
