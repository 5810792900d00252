//! What the REPL's editor thread reads while the session runs: the handshake of the
//! current connection (`/info`), the counters `/stats` shows, and the `/pretty`
//! switch. The human renderer records into it as events pass; the editor thread
//! only reads it (and flips `pretty`).

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::event::{Direction, Event, HandshakeInfo, Kind};

/// The counters `/stats` shows.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub messages_in: u64,
    pub messages_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub pings_out: u64,
    pub pongs_in: u64,
    pub last_rtt: Option<Duration>,
    /// permessage-deflate: data bytes and wire bytes of the messages that
    /// crossed compressed, each way.
    pub deflated_in: (u64, u64),
    pub deflated_out: (u64, u64),
}

impl Stats {
    /// Count one event. Messages and bytes are data messages only (text and
    /// binary); pings are counted as sent and pongs as received, keepalives
    /// included. The round trip is not in the event: see `ReplState::round_trip`.
    pub fn record(&mut self, event: &Event<'_>) {
        let Event::Message {
            dir,
            kind,
            payload,
            wire,
            ..
        } = event
        else {
            return;
        };
        if let Some(wire) = wire.filter(|w| w.compressed) {
            let total = match dir {
                Direction::In => &mut self.deflated_in,
                Direction::Out => &mut self.deflated_out,
            };
            total.0 += payload.len() as u64;
            total.1 += wire.size;
        }
        match (dir, kind) {
            (Direction::In, Kind::Text | Kind::Binary) => {
                self.messages_in += 1;
                self.bytes_in += payload.len() as u64;
            }
            (Direction::Out, Kind::Text | Kind::Binary) => {
                self.messages_out += 1;
                self.bytes_out += payload.len() as u64;
            }
            (Direction::Out, Kind::Ping) => self.pings_out += 1,
            (Direction::In, Kind::Pong) => self.pongs_in += 1,
            (Direction::In, Kind::Ping) | (Direction::Out, Kind::Pong) => {}
        }
    }
}

/// State the REPL's editor thread and the session (through the human renderer)
/// share.
#[derive(Debug)]
pub struct ReplState {
    /// What the current connection negotiated (for `/info`).
    pub info: Mutex<HandshakeInfo>,
    pub stats: Mutex<Stats>,
    pub pretty: AtomicBool,
    pub connected_at: Instant,
}

impl ReplState {
    pub fn new(pretty: bool) -> Arc<ReplState> {
        Arc::new(ReplState {
            info: Mutex::new(HandshakeInfo::default()),
            stats: Mutex::new(Stats::default()),
            pretty: AtomicBool::new(pretty),
            connected_at: Instant::now(),
        })
    }

    pub fn stats(&self) -> Stats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Keep what `/info` and `/stats` show up to date with one event.
    pub fn record(&self, event: &Event<'_>) {
        if let Event::Open(info) = event {
            if let Ok(mut shown) = self.info.lock() {
                *shown = (*info).clone();
            }
        }
        if let Ok(mut stats) = self.stats.lock() {
            stats.record(event);
        }
    }

    /// A pong answered one of our pings after `rtt`.
    pub fn round_trip(&self, rtt: Duration) {
        if let Ok(mut stats) = self.stats.lock() {
            stats.last_rtt = Some(rtt);
        }
    }

    /// What the other side is called: "server", or "client" with `--listen`.
    pub fn peer_noun(&self) -> &'static str {
        self.info.lock().map(|i| i.peer_noun()).unwrap_or("server")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;
    use tungstenite::Bytes;

    #[test]
    fn counts_data_messages_both_ways_and_pings_out_pongs_in() {
        let payload = Bytes::from_static(b"abc");
        let message = |dir, kind| Event::Message {
            dir,
            kind,
            payload: &payload,
            at: SystemTime::now(),
            wire: None,
        };
        let mut stats = Stats::default();
        for (dir, kind) in [
            (Direction::In, Kind::Text),
            (Direction::In, Kind::Binary),
            (Direction::Out, Kind::Text),
            (Direction::Out, Kind::Ping),
            (Direction::In, Kind::Ping),
            (Direction::In, Kind::Pong),
            (Direction::Out, Kind::Pong),
        ] {
            stats.record(&message(dir, kind));
        }
        stats.record(&Event::Close {
            dir: Direction::In,
            code: Some(1000),
            reason: "",
            at: SystemTime::now(),
        });
        assert_eq!(
            (
                stats.messages_in,
                stats.bytes_in,
                stats.messages_out,
                stats.bytes_out
            ),
            (2, 6, 1, 3)
        );
        assert_eq!((stats.pings_out, stats.pongs_in), (1, 1));
        assert_eq!(stats.last_rtt, None);
    }
}
