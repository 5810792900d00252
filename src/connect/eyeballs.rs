//! Happy Eyeballs for TCP (RFC 8305): the addresses a name resolved to are tried in
//! turn, IPv6 and IPv4 interleaved, each next attempt started 250 ms after the
//! previous one (or as soon as it fails) while the earlier ones go on, all
//! non-blocking on one mio `Poll` and within the dial's deadline. The first to
//! connect wins; the others are dropped. What became of each address is returned
//! when none connected, for a message that names them all.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use super::Deadline;

/// RFC 8305 §5's recommended "Connection Attempt Delay".
pub const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// What became of an address that did not win.
#[derive(Debug)]
pub enum Fate {
    Failed(io::Error),
    /// Still connecting when the deadline passed.
    NoAnswer,
    /// The deadline passed before its turn.
    NotTried,
}

/// The order of the attempts (RFC 8305 §4): the families alternate, starting with
/// the family of the first address; within a family the resolver's (or
/// `--resolve`'s) order is kept. Repeated addresses are tried once.
pub fn interleave(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut unique: Vec<SocketAddr> = Vec::with_capacity(addrs.len());
    for addr in addrs {
        if !unique.contains(addr) {
            unique.push(*addr);
        }
    }
    let Some(first) = unique.first() else {
        return unique;
    };
    let first_v6 = first.is_ipv6();
    let (mut preferred, mut other): (VecDeque<_>, VecDeque<_>) = unique
        .iter()
        .copied()
        .partition(|a| a.is_ipv6() == first_v6);
    let mut order = Vec::with_capacity(unique.len());
    while !preferred.is_empty() || !other.is_empty() {
        order.extend(preferred.pop_front());
        order.extend(other.pop_front());
    }
    order
}

/// Race connections to `addrs` (in [`interleave`] order) until one connects or
/// `deadline` passes. `note` hears each step for `-v` (`trying [::1]:9001`, a
/// failure, `connected to …`). The winner is returned in blocking mode; otherwise
/// every address with its fate, in the order tried.
pub fn connect(
    addrs: &[SocketAddr],
    deadline: &Deadline,
    note: &mut dyn FnMut(String),
) -> io::Result<Result<TcpStream, Vec<(SocketAddr, Fate)>>> {
    let order = interleave(addrs);
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(order.len().max(1));
    // Attempt i is registered as Token(i); `None` once it has failed.
    let mut attempts: Vec<Option<mio::net::TcpStream>> = Vec::with_capacity(order.len());
    let mut fates: Vec<Option<Fate>> = Vec::with_capacity(order.len());
    let mut in_flight = 0usize;
    let mut next_at = Instant::now();
    loop {
        if deadline.passed() {
            break;
        }
        // Start what is due: the first attempt at once, the next one after the
        // delay, or at once when nothing is left in flight.
        while attempts.len() < order.len() && (in_flight == 0 || Instant::now() >= next_at) {
            let (i, addr) = (attempts.len(), order[attempts.len()]);
            note(format!("trying {addr}"));
            let started = mio::net::TcpStream::connect(addr).and_then(|mut stream| {
                poll.registry()
                    .register(&mut stream, Token(i), Interest::WRITABLE)
                    .map(|()| stream)
            });
            match started {
                Ok(stream) => {
                    attempts.push(Some(stream));
                    fates.push(None);
                    in_flight += 1;
                    next_at = Instant::now() + ATTEMPT_DELAY;
                }
                Err(e) => {
                    note(format!("{addr}: {}", super::tcp::plain_io_message(&e)));
                    attempts.push(None);
                    fates.push(Some(Fate::Failed(e)));
                }
            }
        }
        if in_flight == 0 {
            break;
        }
        let wake = if attempts.len() < order.len() {
            next_at.min(deadline.at())
        } else {
            deadline.at()
        };
        let wait = wake.saturating_duration_since(Instant::now());
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            let i = event.token().0;
            let Some(stream) = attempts.get(i).and_then(Option::as_ref) else {
                continue;
            };
            // mio's recipe: an error, or connected once the peer has an address.
            let failure = match stream.take_error() {
                Ok(Some(e)) | Err(e) => Some(e),
                Ok(None) => match stream.peer_addr() {
                    Ok(_) => None,
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => continue,
                    Err(e) => Some(e),
                },
            };
            match failure {
                None => {
                    note(format!("connected to {}", order[i]));
                    let Some(stream) = attempts[i].take() else {
                        continue;
                    };
                    let stream = TcpStream::from(stream);
                    stream.set_nonblocking(false)?;
                    // The losers are dropped (closed) with `attempts`.
                    return Ok(Ok(stream));
                }
                Some(e) => {
                    note(format!(
                        "{}: {}",
                        order[i],
                        super::tcp::plain_io_message(&e)
                    ));
                    attempts[i] = None;
                    fates[i] = Some(Fate::Failed(e));
                    in_flight -= 1;
                    // A failure starts the next attempt without waiting.
                    next_at = Instant::now();
                }
            }
        }
    }
    let fates: Vec<(SocketAddr, Fate)> = order
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            let fate = match fates.get_mut(i).and_then(Option::take) {
                Some(fate) => fate,
                None if i < attempts.len() => Fate::NoAnswer,
                None => Fate::NotTried,
            };
            (*addr, fate)
        })
        .collect();
    Ok(Err(fates))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_alternate_from_the_first_address() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let given = [
            a("[::1]:1"),
            a("[::2]:1"),
            a("[::3]:1"),
            a("10.0.0.1:1"),
            a("10.0.0.2:1"),
            a("[::1]:1"),
        ];
        assert_eq!(
            interleave(&given),
            [
                a("[::1]:1"),
                a("10.0.0.1:1"),
                a("[::2]:1"),
                a("10.0.0.2:1"),
                a("[::3]:1")
            ]
        );
        let v4_first = [a("10.0.0.1:1"), a("[::1]:1"), a("10.0.0.2:1")];
        assert_eq!(
            interleave(&v4_first),
            [a("10.0.0.1:1"), a("[::1]:1"), a("10.0.0.2:1")]
        );
        assert!(interleave(&[]).is_empty());
    }
}
