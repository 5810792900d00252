//! Unix sockets (issue 12, part): `--unix-socket PATH` and `ws+unix://` URLs reach
//! the Python `websockets` peer on a Unix socket; the URL still gives the Host
//! header and path; failures exit 3 (or 6 for `--timeout`). `--listen unix:PATH`
//! serves the Python client and wsprobe itself there, and removes the socket when
//! it stops.

use std::os::unix::net::UnixListener;
use std::time::Duration;

use crate::support::*;

const SECS_5: Duration = Duration::from_secs(5);

/// The `open` event the peer printed, after checking wsprobe's echo run.
#[track_caller]
fn open_event(peer: &PeerServer) -> String {
    let events = peer.events_until_closed();
    assert_eq!(events[1], peer_text("hi"), "{events:?}");
    events[0].clone()
}

#[test]
fn unix_socket_flag_echoes_with_the_urls_host_and_path() {
    let dir = test_tempdir();
    let sock = dir.path().join("app.sock");
    let peer = PeerServer::start_unix(&sock, &["echo"]);
    let path = sock.to_str().unwrap();
    let run = wsprobe(
        &[
            "ws://api.example.invalid:8080/chat?room=1",
            "--unix-socket",
            path,
            "-x",
            "hi",
            "-v",
        ],
        "",
    );
    run.code(0).stdout("hi\n").finished_within(SECS_5);
    // -v names the socket where it names the peer's address for TCP.
    run.stderr_contains(&format!("(unix:{path})"));
    let open = open_event(&peer);
    assert!(open.contains(r#""path": "/chat?room=1""#), "{open}");
    assert!(
        open.contains(r#"["host", "api.example.invalid:8080"]"#),
        "{open}"
    );
}

#[test]
fn ws_unix_url_names_the_socket_then_the_path() {
    let dir = test_tempdir();
    let sock = dir.path().join("node.sock");
    let peer = PeerServer::start_unix(&sock, &["echo"]);
    let url = format!("ws+unix://{}:/feed?x=1", sock.display());
    let run = wsprobe(&[&url, "-x", "hi", "--jsonl"], "");
    run.code(0).finished_within(SECS_5);
    let open = run
        .stdout_str()
        .lines()
        .find(|l| l.contains(r#""type":"open""#))
        .unwrap_or_default()
        .to_string();
    assert!(
        open.contains(&format!(r#""peer":"unix:{}""#, sock.display())),
        "{open}"
    );
    let seen = open_event(&peer);
    assert!(seen.contains(r#""path": "/feed?x=1""#), "{seen}");
    assert!(seen.contains(r#"["host", "localhost"]"#), "{seen}");
}

#[test]
fn a_missing_socket_exits_3_naming_it() {
    let dir = test_tempdir();
    let sock = dir.path().join("absent.sock");
    let path = sock.to_str().unwrap();
    let run = wsprobe(&["ws://localhost/", "--unix-socket", path, "-x", "hi"], "");
    run.code(3)
        .one_error_line()
        .no_panic()
        .finished_within(SECS_5);
    run.stderr_contains(&format!(
        "cannot connect to unix socket {path}: no such file or directory"
    ));
    let url = format!("ws+unix://{path}");
    wsprobe(&[&url, "-x", "hi"], "")
        .code(3)
        .stderr_contains("cannot connect to unix socket");
}

#[test]
fn a_file_that_is_not_a_socket_is_refused() {
    let dir = test_tempdir();
    let file = dir.path().join("plain");
    std::fs::write(&file, "x").unwrap();
    let path = file.to_str().unwrap();
    wsprobe(&["ws://localhost/", "--unix-socket", path, "-x", "hi"], "")
        .code(3)
        .one_error_line()
        .stderr_contains(&format!(
            "cannot connect to unix socket {path}: connection refused"
        ))
        .finished_within(SECS_5);
}

#[test]
fn a_silent_unix_server_times_out_in_bound() {
    let dir = test_tempdir();
    let sock = dir.path().join("silent.sock");
    // Bound and listening, never accepting: the connect succeeds (the backlog
    // takes it) and the upgrade waits for an answer that never comes.
    let _listener = UnixListener::bind(&sock).unwrap();
    let path = sock.to_str().unwrap();
    wsprobe(
        &[
            "ws://localhost/",
            "--unix-socket",
            path,
            "--connect-timeout",
            "300ms",
            "-x",
            "hi",
        ],
        "",
    )
    .code(3)
    .stderr_contains("timed out")
    .stderr_contains("--connect-timeout")
    .took_between(Duration::from_millis(250), Duration::from_secs(3));
    wsprobe(
        &[
            "ws://localhost/",
            "--unix-socket",
            path,
            "--timeout",
            "300ms",
            "-x",
            "hi",
        ],
        "",
    )
    .code(6)
    .stderr_contains("--timeout")
    .took_between(Duration::from_millis(250), Duration::from_secs(3));
}

#[test]
fn unix_sockets_do_not_mix_with_flags_that_move_tcp() {
    for flag in [
        &["--proxy", "http://127.0.0.1:1"][..],
        &["--resolve", "h:80:127.0.0.1"],
        &["--connect-to", "h:80:h2:81"],
    ] {
        let mut args = vec!["ws://h/", "--unix-socket", "/nonexistent.sock"];
        args.extend_from_slice(flag);
        wsprobe(&args, "")
            .code(2)
            .stderr_contains("--unix-socket")
            .stderr_contains(flag[0])
            .finished_within(SECS_5);
        let mut args = vec!["ws+unix:///nonexistent.sock:/x"];
        args.extend_from_slice(flag);
        wsprobe(&args, "")
            .code(2)
            .stderr_contains(&format!("a ws+unix:// URL cannot be used with {}", flag[0]))
            .finished_within(SECS_5);
    }
    wsprobe(
        &["ws+unix:///a.sock", "--unix-socket", "/b.sock", "-x", "hi"],
        "",
    )
    .code(2)
    .one_error_line()
    .stderr_contains("--unix-socket cannot be used with a ws+unix:// URL");
}

#[test]
fn listen_on_a_unix_socket_serves_many_clients_and_removes_it_at_the_end() {
    let dir = test_tempdir();
    let sock = dir.path().join("hub.sock");
    let spec = format!("unix:{}", sock.display());
    let mut live = Wsprobe::new(&["--listen", &spec, "--echo", "--jsonl"])
        .stdin_from(Stdin::Null)
        .spawn();
    let url = live.listening_url();
    assert_eq!(url, format!("ws+unix://{}:/", sock.display()));
    // The independent client, through the socket…
    let path = sock.to_str().unwrap();
    let python = PeerServer::start_client_with(
        &["--unix", path],
        &["--recv", "1", "ws://localhost/py", "text:from python"],
    );
    assert_eq!(python.events_until_closed()[1], peer_text("from python"));
    // …and wsprobe, by the URL it announced and by --unix-socket.
    wsprobe(&[&url, "-x", "by url"], "")
        .code(0)
        .stdout("by url\n");
    wsprobe(
        &[
            "ws://localhost/flag",
            "--unix-socket",
            path,
            "-x",
            "by flag",
        ],
        "",
    )
    .code(0)
    .stdout("by flag\n");
    live.signal(libc::SIGINT);
    let r = live.wait(DEADLINE);
    r.code(130);
    let out = parse_jsonl(&r.stdout);
    let paths: Vec<&str> = out
        .iter()
        .filter(|e| e["type"] == "open")
        .filter_map(|e| e["url"].as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "ws://localhost/py",
            "ws://localhost/",
            "ws://localhost/flag"
        ],
        "{r}"
    );
    let peer = format!("unix:{path}");
    assert!(out
        .iter()
        .filter(|e| e["type"] == "open")
        .all(|e| e["peer"] == peer.as_str()));
    assert!(!sock.exists(), "the socket file is left behind");
}

#[test]
fn listen_once_on_a_unix_socket_and_what_it_will_not_replace() {
    let dir = test_tempdir();
    let sock = dir.path().join("once.sock");
    let path = sock.to_str().unwrap();
    let spec = format!("unix:{path}");
    let mut live = Wsprobe::new(&["--listen", &spec, "--once", "-x", "hello"])
        .stdin_from(Stdin::Null)
        .spawn();
    live.listening_url();
    // A live socket is not taken over (exit 3), and not disturbed either.
    wsprobe(&["--listen", &spec], "")
        .code(3)
        .stderr_has("the socket exists");
    let client = PeerServer::start_client_with(
        &["--unix", path],
        &["--recv", "1", "ws://localhost/", "text:thanks"],
    );
    assert_eq!(client.events_until_closed()[1], peer_text("hello"));
    // One client, talked to like a server: its reply met the goal.
    live.wait(DEADLINE).code(0).stdout("thanks\n");
    // A socket left behind, and a file that is not a socket, are left alone.
    drop(UnixListener::bind(&sock).unwrap());
    wsprobe(&["--listen", &spec], "")
        .code(3)
        .stderr_has("remove it");
    std::fs::remove_file(&sock).unwrap();
    std::fs::write(&sock, b"data").unwrap();
    wsprobe(&["--listen", &spec], "")
        .code(3)
        .stderr_has("exists and is not a socket");
}
