//! Progress of a large send (`-x @FILE`, a long stdin line): a bar on stderr that
//! follows the bytes the socket has taken, the honest measure of what has left,
//! and disappears when everything is written.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
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
