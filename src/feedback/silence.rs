//! The hint for a silent peer: `wsprobe URL -x hi` waits for a reply by design,
//! and a person at a terminal left looking at nothing for [`HINT_AFTER`] is told
//! once what wsprobe is waiting for, and how to stop it.

use std::time::{Duration, Instant};

/// How long nothing may happen before the hint.
pub const HINT_AFTER: Duration = Duration::from_secs(3);

/// When the hint is due. A pure timer: the session says when something happens
/// and asks whether the hint is due.
#[derive(Debug)]
pub struct SilenceHint {
    /// The last thing that happened (sent, received, input ended); None once the
    /// hint has been given, or when it is not wanted at all.
    last: Option<Instant>,
}

impl SilenceHint {
    pub fn new(wanted: bool, now: Instant) -> SilenceHint {
        SilenceHint {
            last: wanted.then_some(now),
        }
    }

    /// Something happened: the silence starts again. (The clock is read only
    /// when the hint is still to come: a flood of messages in a pipe pays nothing.)
    pub fn activity(&mut self) {
        if self.last.is_some() {
            self.activity_at(Instant::now());
        }
    }

    pub fn activity_at(&mut self, now: Instant) {
        if let Some(last) = &mut self.last {
            *last = now;
        }
    }

    /// When the hint is due, while it has not been given.
    pub fn due(&self) -> Option<Instant> {
        self.last.map(|last| last + HINT_AFTER)
    }

    /// True once, when the hint is due at `now`: the caller gives it.
    pub fn take(&mut self, now: Instant) -> bool {
        if self.due().is_some_and(|due| now >= due) {
            self.last = None;
            return true;
        }
        false
    }

    /// The line to show: what is awaited and how to stop waiting.
    pub fn line(awaited: &str, has_timeout: bool) -> String {
        let how = if has_timeout {
            "Ctrl-C to stop"
        } else {
            "Ctrl-C to stop, --timeout to limit"
        };
        format!("wsprobe: {awaited} ({how})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_comes_once_after_the_last_activity() {
        let t0 = Instant::now();
        let mut hint = SilenceHint::new(true, t0);
        assert!(!hint.take(t0 + Duration::from_secs(1)));
        hint.activity_at(t0 + Duration::from_secs(2));
        assert_eq!(hint.due(), Some(t0 + Duration::from_secs(5)));
        assert!(!hint.take(t0 + Duration::from_secs(4)));
        assert!(hint.take(t0 + Duration::from_secs(5)));
        assert!(!hint.take(t0 + Duration::from_secs(60)), "once only");
        assert_eq!(hint.due(), None);
        hint.activity_at(t0 + Duration::from_secs(61));
        assert_eq!(hint.due(), None, "given hints stay given");
    }

    #[test]
    fn an_unwanted_hint_never_comes() {
        let t0 = Instant::now();
        let mut hint = SilenceHint::new(false, t0);
        assert_eq!(hint.due(), None);
        assert!(!hint.take(t0 + Duration::from_secs(3600)));
    }

    #[test]
    fn the_line_names_the_way_out() {
        assert_eq!(
            SilenceHint::line("sent 1 message, waiting for a reply", false),
            "wsprobe: sent 1 message, waiting for a reply (Ctrl-C to stop, --timeout to limit)"
        );
        assert!(SilenceHint::line("x", true).ends_with("(Ctrl-C to stop)"));
    }
}
