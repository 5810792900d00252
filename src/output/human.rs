//! The human view for the REPL: incoming messages marked `< `, control and status
//! lines marked `* `, JSON pretty-printed and colored, binary as a hexdump, control
//! characters made visible, optional timestamps. As it renders, it records what
//! `/info` and `/stats` show into the `ReplState` it shares with the editor thread.

use colored::Colorize;
use serde_json::Value;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use super::repl_state::ReplState;
use super::Sink;
use crate::event::{Direction, Event, HandshakeInfo, Kind};
use wsprobe::frame::FrameInfo;

/// How `--timestamps` shows time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampMode {
    /// Local wall-clock time with milliseconds.
    Local,
    /// Seconds since the connection opened.
    Relative,
}

#[derive(Debug, Clone)]
pub struct HumanOptions {
    pub show_ping_pong: bool,
    pub max_display: usize,
    pub timestamps: Option<TimestampMode>,
}

pub struct Human<W: Write> {
    out: W,
    buf: String,
    opts: HumanOptions,
    state: Arc<ReplState>,
    /// We sent Close: the server's Close is its answer, not its initiative.
    closing: bool,
    /// The server sent Close first.
    closed_by_server: bool,
    /// Connections opened so far: from the second on, the REPL says it is back.
    opens: u32,
    /// The attempt the last `reconnect` event announced.
    attempt: u32,
    /// Multi-client `--listen`: the client whose event is being shown.
    client: Option<u32>,
}

impl<W: Write> Human<W> {
    pub fn new(out: W, opts: HumanOptions, state: Arc<ReplState>) -> Self {
        Human {
            out,
            buf: String::new(),
            opts,
            state,
            closing: false,
            closed_by_server: false,
            opens: 0,
            attempt: 0,
            client: None,
        }
    }

    fn prefix(&mut self, at: SystemTime) {
        self.stamp(at);
        if let Some(id) = self.client {
            let _ = write!(self.buf, "{} ", format!("[{id}]").blue().bold());
        }
    }

    fn stamp(&mut self, at: SystemTime) {
        match self.opts.timestamps {
            None => {}
            Some(TimestampMode::Local) => {
                let stamp = local_time(at);
                let _ = write!(self.buf, "{} ", stamp.dimmed());
            }
            Some(TimestampMode::Relative) => {
                let since = at
                    .duration_since(SystemTime::now() - self.state.connected_at.elapsed())
                    .unwrap_or_default();
                let _ = write!(
                    self.buf,
                    "{} ",
                    format!("{:>9.3}s", since.as_secs_f64()).dimmed()
                );
            }
        }
    }

    /// How wide the timestamp prefix is, to align continuation lines under it.
    fn indent(&self) -> String {
        let width = match self.opts.timestamps {
            None => 0,
            Some(TimestampMode::Local) => "HH:MM:SS.mmm ".len(),
            Some(TimestampMode::Relative) => "    0.000s ".len(),
        };
        " ".repeat(width + 2)
    }

    fn status(&mut self, at: SystemTime, text: &str) {
        self.stamp(at);
        let _ = writeln!(self.buf, "{} {}", "*".yellow().bold(), text.yellow());
    }

    /// -vv in the REPL: above the prompt like everything else, not on a stderr
    /// that would tear the line being typed.
    fn frame(&mut self, dir: Direction, frame: &FrameInfo, at: SystemTime) {
        self.prefix(at);
        let line = super::trace::trace_line(dir, frame);
        let _ = writeln!(self.buf, "{}", line.dimmed());
    }

    /// `rtt`: the round trip of a pong that answers one of our pings.
    fn incoming(&mut self, kind: Kind, payload: &[u8], at: SystemTime, rtt: Option<Duration>) {
        match kind {
            Kind::Text => self.incoming_text(&String::from_utf8_lossy(payload), at),
            Kind::Binary => self.incoming_binary(payload, at),
            Kind::Ping if self.opts.show_ping_pong => self.status(
                at,
                &format!("ping received{}, answered", payload_note(payload)),
            ),
            Kind::Ping => {}
            Kind::Pong => self.pong(payload, at, rtt),
        }
    }

    fn incoming_text(&mut self, text: &str, at: SystemTime) {
        self.prefix(at);
        let marker = "<".green().bold();
        let pretty = self.state.pretty.load(Ordering::Relaxed);
        let json = if pretty { as_json(text) } else { None };
        let body = match json {
            Some(value) => {
                let mut s = String::new();
                write_json(&mut s, &value, 0, 2);
                s
            }
            None => visible(text),
        };
        let mut lines = body.split('\n');
        let first = lines.next().unwrap_or("");
        let _ = writeln!(self.buf, "{marker} {first}");
        let indent = self.indent();
        for line in lines {
            let _ = writeln!(self.buf, "{indent}{line}");
        }
    }

    fn incoming_binary(&mut self, data: &[u8], at: SystemTime) {
        self.prefix(at);
        let _ = writeln!(
            self.buf,
            "{} {}",
            "<".green().bold(),
            format!("binary, {}", crate::text::count(data.len() as u64, "byte")).magenta()
        );
        let shown = &data[..data.len().min(self.opts.max_display)];
        let indent = self.indent();
        hexdump(&mut self.buf, shown, &indent);
        if data.len() > shown.len() {
            let _ = writeln!(
                self.buf,
                "{indent}{}",
                format!(
                    "… {} not shown (--max-display)",
                    crate::text::count((data.len() - shown.len()) as u64, "more byte")
                )
                .dimmed()
            );
        }
    }

    fn pong(&mut self, payload: &[u8], at: SystemTime, rtt: Option<Duration>) {
        // Keepalives are not the user's pings: their pongs stay quiet.
        let keepalive = payload == crate::session::KEEPALIVE_PAYLOAD;
        match rtt.filter(|_| !keepalive || self.opts.show_ping_pong) {
            Some(rtt) => {
                self.status(
                    at,
                    &format!(
                        "pong{} (round trip {})",
                        payload_note(payload),
                        fmt_rtt(rtt)
                    ),
                );
            }
            None if self.opts.show_ping_pong => {
                self.status(at, &format!("pong received{}", payload_note(payload)));
            }
            None => {}
        }
    }

    /// A new connection: the first is announced by the REPL's banner; after a
    /// reconnect, say that it is back. Either way the close state starts afresh.
    fn open(&mut self, info: &HandshakeInfo, at: SystemTime) {
        self.opens += 1;
        self.closing = false;
        self.closed_by_server = false;
        if self.opens > 1 {
            self.status(at, &reconnected(info, self.attempt));
        }
    }

    /// Sent messages get no line of their own (the prompt shows what was typed),
    /// except with `--timestamps`, where a stamped `> ` line says when each left;
    /// pings and pongs get one with `--show-ping-pong`.
    fn outgoing(&mut self, kind: Kind, payload: &[u8], at: SystemTime) {
        match kind {
            Kind::Text | Kind::Binary if self.opts.timestamps.is_some() => {
                self.outgoing_data(kind, payload, at)
            }
            Kind::Text | Kind::Binary => {}
            Kind::Ping => self.ping_sent(payload, at),
            Kind::Pong if self.opts.show_ping_pong => {
                self.status(at, &format!("pong sent{}", payload_note(payload)));
            }
            Kind::Pong => {}
        }
    }

    /// `12:00:00.123 > hello`: text as sent (up to --max-display bytes), binary
    /// as its size (the user typed or chose it).
    fn outgoing_data(&mut self, kind: Kind, payload: &[u8], at: SystemTime) {
        self.prefix(at);
        let marker = ">".cyan().bold();
        let count = |n: usize, what: &str| crate::text::count(n as u64, what);
        if kind == Kind::Binary {
            let _ = writeln!(
                self.buf,
                "{marker} {}",
                format!("binary, {}", count(payload.len(), "byte")).magenta()
            );
            return;
        }
        let shown = String::from_utf8_lossy(&payload[..payload.len().min(self.opts.max_display)]);
        // A cut may split a character: lossy decoding shows its start as U+FFFD.
        let mut lines = visible(&shown)
            .split('\n')
            .map(str::to_string)
            .collect::<Vec<_>>()
            .into_iter();
        let first = lines.next().unwrap_or_default();
        let _ = writeln!(self.buf, "{marker} {first}");
        let indent = self.indent();
        for line in lines {
            let _ = writeln!(self.buf, "{indent}{line}");
        }
        if payload.len() > self.opts.max_display {
            let more = count(payload.len() - self.opts.max_display, "more byte");
            let _ = writeln!(
                self.buf,
                "{indent}{}",
                format!("… {more} not shown (--max-display)").dimmed()
            );
        }
    }

    fn ping_sent(&mut self, payload: &[u8], at: SystemTime) {
        if self.opts.show_ping_pong {
            self.status(at, &format!("ping sent{}", payload_note(payload)));
        }
    }

    /// Multi-client `--listen`: a client's arrival and departure as status
    /// lines, its messages marked with its id. Its Close frames are summed up
    /// by the departure line.
    fn client_event(&mut self, id: u32, event: &Event<'_>, rtt: Option<Duration>) {
        let now = SystemTime::now();
        self.client = Some(id);
        match event {
            Event::Open(info) => self.status(now, &client_connected(id, info)),
            Event::Disconnected { reason, at } => {
                self.status(*at, &format!("client {id} disconnected: {reason}"))
            }
            Event::Message { .. } | Event::Frame { .. } => self.traffic(event, rtt),
            _ => {}
        }
        self.client = None;
    }

    /// A message or a frame header, either way.
    fn traffic(&mut self, event: &Event<'_>, rtt: Option<Duration>) {
        match event {
            Event::Message {
                dir: Direction::In,
                kind,
                payload,
                at,
                ..
            } => self.incoming(*kind, payload, *at, rtt),
            Event::Message {
                dir: Direction::Out,
                kind,
                payload,
                at,
                ..
            } => self.outgoing(*kind, payload, *at),
            Event::Frame { dir, frame, at } => self.frame(*dir, frame, *at),
            _ => {}
        }
    }

    fn close(&mut self, dir: Direction, code: Option<u16>, reason: &str, at: SystemTime) {
        let what = match code {
            Some(code) if reason.is_empty() => format!("{code} {}", close_name(code)),
            Some(code) => format!("{code} {reason}"),
            None => "no close code".to_string(),
        };
        let peer = self.state.peer_noun();
        let line = match dir {
            Direction::In if self.closing => format!("closed (the {peer} answered {what})"),
            Direction::In => {
                self.closed_by_server = true;
                format!("closed by {peer}: {what}")
            }
            // Our automatic answer to the server's Close says nothing new.
            Direction::Out if self.closed_by_server => return,
            Direction::Out => {
                self.closing = true;
                format!("closing: {what}")
            }
        };
        self.status(at, &line);
    }
}

/// The path a listener's client asked for (without the query).
pub fn request_path(info: &HandshakeInfo) -> String {
    url::Url::parse(&info.url)
        .map(|u| u.path().to_string())
        .unwrap_or_else(|_| "/".into())
}

/// `client 3 connected from 127.0.0.1:54012 (path /chat, subprotocol x)`
pub fn client_connected(id: u32, info: &HandshakeInfo) -> String {
    let path = request_path(info);
    let subprotocol = info
        .subprotocol
        .as_deref()
        .map(|p| format!(", subprotocol {p}"))
        .unwrap_or_default();
    format!(
        "client {id} connected from {} (path {path}{subprotocol})",
        info.peer.as_deref().unwrap_or("?")
    )
}

/// `connected again to ws://…/ (attempt 2)`; with `--listen`, `client … connected`.
pub fn reconnected(info: &HandshakeInfo, attempt: u32) -> String {
    if info.listening {
        format!(
            "client {} connected to {}",
            info.peer.as_deref().unwrap_or("?"),
            info.url
        )
    } else {
        format!("connected again to {} (attempt {attempt})", info.url)
    }
}

fn payload_note(payload: &[u8]) -> String {
    if payload.is_empty() {
        String::new()
    } else {
        format!(" '{}'", visible(&String::from_utf8_lossy(payload)))
    }
}

pub fn fmt_rtt(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

impl<W: Write> Sink for Human<W> {
    fn event(&mut self, event: &Event<'_>) -> io::Result<()> {
        // `/info` and `/stats` see every event, shown or not (keepalives too);
        // they also time the pongs that answer our pings.
        let rtt = self.state.record(event);
        match event {
            // A rejection is shown by the error that follows it; --stats goes to
            // stderr once the REPL is gone.
            Event::Open(info) => self.open(info, SystemTime::now()),
            // A redirect is shown on stderr with -v, as the handshake is.
            Event::Rejected(_) | Event::Redirect(_) | Event::Error { .. } | Event::Stats { .. } => {
            }
            Event::Client { id, event } => self.client_event(*id, event, rtt),
            // Only inside `Client` (above).
            Event::Disconnected { .. } => {}
            Event::Note { text, at } => {
                for line in text.lines() {
                    self.status(*at, line);
                }
            }
            Event::Frame { .. } => self.traffic(event, rtt),
            Event::Reconnect {
                attempt,
                delay,
                reason,
                at,
            } => {
                self.attempt = *attempt;
                self.status(
                    *at,
                    &format!(
                        "{reason}; reconnecting in {} (attempt {attempt})",
                        humantime::format_duration(*delay)
                    ),
                )
            }
            Event::Message { .. } => self.traffic(event, rtt),
            Event::Close {
                dir,
                code,
                reason,
                at,
            } => self.close(*dir, *code, reason, *at),
        }
        Ok(())
    }

    fn wants_outgoing(&self) -> bool {
        true
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.out.write_all(self.buf.as_bytes())?;
            self.buf.clear();
        }
        self.out.flush()
    }
}

/// The registered meaning of a close code, for codes sent without a reason.
pub fn close_name(code: u16) -> &'static str {
    match code {
        1000 => "normal closure",
        1001 => "going away",
        1002 => "protocol error",
        1003 => "unsupported data",
        1005 => "no status",
        1006 => "abnormal closure",
        1007 => "invalid payload data",
        1008 => "policy violation",
        1009 => "message too big",
        1010 => "mandatory extension",
        1011 => "internal error",
        1012 => "service restart",
        1013 => "try again later",
        1014 => "bad gateway",
        1015 => "TLS handshake",
        _ => "",
    }
}

fn as_json(text: &str) -> Option<Value> {
    let trimmed = text.trim_start();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return None;
    }
    serde_json::from_str(text).ok()
}

/// Control characters would move the cursor or change colors: show them as escapes.
/// Newlines and tabs are kept (they are layout, not control).
pub fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' => out.push_str(&"\\r".dimmed().to_string()),
            c if c.is_control() => {
                let _ = write!(out, "{}", format!("\\u{{{:x}}}", c as u32).dimmed());
            }
            c => out.push(c),
        }
    }
    out
}

/// Pretty JSON keeps a value on one line when it fits in this many columns, as
/// formatters (prettier, jq's compact arrays aside) do: `{"type": "ping"}` stays
/// one line, a long object is spread over several.
const PRINT_WIDTH: usize = 80;

/// `value` pretty-printed at nesting level `indent`; `used` columns of its first
/// line are already taken (the `< ` marker, the key).
fn write_json(out: &mut String, value: &Value, indent: usize, used: usize) {
    let pad = "  ".repeat(indent + 1);
    let close_pad = "  ".repeat(indent);
    let container = matches!(value, Value::Array(a) if !a.is_empty())
        || matches!(value, Value::Object(m) if !m.is_empty());
    if !container || used + flat_width(value) <= PRINT_WIDTH {
        write_flat(out, value);
        return;
    }
    match value {
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad);
                write_json(out, item, indent + 1, pad.len() + 1);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            let _ = write!(out, "{close_pad}]");
        }
        Value::Object(map) => {
            out.push_str("{\n");
            for (i, (key, item)) in map.iter().enumerate() {
                let quoted = serde_json::to_string(key).unwrap_or_default();
                let _ = write!(out, "{pad}{}: ", visible(&quoted).blue().bold());
                write_json(out, item, indent + 1, pad.len() + quoted.len() + 3);
                out.push_str(if i + 1 < map.len() { ",\n" } else { "\n" });
            }
            let _ = write!(out, "{close_pad}}}");
        }
        _ => write_flat(out, value),
    }
}

/// The columns `value` takes on one line (`{"a": 1, "b": [2, 3]}`).
fn flat_width(value: &Value) -> usize {
    match value {
        Value::Array(items) => {
            2 + items.iter().map(flat_width).sum::<usize>() + 2 * items.len().saturating_sub(1)
        }
        Value::Object(map) => {
            2 + map
                .iter()
                .map(|(k, v)| {
                    serde_json::to_string(k).map_or(0, |q| q.chars().count()) + 2 + flat_width(v)
                })
                .sum::<usize>()
                + 2 * map.len().saturating_sub(1)
        }
        other => serde_json::to_string(other).map_or(0, |s| s.chars().count()),
    }
}

/// `value` on one line, colored.
fn write_flat(out: &mut String, value: &Value) {
    match value {
        Value::Null => {
            let _ = write!(out, "{}", "null".magenta());
        }
        Value::Bool(b) => {
            let _ = write!(out, "{}", b.to_string().magenta());
        }
        Value::Number(n) => {
            let _ = write!(out, "{}", n.to_string().yellow());
        }
        Value::String(s) => {
            let quoted = serde_json::to_string(s).unwrap_or_default();
            let _ = write!(out, "{}", visible(&quoted).green());
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_flat(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let quoted = serde_json::to_string(key).unwrap_or_default();
                let _ = write!(out, "{}: ", visible(&quoted).blue().bold());
                write_flat(out, item);
            }
            out.push('}');
        }
    }
}

/// `00000000  48 65 6c 6c 6f 00 ff 10  11 12 …  |Hello...|`
fn hexdump(out: &mut String, data: &[u8], indent: &str) {
    for (row, chunk) in data.chunks(16).enumerate() {
        let _ = write!(out, "{indent}{}  ", format!("{:08x}", row * 16).dimmed());
        for i in 0..16 {
            match chunk.get(i) {
                Some(b) => {
                    let _ = write!(out, "{b:02x} ");
                }
                None => out.push_str("   "),
            }
            if i == 7 {
                out.push(' ');
            }
        }
        let ascii: String = chunk
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        let _ = writeln!(out, " |{ascii}|");
    }
}

/// `HH:MM:SS.mmm` in the local time zone.
pub fn local_time(at: SystemTime) -> String {
    // chrono reads the local zone as the C library does (TZ, then /etc/localtime).
    chrono::DateTime::<chrono::Local>::from(at)
        .format("%H:%M:%S%.3f")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::Bytes;

    fn render(opts: HumanOptions, events: &[Event<'_>]) -> String {
        colored::control::set_override(false);
        let mut buf = Vec::new();
        {
            let mut sink = Human::new(&mut buf, opts, ReplState::new(true));
            for e in events {
                sink.event(e).unwrap();
            }
            sink.flush().unwrap();
        }
        String::from_utf8(buf).unwrap()
    }

    fn opts() -> HumanOptions {
        HumanOptions {
            show_ping_pong: false,
            max_display: 32,
            timestamps: None,
        }
    }

    fn incoming(kind: Kind, payload: &Bytes) -> Event<'_> {
        Event::Message {
            dir: Direction::In,
            kind,
            payload,
            at: SystemTime::now(),
            wire: None,
        }
    }

    #[test]
    fn text_json_and_control_characters() {
        let plain = Bytes::from_static(b"hi\x1b[2J");
        let json = Bytes::from_static(br#"{"a":[1,true],"b":"x"}"#);
        let out = render(
            opts(),
            &[incoming(Kind::Text, &plain), incoming(Kind::Text, &json)],
        );
        assert_eq!(out, "< hi\\u{1b}[2J\n< {\"a\": [1, true], \"b\": \"x\"}\n");
    }

    #[test]
    fn long_json_is_spread_and_short_parts_stay_on_one_line() {
        let long = format!(
            r#"{{"type":"update","items":[1,2,3],"text":"{}"}}"#,
            "x".repeat(70)
        );
        let out = render(opts(), &[incoming(Kind::Text, &Bytes::from(long))]);
        let expected = format!(
            "< {{\n    \"type\": \"update\",\n    \"items\": [1, 2, 3],\n    \"text\": \"{}\"\n  }}\n",
            "x".repeat(70)
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn binary_hexdump_is_truncated() {
        let data = Bytes::from((0u8..40).collect::<Vec<_>>());
        let out = render(opts(), &[incoming(Kind::Binary, &data)]);
        assert!(out.starts_with("< binary, 40 bytes\n"), "{out}");
        assert!(out.contains("  00000000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f  |................|\n"), "{out}");
        assert!(out.contains("  00000010  10 11"), "{out}");
        assert!(!out.contains("00000020"), "{out}");
        assert!(
            out.contains("… 8 more bytes not shown (--max-display)"),
            "{out}"
        );
    }

    #[test]
    fn pong_answering_a_ping_shows_the_round_trip() {
        let payload = Bytes::from_static(b"p1");
        let out = render(
            opts(),
            &[
                Event::Message {
                    dir: Direction::Out,
                    kind: Kind::Ping,
                    payload: &payload,
                    at: SystemTime::now(),
                    wire: None,
                },
                incoming(Kind::Pong, &payload),
            ],
        );
        assert!(out.starts_with("* pong 'p1' (round trip "), "{out}");
    }

    #[test]
    fn close_lines() {
        let out = render(
            opts(),
            &[Event::Close {
                dir: Direction::In,
                code: Some(1001),
                reason: "",
                at: SystemTime::now(),
            }],
        );
        assert_eq!(out, "* closed by server: 1001 going away\n");
    }
}
