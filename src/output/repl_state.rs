//! What the REPL's editor thread reads while the session runs: the handshake of the
//! current connection (`/info`), the counters `/stats` shows, and the `/pretty`
//! switch. The human renderer records into it as events pass; the editor thread
//! only reads it (and flips `pretty`).

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::event::{Event, HandshakeInfo};
use crate::stats::RunStats;

/// State the REPL's editor thread and the session (through the human renderer)
/// share.
#[derive(Debug)]
pub struct ReplState {
    /// What the current connection negotiated (for `/info`).
    pub info: Mutex<HandshakeInfo>,
    /// Counted from the events shown (see `RunStats::record`), keepalives included.
    pub stats: Mutex<RunStats>,
    pub pretty: AtomicBool,
    pub connected_at: Instant,
}

impl ReplState {
    pub fn new(pretty: bool) -> Arc<ReplState> {
        Arc::new(ReplState {
            info: Mutex::new(HandshakeInfo::default()),
            stats: Mutex::new(RunStats::default()),
            pretty: AtomicBool::new(pretty),
            connected_at: Instant::now(),
        })
    }

    pub fn stats(&self) -> RunStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Keep what `/info` and `/stats` show up to date with one event; for a pong
    /// that answers one of our pings, its round trip.
    pub fn record(&self, event: &Event<'_>) -> Option<Duration> {
        if let Event::Open(info) = event {
            if let Ok(mut shown) = self.info.lock() {
                *shown = (*info).clone();
            }
        }
        self.stats.lock().ok()?.record(event)
    }

    /// What the other side is called: "server", or "client" with `--listen`.
    pub fn peer_noun(&self) -> &'static str {
        self.info.lock().map(|i| i.peer_noun()).unwrap_or("server")
    }
}
