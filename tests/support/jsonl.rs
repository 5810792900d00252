//! JSON lines (`--jsonl`, `--record`): parsing them, their `time` field,
//! and base64 as wsprobe prints binary data.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::{test_tempdir, wsprobe_env, Run};

/// Base64 (standard alphabet, padded), as wsprobe prints binary messages.
pub fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Parses JSON-lines output: every line must be one JSON object (panics,
/// showing the text, otherwise).
#[track_caller]
pub fn parse_jsonl(bytes: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(bytes).expect("JSON lines must be UTF-8");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "JSON lines must end with a newline: {text:?}"
    );
    text.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}\nin:\n{text}"));
            assert!(value.is_object(), "not a JSON object: {line:?}");
            value
        })
        .collect()
}

/// Checks that an event's `time` is RFC 3339 UTC with microseconds, within
/// [before, after]; returns it.
#[track_caller]
pub fn check_time(event: &Value, before: SystemTime, after: SystemTime) -> SystemTime {
    let time = event["time"]
        .as_str()
        .unwrap_or_else(|| panic!("no time: {event}"));
    let re = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$").unwrap();
    assert!(
        re.is_match(time),
        "time {time:?} is not RFC 3339 UTC with µs"
    );
    let at = humantime::parse_rfc3339(time).unwrap();
    // The printed time is truncated to microseconds.
    assert!(
        at + Duration::from_micros(1) >= before && at <= after,
        "time {time} is not within the run"
    );
    at
}

/// The events without their `time` (checked: within [before, after], never
/// going backwards), and the open event without its headers.
#[track_caller]
pub fn timeless(events: &[Value], before: SystemTime, after: SystemTime) -> Vec<Value> {
    let mut last = SystemTime::UNIX_EPOCH;
    events
        .iter()
        .map(|e| {
            let at = check_time(e, before, after);
            assert!(at >= last, "times go backwards at {e}");
            last = at;
            let mut e = e.clone();
            let o = e.as_object_mut().unwrap();
            o.remove("time");
            if o["type"] == "open" {
                o.remove("headers");
            }
            e
        })
        .collect()
}

/// A run recorded with `--record FILE`: the run, what it recorded, and the
/// times around it.
pub struct Recorded {
    pub run: Run,
    pub record: Vec<u8>,
    pub before: SystemTime,
    pub after: SystemTime,
}

impl Recorded {
    /// The recorded events (which must be JSON lines).
    #[track_caller]
    pub fn events(&self) -> Vec<Value> {
        parse_jsonl(&self.record)
    }

    /// The recorded events, [`timeless`].
    #[track_caller]
    pub fn timeless(&self) -> Vec<Value> {
        timeless(&self.events(), self.before, self.after)
    }

    /// Asserts that the record is one `error` event with `exit_code`.
    #[track_caller]
    pub fn only_error(&self, exit_code: i32) {
        let events = self.events();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["type"], "error");
        assert_eq!(events[0]["exit_code"], exit_code);
    }
}

/// Runs wsprobe with `args` plus `--record FILE` (in a fresh directory),
/// with `env`.
pub fn wsprobe_recorded(args: &[&str], env: &[(&str, &str)]) -> Recorded {
    let dir = test_tempdir();
    let file = dir.path().join("rec.jsonl");
    let mut all = args.to_vec();
    all.extend(["--record", file.to_str().unwrap()]);
    let before = SystemTime::now();
    let run = wsprobe_env(&all, "", env);
    let after = SystemTime::now();
    let record = std::fs::read(&file).unwrap_or_default();
    Recorded {
        run,
        record,
        before,
        after,
    }
}
