//! The run's settings, derived once from the command line (as ripgrep turns its
//! low-level arguments into high-level ones): each part of wsprobe gets its own
//! plain option struct and never sees `Cli`. Only this file and `cli.rs` know the
//! flags' fields; what can fail (URLs, files, proxies) is checked by the app, so
//! that `--jsonl` can report it.

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{Cli, TimestampArg};
use crate::connect::route::Family;
use crate::connect::TlsOptions;
use crate::exec::ExecOptions;
use crate::input::repl;
use crate::input::InputOptions;
use crate::output::human::{HumanOptions, TimestampMode};
use crate::policy::{Goals, Pattern, Wait};
use crate::session::SessionOptions;

/// How this run talks to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// stdin and stdout are a terminal: the interactive REPL.
    Repl,
    /// Lines in, lines out (or `--jsonl`).
    Pipe,
}

/// Where connections come from, as typed (checked when the run starts).
#[derive(Debug, Clone)]
pub enum Endpoint {
    // Boxed: the client's settings are several times the listener's.
    Client(Box<ClientSettings>),
    Listen(ListenSettings),
}

#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub subprotocols: Vec<String>,
    pub origin: Option<String>,
    /// `--auth USER:PASS`, unparsed.
    pub auth: Option<String>,
    pub user_agent: String,
    pub tls: TlsOptions,
    /// `--proxy-cacert`, `--proxy-insecure`: TLS to an https:// proxy.
    pub proxy_tls: TlsOptions,
    /// `--proxy`, unparsed.
    pub proxy: Option<String>,
    /// `--no-proxy`: ignore the proxy environment variables.
    pub no_proxy: bool,
    pub routes: crate::connect::route::Routes,
    /// `-L`: follow at most this many redirects; `None` without `-L`.
    pub max_redirects: Option<u32>,
    /// `--unix-socket PATH`.
    pub unix_socket: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct ListenSettings {
    /// `[ADDRESS:]PORT`, unparsed.
    pub spec: String,
    pub subprotocols: Vec<String>,
    pub headers: Vec<(String, String)>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// `--once`: one client, talked to like a server (also with --cert, --exec,
    /// --script, --reconnect and the REPL, which the multi-client hub does not drive).
    pub once: bool,
    /// `--max-clients`.
    pub max_clients: Option<u32>,
    /// `--path REGEX`.
    pub path: Option<regex::Regex>,
    /// `--tag`: plain lines start with the client's id.
    pub tag: bool,
}

/// What shows the run.
#[derive(Debug, Clone)]
pub struct OutputOptions {
    pub jsonl: bool,
    pub record: Option<PathBuf>,
    /// `--force`: --record may overwrite an existing file.
    pub force: bool,
    pub show_secrets: bool,
    pub timestamps: Option<TimestampMode>,
    /// `-v`: the handshake; `-vv`: also every frame.
    pub verbose: u8,
    pub quiet: bool,
    /// The byte after each message in pipe mode (`\n`, or NUL with `-0`).
    pub separator: u8,
    /// `--stats`: a summary at the end (stderr, and a `stats` event).
    pub stats: bool,
}

/// The REPL's own settings.
#[derive(Debug, Clone)]
pub struct ReplSettings {
    pub history: Option<PathBuf>,
    pub binary: bool,
    pub pretty: bool,
    pub human: HumanOptions,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: Mode,
    pub endpoint: Endpoint,
    pub connect_timeout: Duration,
    pub max_message_size: usize,
    /// `--deflate[=PARAMS]`: offer (or, listening, accept) permessage-deflate.
    pub deflate: Option<crate::connect::deflate::Params>,
    /// `--reconnect[=N]`: None when off; `Some(None)` for no limit.
    pub reconnect: Option<Option<u32>>,
    pub input: InputOptions,
    pub output: OutputOptions,
    pub repl: ReplSettings,
    pub goals: Goals,
    /// Everything but the `-x` messages and the peer's name, known once connected.
    pub session: SessionOptions,
    /// A person watches stderr (a terminal, not `-q`): show what a slow dial
    /// waits for (see `feedback`).
    pub feedback: bool,
}

impl Settings {
    pub fn from_cli(cli: Cli) -> Settings {
        let mode = choose_mode(&cli);
        let timestamps = cli.timestamps.map(|t| match t {
            TimestampArg::Local => TimestampMode::Local,
            TimestampArg::Relative => TimestampMode::Relative,
        });
        let separator = if cli.null { 0 } else { b'\n' };
        let feedback = crate::feedback::wanted(cli.quiet);
        let mut goals = Goals {
            count: cli.count,
            expect: expect_in_order(&cli),
            fail_on: cli
                .fail_on
                .iter()
                .cloned()
                .map(Pattern::Regex)
                .chain(cli.fail_on_jq.iter().cloned().map(Pattern::Jq))
                .collect(),
            wait: cli.wait,
            timeout: cli.timeout,
        };
        if (cli.echo || cli.exec.is_some() || mode == Mode::Repl) && goals.wait.is_none() {
            // Echo mode, --exec and the REPL run until the peer or the user ends them.
            goals.wait = Some(Wait::Forever);
        }
        // With -x, a terminal on stdin is not read (the messages are the input);
        // with -x @- stdin was the message; --echo and --exec have no input of
        // their own; a --script is the whole input (with `--script -`, stdin is
        // the script).
        let read_stdin = !cli.execute.iter().any(|m| m == "@-")
            && !cli.echo
            && cli.exec.is_none()
            && cli.script.is_none()
            && (!io::stdin().is_terminal() || cli.execute.is_empty());
        let endpoint = match &cli.listen {
            Some(spec) => Endpoint::Listen(ListenSettings {
                spec: spec.clone(),
                subprotocols: cli.subprotocols.clone(),
                // -H and --server-header both add to the 101.
                headers: cli
                    .headers
                    .iter()
                    .chain(&cli.server_header)
                    .cloned()
                    .collect(),
                cert: cli.cert.clone(),
                key: cli.key.clone(),
                once: cli.once,
                max_clients: cli.max_clients,
                path: cli.path.clone(),
                tag: cli.tag,
            }),
            None => Endpoint::Client(Box::new(ClientSettings {
                url: cli.url.clone().unwrap_or_default(),
                headers: cli.headers.clone(),
                subprotocols: cli.subprotocols.clone(),
                origin: cli.origin.clone(),
                auth: cli.auth.clone(),
                user_agent: cli.user_agent.clone(),
                tls: TlsOptions {
                    insecure: cli.insecure,
                    cacert: cli.cacert.clone(),
                    cert: cli.cert.clone(),
                    key: cli.key.clone(),
                },
                proxy_tls: TlsOptions {
                    insecure: cli.proxy_insecure,
                    cacert: cli.proxy_cacert.clone(),
                    ..TlsOptions::default()
                },
                proxy: cli.proxy.clone(),
                no_proxy: cli.no_proxy,
                routes: crate::connect::route::Routes {
                    resolve: cli.resolve.clone(),
                    connect_to: cli.connect_to.clone(),
                    family: match (cli.ipv4, cli.ipv6) {
                        (true, _) => Family::V4,
                        (_, true) => Family::V6,
                        _ => Family::Any,
                    },
                },
                max_redirects: cli.location.then_some(cli.max_redirs),
                unix_socket: cli.unix_socket.clone(),
            })),
        };
        Settings {
            mode,
            endpoint,
            connect_timeout: cli.connect_timeout,
            max_message_size: cli.max_message_size,
            deflate: cli.deflate.clone(),
            // The CLI's Some(0) is a bare `--reconnect`: no limit.
            reconnect: cli.reconnect.map(|n| (n > 0).then_some(n)),
            input: InputOptions {
                execute: cli.execute.clone(),
                binary: cli.binary,
                separator,
                read_stdin,
                script: cli.script.clone(),
            },
            output: OutputOptions {
                jsonl: cli.jsonl,
                record: cli.record.clone(),
                force: cli.force,
                show_secrets: cli.show_secrets,
                timestamps,
                verbose: cli.verbose,
                quiet: cli.quiet,
                separator,
                stats: cli.stats,
            },
            repl: ReplSettings {
                history: if cli.no_history {
                    None
                } else {
                    repl::default_history_path()
                },
                binary: cli.binary,
                pretty: !cli.no_pretty,
                human: HumanOptions {
                    show_ping_pong: cli.show_ping_pong,
                    max_display: cli.max_display,
                    timestamps,
                },
            },
            goals,
            session: SessionOptions {
                close_code: cli.close_code,
                close_reason: cli.close_reason,
                echo: cli.echo,
                ping_interval: cli.ping_interval,
                ping_timeout: cli.ping_timeout,
                preamble: Vec::new(),
                peer: "server",
                replies: cli.replies.clone(),
                jq: cli.jq.clone(),
                exec: cli.exec.clone().map(|command| ExecOptions {
                    command,
                    jobs: usize::from(cli.exec_jobs),
                    strict: cli.exec_strict,
                    max_output: cli.max_message_size,
                }),
                // The REPL shows its own view; stderr belongs to its editor.
                feedback: feedback && mode == Mode::Pipe,
                gauge: (feedback && mode == Mode::Repl).then(Default::default),
            },
            feedback,
        }
    }
}

/// `--expect` and `--expect-jq` interleaved as they were given.
fn expect_in_order(cli: &Cli) -> Vec<Pattern> {
    let mut regexes = cli.expect.iter().cloned().map(Pattern::Regex);
    let mut filters = cli.expect_jq.iter().cloned().map(Pattern::Jq);
    let mut patterns: Vec<Pattern> = cli
        .expect_order
        .iter()
        .filter_map(|&is_jq| {
            if is_jq {
                filters.next()
            } else {
                regexes.next()
            }
        })
        .collect();
    // Without recorded positions (tests build Cli directly): regexes first.
    patterns.extend(regexes);
    patterns.extend(filters);
    patterns
}

fn choose_mode(cli: &Cli) -> Mode {
    let terminal = io::stdin().is_terminal() && io::stdout().is_terminal();
    let wants_repl = (cli.execute.is_empty() && cli.script.is_none()) || cli.interactive;
    if terminal && wants_repl && !cli.jsonl && !cli.echo && cli.exec.is_none() {
        Mode::Repl
    } else {
        Mode::Pipe
    }
}
