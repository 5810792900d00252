//! `--exec CMD` (issue 13): a command per received message, its output sent
//! back in arrival order, `--exec-jobs`, `--exec-strict`, against the Python peer,
//! in-process servers and a flooding server, with exit codes, elapsed bounds and
//! peak memory; commands still running when the run ends are killed.

use std::path::Path;
use std::time::{Duration, Instant};

use tungstenite::Message;

use crate::support::*;

const SECS_5: Duration = Duration::from_secs(5);

/// Sends `count` messages made by `text(i)` (i = 1..=count), waits for `count`
/// replies, then closes with 1000.
fn send_and_collect(count: usize, text: fn(usize) -> String) -> Server {
    Server::start(move |c: &mut Conn| {
        for i in 1..=count {
            c.send_text(&text(i));
        }
        c.recv_until(|o| o.count as usize >= count);
        c.close(1000, "");
    })
}

#[test]
fn tr_round_trip_keeps_order_over_1000_messages() {
    let srv = send_and_collect(1000, |i| format!("message {i}"));
    wsprobe(
        &[&srv.url(), "--exec", "tr a-z A-Z", "-q", "--timeout", "60s"],
        "",
    )
    .code(0)
    .no_panic()
    .finished_within(Duration::from_secs(60));
    let seen = srv.next();
    let expected: Vec<String> = (1..=1000).map(|i| format!("MESSAGE {i}")).collect();
    assert_eq!(seen.texts(), expected);
}

#[test]
fn the_python_peer_gets_the_commands_output() {
    let peer = PeerServer::start(&["converse", "--replies", "2", "text:hello", "text:{\"n\":2}"]);
    wsprobe(&[&peer.url, "--exec", "tr a-z A-Z", "--timeout", "10s"], "")
        .code(0)
        .stdout("hello\n{\"n\":2}\n")
        .finished_within(Duration::from_secs(10));
    let events = peer.events_until_closed();
    assert!(events.contains(&peer_text("HELLO")), "{events:?}");
    assert!(events.contains(&peer_text("{\"N\":2}")), "{events:?}");
}

#[test]
fn jobs_run_at_once_and_replies_keep_arrival_order() {
    // Message n sleeps (9 - n) tenths of a second: the first finishes last.
    let srv = send_and_collect(8, |i| i.to_string());
    let run = wsprobe(
        &[
            &srv.url(),
            "--exec",
            r#"n=$(cat); sleep "0.$((9 - n))"; echo "r$n""#,
            "--exec-jobs",
            "8",
            "--timeout",
            "20s",
        ],
        "",
    );
    run.code(0);
    assert_eq!(
        srv.next().texts(),
        ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"]
    );
    // One at a time this takes 3.6 s; eight at once about 0.8 s.
    run.finished_within(Duration::from_millis(2500));
}

#[test]
fn binary_messages_set_wsprobe_type_and_get_binary_replies() {
    let srv = Server::start(|c: &mut Conn| {
        c.send_binary(&[0, 1, 2, 255]);
        c.send_text("hi");
        c.recv_until(|o| o.count >= 2);
        c.close(1000, "");
    });
    wsprobe(
        &[
            &srv.url(),
            "--exec",
            r#"printf '%s %s:' "$WSPROBE_TYPE" "$WSPROBE_SEQ"; cat"#,
            "-q",
        ],
        "",
    )
    .code(0)
    .finished_within(SECS_5);
    let seen = srv.next();
    let mut binary = b"binary 1:".to_vec();
    binary.extend([0, 1, 2, 255]);
    assert_eq!(
        seen.messages,
        [Msg::Binary(binary), Msg::Text("text 2:hi".into())]
    );
}

/// Sends `a`, `b` and `bye`; closes once it gets a reply to `bye` (or after
/// the client's Close).
fn bye_server() -> Server {
    Server::start(|c: &mut Conn| {
        for t in ["a", "b", "bye"] {
            c.send_text(t);
        }
        c.recv_until(|o| !o.messages.is_empty());
        c.close(1000, "");
    })
}

const FAILS_BUT_BYE: &str = r#"[ "$(cat)" = bye ] && echo ok || exit 3"#;

#[test]
fn a_failing_command_is_a_warning_and_the_run_goes_on() {
    let srv = bye_server();
    wsprobe(&[&srv.url(), "--exec", FAILS_BUT_BYE, "-q"], "")
        .code(0)
        .stderr_contains(&format!(
            "--exec '{FAILS_BUT_BYE}' exited with status 3 for message 1"
        ))
        .stderr_contains("exited with status 3 for message 2")
        .finished_within(SECS_5);
    assert_eq!(srv.next().texts(), ["ok"]);
}

#[test]
fn exec_strict_ends_the_run_with_exit_1_at_the_first_failure() {
    let srv = bye_server();
    wsprobe(&[&srv.url(), "--exec", FAILS_BUT_BYE, "--exec-strict"], "")
        .code(1)
        .one_error_line()
        .stderr_contains("exited with status 3 for message 1")
        .finished_within(SECS_5);
    let seen = srv.next();
    assert!(seen.texts().is_empty(), "{:?}", seen.texts());
    assert_eq!(seen.close_code(), 1000);
}

#[test]
fn output_longer_than_max_message_size_is_not_sent() {
    let srv = bye_server();
    wsprobe(
        &[
            &srv.url(),
            "--exec",
            r#"[ "$(cat)" = bye ] && echo ok || head -c 5000 /dev/zero"#,
            "--max-message-size",
            "1000",
            "-q",
        ],
        "",
    )
    .code(0)
    .stderr_contains("longer than --max-message-size (1000 bytes)")
    .finished_within(SECS_5);
    assert_eq!(srv.next().texts(), ["ok"]);
}

#[test]
fn a_slow_command_against_a_flood_keeps_memory_bounded() {
    // 1 KiB messages as fast as wsprobe reads them (up to 500 MB): a command per
    // message is far slower, so reading must pause instead of queueing.
    let srv = Server::start(|c: &mut Conn| {
        c.set_record(false);
        let payload = "x".repeat(1024);
        c.flood(
            move |i| (i < 500_000).then(|| Message::text(payload.clone())),
            None,
        );
    });
    let run = Wsprobe::new(&[
        &srv.url(),
        "--exec",
        "cat >/dev/null",
        "--timeout",
        "2s",
        "-q",
    ])
    .measure_memory()
    .time_limit(Duration::from_secs(20))
    .run();
    run.code(6)
        .no_panic()
        .finished_within(Duration::from_secs(4));
    let rss = run.peak_rss_kb.expect("VmHWM of wsprobe from /proc");
    assert!(rss < 32 * 1024, "peak RSS {rss} KiB");
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[test]
fn commands_still_running_at_the_timeout_are_killed_with_what_they_started() {
    let dir = test_tempdir();
    let pidfile = dir.path().join("pid");
    let srv = Server::start(|c: &mut Conn| {
        c.send_text("go");
        c.drain();
    });
    // The sleep is a grandchild: killing only the shell would leave it behind.
    let command = format!("sleep 30 & echo $! > '{}'; wait", pidfile.display());
    wsprobe(&[&srv.url(), "--exec", &command, "--timeout", "1s"], "")
        .code(6)
        .finished_within(Duration::from_secs(3));
    let pid = read_pid(&pidfile).expect("the command wrote its child's pid");
    let deadline = Instant::now() + SECS_5;
    while !gone(pid) {
        assert!(
            Instant::now() < deadline,
            "sleep {pid} still runs after wsprobe exited"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn listen_mode_answers_each_message_like_websocketd() {
    let mut live = Wsprobe::new(&[
        "--listen",
        "127.0.0.1:0",
        "--once",
        "--exec",
        "tr a-z A-Z",
        "--timeout",
        "10s",
    ])
    .stdin_from(Stdin::Null)
    .spawn();
    let url = live.listening_url();
    let mut ws = ws_client(&url, None);
    for word in ["hello", "world"] {
        ws.send(Message::text(word)).unwrap();
        assert_eq!(ws.read().unwrap(), Message::text(word.to_uppercase()));
    }
    ws.close(None).unwrap();
    let (rest, _) = read_to_end(&mut ws);
    assert!(rest.is_empty(), "{rest:?}");
    live.wait(SECS_5).code(0).stdout("hello\nworld\n");
}

#[test]
fn exec_flags_are_checked_before_connecting() {
    let cases: [(&[&str], &str); 3] = [
        (
            &["--exec", "cat", "--echo"],
            "'--exec <CMD>' cannot be used with '--echo'",
        ),
        (&["--exec-jobs", "2"], "not provided: --exec <CMD>"),
        (
            &["--exec", "cat", "--exec-jobs", "0"],
            "0 is not in 1..=256",
        ),
    ];
    for (flags, message) in cases {
        let mut args = vec!["ws://127.0.0.1:9"];
        args.extend(flags);
        let run = wsprobe(&args, "");
        run.code(2).finished_within(SECS_5);
        let stderr = run.stderr_str();
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{flags:?}: {stderr}");
        assert!(
            lines[0].starts_with("wsprobe: ") && lines[0].contains(message),
            "{flags:?}: {stderr}"
        );
        assert_eq!(lines[1], "try 'wsprobe --help'");
    }
}
