//! Run statistics: the plain counters and the round-trip histogram behind
//! `--stats` (reported by the app at the end) and the REPL's `/stats`. The
//! session updates one [`RunStats`] as it sends and receives; the REPL's view
//! keeps another from the events it sees ([`RunStats::record`]). Rendering lives
//! in `output/` (the stderr summary, the `stats` JSON event, `/stats`).
//!
//! What counts: messages and bytes are data messages only (text and binary,
//! payload bytes, `-x` messages again after a reconnect, `--echo` and `--reply`
//! answers included); control frames are not, but pings sent and pongs received
//! are counted apart. A pong is a round-trip sample when its payload matches a
//! ping still waiting for its pong (the oldest such one); others are counted but
//! not timed. Counts are totals over the run; connection times are the last
//! connection's.

use hdrhistogram::Histogram;
use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};
use tungstenite::Bytes;

use crate::event::{Direction, Event, HandshakeInfo, Kind};

/// Pings waiting for their pong, at most (the oldest is forgotten first): a peer
/// that never answers cannot grow memory.
const PENDING_PINGS: usize = 256;

/// Messages and payload bytes one way.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    pub messages: u64,
    pub bytes: u64,
}

/// How long connecting took, step by step (the last connection's). In listen
/// mode only the upgrade (TLS included) is measured, from accepting the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectTimes {
    pub dns: Option<Duration>,
    pub tcp: Option<Duration>,
    pub tls: Option<Duration>,
    pub upgrade: Duration,
    pub total: Duration,
}

/// Round-trip figures from the histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtt {
    pub min: Duration,
    pub median: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub samples: u64,
}

#[derive(Debug, Default, Clone)]
pub struct RunStats {
    /// Connections opened (accepted clients with `--listen`).
    pub connections: u32,
    pub connect: Option<ConnectTimes>,
    /// From the upgrade to the first data message received, on the last connection.
    pub first_message: Option<Duration>,
    pub sent: Traffic,
    pub received: Traffic,
    pub pings_sent: u64,
    pub pongs_received: u64,
    pub last_rtt: Option<Duration>,
    /// permessage-deflate: payload bytes and wire bytes of the messages that
    /// crossed compressed, each way (counted by the REPL's view).
    pub deflated_in: (u64, u64),
    pub deflated_out: (u64, u64),
    /// Round trips in microseconds; created with the first sample.
    rtt: Option<Histogram<u64>>,
    /// When the last connection opened.
    opened: Option<Instant>,
    pending_pings: VecDeque<(Bytes, Instant)>,
}

impl RunStats {
    /// A connection opened `now`: its times replace the last one's.
    pub fn opened(&mut self, info: &HandshakeInfo, now: Instant) {
        self.connections += 1;
        self.connect = info.timings.map(|t| ConnectTimes {
            dns: (!info.listening).then_some(t.dns),
            tcp: (!info.listening).then_some(t.tcp),
            tls: t.tls,
            upgrade: t.upgrade,
            total: t.total,
        });
        self.first_message = None;
        // From the upgrade (`info.at`), not from when the session took the
        // connection over: `-v` output and the REPL's start come in between.
        let since = SystemTime::now()
            .duration_since(info.at)
            .unwrap_or_default();
        self.opened = Some(now.checked_sub(since).unwrap_or(now));
        // Pings of an earlier connection will get no pong.
        self.pending_pings.clear();
    }

    /// A data message of `len` bytes was sent (queued on the socket).
    pub fn sent_data(&mut self, len: usize) {
        add(&mut self.sent, len);
    }

    /// A ping was sent (queued on the socket) at `now`.
    pub fn ping_sent(&mut self, payload: Bytes, now: Instant) {
        self.pings_sent += 1;
        if self.pending_pings.len() == PENDING_PINGS {
            self.pending_pings.pop_front();
        }
        self.pending_pings.push_back((payload, now));
    }

    /// A data message of `len` bytes was received.
    pub fn received_data(&mut self, len: usize) {
        add(&mut self.received, len);
        if self.first_message.is_none() {
            // The clock is read once per connection, not per message.
            self.first_message = self.opened.map(|at| at.elapsed());
        }
    }

    /// A pong was received at `now`; when it answers a ping, its round trip.
    pub fn pong_received(&mut self, payload: &[u8], now: Instant) -> Option<Duration> {
        self.pongs_received += 1;
        let i = self.pending_pings.iter().position(|(p, _)| p == payload)?;
        let (_, sent) = self.pending_pings.remove(i)?;
        let rtt = now.saturating_duration_since(sent);
        self.sample(rtt);
        Some(rtt)
    }

    /// Count one event as a view sees it (the REPL's `/stats`); for a pong that
    /// answers a ping, its round trip.
    pub fn record(&mut self, event: &Event<'_>) -> Option<Duration> {
        let now = Instant::now();
        match event {
            Event::Open(info) => {
                self.opened(info, now);
                None
            }
            Event::Client { event, .. } => self.record(event),
            Event::Message {
                dir,
                kind,
                payload,
                wire,
                ..
            } => {
                if let Some(wire) = wire.filter(|w| w.compressed) {
                    let total = match dir {
                        Direction::In => &mut self.deflated_in,
                        Direction::Out => &mut self.deflated_out,
                    };
                    total.0 += payload.len() as u64;
                    total.1 += wire.size;
                }
                self.record_message(*dir, *kind, payload, now)
            }
            _ => None,
        }
    }

    fn record_message(
        &mut self,
        dir: Direction,
        kind: Kind,
        payload: &Bytes,
        now: Instant,
    ) -> Option<Duration> {
        match (dir, kind) {
            (Direction::Out, Kind::Text | Kind::Binary) => {
                self.sent_data(payload.len());
                None
            }
            (Direction::Out, Kind::Ping) => {
                self.ping_sent((*payload).clone(), now);
                None
            }
            (Direction::In, Kind::Text | Kind::Binary) => {
                self.received_data(payload.len());
                None
            }
            (Direction::In, Kind::Pong) => self.pong_received(payload, now),
            (Direction::Out, Kind::Pong) | (Direction::In, Kind::Ping) => None,
        }
    }

    fn sample(&mut self, rtt: Duration) {
        self.last_rtt = Some(rtt);
        let micros = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
        // Three significant figures (valid: 0 to 5), resized as larger values
        // come: `record` resizes, `saturating_record` would clamp to the range so
        // far. It fails only past i64::MAX / 2 microseconds.
        if self.rtt.is_none() {
            self.rtt = Histogram::new(3).ok();
        }
        if let Some(histogram) = &mut self.rtt {
            if histogram.record(micros).is_err() {
                histogram.saturating_record(micros);
            }
        }
    }

    /// The round-trip figures, once a pong answered a ping.
    pub fn rtt(&self) -> Option<Rtt> {
        let h = self.rtt.as_ref().filter(|h| !h.is_empty())?;
        let at = |q: f64| Duration::from_micros(h.value_at_quantile(q));
        Some(Rtt {
            min: Duration::from_micros(h.min()),
            median: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: Duration::from_micros(h.max()),
            samples: h.len(),
        })
    }
}

fn add(traffic: &mut Traffic, len: usize) {
    traffic.messages += 1;
    traffic.bytes += len as u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_count_data_messages_both_ways_and_pings_out_pongs_in() {
        let payload = Bytes::from_static(b"abc");
        let message = |dir, kind| Event::Message {
            dir,
            kind,
            payload: &payload,
            at: SystemTime::now(),
            wire: None,
        };
        let mut stats = RunStats::default();
        for (dir, kind) in [
            (Direction::In, Kind::Text),
            (Direction::In, Kind::Binary),
            (Direction::Out, Kind::Text),
            (Direction::Out, Kind::Ping),
            (Direction::In, Kind::Ping),
            (Direction::Out, Kind::Pong),
        ] {
            assert_eq!(stats.record(&message(dir, kind)), None);
        }
        assert!(stats.record(&message(Direction::In, Kind::Pong)).is_some());
        stats.record(&Event::Close {
            dir: Direction::In,
            code: Some(1000),
            reason: "",
            at: SystemTime::now(),
        });
        assert_eq!(
            stats.received,
            Traffic {
                messages: 2,
                bytes: 6
            }
        );
        assert_eq!(
            stats.sent,
            Traffic {
                messages: 1,
                bytes: 3
            }
        );
        assert_eq!((stats.pings_sent, stats.pongs_received), (1, 1));
        assert_eq!(stats.rtt().map(|r| r.samples), Some(1));
        assert!(stats.last_rtt.is_some());
    }

    #[test]
    fn a_pong_is_timed_against_the_oldest_ping_with_its_payload() {
        let mut stats = RunStats::default();
        let t0 = Instant::now();
        let us = Duration::from_micros;
        stats.ping_sent(Bytes::from_static(b"a"), t0);
        stats.ping_sent(Bytes::from_static(b"b"), t0 + us(100));
        stats.ping_sent(Bytes::from_static(b"a"), t0 + us(200));
        assert_eq!(stats.pong_received(b"b", t0 + us(500)), Some(us(400)));
        assert_eq!(stats.pong_received(b"a", t0 + us(600)), Some(us(600)));
        assert_eq!(stats.pong_received(b"a", t0 + us(700)), Some(us(500)));
        // Unsolicited: counted, not timed.
        assert_eq!(stats.pong_received(b"a", t0 + us(800)), None);
        assert_eq!((stats.pings_sent, stats.pongs_received), (3, 4));
        let rtt = stats.rtt().unwrap();
        assert_eq!(rtt.samples, 3);
        assert!(rtt.min <= rtt.median && rtt.median <= rtt.p90);
        assert!(rtt.p90 <= rtt.p99 && rtt.p99 <= rtt.max);
        // Below 2 ms the histogram is exact to the microsecond.
        assert_eq!((rtt.min, rtt.median, rtt.max), (us(400), us(500), us(600)));
        assert_eq!(stats.last_rtt, Some(us(500)));
    }

    #[test]
    fn long_round_trips_keep_three_significant_digits() {
        let mut stats = RunStats::default();
        let t0 = Instant::now();
        for (i, micros) in [11_340u64, 2_500_000, 90].into_iter().enumerate() {
            let payload = Bytes::from(vec![i as u8]);
            stats.ping_sent(payload.clone(), t0);
            stats.pong_received(&payload, t0 + Duration::from_micros(micros));
        }
        let rtt = stats.rtt().unwrap();
        let near =
            |d: Duration, micros: f64| (d.as_micros() as f64 - micros).abs() <= micros / 1000.0;
        assert_eq!(rtt.min, Duration::from_micros(90));
        assert!(near(rtt.median, 11_340.0), "{rtt:?}");
        assert!(near(rtt.max, 2_500_000.0), "{rtt:?}");
    }

    #[test]
    fn no_pong_no_figures_and_waiting_pings_are_bounded() {
        let mut stats = RunStats::default();
        let t0 = Instant::now();
        for _ in 0..PENDING_PINGS + 10 {
            stats.ping_sent(Bytes::from_static(b"k"), t0);
        }
        assert_eq!(stats.pending_pings.len(), PENDING_PINGS);
        assert_eq!(stats.rtt(), None);
        // A new connection forgets the pings of the last one.
        stats.opened(&HandshakeInfo::default(), t0);
        assert_eq!(stats.pong_received(b"k", t0), None);
        assert_eq!(stats.connections, 1);
    }

    #[test]
    fn the_first_message_is_timed_from_the_last_upgrade() {
        let mut stats = RunStats::default();
        stats.received_data(1);
        assert_eq!(stats.first_message, None, "not connected: nothing to time");
        stats.opened(&HandshakeInfo::default(), Instant::now());
        stats.received_data(1);
        let first = stats.first_message;
        assert!(first.is_some());
        stats.received_data(1);
        assert_eq!(stats.first_message, first);
        stats.opened(&HandshakeInfo::default(), Instant::now());
        assert_eq!(stats.first_message, None);
        assert_eq!(
            stats.received,
            Traffic {
                messages: 3,
                bytes: 3
            }
        );
        // The upgrade completed 50 ms before the session took the connection.
        let info = HandshakeInfo {
            at: SystemTime::now() - Duration::from_millis(50),
            ..HandshakeInfo::default()
        };
        stats.opened(&info, Instant::now());
        stats.received_data(1);
        assert!(stats.first_message >= Some(Duration::from_millis(50)));
    }

    #[test]
    fn compressed_messages_count_their_data_and_wire_bytes_each_way() {
        let payload = Bytes::from(vec![b'a'; 1000]);
        let mut stats = RunStats::default();
        for (dir, compressed, size) in [
            (Direction::In, true, 10),
            (Direction::In, false, 1000),
            (Direction::Out, true, 12),
        ] {
            stats.record(&Event::Message {
                dir,
                kind: Kind::Text,
                payload: &payload,
                at: SystemTime::now(),
                wire: Some(crate::event::Wire { compressed, size }),
            });
        }
        assert_eq!(stats.deflated_in, (1000, 10));
        assert_eq!(stats.deflated_out, (1000, 12));
        assert_eq!(stats.received.messages, 2);
    }
}
