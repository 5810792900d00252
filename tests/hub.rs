//! `--listen` serving many clients at once (the hub): broadcast of stdin, ids in
//! `--jsonl` and `--tag`, per-client `--echo` and `-x`, `--max-clients`,
//! `--path`, `--server-header`, and a client that never reads, which must not
//! stall the others or grow wsprobe's memory. The clients are the Python
//! `websockets` client (server.py's client mode) unless a test needs a socket
//! that misbehaves.

use serde_json::Value;
use std::io::Write;
use std::time::{Duration, Instant};

use crate::support::*;

/// `wsprobe --listen 127.0.0.1:0 ARGS…`, and the URL it announces.
fn hub(args: &[&str], stdin: Stdin) -> (Live, String) {
    let mut all = vec!["--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    hub_of(Wsprobe::new(&all).stdin_from(stdin))
}

fn hub_of(wsprobe: Wsprobe) -> (Live, String) {
    let mut live = wsprobe.spawn();
    let url = live.listening_url();
    (live, url)
}

/// Reads stderr until a line contains `needle`; returns that line.
#[track_caller]
fn stderr_until(live: &mut Live, needle: &str) -> String {
    loop {
        match live.stderr_line() {
            Some(line) if line.contains(needle) => return line,
            Some(_) => {}
            None => panic!("stderr ended without {needle:?}: {}", live.stderr_so_far()),
        }
    }
}

/// Starts a Python client with `args` (server.py `client` options, then the URL
/// and items) and waits until wsprobe has announced it as client `id`.
#[track_caller]
fn client(live: &mut Live, id: u32, args: &[&str]) -> PeerServer {
    let peer = PeerServer::start_client(args);
    stderr_until(live, &format!("client {id} connected"));
    peer
}

/// Ends the hub with Ctrl-C: the run ends with 130.
#[track_caller]
fn interrupt(mut live: Live) -> Run {
    live.signal(libc::SIGINT);
    let r = live.wait(DEADLINE);
    r.code(130).no_panic();
    r
}

fn events_of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[test]
fn a_broadcast_line_reaches_every_client_and_each_clients_messages_carry_its_id() {
    let (mut live, url) = hub(&["--jsonl"], Stdin::Piped);
    let one = client(&mut live, 1, &["--recv", "1", &url]);
    let two = client(
        &mut live,
        2,
        &[
            "--recv",
            "1",
            "--close",
            "1000",
            "--reason",
            "bye",
            &format!("{url}room?user=2"),
            "text:from two",
        ],
    );
    let three = client(&mut live, 3, &["--recv", "1", &url]);
    live.send_stdin(b"hello all\n");
    for peer in [&one, &two, &three] {
        let events = peer.events_until_closed();
        assert_eq!(events[1], peer_text("hello all"), "{events:?}");
        assert!(events[2].contains(r#""event": "closed""#), "{events:?}");
    }
    // In whatever order they close.
    for _ in 1..=3 {
        stderr_until(&mut live, "disconnected");
    }
    let r = interrupt(live);
    let out = parse_jsonl(&r.stdout);
    let opens = events_of_type(&out, "open");
    let ids: Vec<&Value> = opens.iter().map(|e| &e["client"]).collect();
    assert_eq!(ids, [1, 2, 3], "{}", r.stdout_str());
    assert!(
        opens[1]["url"].as_str().unwrap().ends_with("/room?user=2"),
        "{}",
        opens[1]
    );
    // Client 2's message, named by its id.
    let received: Vec<&Value> = out
        .iter()
        .filter(|e| e["type"] == "text" && e["dir"] == "in")
        .collect();
    assert_eq!(received.len(), 1, "{}", r.stdout_str());
    assert_eq!(received[0]["data"], "from two");
    assert_eq!(received[0]["client"], 2);
    // The broadcast, once, to no client in particular.
    let sent: Vec<&Value> = out
        .iter()
        .filter(|e| e["type"] == "text" && e["dir"] == "out")
        .collect();
    assert_eq!(sent.len(), 1, "{}", r.stdout_str());
    assert_eq!(sent[0]["data"], "hello all");
    assert!(sent[0].get("client").is_none(), "{}", sent[0]);
    // Client 2 closed with 1000 "bye"; every client's end is an event.
    let bye = out
        .iter()
        .find(|e| e["type"] == "close" && e["dir"] == "in" && e["client"] == 2)
        .unwrap_or_else(|| panic!("no close from client 2: {}", r.stdout_str()));
    assert_eq!(bye["code"], 1000);
    assert_eq!(bye["reason"], "bye");
    let mut gone: Vec<u64> = events_of_type(&out, "disconnected")
        .into_iter()
        .filter_map(|e| e["client"].as_u64())
        .collect();
    gone.sort_unstable();
    assert_eq!(gone, [1, 2, 3], "{}", r.stdout_str());
    r.stderr_has("client 2 connected from 127.0.0.1:")
        .stderr_has("(path /room)")
        .stderr_has("client 2 disconnected")
        .stderr_has("closed by the client (1000 bye)");
}

#[test]
fn tag_starts_each_line_with_the_clients_id() {
    let (mut live, url) = hub(&["--tag"], Stdin::Null);
    let _one = client(&mut live, 1, &["--recv", "0", &url, "text:first"]);
    stderr_until(&mut live, "client 1 disconnected");
    let _two = client(&mut live, 2, &["--recv", "0", &url, "text:second"]);
    stderr_until(&mut live, "client 2 disconnected");
    interrupt(live).stdout("1\tfirst\n2\tsecond\n");
}

#[test]
fn input_waits_for_the_first_client_and_the_end_of_stdin_does_not_stop_the_server() {
    let (mut live, url) = hub(&[], Stdin::Bytes(b"one\ntwo\nthree\n".to_vec()));
    let first = client(&mut live, 1, &["--recv", "3", &url]);
    let events = first.events_until_closed();
    assert_eq!(
        events[1..4],
        [peer_text("one"), peer_text("two"), peer_text("three")],
        "{events:?}"
    );
    stderr_until(&mut live, "client 1 disconnected");
    // stdin has ended and the only client has left: still serving.
    let second = client(&mut live, 2, &["--until-closed", &url]);
    let r = interrupt(live);
    // Ctrl-C closes every client with 1001 "going away".
    let events = second.events_until_closed();
    assert_eq!(events.last().unwrap(), &peer_closed(1001, "going away"));
    r.stderr_has("client 2 disconnected");
}

#[test]
fn echo_and_greetings_are_per_client() {
    let (mut live, url) = hub(&["--echo", "-x", "welcome"], Stdin::Null);
    let a = client(&mut live, 1, &["--recv", "3", &url, "text:a1", "text:a2"]);
    let b = client(&mut live, 2, &["--recv", "2", &url, "text:b1"]);
    assert_eq!(
        a.events_until_closed()[1..4],
        [peer_text("welcome"), peer_text("a1"), peer_text("a2")]
    );
    assert_eq!(
        b.events_until_closed()[1..3],
        [peer_text("welcome"), peer_text("b1")]
    );
    stderr_until(&mut live, "client 2 disconnected");
    let r = interrupt(live);
    // Plain output: what the clients sent, one per line.
    let mut lines: Vec<&str> = std::str::from_utf8(&r.stdout).unwrap().lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["a1", "a2", "b1"], "{r}");
}

#[test]
fn exec_answers_each_client_with_its_own_messages() {
    let (mut live, url) = hub(&["--exec", "tr a-z A-Z", "--exec-jobs", "3"], Stdin::Null);
    let a = client(
        &mut live,
        1,
        &["--recv", "2", &url, "text:a one", "text:a two"],
    );
    let b = client(&mut live, 2, &["--recv", "1", &url, "text:b one"]);
    assert_eq!(
        a.events_until_closed()[1..3],
        [peer_text("A ONE"), peer_text("A TWO")]
    );
    assert_eq!(b.events_until_closed()[1], peer_text("B ONE"));
    let r = interrupt(live);
    // What each client sent, as plain output.
    let mut lines: Vec<&str> = std::str::from_utf8(&r.stdout).unwrap().lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["a one", "a two", "b one"], "{r}");
}

#[test]
fn clients_beyond_max_clients_are_refused_with_1013() {
    let (mut live, url) = hub(&["--max-clients", "1"], Stdin::Null);
    let first = client(&mut live, 1, &["--until-closed", &url]);
    let extra = PeerServer::start_client(&["--until-closed", &url]);
    let events = extra.events_until_closed();
    assert_eq!(
        events.last().unwrap(),
        &peer_closed(1013, "try again later"),
        "{events:?}"
    );
    stderr_until(&mut live, "refused with 1013: --max-clients 1 reached");
    let r = interrupt(live);
    assert_eq!(
        first.events_until_closed().last().unwrap(),
        &peer_closed(1001, "going away")
    );
    // The refused connection never became a client.
    r.stderr_lacks("client 2");
}

#[test]
fn path_refuses_other_paths_with_404_and_server_headers_go_on_the_101() {
    let (mut live, url) = hub(
        &[
            "--path",
            "^/chat$",
            "--server-header",
            "X-Mock: yes",
            "-s",
            "v2",
            "-s",
            "v1",
            "-v",
        ],
        Stdin::Null,
    );
    match try_ws_client(&format!("{url}other"), None) {
        Err(ClientError::Refused(status)) => assert_eq!(status, 404),
        Err(e) => panic!("expected a 404, got {e}"),
        Ok(_) => panic!("expected a 404, got a connection"),
    }
    let peer = PeerServer::start_client_with(
        &["--subprotocol", "v1", "--subprotocol", "v2"],
        &["--recv", "0", &format!("{url}chat")],
    );
    let open = peer.event();
    assert!(open.contains(r#"["x-mock", "yes"]"#), "{open}");
    // wsprobe's order of preference, among what the client offers.
    assert!(open.contains(r#""subprotocol": "v2""#), "{open}");
    stderr_until(&mut live, "client 1 connected");
    let r = interrupt(live);
    // -v: each client's request and the 101 it got.
    r.stderr_has("subprotocol v2")
        .stderr_has("< sec-websocket-protocol: v1, v2")
        .stderr_has("> x-mock: yes")
        .stderr_has("did not complete a WebSocket upgrade");
}

/// A client that never reads while 50 MB are broadcast: the others get every
/// message in order, the slow one is closed with 1008 once its queue has been
/// full for the documented 2 s, and wsprobe's memory stays bounded.
#[test]
fn a_client_that_never_reads_is_closed_with_1008_and_does_not_stall_the_others() {
    const MESSAGES: usize = 800;
    const SIZE: usize = 64 << 10;
    let (mut live, url) = hub_of(
        Wsprobe::new(&["--listen", "127.0.0.1:0"])
            .stdin_from(Stdin::Piped)
            .measure_memory(),
    );
    // Connected, never read: its socket buffers fill up, then its queue.
    let _slow = ws_client(&url, None);
    stderr_until(&mut live, "client 1 connected");
    let count = MESSAGES.to_string();
    let readers = [
        client(&mut live, 2, &["--recv", &count, "--digest", &url]),
        client(&mut live, 3, &["--recv", &count, "--digest", &url]),
    ];
    let mut expected = Vec::with_capacity(MESSAGES * SIZE);
    let started = Instant::now();
    for n in 0..MESSAGES {
        let mut line = format!("{n:08} ").into_bytes();
        line.resize(SIZE, b'x');
        expected.extend_from_slice(&line);
        line.push(b'\n');
        live.send_stdin(&line);
    }
    let sha = sha256_hex(&expected);
    for reader in &readers {
        let open = reader.event();
        assert!(open.contains(r#""event": "open""#), "{open}");
        let digest = reader.event();
        assert_eq!(
            digest,
            format!(
                r#"{{"event": "digest", "count": {MESSAGES}, "bytes": {}, "sha256": "{sha}"}}"#,
                MESSAGES * SIZE
            )
        );
    }
    let elapsed = started.elapsed();
    let kicked = stderr_until(&mut live, "client 1 is too slow");
    assert!(kicked.contains("closing it with 1008"), "{kicked}");
    // Held up for the stall bound, not for the whole transfer.
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    stderr_until(&mut live, "client 1 disconnected");
    let r = interrupt(live);
    let peak = r.peak_rss_kb.expect("peak RSS measured");
    assert!(
        peak < 40 * 1024,
        "peak RSS {peak} KiB for 50 MB broadcast\n{r}"
    );
}

/// The REPL drives the hub: typed lines go to every client, `/to` to one,
/// `/kick` closes one with its code, `/clients` lists them, Ctrl-D closes all.
#[test]
fn the_repl_broadcasts_addresses_lists_and_kicks_clients() {
    let mut term = Pty::spawn(&["--listen", "127.0.0.1:0"]);
    term.expect("listening on ");
    let url = term.expect("/\r").trim().to_string();
    term.expect("Ctrl-D to quit");
    let alice = PeerServer::start_client(&["--recv", "2", &format!("{url}alice"), "text:hi"]);
    term.expect("client 1 connected from 127.0.0.1:");
    term.expect("[1] < hi");
    let bob = PeerServer::start_client(&["--until-closed", &format!("{url}bob")]);
    term.expect("client 2 connected from 127.0.0.1:");
    term.keys("hello everyone\r");
    term.keys("/to 2 just for bob\r");
    term.keys("/clients\r");
    term.expect("2 clients connected:");
    term.expect("/bob");
    term.keys("/kick 1 4001 bye alice\r");
    let events = alice.events_until_closed();
    // Only the broadcast: /to 2 was for bob.
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[1], peer_text("hello everyone"));
    assert_eq!(events.last().unwrap(), &peer_closed(4001, "bye alice"));
    term.expect("client 1 disconnected: closed by wsprobe with 4001");
    term.keys("/to 1 too late\r");
    term.expect("no client 1 (see /clients): not sent");
    term.keys("\x04");
    let (code, _) = term.finish();
    assert_eq!(code, 0, "{}", term.transcript());
    let events = bob.events_until_closed();
    assert_eq!(
        events[1..],
        [
            peer_text("hello everyone"),
            peer_text("just for bob"),
            peer_closed(1000, ""),
        ],
        "{events:?}"
    );
}

/// A client that breaks the protocol (an unmasked frame) is closed with 1002
/// and reported; the others are not disturbed, and a client that floods is
/// read in turns, so the broadcast still reaches the polite one.
#[test]
fn a_client_breaking_the_protocol_or_flooding_does_not_disturb_the_others() {
    let (mut live, url) = hub(&[], Stdin::Piped);
    let polite = client(&mut live, 1, &["--recv", "1", &url]);
    let mut bad = ws_client(&url, None);
    stderr_until(&mut live, "client 2 connected");
    bad.get_mut()
        .write_all(&unmasked_frame(0x1, b"not masked"))
        .unwrap();
    bad.get_mut().flush().unwrap();
    let broke = stderr_until(&mut live, "client 2 ");
    assert!(broke.contains("closing it with 1002"), "{broke}");
    // A third client sends as fast as it can (the Python client's items), and
    // a broadcast line still goes out to every client in turn.
    let many: Vec<String> = (0..2000).map(|n| format!("text:flood {n}")).collect();
    let mut args = vec!["--recv".to_string(), "1".into(), url.clone()];
    args.extend(many);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let flooder = client(&mut live, 3, &args);
    live.send_stdin(b"for everyone\n");
    assert_eq!(polite.events_until_closed()[1], peer_text("for everyone"));
    assert_eq!(flooder.events_until_closed()[1], peer_text("for everyone"));
    let r = interrupt(live);
    r.stderr_has("client 2 disconnected");
    // Every flood message was written out, in order.
    let out = String::from_utf8_lossy(&r.stdout).into_owned();
    let flood: Vec<&str> = out.lines().filter(|l| l.starts_with("flood ")).collect();
    assert_eq!(flood.len(), 2000, "{}", &out[..out.len().min(300)]);
    assert_eq!(flood[1999], "flood 1999");
}

/// SHA-256 in hex, by `sha256sum` (coreutils), to check what the Python clients
/// hashed without a hashing crate.
fn sha256_hex(data: &[u8]) -> String {
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum (coreutils)");
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}
