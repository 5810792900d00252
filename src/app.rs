//! Wiring one run: which input sources feed the session, which sink shows its
//! events, which policy ends it, and what the ending means as an exit status.

use mio::{Poll, Waker};
use std::io::{self, IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tungstenite::Message;

use crate::cli::{Cli, TimestampArg};
use crate::connect::{self, ConnectOptions, TlsOptions, UpgradeOptions};
use crate::error::{Error, Result};
use crate::event::{Command, Event, HandshakeInfo};
use crate::input::repl::{self, ReplOptions};
use crate::mailbox::{self, Outbox};
use crate::output::human::{Human, HumanOptions, Shared, TimestampMode};
use crate::output::{write_handshake, write_request, Jsonl, Plain, SharedPrinter, Sink, Tee};
use crate::policy::{Goals, Policy, Wait};
use crate::session::{Session, SessionOptions, WAKER};
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
    let mut sink: Option<Box<dyn Sink>> = match mode {
        Mode::Repl => None,
        Mode::Pipe if cli.jsonl => Some(Box::new(Jsonl::new(raw_stdout()?, cli.show_secrets))),
        Mode::Pipe => Some(Box::new(Plain::new(
            raw_stdout()?,
            if cli.null { 0 } else { b'\n' },
            timestamp_mode(&cli),
        ))),
    };
    let mut recorder = match &cli.record {
        Some(path) => Some(open_record(path, cli.show_secrets)?),
        None => None,
    };
    // In pipe mode the recording starts now (so a failure to connect is recorded);
    // the REPL's sink is wrapped once it exists.
    if let Some(record) = recorder.take() {
        match sink.take() {
            Some(primary) => sink = Some(Box::new(Tee::new(primary, record))),
            None => recorder = Some(record),
        }
    }
    let result = run_with(&cli, mode, &mut sink, recorder);
    if let Some(sink) = sink.as_mut() {
        if let Err(e) = &result {
            // Machines reading --jsonl get the failure in the stream too.
            if (cli.jsonl || cli.record.is_some()) && !matches!(e, Error::Interrupted) {
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
    let prepared = connect::prepare(target, connect_options)?;
    let initial = input::execute_messages(cli)?;

    let request_view = (cli.verbose > 0).then(|| prepared.request_view());
    let connection = match connect::connect(prepared) {
        Ok(connection) => connection,
        Err(e) => {
            // A rejected upgrade is explained by the request too, as curl -v shows it.
            if let (Some(view), Error::Handshake(_)) = (&request_view, &e) {
                let _ = write_request(&mut io::stderr().lock(), view, cli.show_secrets);
            }
            return Err(e);
        }
    };
    if cli.verbose > 0 {
        let _ = write_handshake(&mut io::stderr().lock(), &connection.info, cli.show_secrets);
    }

    let poll = Poll::new().map_err(|e| Error::Runtime(format!("cannot create a poller: {e}")))?;
    let waker = Waker::new(poll.registry(), WAKER)
        .map(Arc::new)
        .map_err(|e| Error::Runtime(format!("cannot create a waker: {e}")))?;
    signals::install(waker.clone())
        .map_err(|e| Error::Runtime(format!("cannot install signal handlers: {e}")))?;
    let (outbox, inbox) = mailbox::channel(waker);

    let mut repl = None;
    match mode {
        Mode::Pipe => input::start_pipe(cli, initial, outbox)?,
        Mode::Repl => {
            let (handle, sink) = start_repl(cli, initial, &connection.info, outbox)?;
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
    // A reader that is already gone is noticed by the session at its first flush.
    let _ = sink.event(&Event::Open(&connection.info));

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
    let policy = Policy::new(goals, Instant::now());
    let session_options = SessionOptions {
        close_code: cli.close_code,
        close_reason: cli.close_reason.clone(),
        close_timeout: CLOSE_TIMEOUT,
        echo: cli.echo,
        ping_interval: cli.ping_interval,
        ping_timeout: cli.ping_timeout,
    };
    let session = Session::new(connection.ws, poll, inbox, sink, policy, session_options)?;
    let report = session.run();
    if let Some(handle) = repl {
        let _ = sink.flush();
        stop_repl(handle);
    }
    ending::conclude(report?, cli.quiet)
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

fn start_repl(
    cli: &Cli,
    initial: Vec<Message>,
    info: &HandshakeInfo,
    outbox: Outbox,
) -> Result<(ReplEnd, Box<dyn Sink>)> {
    let color = colored::control::SHOULD_COLORIZE.should_colorize();
    let shared = Shared::new(!cli.no_pretty);
    // Printed before the editor takes the terminal.
    let subprotocol = info
        .subprotocol
        .as_deref()
        .map(|p| format!(", subprotocol {p}"))
        .unwrap_or_default();
    println!(
        "{} {}",
        "*".yellow().bold(),
        format!(
            "connected to {}{subprotocol}; /help for commands, Ctrl-D to quit",
            info.url
        )
        .yellow()
    );
    if !initial.is_empty() {
        let _ = outbox.send(Command::Send(initial));
    }
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
    let handle = repl::start(options, info.clone(), shared.clone(), outbox, color)
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
