//! Wiring one run and driving its lifecycle. The run is one explicit state
//! machine, driven by this loop:
//!
//! ```text
//!   Connecting ──ok──▶ Open ──peer closed / dropped, --reconnect──▶ Backoff ──▶ Connecting
//!       │                │                                            │
//!       └─failed─▶ Backoff (--reconnect, retryable) or Done           └─ --timeout, signal ─▶ Done
//!                        └──────────────── otherwise ────────────────────────────────────▶ Done
//! ```
//!
//! One deadline (`--timeout`) bounds every state: the dial (with
//! `--connect-timeout`), the session and its close handshake, and the pauses
//! between attempts. One `Session` lives for the whole run; it owns the poller
//! whose waker carries input, stdout's progress and signals.

use mio::{Poll, Waker};
use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::connect::{self, ConnectOptions, ListenOptions, UpgradeOptions};
use crate::ending::{EndedBy, Ending};
use crate::error::{Error, Result};
use crate::event::{Event, HandshakeInfo};
use crate::feedback::Dialing;
use crate::input::repl::{self, ReplOptions};
use crate::mailbox::{self, Outbox};
use crate::output::human::{Human, ReplState};
use crate::output::stdout;
use crate::output::{
    write_handshake, write_redirect, write_request, Jsonl, Nothing, Plain, SharedPrinter, Sink,
    Tee, Trace,
};
use crate::policy::Policy;
use crate::retry::Retry;
use crate::session::{PauseEnd, Session, WAKER};
use crate::settings::{ClientSettings, Endpoint, ListenSettings, Mode, Settings};
use crate::{ending, exec, input, script, signals, target};
use colored::Colorize;

/// What a run leaves for `main`: its result, then (`--stats`) the summary lines
/// for stderr, printed after the error line as the `stats` event follows the
/// `error` event.
pub struct Finished {
    pub result: Result<()>,
    pub summary: Vec<String>,
}

pub fn run(settings: Settings) -> Finished {
    let mut summary = Vec::new();
    let result = run_session(settings, &mut summary);
    Finished { result, summary }
}

fn run_session(settings: Settings, summary: &mut Vec<String>) -> Result<()> {
    let started = Instant::now();
    let poll =
        Poll::new().map_err(|e| Error::Runtime(format!("cannot create a poller: {e}").into()))?;
    let waker = Waker::new(poll.registry(), WAKER)
        .map(Arc::new)
        .map_err(|e| Error::Runtime(format!("cannot create a waker: {e}").into()))?;
    signals::install(waker.clone())
        .map_err(|e| Error::Runtime(format!("cannot install signal handlers: {e}").into()))?;
    let (outbox, inbox) = mailbox::channel(waker.clone());
    let exec =
        match settings.session.exec.clone() {
            Some(options) => Some(exec::Pool::start(options, waker.clone()).map_err(|e| {
                Error::Runtime(format!("cannot start the --exec workers: {e}").into())
            })?),
            None => None,
        };
    let output = &settings.output;
    let recorder = match &output.record {
        Some(path) => Some(open_record(path, output.force, output.show_secrets)?),
        None => None,
    };
    // In pipe mode the sink exists before connecting, so that --jsonl and
    // --record report a failure to connect too. The REPL's sink needs the REPL.
    let (sink, gauge, recording): (Box<dyn Sink>, _, _) = match settings.mode {
        Mode::Pipe => {
            let (out, gauge) = stdout::spawn(raw_stdout()?, waker).map_err(|e| {
                Error::Runtime(format!("cannot start the stdout writer: {e}").into())
            })?;
            let primary: Box<dyn Sink> = if output.jsonl {
                Box::new(Jsonl::new(out, output.show_secrets))
            } else {
                let plain = Plain::new(out, output.separator, output.timestamps);
                match &settings.endpoint {
                    Endpoint::Listen(listen) if listen.tag => Box::new(plain.tagged()),
                    _ => Box::new(plain),
                }
            };
            let primary = traced(primary, output.verbose);
            let sink: Box<dyn Sink> = match recorder {
                Some(record) => Box::new(Tee::new(primary, record)),
                None => primary,
            };
            (sink, Some(gauge), false)
        }
        // Until the REPL starts, only the recording sees events (a rejected
        // upgrade, a failed connect); then the REPL's view joins it.
        Mode::Repl => match recorder {
            Some(record) => (record, None, true),
            None => (Box::new(Nothing), None, false),
        },
    };
    if let Some(listen) = hub_serves(&settings) {
        // A server has no "one reply per message": it serves until stopped (or
        // a goal, or --wait, ends the run).
        let mut goals = settings.goals.clone();
        goals.wait.get_or_insert(crate::policy::Wait::Forever);
        let policy = Policy::new(goals, started);
        let outlet = crate::output::Outlet::new(sink, gauge);
        let channels = (outbox, inbox);
        return run_hub(
            &settings, listen, poll, channels, exec, outlet, policy, summary,
        );
    }
    let policy = Policy::new(settings.goals.clone(), started);
    let mut session = Session::new(poll, inbox, sink, gauge, policy, settings.session.clone());
    if let Some(pool) = exec {
        session.set_exec(pool);
    }
    let result = Run::new(&settings, started).drive(&mut session, outbox, recording);
    let stats = session.stats().clone();
    report_end(output, &result, &stats, summary, &mut |e| session.report(e));
    session.drain_output();
    result
}

/// The end of a run in the output: for --jsonl and --record the failure (as an
/// `error` event) and the `--stats` event; the --stats summary for stderr.
fn report_end(
    output: &crate::settings::OutputOptions,
    result: &Result<()>,
    stats: &crate::stats::RunStats,
    summary: &mut Vec<String>,
    report: &mut dyn FnMut(&Event),
) {
    let machine = output.jsonl || output.record.is_some();
    if let Err(e) = result {
        // Machines reading --jsonl (or a recording) get the failure in the stream.
        if machine && !matches!(e, Error::Interrupted(_)) {
            let message = e.to_string();
            report(&Event::Error {
                message: &message,
                exit_code: e.exit_code(),
                at: SystemTime::now(),
            });
        }
    }
    // --stats: when anything was connected, whatever the ending.
    if output.stats && stats.connections > 0 {
        if machine {
            report(&Event::Stats {
                stats,
                at: SystemTime::now(),
            });
        }
        *summary = crate::output::summary::lines(stats);
    }
}

/// Whether this run is the multi-client listener (see `hub`), and its settings.
fn hub_serves(settings: &Settings) -> Option<&ListenSettings> {
    let Endpoint::Listen(listen) = &settings.endpoint else {
        return None;
    };
    let one_at_a_time = listen.once
        || listen.cert.is_some()
        || settings.input.script.is_some()
        || settings.reconnect.is_some();
    (!one_at_a_time).then_some(listen)
}

/// `--listen`, many clients at once: bind, announce, read stdin, serve.
#[allow(clippy::too_many_arguments)]
fn run_hub(
    settings: &Settings,
    listen: &ListenSettings,
    poll: Poll,
    (outbox, inbox): (Outbox, mailbox::Inbox),
    exec: Option<exec::Pool>,
    outlet: crate::output::Outlet,
    policy: Policy,
    summary: &mut Vec<String>,
) -> Result<()> {
    let output = &settings.output;
    let greeting = input::execute_messages(&settings.input)?;
    let (listener, opts) = Dial::listen_options(settings, listen)?;
    let repl = settings.mode == Mode::Repl;
    let mut outlet = outlet;
    let editor = if repl {
        let url = listener.url(false);
        let info = HandshakeInfo {
            url: url.clone(),
            listening: true,
            ..HandshakeInfo::default()
        };
        let banner = "what you type goes to every client; /to ID MESSAGE for one, /clients, /kick ID; /help, Ctrl-D to quit";
        let (handle, human) = start_repl(settings, banner, &info, outbox, true)?;
        // Until now only a recording, if any, saw events; the REPL's view joins it.
        let recording = outlet.take_sink();
        outlet.set_sink(if settings.output.record.is_some() {
            Box::new(Tee::new(human, recording))
        } else {
            human
        });
        Some(handle)
    } else {
        // Lines wait in the bounded inbox until a client is there to get them.
        input::start_pipe(&settings.input, outbox)?;
        None
    };
    let session = &settings.session;
    let hub_options = crate::hub::HubOptions {
        echo: session.echo,
        replies: session.replies.clone(),
        greeting,
        close_code: session.close_code,
        close_reason: session.close_reason.clone(),
        max_clients: listen.max_clients.map(|n| n as usize),
        quiet: output.quiet,
        repl,
        verbose: output.verbose > 0,
        show_secrets: output.show_secrets,
    };
    let mut hub = crate::hub::Hub::new(poll, listener, opts, inbox, outlet, policy, hub_options)?;
    if let Some(pool) = exec {
        hub.set_exec(pool);
    }
    let result = hub
        .serve()
        .and_then(|ending| ending::conclude(ending, output.quiet, "client"));
    if let Some(handle) = editor {
        hub.report(&Event::Note {
            text: "server stopped",
            at: SystemTime::now(),
        });
        stop_repl(handle);
    }
    let stats = hub.stats().clone();
    report_end(output, &result, &stats, summary, &mut |e| hub.report(e));
    hub.drain_output();
    result
}

/// A rejected upgrade (non-101) becomes a `rejected` event for --jsonl and
/// --record, before its error; every attempt's, with --reconnect.
fn report_rejection(session: &mut Session, error: &Error) {
    use std::error::Error as _;
    if let Some(rejection) = error
        .source()
        .and_then(|cause| cause.downcast_ref::<crate::event::Rejection>())
    {
        session.report(&Event::Rejected(rejection));
    }
}

/// With `-vv`, frames are traced on stderr whatever the main output is.
fn traced(sink: Box<dyn Sink>, verbose: u8) -> Box<dyn Sink> {
    if verbose >= 2 {
        Box::new(Trace::new(sink))
    } else {
        sink
    }
}

/// stdout as a file: the writer thread writes whole buffers to it, and the
/// standard library's `LineWriter` would scan every payload for newlines.
fn raw_stdout() -> Result<std::fs::File> {
    use std::os::fd::AsFd;
    io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .map_err(|e| Error::Runtime(format!("cannot use stdout: {e}").into()))
}

/// The --record file: readable by its owner only (it may hold what the server
/// sent, and secrets with --show-secrets), and never overwritten without --force.
fn open_record(path: &std::path::Path, force: bool, show_secrets: bool) -> Result<Box<dyn Sink>> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut options = std::fs::OpenOptions::new();
    options.write(true).mode(0o600);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let file = options.open(path).map_err(|e| {
        let why = if e.kind() == io::ErrorKind::AlreadyExists {
            "it exists (add --force to overwrite it)".to_string()
        } else {
            connect::plain_io_message(&e)
        };
        Error::Usage(format!("cannot create '{}' (--record): {why}", path.display()).into())
    })?;
    // An existing file keeps its mode when truncated: narrow it too.
    if force {
        let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
    }
    Ok(Box::new(Jsonl::new(
        io::BufWriter::with_capacity(64 * 1024, file),
        show_secrets,
    )))
}

/// The states of a run (see the module's diagram).
enum State {
    Connecting,
    Open(Box<connect::Connection>),
    /// Waiting before the next attempt; `failure` is the attempt that failed (None
    /// when the peer ended an open connection).
    Backoff {
        delay: Duration,
        reason: String,
        failure: Option<Error>,
    },
    Done(Result<Ending>),
}

/// What the lifecycle keeps while it runs.
struct Run<'s> {
    settings: &'s Settings,
    /// `--timeout`: when it passes, and its value.
    deadline: Option<(Instant, Duration)>,
    /// `--listen`: connections are clients accepted, not a server dialled.
    listening: bool,
}

impl<'s> Run<'s> {
    fn new(settings: &'s Settings, started: Instant) -> Self {
        Run {
            settings,
            deadline: settings.goals.timeout.map(|t| (started + t, t)),
            listening: matches!(settings.endpoint, Endpoint::Listen(_)),
        }
    }

    fn drive(&self, session: &mut Session, outbox: Outbox, recording: bool) -> Result<()> {
        let dial = Dial::prepare(self.settings)?;
        let dialing = match (&dial, self.settings.feedback) {
            (Dial::Client(prepared), true) => {
                let (endpoint, proxy) = prepared.endpoint();
                Dialing::start(endpoint, proxy)
            }
            _ => Dialing::off(),
        };
        let listening = self.listening;
        let peer = if listening { "client" } else { "server" };
        let preamble = input::execute_messages(&self.settings.input)?;
        session.configure(preamble, peer);
        if let Some(path) = &self.settings.input.script {
            session.set_script(load_script(&self.settings.input, path)?);
        }
        let mut retry = Retry::new(self.settings.reconnect, listening);
        let mut inputs = Some((outbox, recording));
        let mut repl = None;
        // Whether a connection was ever open, and the last failed attempt's error.
        let mut connected = false;
        let mut state = State::Connecting;
        let result = loop {
            state = match state {
                State::Connecting => match self
                    .open(&dial, &dialing, session)
                    .inspect_err(|e| report_rejection(session, e))
                {
                    Ok(connection) => State::Open(Box::new(connection)),
                    Err(Error::Timeout(_)) if connected && self.deadline_passed() => {
                        State::Done(Err(Self::timed_out_between(session, None)))
                    }
                    Err(e) => match Retry::retryable(&e, listening)
                        .then(|| retry.next_delay())
                        .flatten()
                    {
                        Some(delay) => State::Backoff {
                            delay,
                            reason: e.to_string(),
                            failure: Some(e),
                        },
                        None => State::Done(Err(e)),
                    },
                },
                State::Open(connection) => {
                    if connected {
                        self.announce_reconnected(&connection.info, retry.attempt());
                    }
                    connected = true;
                    retry.reset();
                    if let Some((outbox, recording)) = inputs.take() {
                        repl = self.start_inputs(session, &connection.info, outbox, recording)?;
                        if repl.is_some() {
                            // The line editor owns the terminal from now on.
                            dialing.retire();
                        }
                    }
                    match session.run_connection(*connection) {
                        Err(e) => State::Done(Err(e)),
                        Ok(report) => match reconnect_reason(&report.ended_by, peer)
                            .and_then(|reason| retry.next_delay().map(|delay| (reason, delay)))
                        {
                            Some((reason, delay)) => State::Backoff {
                                delay,
                                reason,
                                failure: None,
                            },
                            None => State::Done(Ok(report)),
                        },
                    }
                }
                State::Backoff {
                    delay,
                    reason,
                    failure,
                } => {
                    self.announce_backoff(session, connected, retry.attempt(), delay, &reason);
                    match session.pause(Instant::now() + delay)? {
                        PauseEnd::Elapsed => State::Connecting,
                        PauseEnd::Interrupted => {
                            State::Done(Err(Error::Interrupted(signals::first_signal())))
                        }
                        PauseEnd::TimedOut if connected => {
                            State::Done(Err(Self::timed_out_between(session, failure)))
                        }
                        PauseEnd::TimedOut => State::Done(Err(Error::Timeout(format!(
                            "timed out ({}) while waiting to connect again (--reconnect); the last attempt failed: {reason}",
                            ending::timeout_flag(self.settings.goals.timeout)
                        ).into()))),
                    }
                }
                State::Done(result) => break result,
            };
        };
        let in_repl = repl.is_some();
        if let Some(handle) = repl {
            session.flush();
            stop_repl(handle);
        }
        let ending = result?;
        // The REPL has shown the server's Close (`* closed by server: 4001 …`):
        // the exit code says it failed, a second line on stderr would not add anything.
        let shown = in_repl && matches!(ending.ended_by, EndedBy::ClosedByServer { .. });
        ending::conclude(ending, self.settings.output.quiet, peer).map_err(|e| match e {
            Error::ServerClosed(_) if shown => e.shown(),
            e => e,
        })
    }

    fn deadline_passed(&self) -> bool {
        self.deadline.is_some_and(|(at, _)| Instant::now() >= at)
    }

    /// `--timeout` passed while disconnected, after a connection was open.
    fn timed_out_between(session: &Session, failure: Option<Error>) -> Error {
        Error::Timeout(
            format!(
                "timed out ({}) while reconnecting{}{}",
                ending::timeout_flag(session.policy().timeout()),
                session
                    .unmet()
                    .map(|u| format!(": {u}"))
                    .unwrap_or_default(),
                failure
                    .map(|e| format!("; the last attempt failed: {e}"))
                    .unwrap_or_default()
            )
            .into(),
        )
    }

    fn announce_backoff(
        &self,
        session: &mut Session,
        connected: bool,
        attempt: u32,
        delay: Duration,
        reason: &str,
    ) {
        let quiet = self.settings.output.quiet;
        let pipe = self.settings.mode == Mode::Pipe;
        let pause = humantime::format_duration(delay);
        if !connected {
            if quiet {
                return;
            }
            if self.listening {
                // A client failed its TLS handshake or upgrade: the next may do better.
                eprintln!("wsprobe: {reason}; waiting for the next client (--reconnect)");
            } else {
                // Waiting for a server that is not up yet.
                eprintln!("wsprobe: {reason}; retrying in {pause} (--reconnect)");
            }
            return;
        }
        session.report(&Event::Reconnect {
            attempt,
            delay,
            reason,
            at: SystemTime::now(),
        });
        if pipe && !quiet {
            eprintln!("wsprobe: {reason}; reconnecting in {pause} (attempt {attempt})");
        }
    }

    /// In pipe mode, stderr says when a connection is back, as it said that it was
    /// lost (the REPL shows it above its prompt).
    fn announce_reconnected(&self, info: &HandshakeInfo, attempt: u32) {
        let output = &self.settings.output;
        if self.settings.mode == Mode::Pipe && !output.quiet {
            eprintln!(
                "wsprobe: {}",
                crate::output::human::reconnected(info, attempt)
            );
        }
    }

    /// Connect once (or accept one client) under the run's deadline; with `-v`,
    /// show the handshake (or, when an upgrade is rejected, the request sent).
    /// A terminal sees what a slow dial waits for (`dialing`).
    fn open(
        &self,
        dial: &Dial,
        dialing: &Dialing,
        session: &mut Session,
    ) -> Result<connect::Connection> {
        let output = &self.settings.output;
        signals::set_connecting(true);
        let result = match dial {
            Dial::Client(prepared) => {
                // -L: each hop on stderr with -v, and as an event for --jsonl.
                let mut redirected = |hop: &crate::event::Redirect| {
                    if output.verbose > 0 {
                        let _ = write_redirect(&mut io::stderr().lock(), hop);
                    }
                    session.report(&Event::Redirect(hop));
                };
                let result = connect::connect(
                    prepared,
                    self.deadline,
                    &mut |stage| dialing.stage(stage),
                    &mut redirected,
                    // -v: each TCP attempt as it happens.
                    &mut |line| {
                        if output.verbose > 0 {
                            dialing.note(&line);
                        }
                    },
                );
                dialing.done();
                result
            }
            Dial::Listen { listener, opts } => {
                connect::accept_client(listener, opts, self.deadline.map(|(at, _)| at))
            }
        };
        signals::set_connecting(false);
        if let (Dial::Client(prepared), true, Err(Error::Handshake(_))) =
            (dial, output.verbose > 0, &result)
        {
            let view = prepared.request_view();
            let _ = write_request(&mut io::stderr().lock(), &view, output.show_secrets);
        }
        if let (true, Ok(connection)) = (output.verbose > 0, &result) {
            let _ = write_handshake(
                &mut io::stderr().lock(),
                &connection.info,
                output.show_secrets,
            );
        }
        result
    }

    /// Once the first connection is open: start reading stdin, or the REPL.
    fn start_inputs(
        &self,
        session: &mut Session,
        info: &HandshakeInfo,
        outbox: Outbox,
        recording: bool,
    ) -> Result<Option<ReplEnd>> {
        match self.settings.mode {
            Mode::Pipe => {
                input::start_pipe(&self.settings.input, outbox)?;
                Ok(None)
            }
            Mode::Repl => {
                // The REPL shows -vv frames itself, above the prompt.
                let banner = format!(
                    "{}{}; /help for commands, Ctrl-D to quit",
                    if info.listening {
                        crate::output::human::reconnected(info, 0)
                    } else {
                        format!("connected to {}", info.url)
                    },
                    info.subprotocol
                        .as_deref()
                        .map(|p| format!(", subprotocol {p}"))
                        .unwrap_or_default()
                );
                let (handle, human) = start_repl(self.settings, &banner, info, outbox, false)?;
                let sink: Box<dyn Sink> = if recording {
                    Box::new(Tee::new(human, session.take_sink()))
                } else {
                    human
                };
                session.set_sink(sink);
                Ok(Some(handle))
            }
        }
    }
}

/// `--script`: read and check the whole script before connecting.
fn load_script(input: &input::InputOptions, path: &std::path::Path) -> Result<script::Runner> {
    if path == std::path::Path::new("-") && input.execute.iter().any(|m| m == "@-") {
        return Err(Error::Usage(
            "--script - and -x @- both read stdin; give the script or the message as a file".into(),
        ));
    }
    script::load(path, input.binary).map(script::Runner::new)
}

/// Where connections come from: a server to dial, or clients to accept.
enum Dial {
    Client(Box<connect::Prepared>),
    Listen {
        listener: connect::Listener,
        opts: ListenOptions,
    },
}

impl Dial {
    /// Check what can be checked before any network activity (URL, files, proxy,
    /// the listening address), so that usage errors are reported as such.
    fn prepare(settings: &Settings) -> Result<Dial> {
        match &settings.endpoint {
            Endpoint::Listen(listen) => Dial::listen(settings, listen),
            Endpoint::Client(client) => Dial::client(settings, client),
        }
    }

    fn listen(settings: &Settings, listen: &ListenSettings) -> Result<Dial> {
        let (listener, opts) = Dial::listen_options(settings, listen)?;
        Ok(Dial::Listen { listener, opts })
    }

    /// Bind the listening socket (and say where), and what the upgrade answers.
    fn listen_options(
        settings: &Settings,
        listen: &ListenSettings,
    ) -> Result<(connect::Listener, ListenOptions)> {
        let tls = match (&listen.cert, &listen.key) {
            (Some(cert), Some(key)) => Some(connect::tls_acceptor(cert, key)?),
            _ => None,
        };
        let listener = connect::Listener::bind(&listen.spec)?;
        if !settings.output.quiet {
            eprintln!("wsprobe: listening on {}", listener.url(tls.is_some()));
        }
        let opts = ListenOptions {
            subprotocols: listen.subprotocols.clone(),
            headers: listen.headers.clone(),
            handshake_timeout: settings.connect_timeout,
            max_message_size: settings.max_message_size,
            trace_frames: settings.output.verbose >= 2,
            tls,
            deflate: settings.deflate.clone(),
            path: listen.path.clone(),
        };
        Ok((listener, opts))
    }

    fn client(settings: &Settings, client: &ClientSettings) -> Result<Dial> {
        let mut target = target::parse(&client.url).map_err(|m| Error::Usage(m.into()))?;
        unix_socket(&mut target, client)?;
        let auth = client.auth.as_deref().map(parse_auth).transpose()?;
        let proxy = match &client.proxy {
            Some(url) => Some(connect::parse_proxy(url).map_err(|m| Error::Usage(m.into()))?),
            // A local socket is never reached through a proxy from the environment.
            None if client.no_proxy || target.unix.is_some() => None,
            None => {
                connect::proxy_from_env(target.tls, &target.host, |name| std::env::var(name).ok())
                    .map_err(|m| Error::Usage(m.into()))?
            }
        };
        let options = ConnectOptions {
            upgrade: UpgradeOptions {
                headers: client.headers.clone(),
                subprotocols: client.subprotocols.clone(),
                origin: client.origin.clone(),
                auth,
                user_agent: client.user_agent.clone(),
                deflate: settings.deflate.clone(),
            },
            tls: client.tls.clone(),
            proxy_tls: client.proxy_tls.clone(),
            connect_timeout: settings.connect_timeout,
            max_message_size: settings.max_message_size,
            trace_frames: settings.output.verbose >= 2,
            proxy,
            routes: client.routes.clone(),
            max_redirects: client.max_redirects,
        };
        Ok(Dial::Client(Box::new(connect::prepare(target, options)?)))
    }
}

/// `--unix-socket` moves the connection to a socket; a `ws+unix://` URL already
/// names one. Neither goes with flags that say where TCP goes (clap checks those
/// for `--unix-socket`; here for the URL).
fn unix_socket(target: &mut target::Target, client: &ClientSettings) -> Result<()> {
    let usage = |m: &str| Err(Error::Usage(m.to_string().into()));
    match &client.unix_socket {
        Some(_) if target.unix.is_some() => {
            return usage(
                "--unix-socket cannot be used with a ws+unix:// URL (it names its socket)",
            )
        }
        Some(path) => target.unix = Some(path.clone()),
        None => {}
    }
    if target.unix.is_none() || client.unix_socket.is_some() {
        return Ok(());
    }
    let routes = &client.routes;
    let flag = if client.proxy.is_some() {
        "--proxy"
    } else if !routes.resolve.is_empty() {
        "--resolve"
    } else if !routes.connect_to.is_empty() {
        "--connect-to"
    } else {
        return Ok(());
    };
    usage(&format!("a ws+unix:// URL cannot be used with {flag}"))
}

/// With `--reconnect`: why the connection should be opened again, if it should.
/// Only the peer's side ending it counts; wsprobe's own endings, protocol errors
/// and bad input end the run.
fn reconnect_reason(ended_by: &EndedBy, peer: &str) -> Option<String> {
    match ended_by {
        EndedBy::ClosedByServer { code: None, .. } => {
            Some(format!("the {peer} closed the connection"))
        }
        EndedBy::ClosedByServer { code, reason } => Some(format!(
            "the {peer} closed the connection ({})",
            ending::describe_close(*code, reason)
        )),
        EndedBy::Dropped => Some(format!(
            "the {peer} closed the connection without a Close frame"
        )),
        EndedBy::Lost(message) => Some(message.clone()),
        EndedBy::ClosedByUs { .. } => None,
    }
}

fn parse_auth(s: &str) -> Result<(String, String)> {
    match s.split_once(':') {
        Some((user, pass)) => Ok((user.to_string(), pass.to_string())),
        None => Err(Error::Usage(
            format!(
                "--auth expects USER:PASSWORD, got '{}'",
                crate::redact::secret_hint(s)
            )
            .into(),
        )),
    }
}

/// What the app keeps to end the REPL when the session is over.
struct ReplEnd {
    printer: SharedPrinter,
    ending: Arc<std::sync::atomic::AtomicBool>,
    done: std::sync::mpsc::Receiver<bool>,
}

/// Start the line editor with `banner` (printed before the editor takes the
/// terminal); `hub`: it drives the multi-client listener.
fn start_repl(
    settings: &Settings,
    banner: &str,
    info: &HandshakeInfo,
    outbox: Outbox,
    hub: bool,
) -> Result<(ReplEnd, Box<dyn Sink>)> {
    let color = colored::control::SHOULD_COLORIZE.should_colorize();
    let shared = ReplState::new(settings.repl.pretty);
    let banner = format!("{} {}", "*".yellow().bold(), banner.yellow());
    println!("{banner}");
    let shown = repl::Shown::default();
    shown.record(&banner);
    let options = ReplOptions {
        prompt: repl::prompt_for(&info.url),
        history: settings.repl.history.clone(),
        binary: settings.repl.binary,
        show_secrets: settings.output.show_secrets,
        gauge: settings.session.gauge.clone(),
        timestamps: settings.repl.human.timestamps.is_some(),
        hub,
    };
    if let Ok(mut current) = shared.info.lock() {
        *current = info.clone();
    }
    let handle = repl::start(options, shared.clone(), outbox, color, shown.clone())
        .map_err(|e| Error::Runtime(format!("cannot start the interactive editor: {e}").into()))?;
    let printer = SharedPrinter::new(handle.printer, shown);
    let human = Human::new(printer.clone(), settings.repl.human.clone(), shared);
    let end = ReplEnd {
        printer,
        ending: handle.ending,
        done: handle.done,
    };
    Ok((end, Box::new(human)))
}

/// Stop the line editor once the session is over, without losing output: a last,
/// empty print returns only when everything printed before it has been taken by
/// the editor's thread (its queue holds one message), which prints it before it
/// can see the signal that makes `readline` return.
fn stop_repl(end: ReplEnd) {
    end.ending.store(true, std::sync::atomic::Ordering::SeqCst);
    signals::set_ending();
    if end.done.try_recv().is_ok() {
        return; // the user quit: the editor is already gone
    }
    // The editor ends every print with a newline; moving the cursor up first makes
    // this one invisible if it gets printed at all.
    end.printer.print_now("\x1b[1A".to_string());
    for _ in 0..40 {
        signals::interrupt_self();
        if let Ok(noted) = end.done.recv_timeout(Duration::from_millis(50)) {
            if noted {
                return; // the prompt stays, with the line typed and a note under it
            }
            // The editor left its (empty) prompt on the line above the cursor:
            // the session is over, so take it off the screen.
            let mut out = io::stdout().lock();
            let _ = out.write_all(b"\x1b[1A\r\x1b[2K");
            let _ = out.flush();
            return;
        }
    }
}
