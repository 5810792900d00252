//! The one deadline that bounds a dial: `--connect-timeout` from the start of the
//! attempt, or the run's `--timeout`, whichever comes first, and the error that
//! names the phase that ran out of time and the flag that set the limit.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::error::Error;

/// Which flag set the limit: it decides the message and the exit code (3 for
/// `--connect-timeout`, 6 for `--timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    Connect,
    /// `--timeout`, with its value for the message.
    Run(Duration),
}

#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    limit: Limit,
}

impl Deadline {
    /// The deadline of one attempt started at `started`: `connect_timeout` later,
    /// unless the run's deadline (`--timeout`, set at `run.0` with value `run.1`)
    /// comes first.
    pub fn for_attempt(
        started: Instant,
        connect_timeout: Duration,
        run: Option<(Instant, Duration)>,
    ) -> Deadline {
        let own = Deadline {
            at: started + connect_timeout,
            limit: Limit::Connect,
        };
        match run {
            Some((at, timeout)) if at <= own.at => Deadline {
                at,
                limit: Limit::Run(timeout),
            },
            _ => own,
        }
    }

    pub fn at(&self) -> Instant {
        self.at
    }

    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// Run a blocking call that has no timeout of its own (the system resolver, a
    /// Unix `connect` to a full backlog) on its own thread, and stop waiting for
    /// it at the deadline: `None` then, and the thread is left to finish alone.
    pub fn wait_for<T: Send + 'static>(
        &self,
        name: &str,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Option<T>, Error> {
        let (tx, rx) = mpsc::channel();
        thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _ = tx.send(work());
            })
            .map_err(|e| Error::Connect(format!("cannot start the {name} thread: {e}").into()))?;
        Ok(rx.recv_timeout(self.remaining()).ok())
    }

    /// The error for running out of time while `phase` ("waiting for the upgrade
    /// response from HOST").
    pub fn expired(&self, phase: &str) -> Error {
        match self.limit {
            Limit::Connect => {
                Error::Connect(format!("timed out {phase} (--connect-timeout)").into())
            }
            Limit::Run(timeout) => Error::Timeout(
                format!(
                    "timed out ({}) while {phase}",
                    crate::ending::timeout_flag(Some(timeout))
                )
                .into(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit;

    #[test]
    fn the_earlier_limit_names_itself() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let connect = Deadline::for_attempt(t0, 10 * s, Some((t0 + 2 * s, 2 * s)));
        assert_eq!(connect.at(), t0 + 2 * s);
        let e = connect.expired("waiting for the upgrade response from h:1");
        assert_eq!(e.exit_code(), exit::TIMEOUT);
        assert_eq!(
            e.to_string(),
            "timed out (--timeout 2s) while waiting for the upgrade response from h:1"
        );
        let own = Deadline::for_attempt(t0, 3 * s, Some((t0 + 20 * s, 20 * s)));
        assert_eq!(own.at(), t0 + 3 * s);
        let e = own.expired("connecting to h:1");
        assert_eq!(e.exit_code(), exit::CONNECT);
        assert_eq!(
            e.to_string(),
            "timed out connecting to h:1 (--connect-timeout)"
        );
        assert_eq!(Deadline::for_attempt(t0, s, None).at(), t0 + s);
    }
}
