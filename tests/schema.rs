//! The published JSON-lines schema (`doc/jsonl.schema.json`): a valid draft
//! 2020-12 schema that names exactly the events and fields the README's table
//! documents, and that catches drift. (Every `--jsonl`/`--record` line of every
//! test is validated against it by the runner: tests/support/jsonl.rs.) The
//! `rejected` event of a refused upgrade is tested here too.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::support::*;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The README's `--jsonl` table as (event type → fields).
fn readme_fields() -> BTreeMap<String, BTreeSet<String>> {
    let readme = readme();
    let section = readme
        .split("## Machine-readable output")
        .nth(1)
        .expect("the README has a machine-readable output section");
    let rows: Vec<Vec<&str>> = section
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.split('|').map(str::trim).collect())
        .collect();
    let ticked = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(|s| s.trim_matches('"').to_string())
            .collect()
    };
    let types = rows
        .iter()
        .find(|r| r[1] == "`type`")
        .map(|r| ticked(r[3]))
        .expect("a `type` row");
    let mut fields: BTreeMap<String, BTreeSet<String>> =
        types.iter().map(|t| (t.clone(), BTreeSet::new())).collect();
    for row in &rows {
        let applies: Vec<String> = match row[2] {
            "all" => types.clone(),
            "messages" => ["text", "binary", "ping", "pong"]
                .map(String::from)
                .to_vec(),
            other if other.starts_with("all but") => {
                let but = ticked(other);
                types.iter().filter(|t| !but.contains(t)).cloned().collect()
            }
            other => ticked(other),
        };
        for t in applies {
            let entry = fields
                .get_mut(&t)
                .unwrap_or_else(|| panic!("README row {row:?} names the unknown type {t}"));
            entry.extend(ticked(row[1]));
        }
    }
    fields
}

/// The schema's (event type → properties).
fn schema_fields() -> BTreeMap<String, BTreeSet<String>> {
    let schema = jsonl_schema();
    event_types()
        .into_iter()
        .map(|t| {
            let def = &schema["$defs"][&t];
            assert_eq!(
                def["additionalProperties"], false,
                "{t} must list every field"
            );
            assert_eq!(def["properties"]["type"]["const"], t.as_str());
            let props = def["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{t} has no properties"))
                .keys()
                .cloned()
                .collect();
            (t, props)
        })
        .collect()
}

#[test]
fn the_schema_is_a_valid_draft_2020_12_schema() {
    let schema = jsonl_schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    if let Err(e) = jsonschema::draft202012::meta::validate(schema) {
        panic!("doc/jsonl.schema.json is not a valid schema: {e}");
    }
    // Every definition the oneOf names exists.
    for t in event_types() {
        assert!(schema["$defs"][&t].is_object(), "no $defs entry for {t}");
    }
}

#[test]
fn the_schema_and_the_readme_name_the_same_events_and_fields() {
    assert_eq!(schema_fields(), readme_fields());
}

#[test]
fn the_readme_links_the_schema() {
    assert!(readme().contains("(doc/jsonl.schema.json)"));
}

/// The schema rejects what wsprobe must not print: drift is caught.
#[test]
fn the_schema_catches_drift() {
    let schema = jsonl_schema();
    let time = "2026-11-22T02:26:52.525855Z";
    let good = [
        json!({"time": time, "dir": "out", "type": "text", "size": 2, "data": "hi"}),
        json!({"time": time, "dir": "in", "type": "binary", "size": 1, "data": "AA==", "encoding": "base64"}),
        json!({"time": time, "dir": "out", "type": "reconnect", "attempt": 1, "delay_ms": 0, "reason": "x"}),
        json!({"time": time, "dir": "in", "type": "rejected", "status": 403, "reason": "Forbidden", "headers": {}, "body": ""}),
        json!({"time": time, "dir": "in", "type": "redirect", "status": 302, "reason": "Found", "location": "ws://h/", "hop": 1, "max": 10}),
        json!({"time": time, "type": "error", "message": "m", "exit_code": 5}),
        json!({"time": time, "type": "stats", "connections": 1,
            "connect_ms": {"upgrade": 0.2, "total": 0.2}, "first_message_ms": null,
            "sent": {"messages": 0, "bytes": 0}, "received": {"messages": 0, "bytes": 0},
            "pings_sent": 0, "pongs_received": 0}),
    ];
    for event in &good {
        assert!(jsonschema::is_valid(schema, event), "{event}");
    }
    let bad = [
        // An undocumented field.
        json!({"time": time, "dir": "out", "type": "text", "size": 2, "data": "hi", "extra": 1}),
        // A missing one (the reconnect event's dir).
        json!({"time": time, "type": "reconnect", "attempt": 1, "delay_ms": 0, "reason": "x"}),
        // A text message cannot be base64.
        json!({"time": time, "dir": "in", "type": "text", "size": 1, "data": "AA==", "encoding": "base64"}),
        // The status is a number.
        json!({"time": time, "dir": "in", "type": "rejected", "status": "403", "reason": "", "headers": {}, "body": ""}),
        // An unknown type, a time without microseconds.
        json!({"time": time, "dir": "in", "type": "hello"}),
        json!({"time": "2026-11-22T02:26:52Z", "type": "error", "message": "m", "exit_code": 5}),
        // Counts are integers; round trips come with all their figures.
        json!({"time": time, "type": "stats", "connections": 1, "first_message_ms": 1.5,
            "sent": {"messages": 1.5, "bytes": 0}, "received": {"messages": 0, "bytes": 0},
            "pings_sent": 0, "pongs_received": 0}),
        json!({"time": time, "type": "stats", "connections": 1, "first_message_ms": 1.5,
            "sent": {"messages": 1, "bytes": 0}, "received": {"messages": 0, "bytes": 0},
            "pings_sent": 1, "pongs_received": 1, "rtt_ms": {"min": 0.1, "max": 0.2}}),
    ];
    for event in &bad {
        assert!(!jsonschema::is_valid(schema, event), "{event}");
    }
}

fn rejecting_server(body: &str) -> RawServer {
    RawServer::reply(format!(
        "HTTP/1.1 403 Not For You\r\nSet-Cookie: S3CRET-SETCOOKIE\r\nX-Why: policy\r\n\
         Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ))
}

fn only(events: &[Value], kind: &str) -> Value {
    let found: Vec<&Value> = events.iter().filter(|e| e["type"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} event in {events:?}");
    found[0].clone()
}

#[test]
fn a_rejected_upgrade_is_a_rejected_event_then_the_error() {
    let raw = rejecting_server("no entry");
    let r = wsprobe(&[&raw.url(), "--jsonl", "-x", "hi"], "");
    r.code(5)
        .stderr_contains("the server rejected the WebSocket upgrade: HTTP 403")
        .finished_within(std::time::Duration::from_secs(5));
    let events = parse_jsonl(&r.stdout);
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["rejected", "error"], "{r}");
    let mut rejected = events[0].clone();
    rejected.as_object_mut().unwrap().remove("time");
    assert_eq!(
        rejected,
        json!({"dir": "in", "type": "rejected", "status": 403, "reason": "Not For You",
            "headers": {"set-cookie": "<redacted>", "x-why": "policy",
                "content-type": "text/plain", "content-length": "8"},
            "body": "no entry"})
    );
    assert_eq!(events[1]["exit_code"], 5);
    assert!(!r.stdout_str().contains("S3CRET"), "{r}");
}

#[test]
fn show_secrets_shows_a_rejections_headers() {
    let raw = rejecting_server("");
    let r = wsprobe(&[&raw.url(), "--jsonl", "--show-secrets", "-x", "hi"], "");
    r.code(5);
    let rejected = only(&parse_jsonl(&r.stdout), "rejected");
    assert_eq!(rejected["headers"]["set-cookie"], "S3CRET-SETCOOKIE");
    assert_eq!(rejected["body"], "");
}

/// A server that sends a huge body: the event keeps only its start, and the
/// run does not wait for the rest.
#[test]
fn a_rejections_body_is_truncated_to_4_kib() {
    let body = "é".repeat(10_000);
    let raw = rejecting_server(&body);
    let rec = wsprobe_recorded(&[&raw.url(), "-x", "hi"], &[]);
    rec.run
        .code(5)
        .finished_within(std::time::Duration::from_secs(5));
    let rejected = only(&rec.events(), "rejected");
    let kept = rejected["body"].as_str().unwrap();
    assert!(kept.len() <= 4096 && kept.len() >= 4094, "{}", kept.len());
    assert!(kept.chars().all(|c| c == 'é'), "no cut character");
    assert_eq!(only(&rec.events(), "error")["exit_code"], 5);
}

/// With --reconnect every rejected attempt is reported.
#[test]
fn each_rejected_attempt_is_reported_with_reconnect() {
    let raw = rejecting_server("later");
    let r = wsprobe(
        &[
            &raw.url(),
            "--jsonl",
            "--reconnect=2",
            "-x",
            "hi",
            "--timeout",
            "20s",
        ],
        "",
    );
    r.code(5);
    let events = parse_jsonl(&r.stdout);
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["rejected", "rejected", "rejected", "error"], "{r}");
}

/// The runner's check can fail: a line the schema does not allow, in the
/// stdout of a `--jsonl` run or in a `--record` file, fails the test.
#[test]
fn the_runner_rejects_output_that_drifted() {
    use std::os::unix::process::ExitStatusExt;
    let run = |args: &[&str], stdout: &[u8]| Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: Some(0),
        status: std::process::ExitStatus::from_raw(0),
        stdout: stdout.to_vec(),
        stderr: Vec::new(),
        elapsed: std::time::Duration::ZERO,
        peak_rss_kb: None,
        killed: None,
    };
    let time = "2026-11-22T02:26:52.525855Z";
    let good =
        format!("{{\"time\":\"{time}\",\"type\":\"error\",\"message\":\"m\",\"exit_code\":3}}\n");
    let drifted = good.replace("\"exit_code\"", "\"code\"");
    check_machine_output(&run(&["--jsonl"], good.as_bytes()));
    // Half a line at the end (a killed run) is not judged.
    check_machine_output(&run(&["--jsonl"], format!("{good}{{\"ti").as_bytes()));
    let caught =
        |f: Box<dyn FnOnce() + std::panic::UnwindSafe>| std::panic::catch_unwind(f).is_err();
    let stdout = drifted.clone();
    assert!(caught(Box::new(move || check_machine_output(&run(
        &["--jsonl"],
        stdout.as_bytes()
    )))));
    let dir = test_tempdir();
    let file = dir.path().join("rec.jsonl");
    std::fs::write(&file, &drifted).unwrap();
    let path = file.to_str().unwrap().to_string();
    assert!(caught(Box::new(move || check_machine_output(&run(
        &["--record", &path],
        b""
    )))));
}
