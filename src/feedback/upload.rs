//! Progress of a large send (`-x @FILE`, a long stdin line): a bar on stderr that
//! follows the bytes the socket has taken, the honest measure of what has left,
//! and disappears when everything is written. In the REPL the line editor's
//! thread draws it (see [`SendGauge`]).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Messages at least this large get a progress bar…
pub const SHOW_FROM: usize = 1 << 20;
/// …once sending them has taken this long (a quick send draws nothing).
pub const SHOW_AFTER: Duration = Duration::from_millis(300);

/// The bar of the messages being written, measured against the stream's count
/// of bytes written (see `Tapped::written`).
pub struct Upload {
    wanted: bool,
    current: Option<Current>,
}

struct Current {
    /// Hidden until [`SHOW_AFTER`] has passed.
    bar: ProgressBar,
    began: Instant,
    shown: bool,
    /// The stream's count of bytes written when the first large message was queued.
    start: u64,
}

impl Upload {
    pub fn new(wanted: bool) -> Upload {
        Upload {
            wanted,
            current: None,
        }
    }

    /// A message of `len` bytes was queued when the stream had written `written`
    /// bytes; a large one starts (or lengthens) the bar.
    pub fn queued(&mut self, len: usize, written: u64) {
        if !self.wanted || len < SHOW_FROM {
            return;
        }
        let len = len as u64;
        match &self.current {
            Some(current) => current.bar.inc_length(len),
            None => {
                let style = ProgressStyle::with_template(
                    "wsprobe: sending [{bar:30}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta} left)",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden())
                    .with_style(style);
                self.current = Some(Current {
                    bar,
                    began: Instant::now(),
                    shown: false,
                    start: written,
                });
            }
        }
    }

    /// The stream has written `written` bytes; `flushed` when nothing is left
    /// queued (the bar is then erased).
    pub fn progress(&mut self, written: u64, flushed: bool) {
        let Some(current) = &mut self.current else {
            return;
        };
        if flushed {
            self.finish();
            return;
        }
        if !current.shown && current.began.elapsed() >= SHOW_AFTER {
            current.shown = true;
            current.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        let total = current.bar.length().unwrap_or(0);
        current
            .bar
            .set_position(written.saturating_sub(current.start).min(total));
    }

    /// Whether a large send is under way.
    pub fn active(&self) -> bool {
        self.current.is_some()
    }

    /// When the bar is to be drawn, if it is not yet: the session wakes then even
    /// if the peer reads nothing.
    pub fn due(&self) -> Option<Instant> {
        self.current
            .as_ref()
            .filter(|c| !c.shown)
            .map(|c| c.began + SHOW_AFTER)
    }

    /// A signal stops the run: replace the bar with how far the send got.
    pub fn interrupted(&mut self) {
        let Some(current) = self.current.take() else {
            return;
        };
        // Finishing a bar moves it to the end: read how far it got first.
        let (sent, total) = (current.bar.position(), current.bar.length().unwrap_or(0));
        current.bar.finish_and_clear();
        if current.shown {
            eprintln!(
                "wsprobe: interrupted after sending {} of {}",
                indicatif::BinaryBytes(sent),
                indicatif::BinaryBytes(total)
            );
        }
    }

    /// Erase the bar (everything was written, or the connection is over).
    pub fn finish(&mut self) {
        if let Some(current) = self.current.take() {
            current.bar.finish_and_clear();
        }
    }
}

/// The REPL's view of what the session has written: the REPL thread shows the
/// progress of a large `/file` itself, between two prompts, so that no bar is
/// drawn under the line editor.
#[derive(Debug, Default)]
pub struct SendGauge {
    /// Bytes the current connection's stream has taken.
    written: AtomicU64,
    /// Counts connections: a send whose connection ended is over.
    connection: AtomicU64,
}

impl SendGauge {
    /// A new connection (its stream counts from zero).
    pub fn connected(&self) {
        self.connection.fetch_add(1, Ordering::SeqCst);
        self.written.store(0, Ordering::SeqCst);
    }

    /// The session's count of bytes written on this connection.
    pub fn publish(&self, written: u64) {
        self.written.store(written, Ordering::Relaxed);
    }

    /// Called before a message of `len` bytes is handed to the session (so that
    /// none of its bytes can be written before the count is taken).
    pub fn watch(&self, len: usize) -> Watch<'_> {
        Watch {
            gauge: self,
            len: len as u64,
            base: self.written.load(Ordering::SeqCst),
            connection: self.connection.load(Ordering::SeqCst),
        }
    }
}

/// One large send the REPL follows.
pub struct Watch<'g> {
    gauge: &'g SendGauge,
    len: u64,
    base: u64,
    connection: u64,
}

impl Watch<'_> {
    /// How often the REPL thread looks at the gauge.
    const LOOK_EVERY: Duration = Duration::from_millis(50);

    /// Wait until the stream has taken the message (or its connection ended),
    /// with a bar once that takes longer than [`SHOW_AFTER`].
    pub fn follow(self) {
        if self.len < SHOW_FROM as u64 {
            return;
        }
        let mut upload = Upload::new(true);
        upload.queued(self.len as usize, 0);
        loop {
            let written = self
                .gauge
                .written
                .load(Ordering::Relaxed)
                .saturating_sub(self.base);
            let same = self.gauge.connection.load(Ordering::SeqCst) == self.connection;
            if !same || written >= self.len {
                upload.finish();
                return;
            }
            upload.progress(written, false);
            std::thread::sleep(Self::LOOK_EVERY);
        }
    }
}
