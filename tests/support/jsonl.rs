//! JSON lines (`--jsonl`, `--record`): parsing them, checking every line
//! against the published schema (`doc/jsonl.schema.json`), their `time` field,
//! and base64 as wsprobe prints binary data.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::{test_tempdir, wsprobe_env, Run};

/// The published JSON-lines schema, as the repository holds it.
pub fn jsonl_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("doc/jsonl.schema.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
    })
}

/// The schema compiled (draft 2020-12), and one validator per event type (its
/// `$defs` entry) for a precise message when a line does not validate: the
/// whole schema's `oneOf` only says "no event type matched".
struct Validators {
    all: jsonschema::Validator,
    by_type: HashMap<String, jsonschema::Validator>,
}

fn validators() -> &'static Validators {
    static VALIDATORS: OnceLock<Validators> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        let schema = jsonl_schema();
        let compile = |schema: &Value| {
            jsonschema::draft202012::new(schema)
                .unwrap_or_else(|e| panic!("doc/jsonl.schema.json does not compile: {e}"))
        };
        let by_type = event_types()
            .into_iter()
            .map(|name| {
                let one = json!({
                    "$schema": schema["$schema"],
                    "$defs": schema["$defs"],
                    "$ref": format!("#/$defs/{name}"),
                });
                let validator = compile(&one);
                (name, validator)
            })
            .collect();
        Validators {
            all: compile(schema),
            by_type,
        }
    })
}

/// The event types the schema lists (the `$ref`s of its `oneOf`).
pub fn event_types() -> Vec<String> {
    jsonl_schema()["oneOf"]
        .as_array()
        .expect("the schema's oneOf lists the event types")
        .iter()
        .map(|one| {
            one["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/$defs/"))
                .unwrap_or_else(|| panic!("oneOf entry is not a $defs reference: {one}"))
                .to_string()
        })
        .collect()
}

/// Panics, naming the line and what is wrong with it, unless `event` is valid
/// under doc/jsonl.schema.json.
#[track_caller]
pub fn assert_valid_event(event: &Value, line: &str) {
    let v = validators();
    if v.all.is_valid(event) {
        return;
    }
    let kind = event["type"].as_str().unwrap_or("(no type)");
    let problems: Vec<String> = match v.by_type.get(kind) {
        Some(one) => one
            .iter_errors(event)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect(),
        None => vec![format!("unknown event type {kind:?}")],
    };
    panic!(
        "JSON line does not match doc/jsonl.schema.json ({}): {line}",
        problems.join("; ")
    );
}

/// Checks a run's machine-readable output against the schema: its stdout with
/// `--jsonl`, the file of `--record FILE`. Called for every run by the runner;
/// only complete lines count (a run killed or cut by a closed pipe may end in
/// half a line).
#[track_caller]
pub fn check_machine_output(run: &Run) {
    let args = &run.args;
    if args.iter().any(|a| a == "--jsonl") {
        check_complete_lines(&run.stdout, "stdout");
    }
    let record = args
        .iter()
        .enumerate()
        .find_map(|(i, a)| match a.strip_prefix("--record") {
            Some("") => args.get(i + 1).cloned(),
            Some(rest) => rest.strip_prefix('=').map(str::to_string),
            None => None,
        });
    if let Some(path) = record {
        if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            let bytes = std::fs::read(&path).unwrap_or_default();
            check_complete_lines(&bytes, &path);
        }
    }
}

#[track_caller]
fn check_complete_lines(bytes: &[u8], what: &str) {
    let Some(end) = bytes.iter().rposition(|&b| b == b'\n') else {
        return;
    };
    let text = String::from_utf8_lossy(&bytes[..end]);
    for line in text.split('\n') {
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line in {what} ({e}): {line:?}"));
        assert_valid_event(&value, line);
    }
}

/// Base64 (standard alphabet, padded), as wsprobe prints binary messages.
pub fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Parses JSON-lines output: every line must be one JSON object valid under
/// doc/jsonl.schema.json (panics, showing the text, otherwise).
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
            assert_valid_event(&value, line);
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
