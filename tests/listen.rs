//! `--listen --once` (and `--listen --reconnect`): wsprobe waits for a client and
//! talks to it with the same input, output, stop rule and exit codes as when it
//! connects to a server. Many clients at once: see `hub`.

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

use crate::support::*;

/// Starts `wsprobe --listen 127.0.0.1:0 --once ARGS…` (without --once when
/// ARGS has --reconnect or --cert, which serve one client at a time anyway) with
/// `stdin`; returns it and the URL it announces.
fn listen(args: &[&str], stdin: Stdin) -> (Live, String) {
    let mut all = vec!["--listen", "127.0.0.1:0"];
    if !args.contains(&"--reconnect") && !args.contains(&"--cert") {
        all.push("--once");
    }
    all.extend_from_slice(args);
    let mut live = Wsprobe::new(&all).stdin_from(stdin).spawn();
    let url = live.listening_url();
    (live, url)
}

#[test]
fn execute_messages_go_to_the_client_and_its_reply_is_printed() {
    let (mut live, url) = listen(&["-x", "hello"], Stdin::Null);
    let mut ws = ws_client(&url, None);
    assert_eq!(ws.read().unwrap(), Message::text("hello"));
    ws.send(Message::text("world")).unwrap();
    let (rest, code) = read_to_end(&mut ws);
    assert!(rest.is_empty(), "{rest:?}");
    assert_eq!(code, Some(1000));
    live.wait(DEADLINE).code(0).stdout("world\n");
}

#[test]
fn pipe_mode_through_an_accepted_connection() {
    let (mut live, url) = listen(&[], Stdin::Bytes(b"one\ntwo\nthree\n".to_vec()));
    let mut ws = ws_client(&url, None);
    for _ in 0..3 {
        let m = ws.read().unwrap();
        ws.send(m).unwrap();
    }
    let (_, code) = read_to_end(&mut ws);
    assert_eq!(code, Some(1000));
    live.wait(DEADLINE).code(0).stdout("one\ntwo\nthree\n");
}

#[test]
fn subprotocols_are_chosen_from_what_the_client_offers() {
    let (mut live, url) = listen(&["-s", "chat", "-s", "v2", "-x", "hi", "-v"], Stdin::Null);
    let mut ws = ws_client(&url, Some("other, v2, chat"));
    assert_eq!(ws.read().unwrap(), Message::text("hi"));
    ws.send(Message::text("ok")).unwrap();
    read_to_end(&mut ws);
    live.wait(DEADLINE)
        .code(0)
        .stderr_has("> sec-websocket-protocol: chat")
        .stderr_has("< sec-websocket-protocol: other, v2, chat")
        .stderr_has("* subprotocol: chat");
}

#[test]
fn a_client_offering_no_accepted_subprotocol_is_refused() {
    let (mut live, url) = listen(&["-s", "chat"], Stdin::Null);
    match try_ws_client(&url, None) {
        Err(ClientError::Refused(status)) => assert_eq!(status, 400),
        Err(e) => panic!("expected a 400, got {e}"),
        Ok(_) => panic!("expected a 400, got a connection"),
    }
    live.wait(DEADLINE)
        .code(5)
        .stderr_has("did not complete a WebSocket upgrade");
}

#[test]
fn a_client_closing_with_an_error_code_exits_7() {
    let (mut live, url) = listen(&["--wait", "forever"], Stdin::Null);
    let mut ws = ws_client(&url, None);
    ws.close(Some(CloseFrame {
        code: CloseCode::from(4001),
        reason: "bye".into(),
    }))
    .unwrap();
    read_to_end(&mut ws);
    live.wait(DEADLINE)
        .code(7)
        .stderr_has("the client closed the connection: 4001 bye");
}

#[test]
fn with_reconnect_clients_are_served_one_after_another() {
    let (mut live, url) = listen(
        &["--reconnect", "--count", "2", "--timeout", "20s"],
        Stdin::Null,
    );
    for text in ["first", "second"] {
        let mut ws = ws_client(&url, None);
        ws.send(Message::text(text)).unwrap();
        if text == "first" {
            ws.close(None).unwrap();
        }
        read_to_end(&mut ws);
    }
    live.wait(DEADLINE).code(0).stdout("first\nsecond\n");
}

#[test]
fn timeout_without_a_client_exits_6() {
    let (mut live, _url) = listen(&["--timeout", "300ms"], Stdin::Null);
    live.wait(DEADLINE)
        .code(6)
        .stderr_has("no client connected");
}

#[test]
fn bad_or_busy_addresses() {
    let null = |args: &[&str]| Wsprobe::new(args).stdin_from(Stdin::Null).run();
    null(&["--listen", "not-an-address"]).code(2);
    let busy = loopback();
    let addr = busy.local_addr().unwrap().to_string();
    null(&["--listen", &addr])
        .code(3)
        .stderr_has("cannot listen on");
    // A URL and --listen exclude each other.
    null(&["--listen", "9", "ws://127.0.0.1:9/"]).code(2);
}

#[test]
fn with_a_certificate_it_serves_wss() {
    let pair = &pki().localhost;
    let (mut live, url) = listen(
        &[
            "--cert",
            pair.cert.to_str().unwrap(),
            "--key",
            pair.key.to_str().unwrap(),
            "-x",
            "secure hello",
        ],
        Stdin::Null,
    );
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");
    // wsprobe itself as the client, trusting the test CA.
    Wsprobe::new(&[&url, "--cacert", ca(), "-x", "hi"])
        .stdin_from(Stdin::Null)
        .run()
        .code(0)
        .stdout("secure hello\n");
    live.wait(DEADLINE).code(0).stdout("hi\n");
}
