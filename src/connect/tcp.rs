//! Resolving the host and dialing TCP, every address in turn, within one deadline.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::thread;

use super::Deadline;
use crate::error::{Error, Result};

/// Resolve `host:port`. The system resolver has no timeout, so it runs on its own
/// thread and we stop waiting for it at the deadline.
pub fn resolve(host: &str, port: u16, deadline: &Deadline) -> Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (tx, rx) = mpsc::channel();
    let name = host.to_string();
    thread::Builder::new()
        .name("resolve".into())
        .spawn(move || {
            let _ = tx.send((name.as_str(), port).to_socket_addrs().map(Vec::from_iter));
        })
        .map_err(|e| Error::Connect(format!("cannot start the resolver thread: {e}")))?;
    match rx.recv_timeout(deadline.remaining()) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err(Error::Connect(format!(
            "cannot resolve '{host}': no addresses"
        ))),
        Ok(Err(e)) => Err(Error::Connect(format!(
            "cannot resolve '{host}': {}",
            resolver_message(&e)
        ))),
        Err(_) => Err(deadline.expired(&format!("resolving '{host}'"))),
    }
}

fn resolver_message(e: &io::Error) -> String {
    // glibc's messages ("failed to lookup address information: Name or service not
    // known") are long-winded; keep the part after the colon.
    let text = e.to_string();
    text.rsplit(": ").next().unwrap_or(&text).to_string()
}

/// Try each address in order until one accepts.
pub fn dial(addrs: &[SocketAddr], host: &str, deadline: &Deadline) -> Result<TcpStream> {
    let mut last_error = None;
    for addr in addrs {
        let remaining = deadline.remaining();
        if remaining.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(addr, remaining) {
            Ok(stream) => {
                // Small messages must leave at once: latency matters more than packet count.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last_error = Some((addr, e)),
        }
    }
    // Name the address only when it adds something to what the user typed.
    let named = |addr: &SocketAddr| {
        if addr.to_string() == host {
            host.to_string()
        } else {
            format!("{host} ({addr})")
        }
    };
    Err(match last_error {
        Some((addr, e)) if e.kind() == io::ErrorKind::TimedOut => {
            deadline.expired(&format!("connecting to {}", named(addr)))
        }
        Some((addr, e)) => Error::Connect(format!(
            "cannot connect to {}: {}",
            named(addr),
            plain_io_message(&e)
        )),
        None => deadline.expired(&format!("connecting to {host}")),
    })
}

/// `Connection refused (os error 111)` -> `connection refused`.
pub fn plain_io_message(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
