//! `--stats` (issue 13): the summary on stderr and the last `stats` event of
//! `--jsonl`/`--record`, against the Python peer, the in-process server and
//! misbehaving ones: exact counts for a known exchange, plausible times, ping
//! round trips only when pings were sent, and a summary after a timeout, a
//! server's error close, a reconnect and Ctrl-C too.

use std::time::Duration;

use serde_json::Value;
use tungstenite::Message;

use crate::support::*;

const SECS_5: Duration = Duration::from_secs(5);

/// The `wsprobe: stats: ` lines of stderr, without the prefix.
fn stats_lines(r: &Run) -> Vec<String> {
    r.stderr_str()
        .lines()
        .filter_map(|l| l.strip_prefix("wsprobe: stats: "))
        .map(String::from)
        .collect()
}

/// The last event, which must be the `stats` event.
fn last_stats(r: &Run) -> Value {
    let events = parse_jsonl(&r.stdout);
    let last = events.last().cloned().unwrap_or_default();
    assert_eq!(last["type"], "stats", "the last event: {r}");
    assert_eq!(
        events.iter().filter(|e| e["type"] == "stats").count(),
        1,
        "one stats event: {r}"
    );
    last
}

/// Runs wsprobe at `url` with `args`, `--stats` and `--jsonl`; returns the run
/// and its stats event, which must be the last.
fn run_with_stats(url: &str, args: &[&str]) -> (Run, Value) {
    let mut all = vec![url];
    all.extend_from_slice(args);
    all.extend(["--stats", "--jsonl"]);
    let r = wsprobe(&all, "");
    let stats = last_stats(&r);
    (r, stats)
}

/// (messages, bytes) of the `sent` or `received` field.
fn traffic(stats: &Value, way: &str) -> (u64, u64) {
    let count = |k: &str| stats[way][k].as_u64().unwrap_or(u64::MAX);
    (count("messages"), count("bytes"))
}

/// (pings sent, pongs received).
fn pings(stats: &Value) -> (u64, u64) {
    let count = |k: &str| stats[k].as_u64().unwrap_or(u64::MAX);
    (count("pings_sent"), count("pongs_received"))
}

/// A time in milliseconds: a number, at least `min`, shorter than the run.
#[track_caller]
fn ms(v: &Value, min: f64, run: &Run) -> f64 {
    let x = v
        .as_f64()
        .unwrap_or_else(|| panic!("not a number of milliseconds: {v}; {run}"));
    let elapsed = run.elapsed.as_secs_f64() * 1000.0;
    assert!(
        x >= min && x < elapsed,
        "{x} ms not in [{min}, {elapsed}): {run}"
    );
    x
}

/// The five round-trip figures, in order; each a plausible time.
#[track_caller]
fn rtt_in_order(rtt: &Value, run: &Run) -> Vec<f64> {
    let figures: Vec<f64> = ["min", "median", "p90", "p99", "max"]
        .iter()
        .map(|k| ms(&rtt[k], 0.0, run))
        .collect();
    assert!(
        figures.windows(2).all(|w| w[0] <= w[1]),
        "min <= median <= p90 <= p99 <= max: {figures:?}"
    );
    figures
}

#[test]
fn counts_are_exact_and_times_plausible_against_the_python_peer() {
    let peer = PeerServer::start(&["echo"]);
    // 5 + 6 bytes ("wörld" is 6 in UTF-8) each way.
    let (r, stats) = run_with_stats(
        &peer.url,
        &["-x", "hello", "-x", "wörld", "--timeout", "5s"],
    );
    r.code(0).finished_within(SECS_5);
    assert_eq!(stats["connections"], 1);
    assert_eq!(traffic(&stats, "sent"), (2, 11), "{r}");
    assert_eq!(traffic(&stats, "received"), (2, 11), "{r}");
    assert_eq!(pings(&stats), (0, 0), "{r}");
    let connect = &stats["connect_ms"];
    ms(&connect["dns"], 0.0, &r);
    let tcp = ms(&connect["tcp"], 0.001, &r);
    let upgrade = ms(&connect["upgrade"], 0.001, &r);
    let total = ms(&connect["total"], 0.001, &r);
    assert!(total >= tcp + upgrade - 0.01, "{connect}");
    assert!(connect.get("tls").is_none(), "no TLS on ws://: {connect}");
    ms(&stats["first_message_ms"], 0.001, &r);
    assert!(
        stats.get("rtt_ms").is_none(),
        "no pings, no round trips: {r}"
    );
    // The summary on stderr says the same, without a ping line.
    let lines = stats_lines(&r);
    assert_eq!(lines.len(), 2, "{r}");
    assert!(
        lines[0].starts_with("connect ") && lines[0].contains(", first message "),
        "{r}"
    );
    assert_eq!(
        lines[1],
        "sent 2 messages (11 bytes), received 2 messages (11 bytes)"
    );
}

#[test]
fn the_summary_is_on_stderr_even_with_q_and_stdout_is_untouched() {
    let srv = Server::start(|c: &mut Conn| c.echo());
    let r = wsprobe(&[&srv.url(), "-x", "hi", "--stats", "-q"], "");
    r.code(0).stdout("hi\n").finished_within(SECS_5);
    let lines = stats_lines(&r);
    assert_eq!(lines.len(), 2, "{r}");
    let connect = regex::Regex::new(
        r"^connect \d+\.\d\d ms \(dns \d+\.\d\d, tcp \d+\.\d\d, upgrade \d+\.\d\d\), first message \d+\.\d\d ms$",
    )
    .unwrap();
    assert!(connect.is_match(&lines[0]), "{r}");
    assert_eq!(
        lines[1],
        "sent 1 message (2 bytes), received 1 message (2 bytes)"
    );
    // Nothing else on stderr.
    assert_eq!(r.stderr_str().lines().count(), 2, "{r}");
}

#[test]
fn without_stats_nothing_is_added() {
    let srv = Server::start(|c: &mut Conn| c.echo());
    let r = wsprobe(&[&srv.url(), "-x", "hi", "--jsonl"], "");
    r.code(0).stderr_empty().finished_within(SECS_5);
    let events = parse_jsonl(&r.stdout);
    assert!(events.iter().all(|e| e["type"] != "stats"), "{r}");
}

/// A server that answers pings and sends "enough" once it has seen `n`:
/// the run waits on that, not on a clock.
fn pinged(n: usize) -> Server {
    Server::start(move |c: &mut Conn| {
        if c.recv_until(|o| o.pings.len() >= n) {
            c.send_text("enough");
        }
        c.drain();
    })
}

#[test]
fn keepalive_pings_give_round_trips() {
    let srv = pinged(8);
    let (r, stats) = run_with_stats(
        &srv.url(),
        &[
            "--ping-interval",
            "50ms",
            "--expect",
            "enough",
            "--timeout",
            "10s",
        ],
    );
    // Eight pings 50 ms apart: about 0.4 s.
    r.code(0).took_between(Duration::from_millis(350), SECS_5);
    let sent = stats["pings_sent"].as_u64().unwrap();
    let rtt = &stats["rtt_ms"];
    let samples = rtt["samples"].as_u64().unwrap();
    assert!(sent >= 8, "{r}");
    // Every pong answered a ping (the last one may still be on its way).
    assert!(samples >= 7 && samples <= sent, "{r}");
    assert_eq!(stats["pongs_received"].as_u64(), Some(samples), "{r}");
    rtt_in_order(rtt, &r);
    assert_eq!(srv.next().pings.len() as u64, sent);
    // The human line counts the same.
    let lines = stats_lines(&r);
    let ping = regex::Regex::new(
        r"^ping rtt min \d+\.\d\d ms, median \d+\.\d\d, p90 \d+\.\d\d, p99 \d+\.\d\d, max \d+\.\d\d \((\d+) of (\d+) pings answered\)$",
    )
    .unwrap();
    let caps = ping
        .captures(&lines[2])
        .unwrap_or_else(|| panic!("bad ping line: {r}"));
    assert_eq!(caps[1].parse::<u64>().ok(), Some(samples));
    assert_eq!(caps[2].parse::<u64>().ok(), Some(sent));
}

#[test]
fn a_peer_that_never_answers_pings_gives_no_round_trips() {
    // Reads nothing after the upgrade: no pong ever comes.
    let srv = Server::start(|c: &mut Conn| c.stall());
    let (r, stats) = run_with_stats(&srv.url(), &["--ping-interval", "50ms", "--wait", "300ms"]);
    r.code(0).finished_within(SECS_5);
    assert!(stats["pings_sent"].as_u64().unwrap() >= 2, "{r}");
    assert_eq!(stats["pongs_received"], 0);
    assert!(stats.get("rtt_ms").is_none(), "{r}");
    assert_eq!(stats["first_message_ms"], Value::Null);
    let lines = stats_lines(&r);
    assert!(lines[0].ends_with(", no message received"), "{r}");
    assert!(
        lines[2].starts_with("ping rtt: no pong answered the ")
            && lines[2].ends_with(" pings sent"),
        "{r}"
    );
}

#[test]
fn unsolicited_pongs_are_counted_but_not_timed() {
    let srv = Server::start(|c: &mut Conn| {
        c.send(Message::Pong(b"not yours".to_vec().into()));
        c.send_text("done");
        c.drain();
    });
    let (r, stats) = run_with_stats(&srv.url(), &["--expect", "done", "--timeout", "5s"]);
    r.code(0).finished_within(SECS_5);
    assert_eq!(pings(&stats), (0, 1), "{r}");
    assert!(stats.get("rtt_ms").is_none(), "{r}");
    assert_eq!(stats_lines(&r).len(), 2, "no ping line without pings: {r}");
}

#[test]
fn after_a_timeout_the_summary_follows_the_error() {
    // Accepts, reads, never answers.
    let srv = Server::start(|c: &mut Conn| c.drain());
    let r = wsprobe(
        &[&srv.url(), "-x", "hi", "--timeout", "500ms", "--stats"],
        "",
    );
    r.code(6).took_between(Duration::from_millis(450), SECS_5);
    let stderr = r.stderr_str();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{r}");
    assert!(
        lines[0].starts_with("wsprobe: timed out (--timeout 500ms)"),
        "{r}"
    );
    assert!(lines[1].starts_with("wsprobe: stats: connect "), "{r}");
    assert!(lines[1].ends_with(", no message received"), "{r}");
    assert_eq!(
        lines[2],
        "wsprobe: stats: sent 1 message (2 bytes), received 0 messages (0 bytes)"
    );
}

#[test]
fn the_stats_event_follows_the_error_event_and_is_recorded() {
    let srv = Server::start(|c: &mut Conn| {
        c.recv();
        c.send_text("bye");
        c.close(4001, "gone");
    });
    let dir = test_tempdir();
    let record = dir.path().join("run.jsonl");
    let record = record.to_str().unwrap();
    let r = wsprobe(
        &[
            &srv.url(),
            "-x",
            "x",
            "--wait",
            "forever",
            "--stats",
            "--jsonl",
            "--record",
            record,
        ],
        "",
    );
    r.code(7).finished_within(SECS_5);
    let events = parse_jsonl(&r.stdout);
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types[types.len() - 2..], ["error", "stats"], "{r}");
    let stats = last_stats(&r);
    assert_eq!(traffic(&stats, "received"), (1, 3), "{r}");
    // The recording ends the same way.
    let recorded = parse_jsonl(&std::fs::read(record).unwrap());
    assert_eq!(recorded.last().map(|e| &e["type"]), Some(&"stats".into()));
    assert_eq!(recorded.last().unwrap()["sent"], stats["sent"]);
}

#[test]
fn without_a_connection_there_are_no_stats() {
    let r = wsprobe(&[&closed_url(), "-x", "hi", "--stats", "--jsonl"], "");
    r.code(3).finished_within(SECS_5);
    assert!(stats_lines(&r).is_empty(), "{r}");
    let events = parse_jsonl(&r.stdout);
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["error"], "{r}");
}

#[test]
fn with_reconnect_counts_are_totals_over_the_connections() {
    // Each connection: echo one message, then close.
    let srv = Server::start(|c: &mut Conn| {
        if let Some(Msg::Text(t)) = c.recv() {
            c.send_text(&t);
        }
        c.close(1001, "");
    });
    let (r, stats) = run_with_stats(
        &srv.url(),
        &[
            "-x",
            "again",
            "--reconnect=2",
            "--count",
            "2",
            "--timeout",
            "10s",
        ],
    );
    // One pause of 0.5 s between the two connections.
    r.code(0).took_between(Duration::from_millis(450), SECS_5);
    assert_eq!(stats["connections"], 2);
    assert_eq!(traffic(&stats, "sent"), (2, 10), "{r}");
    assert_eq!(traffic(&stats, "received"), (2, 10), "{r}");
    // The times are the last connection's: shorter than the pause before it.
    assert!(ms(&stats["connect_ms"]["total"], 0.001, &r) < 450.0, "{r}");
    assert!(ms(&stats["first_message_ms"], 0.001, &r) < 450.0, "{r}");
    let lines = stats_lines(&r);
    assert_eq!(
        lines.last().map(String::as_str),
        Some("2 connections: counts are totals, times are the last connection's"),
        "{r}"
    );
}

#[test]
fn ctrl_c_still_prints_the_summary() {
    let srv = Server::start(|c: &mut Conn| c.echo());
    let url = srv.url();
    let mut live = Wsprobe::new(&[&url, "-x", "first", "--wait", "forever", "--stats"])
        .stdin_from(Stdin::Null)
        .stdout(Stdout::Lines)
        .spawn();
    assert_eq!(live.line().as_deref(), Some(&b"first\n"[..]));
    live.signal(libc::SIGINT);
    let r = live.wait(DEADLINE);
    r.code(130);
    let lines = stats_lines(&r);
    assert_eq!(
        lines.get(1).map(String::as_str),
        Some("sent 1 message (5 bytes), received 1 message (5 bytes)"),
        "{r}"
    );
}

#[test]
fn wss_reports_the_tls_handshake() {
    let srv = tls_echo_server(&pki().localhost);
    let url = srv.url_host("localhost");
    let (r, stats) = run_with_stats(&url, &["--cacert", ca(), "-x", "hi"]);
    r.code(0).finished_within(SECS_5);
    let tls = ms(&stats["connect_ms"]["tls"], 0.001, &r);
    assert!(ms(&stats["connect_ms"]["total"], 0.001, &r) >= tls, "{r}");
    assert!(stats_lines(&r)[0].contains(", tls "), "{r}");
}

#[test]
fn listen_mode_times_the_upgrade_only() {
    let mut live = Wsprobe::new(&[
        "--listen",
        "127.0.0.1:0",
        "--once",
        "-x",
        "hello",
        "--stats",
        "--jsonl",
    ])
    .stdin_from(Stdin::Null)
    .spawn();
    let url = live.listening_url();
    let mut ws = ws_client(&url, None);
    assert_eq!(ws.read().unwrap(), Message::text("hello"));
    ws.send(Message::text("back")).unwrap();
    let (_, code) = read_to_end(&mut ws);
    assert_eq!(code, Some(1000));
    let r = live.wait(DEADLINE);
    r.code(0);
    let stats = last_stats(&r);
    let connect = stats["connect_ms"].as_object().unwrap();
    let names: Vec<&str> = connect.keys().map(String::as_str).collect();
    assert_eq!(names, ["upgrade", "total"], "{r}");
    assert_eq!(traffic(&stats, "received"), (1, 4), "{r}");
    assert!(
        stats_lines(&r)[0].starts_with("upgrade ")
            && stats_lines(&r)[0].contains("(after accepting)"),
        "{r}"
    );
}
