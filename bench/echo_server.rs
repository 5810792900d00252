//! A fast WebSocket echo server for wsprobe's benchmark and tests (`cargo run --release --example echo-server`).
//!
//! One thread per connection with blocking I/O: it echoes every text and binary
//! message with the same type and payload, answers pings and completes the close
//! handshake by echoing the client's close frame. Echoes are queued and flushed
//! once per batch of input that had already arrived, so a client that pipelines
//! millions of small messages is not slowed down by one `write(2)` per message.

use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;

use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Error, Message, WebSocket};

const DEFAULT_ADDR: &str = "127.0.0.1:9001";

const USAGE: &str = "\
Usage: echo-server [--count-file PATH] [ADDR]

A WebSocket echo server for benchmarks and tests.

Arguments:
  [ADDR]               address to listen on [default: 127.0.0.1:9001];
                       port 0 picks a free port

Options:
  --count-file PATH    when a connection ends, append a line
                       `messages=N close_code=C` to PATH (C is 1005 for
                       a Close without a code, `none` without a Close)
  -h, --help           print this help

Once listening, prints `listening on ws://IP:PORT` on stdout.";

/// Buffers large enough that a burst of small messages is read and echoed in
/// few system calls, and limits large enough for the 1 MiB-message benchmark.
fn ws_config() -> WebSocketConfig {
    const BUFFER: usize = 256 * 1024;
    const MAX_MESSAGE: usize = 64 * 1024 * 1024;
    WebSocketConfig::default()
        .read_buffer_size(BUFFER)
        .write_buffer_size(BUFFER)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

struct Args {
    addr: String,
    count_file: Option<PathBuf>,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut addr = None;
    let mut count_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--count-file" => {
                let path = args.next().ok_or("--count-file needs a PATH")?;
                count_file = Some(PathBuf::from(path));
            }
            flag if flag.starts_with('-') => return Err(format!("unknown option `{flag}`")),
            _ if addr.is_some() => return Err(format!("unexpected argument `{arg}`")),
            _ => addr = Some(arg),
        }
    }
    Ok(Some(Args {
        addr: addr.unwrap_or_else(|| DEFAULT_ADDR.to_owned()),
        count_file,
    }))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            // `--help | head` closing the pipe early is not an error worth a panic.
            let _ = writeln!(io::stdout(), "{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("echo-server: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(&args.addr) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("echo-server: cannot listen on {}: {err}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    let local = match listener.local_addr() {
        Ok(local) => local,
        Err(err) => {
            eprintln!("echo-server: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Scripts wait for this exact line to learn the port, so it must not sit in a buffer.
    let mut stdout = io::stdout();
    if writeln!(stdout, "listening on ws://{local}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }

    let count_file = Arc::new(args.count_file);
    for tcp in listener.incoming() {
        match tcp {
            Ok(tcp) => {
                let count_file = Arc::clone(&count_file);
                thread::spawn(move || serve(tcp, count_file.as_deref()));
            }
            // Running out of file descriptors or an aborted connection ends
            // only that connection, not the server.
            Err(err) => eprintln!("echo-server: accept: {err}"),
        }
    }
    ExitCode::SUCCESS
}

/// A TCP stream whose reads can be switched to "only what is already here"
/// without making writes non-blocking too (as `set_nonblocking` would).
struct Conn {
    tcp: TcpStream,
    dont_wait: bool,
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.dont_wait {
            return self.tcp.read(buf);
        }
        loop {
            // SAFETY: `buf` is valid for writes of `buf.len()` bytes and the
            // descriptor stays open for as long as `self.tcp` lives.
            let n = unsafe {
                libc::recv(
                    self.tcp.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            match usize::try_from(n) {
                Ok(n) => return Ok(n),
                Err(_) => {
                    let err = io::Error::last_os_error();
                    if err.kind() != io::ErrorKind::Interrupted {
                        return Err(err);
                    }
                }
            }
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// What one connection saw, for `--count-file`.
#[derive(Default)]
struct Tally {
    messages: u64,
    close_code: Option<u16>,
}

fn serve(tcp: TcpStream, count_file: Option<&std::path::Path>) {
    // We batch writes ourselves; Nagle would only add latency to the last echo of a batch.
    if let Err(err) = tcp.set_nodelay(true) {
        eprintln!("echo-server: set_nodelay: {err}");
    }
    let conn = Conn {
        tcp,
        dont_wait: false,
    };
    let mut ws = match tungstenite::accept_with_config(conn, Some(ws_config())) {
        Ok(ws) => ws,
        Err(err) => {
            eprintln!("echo-server: handshake failed: {err}");
            return;
        }
    };
    let mut tally = Tally::default();
    if let Err(err) = echo(&mut ws, &mut tally) {
        eprintln!("echo-server: connection ended: {err}");
    }
    if let Some(path) = count_file {
        record(path, &tally);
    }
}

/// Echoes until the close handshake is done (`Ok`) or the connection fails.
fn echo(ws: &mut WebSocket<Conn>, tally: &mut Tally) -> Result<(), Error> {
    loop {
        // Wait (blocking) for the next message.
        ws.get_mut().dont_wait = false;
        match ws.read() {
            Ok(msg) => handle(ws, msg, tally)?,
            Err(Error::ConnectionClosed) => return Ok(()),
            Err(err) => return Err(err),
        }
        // Then take everything that has already arrived, queueing the echoes,
        // so that one flush answers the whole batch.
        ws.get_mut().dont_wait = true;
        loop {
            match ws.read() {
                Ok(msg) => handle(ws, msg, tally)?,
                Err(Error::Io(err)) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(Error::ConnectionClosed) => return Ok(()),
                Err(err) => return Err(err),
            }
        }
        // Writes are blocking: a client that keeps writing without reading
        // would stall here, but wsprobe and the other clients read concurrently.
        match ws.flush() {
            Ok(()) => {}
            Err(Error::ConnectionClosed) => return Ok(()),
            Err(err) => return Err(err),
        }
    }
}

fn handle(ws: &mut WebSocket<Conn>, msg: Message, tally: &mut Tally) -> Result<(), Error> {
    match msg {
        Message::Text(_) | Message::Binary(_) => {
            tally.messages += 1;
            // `write` only queues (it writes out once the buffer is full);
            // the caller flushes once per batch.
            ws.write(msg)
        }
        Message::Close(frame) => {
            // tungstenite has already queued the reply echoing this frame; the
            // next `read` sends it and reports `ConnectionClosed`.
            // A Close without a status code is recorded as 1005, the code
            // RFC 6455 reserves for "no status received".
            tally.close_code = Some(frame.map_or(1005, |f| u16::from(f.code)));
            Ok(())
        }
        // tungstenite answers pings itself; pongs and raw frames need nothing.
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(()),
    }
}

fn record(path: &std::path::Path, tally: &Tally) {
    let code = tally
        .close_code
        .map_or_else(|| "none".to_owned(), |c| c.to_string());
    // One `write` per line, so lines from concurrent connections do not interleave.
    let line = format!("messages={} close_code={code}\n", tally.messages);
    let result = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(line.as_bytes()));
    if let Err(err) = result {
        eprintln!("echo-server: cannot write {}: {err}", path.display());
    }
}
