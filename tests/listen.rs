//! `--listen`: wsprobe waits for a client and talks to it with the same input,
//! output, stop rule and exit codes as when it connects to a server.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

/// Start `wsprobe --listen 127.0.0.1:0 ARGS…` and read the URL it announces.
fn listen(args: &[&str], stdin: Stdio) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsprobe"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    stderr.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("wsprobe: listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    // Keep reading stderr so that wsprobe never blocks on it; hand it back at the end.
    child.stderr = None;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
        let _ = tx.send(rest);
    });
    STDERR.with(|s| *s.borrow_mut() = Some(rx));
    (child, url)
}

thread_local! {
    static STDERR: std::cell::RefCell<Option<std::sync::mpsc::Receiver<String>>> =
        const { std::cell::RefCell::new(None) };
}

fn finish(child: Child) -> (Option<i32>, String, String) {
    let out = child.wait_with_output().unwrap();
    let stderr = STDERR.with(|s| {
        s.borrow_mut()
            .take()
            .and_then(|rx| rx.recv_timeout(Duration::from_secs(10)).ok())
            .unwrap_or_default()
    });
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

fn client(url: &str, subprotocols: Option<&str>) -> WebSocket<TcpStream> {
    let mut request = url.into_client_request().unwrap();
    if let Some(p) = subprotocols {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", p.parse().unwrap());
    }
    let host = url.trim_start_matches("ws://").trim_end_matches('/');
    let tcp = TcpStream::connect(host).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    tungstenite::client(request, tcp).unwrap().0
}

/// Read until the close handshake completes; returns the texts and the close code.
fn drain(ws: &mut WebSocket<TcpStream>) -> (Vec<String>, Option<u16>) {
    let mut texts = Vec::new();
    let mut code = None;
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => texts.push(t.to_string()),
            Ok(Message::Close(frame)) => code = frame.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(_) => return (texts, code),
        }
    }
}

#[test]
fn execute_messages_go_to_the_client_and_its_reply_is_printed() {
    let (child, url) = listen(&["-x", "hello"], Stdio::null());
    let mut ws = client(&url, None);
    assert_eq!(ws.read().unwrap(), Message::text("hello"));
    ws.send(Message::text("world")).unwrap();
    let (rest, code) = drain(&mut ws);
    assert!(rest.is_empty());
    assert_eq!(code, Some(1000));
    let (status, stdout, _) = finish(child);
    assert_eq!(status, Some(0));
    assert_eq!(stdout, "world\n");
}

#[test]
fn pipe_mode_through_an_accepted_connection() {
    let (mut child, url) = listen(&[], Stdio::piped());
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"one\ntwo\nthree\n").unwrap();
    drop(stdin);
    let mut ws = client(&url, None);
    for _ in 0..3 {
        let m = ws.read().unwrap();
        ws.send(m).unwrap();
    }
    let (_, code) = drain(&mut ws);
    assert_eq!(code, Some(1000));
    let (status, stdout, _) = finish(child);
    assert_eq!(status, Some(0));
    assert_eq!(stdout, "one\ntwo\nthree\n");
}

#[test]
fn subprotocols_are_chosen_from_what_the_client_offers() {
    let (child, url) = listen(&["-s", "chat", "-s", "v2", "-x", "hi", "-v"], Stdio::null());
    let ws = client(&url, Some("other, v2, chat"));
    assert_eq!(
        ws.get_ref().peer_addr().unwrap().to_string(),
        url.trim_start_matches("ws://").trim_end_matches('/')
    );
    let mut ws = ws;
    assert_eq!(ws.read().unwrap(), Message::text("hi"));
    ws.send(Message::text("ok")).unwrap();
    drain(&mut ws);
    let (status, _, stderr) = finish(child);
    assert_eq!(status, Some(0), "{stderr}");
    assert!(
        stderr.contains("> sec-websocket-protocol: chat"),
        "{stderr}"
    );
    assert!(
        stderr.contains("< sec-websocket-protocol: other, v2, chat"),
        "{stderr}"
    );
    assert!(stderr.contains("* subprotocol: chat"), "{stderr}");
}

#[test]
fn a_client_offering_no_accepted_subprotocol_is_refused() {
    let (child, url) = listen(&["-s", "chat"], Stdio::null());
    let host = url.trim_start_matches("ws://").trim_end_matches('/');
    let request = url.as_str().into_client_request().unwrap();
    let result = tungstenite::client(request, TcpStream::connect(host).unwrap());
    match result {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            assert_eq!(response.status().as_u16(), 400);
        }
        other => panic!("expected a 400, got {:?}", other.map(|_| ())),
    }
    let (status, _, stderr) = finish(child);
    assert_eq!(status, Some(5), "{stderr}");
    assert!(
        stderr.contains("did not complete a WebSocket upgrade"),
        "{stderr}"
    );
}

#[test]
fn a_client_closing_with_an_error_code_exits_7() {
    let (child, url) = listen(&["--wait", "forever"], Stdio::null());
    let mut ws = client(&url, None);
    ws.close(Some(CloseFrame {
        code: CloseCode::from(4001),
        reason: "bye".into(),
    }))
    .unwrap();
    drain(&mut ws);
    let (status, _, stderr) = finish(child);
    assert_eq!(status, Some(7), "{stderr}");
    assert!(
        stderr.contains("the client closed the connection: 4001 bye"),
        "{stderr}"
    );
}

#[test]
fn with_reconnect_clients_are_served_one_after_another() {
    let (child, url) = listen(
        &["--reconnect", "--count", "2", "--timeout", "20s"],
        Stdio::null(),
    );
    for text in ["first", "second"] {
        let mut ws = client(&url, None);
        ws.send(Message::text(text)).unwrap();
        if text == "first" {
            ws.close(None).unwrap();
        }
        drain(&mut ws);
    }
    let (status, stdout, stderr) = finish(child);
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(stdout, "first\nsecond\n");
}

#[test]
fn timeout_without_a_client_exits_6() {
    let (child, _url) = listen(&["--timeout", "300ms"], Stdio::null());
    let (status, _, stderr) = finish(child);
    assert_eq!(status, Some(6), "{stderr}");
    assert!(stderr.contains("no client connected"), "{stderr}");
}

#[test]
fn bad_or_busy_addresses() {
    let out = Command::new(env!("CARGO_BIN_EXE_wsprobe"))
        .args(["--listen", "not-an-address"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_wsprobe"))
        .args(["--listen", &addr])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on"));
    let out = Command::new(env!("CARGO_BIN_EXE_wsprobe"))
        .args(["--listen", "9", "ws://127.0.0.1:9/"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a URL and --listen exclude each other"
    );
}

#[test]
fn with_a_certificate_it_serves_wss() {
    let dir = tempfile::tempdir().unwrap();
    let ca =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, ca.cert.pem()).unwrap();
    std::fs::write(&key, ca.key_pair.serialize_pem()).unwrap();
    let (child, url) = listen(
        &[
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "-x",
            "secure hello",
        ],
        Stdio::null(),
    );
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");
    // wsprobe itself as the client, trusting the self-signed certificate.
    let out = Command::new(env!("CARGO_BIN_EXE_wsprobe"))
        .args([&url, "--cacert", cert.to_str().unwrap(), "-x", "hi"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "secure hello\n");
    let (status, stdout, stderr) = finish(child);
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(stdout, "hi\n");
}
