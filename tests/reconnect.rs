//! `--reconnect`: when the server closes or the connection drops, wsprobe connects
//! again with backoff and re-sends the `-x` messages; it also waits for a server
//! that is not up yet. Without the flag, the same endings end the run.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

/// What one connection of a scripted server received.
type Received = Vec<String>;

/// Serve connections one after another; connection `i` sends `pushes[i]` after
/// reading one text message, then closes with `close_codes[i]` (None: keep
/// reading until the client closes).
fn scripted(
    listener: TcpListener,
    pushes: Vec<Vec<&'static str>>,
    close_codes: Vec<Option<u16>>,
) -> mpsc::Receiver<Received> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for (push, close) in pushes.into_iter().zip(close_codes) {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            let received = serve(tcp, &push, close);
            if tx.send(received).is_err() {
                return;
            }
        }
    });
    rx
}

fn serve(tcp: TcpStream, push: &[&str], close: Option<u16>) -> Received {
    let mut ws = tungstenite::accept(tcp).unwrap();
    let mut received = Vec::new();
    if let Ok(Message::Text(t)) = ws.read() {
        received.push(t.to_string());
    }
    for p in push {
        ws.send(Message::text(*p)).unwrap();
    }
    if let Some(code) = close {
        let _ = ws.close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: "".into(),
        }));
    }
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => received.push(t.to_string()),
            Ok(Message::Close(_)) => {
                let _ = ws.flush();
            }
            Ok(_) => {}
            Err(_) => return received,
        }
    }
}

fn wsprobe(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wsprobe"))
        .args(args)
        .stdin(Stdio::null())
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn reconnects_and_replays_the_execute_messages() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let seen = scripted(
        listener,
        vec![vec!["a", "b"], vec!["c"]],
        vec![Some(1012), None],
    );
    let out = wsprobe(&[
        &url,
        "-x",
        "sub",
        "--reconnect",
        "--count",
        "3",
        "--timeout",
        "20s",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\nb\nc\n");
    assert!(
        stderr
            .contains("the server closed the connection (1012); reconnecting in 500ms (attempt 1)"),
        "{stderr}"
    );
    let first = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    let second = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(first, ["sub"]);
    assert_eq!(
        second,
        ["sub"],
        "the -x message is sent again after reconnecting"
    );
}

#[test]
fn jsonl_shows_the_reconnect_between_two_opens() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let _seen = scripted(listener, vec![vec!["a"], vec!["b"]], vec![Some(1001), None]);
    let out = wsprobe(&[
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
    assert_eq!(out.status.code(), Some(0));
    let types: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
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
            "-:reconnect",
            "in:open",
            "out:text",
            "in:text",
            "out:close",
            "in:close"
        ]
    );
    let reconnect: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.contains("\"reconnect\""))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(reconnect["attempt"], 1);
    assert_eq!(reconnect["delay_ms"], 500);
    assert_eq!(
        reconnect["reason"],
        "the server closed the connection (1001)"
    );
}

#[test]
fn waits_for_a_server_that_is_not_up_yet() {
    // A port with nothing listening: bind, note it, release it.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsprobe"))
        .args([
            &format!("ws://127.0.0.1:{port}/"),
            "-x",
            "hello",
            "--reconnect=10",
            "--timeout",
            "30s",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once wsprobe says it will retry, bring the server up.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(
        line.contains("connection refused; retrying in 500ms (--reconnect)"),
        "{line}"
    );
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(tcp).unwrap();
        loop {
            match ws.read() {
                Ok(Message::Text(t)) => ws.send(Message::Text(t)).unwrap(),
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    server.join().unwrap();
}

#[test]
fn gives_up_after_the_limit_with_the_last_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("ws://{addr}/");
    // One connection, closed by the server; then nothing listens any more.
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        serve(tcp, &[], Some(1001));
        drop(listener);
    });
    let out = wsprobe(&[&url, "-x", "sub", "--reconnect=2", "--wait", "forever"]);
    server.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("(attempt 1)"), "{stderr}");
    assert!(stderr.contains("(attempt 2)"), "{stderr}");
    assert!(!stderr.contains("(attempt 3)"), "{stderr}");
    assert!(
        stderr.trim_end().ends_with("connection refused"),
        "the run ends with the last attempt's error: {stderr}"
    );
}

#[test]
fn without_the_flag_a_server_close_ends_the_run() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let seen = scripted(listener, vec![vec!["a"]], vec![Some(1012)]);
    let out = wsprobe(&[&url, "-x", "sub", "--wait", "forever"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\n");
    assert_eq!(seen.recv_timeout(Duration::from_secs(10)).unwrap(), ["sub"]);
}
