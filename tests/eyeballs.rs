//! Every address a name resolves to (issue 12, part): Happy Eyeballs (RFC 8305).
//! The addresses come from `--resolve`, on loopback: a "dead" one that never
//! answers is a listener whose backlog is full (the kernel drops further SYNs),
//! a refusing one is a port nobody listens on. `-v` lists the attempts; when all
//! fail, the error names every address with its reason.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::FromRawFd;
use std::time::Duration;

use crate::support::*;

/// A listener on `ip:port` that answers no new connection: backlog 0, and
/// filled with connections nobody accepts (kept open here) until one times out.
struct Blackhole {
    _listener: TcpListener,
    _queued: Vec<TcpStream>,
}

impl Blackhole {
    /// `None` when `ip:port` cannot be bound.
    fn on(ip: Ipv4Addr, port: u16) -> Option<Blackhole> {
        // SAFETY: plain socket calls on a descriptor this function owns; it is
        // handed to a TcpListener (which closes it) before anything can fail.
        let listener = unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            if fd < 0 {
                return None;
            }
            let listener = TcpListener::from_raw_fd(fd);
            let addr = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: port.to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(ip).to_be(),
                },
                sin_zero: [0; 8],
            };
            let len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            if libc::bind(fd, (&addr as *const libc::sockaddr_in).cast(), len) != 0
                || libc::listen(fd, 0) != 0
            {
                return None;
            }
            listener
        };
        let target = SocketAddr::V4(SocketAddrV4::new(ip, port));
        let mut queued = Vec::new();
        // The queue is full once a connection gets no answer.
        for _ in 0..16 {
            match TcpStream::connect_timeout(&target, Duration::from_millis(300)) {
                Ok(stream) => queued.push(stream),
                Err(_) => {
                    return Some(Blackhole {
                        _listener: listener,
                        _queued: queued,
                    })
                }
            }
        }
        panic!("{target}: the backlog never filled up");
    }
}

/// An echo server on 127.0.0.1 and a blackhole on 127.0.0.2 at the same port.
fn live_and_dead() -> (Server, Blackhole) {
    for _ in 0..10 {
        let srv = Server::start(echo);
        if let Some(hole) = Blackhole::on(Ipv4Addr::new(127, 0, 0, 2), srv.port()) {
            return (srv, hole);
        }
    }
    panic!("could not bind 127.0.0.2 at the port of a server on 127.0.0.1");
}

/// The `* ` lines about TCP attempts in `-v` output.
fn attempt_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| {
            l.starts_with("* trying ")
                || (l.starts_with("* connected to ") && !l.contains("://"))
                || l.contains(": connection refused")
        })
        .map(str::to_string)
        .collect()
}

/// `-v` listed exactly: `refused` tried and refused, then `winner` tried and
/// connected.
#[track_caller]
fn assert_refused_then_connected(r: &Run, refused: &str, winner: &str) {
    assert_eq!(
        attempt_lines(&r.stderr_str()),
        [
            format!("* trying {refused}"),
            format!("* {refused}: connection refused"),
            format!("* trying {winner}"),
            format!("* connected to {winner}"),
        ],
        "{r}"
    );
}

#[test]
fn a_dead_first_address_does_not_hold_up_the_live_second_one() {
    let (srv, _hole) = live_and_dead();
    let port = srv.port();
    let url = format!("ws://eyes.invalid:{port}/");
    let rule = format!("eyes.invalid:{port}:127.0.0.2,127.0.0.1");
    // Tried one after the other, the dead address would use up the whole
    // --connect-timeout: the second attempt starts 250 ms after the first.
    let r = wsprobe(
        &[
            &url,
            "--resolve",
            &rule,
            "--connect-timeout",
            "8s",
            "-x",
            "hi",
            "-v",
        ],
        "",
    );
    r.code(0)
        .stdout("hi\n")
        .took_between(Duration::from_millis(200), Duration::from_secs(4));
    assert_eq!(
        attempt_lines(&r.stderr_str()),
        [
            format!("* trying 127.0.0.2:{port}"),
            format!("* trying 127.0.0.1:{port}"),
            format!("* connected to 127.0.0.1:{port}"),
        ],
        "{r}"
    );
    assert_eq!(srv.next().texts(), ["hi"]);
}

#[test]
fn a_refusing_address_passes_its_turn_at_once() {
    let srv = Server::start(echo);
    let port = srv.port();
    let url = format!("ws://eyes.invalid:{port}/");
    let rule = format!("eyes.invalid:{port}:127.0.0.3,127.0.0.1");
    let r = wsprobe(&[&url, "--resolve", &rule, "-x", "hi", "-v"], "");
    r.code(0).stdout("hi\n");
    assert_refused_then_connected(
        &r,
        &format!("127.0.0.3:{port}"),
        &format!("127.0.0.1:{port}"),
    );
}

#[test]
fn when_every_address_fails_the_error_names_each() {
    let port = closed_port();
    let url = format!("ws://eyes.invalid:{port}/");
    let rule = format!("eyes.invalid:{port}:127.0.0.3,127.0.0.1");
    wsprobe(&[&url, "--resolve", &rule, "-x", "hi"], "")
        .code(3)
        .stdout("")
        .one_error_line()
        .stderr_has(&format!(
            "cannot connect to eyes.invalid:{port}, tried 2 addresses: 127.0.0.3:{port} (connection refused), 127.0.0.1:{port} (connection refused)"
        ));
}

#[test]
fn the_connect_timeout_bounds_all_attempts_together() {
    let (srv, _hole) = live_and_dead();
    let port = srv.port();
    drop(srv);
    let url = format!("ws://eyes.invalid:{port}/");
    let rule = format!("eyes.invalid:{port}:127.0.0.2,127.0.0.3");
    wsprobe(
        &[&url, "--resolve", &rule, "--connect-timeout", "1s", "-x", "hi"],
        "",
    )
    .code(3)
    .stdout("")
    .one_error_line()
    .stderr_has(&format!(
        "timed out connecting to eyes.invalid:{port}, tried 2 addresses: 127.0.0.2:{port} (no answer), 127.0.0.3:{port} (connection refused) (--connect-timeout)"
    ))
    .took_between(Duration::from_millis(900), Duration::from_secs(5));
}

#[test]
fn ipv6_and_ipv4_addresses_are_interleaved() {
    let opts = ServerOpts {
        ipv6: true,
        ..Default::default()
    };
    let Ok(srv) = Server::try_start_with(opts, echo) else {
        eprintln!("skipping the IPv6 case: this machine has no IPv6 loopback ([::1])");
        return;
    };
    let port = srv.port();
    let url = format!("ws://eyes.invalid:{port}/");
    // Listed last, [::1] is tried second: the families alternate, starting
    // with the first address's. 127.0.0.4 is never tried: [::1] answered.
    let rule = format!("eyes.invalid:{port}:127.0.0.3,127.0.0.4,[::1]");
    let r = wsprobe(&[&url, "--resolve", &rule, "-x", "hi", "-v"], "");
    r.code(0).stdout("hi\n");
    assert_refused_then_connected(&r, &format!("127.0.0.3:{port}"), &format!("[::1]:{port}"));
}
