//! `--stats` for people: the run's statistics as a few `wsprobe: stats:` lines on
//! stderr, and the round-trip figures the REPL's `/stats` shares.

use std::time::Duration;

use crate::stats::{Rtt, RunStats, Traffic};
use crate::text::count;

/// The summary, one line each: connection times, traffic, round trips (when
/// pings were sent), and with `--reconnect` how many connections there were.
pub fn lines(stats: &RunStats) -> Vec<String> {
    let mut lines = vec![times(stats), traffic(stats)];
    if stats.pings_sent > 0 {
        lines.push(match stats.rtt() {
            Some(rtt) => format!(
                "ping rtt {} ({} of {} answered)",
                rtt_text(&rtt),
                rtt.samples,
                count(stats.pings_sent, "ping")
            ),
            None => format!(
                "ping rtt: no pong answered the {} sent",
                count(stats.pings_sent, "ping")
            ),
        });
    }
    if stats.connections > 1 {
        lines.push(format!(
            "{} connections: counts are totals, times are the last connection's",
            stats.connections
        ));
    }
    lines
        .into_iter()
        .map(|l| format!("wsprobe: stats: {l}"))
        .collect()
}

/// `min 0.21 ms, median 0.30, p90 0.41, p99 0.52, max 0.60`
pub fn rtt_text(rtt: &Rtt) -> String {
    format!(
        "min {} ms, median {}, p90 {}, p99 {}, max {}",
        ms(rtt.min),
        ms(rtt.median),
        ms(rtt.p90),
        ms(rtt.p99),
        ms(rtt.max)
    )
}

fn times(stats: &RunStats) -> String {
    let first = match stats.first_message {
        Some(d) => format!("first message {} ms", ms(d)),
        None => "no message received".to_string(),
    };
    let Some(c) = &stats.connect else {
        return first;
    };
    let steps: Vec<String> = [("dns", c.dns), ("tcp", c.tcp), ("tls", c.tls)]
        .into_iter()
        .filter_map(|(name, d)| d.map(|d| format!("{name} {}", ms(d))))
        .collect();
    if steps.is_empty() {
        // --listen: the client's TLS handshake and upgrade, from accepting it.
        return format!("upgrade {} ms (after accepting), {first}", ms(c.upgrade));
    }
    format!(
        "connect {} ms ({}, upgrade {}), {first}",
        ms(c.total),
        steps.join(", "),
        ms(c.upgrade)
    )
}

fn traffic(stats: &RunStats) -> String {
    let way = |t: &Traffic| format!("{} ({})", count(t.messages, "message"), bytes(t.bytes));
    format!(
        "sent {}, received {}",
        way(&stats.sent),
        way(&stats.received)
    )
}

/// Exact bytes, and in MiB or KiB as well when that is easier to read.
fn bytes(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let exact = count(n, "byte");
    match n as f64 {
        x if x >= KIB * KIB => format!("{exact}, {:.1} MiB", x / (KIB * KIB)),
        x if x >= 10.0 * KIB => format!("{exact}, {:.1} KiB", x / KIB),
        _ => exact,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{HandshakeInfo, Timings};
    use std::time::Instant;
    use tungstenite::Bytes;

    fn opened(listening: bool, tls: bool) -> RunStats {
        let mut stats = RunStats::default();
        let info = HandshakeInfo {
            listening,
            timings: Some(Timings {
                dns: Duration::from_micros(100),
                tcp: Duration::from_micros(300),
                tls: tls.then(|| Duration::from_micros(600)),
                upgrade: Duration::from_micros(200),
                total: Duration::from_micros(1200),
            }),
            ..HandshakeInfo::default()
        };
        stats.opened(&info, Instant::now());
        stats
    }

    #[test]
    fn a_run_without_pings_has_two_lines() {
        let mut stats = opened(false, true);
        stats.sent_data(40);
        stats.sent_data(2);
        let lines = lines(&stats);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(
            lines[0],
            "wsprobe: stats: connect 1.20 ms (dns 0.10, tcp 0.30, tls 0.60, upgrade 0.20), no message received"
        );
        assert_eq!(
            lines[1],
            "wsprobe: stats: sent 2 messages (42 bytes), received 0 messages (0 bytes)"
        );
    }

    #[test]
    fn pings_add_a_line_and_reconnections_another() {
        let mut stats = opened(false, false);
        let now = Instant::now();
        let ping = Bytes::from_static(b"p");
        stats.ping_sent(ping.clone(), now);
        stats.ping_sent(ping, now);
        stats.pong_received(b"p", now + Duration::from_micros(210));
        stats.opened(&HandshakeInfo::default(), Instant::now());
        stats.received_data(1 << 20);
        let lines = lines(&stats);
        assert!(
            lines[0].starts_with("wsprobe: stats: first message "),
            "{lines:?}"
        );
        assert!(lines[1].ends_with("received 1 message (1048576 bytes, 1.0 MiB)"));
        assert_eq!(
            lines[2],
            "wsprobe: stats: ping rtt min 0.21 ms, median 0.21, p90 0.21, p99 0.21, max 0.21 (1 of 2 pings answered)"
        );
        assert_eq!(
            lines[3],
            "wsprobe: stats: 2 connections: counts are totals, times are the last connection's"
        );
    }

    #[test]
    fn unanswered_pings_and_listen_mode() {
        let mut stats = opened(true, false);
        stats.ping_sent(Bytes::from_static(b"p"), Instant::now());
        stats.pong_received(b"other", Instant::now());
        let lines = lines(&stats);
        assert!(
            lines[0].starts_with("wsprobe: stats: upgrade 0.20 ms (after accepting), "),
            "{lines:?}"
        );
        assert_eq!(
            lines[2],
            "wsprobe: stats: ping rtt: no pong answered the 1 ping sent"
        );
    }
}
