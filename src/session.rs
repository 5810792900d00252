//! The session: one thread that owns the WebSocket, waits on socket readiness and on
//! a waker, sends what input sources queue, reports what arrives, answers pings and
//! performs the close handshake.
//!
//! One turn of the loop: take commands (unless the socket is backed up), write them,
//! flush once; read until the socket would block; ask the policy whether the run is
//! over; flush stdout; then sleep until the socket or the waker says something
//! changed, or until the next deadline.

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant, SystemTime};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Bytes, Message, WebSocket};

use crate::connect::Tapped;
use crate::error::{Error, Result};
use crate::event::{Command, Direction, Event, Kind};
use crate::mailbox::{Inbox, Received};
use crate::output::Sink;
use crate::policy::{Finish, Policy};
use crate::signals;

const SOCKET: Token = Token(0);
/// The token input threads and the signal handler wake the session with.
pub const WAKER: Token = Token(1);

/// Read at most this many messages per turn, so that a server that floods us does
/// not starve sending and deadline checks.
const READ_BURST: usize = 4096;

#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub close_code: u16,
    pub close_reason: String,
    /// How long to wait for the server's Close after sending ours.
    pub close_timeout: Duration,
    /// `--echo`: send every data message received straight back.
    pub echo: bool,
    /// `--ping-interval`: send a keepalive ping this often.
    pub ping_interval: Option<Duration>,
    /// `--ping-timeout`: fail when a keepalive ping has no pong after this long.
    pub ping_timeout: Option<Duration>,
    /// Sent first on every connection (the `-x` messages; again after a reconnect).
    pub preamble: Vec<Message>,
}

/// What outlives one connection and is handed to the next (`--reconnect`).
pub struct Parts {
    pub poll: Poll,
    pub inbox: Inbox,
    pub policy: Policy,
}

/// The payload of keepalive pings, so that views can tell them from the user's.
pub const KEEPALIVE_PAYLOAD: &[u8] = b"wsprobe-keepalive";

/// Why wsprobe started the close handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseCause {
    Finished(Finish),
    Interrupted,
    /// stdout's reader went away (`| head -1`).
    OutputClosed,
    /// stdout could not be written for another reason.
    OutputFailed(String),
    InputFailed(String),
    /// The user asked for it (REPL `/close`, `/quit`, Ctrl-D).
    Requested,
    /// The server broke the protocol; we sent the matching close code.
    ProtocolError(String),
}

/// How the connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// wsprobe sent Close; `answered` tells whether the server's Close came back.
    ClosedByUs { cause: CloseCause, answered: bool },
    /// The server sent Close first (wsprobe answered it).
    ClosedByServer { code: Option<u16>, reason: String },
    /// The TCP connection ended without a Close frame.
    Dropped,
    /// The connection failed (reset, I/O error) while open.
    Lost(String),
}

/// What the app needs to pick the exit code.
#[derive(Debug)]
pub struct Report {
    pub outcome: Outcome,
    /// The explicit `--count`/`--expect` condition that was not met, if any.
    pub unmet: Option<String>,
    /// What was awaited when `--timeout` fired (includes the default goal).
    pub unmet_at_timeout: Option<String>,
}

enum Phase {
    Open,
    /// We sent Close and wait for the server's.
    Closing {
        cause: CloseCause,
        deadline: Instant,
    },
    /// The server sent Close; our answer is being flushed.
    PeerClosed {
        code: Option<u16>,
        reason: String,
        deadline: Instant,
    },
}

enum ReadEnd {
    /// The socket would block: everything available was read.
    Drained,
    /// The burst limit was hit; more may be waiting.
    More,
    Done(Outcome),
}

pub struct Session<'a> {
    ws: WebSocket<Tapped>,
    fd: RawFd,
    poll: Poll,
    interest: Interest,
    inbox: Inbox,
    inbox_open: bool,
    sink: &'a mut dyn Sink,
    show_outgoing: bool,
    output_closed: bool,
    policy: Policy,
    opts: SessionOptions,
    phase: Phase,
    /// The socket's send buffer is full: stop taking commands until it drains.
    write_blocked: bool,
    write_error: Option<String>,
    /// An explicit goal was met: later data messages are not shown.
    goal_reached: bool,
    /// Commands were left in the inbox because the socket backed up.
    inbox_backlog: bool,
    /// When the next keepalive ping is due.
    next_ping: Option<Instant>,
    /// When the oldest unanswered keepalive ping was sent.
    ping_outstanding: Option<Instant>,
}

impl<'a> Session<'a> {
    pub fn new(
        ws: WebSocket<Tapped>,
        poll: Poll,
        inbox: Inbox,
        sink: &'a mut dyn Sink,
        policy: Policy,
        opts: SessionOptions,
    ) -> Result<Self> {
        let fd = ws.get_ref().tcp().as_raw_fd();
        poll.registry()
            .register(&mut SourceFd(&fd), SOCKET, Interest::READABLE)
            .map_err(|e| Error::Runtime(format!("cannot watch the socket: {e}")))?;
        let show_outgoing = sink.wants_outgoing();
        let next_ping = opts.ping_interval.map(|i| Instant::now() + i);
        Ok(Session {
            ws,
            fd,
            poll,
            interest: Interest::READABLE,
            inbox,
            inbox_open: true,
            sink,
            show_outgoing,
            output_closed: false,
            policy,
            opts,
            phase: Phase::Open,
            write_blocked: false,
            write_error: None,
            goal_reached: false,
            inbox_backlog: false,
            next_ping,
            ping_outstanding: None,
        })
    }

    pub fn run(&mut self) -> Result<Report> {
        let mut events = Events::with_capacity(8);
        for message in std::mem::take(&mut self.opts.preamble) {
            self.send(message);
        }
        loop {
            let (outcome, more) = self.turn()?;
            if let Some(outcome) = outcome {
                self.flush_output();
                return Ok(Report {
                    outcome,
                    unmet: self.policy.unmet(),
                    unmet_at_timeout: self.policy.unmet_at_timeout(),
                });
            }
            let backlog =
                self.inbox_backlog && !self.write_blocked && matches!(self.phase, Phase::Open);
            let timeout = if more || backlog {
                Some(Duration::ZERO)
            } else {
                self.next_deadline()
                    .map(|d| d.saturating_duration_since(Instant::now()))
            };
            self.update_interest()?;
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(Error::Runtime(format!("cannot wait for the socket: {e}")));
                }
            }
        }
    }

    /// Give back what the next connection reuses.
    pub fn into_parts(self) -> Parts {
        let _ = self.poll.registry().deregister(&mut SourceFd(&self.fd));
        Parts {
            poll: self.poll,
            inbox: self.inbox,
            policy: self.policy,
        }
    }

    /// One turn of the loop; returns the outcome once the connection is over, and
    /// whether more input may be waiting right now (then we must not sleep).
    fn turn(&mut self) -> Result<(Option<Outcome>, bool)> {
        if signals::interrupted() {
            self.begin_close(CloseCause::Interrupted, 1000, "");
        }
        // A blocked socket may have drained since the last turn: flush first so
        // that this turn can take commands again.
        if self.write_blocked {
            self.flush_socket();
        }
        if matches!(self.phase, Phase::Open) {
            self.pull_commands();
        }
        self.flush_socket();
        let more = match self.read_burst()? {
            ReadEnd::Done(outcome) => return Ok((Some(outcome), false)),
            ReadEnd::Drained => false,
            ReadEnd::More => true,
        };
        if let Some(error) = &self.write_error {
            if matches!(self.phase, Phase::Open) {
                let outcome = Outcome::Lost(format!("connection lost while sending: {error}"));
                return Ok((Some(outcome), false));
            }
        }
        if matches!(self.phase, Phase::Open) {
            self.keepalive()?;
            if let Some(finish) = self.policy.verdict(Instant::now()) {
                let reason = self.opts.close_reason.clone();
                self.begin_close(CloseCause::Finished(finish), self.opts.close_code, &reason);
            }
        }
        self.flush_socket();
        self.flush_output();
        let now = Instant::now();
        match &self.phase {
            Phase::Open => Ok((None, more)),
            Phase::Closing { cause, deadline } => {
                if now >= *deadline || self.write_error.is_some() {
                    let outcome = Outcome::ClosedByUs {
                        cause: cause.clone(),
                        answered: false,
                    };
                    Ok((Some(outcome), false))
                } else {
                    Ok((None, more))
                }
            }
            Phase::PeerClosed {
                code,
                reason,
                deadline,
            } => {
                let answered = !self.write_blocked || self.write_error.is_some();
                if answered || now >= *deadline {
                    let outcome = Outcome::ClosedByServer {
                        code: *code,
                        reason: reason.clone(),
                    };
                    Ok((Some(outcome), false))
                } else {
                    Ok((None, more))
                }
            }
        }
    }

    /// Send a keepalive ping when one is due; fail when the last one went
    /// unanswered for `--ping-timeout`.
    fn keepalive(&mut self) -> Result<()> {
        let now = Instant::now();
        if let (Some(sent), Some(limit)) = (self.ping_outstanding, self.opts.ping_timeout) {
            if now >= sent + limit {
                return Err(self.fail(
                    1001,
                    "ping timeout",
                    format!(
                        "no pong within {} of a keepalive ping (--ping-timeout): the connection seems dead",
                        humantime::format_duration(limit)
                    ),
                ));
            }
        }
        if let (Some(due), Some(interval)) = (self.next_ping, self.opts.ping_interval) {
            if now >= due && !self.write_blocked {
                self.send(Message::Ping(Bytes::from_static(KEEPALIVE_PAYLOAD)));
                self.next_ping = Some(now + interval);
                self.ping_outstanding.get_or_insert(now);
            }
        }
        Ok(())
    }

    fn next_deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Open => [
                self.policy.next_deadline(),
                self.next_ping,
                self.ping_outstanding
                    .zip(self.opts.ping_timeout)
                    .map(|(sent, limit)| sent + limit),
            ]
            .into_iter()
            .flatten()
            .min(),
            Phase::Closing { deadline, .. } | Phase::PeerClosed { deadline, .. } => Some(*deadline),
        }
    }

    fn update_interest(&mut self) -> Result<()> {
        let wanted = if self.write_blocked {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if wanted != self.interest {
            self.poll
                .registry()
                .reregister(&mut SourceFd(&self.fd), SOCKET, wanted)
                .map_err(|e| Error::Runtime(format!("cannot watch the socket: {e}")))?;
            self.interest = wanted;
        }
        Ok(())
    }

    // ---- sending ----------------------------------------------------------------

    /// Take queued commands until the inbox is empty or the socket backs up. When
    /// it stops early, `inbox_backlog` keeps the loop from sleeping once the socket
    /// drains: the producers are blocked on the full channel and will not wake us.
    fn pull_commands(&mut self) {
        if !self.inbox_open || self.write_blocked || self.write_error.is_some() {
            return;
        }
        self.inbox.arm();
        self.inbox_backlog = false;
        loop {
            if self.write_blocked || self.write_error.is_some() {
                self.inbox_backlog = true;
                break;
            }
            if !matches!(self.phase, Phase::Open) {
                break;
            }
            match self.inbox.try_recv() {
                Received::Command(Command::Send(batch)) => {
                    for message in batch {
                        self.send(message);
                    }
                }
                Received::Command(Command::InputEnded) => {
                    self.policy.on_input_end(Instant::now());
                }
                Received::Command(Command::InputFailed(e)) => {
                    self.policy.on_input_end(Instant::now());
                    self.begin_close(CloseCause::InputFailed(e), 1000, "");
                }
                Received::Command(Command::Close { code, reason }) => {
                    self.policy.on_input_end(Instant::now());
                    self.begin_close(CloseCause::Requested, code, &reason);
                }
                Received::Empty => break,
                Received::Disconnected => {
                    self.inbox_open = false;
                    self.policy.on_input_end(Instant::now());
                    break;
                }
            }
        }
    }

    fn send(&mut self, message: Message) {
        let kind = match &message {
            Message::Text(_) => Some(Kind::Text),
            Message::Binary(_) => Some(Kind::Binary),
            Message::Ping(_) => Some(Kind::Ping),
            Message::Pong(_) => Some(Kind::Pong),
            Message::Close(_) | Message::Frame(_) => None,
        };
        if matches!(kind, Some(Kind::Text | Kind::Binary)) {
            self.policy.on_sent(1);
        }
        if self.show_outgoing {
            if let Some(kind) = kind {
                let payload = payload_of(&message);
                self.emit(&Event::Message {
                    dir: Direction::Out,
                    kind,
                    payload: &payload,
                    at: SystemTime::now(),
                });
            }
        }
        match self.ws.write(message) {
            Ok(()) => {}
            // The frame is queued; the socket is full.
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.write_blocked = true;
            }
            Err(e) => self.write_error = Some(describe(&e)),
        }
    }

    fn flush_socket(&mut self) {
        if self.write_error.is_some() {
            return;
        }
        match self.ws.flush() {
            Ok(()) => self.write_blocked = false,
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.write_blocked = true;
            }
            // After the close handshake there is nothing left to flush.
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                self.write_blocked = false;
            }
            Err(e) => self.write_error = Some(describe(&e)),
        }
    }

    /// Send our Close (once) and start waiting for the server's.
    fn begin_close(&mut self, cause: CloseCause, code: u16, reason: &str) {
        if !matches!(self.phase, Phase::Open) {
            return;
        }
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_string().into(),
        };
        self.emit(&Event::Close {
            dir: Direction::Out,
            code: Some(code),
            reason,
            at: SystemTime::now(),
        });
        if self.write_error.is_none() {
            match self.ws.close(Some(frame)) {
                Ok(()) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.write_blocked = true;
                }
                Err(e) => self.write_error = Some(describe(&e)),
            }
        }
        self.phase = Phase::Closing {
            cause,
            deadline: Instant::now() + self.opts.close_timeout,
        };
    }

    // ---- receiving --------------------------------------------------------------

    fn read_burst(&mut self) -> Result<ReadEnd> {
        if matches!(self.phase, Phase::PeerClosed { .. }) {
            return Ok(ReadEnd::Drained);
        }
        if self.opts.echo && self.write_blocked && matches!(self.phase, Phase::Open) {
            // Echoing into a full socket would grow memory without bound: let the
            // server's writes wait until ours drain.
            return Ok(ReadEnd::Drained);
        }
        for _ in 0..READ_BURST {
            let message = match self.ws.read() {
                Ok(message) => message,
                Err(e) => return self.read_error(e),
            };
            let at = SystemTime::now();
            if self.goal_reached && matches!(message, Message::Text(_) | Message::Binary(_)) {
                // --count/--expect ended the run at an earlier message: what comes
                // after it is not part of the output.
                continue;
            }
            let data = matches!(message, Message::Text(_) | Message::Binary(_));
            match message {
                Message::Text(text) => {
                    self.policy.on_received(text.as_str());
                    let echo = self.opts.echo.then(|| text.clone());
                    let payload = Bytes::from(text);
                    self.emit_in(Kind::Text, &payload, at);
                    if let Some(text) = echo {
                        self.echo(Message::Text(text));
                    }
                }
                Message::Binary(payload) => {
                    if self.policy.wants_text() {
                        self.policy.on_received(&String::from_utf8_lossy(&payload));
                    } else {
                        self.policy.on_received("");
                    }
                    self.emit_in(Kind::Binary, &payload, at);
                    if self.opts.echo {
                        self.echo(Message::Binary(payload));
                    }
                }
                Message::Ping(payload) => {
                    self.emit_in(Kind::Ping, &payload, at);
                    if matches!(self.phase, Phase::Open) && self.show_outgoing {
                        // tungstenite queued the pong; show it as part of the session.
                        self.emit(&Event::Message {
                            dir: Direction::Out,
                            kind: Kind::Pong,
                            payload: &payload,
                            at: SystemTime::now(),
                        });
                    }
                }
                Message::Pong(payload) => {
                    // Any pong shows the peer is alive.
                    self.ping_outstanding = None;
                    self.emit_in(Kind::Pong, &payload, at);
                }
                Message::Close(frame) => {
                    let (code, reason) = match &frame {
                        Some(f) => (Some(u16::from(f.code)), f.reason.as_str().to_string()),
                        None => (None, String::new()),
                    };
                    self.emit(&Event::Close {
                        dir: Direction::In,
                        code,
                        reason: &reason,
                        at,
                    });
                    match &self.phase {
                        Phase::Closing { cause, .. } => {
                            return Ok(ReadEnd::Done(Outcome::ClosedByUs {
                                cause: cause.clone(),
                                answered: true,
                            }))
                        }
                        _ => {
                            // tungstenite has queued our answer (the same code, or 1002
                            // for a code that may not be sent); `turn` flushes it.
                            let answer = code.map(|c| {
                                if CloseCode::from(c).is_allowed() {
                                    c
                                } else {
                                    1002
                                }
                            });
                            self.emit(&Event::Close {
                                dir: Direction::Out,
                                code: answer,
                                reason: &reason,
                                at: SystemTime::now(),
                            });
                            self.phase = Phase::PeerClosed {
                                code,
                                reason,
                                deadline: Instant::now() + self.opts.close_timeout,
                            };
                            return Ok(ReadEnd::Drained);
                        }
                    }
                }
                Message::Frame(_) => {}
            }
            if data && self.policy.explicit_goal_reached() {
                self.goal_reached = true;
            }
            if data && matches!(self.phase, Phase::Open) && self.policy.goal_met() {
                let reason = self.opts.close_reason.clone();
                self.begin_close(
                    CloseCause::Finished(Finish::GoalMet),
                    self.opts.close_code,
                    &reason,
                );
            }
        }
        Ok(ReadEnd::More)
    }

    /// Send back what came in, unless we are closing (a message that arrives after
    /// our Close must not be answered).
    fn echo(&mut self, message: Message) {
        if matches!(self.phase, Phase::Open) && self.write_error.is_none() {
            self.send(message);
        }
    }

    fn emit_in(&mut self, kind: Kind, payload: &Bytes, at: SystemTime) {
        self.emit(&Event::Message {
            dir: Direction::In,
            kind,
            payload,
            at,
        });
    }

    fn read_error(&mut self, e: tungstenite::Error) -> Result<ReadEnd> {
        use tungstenite::error::ProtocolError as P;
        use tungstenite::Error as E;
        let closing_cause = match &self.phase {
            Phase::Closing { cause, .. } => Some(cause.clone()),
            _ => None,
        };
        match e {
            E::Io(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(ReadEnd::Drained),
            E::Io(e) if e.kind() == io::ErrorKind::Interrupted => Ok(ReadEnd::More),
            E::ConnectionClosed
            | E::AlreadyClosed
            | E::Protocol(P::ResetWithoutClosingHandshake) => {
                Ok(ReadEnd::Done(match closing_cause {
                    Some(cause) => Outcome::ClosedByUs {
                        cause,
                        answered: false,
                    },
                    None => Outcome::Dropped,
                }))
            }
            E::Utf8(_) => {
                // The frame was consumed whole, so the stream is still in step: close
                // properly and let the server answer.
                self.begin_close(
                    CloseCause::ProtocolError(
                        "the server sent a text message that is not valid UTF-8".into(),
                    ),
                    1007,
                    "invalid UTF-8",
                );
                Ok(ReadEnd::Drained)
            }
            E::Io(e) => match closing_cause {
                // A reset after we sent Close: the server just did not bother to answer.
                Some(cause) => Ok(ReadEnd::Done(Outcome::ClosedByUs {
                    cause,
                    answered: false,
                })),
                None => Ok(ReadEnd::Done(Outcome::Lost(format!(
                    "connection lost: {}",
                    crate::connect::plain_io_message(&e)
                )))),
            },
            E::Capacity(c) => Err(self.fail(
                1009,
                "message too big",
                format!("{c} (see --max-message-size)"),
            )),
            E::Protocol(p) => Err(self.fail(
                1002,
                "protocol error",
                format!("protocol error from the server: {p}"),
            )),
            other => Err(Error::Runtime(describe(&other))),
        }
    }

    /// The stream can no longer be trusted: send a Close as a courtesy and stop.
    fn fail(&mut self, code: u16, reason: &str, message: String) -> Error {
        if matches!(self.phase, Phase::Open) && self.write_error.is_none() {
            let frame = CloseFrame {
                code: CloseCode::from(code),
                reason: reason.to_string().into(),
            };
            let _ = self.ws.close(Some(frame));
            let _ = self.ws.flush();
        }
        self.flush_output();
        Error::Runtime(message)
    }

    // ---- output -----------------------------------------------------------------

    fn emit(&mut self, event: &Event) {
        if self.output_closed {
            return;
        }
        if let Err(e) = self.sink.event(event) {
            self.output_failed(e);
        }
    }

    fn flush_output(&mut self) {
        if self.output_closed {
            return;
        }
        if let Err(e) = self.sink.flush() {
            self.output_failed(e);
        }
    }

    fn output_failed(&mut self, e: io::Error) {
        self.output_closed = true;
        let cause = if e.kind() == io::ErrorKind::BrokenPipe {
            CloseCause::OutputClosed
        } else {
            CloseCause::OutputFailed(format!("cannot write to stdout: {e}"))
        };
        self.begin_close(cause, 1000, "");
    }
}

fn payload_of(message: &Message) -> Bytes {
    match message {
        Message::Text(t) => Bytes::from(t.clone()),
        Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b.clone(),
        Message::Close(_) | Message::Frame(_) => Bytes::new(),
    }
}

fn describe(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Io(io) => crate::connect::plain_io_message(io),
        other => other.to_string(),
    }
}
