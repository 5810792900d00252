//! N WebSocket clients for the broadcast fan-out benchmark (`bench/fanout.sh`):
//! each connects to URL, and once all are connected the program prints `ready`;
//! then each reads M text messages and checks that they are `000000 …`,
//! `000001 …` in order. It prints the messages delivered per second, from the
//! first message any client got to the last one the last client got. A client
//! that waits more than 5 s for a message fails, naming how many it got.

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::Message;

/// How long a client waits for the next message before it gives up.
const IDLE: Duration = Duration::from_secs(5);

const USAGE: &str = "Usage: fanout-clients URL CLIENTS MESSAGES";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, clients, messages) = match args.as_slice() {
        [url, n, m] => match (n.parse::<usize>(), m.parse::<usize>()) {
            (Ok(n), Ok(m)) if n > 0 => (url.clone(), n, m),
            _ => return usage(),
        },
        _ => return usage(),
    };
    let connected = Arc::new(Barrier::new(clients + 1));
    let failures = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (url, connected, failures) = (url.clone(), connected.clone(), failures.clone());
            thread::spawn(move || client(&url, messages, &connected, &failures))
        })
        .collect();
    connected.wait();
    println!("ready");
    let spans: Vec<Option<(Instant, Instant)>> = workers
        .into_iter()
        .map(|w| w.join().ok().flatten())
        .collect();
    let failed = failures.load(Ordering::Relaxed);
    let (Some(first), Some(last)) = (
        spans.iter().flatten().map(|s| s.0).min(),
        spans.iter().flatten().map(|s| s.1).max(),
    ) else {
        eprintln!("fanout-clients: no client received anything ({failed} failed)");
        return ExitCode::FAILURE;
    };
    if failed > 0 {
        eprintln!("fanout-clients: {failed} of {clients} clients failed");
        return ExitCode::FAILURE;
    }
    let secs = (last - first).as_secs_f64().max(1e-6);
    let delivered = clients * messages;
    println!(
        "delivered {delivered} messages to {clients} clients in {secs:.3} s: {:.0} msg/s",
        delivered as f64 / secs
    );
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

/// One client: connect, wait for the others, read `messages` in order. The
/// time of its first and last message, or `None` (counted in `failures`).
fn client(
    url: &str,
    messages: usize,
    connected: &Barrier,
    failures: &AtomicUsize,
) -> Option<(Instant, Instant)> {
    let socket = connect(url);
    connected.wait();
    let mut ws = match socket {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("fanout-clients: cannot connect: {e}");
            failures.fetch_add(1, Ordering::Relaxed);
            return None;
        }
    };
    // A server that drops messages must not hang the benchmark.
    if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = ws.get_ref() {
        let _ = tcp.set_read_timeout(Some(IDLE));
    }
    let mut first = None;
    for n in 0..messages {
        match ws.read() {
            Ok(Message::Text(text)) if text.starts_with(&format!("{n:06} ")) => {
                first.get_or_insert_with(Instant::now);
            }
            Ok(Message::Text(text)) => {
                eprintln!(
                    "fanout-clients: message {n} out of order: {:?}",
                    &text[..text.len().min(12)]
                );
                failures.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("fanout-clients: got {n} of {messages} messages, then: {e}");
                failures.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        }
    }
    let last = Instant::now();
    let _ = ws.close(None);
    let _ = ws.flush();
    first.map(|f| (f, last))
}

type Client = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// Connect, retrying for a moment while the server starts.
fn connect(url: &str) -> Result<Client, tungstenite::Error> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match tungstenite::connect(url) {
            Ok((ws, _)) => return Ok(ws),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}
