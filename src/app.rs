//! Wiring one run: which input sources feed the session, which sink shows its
//! events, which policy ends it, and what the ending means as an exit status.

use mio::{Events, Poll, Waker};
use std::io::{self, IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::cli::{Cli, TimestampArg};
use crate::connect::{self, ConnectOptions, ListenOptions, TlsOptions, UpgradeOptions};
use crate::error::{Error, Result};
use crate::event::{Event, HandshakeInfo};
use crate::input::repl::{self, ReplOptions};
use crate::mailbox::{self, Outbox};
use crate::output::human::{Human, HumanOptions, Shared, TimestampMode};
use crate::output::{write_handshake, write_request, Jsonl, Plain, SharedPrinter, Sink, Tee};
use crate::policy::{Finish, Goals, Policy, Wait};
use crate::session::{CloseCause, Outcome, Report, Session, SessionOptions, WAKER};
use crate::{ending, input, signals, target};
use colored::Colorize;

/// How long wsprobe waits for the server to answer its Close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// How this run talks to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// stdin and stdout are a terminal: the interactive REPL.
    Repl,
    /// Lines in, lines out (or `--jsonl`).
    Pipe,
}

fn choose_mode(cli: &Cli) -> Mode {
    let terminal = io::stdin().is_terminal() && io::stdout().is_terminal();
    let wants_repl = cli.execute.is_empty() || cli.interactive;
    if terminal && wants_repl && !cli.jsonl && !cli.echo {
        Mode::Repl
    } else {
        Mode::Pipe
    }
}

pub fn run(cli: Cli) -> Result<()> {
    let mode = choose_mode(&cli);
    // In pipe mode the sink exists before connecting, so that --jsonl can report
    // a failure to connect as an event too. The REPL's sink needs the REPL.
    let sink: Option<Box<dyn Sink>> = match mode {
        Mode::Repl => None,
        Mode::Pipe if cli.jsonl => Some(Box::new(Jsonl::new(raw_stdout()?, cli.show_secrets))),
        Mode::Pipe => Some(Box::new(Plain::new(
            raw_stdout()?,
            if cli.null { 0 } else { b'\n' },
            timestamp_mode(&cli),
        ))),
    };
    let recorder = match &cli.record {
        Some(path) => Some(open_record(path, cli.show_secrets)?),
        None => None,
    };
    // In pipe mode the recording starts now (so a failure to connect is recorded);
    // the REPL's sink is wrapped once it exists.
    let (mut sink, recorder) = match (sink, recorder) {
        (Some(primary), Some(record)) => (Some(Box::new(Tee::new(primary, record)) as _), None),
        other => other,
    };
    let result = run_with(&cli, mode, &mut sink, recorder);
    if let Some(sink) = sink.as_mut() {
        if let Err(e) = &result {
            // Machines reading --jsonl get the failure in the stream too.
            if (cli.jsonl || cli.record.is_some()) && !matches!(e, Error::Interrupted(_)) {
                let message = e.to_string();
                let _ = sink.event(&Event::Error {
                    message: &message,
                    exit_code: e.exit_code(),
                    at: SystemTime::now(),
                });
            }
        }
        let _ = sink.flush();
    }
    result
}

/// stdout without the standard library's line buffering: the sinks buffer and
/// flush themselves, and `LineWriter` would scan every payload for newlines.
fn raw_stdout() -> Result<std::fs::File> {
    use std::os::fd::AsFd;
    io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .map_err(|e| Error::Runtime(format!("cannot use stdout: {e}")))
}

fn timestamp_mode(cli: &Cli) -> Option<TimestampMode> {
    cli.timestamps.map(|t| match t {
        TimestampArg::Local => TimestampMode::Local,
        TimestampArg::Relative => TimestampMode::Relative,
    })
}

/// `--proxy`, else (unless `--no-proxy`) the environment's proxy for this URL.
fn choose_proxy(cli: &Cli, target: &target::Target) -> Result<Option<connect::Proxy>> {
    match &cli.proxy {
        Some(url) => connect::parse_proxy(url).map(Some).map_err(Error::Usage),
        None if cli.no_proxy => Ok(None),
        None => connect::proxy_from_env(target.tls, &target.host, |name| std::env::var(name).ok())
            .map_err(Error::Usage),
    }
}

fn open_record(path: &std::path::Path, show_secrets: bool) -> Result<Box<dyn Sink>> {
    let file = std::fs::File::create(path).map_err(|e| {
        Error::Usage(format!(
            "cannot create '{}' (--record): {}",
            path.display(),
            connect::plain_io_message(&e)
        ))
    })?;
    Ok(Box::new(Jsonl::new(file, show_secrets)))
}

fn run_with(
    cli: &Cli,
    mode: Mode,
    sink_slot: &mut Option<Box<dyn Sink>>,
    recorder: Option<Box<dyn Sink>>,
) -> Result<()> {
    let started = Instant::now();
    let dial = dial_for(cli)?;
    let preamble = input::execute_messages(cli)?;
    let mut retry = Retry::new(cli.reconnect, cli.listen.is_some());

    // The first connection: with --reconnect, wait for the server to come up.
    let deadline = cli.timeout.map(|t| started + t);
    let mut connection = loop {
        match open(cli, &dial, deadline) {
            Ok(connection) => break connection,
            Err(e) => match Retry::retryable(&e).then(|| retry.next_delay()).flatten() {
                Some(delay) => {
                    if !cli.quiet {
                        eprintln!(
                            "wsprobe: {e}; retrying in {} (--reconnect)",
                            humantime::format_duration(delay)
                        );
                    }
                    // Ctrl-C's default action still applies here: nothing to clean up.
                    std::thread::sleep(delay);
                }
                None => return Err(e),
            },
        }
    };

    let mut poll =
        Poll::new().map_err(|e| Error::Runtime(format!("cannot create a poller: {e}")))?;
    let waker = Waker::new(poll.registry(), WAKER)
        .map(Arc::new)
        .map_err(|e| Error::Runtime(format!("cannot create a waker: {e}")))?;
    signals::install(waker.clone())
        .map_err(|e| Error::Runtime(format!("cannot install signal handlers: {e}")))?;
    let (outbox, mut inbox) = mailbox::channel(waker);

    let mut repl = None;
    match mode {
        Mode::Pipe => input::start_pipe(cli, outbox)?,
        Mode::Repl => {
            let (handle, sink) = start_repl(cli, &connection.info, outbox)?;
            *sink_slot = Some(sink);
            repl = Some(handle);
        }
    }
    if let Some(recorder) = recorder {
        if let Some(primary) = sink_slot.take() {
            *sink_slot = Some(Box::new(Tee::new(primary, recorder)));
        }
    }
    let Some(sink) = sink_slot.as_deref_mut() else {
        return Err(Error::Runtime("no output is set up".into()));
    };

    let mut goals = Goals {
        count: cli.count,
        expect: cli.expect.clone(),
        wait: cli.wait,
        timeout: cli.timeout,
    };
    if (cli.echo || mode == Mode::Repl) && goals.wait.is_none() {
        // Echo mode and the REPL run until the server or the user ends them.
        goals.wait = Some(Wait::Forever);
    }
    let mut policy = Policy::new(goals, started);
    let session_options = SessionOptions {
        close_code: cli.close_code,
        close_reason: cli.close_reason.clone(),
        close_timeout: CLOSE_TIMEOUT,
        echo: cli.echo,
        ping_interval: cli.ping_interval,
        ping_timeout: cli.ping_timeout,
        preamble,
    };
    // The other side, in messages: "server", or "client" with --listen.
    let peer_noun = connection.info.peer_noun();
    let result = loop {
        // A reader that is already gone is noticed by the session at its first flush.
        let _ = sink.event(&Event::Open(&connection.info));
        let mut session = Session::new(
            connection.ws,
            poll,
            inbox,
            sink,
            policy,
            session_options.clone(),
        )?;
        let report = session.run();
        let parts = session.into_parts();
        (poll, inbox, policy) = (parts.poll, parts.inbox, parts.policy);
        let report = match report {
            Ok(report) => report,
            Err(e) => break Err(e),
        };
        let Some(why) = reconnect_reason(&report.outcome, peer_noun) else {
            break Ok(report);
        };
        // The connection is gone: connect again (after a pause), unless the
        // deadline, the retry limit or the user ends the run first.
        retry.reset();
        let mut reason = why;
        let mut failure: Option<Error> = None;
        let next = loop {
            let retryable = failure.as_ref().is_none_or(Retry::retryable);
            let Some(delay) = retryable.then(|| retry.next_delay()).flatten() else {
                break None;
            };
            let _ = sink.event(&Event::Reconnect {
                attempt: retry.attempt,
                delay,
                reason: &reason,
                at: SystemTime::now(),
            });
            let _ = sink.flush();
            if mode == Mode::Pipe && !cli.quiet {
                eprintln!(
                    "wsprobe: {reason}; reconnecting in {} (attempt {})",
                    humantime::format_duration(delay),
                    retry.attempt
                );
            }
            if !wait_to_reconnect(&mut poll, &policy, delay)? {
                failure = None;
                break None;
            }
            match open(cli, &dial, deadline) {
                Ok(connection) => break Some(connection),
                Err(e) => {
                    reason = e.to_string();
                    failure = Some(e);
                }
            }
        };
        match (next, failure) {
            (Some(next), _) => connection = next,
            // The last attempt's error says best why the run ends.
            (None, Some(e)) => break Err(e),
            (None, None) => break Ok(finish_disconnected(report, &policy)),
        }
    };
    if let Some(handle) = repl {
        let _ = sink.flush();
        stop_repl(handle);
    }
    ending::conclude(result?, cli.quiet, peer_noun)
}

/// Where connections come from: a server to dial, or clients to accept.
enum Dial {
    Client(Box<connect::Prepared>),
    Listen {
        listener: std::net::TcpListener,
        opts: ListenOptions,
    },
}

fn dial_for(cli: &Cli) -> Result<Dial> {
    if let Some(spec) = &cli.listen {
        let tls = match (&cli.cert, &cli.key) {
            (Some(cert), Some(key)) => Some(connect::tls_acceptor(cert, key)?),
            _ => None,
        };
        let listener = connect::listen_on(spec)?;
        if !cli.quiet {
            eprintln!(
                "wsprobe: listening on {}",
                connect::listen_url(&listener, tls.is_some())
            );
        }
        let opts = ListenOptions {
            subprotocols: cli.subprotocols.clone(),
            headers: cli.headers.clone(),
            handshake_timeout: cli.connect_timeout,
            max_message_size: cli.max_message_size,
            trace_frames: cli.verbose >= 2,
            tls,
        };
        return Ok(Dial::Listen { listener, opts });
    }
    let target = target::parse(cli.url.as_deref().unwrap_or_default()).map_err(Error::Usage)?;
    let auth = cli.auth.as_deref().map(parse_auth).transpose()?;
    let connect_options = ConnectOptions {
        upgrade: UpgradeOptions {
            headers: cli.headers.clone(),
            subprotocols: cli.subprotocols.clone(),
            origin: cli.origin.clone(),
            auth,
            user_agent: cli.user_agent.clone(),
        },
        tls: TlsOptions {
            insecure: cli.insecure,
            cacert: cli.cacert.clone(),
            cert: cli.cert.clone(),
            key: cli.key.clone(),
        },
        connect_timeout: cli.connect_timeout,
        max_message_size: cli.max_message_size,
        trace_frames: cli.verbose >= 2,
        proxy: choose_proxy(cli, &target)?,
    };
    Ok(Dial::Client(Box::new(connect::prepare(
        target,
        connect_options,
    )?)))
}

/// Connect once (or accept one client); with `-v`, show the handshake (or, when
/// an upgrade is rejected, the request that was sent).
fn open(cli: &Cli, dial: &Dial, deadline: Option<Instant>) -> Result<connect::Connection> {
    signals::set_connecting(true);
    let result = match dial {
        Dial::Client(prepared) => connect::connect(prepared),
        Dial::Listen { listener, opts } => connect::accept_client(listener, opts, deadline),
    };
    signals::set_connecting(false);
    if let (Dial::Client(prepared), true, Err(Error::Handshake(_))) =
        (dial, cli.verbose > 0, &result)
    {
        let view = prepared.request_view();
        let _ = write_request(&mut io::stderr().lock(), &view, cli.show_secrets);
    }
    if let (true, Ok(connection)) = (cli.verbose > 0, &result) {
        let _ = write_handshake(&mut io::stderr().lock(), &connection.info, cli.show_secrets);
    }
    result
}

/// With `--reconnect`: why the connection should be opened again, if it should.
/// Only the server's side ending it counts; wsprobe's own endings, protocol errors
/// and bad input end the run.
fn reconnect_reason(outcome: &Outcome, peer: &str) -> Option<String> {
    match outcome {
        Outcome::ClosedByServer { code: None, .. } => {
            Some(format!("the {peer} closed the connection"))
        }
        Outcome::ClosedByServer { code, reason } => Some(format!(
            "the {peer} closed the connection ({})",
            ending::describe_close(*code, reason)
        )),
        Outcome::Dropped => Some(format!(
            "the {peer} closed the connection without a Close frame"
        )),
        Outcome::Lost(message) => Some(message.clone()),
        Outcome::ClosedByUs { .. } => None,
    }
}

/// Sleep before reconnecting, waking for Ctrl-C and for the `--timeout` deadline;
/// false when the run must end instead.
fn wait_to_reconnect(poll: &mut Poll, policy: &Policy, delay: Duration) -> Result<bool> {
    let until = Instant::now() + delay;
    let mut events = Events::with_capacity(4);
    loop {
        if signals::interrupted() {
            return Err(Error::Interrupted(signals::first_signal()));
        }
        let now = Instant::now();
        if policy.verdict(now) == Some(Finish::TimedOut) {
            return Ok(false);
        }
        if now >= until {
            return Ok(true);
        }
        let wake = policy.next_deadline().map_or(until, |d| d.min(until));
        // Input keeps arriving (and waking us) while disconnected; it waits in
        // the inbox for the next connection.
        if let Err(e) = poll.poll(&mut events, Some(wake.saturating_duration_since(now))) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(Error::Runtime(format!("cannot wait: {e}")));
            }
        }
    }
}

/// The run ends while disconnected (retries exhausted, or `--timeout`): judge it
/// as the last connection ended, or as timed out when the deadline passed.
fn finish_disconnected(last: Report, policy: &Policy) -> Report {
    if policy.verdict(Instant::now()) == Some(Finish::TimedOut) {
        Report {
            outcome: Outcome::ClosedByUs {
                cause: CloseCause::Finished(Finish::TimedOut),
                answered: true,
            },
            unmet: policy.unmet(),
            unmet_at_timeout: policy.unmet_at_timeout(),
        }
    } else {
        last
    }
}

/// `--reconnect[=N]`: exponential backoff from 0.5 s to 30 s, at most N attempts
/// in a row (without N: no limit). Only connection failures are retried: a
/// certificate that is not trusted or a bad flag will not fix itself.
struct Retry {
    enabled: bool,
    limit: Option<u32>,
    attempt: u32,
    /// With --listen the next client is simply awaited: no pause.
    immediate: bool,
}

impl Retry {
    fn new(setting: Option<u32>, immediate: bool) -> Self {
        Retry {
            enabled: setting.is_some(),
            limit: setting.filter(|n| *n > 0),
            attempt: 0,
            immediate,
        }
    }

    fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Failures that may go away by themselves: the server is down, restarting,
    /// or answering 5xx for a while.
    fn retryable(e: &Error) -> bool {
        matches!(e, Error::Connect(_) | Error::Handshake(_))
    }

    /// The pause before the next attempt, or None when retrying is off or the
    /// limit is reached.
    fn next_delay(&mut self) -> Option<Duration> {
        if !self.enabled || self.limit.is_some_and(|n| self.attempt >= n) {
            return None;
        }
        let exponent = self.attempt.min(6);
        self.attempt += 1;
        if self.immediate {
            return Some(Duration::ZERO);
        }
        Some((Duration::from_millis(500) * 2u32.pow(exponent)).min(Duration::from_secs(30)))
    }
}

fn parse_auth(s: &str) -> Result<(String, String)> {
    match s.split_once(':') {
        Some((user, pass)) => Ok((user.to_string(), pass.to_string())),
        None => Err(Error::Usage(format!(
            "--auth expects USER:PASSWORD, got '{}'",
            crate::redact::secret_hint(s)
        ))),
    }
}

/// What the app keeps to end the REPL when the session is over.
struct ReplEnd {
    printer: SharedPrinter,
    ending: Arc<std::sync::atomic::AtomicBool>,
    done: std::sync::mpsc::Receiver<()>,
}

fn start_repl(cli: &Cli, info: &HandshakeInfo, outbox: Outbox) -> Result<(ReplEnd, Box<dyn Sink>)> {
    let color = colored::control::SHOULD_COLORIZE.should_colorize();
    let shared = Shared::new(!cli.no_pretty);
    // Printed before the editor takes the terminal.
    let subprotocol = info
        .subprotocol
        .as_deref()
        .map(|p| format!(", subprotocol {p}"))
        .unwrap_or_default();
    let connected = if info.listening {
        format!(
            "client {} connected to {}",
            info.peer.as_deref().unwrap_or("?"),
            info.url
        )
    } else {
        format!("connected to {}", info.url)
    };
    println!(
        "{} {}",
        "*".yellow().bold(),
        format!("{connected}{subprotocol}; /help for commands, Ctrl-D to quit").yellow()
    );
    let options = ReplOptions {
        prompt: repl::prompt_for(&info.url),
        history: if cli.no_history {
            None
        } else {
            repl::default_history_path()
        },
        binary: cli.binary,
        show_secrets: cli.show_secrets,
    };
    if let Ok(mut current) = shared.info.lock() {
        *current = info.clone();
    }
    let handle = repl::start(options, shared.clone(), outbox, color)
        .map_err(|e| Error::Runtime(format!("cannot start the interactive editor: {e}")))?;
    let printer = SharedPrinter::new(handle.printer);
    let human = Human::new(
        printer.clone(),
        HumanOptions {
            show_ping_pong: cli.show_ping_pong,
            max_display: cli.max_display,
            timestamps: timestamp_mode(cli),
        },
        shared,
    );
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
        if end.done.recv_timeout(Duration::from_millis(50)).is_ok() {
            // The editor left its prompt (and any half-typed text) on the line
            // above the cursor: the session is over, so take it off the screen.
            let mut out = io::stdout().lock();
            let _ = out.write_all(b"\x1b[1A\r\x1b[2K");
            let _ = out.flush();
            return;
        }
    }
}
