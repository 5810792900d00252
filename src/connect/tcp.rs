//! Resolving the host and dialing TCP (every address, Happy Eyeballs style: see
//! `eyeballs.rs`), or a Unix socket, within one deadline.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::eyeballs::{self, Fate};
use super::Deadline;
use crate::error::{Error, Result};

/// Resolve `host:port`. The system resolver has no timeout, so it runs on its own
/// thread and we stop waiting for it at the deadline.
pub fn resolve(host: &str, port: u16, deadline: &Deadline) -> Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = host.to_string();
    let answer = deadline.wait_for("resolver", move || {
        (name.as_str(), port).to_socket_addrs().map(Vec::from_iter)
    })?;
    match answer {
        Some(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Some(Ok(_)) => Err(Error::Connect(
            format!("cannot resolve '{host}': no addresses").into(),
        )),
        Some(Err(e)) => Err(Error::Connect(
            format!("cannot resolve '{host}': {}", resolver_message(&e)).into(),
        )
        .because(e)),
        None => Err(deadline.expired(&format!("resolving '{host}'"))),
    }
}

fn resolver_message(e: &io::Error) -> String {
    // glibc's messages ("failed to lookup address information: Name or service not
    // known") are long-winded; keep the part after the colon.
    let text = e.to_string();
    text.rsplit(": ").next().unwrap_or(&text).to_string()
}

/// Connect to the Unix socket at `path` (`--unix-socket`, `ws+unix://`).
pub fn dial_unix(path: &Path, deadline: &Deadline) -> Result<UnixStream> {
    let owned = path.to_path_buf();
    match deadline.wait_for("connect", move || UnixStream::connect(owned))? {
        Some(Ok(stream)) => Ok(stream),
        Some(Err(e)) => Err(Error::Connect(
            format!(
                "cannot connect to unix socket {}: {}",
                path.display(),
                plain_io_message(&e)
            )
            .into(),
        )
        .because(e)),
        None => Err(deadline.expired(&format!("connecting to unix socket {}", path.display()))),
    }
}

/// Connect to one of `addrs`, Happy Eyeballs style ([`eyeballs`]); `host` names
/// the destination in messages, `note` hears each attempt (`-v`).
pub fn dial(
    addrs: &[SocketAddr],
    host: &str,
    deadline: &Deadline,
    note: &mut dyn FnMut(String),
) -> Result<TcpStream> {
    let fates = match eyeballs::connect(addrs, deadline, note) {
        Ok(Ok(stream)) => {
            // Small messages must leave at once: latency matters more than packet count.
            let _ = stream.set_nodelay(true);
            return Ok(stream);
        }
        Ok(Err(fates)) => fates,
        Err(e) => {
            return Err(Error::Connect(
                format!("cannot connect to {host}: {}", plain_io_message(&e)).into(),
            )
            .because(e))
        }
    };
    let timed_out = deadline.passed();
    Err(match <[_; 1]>::try_from(fates) {
        // One address: named only when it adds something to what the user typed.
        Ok([(addr, fate)]) => {
            let named = if addr.to_string() == host {
                host.to_string()
            } else {
                format!("{host} ({addr})")
            };
            match fate {
                Fate::Failed(e) if !timed_out => Error::Connect(
                    format!("cannot connect to {named}: {}", plain_io_message(&e)).into(),
                )
                .because(e),
                _ => deadline.expired(&format!("connecting to {named}")),
            }
        }
        // Several: every one, with what became of it.
        Err(fates) => {
            let each: Vec<String> = fates
                .iter()
                .map(|(addr, fate)| {
                    let why = match fate {
                        Fate::Failed(e) => plain_io_message(e),
                        Fate::NoAnswer => "no answer".to_string(),
                        Fate::NotTried => "not tried".to_string(),
                    };
                    format!("{addr} ({why})")
                })
                .collect();
            let all = format!("tried {} addresses: {}", fates.len(), each.join(", "));
            if timed_out {
                deadline.expired(&format!("connecting to {host}, {all}"))
            } else {
                Error::Connect(format!("cannot connect to {host}, {all}").into())
            }
        }
    })
}

/// An I/O error as a short phrase for a message (`connection refused`), chosen by
/// its kind; errors of other kinds keep the system's description, without the
/// `(os error N)` that the standard library appends.
pub fn plain_io_message(e: &io::Error) -> String {
    use io::ErrorKind as K;
    let phrase = match e.kind() {
        K::ConnectionRefused => "connection refused",
        K::ConnectionReset => "connection reset by peer",
        K::ConnectionAborted => "connection aborted",
        K::NotConnected => "not connected",
        K::BrokenPipe => "broken pipe",
        K::TimedOut => "timed out",
        K::HostUnreachable => "host unreachable",
        K::NetworkUnreachable => "network unreachable",
        K::AddrInUse => "address already in use",
        K::AddrNotAvailable => "address not available",
        K::NotFound => "no such file or directory",
        K::PermissionDenied => "permission denied",
        K::IsADirectory => "is a directory",
        K::UnexpectedEof => "unexpected end of file",
        _ => return os_description(e),
    };
    phrase.to_string()
}

/// The system's own description, first letter in lower case.
fn os_description(e: &io::Error) -> String {
    let text = match e.raw_os_error() {
        // Display adds " (os error N)" to the OS's text; the text is what we want.
        Some(code) => {
            let full = e.to_string();
            let suffix = format!(" (os error {code})");
            full.strip_suffix(&suffix).unwrap_or(&full).to_string()
        }
        None => e.to_string(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_become_short_phrases() {
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(plain_io_message(&refused), "connection refused");
        let missing = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(plain_io_message(&missing), "no such file or directory");
        let odd = io::Error::from_raw_os_error(libc::EMLINK);
        assert_eq!(plain_io_message(&odd), "too many links");
        assert_eq!(plain_io_message(&io::Error::other("Custom")), "custom");
    }
}
