//! When a run is over: the one stop rule, as a pure state machine fed with what the
//! session sent and received.
//!
//! The rule (the README states the same words):
//! 1. wsprobe first sends all its input: the `-x` messages, then stdin until EOF.
//! 2. Then it waits for its goal: `--count N` messages received in total and every
//!    `--expect` pattern matched, when those are given; otherwise one message received
//!    for each message sent. `--wait D` instead keeps receiving for D after the input
//!    ended (`--wait forever`: until the server closes); combined with a goal, it bounds
//!    how long wsprobe waits for it.
//! 3. At any time the server may close, and `--timeout` ends the whole run.

use crate::jq::Jq;
use regex::Regex;
use std::time::{Duration, Instant};

/// A test on one received message: `--expect`/`--fail-on` (a regex on its text)
/// or `--expect-jq`/`--fail-on-jq` (a jq filter yielding true; non-JSON never
/// matches).
#[derive(Debug, Clone)]
pub enum Pattern {
    Regex(Regex),
    Jq(Jq),
}

impl Pattern {
    /// `json` caches the message parsed as JSON (pass `&mut None` for one look).
    pub fn matches(&self, text: &str, json: &mut Option<Option<jaq_json::Val>>) -> bool {
        match self {
            Pattern::Regex(r) => r.is_match(text),
            // Parsed at most once per message, and only when a filter looks.
            Pattern::Jq(jq) => json
                .get_or_insert_with(|| crate::jq::parse(text.as_bytes()))
                .as_ref()
                .is_some_and(|v| jq.holds(v)),
        }
    }

    /// `--expect 'pong'`, as messages name it.
    pub fn describe(&self, regex_flag: &str) -> String {
        match self {
            Pattern::Regex(r) => format!("{regex_flag} '{}'", r.as_str()),
            Pattern::Jq(jq) => format!("{regex_flag}-jq '{}'", jq.as_str()),
        }
    }
}

/// How long to keep receiving after the input has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    For(Duration),
    Forever,
}

/// The user's ending flags, as plain data.
#[derive(Debug, Clone, Default)]
pub struct Goals {
    pub count: Option<u64>,
    /// `--expect` and `--expect-jq`, in command-line order.
    pub expect: Vec<Pattern>,
    /// `--fail-on` and `--fail-on-jq`: any match ends the run with exit 8.
    pub fail_on: Vec<Pattern>,
    pub wait: Option<Wait>,
    pub timeout: Option<Duration>,
}

/// Why the policy says the run is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The goal was met (explicit, or one reply per message sent).
    GoalMet,
    /// `--wait` elapsed after the input ended.
    WaitOver,
    /// `--timeout` fired.
    TimedOut,
}

#[derive(Debug)]
pub struct Policy {
    goals: Goals,
    deadline: Option<Instant>,
    sent: u64,
    received: u64,
    expects_matched: usize,
    input_ended_at: Option<Instant>,
    /// The `--fail-on` match not yet taken by the session.
    failure: Option<String>,
}

impl Policy {
    pub fn new(goals: Goals, start: Instant) -> Policy {
        let deadline = goals.timeout.map(|t| start + t);
        Policy {
            goals,
            deadline,
            sent: 0,
            received: 0,
            expects_matched: 0,
            input_ended_at: None,
            failure: None,
        }
    }

    /// Count data messages (text or binary) sent.
    pub fn on_sent(&mut self, n: u64) {
        self.sent += n;
    }

    /// A data message arrived; `text` is its payload as text (binary shown lossily).
    pub fn on_received(&mut self, text: &str) {
        self.received += 1;
        let mut json = None;
        if let Some(pattern) = self
            .goals
            .fail_on
            .iter()
            .find(|p| p.matches(text, &mut json))
        {
            self.failure = Some(format!(
                "a message matched {}: {}",
                pattern.describe("--fail-on"),
                crate::text::escape(&text.chars().take(200).collect::<String>())
            ));
            return;
        }
        if let Some(pattern) = self.goals.expect.get(self.expects_matched) {
            if pattern.matches(text, &mut json) {
                self.expects_matched += 1;
            }
        }
    }

    /// The `--fail-on` match of the last message, once: the session ends the run.
    pub fn take_failure(&mut self) -> Option<String> {
        self.failure.take()
    }

    /// Whether the policy needs message text (for `--expect`); lets the session skip
    /// the lossy conversion of binary payloads when nobody looks at them.
    pub fn wants_text(&self) -> bool {
        self.expects_matched < self.goals.expect.len() || !self.goals.fail_on.is_empty()
    }

    pub fn on_input_end(&mut self, now: Instant) {
        if self.input_ended_at.is_none() {
            self.input_ended_at = Some(now);
        }
    }

    fn has_explicit_goal(&self) -> bool {
        self.goals.count.is_some() || !self.goals.expect.is_empty()
    }

    fn explicit_goal_met(&self) -> bool {
        self.goals.count.is_none_or(|n| self.received >= n)
            && self.expects_matched == self.goals.expect.len()
    }

    /// Is the run over at `now`?
    pub fn verdict(&self, now: Instant) -> Option<Verdict> {
        if self.deadline.is_some_and(|d| now >= d) {
            return Some(Verdict::TimedOut);
        }
        let ended = self.input_ended_at?;
        if self.goal_met() {
            return Some(Verdict::GoalMet);
        }
        match self.goals.wait {
            Some(Wait::For(d)) if now >= ended + d => Some(Verdict::WaitOver),
            _ => None,
        }
    }

    /// Whether the goal (explicit or the default one) is met, without looking at
    /// the clock: cheap enough to ask after every message.
    pub fn goal_met(&self) -> bool {
        if self.input_ended_at.is_none() {
            return false;
        }
        if self.has_explicit_goal() {
            self.explicit_goal_met()
        } else {
            self.goals.wait.is_none() && self.received >= self.sent
        }
    }

    /// Whether an explicit `--count`/`--expect` goal has been met (input ended or
    /// not): the output stops at the message that met it.
    pub fn explicit_goal_reached(&self) -> bool {
        self.has_explicit_goal() && self.explicit_goal_met()
    }

    /// The `--timeout` deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The `--timeout` value, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.goals.timeout
    }

    /// The next moment at which `verdict` may change without any message arriving.
    pub fn next_deadline(&self) -> Option<Instant> {
        let wait_end = match (self.input_ended_at, self.goals.wait) {
            (Some(ended), Some(Wait::For(d))) => Some(ended + d),
            _ => None,
        };
        match (self.deadline, wait_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether [`Policy::awaited`] has something to say, without building it.
    pub fn awaiting(&self) -> bool {
        self.input_ended_at.is_some()
            && !self.goal_met()
            && (self.has_explicit_goal() || self.goals.wait.is_none())
    }

    /// What the run is waiting for now, for a person who wonders why nothing
    /// happens (the terminal's hint): None while input is still being sent, and
    /// when nothing is awaited (the goal is met, or `--wait` without a goal keeps
    /// listening because the user asked it to).
    pub fn awaited(&self) -> Option<String> {
        if !self.awaiting() {
            return None;
        }
        if !self.has_explicit_goal() {
            let sent = crate::text::count(self.sent, "message");
            let missing = self.sent.saturating_sub(self.received);
            return Some(match (self.received, missing) {
                (0, 1) => format!("sent {sent}, waiting for a reply"),
                (0, _) => format!("sent {sent}, waiting for the replies (one per message)"),
                (1, _) => format!("sent {sent}, received 1 reply, waiting for {missing} more"),
                (got, _) => {
                    format!("sent {sent}, received {got} replies, waiting for {missing} more")
                }
            });
        }
        let mut parts = Vec::new();
        if let Some(n) = self.goals.count.filter(|&n| self.received < n) {
            parts.push(format!(
                "received {} of {n} messages (--count {n})",
                self.received
            ));
        }
        if let Some(pattern) = self.goals.expect.get(self.expects_matched) {
            parts.push(format!(
                "waiting for a message matching {}",
                pattern.describe("--expect")
            ));
        }
        match parts.len() {
            0 => None,
            1 if self.goals.expect.len() == self.expects_matched => {
                Some(format!("{}, waiting for more", parts[0]))
            }
            _ => Some(parts.join(", ")),
        }
    }

    /// What the run still waits for, if anything: the explicit `--count`/`--expect`
    /// condition, or (without one and without `--wait`) the replies of the default
    /// goal. A run that ends with something unmet fails with exit 6, however it
    /// ended: `--timeout`, the peer closing, or the connection dropping.
    pub fn unmet(&self) -> Option<String> {
        if !self.has_explicit_goal() {
            if self.goals.wait.is_none() && self.received < self.sent {
                return Some(format!(
                    "received {} of {} replies (one per message sent)",
                    self.received, self.sent
                ));
            }
            return None;
        }
        let mut parts = Vec::new();
        if let Some(n) = self.goals.count {
            if self.received < n {
                parts.push(format!(
                    "received {} of {n} messages (--count)",
                    self.received
                ));
            }
        }
        if let Some(pattern) = self.goals.expect.get(self.expects_matched) {
            parts.push(format!(
                "no message matched {} ({} of {} patterns matched)",
                pattern.describe("--expect"),
                self.expects_matched,
                self.goals.expect.len()
            ));
        }
        if parts.is_empty() {
            None
        } else {
            Some(parts.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(goals: Goals) -> (Policy, Instant) {
        let t0 = Instant::now();
        (Policy::new(goals, t0), t0)
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn default_goal_is_one_reply_per_message_after_input_ends() {
        let (mut p, t0) = policy(Goals::default());
        p.on_sent(2);
        p.on_received("a");
        assert_eq!(p.verdict(t0), None, "input has not ended");
        p.on_received("b");
        assert_eq!(p.verdict(t0), None, "input has not ended");
        p.on_input_end(t0);
        assert_eq!(p.verdict(t0), Some(Verdict::GoalMet));
        assert_eq!(p.unmet(), None);
    }

    #[test]
    fn default_goal_waits_for_replies() {
        let (mut p, t0) = policy(Goals::default());
        p.on_sent(3);
        p.on_input_end(t0);
        p.on_received("a");
        p.on_received("b");
        assert_eq!(p.verdict(t0 + Duration::from_secs(3600)), None);
        p.on_received("c");
        assert_eq!(p.verdict(t0), Some(Verdict::GoalMet));
    }

    #[test]
    fn awaited_says_what_is_missing_once_the_input_ended() {
        let (mut p, t0) = policy(Goals::default());
        p.on_sent(1);
        assert_eq!(p.awaited(), None, "still sending");
        p.on_input_end(t0);
        assert_eq!(
            p.awaited().as_deref(),
            Some("sent 1 message, waiting for a reply")
        );
        p.on_sent(2);
        p.on_received("a");
        assert_eq!(
            p.awaited().as_deref(),
            Some("sent 3 messages, received 1 reply, waiting for 2 more")
        );
        let (mut p, t0) = policy(Goals {
            count: Some(3),
            ..Goals::default()
        });
        p.on_input_end(t0);
        p.on_received("a");
        assert_eq!(
            p.awaited().as_deref(),
            Some("received 1 of 3 messages (--count 3), waiting for more")
        );
        let (mut p, t0) = policy(Goals {
            expect: vec![Pattern::Regex(Regex::new("ready").unwrap())],
            ..Goals::default()
        });
        p.on_input_end(t0);
        assert_eq!(
            p.awaited().as_deref(),
            Some("waiting for a message matching --expect 'ready'")
        );
        let (mut p, t0) = policy(Goals {
            wait: Some(Wait::Forever),
            ..Goals::default()
        });
        p.on_sent(1);
        p.on_input_end(t0);
        assert_eq!(p.awaited(), None, "--wait listens on purpose");
    }

    #[test]
    fn no_input_means_done_at_once() {
        let (mut p, t0) = policy(Goals::default());
        p.on_input_end(t0);
        assert_eq!(p.verdict(t0), Some(Verdict::GoalMet));
    }

    #[test]
    fn count_replaces_the_default_goal() {
        let (mut p, t0) = policy(Goals {
            count: Some(3),
            ..Goals::default()
        });
        p.on_sent(1);
        p.on_input_end(t0);
        p.on_received("1");
        assert_eq!(p.verdict(t0), None);
        assert_eq!(
            p.unmet().as_deref(),
            Some("received 1 of 3 messages (--count)")
        );
        p.on_received("2");
        p.on_received("3");
        assert_eq!(p.verdict(t0), Some(Verdict::GoalMet));
        assert_eq!(p.unmet(), None);
    }

    #[test]
    fn expects_match_in_order() {
        let (mut p, t0) = policy(Goals {
            expect: vec![
                Pattern::Regex(Regex::new("^a").unwrap()),
                Pattern::Jq(Jq::compile(".b == 1").unwrap()),
            ],
            ..Goals::default()
        });
        p.on_input_end(t0);
        p.on_received(r#"{"b":1}"#); // second pattern, but the first is not matched yet
        assert_eq!(p.verdict(t0), None);
        p.on_received("a"); // the first
        assert_eq!(p.verdict(t0), None);
        assert!(p.unmet().unwrap().contains("--expect-jq '.b == 1' (1 of 2"));
        p.on_received("b == 1"); // not JSON: never matches a filter
        assert_eq!(p.verdict(t0), None);
        p.on_received(r#"{"b":1}"#);
        assert_eq!(p.verdict(t0), Some(Verdict::GoalMet));
        assert!(!p.wants_text());
    }

    #[test]
    fn fail_on_is_reported_once_and_wins_over_expect() {
        let (mut p, t0) = policy(Goals {
            expect: vec![Pattern::Regex(Regex::new("err|ok").unwrap())],
            fail_on: vec![Pattern::Jq(Jq::compile(".type == \"error\"").unwrap())],
            ..Goals::default()
        });
        p.on_input_end(t0);
        p.on_received("fine");
        assert_eq!(p.take_failure(), None);
        p.on_received(r#"{"type":"error"}"#);
        let failure = p.take_failure().unwrap();
        assert!(failure.contains("--fail-on-jq"), "{failure}");
        assert_eq!(p.take_failure(), None);
        assert_eq!(p.verdict(t0), None, "the failing message met no goal");
    }

    #[test]
    fn wait_keeps_receiving_after_input_ends() {
        let (mut p, t0) = policy(Goals {
            wait: Some(Wait::For(100 * MS)),
            ..Goals::default()
        });
        p.on_sent(1);
        p.on_received("reply");
        assert_eq!(p.next_deadline(), None);
        p.on_input_end(t0);
        assert_eq!(p.verdict(t0 + 99 * MS), None);
        assert_eq!(p.next_deadline(), Some(t0 + 100 * MS));
        assert_eq!(p.verdict(t0 + 100 * MS), Some(Verdict::WaitOver));
    }

    #[test]
    fn wait_forever_never_ends_by_itself() {
        let (mut p, t0) = policy(Goals {
            wait: Some(Wait::Forever),
            ..Goals::default()
        });
        p.on_input_end(t0);
        assert_eq!(p.verdict(t0 + Duration::from_secs(86400)), None);
        assert_eq!(p.next_deadline(), None);
    }

    #[test]
    fn wait_bounds_an_explicit_goal() {
        let (mut p, t0) = policy(Goals {
            count: Some(2),
            wait: Some(Wait::For(10 * MS)),
            ..Goals::default()
        });
        p.on_input_end(t0);
        p.on_received("1");
        assert_eq!(p.verdict(t0 + 10 * MS), Some(Verdict::WaitOver));
        assert!(p.unmet().is_some());
    }

    #[test]
    fn timeout_ends_everything() {
        let (mut p, t0) = policy(Goals {
            timeout: Some(50 * MS),
            ..Goals::default()
        });
        p.on_sent(1);
        assert_eq!(p.next_deadline(), Some(t0 + 50 * MS));
        assert_eq!(p.verdict(t0 + 49 * MS), None);
        assert_eq!(p.verdict(t0 + 50 * MS), Some(Verdict::TimedOut));
        // Nothing explicit was asked, but the default goal's reply is missing.
        assert_eq!(
            p.unmet().as_deref(),
            Some("received 0 of 1 replies (one per message sent)")
        );
        p.on_received("reply");
        assert_eq!(p.unmet(), None);
    }
}
