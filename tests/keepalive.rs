//! Keepalive: `--ping-interval` sends pings while the session is idle, and
//! `--ping-timeout` fails a connection whose peer no longer answers them.

use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::Message;

fn wsprobe(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wsprobe"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn pings_are_sent_at_the_interval() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(tcp).unwrap();
        let mut pings = Vec::new();
        let started = Instant::now();
        loop {
            match ws.read() {
                Ok(Message::Ping(p)) => pings.push((started.elapsed(), p.to_vec())),
                Ok(Message::Close(_)) => {
                    let _ = ws.flush();
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let _ = tx.send(pings);
    });
    let out = wsprobe(&[
        &format!("ws://127.0.0.1:{port}/"),
        "--ping-interval",
        "100ms",
        "--wait",
        "550ms",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pings = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        (4..=6).contains(&pings.len()),
        "expected about 5 pings in 550 ms, got {pings:?}"
    );
    for (at, payload) in &pings {
        assert_eq!(payload, b"wsprobe-keepalive");
        assert!(
            *at >= Duration::from_millis(90),
            "a ping came too early: {at:?}"
        );
    }
}

#[test]
fn an_unanswered_ping_fails_the_run() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        // Complete the handshake, then never read again: no pong is ever sent.
        let _ws = tungstenite::accept(tcp).unwrap();
        let _ = done_rx.recv_timeout(Duration::from_secs(30));
    });
    let started = Instant::now();
    let out = wsprobe(&[
        &format!("ws://127.0.0.1:{port}/"),
        "--ping-interval",
        "100ms",
        "--ping-timeout",
        "300ms",
        "--wait",
        "forever",
    ]);
    let elapsed = started.elapsed();
    let _ = done_tx.send(());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no pong within 300ms"), "{stderr}");
    assert!(
        elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(5),
        "failed after {elapsed:?}"
    );
}

#[test]
fn ping_timeout_needs_an_interval() {
    let out = wsprobe(&["ws://127.0.0.1:9/", "--ping-timeout", "1s"]);
    assert_eq!(out.status.code(), Some(2));
}
