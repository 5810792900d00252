//! `--jsonl`: every event as one JSON object per line, for programs to read.
//!
//! The schema is a stable interface, documented in the README and published as
//! `doc/jsonl.schema.json` (the tests validate every line they see against it):
//! `{"time": RFC 3339 UTC with microseconds, "dir": "in"|"out", "type": …}` plus, per
//! type: `open` (url, peer, status, subprotocol, headers; tls), `text`/`binary`/`ping`/`pong`
//! (data, size, and `"encoding":"base64"` when data is base64; `compressed` and
//! `wire_size` under permessage-deflate), `close` (code, reason),
//! `frame` (opcode, fin, rsv, masked, len; inflated; code, reason), `reconnect` (attempt,
//! delay_ms, reason), `rejected` (status, reason, headers, body), `error` (message,
//! exit_code; no `dir`), `stats` (`--stats`: connections, connect_ms, first_message_ms,
//! sent, received, pings_sent, pongs_received, rtt_ms; no `dir`). A new field or event goes here, in the schema and in the
//! README's table together.

use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use super::Sink;
use crate::event::{Direction, Event, Kind, Rejection};
use crate::redact;
use crate::stats::RunStats;

pub struct Jsonl<W: Write> {
    out: W,
    show_secrets: bool,
}

impl<W: Write> Jsonl<W> {
    pub fn new(out: W, show_secrets: bool) -> Self {
        Jsonl { out, show_secrets }
    }

    /// `open`: the URL, the peer (`ADDR:PORT` or `unix:PATH`), status,
    /// subprotocol and response headers (redacted); `tls` for wss:// only.
    fn open(&self, info: &crate::event::HandshakeInfo) -> Value {
        let mut open = json!({
            "time": time(info.at),
            "dir": "in",
            "type": "open",
            "url": info.url,
            "peer": info.peer,
            "status": info.status,
            "subprotocol": info.subprotocol,
            "headers": self.headers(&info.response_headers),
        });
        if let Some(tls) = &info.tls {
            open["tls"] = json!({"version": tls.version, "cipher": tls.cipher, "alpn": tls.alpn});
        }
        open
    }

    /// `rejected`: the server's non-101 answer, its headers (redacted) and the
    /// start of its body.
    fn rejected(&self, rejection: &Rejection) -> Value {
        json!({
            "time": time(rejection.at),
            "dir": "in",
            "type": "rejected",
            "status": rejection.status,
            "reason": rejection.reason,
            "headers": self.headers(&rejection.headers),
            "body": rejection.body,
        })
    }

    /// Response headers as one object: lower-case names, credentials redacted.
    fn headers(&self, pairs: &[(String, String)]) -> Map<String, Value> {
        let mut headers = Map::new();
        for (name, value) in pairs {
            let shown = redact::header_value(name, value, self.show_secrets);
            let name = name.to_ascii_lowercase();
            // Repeated headers are joined as HTTP allows (RFC 9110 §5.3).
            let joined = match headers.get(&name).and_then(Value::as_str) {
                Some(prev) => format!("{prev}, {shown}"),
                None => shown.to_string(),
            };
            headers.insert(name, Value::String(joined));
        }
        headers
    }

    fn write(&mut self, value: &Value) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n")
    }
}

/// `stats` (`--stats`): times in milliseconds, counts as integers; `tls` only for
/// wss://, `dns` and `tcp` not in listen mode, `rtt_ms` only once a pong answered
/// a ping.
fn stats_event(stats: &RunStats, at: SystemTime) -> Value {
    // Milliseconds to the microsecond (0.289774, not 0.28977400000000003).
    let ms = |d: Duration| d.as_micros() as f64 / 1000.0;
    let traffic = |t: &crate::stats::Traffic| json!({"messages": t.messages, "bytes": t.bytes});
    let mut value = json!({
        "time": time(at),
        "type": "stats",
        "connections": stats.connections,
    });
    if let Some(c) = &stats.connect {
        let mut connect = Map::new();
        for (name, d) in [("dns", c.dns), ("tcp", c.tcp), ("tls", c.tls)] {
            if let Some(d) = d {
                connect.insert(name.into(), json!(ms(d)));
            }
        }
        connect.insert("upgrade".into(), json!(ms(c.upgrade)));
        connect.insert("total".into(), json!(ms(c.total)));
        value["connect_ms"] = Value::Object(connect);
    }
    value["first_message_ms"] = json!(stats.first_message.map(ms));
    value["sent"] = traffic(&stats.sent);
    value["received"] = traffic(&stats.received);
    value["pings_sent"] = json!(stats.pings_sent);
    value["pongs_received"] = json!(stats.pongs_received);
    if let Some(rtt) = stats.rtt() {
        value["rtt_ms"] = json!({
            "min": ms(rtt.min),
            "median": ms(rtt.median),
            "p90": ms(rtt.p90),
            "p99": ms(rtt.p99),
            "max": ms(rtt.max),
            "samples": rtt.samples,
        });
    }
    value
}

fn time(at: SystemTime) -> String {
    humantime::format_rfc3339_micros(at).to_string()
}

fn dir(d: Direction) -> &'static str {
    match d {
        Direction::In => "in",
        Direction::Out => "out",
    }
}

impl<W: Write> Jsonl<W> {
    /// One event as its JSON object.
    fn value(&self, event: &Event) -> Value {
        match event {
            Event::Open(info) => self.open(info),
            Event::Rejected(rejection) => self.rejected(rejection),
            Event::Redirect(hop) => json!({
                "time": time(hop.at),
                "dir": "in",
                "type": "redirect",
                "status": hop.status,
                "reason": hop.reason,
                "location": hop.location,
                "hop": hop.hop,
                "max": hop.max,
            }),
            Event::Message {
                dir: d,
                kind,
                payload,
                at,
                wire,
            } => {
                let type_name = match kind {
                    Kind::Text => "text",
                    Kind::Binary => "binary",
                    Kind::Ping => "ping",
                    Kind::Pong => "pong",
                };
                let text = match kind {
                    Kind::Binary => None,
                    _ => std::str::from_utf8(payload).ok(),
                };
                let mut value = json!({
                    "time": time(*at),
                    "dir": dir(*d),
                    "type": type_name,
                    "size": payload.len(),
                });
                if let Some(wire) = wire {
                    value["compressed"] = Value::Bool(wire.compressed);
                    value["wire_size"] = json!(wire.size);
                }
                match text {
                    Some(text) => value["data"] = Value::String(text.to_string()),
                    None => {
                        value["data"] = Value::String(
                            base64::engine::general_purpose::STANDARD.encode(payload),
                        );
                        value["encoding"] = Value::String("base64".into());
                    }
                }
                value
            }
            Event::Close {
                dir: d,
                code,
                reason,
                at,
            } => json!({
                "time": time(*at),
                "dir": dir(*d),
                "type": "close",
                "code": code,
                "reason": reason,
            }),
            Event::Frame { dir: d, frame, at } => {
                let mut value = json!({
                    "time": time(*at),
                    "dir": dir(*d),
                    "type": "frame",
                    "opcode": frame.opcode_name(),
                    "fin": frame.fin,
                    "rsv": frame.rsv,
                    "masked": frame.masked,
                    "len": frame.len,
                });
                if let Some(size) = frame.inflated {
                    value["inflated"] = json!(size);
                }
                if let Some((code, reason)) = &frame.close {
                    value["code"] = json!(code);
                    value["reason"] = json!(reason);
                }
                value
            }
            Event::Reconnect {
                attempt,
                delay,
                reason,
                at,
            } => json!({
                "time": time(*at),
                // wsprobe's own doing: it connects again.
                "dir": "out",
                "type": "reconnect",
                "attempt": attempt,
                "delay_ms": delay.as_millis() as u64,
                "reason": reason,
            }),
            Event::Error {
                message,
                exit_code,
                at,
            } => json!({
                "time": time(*at),
                "type": "error",
                "message": message,
                "exit_code": exit_code,
            }),
            Event::Stats { stats, at } => stats_event(stats, *at),
            Event::Client { id, event } => {
                let mut value = self.value(event);
                if let Value::Object(map) = &mut value {
                    map.insert("client".into(), json!(id));
                }
                value
            }
            Event::Disconnected { reason, at } => json!({
                "time": time(*at),
                "dir": "in",
                "type": "disconnected",
                "reason": reason,
            }),
        }
    }
}

impl<W: Write> Sink for Jsonl<W> {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        let value = self.value(event);
        self.write(&value)
    }

    fn wants_outgoing(&self) -> bool {
        true
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::HandshakeInfo;
    use std::time::{Duration, UNIX_EPOCH};
    use tungstenite::Bytes;

    fn lines(events: &[Event]) -> Vec<Value> {
        let mut buf = Vec::new();
        {
            let mut sink = Jsonl::new(&mut buf, false);
            for e in events {
                sink.event(e).unwrap();
            }
            sink.flush().unwrap();
        }
        String::from_utf8(buf)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn schema() {
        let at = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        let info = HandshakeInfo {
            url: "ws://h/".into(),
            status: 101,
            subprotocol: Some("chat".into()),
            response_headers: vec![
                ("Set-Cookie".into(), "s=1".into()),
                ("X-A".into(), "1".into()),
                ("x-a".into(), "2".into()),
            ],
            at,
            ..HandshakeInfo::default()
        };
        let rejection = Rejection {
            status: 403,
            reason: "Forbidden".into(),
            headers: vec![
                ("set-cookie".into(), "s=1".into()),
                ("content-type".into(), "text/plain".into()),
            ],
            body: "no".into(),
            at,
            location: None,
        };
        let text = Bytes::from_static(b"hi \"there\"");
        let bin = Bytes::from_static(b"\x00\xff");
        let out = lines(&[
            Event::Open(&info),
            Event::Message {
                dir: Direction::Out,
                kind: Kind::Text,
                payload: &text,
                at,
                wire: None,
            },
            Event::Message {
                dir: Direction::In,
                kind: Kind::Binary,
                payload: &bin,
                at,
                wire: None,
            },
            Event::Close {
                dir: Direction::In,
                code: Some(4001),
                reason: "bye",
                at,
            },
            Event::Error {
                message: "boom",
                exit_code: 7,
                at,
            },
            Event::Reconnect {
                attempt: 2,
                delay: Duration::from_millis(1500),
                reason: "the server closed",
                at,
            },
            Event::Rejected(&rejection),
        ]);
        assert_eq!(out[0]["time"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(out[0]["type"], "open");
        assert_eq!(out[0]["subprotocol"], "chat");
        assert_eq!(out[0]["headers"]["set-cookie"], "<redacted>");
        assert_eq!(out[0]["headers"]["x-a"], "1, 2");
        assert_eq!(out[1]["dir"], "out");
        assert_eq!(out[1]["data"], "hi \"there\"");
        assert_eq!(out[1]["size"], 10);
        assert!(out[1].get("encoding").is_none());
        assert_eq!(out[2]["data"], "AP8=");
        assert_eq!(out[2]["encoding"], "base64");
        assert_eq!(out[3]["code"], 4001);
        assert_eq!(out[3]["reason"], "bye");
        assert_eq!(out[4]["type"], "error");
        assert_eq!(out[4]["exit_code"], 7);
        assert!(out[4].get("dir").is_none());
        assert_eq!(out[5]["type"], "reconnect");
        assert_eq!(out[5]["dir"], "out");
        assert_eq!(out[5]["delay_ms"], 1500);
        assert_eq!(
            out[6],
            json!({"time": "2023-11-14T22:13:20.123456Z", "dir": "in", "type": "rejected",
                "status": 403, "reason": "Forbidden",
                "headers": {"set-cookie": "<redacted>", "content-type": "text/plain"},
                "body": "no"})
        );
    }

    #[test]
    fn stats_event() {
        use crate::event::Timings;
        use std::time::Instant;
        let at = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        let mut stats = RunStats::default();
        let info = HandshakeInfo {
            timings: Some(Timings {
                dns: Duration::from_nanos(672),
                tcp: Duration::from_micros(170),
                tls: None,
                upgrade: Duration::from_micros(118),
                total: Duration::from_micros(289),
            }),
            ..HandshakeInfo::default()
        };
        let t0 = Instant::now();
        stats.opened(&info, t0);
        stats.sent_data(5);
        let without_rtt = lines(&[Event::Stats { stats: &stats, at }]);
        assert_eq!(
            without_rtt[0],
            json!({"time": "2023-11-14T22:13:20.123456Z", "type": "stats", "connections": 1,
                "connect_ms": {"dns": 0.0, "tcp": 0.17, "upgrade": 0.118, "total": 0.289},
                "first_message_ms": null,
                "sent": {"messages": 1, "bytes": 5}, "received": {"messages": 0, "bytes": 0},
                "pings_sent": 0, "pongs_received": 0})
        );
        stats.ping_sent(Bytes::from_static(b"k"), t0);
        stats.pong_received(b"k", t0 + Duration::from_micros(250));
        let with_rtt = lines(&[Event::Stats { stats: &stats, at }]);
        assert_eq!(
            with_rtt[0]["rtt_ms"],
            json!({"min": 0.25, "median": 0.25, "p90": 0.25, "p99": 0.25, "max": 0.25, "samples": 1})
        );
        assert_eq!(with_rtt[0]["pings_sent"], 1);
    }
}
