//! Wiring one run: which input sources feed the session, which sink shows its
//! events, which policy ends it, and what the ending means as an exit status.

use mio::{Poll, Waker};
use std::io::{self, IsTerminal, Read};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};
use tungstenite::{Bytes, Message};

use crate::cli::Cli;
use crate::connect::{self, ConnectOptions, TlsOptions, UpgradeOptions};
use crate::error::{Error, Result};
use crate::event::{Command, Event};
use crate::input::lines::{self, LineOptions};
use crate::mailbox::{self, Outbox};
use crate::output::{write_handshake, Jsonl, Plain, Sink};
use crate::policy::{Finish, Goals, Policy, Wait};
use crate::session::{CloseCause, Outcome, Report, Session, SessionOptions, WAKER};
use crate::{signals, target};

/// How long wsprobe waits for the server to answer its Close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

pub fn run(cli: Cli) -> Result<()> {
    let mut sink: Box<dyn Sink> = if cli.jsonl {
        Box::new(Jsonl::new(io::stdout(), cli.show_secrets))
    } else {
        Box::new(Plain::new(io::stdout(), if cli.null { 0 } else { b'\n' }))
    };
    let result = run_with(&cli, sink.as_mut());
    if let Err(e) = &result {
        // Machines reading --jsonl get the failure in the stream too.
        if cli.jsonl && !matches!(e, Error::Interrupted) {
            let message = e.to_string();
            let _ = sink.event(&Event::Error {
                message: &message,
                exit_code: e.exit_code(),
                at: SystemTime::now(),
            });
        }
    }
    let _ = sink.flush();
    result
}

fn run_with(cli: &Cli, sink: &mut dyn Sink) -> Result<()> {
    let target = target::parse(&cli.url).map_err(Error::Usage)?;
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
    };
    let prepared = connect::prepare(target, connect_options)?;
    let initial = initial_messages(cli)?;
    let stdin_used_by_x = cli.execute.iter().any(|m| m == "@-");
    // With -x, a terminal on stdin is not read (the messages are the input); --echo
    // has no input at all.
    let read_stdin =
        !stdin_used_by_x && !cli.echo && (!io::stdin().is_terminal() || cli.execute.is_empty());

    let connection = connect::connect(prepared)?;

    let poll = Poll::new().map_err(|e| Error::Runtime(format!("cannot create a poller: {e}")))?;
    let waker = Waker::new(poll.registry(), WAKER)
        .map(Arc::new)
        .map_err(|e| Error::Runtime(format!("cannot create a waker: {e}")))?;
    signals::install(waker.clone())
        .map_err(|e| Error::Runtime(format!("cannot install signal handlers: {e}")))?;
    let (outbox, inbox) = mailbox::channel(waker);
    start_input(cli, initial, read_stdin, outbox)?;

    if cli.verbose > 0 {
        let _ = write_handshake(&mut io::stderr().lock(), &connection.info, cli.show_secrets);
    }
    // A reader that is already gone is noticed by the session at its first flush.
    let _ = sink.event(&Event::Open(&connection.info));

    let mut goals = Goals {
        count: cli.count,
        expect: cli.expect.clone(),
        wait: cli.wait,
        timeout: cli.timeout,
    };
    if cli.echo && goals.wait.is_none() {
        // Echo mode serves until the server closes (or a goal/timeout says stop).
        goals.wait = Some(Wait::Forever);
    }
    let policy = Policy::new(goals, Instant::now());
    let session_options = SessionOptions {
        close_code: cli.close_code,
        close_reason: cli.close_reason.clone(),
        close_timeout: CLOSE_TIMEOUT,
        echo: cli.echo,
    };
    let session = Session::new(connection.ws, poll, inbox, sink, policy, session_options)?;
    let report = session.run()?;
    conclude(report)
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

/// The `-x` messages: literal text, `@FILE` (the file's contents as one message),
/// `@-` (all of stdin as one message); `@@…` is a literal starting with `@`.
fn initial_messages(cli: &Cli) -> Result<Vec<Message>> {
    cli.execute
        .iter()
        .map(|arg| {
            let (bytes, source) = match arg.strip_prefix('@') {
                Some(rest) if rest.starts_with('@') => (rest.as_bytes().to_vec(), None),
                Some("-") => (read_all_stdin()?, Some("stdin".to_string())),
                Some(path) => (
                    std::fs::read(path).map_err(|e| {
                        Error::Usage(format!(
                            "cannot read '{path}' (-x @FILE): {}",
                            connect::plain_io_message(&e)
                        ))
                    })?,
                    Some(format!("'{path}'")),
                ),
                None => (arg.as_bytes().to_vec(), None),
            };
            if cli.binary {
                return Ok(Message::Binary(Bytes::from(bytes)));
            }
            String::from_utf8(bytes)
                .map(|text| Message::Text(text.into()))
                .map_err(|_| {
                    Error::Usage(format!(
                        "{} is not valid UTF-8; send it with --binary",
                        source.unwrap_or_else(|| "the message".into())
                    ))
                })
        })
        .collect()
}

fn read_all_stdin() -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    io::stdin()
        .lock()
        .read_to_end(&mut buf)
        .map_err(|e| Error::Usage(format!("cannot read stdin (-x @-): {e}")))?;
    Ok(buf)
}

fn start_input(cli: &Cli, initial: Vec<Message>, read_stdin: bool, outbox: Outbox) -> Result<()> {
    if !initial.is_empty() {
        // The channel is empty here, so this cannot block.
        let _ = outbox.send(Command::Send(initial));
    }
    if !read_stdin {
        let _ = outbox.send(Command::InputEnded);
        return Ok(());
    }
    let opts = LineOptions {
        separator: if cli.null { 0 } else { b'\n' },
        binary: cli.binary,
    };
    thread::Builder::new()
        .name("stdin".into())
        .spawn(move || lines::pump(io::stdin().lock(), opts, &outbox))
        .map_err(|e| Error::Runtime(format!("cannot start the stdin reader: {e}")))?;
    Ok(())
}

/// Turn how the session ended into success or the error that sets the exit code.
fn conclude(report: Report) -> Result<()> {
    let Report { outcome, unmet } = report;
    match outcome {
        Outcome::ClosedByUs { cause, answered } => {
            match cause {
                CloseCause::Finished(Finish::GoalMet) => {}
                CloseCause::Finished(Finish::WaitOver) => {
                    if let Some(unmet) = unmet {
                        return Err(Error::Timeout(format!("--wait elapsed: {unmet}")));
                    }
                }
                CloseCause::Finished(Finish::TimedOut) => {
                    if let Some(unmet) = unmet {
                        return Err(Error::Timeout(format!("timed out (--timeout): {unmet}")));
                    }
                }
                CloseCause::Interrupted => return Err(Error::Interrupted),
                CloseCause::OutputClosed => {}
                CloseCause::OutputFailed(m) | CloseCause::ProtocolError(m) => {
                    return Err(Error::Runtime(m))
                }
                CloseCause::InputFailed(m) => return Err(Error::Usage(m)),
            }
            if !answered {
                eprintln!("wsprobe: warning: the server did not answer the Close frame");
            }
            Ok(())
        }
        Outcome::ClosedByServer { code, reason } => {
            let described = describe_close(code, &reason);
            if let Some(unmet) = unmet {
                return Err(Error::Timeout(format!(
                    "the server closed the connection ({described}) before the goal was met: {unmet}"
                )));
            }
            match code {
                None | Some(1000) | Some(1001) => Ok(()),
                Some(_) => Err(Error::ServerClosed(format!(
                    "the server closed the connection: {described}"
                ))),
            }
        }
        Outcome::Dropped => {
            let what = "the server closed the connection without a Close frame";
            match unmet {
                Some(unmet) => Err(Error::Timeout(format!(
                    "{what} before the goal was met: {unmet}"
                ))),
                None => Err(Error::ServerClosed(what.to_string())),
            }
        }
    }
}

fn describe_close(code: Option<u16>, reason: &str) -> String {
    match (code, reason.is_empty()) {
        (None, _) => "no close code".to_string(),
        (Some(code), true) => code.to_string(),
        (Some(code), false) => format!("{code} {reason}"),
    }
}
