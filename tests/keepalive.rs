//! Keepalive: `--ping-interval` sends pings while the session is idle, and
//! `--ping-timeout` fails a connection whose peer no longer answers them.

use std::time::Duration;

use crate::support::*;

#[test]
fn pings_are_sent_at_the_interval() {
    // The server counts pings instead of timing the run: it closes once it
    // has three, and then checks that none came before its interval.
    const PINGS: usize = 3;
    let srv = Server::start(|c: &mut Conn| {
        if c.recv_until(|o| o.pings.len() >= PINGS) {
            c.close(1000, "");
        }
    });
    let r = Wsprobe::new(&[&srv.url(), "--ping-interval", "100ms", "--wait", "forever"])
        .stdin_from(Stdin::Null)
        .run();
    r.code(0).stderr_empty();
    let obs = srv.next();
    assert!(obs.pings.len() >= PINGS, "{obs:?}");
    let mut last = Duration::ZERO;
    for (at, payload) in &obs.pings {
        assert_eq!(payload, b"wsprobe-keepalive");
        // A little under 100 ms, for the clocks of two processes.
        assert!(
            *at - last >= Duration::from_millis(90),
            "a ping came {:?} after the previous one: {:?}",
            *at - last,
            obs.pings
        );
        last = *at;
    }
    assert_eq!(obs.close_code(), 1000, "{obs:?}");
}

#[test]
fn an_unanswered_ping_fails_the_run() {
    // The server completes the handshake, then never reads again: no pong
    // is ever sent.
    let srv = Server::start(|c: &mut Conn| c.stall());
    let r = Wsprobe::new(&[
        &srv.url(),
        "--ping-interval",
        "100ms",
        "--ping-timeout",
        "300ms",
        "--wait",
        "forever",
    ])
    .stdin_from(Stdin::Null)
    .run();
    // Not before the first ping plus its timeout; well before anything else
    // could end the run.
    r.code(1)
        .stderr_has("no pong within 300ms")
        .took_between(Duration::from_millis(400), Duration::from_secs(10));
}

#[test]
fn ping_timeout_needs_an_interval() {
    Wsprobe::new(&[&closed_url(), "--ping-timeout", "1s"])
        .stdin_from(Stdin::Null)
        .run()
        .code(2);
}
