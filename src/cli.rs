//! The command line: every flag wsprobe has, its help text and its parsing. The only
//! file that knows flag names; the rest of the program gets plain values from here.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

use crate::connect::deflate::Params;
use crate::policy::Wait;
use wsprobe::slash::is_sendable_close_code;

const EXAMPLES: &str = "\
Examples:
  Interactive session (stdin is a terminal):
    wsprobe wss://echo.example.com/chat

  Pipe mode: stdin lines become messages, messages become stdout lines:
    echo hello | wsprobe ws://127.0.0.1:9001
    producer | wsprobe ws://host/feed -H 'Authorization: Bearer TOKEN' | consumer

  CI: send, wait for a matching reply, fail with exit code 6 if it does not come:
    wsprobe ws://host/api -x '{\"op\":\"ping\"}' --expect pong --timeout 5s

Stop rule: wsprobe sends all input (-x messages, then stdin until EOF), then waits for
one reply per message sent (or --count/--expect, or --wait), then closes with 1000.

Exit codes: 0 ok, 1 runtime/protocol error, 2 usage, 3 cannot connect, 4 TLS,
5 handshake rejected, 6 timed out / goal not met, 7 server closed with an error code
or without a Close frame, 8 a message matched --fail-on, 130 interrupted (143 on
SIGTERM).";

/// wsprobe: a WebSocket client and debugger for terminals, pipelines and CI.
#[derive(Debug, Parser)]
#[command(
    name = "wsprobe",
    version,
    about = "A WebSocket client and debugger for terminals, pipelines and CI",
    long_about = "A WebSocket client and debugger for terminals, pipelines and CI.\n\n\
        In a terminal it opens an interactive session; with stdin redirected, each line of \
        stdin is sent as one message and each message received is written as one line.",
    after_help = EXAMPLES,
    max_term_width = 100,
    disable_version_flag = true
)]
pub struct Cli {
    /// Server URL: ws://, wss://, http(s):// (mapped to ws(s)://), host:port/path or :port/path
    #[arg(value_name = "URL", required_unless_present_any = ["version", "listen"], conflicts_with = "listen")]
    pub url: Option<String>,

    /// Instead of connecting, serve clients on [ADDRESS:]PORT (a bare port means 127.0.0.1; 0 picks a free port, printed as `wsprobe: listening on ws://…`) or on the Unix socket unix:PATH: many at once, each with an id, stdin lines broadcast to all of them (see "Listening"); with --once (or --cert, --script, --reconnect), one client at a time, talked to like a server
    #[arg(
        short = 'l',
        long,
        value_name = "[ADDRESS:]PORT|unix:PATH",
        help_heading = "Connection"
    )]
    pub listen: Option<String>,

    // ---- Listening --------------------------------------------------------------
    /// With --listen: serve one client, then end with its outcome (the stop rule and exit codes of a client run: --expect, --count, a client's Close code)
    #[arg(long, requires = "listen", help_heading = "Listening")]
    pub once: bool,

    /// With --listen: serve at most N clients at once; more are accepted, then closed with 1013 "try again later" [default: no limit]
    #[arg(long, value_name = "N", requires = "listen", conflicts_with = "once", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Listening")]
    pub max_clients: Option<u32>,

    /// With --listen: accept only request paths that REGEX matches (e.g. '^/chat$'); others get 404
    #[arg(long, value_name = "REGEX", requires = "listen", value_parser = parse_regex, help_heading = "Listening")]
    pub path: Option<regex::Regex>,

    /// With --listen: add a header to the 101 response (repeatable)
    #[arg(long, value_name = "'NAME: VALUE'", requires = "listen", value_parser = parse_header, help_heading = "Listening")]
    pub server_header: Vec<(String, String)>,

    /// With --listen, in pipe mode: start each line with the id of the client that sent it and a tab (`3<TAB>hello`); --jsonl has a `client` field instead
    #[arg(long, requires = "listen", conflicts_with_all = ["once", "jsonl"], help_heading = "Listening")]
    pub tag: bool,

    /// Print the version (with -v: also the TLS library)
    #[arg(short = 'V', long)]
    pub version: bool,

    // ---- Connection -------------------------------------------------------------
    /// Add a request header to the upgrade request (repeatable)
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'", value_parser = parse_header, help_heading = "Connection")]
    pub headers: Vec<(String, String)>,

    /// Offer a subprotocol in Sec-WebSocket-Protocol (repeatable, in order of preference; one name per flag)
    #[arg(
        short = 's',
        long = "subprotocol",
        value_name = "NAME",
        value_parser = parse_subprotocol,
        help_heading = "Connection"
    )]
    pub subprotocols: Vec<String>,

    /// Send this Origin header [default: none]
    #[arg(long, value_name = "ORIGIN", help_heading = "Connection")]
    pub origin: Option<String>,

    /// HTTP Basic credentials (also taken from the URL: ws://user:pass@host/)
    #[arg(long, value_name = "USER:PASS", help_heading = "Connection")]
    pub auth: Option<String>,

    /// User-Agent header value
    #[arg(long, value_name = "TEXT", default_value = concat!("wsprobe/", env!("CARGO_PKG_VERSION")), help_heading = "Connection")]
    pub user_agent: String,

    /// Give up connecting after this long: DNS, TCP, proxy, TLS and the upgrade together, per attempt (exit 3)
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration, help_heading = "Connection")]
    pub connect_timeout: Duration,

    /// Connect through a proxy: http://[user:pass@]host:port (CONNECT), https:// (CONNECT inside TLS to the proxy), socks5:// or socks5h:// [default: from ws_proxy/wss_proxy, http_proxy/https_proxy, all_proxy]
    #[arg(long, value_name = "URL", help_heading = "Connection")]
    pub proxy: Option<String>,

    /// Ignore the proxy environment variables
    #[arg(long, conflicts_with = "proxy", help_heading = "Connection")]
    pub no_proxy: bool,

    /// Use these addresses for HOST:PORT instead of DNS (curl's flag; repeatable). The Host header, TLS SNI and certificate check keep the URL's name. Example: --resolve api.example.com:443:10.0.0.7
    #[arg(long, value_name = "HOST:PORT:ADDR[,ADDR...]", value_parser = crate::connect::route::parse_resolve, help_heading = "Connection")]
    pub resolve: Vec<crate::connect::route::Resolve>,

    /// Connect to HOST2:PORT2 when the URL says HOST:PORT (curl's flag; repeatable; empty fields match any / keep the URL's). Host header, SNI and certificate check keep the URL's name. Example: --connect-to api.example.com:443:staging.internal:8443
    #[arg(long, value_name = "HOST:PORT:HOST2:PORT2", value_parser = crate::connect::route::parse_connect_to, help_heading = "Connection")]
    pub connect_to: Vec<crate::connect::route::ConnectTo>,

    /// Follow redirects (301, 302, 303, 307, 308) answered to the upgrade, as curl's -L/--location (websocat has none); Authorization and Cookie go only to the original scheme, host and port
    #[arg(short = 'L', long, help_heading = "Connection")]
    pub location: bool,

    /// With -L: follow at most N redirects (curl's flag; harmless without -L)
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10,
        help_heading = "Connection"
    )]
    pub max_redirs: u32,
    /// Connect to this Unix socket instead of the URL's host and port (curl's flag; websocat's ws-u:unix:); the URL still gives the Host header, path and TLS (wss:// checks the URL's host). A ws+unix:///run/app.sock:/path URL does the same
    #[arg(long, value_name = "PATH", conflicts_with_all = ["proxy", "resolve", "connect_to"], help_heading = "Connection")]
    pub unix_socket: Option<PathBuf>,

    /// Connect over IPv4 only (of the addresses the name resolves to)
    #[arg(
        short = '4',
        long,
        conflicts_with = "ipv6",
        help_heading = "Connection"
    )]
    pub ipv4: bool,

    /// Connect over IPv6 only (of the addresses the name resolves to)
    #[arg(short = '6', long, help_heading = "Connection")]
    pub ipv6: bool,

    /// When the server closes or the connection drops, connect again (backoff 0.5s to 30s, at most N tries in a row, N at least 1; --reconnect alone: no limit) and re-send the -x messages; also retries the first connection
    #[arg(long, value_name = "N", num_args = 0..=1, require_equals = true, default_missing_value = RECONNECT_UNLIMITED, value_parser = parse_reconnect, help_heading = "Connection")]
    pub reconnect: Option<u32>,

    /// Send a keepalive ping this often (payload 'wsprobe-keepalive') [default: never]
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration, help_heading = "Connection")]
    pub ping_interval: Option<Duration>,

    /// Exit 1 when a keepalive ping gets no pong within this long (needs --ping-interval) [default: no limit]
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration, requires = "ping_interval", help_heading = "Connection")]
    pub ping_timeout: Option<Duration>,

    /// Largest message (and frame) accepted from the server, in bytes
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 64 << 20,
        value_parser = parse_max_message_size,
        help_heading = "Connection"
    )]
    pub max_message_size: usize,

    /// Offer permessage-deflate compression (RFC 7692); alone it offers what browsers do
    /// ('client_max_window_bits'), =PARAMS offers those parameters, e.g.
    /// --deflate='server_no_context_takeover; client_max_window_bits=10'. With --listen:
    /// accept a client's offer (PARAMS: what to ask of it)
    #[arg(long, value_name = "PARAMS", num_args = 0..=1, require_equals = true, default_missing_value = DEFLATE_DEFAULT, value_parser = parse_deflate, help_heading = "Connection")]
    pub deflate: Option<Params>,

    // ---- TLS --------------------------------------------------------------------
    /// Do not verify the server's certificate or hostname
    #[arg(short = 'k', long, help_heading = "TLS")]
    pub insecure: bool,

    /// Trust the CA certificates in this PEM file (in addition to the system's)
    #[arg(long, value_name = "FILE", help_heading = "TLS")]
    pub cacert: Option<PathBuf>,

    /// Client certificate (PEM, may include the chain); needs --key. With --listen: the server certificate (serves wss://)
    #[arg(long, value_name = "FILE", requires = "key", help_heading = "TLS")]
    pub cert: Option<PathBuf>,

    /// Private key for --cert (PEM: PKCS#8, RSA or EC)
    #[arg(long, value_name = "FILE", requires = "cert", help_heading = "TLS")]
    pub key: Option<PathBuf>,

    /// With an https:// proxy: trust the CA certificates in this PEM file for the proxy's certificate (in addition to the system's; curl's flag)
    #[arg(long, value_name = "FILE", help_heading = "TLS")]
    pub proxy_cacert: Option<PathBuf>,

    /// With an https:// proxy: do not verify the proxy's certificate or hostname (curl's flag)
    #[arg(long, help_heading = "TLS")]
    pub proxy_insecure: bool,

    // ---- Sending ----------------------------------------------------------------
    /// Send MSG right after connecting, before stdin (repeatable, in order; @FILE sends a file, @- all of stdin, @@… a literal @…)
    #[arg(
        short = 'x',
        long = "execute",
        value_name = "MSG",
        help_heading = "Sending"
    )]
    pub execute: Vec<String>,

    /// Send messages as binary instead of text
    #[arg(long, help_heading = "Sending")]
    pub binary: bool,

    /// Split stdin on NUL bytes instead of newlines, and end each output message with NUL
    #[arg(short = '0', long = "null", help_heading = "Sending")]
    pub null: bool,

    // ---- Ending the run ---------------------------------------------------------
    /// End once N messages have been received (after the input is sent) [default: one per message sent]
    #[arg(short = 'n', long, value_name = "N", help_heading = "Ending the run")]
    pub count: Option<u64>,

    /// End once a received message matches REGEX; repeatable, matched in order [default: none]
    #[arg(long, value_name = "REGEX", value_parser = parse_regex, help_heading = "Ending the run")]
    pub expect: Vec<regex::Regex>,

    /// After the input ends, keep receiving for this long ('forever': until the server closes) [default: until one reply per message]
    #[arg(short = 'w', long, value_name = "DURATION", value_parser = parse_wait, help_heading = "Ending the run")]
    pub wait: Option<Wait>,

    /// Hard deadline for the whole run, every phase included (connecting, reconnecting, a stalled stdout, the close); reaching it exits 6 (use --wait to stop successfully after a while) [default: none]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Ending the run")]
    pub timeout: Option<Duration>,

    /// Close code wsprobe sends when it ends the run
    #[arg(long, value_name = "CODE", default_value_t = 1000, value_parser = parse_close_code, help_heading = "Ending the run")]
    pub close_code: u16,

    /// Close reason wsprobe sends when it ends the run (at most 123 bytes)
    #[arg(long, value_name = "TEXT", default_value = "", value_parser = parse_close_reason, help_heading = "Ending the run")]
    pub close_reason: String,

    /// Reply to every message received with the same payload and type, until the server closes
    #[arg(long, help_heading = "Sending")]
    pub echo: bool,

    // ---- Reactions (JSON checks, fail-fast, auto-replies) -----------------------
    /// End once a received JSON message makes FILTER (jq) yield true; repeatable, matched in order together with --expect; non-JSON messages never match. Example: --expect-jq '.type == "ack"'
    #[arg(long, value_name = "FILTER", value_parser = parse_jq, help_heading = "Reactions")]
    pub expect_jq: Vec<crate::jq::Jq>,

    /// Print only FILTER's outputs (compact JSON, one line each) for each JSON message; other messages as usual. Example: --jq '.data.price'
    #[arg(long, value_name = "FILTER", value_parser = parse_jq, help_heading = "Reactions")]
    pub jq: Option<crate::jq::Jq>,

    /// End the run with exit 8 at the first received message matching REGEX; repeatable. Example: --fail-on '"error"'
    #[arg(long, value_name = "REGEX", value_parser = parse_regex, help_heading = "Reactions")]
    pub fail_on: Vec<regex::Regex>,

    /// End the run with exit 8 at the first JSON message for which FILTER yields true; repeatable. Example: --fail-on-jq '.type == "error"'
    #[arg(long, value_name = "FILTER", value_parser = parse_jq, help_heading = "Reactions")]
    pub fail_on_jq: Vec<crate::jq::Jq>,

    /// Answer every received message matching REGEX with REPLY ($1..$9 and ${name} expand capture groups); repeatable, the first matching rule answers. Example: --reply '^2$' 3
    #[arg(long, value_names = ["REGEX", "REPLY"], num_args = 2, action = clap::ArgAction::Append, allow_hyphen_values = true, help_heading = "Reactions")]
    pub reply: Vec<String>,

    /// Run `sh -c CMD` for each received message, with the payload on its stdin and WSPROBE_TYPE=text|binary (and WSPROBE_SEQ, the message's number) in its environment; what it prints is sent back as one message (text when the message was text and the output UTF-8). Runs until the server closes, like --echo. Example: --exec 'jq -c .data'
    #[arg(
        long,
        value_name = "CMD",
        conflicts_with = "echo",
        help_heading = "Reactions"
    )]
    pub exec: Option<String>,

    /// How many --exec commands may run at once; their replies are still sent in the order the messages arrived
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256), requires = "exec", help_heading = "Reactions")]
    pub exec_jobs: u16,

    /// A failing --exec command (non-zero exit, killed, output over --max-message-size) ends the run with exit 1 instead of a warning
    #[arg(long, requires = "exec", help_heading = "Reactions")]
    pub exec_strict: bool,
    /// Run the conversation script FILE ('-': read it from stdin): one step per line, in order, after the -x messages; an unmet step exits 6 naming its line. Example: --script login.ws
    ///
    /// Steps (blank lines and # comments are skipped):
    ///   send TEXT         text after 'send ', with \n \r \t \0 \\
    ///   send-binary HEX   binary, from hex bytes (01 ff or 01ff)
    ///   send-file PATH    a file, relative to the script
    ///   expect REGEX      wait for a message matching REGEX
    ///   expect-jq FILTER  wait for JSON for which FILTER yields true
    ///   wait DURATION     keep receiving for DURATION (500ms, 2s)
    ///   ping [PAYLOAD]    send a ping
    ///   close [CODE [REASON]]  close (default: --close-code)
    ///
    /// expect and expect-jq take a suffix 'within DURATION' and never outlast --timeout. Messages
    /// that arrive while no expect step waits are shown but not matched. When the last step is
    /// done, wsprobe closes as when a goal is met. stdin is not read; with --binary, send and
    /// send-file send binary messages; with --reconnect the script runs once, going on where it
    /// was. An example script:
    ///
    ///   send {"op":"login","token":"t0k"}
    ///   expect-jq .type == "welcome" within 2s
    ///   send {"op":"subscribe","channel":"prices"}
    ///   expect "price" within 5s
    ///   close 1000 done
    #[arg(long, value_name = "FILE", verbatim_doc_comment, conflicts_with_all = ["echo", "exec", "interactive"], help_heading = "Reactions")]
    pub script: Option<PathBuf>,

    /// The order in which --expect and --expect-jq were given (true: --expect-jq), filled in from the matches
    #[arg(skip)]
    pub expect_order: Vec<bool>,

    /// The --reply pairs, their regexes compiled (filled in by `parse_replies`)
    #[arg(skip)]
    pub replies: Vec<(regex::Regex, String)>,

    // ---- Output -----------------------------------------------------------------
    /// Prefix each output line with the time: local (HH:MM:SS.mmm) or relative (seconds since connect);
    /// in the REPL, sent messages get a stamped `>` line too. E.g. --timestamps=relative
    #[arg(long, value_name = "MODE", num_args = 0..=1, require_equals = true, default_missing_value = "local", help_heading = "Output")]
    pub timestamps: Option<TimestampArg>,

    /// Only message payloads on stdout; nothing on stderr but errors (no connecting line, hint or progress bar on a terminal)
    #[arg(short = 'q', long, conflicts_with = "verbose", help_heading = "Output")]
    pub quiet: bool,

    /// Write every event (open, messages both ways, pings, close, error) as one JSON object per line
    #[arg(long, help_heading = "Output")]
    pub jsonl: bool,

    /// At the end of the run (also after a failure, a timeout or Ctrl-C, once connected), print statistics on stderr, even with -q: connection times (DNS, TCP, TLS, upgrade), time to the first message, data messages and bytes each way, and, when pings were sent (--ping-interval, /ping), round trips (min, median, p90, p99, max); with --jsonl or --record also a last `stats` event. Example: wsprobe URL -x hi --ping-interval 100ms --wait 2s --stats
    #[arg(long, help_heading = "Output")]
    pub stats: bool,

    /// Show the handshake on stderr: headers, certificate, timings (-vv: also every frame)
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, help_heading = "Output")]
    pub verbose: u8,

    /// Also write the whole session to FILE as JSON lines (the --jsonl schema)
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub record: Option<PathBuf>,

    /// Show credentials instead of <redacted>: URL passwords, query parameters such as
    /// token/api_key/signature, headers such as Authorization, Cookie, X-Api-Key, and
    /// bearer tokens offered as subprotocols
    #[arg(long, help_heading = "Output")]
    pub show_secrets: bool,

    /// Also redact the query parameter or header NAME (repeatable; case-insensitive),
    /// e.g. --redact X-Tenant --redact room
    #[arg(long, value_name = "NAME", help_heading = "Output")]
    pub redact: Vec<String>,

    /// Let --record overwrite an existing file (without it, an existing file is an error)
    #[arg(long, help_heading = "Output")]
    pub force: bool,

    // ---- REPL -------------------------------------------------------------------
    /// Open the interactive REPL even with -x (the -x messages are sent first)
    #[arg(short = 'i', long, help_heading = "REPL")]
    pub interactive: bool,

    /// Show pings and pongs in both directions (they are always answered)
    #[arg(short = 'P', long, help_heading = "REPL")]
    pub show_ping_pong: bool,

    /// Show JSON messages as received instead of pretty-printed
    #[arg(long, help_heading = "REPL")]
    pub no_pretty: bool,

    /// Show at most this many bytes of a binary message in the hexdump
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 512,
        help_heading = "REPL"
    )]
    pub max_display: usize,

    /// Do not read or write the history file ($XDG_STATE_HOME/wsprobe/history)
    #[arg(long, help_heading = "REPL")]
    pub no_history: bool,

    // ---- Output (continued) -------------------------------------------------------
    /// When to use colors (NO_COLOR is honoured by 'auto')
    #[arg(
        long,
        value_name = "WHEN",
        default_value = "auto",
        help_heading = "Output"
    )]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TimestampArg {
    Local,
    Relative,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// An HTTP token (RFC 7230 `tchar`s): what header names and subprotocol names are made of.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| format!("'{s}' is not a header: expected 'Name: value'"))?;
    let name = name.trim();
    if !is_token(name) {
        return Err(format!("'{name}' is not a valid header name"));
    }
    let value = value.trim();
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!(
            "the value of header '{name}' contains a line break"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

/// `-s`: one subprotocol name, an HTTP token (RFC 6455 section 4.1): not empty, no
/// spaces, commas or other separators.
fn parse_subprotocol(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Err("the subprotocol name is empty".to_string())
    } else if is_token(s) {
        Ok(s.to_string())
    } else {
        Err(
            "not a subprotocol name: use letters, digits and !#$%&'*+-.^_`|~, without \
             spaces or commas (repeat -s to offer several)"
                .to_string(),
        )
    }
}

/// What a bare `--deflate` offers: what browsers offer.
const DEFLATE_DEFAULT: &str = "client_max_window_bits";

/// `--deflate=PARAMS`: permessage-deflate's parameters in the RFC's syntax.
fn parse_deflate(s: &str) -> Result<Params, String> {
    // The extension's name may be given too.
    let s = s.trim();
    let params = s
        .strip_prefix(crate::connect::deflate::params::NAME)
        .map_or(s, |rest| rest.trim_start_matches([' ', ';']));
    Params::parse(params, true).map_err(|e| format!("--deflate: {e}"))
}

/// What a bare `--reconnect` stands for; [`parse_reconnect`] turns it into
/// `Some(0)`, which the rest of the program reads as "no limit".
const RECONNECT_UNLIMITED: &str = "unlimited";

/// `--reconnect=N`: N attempts in a row, at least 1. A bare `--reconnect` (no limit)
/// arrives here as [`RECONNECT_UNLIMITED`] and becomes 0.
fn parse_reconnect(s: &str) -> Result<u32, String> {
    if s == RECONNECT_UNLIMITED {
        return Ok(0);
    }
    match s.trim().parse::<u32>() {
        Ok(0) => Err(
            "--reconnect=N needs N of at least 1; use --reconnect alone for no limit".to_string(),
        ),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "'{s}' is not a number of attempts (--reconnect=N, N at least 1; --reconnect alone: no limit)"
        )),
    }
}

/// `--max-message-size`: a number of bytes, at least 1.
fn parse_max_message_size(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a number of bytes")),
    }
}

/// `500ms`, `2s`, `1m`, `1h 30m`; a bare number means seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let duration = match s.parse::<f64>() {
        Ok(secs) => Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("'{s}' is not a duration; examples: 500ms, 2s, 1m"))?,
        Err(_) => humantime::parse_duration(s)
            .map_err(|e| format!("'{s}' is not a duration ({e}); examples: 500ms, 2s, 1m"))?,
    };
    // Deadlines are computed as now + duration; keep that far from overflowing.
    if duration > MAX_DURATION {
        return Err(format!(
            "'{s}' is too long (at most 10 years; --wait forever waits without limit)"
        ));
    }
    Ok(duration)
}

const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err("must be longer than zero".to_string()),
        d => Ok(d),
    }
}

fn parse_wait(s: &str) -> Result<Wait, String> {
    match s.trim() {
        "forever" | "inf" | "infinite" | "-1" => Ok(Wait::Forever),
        other => parse_duration(other).map(Wait::For),
    }
}

pub fn parse_jq(s: &str) -> Result<crate::jq::Jq, String> {
    crate::jq::Jq::compile(s)
}

pub fn parse_regex(s: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(s).map_err(|e| {
        format!(
            "invalid regular expression: {}",
            e.to_string().lines().last().unwrap_or("")
        )
    })
}

/// `--close-code`: only codes a client may send (see `is_sendable_close_code`).
pub fn parse_close_code(s: &str) -> Result<u16, String> {
    let code: u16 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a close code (a number from 1000 to 4999)"))?;
    if is_sendable_close_code(code) {
        Ok(code)
    } else {
        Err(format!(
            "{code} cannot be sent as a close code (use 1000-1003, 1007-1014 or 3000-4999)"
        ))
    }
}

pub fn parse_close_reason(s: &str) -> Result<String, String> {
    if s.len() > 123 {
        Err(format!(
            "the close reason is {} bytes; at most 123 fit in a Close frame",
            s.len()
        ))
    } else {
        Ok(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn headers() {
        assert_eq!(
            parse_header("X-Token:  abc "),
            Ok(("X-Token".into(), "abc".into()))
        );
        assert_eq!(parse_header("A: b: c"), Ok(("A".into(), "b: c".into())));
        assert!(parse_header("no colon").is_err());
        assert!(parse_header(": empty").is_err());
        assert!(parse_header("Bad Name: x").is_err());
    }

    #[test]
    fn subprotocols() {
        for good in [
            "chat",
            "chat.v2",
            "graphql-ws",
            "v1.json.api",
            "a!#$%&'*+-.^_`|~",
        ] {
            assert_eq!(parse_subprotocol(good), Ok(good.to_string()));
        }
        assert_eq!(
            parse_subprotocol(""),
            Err("the subprotocol name is empty".to_string())
        );
        for bad in [
            " ",
            "a b",
            "a,b",
            "chat, superchat",
            "a\tb",
            "x\r\n",
            "a;b",
            "é",
            "a/b",
        ] {
            assert!(parse_subprotocol(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn deflate_offers() {
        let parse =
            |args: &[&str]| Cli::try_parse_from(args).map(|c| c.deflate.map(|p| p.to_string()));
        assert_eq!(parse(&["wsprobe", "u"]).unwrap(), None);
        assert_eq!(
            parse(&["wsprobe", "u", "--deflate"]).unwrap().as_deref(),
            Some("permessage-deflate; client_max_window_bits")
        );
        assert_eq!(
            parse(&[
                "wsprobe",
                "u",
                "--deflate=server_no_context_takeover; client_max_window_bits=10"
            ])
            .unwrap()
            .as_deref(),
            Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=10")
        );
        assert_eq!(
            parse(&[
                "wsprobe",
                "u",
                "--deflate=permessage-deflate; server_max_window_bits=9"
            ])
            .unwrap()
            .as_deref(),
            Some("permessage-deflate; server_max_window_bits=9")
        );
        assert_eq!(
            parse(&["wsprobe", "u", "--deflate="]).unwrap().as_deref(),
            Some("permessage-deflate")
        );
        assert!(parse_deflate("client_max_window_bits=16")
            .unwrap_err()
            .starts_with("--deflate: "));
        assert!(parse(&["wsprobe", "u", "--deflate=bogus"]).is_err());
    }

    #[test]
    fn reconnect_limits() {
        assert_eq!(parse_reconnect(RECONNECT_UNLIMITED), Ok(0));
        assert_eq!(parse_reconnect("1"), Ok(1));
        assert_eq!(parse_reconnect("3"), Ok(3));
        assert!(parse_reconnect("0")
            .unwrap_err()
            .contains("use --reconnect alone for no limit"));
        assert!(parse_reconnect("-1").is_err());
        assert!(parse_reconnect("many").is_err());
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|c| c.reconnect);
        assert_eq!(parse(&["wsprobe", "u"]).unwrap(), None);
        assert_eq!(parse(&["wsprobe", "u", "--reconnect"]).unwrap(), Some(0));
        assert_eq!(parse(&["wsprobe", "u", "--reconnect=3"]).unwrap(), Some(3));
        assert!(parse(&["wsprobe", "u", "--reconnect=0"]).is_err());
    }

    #[test]
    fn max_message_sizes() {
        assert_eq!(parse_max_message_size("1"), Ok(1));
        assert_eq!(parse_max_message_size("1048576"), Ok(1 << 20));
        assert_eq!(
            parse_max_message_size("0"),
            Err("must be at least 1".to_string())
        );
        assert!(parse_max_message_size("-1").is_err());
        assert!(parse_max_message_size("1k").is_err());
        let cli = Cli::try_parse_from(["wsprobe", "u"]).unwrap();
        assert_eq!(cli.max_message_size, 64 << 20);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("1e30").is_err());
        assert!(parse_duration("100000000y").is_err());
        assert!(parse_duration("NaN").is_err());
        assert_eq!(parse_wait("forever"), Ok(Wait::Forever));
        assert_eq!(parse_wait("3s"), Ok(Wait::For(Duration::from_secs(3))));
    }

    #[test]
    fn close_codes() {
        assert_eq!(parse_close_code("1000"), Ok(1000));
        assert_eq!(parse_close_code("4999"), Ok(4999));
        for bad in ["999", "1004", "1005", "1006", "1015", "2000", "5000", "x"] {
            assert!(parse_close_code(bad).is_err(), "{bad}");
        }
        assert!(parse_close_reason(&"x".repeat(124)).is_err());
    }
}

/// `completions/` and the man page `doc/wsprobe.1` are generated from the
/// definitions above; these tests keep them in sync. Run
/// `WSPROBE_UPDATE_COMPLETIONS=1 cargo test completions` after changing a flag.
#[cfg(test)]
mod completions {
    use super::Cli;
    use clap::CommandFactory;
    use clap_complete::{generate, Shell};
    use std::path::Path;

    #[test]
    fn completions_are_up_to_date() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
        let update = std::env::var_os("WSPROBE_UPDATE_COMPLETIONS").is_some();
        let shells = [
            (Shell::Bash, "wsprobe.bash"),
            (Shell::Zsh, "_wsprobe"),
            (Shell::Fish, "wsprobe.fish"),
            (Shell::Elvish, "wsprobe.elv"),
            (Shell::PowerShell, "_wsprobe.ps1"),
        ];
        let mut stale = Vec::new();
        for (shell, file) in shells {
            let mut generated = Vec::new();
            generate(shell, &mut Cli::command(), "wsprobe", &mut generated);
            let path = dir.join(file);
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &generated).unwrap();
            } else if std::fs::read(&path).ok().as_deref() != Some(&generated[..]) {
                stale.push(file);
            }
        }
        assert!(
            stale.is_empty(),
            "completions/ is out of date for {stale:?}: run `WSPROBE_UPDATE_COMPLETIONS=1 cargo test completions`"
        );
    }

    #[test]
    fn completions_man_page_is_up_to_date() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("doc/wsprobe.1");
        // The flags' sections from clap_mangen, the rest from src/manual.rs.
        let generated = crate::manual::render(Cli::command());
        if std::env::var_os("WSPROBE_UPDATE_COMPLETIONS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &generated).unwrap();
        } else {
            assert!(
                std::fs::read(&path).ok().as_deref() == Some(&generated[..]),
                "doc/wsprobe.1 is out of date: run `WSPROBE_UPDATE_COMPLETIONS=1 cargo test completions`"
            );
        }
    }
}

/// The order of the `--expect` and `--expect-jq` values on the command line (true:
/// `--expect-jq`): they are matched in that order together.
pub fn expect_order(matches: &clap::ArgMatches) -> Vec<bool> {
    let mut order: Vec<(usize, bool)> = Vec::new();
    for (id, is_jq) in [("expect", false), ("expect_jq", true)] {
        if let Some(indices) = matches.indices_of(id) {
            order.extend(indices.map(|i| (i, is_jq)));
        }
    }
    order.sort_unstable();
    order.into_iter().map(|(_, is_jq)| is_jq).collect()
}

/// `--reply REGEX REPLY` pairs, their regexes compiled.
pub fn parse_replies(values: &[String]) -> Result<Vec<(regex::Regex, String)>, String> {
    values
        .chunks(2)
        .map(|pair| match pair {
            [regex, reply] => parse_regex(regex)
                .map(|r| (r, reply.clone()))
                .map_err(|e| format!("--reply '{regex}': {e}")),
            _ => Err("--reply takes two values: REGEX REPLY".to_string()),
        })
        .collect()
}
