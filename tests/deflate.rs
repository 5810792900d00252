//! permessage-deflate (RFC 7692, `--deflate`): messages of every size echoed
//! intact through two independent peers that compress (the Python `websockets`
//! server, Node's `ws`), with and without context takeover and with small
//! windows; listen mode accepting the Python client's offer; and raw servers
//! that misbehave: a decompression bomb, corrupt data, a response the offer does
//! not allow.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// Every run here talks to a local peer that answers at once.
const BOUND: Duration = Duration::from_secs(15);

/// Pseudo-random bytes without a newline (a pipe-mode line each).
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            match state as u8 {
                b'\n' => b'N',
                b => b,
            }
        })
        .collect()
}

/// The 0 B, 1 B and 100 KB (repetitive) text lines every echo test sends.
fn text_lines() -> Vec<String> {
    vec![
        String::new(),
        "x".into(),
        "wsprobe compresses this line. ".repeat(100_000 / 30),
    ]
}

/// The data messages of `dir` in a --jsonl run.
fn messages<'a>(events: &'a [Value], dir: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["dir"] == dir && matches!(e["type"].as_str(), Some("text" | "binary")))
        .collect()
}

/// Send the text lines and a 1 MiB random binary message through an echo
/// peer at `url` with `--deflate[=…]` (`deflate`), checking each comes back
/// intact, compressed both ways (the repetitive one much smaller on the wire).
fn echo_every_size(url: &str, deflate: &str) {
    let lines = text_lines();
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let r = wsprobe(
        &[url, deflate, "--jsonl", "--max-message-size", "4194304"],
        input,
    );
    r.code(0).finished_within(BOUND);
    let events = parse_jsonl(&r.stdout);
    for dir in ["out", "in"] {
        let got = messages(&events, dir);
        assert_eq!(got.len(), lines.len(), "{dir}: {}", r.stdout_str());
        for (event, line) in got.iter().zip(&lines) {
            assert_eq!(event["data"], line.as_str(), "{dir}");
            assert_eq!(event["compressed"], true, "{dir}: {event}");
        }
        let big = got[2]["wire_size"].as_u64().unwrap_or(u64::MAX);
        assert!(
            big < 10_000,
            "{dir}: 100 KB of repetition took {big} bytes on the wire"
        );
    }

    let binary = noise(1 << 20);
    let mut input = binary.clone();
    input.push(b'\n');
    let r = wsprobe(
        &[url, deflate, "--binary", "--max-message-size", "4194304"],
        input,
    );
    r.code(0)
        .finished_within(BOUND)
        .stdout(format!("base64:{}\n", b64(&binary)));
}

#[test]
fn python_peer_echoes_every_size_with_its_default_windows() {
    let peer = PeerServer::start(&["--max-size", "4194304", "echo"]);
    echo_every_size(&peer.url, "--deflate");
    let open = peer.event();
    assert!(
        open.contains(
            r#"["sec-websocket-extensions", "permessage-deflate; client_max_window_bits"]"#
        ),
        "{open}"
    );
}

#[test]
fn python_peer_echoes_without_context_takeover_and_with_small_windows() {
    // The server asks for resets and 2^9 windows both ways.
    let peer = PeerServer::start(&[
        "--max-size",
        "4194304",
        "--server-no-context-takeover",
        "--client-no-context-takeover",
        "--server-max-window-bits",
        "9",
        "--client-max-window-bits",
        "9",
        "echo",
    ]);
    echo_every_size(&peer.url, "--deflate");
    // wsprobe asks for them itself.
    let peer = PeerServer::start(&["--max-size", "4194304", "echo"]);
    echo_every_size(
        &peer.url,
        "--deflate=server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9",
    );
}

#[test]
fn node_ws_peer_echoes_every_size_with_and_without_context_takeover() {
    let Some(peer) = PeerServer::start_node(&[]) else {
        return;
    };
    echo_every_size(&peer.url, "--deflate");
    let Some(peer) = PeerServer::start_node(&[
        "--server-no-context-takeover",
        "--client-no-context-takeover",
        "--server-max-window-bits",
        "9",
        "--client-max-window-bits",
        "10",
    ]) else {
        return;
    };
    echo_every_size(&peer.url, "--deflate");
    let open = peer.event();
    assert!(open.contains("permessage-deflate"), "{open}");
}

#[test]
fn fragmented_compressed_messages_arrive_whole() {
    let peer = PeerServer::start(&["converse", "frag:alpha |beta |gamma", "text:after"]);
    let r = wsprobe(&[&peer.url, "--deflate", "--count", "2", "-vv"], "");
    r.code(0)
        .finished_within(BOUND)
        .stdout("alpha beta gamma\nafter\n");
    // The trace shows RSV1 on the first fragment only, and the size inflated.
    r.stderr_contains("<< frame text         FIN=0 RSV=100")
        .stderr_contains("<< frame continuation FIN=1 RSV=000")
        .stderr_contains("len=1 inflated=16");
}

#[test]
fn verbose_shows_the_offer_and_what_was_agreed() {
    let peer = PeerServer::start(&["echo"]);
    let r = wsprobe(&[&peer.url, "--deflate", "-v", "-x", "hi"], "");
    r.code(0)
        .finished_within(BOUND)
        .stdout("hi\n")
        .stderr_contains("> sec-websocket-extensions: permessage-deflate; client_max_window_bits")
        .stderr_contains(
            "* permessage-deflate: server window 2^12 (context kept), client window 2^12 (context kept)",
        );
    // Without the flag nothing is offered.
    let peer = PeerServer::start(&["echo"]);
    let r = wsprobe(&[&peer.url, "-v", "-x", "hi"], "");
    r.code(0).stderr_lacks("permessage-deflate");
}

#[test]
fn a_server_that_declines_gets_plain_messages() {
    let peer = PeerServer::start(&["--no-compression", "echo"]);
    let r = wsprobe(&[&peer.url, "--deflate", "--jsonl", "-x", "plain"], "");
    r.code(0).finished_within(BOUND);
    let events = parse_jsonl(&r.stdout);
    let got = messages(&events, "in");
    // Not negotiated: no compression fields at all.
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["data"], "plain");
    assert!(got[0].get("compressed").is_none(), "{}", got[0]);
}

#[test]
fn listen_mode_accepts_the_python_clients_offer() {
    let mut live = Wsprobe::new(&[
        "--listen",
        "127.0.0.1:0",
        "--once",
        "--deflate",
        "--echo",
        "--jsonl",
        "--wait",
        "forever",
    ])
    .stdin_from(Stdin::Null)
    .spawn();
    let url = live.listening_url();
    let big = "listen mode ".repeat(10_000);
    let client = PeerServer::start_client(&[&url, "text:", "text:x", &format!("text:{big}")]);
    let events = client.events_until_closed();
    assert!(events[0].contains("PerMessageDeflate"), "{events:?}");
    assert_eq!(events[1], peer_text(""));
    assert_eq!(events[2], peer_text("x"));
    assert_eq!(events[3], peer_text(&big));
    let r = live.finish(BOUND);
    let out = parse_jsonl(&r.stdout);
    let got = messages(&out, "in");
    assert_eq!(got.len(), 3, "{}", r.stdout_str());
    assert!(
        got.iter().all(|e| e["compressed"] == true),
        "{}",
        r.stdout_str()
    );
    assert!(got[2]["wire_size"].as_u64().unwrap_or(u64::MAX) < 2_000);
}

// ---------------------------------------------------------------------------
// Raw servers
// ---------------------------------------------------------------------------

/// A 101 that accepts permessage-deflate with `params` (checking the offer).
fn accepting(req: &RawRequest, params: &str) -> String {
    let offer = req.header("sec-websocket-extensions").unwrap_or_default();
    assert!(offer.starts_with("permessage-deflate"), "offer: {offer:?}");
    switching_protocols(req).replace(
        "\r\n\r\n",
        &format!("\r\nSec-WebSocket-Extensions: permessage-deflate{params}\r\n\r\n"),
    )
}

/// A frame header with RSV1 set, for a compressed message of `len` bytes.
fn compressed_header(opcode: u8, len: u64) -> Vec<u8> {
    let mut head = vec![0xC0 | opcode, 127];
    head.extend_from_slice(&len.to_be_bytes());
    head
}

/// The close code of the first frame the client sent (masked), if it came
/// within the deadline.
fn close_code_from(s: &mut TcpStream) -> Option<u16> {
    s.set_read_timeout(Some(DEADLINE)).ok()?;
    let mut head = [0u8; 8];
    s.read_exact(&mut head).ok()?;
    (head[0] == 0x88).then(|| {
        let key = &head[2..6];
        u16::from_be_bytes([head[6] ^ key[0], head[7] ^ key[1]])
    })
}

#[test]
fn a_decompression_bomb_ends_with_1009_and_bounded_memory() {
    // 16 MiB of zeros compress to about 16 KB; the same blocks repeated
    // inflate to zeros again (the window holds only zeros), so 256 copies are
    // a 4 MB message that inflates to 4 GiB.
    let mut deflate = flate2::Compress::new(flate2::Compression::best(), false);
    let mut block = Vec::with_capacity(64 << 10);
    deflate
        .compress_vec(
            &vec![0u8; 16 << 20],
            &mut block,
            flate2::FlushCompress::Sync,
        )
        .unwrap();
    let copies = 256u64;
    let server = RawServer::start(move |mut s| {
        let req = read_request(&mut s).unwrap_or_default();
        let mut out = accepting(&req, "").into_bytes();
        out.extend(compressed_header(0x2, block.len() as u64 * copies));
        let _ = s.write_all(&out);
        // Until wsprobe gives up and goes away.
        for _ in 0..copies {
            if s.write_all(&block).is_err() {
                break;
            }
        }
        req
    });
    let limit = 8 << 20;
    let r = Wsprobe::new(&[
        &server.url(),
        "--deflate",
        "--max-message-size",
        &limit.to_string(),
    ])
    .stdin_from(Stdin::Null)
    .measure_memory()
    .time_limit(BOUND)
    .run();
    r.code(1)
        .finished_within(BOUND)
        .one_error_line()
        .stderr_contains("inflates past 8388608 bytes (see --max-message-size)");
    let peak_kb = r.peak_rss_kb.expect("VmHWM of wsprobe from /proc");
    assert!(
        peak_kb < (limit as u64 >> 10) + 16 * 1024,
        "peak RSS {peak_kb} KiB for a limit of {limit} bytes"
    );
}

#[test]
fn the_bomb_is_answered_with_close_1009() {
    let mut deflate = flate2::Compress::new(flate2::Compression::best(), false);
    let mut block = Vec::with_capacity(64 << 10);
    deflate
        .compress_vec(&vec![0u8; 4 << 20], &mut block, flate2::FlushCompress::Sync)
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = RawServer::start(move |mut s| {
        let req = read_request(&mut s).unwrap_or_default();
        let mut out = accepting(&req, "").into_bytes();
        // One frame that inflates to 4 MiB: past the 1 MiB limit.
        out.extend(compressed_header(0x2, block.len() as u64));
        out.extend_from_slice(&block);
        let _ = s.write_all(&out);
        let _ = tx.lock().unwrap().send(close_code_from(&mut s));
        req
    });
    let r = wsprobe(
        &[&server.url(), "--deflate", "--max-message-size", "1048576"],
        "",
    );
    r.code(1).finished_within(BOUND).one_error_line();
    assert_eq!(rx.recv_timeout(DEADLINE).ok().flatten(), Some(1009));
}

#[test]
fn corrupt_compressed_data_is_answered_with_close_1007() {
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = RawServer::start(move |mut s| {
        let req = read_request(&mut s).unwrap_or_default();
        let mut out = accepting(&req, "").into_bytes();
        // 0xff: a block of the reserved type 3.
        out.extend([0xC1, 4, 0xff, 0xff, 0xff, 0xff]);
        let _ = s.write_all(&out);
        let _ = tx.lock().unwrap().send(close_code_from(&mut s));
        req
    });
    let r = wsprobe(&[&server.url(), "--deflate"], "");
    r.code(1)
        .finished_within(BOUND)
        .one_error_line()
        .stderr_contains("the server sent a compressed message that is not valid DEFLATE data");
    assert_eq!(rx.recv_timeout(DEADLINE).ok().flatten(), Some(1007));
}

#[test]
fn a_response_the_offer_does_not_allow_fails_the_handshake() {
    let cases = [
        // A client window was not offered (bare --deflate= offers no parameters).
        (
            "--deflate=",
            "; client_max_window_bits=10",
            "which the offer did not include",
        ),
        (
            "--deflate=server_max_window_bits=10",
            "; server_max_window_bits=12",
            "larger than the 10 offered",
        ),
        ("--deflate", "; mystery", "unknown parameter 'mystery'"),
        ("--deflate", "; server_max_window_bits=7", "must be 8 to 15"),
        (
            "--deflate",
            "; server_no_context_takeover; server_no_context_takeover",
            "appears twice",
        ),
    ];
    for (flag, params, message) in cases {
        let params = params.to_string();
        let server = RawServer::upgrade_with(move |req| accepting(req, &params));
        let r = wsprobe(&[&server.url(), flag, "-x", "hi"], "");
        r.code(5)
            .finished_within(BOUND)
            .one_error_line()
            .stderr_contains(message);
    }
    // Without --deflate, a server that turns it on is refused as before.
    let server = RawServer::upgrade_with(|req| {
        switching_protocols(req).replace(
            "\r\n\r\n",
            "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
        )
    });
    wsprobe(&[&server.url(), "-x", "hi"], "")
        .code(5)
        .finished_within(BOUND)
        .stderr_contains("--deflate offers permessage-deflate");
}

#[test]
fn bad_deflate_parameters_are_usage_errors() {
    for (flag, message) in [
        ("--deflate=client_max_window_bits=16", "must be 8 to 15"),
        ("--deflate=bogus", "unknown parameter 'bogus'"),
        (
            "--deflate=server_no_context_takeover; server_no_context_takeover",
            "appears twice",
        ),
    ] {
        wsprobe(&["ws://127.0.0.1:1/", flag], "")
            .code(2)
            .finished_within(BOUND)
            .stderr_contains(message);
    }
}
