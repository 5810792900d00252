//! Feedback for a person at a terminal while wsprobe waits (issue 10): the
//! "connecting…" line of a slow dial and what Ctrl-C interrupted, the hint for a
//! silent server, the progress bar of a large send. Each runs wsprobe in a
//! pseudo-terminal ([`Pty`]) against a peer that holds still until the test has
//! seen what it expects, and each has a twin that checks the feedback stays out
//! of pipes and away from `-q`.

use std::net::TcpStream;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::*;
use tungstenite::protocol::Role;
use tungstenite::{Message, WebSocket};

const CTRL_D: &str = "\x04";
const SECS_5: Duration = Duration::from_secs(5);

/// The dialing line's delay and the hint's, as the binary has them.
const DIAL_SHOWN_AFTER: Duration = Duration::from_millis(300);
const HINT_AFTER: Duration = Duration::from_secs(3);

/// A gate a raw server waits at until the test opens it (or [`DEADLINE`]).
fn gate() -> (Sender<()>, Mutex<Receiver<()>>) {
    let (tx, rx) = mpsc::channel();
    (tx, Mutex::new(rx))
}

fn wait_at(gate: &Mutex<Receiver<()>>) -> bool {
    gate.lock().unwrap().recv_timeout(DEADLINE).is_ok()
}

/// After the upgrade: answer every data message with `got N bytes`, until the
/// connection ends (tungstenite answers the Close).
fn report_sizes(tcp: TcpStream) {
    let mut ws = WebSocket::from_raw_socket(tcp, Role::Server, None);
    while let Ok(message) = ws.read() {
        let size = match &message {
            Message::Text(t) => t.len(),
            Message::Binary(b) => b.len(),
            _ => continue,
        };
        if ws.send(Message::text(format!("got {size} bytes"))).is_err() {
            return;
        }
    }
}

/// A server that reads the upgrade request, then waits at the gate before it
/// answers (and then answers each message with its size).
fn slow_upgrade() -> (RawServer, Sender<()>) {
    let (open, gate) = gate();
    let server = RawServer::start(move |mut tcp| {
        let req = read_request(&mut tcp).unwrap_or_default();
        if wait_at(&gate) {
            let _ = std::io::Write::write_all(&mut tcp, switching_protocols(&req).as_bytes());
            report_sizes(tcp);
        }
        req
    });
    (server, open)
}

fn dialing_line(server: &RawServer) -> String {
    format!(
        "wsprobe: connecting to 127.0.0.1:{} (waiting for the upgrade response)…",
        server.port()
    )
}

#[test]
fn a_slow_upgrade_shows_what_the_dial_waits_for_and_ctrl_c_names_it() {
    let server = RawServer::start(|mut tcp| {
        let req = read_request(&mut tcp).unwrap_or_default();
        hold_silently(&mut tcp);
        req
    });
    let mut term = Pty::spawn(&[&server.url(), "-x", "hi"]);
    term.expect(&dialing_line(&server));
    assert!(
        term.started().elapsed() >= DIAL_SHOWN_AFTER,
        "a dial shorter than {DIAL_SHOWN_AFTER:?} shows nothing"
    );
    let pressed = Instant::now();
    term.keys(CTRL_C);
    term.expect(&format!(
        "wsprobe: interrupted while waiting for the upgrade response from 127.0.0.1:{}",
        server.port()
    ));
    let (code, _) = term.finish();
    assert_eq!(code, 130, "{}", term.transcript());
    assert!(
        pressed.elapsed() < SECS_5,
        "Ctrl-C ends a dial at once: {:?}",
        pressed.elapsed()
    );
}

#[test]
fn the_dialing_line_is_erased_once_connected() {
    let (server, open) = slow_upgrade();
    let mut term = Pty::spawn(&[&server.url(), "-x", "hi", "--timeout", "10s"]);
    term.expect(&dialing_line(&server));
    open.send(()).unwrap();
    // The line is erased (carriage return, erase line) before the reply shows.
    let after = term.expect("got 2 bytes");
    assert!(after.contains("\r\x1b[2K"), "not erased: {after:?}");
    let (code, rest) = term.finish();
    assert_eq!(code, 0, "{}", term.transcript());
    assert!(!rest.contains("connecting"), "{}", term.transcript());
    assert!(term.started().elapsed() < Duration::from_secs(10));
}

#[test]
fn no_dialing_line_in_pipes_or_with_q() {
    let server = RawServer::silent();
    let url = server.url();
    wsprobe(&[&url, "-x", "hi", "--connect-timeout", "1s"], "")
        .code(3)
        .one_error_line()
        .stderr_lacks("(waiting for")
        .finished_within(SECS_5);
    let mut term = Pty::spawn(&[&url, "-x", "hi", "--connect-timeout", "1s", "-q"]);
    let (code, rest) = term.finish();
    assert_eq!(code, 3, "{rest:?}");
    assert!(
        !rest.contains("(waiting for"),
        "-q shows no dialing line: {rest:?}"
    );
    assert!(
        rest.contains("timed out"),
        "the error is still said: {rest:?}"
    );
}

/// A server that takes every message and never answers.
fn silent_server() -> Server {
    Server::start(|conn| conn.drain())
}

const HINT: &str =
    "wsprobe: sent 1 message, waiting for a reply (Ctrl-C to stop, --timeout to limit)";

#[test]
fn a_silent_server_gets_one_hint_then_ctrl_c_stops() {
    let server = silent_server();
    let mut term = Pty::spawn(&[&server.url(), "-x", "hi"]);
    term.expect(HINT);
    let waited = term.started().elapsed();
    assert!(waited >= HINT_AFTER, "the hint came after {waited:?}");
    assert!(
        waited < HINT_AFTER + SECS_5,
        "the hint came after {waited:?}"
    );
    term.keys(CTRL_C);
    let (code, rest) = term.finish();
    assert_eq!(code, 130, "{}", term.transcript());
    assert!(!rest.contains("waiting for a reply"), "once only: {rest:?}");
    let obs = server.next();
    assert_eq!(obs.texts(), ["hi"]);
    assert_eq!(obs.close_code(), 1000, "{obs:?}");
}

#[test]
fn the_hint_names_the_goal_and_leaves_out_timeout_when_it_is_set() {
    let server = silent_server();
    let mut term = Pty::spawn(&[&server.url(), "-x", "hi", "--count", "2", "--timeout", "5s"]);
    term.expect(
        "wsprobe: received 0 of 2 messages (--count 2), waiting for more (Ctrl-C to stop)\r\n",
    );
    let (code, rest) = term.finish();
    assert_eq!(code, 6, "{}", term.transcript());
    assert!(rest.contains("timed out (--timeout 5s)"), "{rest:?}");
}

#[test]
fn no_hint_in_pipes_or_with_q() {
    let server = silent_server();
    let url = server.url();
    // The hint would come after 3 s; the runs last 4.
    wsprobe(&[&url, "-x", "hi", "--timeout", "4s"], "")
        .code(6)
        .one_error_line()
        .stderr_lacks("Ctrl-C")
        .took_between(Duration::from_secs(4), Duration::from_secs(9));
    let mut term = Pty::spawn(&[&url, "-x", "hi", "--timeout", "4s", "-q"]);
    let (code, rest) = term.finish();
    assert_eq!(code, 6, "{rest:?}");
    assert!(!rest.contains("Ctrl-C"), "-q gives no hint: {rest:?}");
}

/// A text file of `size` bytes in a fresh directory.
fn big_file(size: usize) -> (tempfile::TempDir, String) {
    let dir = test_tempdir();
    let path = dir.path().join("big.txt");
    std::fs::write(&path, "x".repeat(size)).unwrap();
    let path = path.to_str().unwrap().to_string();
    (dir, path)
}

/// Larger than the kernel's socket buffers on both sides (4 MiB for sending on
/// Linux by default), so that the send blocks while the server does not read.
const BIG: usize = 8 << 20;

/// A server that completes the upgrade, then reads nothing until the gate opens
/// (then answers each message with its size).
fn slow_reader() -> (RawServer, Sender<()>) {
    let (open, gate) = gate();
    let server = RawServer::start(move |mut tcp| {
        let req = read_request(&mut tcp).unwrap_or_default();
        let _ = std::io::Write::write_all(&mut tcp, switching_protocols(&req).as_bytes());
        if wait_at(&gate) {
            report_sizes(tcp);
        }
        req
    });
    (server, open)
}

#[test]
fn a_large_send_shows_its_progress_then_erases_it() {
    let (_dir, path) = big_file(BIG);
    let (server, open) = slow_reader();
    let file = format!("@{path}");
    let mut term = Pty::spawn(&[&server.url(), "-x", &file, "--timeout", "20s"]);
    term.expect("wsprobe: sending [");
    term.expect(" MiB/8.00 MiB");
    open.send(()).unwrap();
    let after = term.expect(&format!("got {BIG} bytes"));
    assert!(after.contains("\r\x1b[2K"), "not erased: {after:?}");
    let (code, rest) = term.finish();
    assert_eq!(code, 0, "{}", term.transcript());
    assert!(!rest.contains("sending ["), "{}", term.transcript());
}

#[test]
fn ctrl_c_during_a_large_send_says_how_far_it_got() {
    let (_dir, path) = big_file(BIG);
    let (server, _gate) = slow_reader();
    let file = format!("@{path}");
    let mut term = Pty::spawn(&[&server.url(), "-x", &file]);
    term.expect("wsprobe: sending [");
    term.keys(CTRL_C);
    term.expect("wsprobe: interrupted after sending ");
    term.expect(" of 8.00 MiB\r\n");
    let (code, _) = term.finish();
    assert_eq!(code, 130, "{}", term.transcript());
}

#[test]
fn a_quick_large_send_draws_nothing() {
    // 2 MiB fit in the socket buffers: the send is over at once.
    let (_dir, path) = big_file(2 << 20);
    let server = RawServer::start(|mut tcp| {
        let req = read_request(&mut tcp).unwrap_or_default();
        let _ = std::io::Write::write_all(&mut tcp, switching_protocols(&req).as_bytes());
        report_sizes(tcp);
        req
    });
    let file = format!("@{path}");
    let mut term = Pty::spawn(&[&server.url(), "-x", &file, "--timeout", "10s"]);
    term.expect(&format!("got {} bytes", 2 << 20));
    let (code, _) = term.finish();
    assert_eq!(code, 0, "{}", term.transcript());
    assert!(
        !term.transcript().contains("sending"),
        "{}",
        term.transcript()
    );
}

#[test]
fn no_progress_in_pipes_or_with_q() {
    let (_dir, path) = big_file(BIG);
    let (server, _gate) = slow_reader();
    let url = server.url();
    let file = format!("@{path}");
    // The send stays blocked for the whole run: a bar would show after 300 ms.
    wsprobe(&[&url, "-x", &file, "--timeout", "2s"], "")
        .code(6)
        .one_error_line()
        .stderr_lacks("sending")
        .finished_within(SECS_5);
    let mut term = Pty::spawn(&[&url, "-x", &file, "--timeout", "2s", "-q"]);
    let (code, rest) = term.finish();
    assert_eq!(code, 6, "{rest:?}");
    assert!(!rest.contains("sending"), "-q shows no progress: {rest:?}");
}

/// rustyline turns bracketed paste on when a `readline` starts: a fresh prompt.
const EDITOR_READY: &str = "\x1b[?2004h";

#[test]
fn a_large_file_from_the_repl_shows_its_progress_before_the_next_prompt() {
    let (_dir, path) = big_file(BIG);
    let (server, open) = slow_reader();
    let mut term = Pty::spawn(&[&server.url(), "--no-history"]);
    term.expect(EDITOR_READY);
    term.keys(&format!("/file {path}\r"));
    let shown = term.expect("wsprobe: sending [");
    assert!(
        !shown.contains(EDITOR_READY),
        "no prompt while the file is being sent: {shown:?}"
    );
    term.expect(" MiB/8.00 MiB");
    open.send(()).unwrap();
    // The reply and the next prompt come in either order.
    term.expect_times(&format!("got {BIG} bytes"), 1);
    term.expect_times(EDITOR_READY, 2);
    term.keys(CTRL_D);
    let (code, _) = term.finish();
    assert_eq!(code, 0, "{}", term.transcript());
    let screen = term.transcript();
    let bar = screen.rfind("sending [").unwrap();
    assert!(
        screen[bar..].contains("\\r\\u{1b}[2K"),
        "the bar is erased: {screen}"
    );
}
