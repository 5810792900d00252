//! `--reconnect[=N]`: which failures are worth another attempt, and the pause
//! before it (exponential backoff from 0.5 s to 30 s, at most N attempts in a row;
//! without N, no limit).

use std::time::Duration;

use crate::error::Error;

const FIRST_DELAY: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Retry {
    enabled: bool,
    limit: Option<u32>,
    attempt: u32,
    /// With --listen the next client is simply awaited: no pause.
    immediate: bool,
}

impl Retry {
    /// `setting`: None when `--reconnect` is off, `Some(None)` for no limit.
    pub fn new(setting: Option<Option<u32>>, immediate: bool) -> Self {
        Retry {
            enabled: setting.is_some(),
            limit: setting.flatten(),
            attempt: 0,
            immediate,
        }
    }

    /// A connection was established: the next failure starts a new series.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The number of the attempt that `next_delay` last scheduled.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Failures that may go away by themselves: the server is down, restarting,
    /// or answering 5xx for a while; in listen mode, a client that fails its TLS
    /// handshake or upgrade (the next client may do better). A certificate that
    /// is not trusted or a bad flag will not fix itself.
    pub fn retryable(e: &Error, listening: bool) -> bool {
        match e {
            Error::Connect(_) | Error::Handshake(_) => true,
            Error::Tls(_) => listening,
            _ => false,
        }
    }

    /// The pause before the next attempt, or None when retrying is off or the
    /// limit is reached.
    pub fn next_delay(&mut self) -> Option<Duration> {
        if !self.enabled || self.limit.is_some_and(|n| self.attempt >= n) {
            return None;
        }
        let exponent = self.attempt.min(6);
        self.attempt += 1;
        if self.immediate {
            return Some(Duration::ZERO);
        }
        Some((FIRST_DELAY * 2u32.pow(exponent)).min(MAX_DELAY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_the_limit() {
        let mut r = Retry::new(Some(Some(8)), false);
        let delays: Vec<u64> = std::iter::from_fn(|| r.next_delay())
            .map(|d| d.as_millis() as u64)
            .collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        r.reset();
        assert_eq!(r.next_delay(), Some(FIRST_DELAY));
        assert_eq!(r.attempt(), 1);
    }

    #[test]
    fn off_unlimited_and_listening() {
        assert_eq!(Retry::new(None, false).next_delay(), None);
        let mut unlimited = Retry::new(Some(None), false);
        assert!((0..100).all(|_| unlimited.next_delay().is_some()));
        assert_eq!(
            Retry::new(Some(None), true).next_delay(),
            Some(Duration::ZERO)
        );
        assert!(Retry::retryable(&Error::Tls("x".into()), true));
        assert!(!Retry::retryable(&Error::Tls("x".into()), false));
        assert!(!Retry::retryable(&Error::Usage("x".into()), false));
    }
}
