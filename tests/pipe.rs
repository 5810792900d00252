//! Pipe mode: stdin lines become messages, messages become stdout lines;
//! binary, NUL-delimited input, `-x`, invalid UTF-8, nothing lost at
//! volume, SIGPIPE (`| head -1`) and SIGINT.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::Stdio;
use std::time::Duration;

use crate::support::*;
use tungstenite::Message;

#[test]
fn lines_in_lines_out() {
    let srv = Server::start(echo);
    wsprobe(&[&srv.url()], "one\ntwo words\r\nthree\n")
        .code(0)
        .stdout("one\ntwo words\nthree\n")
        .stderr_empty();
    let obs = srv.next();
    assert_eq!(obs.texts(), ["one", "two words", "three"]);
    assert_eq!(obs.close, Some((1000, String::new())));
}

#[test]
fn echo_hello_prints_hello() {
    // The everyday case: `echo hello | wsprobe URL`.
    let srv = Server::start(echo);
    wsprobe(&[&srv.url()], "hello\n").code(0).stdout("hello\n");
    assert_eq!(srv.next().texts(), ["hello"]);
}

#[test]
fn last_line_without_newline_is_sent() {
    let srv = Server::start(echo);
    wsprobe(&[&srv.url()], "a\nb").code(0).stdout("a\nb\n");
    assert_eq!(srv.next().texts(), ["a", "b"]);
}

#[test]
fn empty_lines_are_empty_messages() {
    let srv = Server::start(echo);
    wsprobe(&[&srv.url()], "a\n\nb\n\n")
        .code(0)
        .stdout("a\n\nb\n\n");
    assert_eq!(srv.next().texts(), ["a", "", "b", ""]);
}

#[test]
fn only_carriage_return_before_newline_is_stripped() {
    let srv = Server::start(echo);
    wsprobe(&[&srv.url()], "a\rb\r\n\r\r\n")
        .code(0)
        .stdout("a\rb\n\r\n");
    assert_eq!(srv.next().texts(), ["a\rb", "\r"]);
}

#[test]
fn empty_stdin_sends_nothing_and_closes() {
    let srv = Server::start(echo);
    wsprobe(&[&srv.url()], "").code(0).stdout("");
    let obs = srv.next();
    assert_eq!(obs.count, 0);
    assert_eq!(obs.close_code(), 1000);
}

#[test]
fn unicode_round_trip() {
    let srv = Server::start(echo);
    let input = "héllo wörld\n日本語\n🎉 party\n";
    wsprobe(&[&srv.url()], input).code(0).stdout(input);
    assert_eq!(srv.next().texts(), ["héllo wörld", "日本語", "🎉 party"]);
}

#[test]
fn execute_messages_go_first() {
    let srv = Server::start(echo);
    wsprobe(
        &[&srv.url(), "-x", "first", "--execute", "second one"],
        "third\n",
    )
    .code(0)
    .stdout("first\nsecond one\nthird\n");
    assert_eq!(srv.next().texts(), ["first", "second one", "third"]);
}

#[test]
fn execute_with_empty_stdin_prints_the_reply() {
    // `wsprobe URL -x hi` prints the server's reply.
    let srv = Server::start(|c: &mut Conn| {
        if let Some(Msg::Text(t)) = c.recv() {
            c.send_text(&format!("reply to {t}"));
        }
        c.drain();
    });
    wsprobe(&[&srv.url(), "-x", "hi"], "")
        .code(0)
        .stdout("reply to hi\n");
    let obs = srv.next();
    assert_eq!(obs.texts(), ["hi"]);
    assert_eq!(obs.close_code(), 1000);
}

#[test]
fn binary_flag_sends_binary_messages() {
    let srv = Server::start(echo);
    let r = wsprobe(&[&srv.url(), "--binary"], &b"hi\n\x00\xff\x80\n"[..]);
    r.code(0).stdout(format!(
        "base64:{}\nbase64:{}\n",
        b64(b"hi"),
        b64(b"\x00\xff\x80")
    ));
    let obs = srv.next();
    assert_eq!(
        obs.messages,
        [
            Msg::Binary(b"hi".to_vec()),
            Msg::Binary(b"\x00\xff\x80".to_vec())
        ]
    );
}

#[test]
fn received_binary_is_printed_as_base64() {
    let srv = Server::start(|c: &mut Conn| {
        if c.recv().is_some() {
            c.send_binary(&[0, 1, 2, 0xff]);
            c.send_binary(b"");
            c.send_binary(b"ab");
        }
        c.drain();
    });
    wsprobe(&[&srv.url(), "-x", "go", "-n", "3"], "")
        .code(0)
        .stdout("base64:AAEC/w==\nbase64:\nbase64:YWI=\n");
}

#[test]
fn received_text_with_newline_is_printed_as_is() {
    let srv = Server::start(|c: &mut Conn| {
        if c.recv().is_some() {
            c.send_text("two\nlines");
        }
        c.drain();
    });
    wsprobe(&[&srv.url(), "-x", "go"], "")
        .code(0)
        .stdout("two\nlines\n");
}

#[test]
fn null_delimited_input_and_output() {
    let srv = Server::start(echo);
    wsprobe(&[&srv.url(), "-0"], &b"a\0b\nc\0d"[..])
        .code(0)
        .stdout(&b"a\0b\nc\0d\0"[..]);
    assert_eq!(srv.next().texts(), ["a", "b\nc", "d"]);
}

#[test]
fn null_long_flag() {
    let srv = Server::start(echo);
    wsprobe(&[&srv.url(), "--null"], &b"x y\0"[..])
        .code(0)
        .stdout(&b"x y\0"[..]);
    assert_eq!(srv.next().texts(), ["x y"]);
}

#[test]
fn invalid_utf8_on_stdin_is_an_error() {
    let srv = Server::start(echo);
    let r = wsprobe(&[&srv.url()], &b"fine\nbad \xff\xfe bytes\n"[..]);
    r.code(2).no_panic().stderr_contains_any(&["utf-8", "utf8"]);
    // Whatever was sent, the invalid line never reached the server.
    if let Some(obs) = srv.try_next(Duration::from_secs(5)) {
        assert!(
            obs.messages
                .iter()
                .all(|m| matches!(m, Msg::Text(t) if t == "fine")),
            "{obs:?}"
        );
    }
}

#[test]
fn invalid_utf8_is_fine_with_binary() {
    let srv = Server::start(echo);
    wsprobe(&[&srv.url(), "--binary"], &b"\xff\xfe\n"[..])
        .code(0)
        .stdout(format!("base64:{}\n", b64(b"\xff\xfe")));
}

#[test]
fn pings_are_answered() {
    let srv = Server::start(|c: &mut Conn| {
        let Some(Msg::Text(t)) = c.recv() else { return };
        c.send(Message::Ping(b"are you there".to_vec().into()));
        if !c.wait_pong() {
            return;
        }
        c.send_text(&t);
        c.drain();
    });
    wsprobe(&[&srv.url(), "-x", "ping me"], "")
        .code(0)
        .stdout("ping me\n");
    let obs = srv.next();
    assert_eq!(obs.pongs, [b"are you there".to_vec()]);
}

/// The nothing-lost case: N lines through an echo server come back exactly
/// once and in order, and the server received all of them before the Close.
/// N is `WSPROBE_TEST_LINES`, default 1,000,000 (100,000 in debug builds).
const ALNUM: &str = "abcdefghijklmnopqrstuvwxyz0123456789";

#[test]
fn many_lines_nothing_lost() {
    let n: u64 = std::env::var("WSPROBE_TEST_LINES")
        .ok()
        .map(|v| v.replace('_', "").parse().expect("WSPROBE_TEST_LINES"))
        .unwrap_or(if cfg!(debug_assertions) {
            100_000
        } else {
            1_000_000
        });
    let dir = test_tempdir();
    let input = dir.path().join("in.txt");
    let output = dir.path().join("out.txt");
    let mut expected = Digest::default();
    {
        let mut w = BufWriter::new(File::create(&input).unwrap());
        for i in 0..n {
            let line = format!("{i:07} {}|", &ALNUM[..(i % 37) as usize]);
            expected.add(line.as_bytes());
            w.write_all(line.as_bytes()).unwrap();
            w.write_all(b"\n").unwrap();
        }
        w.flush().unwrap();
    }
    let srv = Server::start(|c: &mut Conn| {
        c.set_record(false);
        c.echo();
    });
    let url = srv.url();
    Wsprobe::new(&[&url])
        .stdin_from(Stdin::File(File::open(&input).unwrap()))
        .stdout(Stdout::File(File::create(&output).unwrap()))
        .time_limit(Duration::from_secs(600))
        .run()
        .code(0);
    let obs = srv.next();
    assert_eq!(obs.error, None, "{obs:?}");
    assert_eq!(obs.count, n, "server received a different number of lines");
    assert_eq!(obs.digest, expected, "server received different lines");
    assert_eq!(obs.close_code(), 1000, "close after all lines");

    let a = BufReader::new(File::open(&input).unwrap());
    let b = BufReader::new(File::open(&output).unwrap());
    let mut got = 0u64;
    let mut b_lines = b.split(b'\n');
    for (i, want) in a.split(b'\n').enumerate() {
        let want = want.unwrap();
        match b_lines.next() {
            Some(have) => {
                let have = have.unwrap();
                assert!(
                    have == want,
                    "line {i} differs: want {:?}, have {:?}",
                    String::from_utf8_lossy(&want),
                    String::from_utf8_lossy(&have)
                );
                got += 1;
            }
            None => panic!("output ends after {got} of {n} lines"),
        }
    }
    assert!(b_lines.next().is_none(), "output has extra lines");
    assert_eq!(got, n);
    assert_eq!(
        std::fs::metadata(&input).unwrap().len(),
        std::fs::metadata(&output).unwrap().len()
    );
}

/// `wsprobe URL | head -1` against a server that keeps pushing: wsprobe
/// ends quietly (exit 0, nothing on stderr, no panic).
#[test]
fn sigpipe_head_one_ends_quietly() {
    // The server never stops by itself (short of 100M messages): if
    // wsprobe ignored the closed stdout, the test would time out.
    let srv = Server::start(|c: &mut Conn| {
        c.flood(
            |i| (i < 100_000_000).then(|| Message::text(format!("push {i}"))),
            None,
        );
    });
    let url = srv.url();
    let mut live = Wsprobe::new(&[&url, "-n", "100000000"])
        .stdin_from(Stdin::Null)
        .stdout(Stdout::LinesThenClose(1))
        .spawn();
    assert_eq!(live.line().as_deref(), Some(&b"push 0\n"[..]));
    live.wait(DEADLINE).code(0).stderr_empty();
    let obs = srv.next();
    assert_eq!(obs.error, None, "connection should end cleanly: {obs:?}");
}

/// wsprobe with stdin held open and stdout read line by line.
fn spawn_lines(url: &str) -> Live {
    Wsprobe::new(&[url])
        .stdin_from(Stdin::Piped)
        .stdout(Stdout::Lines)
        .spawn()
}

/// Ctrl-C: wsprobe sends Close 1000 to the server, then exits 130.
#[test]
fn sigint_sends_close_and_exits_130() {
    let srv = Server::start(echo);
    let url = srv.url();
    let mut live = spawn_lines(&url);
    live.send_stdin(b"before ctrl-c\n");
    assert_eq!(live.line().as_deref(), Some(&b"before ctrl-c\n"[..]));
    live.signal(libc::SIGINT);
    live.wait(DEADLINE).code(130);
    let obs = srv.next();
    assert_eq!(obs.texts(), ["before ctrl-c"]);
    assert_eq!(obs.close_code(), 1000, "{obs:?}");
}

/// SIGTERM is handled like Ctrl-C (README: exit 130 after the close
/// handshake).
#[test]
fn sigterm_sends_close_and_exits_143() {
    let srv = Server::start(echo);
    let url = srv.url();
    let mut live = spawn_lines(&url);
    live.send_stdin(b"x\n");
    assert_eq!(live.line().as_deref(), Some(&b"x\n"[..]));
    live.signal(libc::SIGTERM);
    live.wait(DEADLINE).code(143);
    assert_eq!(srv.next().close_code(), 1000);
}

/// A second Ctrl-C while wsprobe waits for the server's answer to its Close
/// exits at once.
#[test]
fn second_sigint_exits_at_once() {
    let (tx, close_seen) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let srv = Server::start(move |c: &mut Conn| {
        if let Some(Msg::Text(t)) = c.recv() {
            c.send_text(&t);
        }
        if c.until_close_frame() {
            let _ = tx.lock().unwrap().send(());
        }
        c.stall(); // never answers the Close
    });
    let url = srv.url();
    let mut live = spawn_lines(&url);
    live.send_stdin(b"x\n");
    assert_eq!(live.line().as_deref(), Some(&b"x\n"[..]));
    live.signal(libc::SIGINT);
    close_seen
        .recv_timeout(DEADLINE)
        .expect("the first SIGINT did not make wsprobe send Close");
    let second = std::time::Instant::now();
    live.signal(libc::SIGINT);
    let r = live.wait(DEADLINE);
    // At once: well before the wait for the answer to the Close ends.
    assert!(
        second.elapsed() < Duration::from_secs(1),
        "took {:?} after the second SIGINT\n{r}",
        second.elapsed()
    );
    r.code(130);
}

/// Messages larger than the socket buffers, so that flushes block and complete
/// while input is still queued: the session must go back to the queue by itself
/// (a lost wake-up once stalled this with 1 MiB messages). Run against both the
/// in-process server and the fast batching echo server of the benchmark (built
/// by `cargo test` as an example), whose timing exposed the bug.
#[test]
fn large_messages_round_trip() {
    let dir = test_tempdir();
    let input = dir.path().join("big.txt");
    {
        let mut w = BufWriter::new(File::create(&input).unwrap());
        for i in 0..48u32 {
            let fill = ALNUM.as_bytes()[(i as usize) % ALNUM.len()];
            let mut line = vec![fill; 1 << 20];
            line[..4].copy_from_slice(&i.to_be_bytes().map(|b| b'a' + b % 26));
            w.write_all(&line).unwrap();
            w.write_all(b"\n").unwrap();
        }
        w.flush().unwrap();
    }
    let expected = std::fs::read(&input).unwrap();
    let srv = Server::start(|c: &mut Conn| {
        c.set_record(false);
        c.echo();
    });
    let bench_server = BenchEchoServer::start();
    let mut urls = vec![srv.url()];
    urls.extend(std::iter::repeat_n(bench_server.url.clone(), 4));
    for (round, url) in urls.iter().enumerate() {
        let output = dir.path().join(format!("big.{round}.out"));
        let r = Wsprobe::new(&[url])
            .stdin_from(Stdin::File(File::open(&input).unwrap()))
            .stdout(Stdout::File(File::create(&output).unwrap()))
            .time_limit(Duration::from_secs(120))
            .run();
        assert_eq!(r.code, Some(0), "round {round}\n{r}");
        assert!(
            expected == std::fs::read(&output).unwrap(),
            "round {round}: the echoed output differs from the input"
        );
    }
    assert_eq!(
        srv.next().count,
        48,
        "server received a different number of messages"
    );
}

/// `bench/echo_server.rs`, which `cargo test` builds as the example `echo-server`.
struct BenchEchoServer {
    child: std::process::Child,
    url: String,
}

impl BenchEchoServer {
    fn start() -> Self {
        let bin = std::path::Path::new(bin())
            .parent()
            .unwrap()
            .join("examples/echo-server");
        let mut child = std::process::Command::new(&bin)
            .arg("127.0.0.1:0")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_string();
        BenchEchoServer { child, url }
    }
}

impl Drop for BenchEchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
