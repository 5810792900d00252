//! Hostile peers: servers (and one client) that misbehave on purpose, and
//! the promises wsprobe keeps against them. `--timeout` is a hard deadline
//! in every phase, `--connect-timeout` bounds the whole connection set-up,
//! signals end the run at once whatever wsprobe is waiting on, memory stays
//! bounded under a flood, close codes and reasons are reported as they were
//! on the wire (one line, escaped), every mode reaches the same verdict, and
//! a bad client does not end a listener.
//!
//! Each misbehaviour is a small raw-socket server below. Every test bounds
//! the time wsprobe takes (the deadline it was given plus [`SLACK`]), and
//! every server thread ends by itself (when the client goes away, or after
//! a bounded time).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role};
use tungstenite::{Message, WebSocket};

/// Allowance on top of a deadline wsprobe was given, for a loaded CI machine
/// (still well short of every other deadline that could end the run: the
/// default `--connect-timeout` of 10 s, and [`KILL_AFTER`]).
const SLACK: Duration = Duration::from_secs(1);

/// Bound for outcomes that need no waiting at all (the server answers at
/// once): startup, one exchange and the close handshake.
const PROMPT: Duration = Duration::from_secs(5);

/// How long a signalled wsprobe may take to exit (the promise is 250 ms).
const SIGNAL_BOUND: Duration = Duration::from_millis(1500);

/// How long the test harness lets a run go on before killing it (well past
/// every bound asserted below, so that a hang shows as a failed bound).
const KILL_AFTER: Duration = Duration::from_secs(12);

/// Held by the tests that flood wsprobe as fast as the machine allows, so
/// that only one of them at a time loads the (small) CI machine.
static HEAVY: Mutex<()> = Mutex::new(());

fn heavy() -> MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs wsprobe to the end (killed after [`KILL_AFTER`]).
fn run(args: &[&str], stdin: &str) -> Run {
    Wsprobe::new(args).stdin(stdin).time_limit(KILL_AFTER).run()
}

/// Starts wsprobe with stdin from /dev/null (pipe mode, input at EOF).
fn spawn(args: &[&str], stdout: Stdout) -> Live {
    Wsprobe::new(args)
        .stdin_from(Stdin::Null)
        .stdout(stdout)
        .spawn()
}

// ---------------------------------------------------------------------------
// Raw building blocks for misbehaving servers
// ---------------------------------------------------------------------------

/// Reads the upgrade request and answers it with a correct 101 followed by
/// `then` (frames, in the same write).
fn upgrade(s: &mut TcpStream, then: &[u8]) -> io::Result<RawRequest> {
    let req = read_request(s)?;
    let mut out = switching_protocols(&req).into_bytes();
    out.extend_from_slice(then);
    s.write_all(&out)?;
    s.flush()?;
    Ok(req)
}

/// The payload of a Close frame: the code as a big-endian u16, then the
/// reason bytes as given.
fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// One frame from the client: (FIN, opcode, unmasked payload).
fn read_client_frame(s: &mut impl Read) -> io::Result<(bool, u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    s.read_exact(&mut head)?;
    let fin = head[0] & 0x80 != 0;
    let opcode = head[0] & 0x0f;
    let masked = head[1] & 0x80 != 0;
    let mut len = u64::from(head[1] & 0x7f);
    if len == 126 {
        let mut b = [0u8; 2];
        s.read_exact(&mut b)?;
        len = u64::from(u16::from_be_bytes(b));
    } else if len == 127 {
        let mut b = [0u8; 8];
        s.read_exact(&mut b)?;
        len = u64::from_be_bytes(b);
    }
    if len > 16 << 20 {
        return Err(io::Error::other("client frame too large for this test"));
    }
    let mut mask = [0u8; 4];
    if masked {
        s.read_exact(&mut mask)?;
    }
    let mut payload = vec![0u8; len as usize];
    s.read_exact(&mut payload)?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Ok((fin, opcode, payload))
}

/// Writes `bytes` one at a time, pausing `per_byte` after each; `false` if
/// a write failed (the client went away).
fn drip(s: &mut TcpStream, bytes: &[u8], per_byte: Duration) -> bool {
    for b in bytes {
        if s.write_all(&[*b]).and_then(|_| s.flush()).is_err() {
            return false;
        }
        thread::sleep(per_byte);
    }
    true
}

/// Writes `chunk` (whole frames) over and over, as fast as the client
/// takes it, for up to `limit` or until a write fails (the client is gone).
/// Counts the bytes the kernel accepted in `sent`. Never reads.
fn pump(s: &mut TcpStream, chunk: &[u8], limit: Duration, sent: &AtomicU64) {
    // Short write timeouts so the time limit is noticed while blocked;
    // `off` keeps the framing intact across partial writes.
    let _ = s.set_write_timeout(Some(Duration::from_millis(100)));
    let end = Instant::now() + limit;
    let mut off = 0;
    while Instant::now() < end {
        match s.write(&chunk[off..]) {
            Ok(0) => return,
            Ok(n) => {
                sent.fetch_add(n as u64, Ordering::SeqCst);
                off = (off + n) % chunk.len();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return,
        }
    }
}

/// Holds the connection open without ever reading from it, until the
/// client closes it or `limit` passes.
fn hold_unread(s: &TcpStream, limit: Duration) {
    let mut pfd = libc::pollfd {
        fd: s.as_raw_fd(),
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd for a socket we own.
    unsafe {
        libc::poll(&mut pfd, 1, limit.as_millis() as i32);
    }
}

/// Waits (with a deadline) for a server to report that it reached a phase.
#[track_caller]
fn await_phase<T>(rx: &Receiver<T>, what: &str) -> T {
    match rx.recv_timeout(DEADLINE) {
        Ok(v) => v,
        Err(e) => panic!("the server never reached {what:?} ({e})"),
    }
}

// ---------------------------------------------------------------------------
// The misbehaving servers
// ---------------------------------------------------------------------------

/// Reads the upgrade request, tells the test (on the returned channel), and
/// never answers; holds the connection until the client goes away.
fn never_answers_upgrade() -> (RawServer, Receiver<()>) {
    let (tx, rx) = mpsc::channel();
    let srv = RawServer::start(move |mut s| {
        let req = read_request(&mut s).unwrap_or_default();
        let _ = tx.send(());
        hold_silently(&mut s);
        req
    });
    (srv, rx)
}

/// Accepts TCP connections and never reads or writes anything.
fn never_reads() -> RawServer {
    RawServer::start(|s| {
        hold_unread(&s, Duration::from_secs(40));
        RawRequest::default()
    })
}

/// Answers the upgrade, then writes `frames`, then reads until the client
/// goes away (answering nothing).
fn upgrade_then(frames: Vec<u8>) -> RawServer {
    RawServer::start(move |mut s| {
        let req = upgrade(&mut s, &frames).unwrap_or_default();
        hold_silently(&mut s);
        req
    })
}

/// Answers the upgrade, then closes with `code` and `reason` (raw bytes) and
/// reads until the client goes away.
fn closes_with(code: u16, reason: &[u8]) -> RawServer {
    upgrade_then(unmasked_frame(0x8, &close_payload(code, reason)))
}

/// A working echo server (raw frames) that never answers the client's
/// Close: it ignores it and keeps the connection open until the client
/// goes away.
fn echo_ignoring_close() -> RawServer {
    RawServer::start(|mut s| {
        let Ok(req) = upgrade(&mut s, b"") else {
            return RawRequest::default();
        };
        while let Ok((fin, opcode, payload)) = read_client_frame(&mut s) {
            let reply = match opcode {
                0x0..=0x2 => raw_frame(fin, opcode, &payload),
                0x9 => unmasked_frame(0xa, &payload),
                _ => continue, // Close (and pongs): ignored
            };
            if s.write_all(&reply).is_err() {
                break;
            }
        }
        req
    })
}

/// Answers the upgrade with a valid 101, written one byte every `per_byte`.
/// If `echo`, then echoes data messages (tungstenite) until the client
/// closes; otherwise holds the connection.
fn drips_upgrade(per_byte: Duration, echo: bool) -> RawServer {
    RawServer::start(move |mut s| {
        let Ok(req) = read_request(&mut s) else {
            return RawRequest::default();
        };
        if !drip(&mut s, switching_protocols(&req).as_bytes(), per_byte) {
            return req;
        }
        if !echo {
            hold_silently(&mut s);
            return req;
        }
        let mut ws = WebSocket::from_raw_socket(s, Role::Server, None);
        loop {
            match ws.read() {
                Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                    if ws.send(m).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        req
    })
}

/// What a flooding server reports: when it started streaming, and how many
/// bytes (after the 101 and `first`) the kernel has accepted so far.
struct Flow {
    started: Receiver<Instant>,
    sent: Arc<AtomicU64>,
}

impl Flow {
    fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

/// Answers the upgrade, writes `first`, then `chunk` over and over as fast
/// as the client takes it, for up to `limit` or until the client is gone.
/// Never reads after the request.
fn floods(first: Vec<u8>, chunk: Vec<u8>, limit: Duration) -> (RawServer, Flow) {
    let sent = Arc::new(AtomicU64::new(0));
    let (tx, started) = mpsc::channel();
    let counter = sent.clone();
    let srv = RawServer::start(move |mut s| {
        let Ok(req) = upgrade(&mut s, &first) else {
            return RawRequest::default();
        };
        let _ = tx.send(Instant::now());
        pump(&mut s, &chunk, limit, &counter);
        req
    });
    (srv, Flow { started, sent })
}

/// A server (tungstenite) that sends 1 KiB text messages as fast as the
/// client takes them, for up to 20 s, reading (and recording the client's
/// Close) meanwhile. The counter is the number of bytes of payload handed
/// to tungstenite (at most its write buffer, 128 KiB, ahead of the wire).
fn floods_text() -> (Server, Arc<AtomicU64>) {
    let queued = Arc::new(AtomicU64::new(0));
    let q = queued.clone();
    let srv = Server::start(move |c: &mut Conn| {
        c.set_record(false);
        let start = Instant::now();
        let payload = "x".repeat(1024);
        let q = q.clone();
        c.flood(
            move |i| {
                if start.elapsed() > Duration::from_secs(20) {
                    return None;
                }
                q.store((i + 1) * 1024, Ordering::SeqCst);
                Some(Message::text(payload.clone()))
            },
            None,
        );
    });
    (srv, queued)
}

// ---------------------------------------------------------------------------
// A. --timeout is a hard deadline in every phase
// ---------------------------------------------------------------------------

#[test]
fn a1_timeout_bounds_an_unanswered_upgrade() {
    let (srv, _phase) = never_answers_upgrade();
    let r = run(&[&srv.url(), "-x", "hi", "--timeout", "2s"], "");
    r.code(6)
        .finished_within(Duration::from_secs(2) + SLACK)
        .one_error_line()
        .stderr_has("timed out (--timeout 2s)")
        .stderr_has("upgrade response");
}

#[test]
fn a2_timeout_bounds_a_server_that_never_reads_despite_a_longer_connect_timeout() {
    let srv = never_reads();
    let r = run(
        &[
            &srv.url(),
            "-x",
            "hi",
            "--timeout",
            "3s",
            "--connect-timeout",
            "30s",
        ],
        "",
    );
    r.code(6)
        .finished_within(Duration::from_secs(3) + SLACK)
        .no_panic();
}

#[test]
fn a3_timeout_bounds_reconnecting_to_a_closed_port() {
    let url = format!("ws://127.0.0.1:{}/", closed_port());
    let r = run(&[&url, "--reconnect", "--timeout", "2s", "-x", "hi"], "");
    r.code(6)
        .finished_within(Duration::from_secs(2) + SLACK)
        .stderr_has("timed out (--timeout 2s)")
        .stderr_has("connection refused");
}

#[test]
fn a4_timeout_bounds_reconnecting_to_a_server_answering_503() {
    let srv = RawServer::reply(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    let r = run(
        &[&srv.url(), "--reconnect", "--timeout", "2s", "-x", "hi"],
        "",
    );
    r.code(6)
        .finished_within(Duration::from_secs(2) + SLACK)
        .stderr_has("timed out (--timeout 2s)")
        .stderr_has("503");
}

#[test]
fn a5_timeout_bounds_the_wait_for_an_unanswered_close() {
    let srv = echo_ignoring_close();
    let r = run(&[&srv.url(), "-x", "hi", "--timeout", "1s"], "");
    r.code(0)
        .stdout("hi\n")
        .finished_within(Duration::from_secs(1) + SLACK);
}

// ---------------------------------------------------------------------------
// B. --connect-timeout bounds DNS + TCP + TLS + upgrade together
// ---------------------------------------------------------------------------

#[test]
fn b_connect_timeout_bounds_an_upgrade_response_dripped_byte_by_byte() {
    let srv = drips_upgrade(Duration::from_secs(1), false);
    let r = run(&[&srv.url(), "-x", "hi", "--connect-timeout", "3s"], "");
    r.code(3)
        .finished_within(Duration::from_secs(3) + SLACK)
        .stderr_has("--connect-timeout");
}

// ---------------------------------------------------------------------------
// C. Signals end the run at once, in every phase
// ---------------------------------------------------------------------------

#[test]
fn c1_sigint_and_sigterm_interrupt_an_unanswered_upgrade() {
    let mut failures = Vec::new();
    for (sig, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let (srv, phase) = never_answers_upgrade();
        let mut p = spawn(&[&srv.url(), "-x", "hi"], Stdout::Lines);
        await_phase(&phase, "the upgrade request");
        let sent = Instant::now();
        p.signal(sig);
        let status = p.try_wait(Duration::from_secs(8));
        let took = sent.elapsed();
        let err = p.stderr_so_far();
        match status {
            Some(s) if s.code() == Some(code) && took < SIGNAL_BOUND => {}
            Some(s) => failures.push(format!(
                "signal {sig} during the upgrade: expected exit {code} within {SIGNAL_BOUND:?}, \
                 got {s} after {took:?}; stderr: {err:?}"
            )),
            None => failures.push(format!(
                "signal {sig} during the upgrade: still running after {took:?}; stderr: {err:?}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Waits until the text-flooding server has certainly filled wsprobe's
/// stdout pipe: 2 MiB on the wire (the counter runs up to 128 KiB ahead of
/// the wire), or, if wsprobe holds the flow back before that, no progress
/// for a second after at least 256 KiB (four times the pipe buffer).
#[track_caller]
fn await_stalled_stdout(queued: &AtomicU64, p: &mut Live) -> u64 {
    let end = Instant::now() + Duration::from_secs(15);
    let (mut last, mut since) = (0, Instant::now());
    loop {
        let q = queued.load(Ordering::SeqCst);
        if q >= (2 << 20) + (128 << 10) + 1024 {
            return q;
        }
        if q != last {
            (last, since) = (q, Instant::now());
        } else if q >= 256 << 10 && since.elapsed() >= Duration::from_secs(1) {
            return q;
        }
        if let Some(s) = p.try_wait(Duration::ZERO) {
            panic!(
                "wsprobe exited ({s}) while the server was flooding; stderr: {:?}",
                p.stderr_so_far()
            );
        }
        assert!(
            Instant::now() < end,
            "the server could only queue {q} bytes in 15 s"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn c2_sigint_with_stdout_stalled_closes_1000_and_exits_130() {
    let _heavy = heavy();
    let (srv, queued) = floods_text();
    let mut p = spawn(&[&srv.url(), "--wait", "forever"], Stdout::Unread);
    let q = await_stalled_stdout(&queued, &mut p);
    let sent = Instant::now();
    p.signal(libc::SIGINT);
    let r = p.wait(Duration::from_secs(8));
    let took = sent.elapsed();
    assert_eq!(r.code, Some(130), "after {q} bytes queued\n{r}");
    assert!(
        took < SIGNAL_BOUND,
        "exit took {took:?} after SIGINT (stdout stalled, {q} bytes queued)\n{r}"
    );
    drop(p);
    let obs = srv.next();
    assert_eq!(obs.close_code(), 1000, "{obs:?}");
}

#[test]
fn c2_timeout_with_stdout_stalled_exits_6() {
    let _heavy = heavy();
    let (srv, _queued) = floods_text();
    let mut p = spawn(
        &[&srv.url(), "--wait", "forever", "--timeout", "2s"],
        Stdout::Unread,
    );
    p.wait(Duration::from_secs(8))
        .code(6)
        .finished_within(Duration::from_secs(2) + SLACK);
}

/// A text frame with FIN=0 and no payload, then empty continuation frames
/// (FIN=0) as fast as the client takes them, for up to 20 s.
fn endless_empty_fragments() -> (RawServer, Flow) {
    floods(
        raw_frame(false, 0x1, b""),
        raw_frame(false, 0x0, b"").repeat(4096),
        Duration::from_secs(20),
    )
}

#[test]
fn c3_timeout_bounds_endless_empty_continuation_frames() {
    let _heavy = heavy();
    // `-x hi`: the reply can never arrive (the fragmented message never
    // ends), so the run can only end by --timeout, whatever the stop rule.
    let (srv, _flow) = endless_empty_fragments();
    let r = run(&[&srv.url(), "-x", "hi", "--timeout", "2s"], "");
    r.code(6)
        .finished_within(Duration::from_secs(2) + SLACK)
        .no_panic();
}

#[test]
fn c3_sigint_interrupts_endless_empty_continuation_frames() {
    let _heavy = heavy();
    let (srv, flow) = endless_empty_fragments();
    let mut p = spawn(&[&srv.url(), "--wait", "forever"], Stdout::Lines);
    let started = await_phase(&flow.started, "streaming");
    // 500 ms of streaming, with frames actually flowing.
    let end = Instant::now() + DEADLINE;
    while started.elapsed() < Duration::from_millis(500) || flow.sent() < 64 << 10 {
        assert!(
            Instant::now() < end,
            "only {} bytes streamed; stderr: {:?}",
            flow.sent(),
            p.stderr_so_far()
        );
        thread::sleep(Duration::from_millis(10));
    }
    let sent = Instant::now();
    p.signal(libc::SIGINT);
    let r = p.wait(Duration::from_secs(8));
    let took = sent.elapsed();
    r.code(130);
    assert!(took < SIGNAL_BOUND, "exit took {took:?} after SIGINT\n{r}");
}

// ---------------------------------------------------------------------------
// D. Bounded memory
// ---------------------------------------------------------------------------

#[test]
fn d1_ping_flood_from_a_server_that_never_reads_keeps_memory_bounded() {
    let _heavy = heavy();
    // Small pings as fast as wsprobe takes them; the server never reads the
    // pongs. It stops after 6 s (past wsprobe's 4 s deadline) or when the
    // client is gone.
    let (srv, flow) = floods(
        Vec::new(),
        unmasked_frame(0x9, b"0123456789abcdef").repeat(4096),
        Duration::from_secs(6),
    );
    let r = Wsprobe::new(&[&srv.url(), "--wait", "forever", "--timeout", "4s"])
        .stdin_from(Stdin::Null)
        .measure_memory()
        .time_limit(Duration::from_secs(10))
        .run();
    let peak_kb = r.peak_rss_kb.unwrap_or(0);
    let peak_mib = peak_kb as f64 / 1024.0;
    assert!(
        peak_kb > 0,
        "could not read VmHWM of wsprobe from /proc\n{r}"
    );
    assert!(
        peak_kb < 64 * 1024,
        "peak RSS {peak_mib:.1} MiB under a ping flood ({} bytes of pings sent)\n{r}",
        flow.sent()
    );
    r.code(6).finished_within(Duration::from_secs(4) + SLACK);
}

// ---------------------------------------------------------------------------
// E-G. Close frames reported as on the wire
// ---------------------------------------------------------------------------

#[test]
fn e_invalid_close_codes_from_the_server_exit_1_naming_the_code() {
    let mut failures = Vec::new();
    for code in [1004u16, 1005, 1006, 1015, 1016, 999, 2999, 5000] {
        let srv = closes_with(code, b"");
        let r = run(&[&srv.url(), "--wait", "forever"], "");
        let err = r.stderr_str();
        let body = err.strip_suffix('\n').unwrap_or(&err);
        let one_line = body.starts_with("wsprobe: ") && !body.contains('\n');
        let needle = format!("invalid close code {code}");
        if r.code != Some(1) || !one_line || !err.contains(&needle) || r.elapsed >= PROMPT {
            failures.push(format!("close code {code}: expected exit 1 and one line with {needle:?} within {PROMPT:?}\n{r}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Contrast: an application code is valid, and an error (exit 7).
    let srv = closes_with(4000, b"");
    let r = run(&[&srv.url(), "--wait", "forever"], "");
    r.code(7).stderr_has("4000").finished_within(PROMPT);
}

#[test]
fn f_close_reason_is_reported_on_one_line_with_control_characters_escaped() {
    let srv = closes_with(4001, b"line1\nline2\x1b[31m");
    let r = run(&[&srv.url(), "--wait", "forever"], "");
    r.code(7)
        .finished_within(PROMPT)
        .one_error_line()
        .stderr_has(r"line1\nline2\x1b[31m");
    assert!(!r.stderr.contains(&0x1b), "raw ESC on stderr\n{r}");
}

#[test]
fn g_close_reason_not_utf8_is_blamed_on_the_close_frame() {
    let srv = closes_with(1000, b"\xff\xfe");
    let r = run(&[&srv.url(), "--wait", "forever"], "");
    r.code(1)
        .finished_within(PROMPT)
        .stderr_has("Close frame")
        .stderr_has("not valid UTF-8")
        .stderr_lacks("text message");
}

// ---------------------------------------------------------------------------
// H. The same verdict in every mode
// ---------------------------------------------------------------------------

#[test]
fn h_server_closing_1001_before_replying_gets_the_same_verdict_in_every_mode() {
    let srv = Server::start(|c: &mut Conn| {
        c.recv();
        c.close(1001, "");
    });
    let url = srv.url();
    let url = url.as_str();
    let cases: [(&[&str], &str, i32, &[&str]); 4] = [
        (&[url, "-x", "a"], "", 6, &["1001", "0 of 1"]),
        (&[url], "a\n", 6, &["1001", "0 of 1"]),
        (&[url, "-x", "a", "--count", "1"], "", 6, &[]),
        (&[url, "-x", "a", "--wait", "forever"], "", 0, &[]),
    ];
    let mut failures = Vec::new();
    for (args, stdin, code, needles) in cases {
        let r = run(args, stdin);
        let err = r.stderr_str();
        let missing: Vec<_> = needles.iter().filter(|n| !err.contains(*n)).collect();
        if r.code != Some(code) || !missing.is_empty() || r.elapsed >= PROMPT {
            failures.push(format!(
                "stdin {stdin:?}: expected exit {code} within {PROMPT:?}, stderr with {needles:?} \
                 (missing {missing:?})\n{r}"
            ));
        }
        let obs = srv.next();
        if obs.texts() != ["a"] {
            failures.push(format!("{args:?}: the server saw {obs:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------
// I-J. Upgrade responses: slow but valid is fine, unoffered choices are not
// ---------------------------------------------------------------------------

#[test]
fn i_slow_but_valid_upgrade_response_is_accepted() {
    // The 101 takes about 2.6 s (one byte every 20 ms), well inside the
    // default --connect-timeout (10 s).
    let srv = drips_upgrade(Duration::from_millis(20), true);
    let r = run(&[&srv.url(), "-x", "hi"], "");
    r.code(0)
        .stdout("hi\n")
        .stderr_lacks("Attack attempt")
        .finished_within(Duration::from_secs(3) + PROMPT);
}

#[test]
fn j_extension_that_was_not_offered_is_rejected() {
    let srv = RawServer::upgrade_with(|req| {
        let ok = switching_protocols(req);
        let head = ok.strip_suffix("\r\n").unwrap();
        format!("{head}Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
    });
    let r = run(&[&srv.url(), "-x", "hi"], "");
    r.code(5)
        .stdout("")
        .finished_within(PROMPT)
        .stderr_has("permessage-deflate")
        .stderr_has("not offered");
    assert_eq!(srv.next().header("sec-websocket-extensions"), None);
}

#[test]
fn j_subprotocol_selected_when_none_was_offered_is_rejected() {
    let srv = RawServer::upgrade_with(|req| {
        let ok = switching_protocols(req);
        let head = ok.strip_suffix("\r\n").unwrap();
        format!("{head}Sec-WebSocket-Protocol: chat\r\n\r\n")
    });
    let r = run(&[&srv.url(), "-x", "hi"], "");
    r.code(5).stdout("").finished_within(PROMPT);
    assert_eq!(srv.next().header("sec-websocket-protocol"), None);
}

// ---------------------------------------------------------------------------
// K. A listener survives a bad client
// ---------------------------------------------------------------------------

#[test]
fn k_listener_with_reconnect_survives_a_client_that_fails_tls() {
    let pki = pki();
    let (cert, key) = (
        pki.localhost.cert.to_str().unwrap(),
        pki.localhost.key.to_str().unwrap(),
    );
    let mut p = spawn(
        &[
            "--listen",
            "127.0.0.1:0",
            "--cert",
            cert,
            "--key",
            key,
            "--reconnect",
            "--wait",
            "forever",
        ],
        Stdout::Lines,
    );
    let url = p.listening_url();
    let port: u16 = url
        .trim_start_matches("wss://127.0.0.1:")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|_| panic!("no port in {url:?}"));

    // A plain-HTTP client on the TLS port: its handshake fails. Read until
    // the listener drops it, so the failure has been handled.
    let mut bad = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let bad_addr = bad.local_addr().unwrap().to_string();
    bad.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    bad.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut sink = Vec::new();
    let _ = bad.read_to_end(&mut sink);
    drop(bad);

    // A good client afterwards: sends `hello`, closes with 1000 and reads
    // until the close handshake is done.
    let mut good = match try_ws_client(&url, None) {
        Ok(ws) => ws,
        Err(e) => {
            let state = p.try_wait(Duration::ZERO);
            panic!(
                "the good client failed after the bad one ({e}); listener: {state:?}; stderr: {:?}",
                p.stderr_so_far()
            );
        }
    };
    good.send(Message::text("hello")).unwrap();
    let bye = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    good.close(Some(bye)).unwrap();
    let (_, code) = read_to_end(&mut good);
    let line = p.line();
    assert_eq!(
        line.as_deref(),
        Some(&b"hello\n"[..]),
        "the listener did not print the good client's message; stderr: {:?}",
        p.stderr_so_far()
    );
    assert_eq!(code, Some(1000), "close code the good client received");

    let sent = Instant::now();
    p.signal(libc::SIGINT);
    let r = p.wait(Duration::from_secs(8));
    let took = sent.elapsed();
    r.code(130);
    assert!(took < SIGNAL_BOUND, "exit took {took:?}\n{r}");
    assert!(
        r.stderr_str().contains(&bad_addr),
        "the listener's stderr does not mention the failed client {bad_addr}\n{r}"
    );
}

// ---------------------------------------------------------------------------
// L. A TLS server behind a ws:// URL
// ---------------------------------------------------------------------------

#[test]
fn l_tls_server_behind_a_ws_url_is_rejected_suggesting_wss() {
    let Tls::Native(acceptor) = tls_acceptor(&pki().localhost) else {
        unreachable!("tls_acceptor is native-tls")
    };
    let srv = RawServer::start(move |tcp| {
        let _ = acceptor.accept(tcp);
        RawRequest::default()
    });
    let url = format!("ws://127.0.0.1:{}/", srv.port());
    let r = run(&[&url, "-x", "hi", "--timeout", "5s"], "");
    r.code(5)
        .finished_within(Duration::from_secs(5) + SLACK)
        .stderr_has("wss://");
}
