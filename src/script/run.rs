//! Running a script: a small state machine the session consults. It says what
//! to do now ([`Runner::next`]), when to wake up ([`Runner::deadline`]), takes
//! each received message ([`Runner::on_received`]) and says what is still unmet.
//! It lives in the session, so with `--reconnect` the script runs once and goes
//! on where it was on the next connection.

use std::time::Instant;
use tungstenite::{Bytes, Message};

use super::{Action, Step};

/// What the session should do next.
#[derive(Debug)]
pub enum Next {
    Send(Message),
    Ping(Bytes),
    /// `close`: `None` takes `--close-code` / `--close-reason`.
    Close {
        code: Option<u16>,
        reason: Option<String>,
    },
    /// The current step waits for a message or for [`Runner::deadline`].
    Waiting,
    /// An `expect` step was not met within its `within`: the run fails (exit 6).
    Failed(String),
    /// Every step has run.
    Done,
}

#[derive(Debug)]
pub struct Runner {
    steps: Vec<Step>,
    /// The current step.
    at: usize,
    /// When the current step began (for `wait` and `within`).
    since: Option<Instant>,
}

impl Runner {
    pub fn new(steps: Vec<Step>) -> Runner {
        Runner {
            steps,
            at: 0,
            since: None,
        }
    }

    /// Run the current step if it can run at `now`; call again until `Waiting`,
    /// `Failed` or `Done`.
    pub fn next(&mut self, now: Instant) -> Next {
        loop {
            let Some(step) = self.steps.get(self.at) else {
                return Next::Done;
            };
            let since = *self.since.get_or_insert(now);
            let next = match &step.action {
                Action::Send(message) => Next::Send(message.clone()),
                Action::Ping(payload) => Next::Ping(payload.clone()),
                Action::Close { code, reason } => Next::Close {
                    code: *code,
                    reason: reason.clone(),
                },
                Action::Wait(d) if now >= since + *d => {
                    self.advance();
                    continue;
                }
                Action::Wait(_) => return Next::Waiting,
                Action::Expect {
                    within: Some(within),
                    ..
                } if now >= since + *within => {
                    return Next::Failed(format!(
                        "script line {} not met within {}: {}",
                        step.line,
                        humantime::format_duration(*within),
                        step.text
                    ))
                }
                Action::Expect { .. } => return Next::Waiting,
            };
            self.advance();
            return next;
        }
    }

    fn advance(&mut self) {
        self.at += 1;
        self.since = None;
    }

    /// A data message arrived (binary ones as lossy text): `true` when it met
    /// the current `expect` step (then call [`Runner::next`]). A message that
    /// arrives while no `expect` step is current is not matched.
    pub fn on_received(&mut self, text: &str) -> bool {
        let met = match self.steps.get(self.at).map(|s| &s.action) {
            Some(Action::Expect { pattern, .. }) => pattern.matches(text, &mut None),
            _ => false,
        };
        if met {
            self.advance();
        }
        met
    }

    /// Whether the current step looks at messages (so binary ones need text).
    pub fn wants_text(&self) -> bool {
        matches!(
            self.steps.get(self.at).map(|s| &s.action),
            Some(Action::Expect { .. })
        )
    }

    /// When the current step ends by itself: a `wait` elapses, a `within` passes.
    pub fn deadline(&self) -> Option<Instant> {
        let since = self.since?;
        match &self.steps.get(self.at)?.action {
            Action::Wait(d) => Some(since + *d),
            Action::Expect { within, .. } => within.map(|w| since + w),
            _ => None,
        }
    }

    pub fn is_done(&self) -> bool {
        self.at >= self.steps.len()
    }

    /// The step the script is stuck at, for the message of a run that ended
    /// before the script did.
    pub fn unmet(&self) -> Option<String> {
        let step = self.steps.get(self.at)?;
        Some(match step.action {
            Action::Expect { .. } => format!("script line {} not met: {}", step.line, step.text),
            _ => format!("script stopped at line {}: {}", step.line, step.text),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::parse::parse;
    use std::path::Path;
    use std::time::Duration;

    /// How long the current step has left.
    fn left(runner: &Runner, now: Instant) -> Option<Duration> {
        runner.deadline().map(|d| d.saturating_duration_since(now))
    }

    fn runner(script: &str) -> Runner {
        Runner::new(parse(script.as_bytes(), "t", Path::new(""), false).unwrap())
    }

    const MS: Duration = Duration::from_millis(1);

    fn sent_text(next: Next) -> String {
        match next {
            Next::Send(Message::Text(t)) => t.as_str().to_string(),
            other => panic!("expected a text message, got {other:?}"),
        }
    }

    #[test]
    fn steps_run_in_order_and_expects_wait_for_their_message() {
        let t0 = Instant::now();
        let mut r = runner("send a\nexpect ^b\nping p\nwait 10ms\nclose 4000 bye\n");
        assert_eq!(sent_text(r.next(t0)), "a");
        assert!(matches!(r.next(t0), Next::Waiting));
        assert!(r.wants_text());
        assert_eq!(r.deadline(), None, "no within: only --timeout bounds it");
        assert_eq!(
            r.unmet().as_deref(),
            Some("script line 2 not met: expect ^b")
        );
        assert!(
            !r.on_received("a"),
            "a message that does not match is skipped"
        );
        assert!(r.on_received("bee"));
        assert!(matches!(r.next(t0), Next::Ping(p) if &p[..] == b"p"));
        assert!(matches!(r.next(t0), Next::Waiting));
        assert_eq!(left(&r, t0), Some(10 * MS));
        assert!(!r.on_received("b"), "no expect step is current");
        assert_eq!(
            r.unmet().as_deref(),
            Some("script stopped at line 4: wait 10ms")
        );
        assert!(matches!(r.next(t0 + 9 * MS), Next::Waiting));
        assert!(matches!(
            r.next(t0 + 10 * MS),
            Next::Close { code: Some(4000), reason: Some(ref reason) } if reason == "bye"
        ));
        assert!(r.is_done());
        assert!(matches!(r.next(t0), Next::Done));
        assert_eq!(r.unmet(), None);
    }

    #[test]
    fn within_fails_the_step_naming_its_line() {
        let t0 = Instant::now();
        let mut r = runner("# comment\n\nexpect-jq .ok within 50ms\n");
        assert!(matches!(r.next(t0), Next::Waiting));
        assert_eq!(r.deadline(), Some(t0 + 50 * MS));
        assert!(!r.on_received("not json"));
        assert!(!r.on_received(r#"{"ok":false}"#));
        match r.next(t0 + 50 * MS) {
            Next::Failed(m) => assert_eq!(m, "script line 3 not met within 50ms: expect-jq .ok"),
            other => panic!("{other:?}"),
        }
        assert!(r.on_received(r#"{"ok":true}"#), "still the current step");
    }

    #[test]
    fn an_empty_script_is_done_at_once() {
        let mut r = runner("\n# nothing\n");
        assert!(r.is_done());
        assert!(matches!(r.next(Instant::now()), Next::Done));
    }
}
