//! Back-pressure: when the server reads slowly, wsprobe stops reading stdin instead
//! of queueing it, so its memory stays bounded however much input is waiting.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::Message;

const LINES: usize = 400_000;
const LINE_LEN: usize = 100;
/// The bound from the foundation issue: peak RSS under 32 MB for any number of
/// queued 100-byte lines. The input here is 40 MB, so buffering it all would fail.
const MAX_RSS_KB: i64 = 32 * 1024;

/// Peak resident memory of a finished child, from wait4(2).
fn wait_with_peak_rss(pid: i32) -> (i32, i64) {
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let ret = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(ret, pid, "wait4 failed");
    assert!(libc::WIFEXITED(status), "wsprobe did not exit normally");
    (libc::WEXITSTATUS(status), usage.ru_maxrss)
}

#[test]
fn slow_server_bounds_memory_and_loses_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // A server that reads in slow bursts (a pause every 20,000 messages, about a
    // second in all) and echoes, so wsprobe's writes back up while stdin is full.
    let server = thread::spawn(move || -> usize {
        let (tcp, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(tcp).unwrap();
        let mut received = 0usize;
        loop {
            match ws.read() {
                Ok(Message::Text(t)) => {
                    received += 1;
                    if received % 20_000 == 0 {
                        thread::sleep(Duration::from_millis(50));
                    }
                    ws.send(Message::Text(t)).unwrap();
                }
                Ok(Message::Close(_)) => {
                    let _ = ws.flush();
                    return received;
                }
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => return received,
                Err(e) => panic!("server error after {received} messages: {e}"),
            }
        }
    });

    // Reaped by wait4 below, which also reports the peak RSS that Child::wait hides.
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsprobe"))
        .arg(format!("ws://127.0.0.1:{port}/"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let mut stdin = child.stdin.take().unwrap();
    let writer = thread::spawn(move || {
        let mut line = vec![b'x'; LINE_LEN];
        line.push(b'\n');
        let mut block = Vec::with_capacity(1000 * line.len());
        for _ in 0..1000 {
            block.extend_from_slice(&line);
        }
        for _ in 0..LINES / 1000 {
            stdin.write_all(&block).unwrap();
        }
    });
    let stdout = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let mut count = 0usize;
        for line in BufReader::new(stdout).split(b'\n') {
            assert_eq!(line.unwrap().len(), LINE_LEN);
            count += 1;
        }
        count
    });
    let started = Instant::now();
    writer.join().unwrap();
    let echoed = reader.join().unwrap();
    let (code, peak_kb) = wait_with_peak_rss(pid);
    let received = server.join().unwrap();
    assert_eq!(code, 0);
    assert_eq!(received, LINES, "the server must receive every line");
    assert_eq!(echoed, LINES, "every echo must be written out");
    assert!(
        peak_kb < MAX_RSS_KB,
        "peak RSS {peak_kb} KB for {LINES} queued lines (took {:?})",
        started.elapsed()
    );
}
