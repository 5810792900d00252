//! The session: the one thread that owns the WebSocket. It waits on socket
//! readiness and on a waker (input threads, the stdout writer and the signal
//! handler wake it), sends what input sources queue, reports what arrives, answers
//! pings and performs the close handshake. It lives for the whole run: across
//! reconnections it keeps the inbox, the output, the policy and the poller, and it
//! also waits out the pauses between connections.
//!
//! One turn of the loop does bounded work, so that the deadline and signals are
//! looked at every few milliseconds whatever the peer or stdout does:
//! take commands (unless the socket is backed up), write them, flush once; read
//! at most a burst of messages and a budget of bytes; ask the policy whether the
//! run is over; flush output; then sleep until the socket or the waker says
//! something changed, or until the next deadline.
//!
//! Memory is bounded by configuration, not by the peer:
//! - input waits in the bounded mailbox; no command is taken while the socket's
//!   send buffer is full (a peer that does not read stops wsprobe's input);
//! - while the send buffer is full, echoes are not read, and at most
//!   [`PINGS_WHILE_BLOCKED`] pings (whose pongs queue up) before reading stops
//!   until the peer reads again;
//! - received messages wait for a slow stdout up to [`crate::output::outlet::OUTPUT_BACKLOG`] bytes
//!   (plus one turn's reading); past that, wsprobe stops reading the socket.

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant, SystemTime};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Bytes, Message, WebSocket};

use crate::connect::deflate::Failure;
use crate::connect::{describe_error, Connection, Tapped};
use crate::ending::{EndedBy, Ending, WhyClosed};
use crate::error::{Error, Result};
use crate::event::{data_len, payload_of, Command, Direction, Event, Kind};
use crate::exec::{Pool, Reaction};
use crate::feedback::{SilenceHint, Upload};
use crate::mailbox::{Inbox, Received};
use crate::output::stdout::Gauge;
use crate::output::{Outlet, Sink};
use crate::policy::{Policy, Verdict};
use crate::script::{Next, Runner};
use crate::signals;
use crate::stats::RunStats;
use crate::text::escape;

const SOCKET: Token = Token(0);
/// The token input threads, the stdout writer and the signal handler wake the
/// session with.
pub const WAKER: Token = Token(1);

/// Read at most this many messages per turn…
const READ_BURST: usize = 4096;
/// …and at most this many bytes (frames that never complete a message, e.g.
/// endless empty continuations, count too).
const READ_BUDGET: usize = 256 << 10;
/// While the socket's send buffer is full, read at most this many pings (each
/// queues a pong) before reading stops until the peer reads.
const PINGS_WHILE_BLOCKED: usize = 1024;

/// How long wsprobe waits for the peer's Close after sending its own…
const CLOSE_WAIT: Duration = Duration::from_secs(3);
/// …after a signal (the user wants out)…
const CLOSE_WAIT_INTERRUPTED: Duration = Duration::from_secs(1);
/// …and past the `--timeout` deadline, which is a hard wall.
const GRACE: Duration = Duration::from_millis(250);

#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub close_code: u16,
    pub close_reason: String,
    /// `--echo`: send every data message received straight back.
    pub echo: bool,
    /// `--ping-interval`: send a keepalive ping this often.
    pub ping_interval: Option<Duration>,
    /// `--ping-timeout`: fail when a keepalive ping has no pong after this long.
    pub ping_timeout: Option<Duration>,
    /// Sent first on every connection (the `-x` messages; again after a reconnect).
    pub preamble: Vec<Message>,
    /// The other side in messages: "server", or "client" with `--listen`.
    pub peer: &'static str,
    /// `--reply REGEX REPLY`: the first rule whose regex matches answers.
    pub replies: Vec<(regex::Regex, String)>,
    /// `--jq FILTER`: show the filter's outputs instead of JSON messages.
    pub jq: Option<crate::jq::Jq>,
    /// `--exec CMD`: run a command for each received message.
    pub exec: Option<crate::exec::ExecOptions>,
    /// A person watches stderr (a terminal, not `-q`, not the REPL): hint when the
    /// peer stays silent, show the progress of large sends.
    pub feedback: bool,
    /// In the REPL on a terminal: where the bytes written are published, for the
    /// line editor's progress bar of a large `/file`.
    pub gauge: Option<std::sync::Arc<crate::feedback::SendGauge>>,
}

/// The payload of keepalive pings, so that views can tell them from the user's.
pub const KEEPALIVE_PAYLOAD: &[u8] = b"wsprobe-keepalive";

/// How a pause between connections ended.
#[derive(Debug, PartialEq, Eq)]
pub enum PauseEnd {
    Elapsed,
    /// `--timeout` passed.
    TimedOut,
    Interrupted,
}

/// The state of one connection.
enum Phase {
    Open,
    /// We sent Close and wait for the peer's.
    Closing {
        cause: WhyClosed,
        deadline: Instant,
    },
    /// The peer sent Close; our answer is being flushed.
    PeerClosed {
        code: Option<u16>,
        reason: String,
        deadline: Instant,
    },
}

enum ReadEnd {
    /// The socket would block: everything available was read.
    Drained,
    /// A limit of this turn was hit (or reading is paused); more may be waiting.
    More,
    Done(EndedBy),
}

/// One open connection and what only it has.
struct Link {
    ws: WebSocket<Tapped>,
    fd: RawFd,
    interest: Interest,
    phase: Phase,
    /// The socket's send buffer is full: stop taking commands until it drains.
    write_blocked: bool,
    write_error: Option<String>,
    /// Pings read since the send buffer filled up.
    pings_while_blocked: usize,
    /// When the next keepalive ping is due.
    next_ping: Option<Instant>,
    /// When the oldest unanswered keepalive ping was sent.
    ping_outstanding: Option<Instant>,
}

pub struct Session {
    poll: Poll,
    events: Events,
    inbox: Inbox,
    inbox_open: bool,
    /// Commands were left in the inbox because the socket backed up.
    inbox_backlog: bool,
    /// The sink, and whether stdout keeps up.
    outlet: Outlet,
    policy: Policy,
    opts: SessionOptions,
    /// An explicit goal was met: later data messages are not shown.
    goal_reached: bool,
    /// The run's hard wall: `--timeout` plus the close grace.
    wall: Option<Instant>,
    /// `--exec`: the commands run for received messages.
    exec: Option<Pool>,
    /// `--script`: the steps still to run. With a script, the script is the
    /// input: it ends when both the inbox and the script are done, and no reply
    /// is awaited per message sent (expect steps say what to wait for).
    script: Option<Runner>,
    /// The inbox's sources (stdin, the REPL) have ended.
    inbox_ended: bool,
    /// What `--stats` reports: every connection's traffic and round trips.
    stats: RunStats,
    /// The terminal's hint when nothing happens for a while.
    silence: SilenceHint,
    /// The terminal's progress bar of a large send.
    upload: Upload,
}

impl Session {
    pub fn new(
        poll: Poll,
        inbox: Inbox,
        sink: Box<dyn Sink>,
        output: Option<Gauge>,
        policy: Policy,
        opts: SessionOptions,
    ) -> Session {
        let wall = policy.deadline().map(|d| d + GRACE);
        let silence = SilenceHint::new(opts.feedback && !opts.echo, Instant::now());
        let upload = Upload::new(opts.feedback);
        Session {
            poll,
            events: Events::with_capacity(8),
            inbox,
            inbox_open: true,
            inbox_backlog: false,
            outlet: Outlet::new(sink, output),
            policy,
            opts,
            goal_reached: false,
            wall,
            exec: None,
            script: None,
            inbox_ended: false,
            stats: RunStats::default(),
            silence,
            upload,
        }
    }

    /// Run `--exec`'s command for every data message received from now on.
    pub fn set_exec(&mut self, pool: Pool) {
        self.exec = Some(pool);
    }

    /// The sink so far (a `Nothing` in its place), to wrap into another.
    pub fn take_sink(&mut self) -> Box<dyn Sink> {
        self.outlet.take_sink()
    }

    /// `--script`: run these steps after the `-x` messages of the first connection.
    pub fn set_script(&mut self, script: Runner) {
        self.script = Some(script);
    }

    /// What the run still waits for: the script's current step, the goal.
    pub fn unmet(&self) -> Option<String> {
        let parts: Vec<String> = [
            self.script.as_ref().and_then(Runner::unmet),
            self.policy.unmet(),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// Show events through another sink from now on (the REPL's, once it exists).
    pub fn set_sink(&mut self, sink: Box<dyn Sink>) {
        self.outlet.set_sink(sink);
    }

    /// What is known once the endpoint is: the `-x` messages (sent first on every
    /// connection) and what the peer is called.
    pub fn configure(&mut self, preamble: Vec<Message>, peer: &'static str) {
        self.opts.preamble = preamble;
        self.opts.peer = peer;
    }

    /// Write out what the sink holds.
    pub fn flush(&mut self) {
        self.flush_output();
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The run's statistics so far (`--stats`).
    pub fn stats(&self) -> &RunStats {
        &self.stats
    }

    /// Ending an event that does not come from a connection (reconnects, errors).
    pub fn report(&mut self, event: &Event) {
        self.emit(event);
        self.flush_output();
    }

    /// Run one connection until it is over.
    pub fn run_connection(&mut self, connection: Connection) -> Result<Ending> {
        self.stats.opened(&connection.info, Instant::now());
        self.emit(&Event::Open(&connection.info));
        if let Some(gauge) = &self.opts.gauge {
            gauge.connected();
        }
        let ws = connection.ws;
        let fd = ws.get_ref().transport().as_raw_fd();
        self.poll
            .registry()
            .register(&mut SourceFd(&fd), SOCKET, Interest::READABLE)
            .map_err(|e| Error::Runtime(format!("cannot watch the socket: {e}").into()))?;
        let mut link = Link {
            ws,
            fd,
            interest: Interest::READABLE,
            phase: Phase::Open,
            write_blocked: false,
            write_error: None,
            pings_while_blocked: 0,
            next_ping: self.opts.ping_interval.map(|i| Instant::now() + i),
            ping_outstanding: None,
        };
        let result = self.drive(&mut link);
        self.upload.finish();
        if let Some(gauge) = &self.opts.gauge {
            // A large /file still followed by the editor is over with the connection.
            gauge.connected();
        }
        let _ = self.poll.registry().deregister(&mut SourceFd(&link.fd));
        self.flush_output();
        result.map(|ended_by| Ending {
            ended_by,
            unmet: self.unmet(),
            timeout: self.policy.timeout(),
        })
    }

    fn drive(&mut self, link: &mut Link) -> Result<EndedBy> {
        for message in self.opts.preamble.clone() {
            self.send(link, message);
        }
        loop {
            let (ended_by, more) = self.turn(link)?;
            if let Some(ended_by) = ended_by {
                return Ok(ended_by);
            }
            let backlog =
                self.inbox_backlog && !link.write_blocked && matches!(link.phase, Phase::Open);
            let timeout = if more || backlog {
                Some(Duration::ZERO)
            } else {
                self.next_deadline(link)
                    .map(|d| d.saturating_duration_since(Instant::now()))
            };
            self.update_interest(link)?;
            self.wait(timeout)?;
        }
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Result<()> {
        match self.poll.poll(&mut self.events, timeout) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(Error::Runtime(
                format!("cannot wait for the socket: {e}").into(),
            )),
            _ => Ok(()),
        }
    }

    /// Wait between connections until `until`, waking for signals and for the
    /// `--timeout` deadline. Input that arrives meanwhile waits in the inbox.
    pub fn pause(&mut self, until: Instant) -> Result<PauseEnd> {
        loop {
            if signals::interrupted() {
                return Ok(PauseEnd::Interrupted);
            }
            let now = Instant::now();
            if self.policy.verdict(now) == Some(Verdict::TimedOut) {
                return Ok(PauseEnd::TimedOut);
            }
            if now >= until {
                return Ok(PauseEnd::Elapsed);
            }
            let wake = self.policy.deadline().map_or(until, |d| d.min(until));
            self.wait(Some(wake.saturating_duration_since(now)))?;
        }
    }

    /// Once the run is over: wait until stdout's reader has taken everything, but
    /// no longer than the `--timeout` wall, and only briefly after a signal (a
    /// second signal exits at once anyway).
    pub fn drain_output(&mut self) {
        self.flush_output();
        let mut until = self.wall;
        loop {
            if self.outlet.drained() {
                return;
            }
            if signals::interrupted() {
                let soon = Instant::now() + GRACE;
                until = Some(until.map_or(soon, |u| u.min(soon)));
            }
            let now = Instant::now();
            if until.is_some_and(|u| now >= u) {
                return;
            }
            let timeout = until.map(|u| u.saturating_duration_since(now));
            // Wake at least every 250 ms to see a signal that raced the wait.
            let timeout = Some(timeout.map_or(GRACE, |t| t.min(GRACE)));
            if self.wait(timeout).is_err() {
                return;
            }
            self.flush_output();
        }
    }

    /// One turn of the loop; returns the ended_by once the connection is over, and
    /// whether more may be waiting right now (then we must not sleep).
    fn turn(&mut self, link: &mut Link) -> Result<(Option<EndedBy>, bool)> {
        if signals::interrupted() {
            self.upload.interrupted();
            self.begin_close(link, WhyClosed::Interrupted, 1000, "");
        }
        // A blocked socket may have drained since the last turn: flush first so
        // that this turn can take commands again.
        if link.write_blocked {
            self.flush_socket(link);
        }
        if matches!(link.phase, Phase::Open) {
            self.pull_commands(link);
            self.exec_reactions(link);
            // Before reading: a greeting the peer sends at once meets a first
            // `expect` step.
            self.run_script(link);
        }
        self.flush_socket(link);
        self.outlet.check_backlog();
        let more = match self.read_burst(link)? {
            ReadEnd::Done(ended_by) => return Ok((Some(ended_by), false)),
            ReadEnd::Drained => false,
            ReadEnd::More => true,
        };
        if let Some(error) = &link.write_error {
            if matches!(link.phase, Phase::Open) {
                let ended_by = EndedBy::Lost(format!("connection lost while sending: {error}"));
                return Ok((Some(ended_by), false));
            }
        }
        if matches!(link.phase, Phase::Open) {
            self.keepalive(link)?;
            self.hint_silence(link);
            if let Some(finish) = self.policy.verdict(Instant::now()) {
                let reason = self.opts.close_reason.clone();
                self.begin_close(
                    link,
                    WhyClosed::Finished(finish),
                    self.opts.close_code,
                    &reason,
                );
            }
        }
        self.flush_socket(link);
        self.upload
            .progress(link.ws.get_ref().written(), !link.write_blocked);
        if let Some(gauge) = &self.opts.gauge {
            gauge.publish(link.ws.get_ref().written());
        }
        self.flush_output();
        if let Some(cause) = self.outlet.take_failure() {
            self.begin_close(link, cause, 1000, "");
            self.flush_socket(link);
        }
        let now = Instant::now();
        match &link.phase {
            Phase::Open => Ok((None, more)),
            Phase::Closing { cause, deadline } => {
                if now >= *deadline || link.write_error.is_some() {
                    let ended_by = EndedBy::ClosedByUs {
                        cause: cause.clone(),
                        answered: false,
                    };
                    Ok((Some(ended_by), false))
                } else {
                    Ok((None, more))
                }
            }
            Phase::PeerClosed {
                code,
                reason,
                deadline,
            } => {
                let answered = !link.write_blocked || link.write_error.is_some();
                if answered || now >= *deadline {
                    let ended_by = EndedBy::ClosedByServer {
                        code: *code,
                        reason: reason.clone(),
                    };
                    Ok((Some(ended_by), false))
                } else {
                    Ok((None, more))
                }
            }
        }
    }

    /// Send a keepalive ping when one is due; fail when the last one went
    /// unanswered for `--ping-timeout`.
    fn keepalive(&mut self, link: &mut Link) -> Result<()> {
        let now = Instant::now();
        if let (Some(sent), Some(limit)) = (link.ping_outstanding, self.opts.ping_timeout) {
            if now >= sent + limit {
                return Err(self.fail(
                    link,
                    1001,
                    "ping timeout",
                    format!(
                        "no pong within {} of a keepalive ping (--ping-timeout): the connection seems dead",
                        humantime::format_duration(limit)
                    ),
                ));
            }
        }
        if let (Some(due), Some(interval)) = (link.next_ping, self.opts.ping_interval) {
            if now >= due && !link.write_blocked {
                self.send(link, Message::Ping(Bytes::from_static(KEEPALIVE_PAYLOAD)));
                link.next_ping = Some(now + interval);
                link.ping_outstanding.get_or_insert(now);
            }
        }
        Ok(())
    }

    /// A person at the terminal has seen nothing happen for a while: say once
    /// what wsprobe waits for (not while sending, or while stdout holds up reading).
    fn hint_silence(&mut self, link: &Link) {
        let now = Instant::now();
        if self.silence.due().is_none_or(|due| now < due)
            || link.write_blocked
            || self.upload.active()
            || self.outlet.backed_up()
        {
            return;
        }
        if let Some(awaited) = self.policy.awaited() {
            self.silence.take(now);
            eprintln!(
                "{}",
                SilenceHint::line(&awaited, self.policy.timeout().is_some())
            );
        }
    }

    fn next_deadline(&self, link: &Link) -> Option<Instant> {
        match &link.phase {
            Phase::Open => [
                self.policy.next_deadline(),
                self.script.as_ref().and_then(Runner::deadline),
                self.silence.due().filter(|_| self.policy.awaiting()),
                self.upload.due(),
                link.next_ping,
                link.ping_outstanding
                    .zip(self.opts.ping_timeout)
                    .map(|(sent, limit)| sent + limit),
            ]
            .into_iter()
            .flatten()
            .min(),
            Phase::Closing { deadline, .. } | Phase::PeerClosed { deadline, .. } => Some(*deadline),
        }
    }

    fn update_interest(&mut self, link: &mut Link) -> Result<()> {
        let wanted = if link.write_blocked {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if wanted != link.interest {
            self.poll
                .registry()
                .reregister(&mut SourceFd(&link.fd), SOCKET, wanted)
                .map_err(|e| Error::Runtime(format!("cannot watch the socket: {e}").into()))?;
            link.interest = wanted;
        }
        Ok(())
    }

    // ---- sending ----------------------------------------------------------------

    /// Take queued commands until the inbox is empty or the socket backs up. When
    /// it stops early, `inbox_backlog` keeps the loop from sleeping once the socket
    /// drains: the producers are blocked on the full channel and will not wake us.
    fn pull_commands(&mut self, link: &mut Link) {
        if !self.inbox_open || link.write_blocked || link.write_error.is_some() {
            return;
        }
        self.inbox.arm();
        self.inbox_backlog = false;
        loop {
            if link.write_blocked || link.write_error.is_some() {
                self.inbox_backlog = true;
                break;
            }
            if !matches!(link.phase, Phase::Open) {
                break;
            }
            match self.inbox.try_recv() {
                Received::Command(Command::Send(batch)) => {
                    for message in batch {
                        self.send(link, message);
                    }
                }
                Received::Command(Command::InputEnded) => self.inbox_end(),
                Received::Command(Command::InputFailed(e)) => {
                    self.policy.on_input_end(Instant::now());
                    self.begin_close(link, WhyClosed::InputFailed(e), 1000, "");
                }
                Received::Command(Command::Close { code, reason }) => {
                    self.policy.on_input_end(Instant::now());
                    self.begin_close(link, WhyClosed::Requested, code, &reason);
                }
                // The multi-client listener's commands; the REPL sends them only there.
                Received::Command(
                    Command::SendTo { .. } | Command::Kick { .. } | Command::ListClients,
                ) => {}
                Received::Empty => break,
                Received::Disconnected => {
                    self.inbox_open = false;
                    self.inbox_end();
                    break;
                }
            }
        }
    }

    /// The inbox's input is over; the run's input is over once the script (if
    /// any) is done too.
    fn inbox_end(&mut self) {
        self.inbox_ended = true;
        self.silence.activity();
        if self.script.as_ref().is_none_or(Runner::is_done) {
            self.policy.on_input_end(Instant::now());
        }
    }

    /// `--script`: run the steps that can run now, up to one that waits.
    fn run_script(&mut self, link: &mut Link) {
        while matches!(link.phase, Phase::Open) && link.write_error.is_none() {
            let Some(script) = self.script.as_mut() else {
                return;
            };
            match script.next(Instant::now()) {
                Next::Send(message) => self.send(link, message),
                Next::Ping(payload) => self.send(link, Message::Ping(payload)),
                Next::Close { code, reason } => {
                    let code = code.unwrap_or(self.opts.close_code);
                    let reason = reason.unwrap_or_else(|| self.opts.close_reason.clone());
                    self.begin_close(link, WhyClosed::Requested, code, &reason);
                }
                Next::Failed(message) => {
                    self.begin_close(link, WhyClosed::StepUnmet(message), 1000, "");
                }
                Next::Waiting => return,
                Next::Done => {
                    if self.inbox_ended {
                        self.policy.on_input_end(Instant::now());
                    }
                    return;
                }
            }
        }
    }

    fn send(&mut self, link: &mut Link, message: Message) {
        self.send_message(link, message, true);
    }

    /// Send a reaction (`--reply`): shown like any sent message, but no reply is
    /// awaited for it.
    fn send_uncounted(&mut self, link: &mut Link, message: Message) {
        self.send_message(link, message, false);
    }

    fn send_message(&mut self, link: &mut Link, message: Message, counted: bool) {
        let kind = Kind::of(&message);
        if counted && self.script.is_none() && matches!(kind, Some(Kind::Text | Kind::Binary)) {
            self.policy.on_sent(1);
        }
        self.silence.activity();
        let shown = kind
            .filter(|_| self.outlet.wants_outgoing())
            .map(|kind| (kind, payload_of(&message)));
        // For --stats, payload bytes, without copying payloads (a ping's is kept
        // to match its pong).
        let data = data_len(&message);
        let ping = match &message {
            Message::Ping(p) => Some(p.clone()),
            _ => None,
        };
        // permessage-deflate compresses data messages here, before tungstenite.
        let (message, wire) = link.ws.get_mut().encode(message);
        if let Some(len) = data {
            // Progress counts what goes on the wire (compressed, if it is).
            let on_wire = wire.map_or(len, |w| w.size as usize);
            self.upload.queued(on_wire, link.ws.get_ref().written());
        }
        if let Some((kind, payload)) = shown {
            self.emit(&Event::Message {
                dir: Direction::Out,
                kind,
                payload: &payload,
                at: SystemTime::now(),
                wire,
            });
        }
        match link.ws.write(message) {
            Ok(()) => {}
            // The frame is queued; the socket is full.
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.set_write_blocked(link, true);
            }
            Err(e) => link.write_error = Some(describe_error(&e)),
        }
        if link.write_error.is_none() {
            if let Some(len) = data {
                self.stats.sent_data(len);
            }
            if let Some(payload) = ping {
                self.stats.ping_sent(payload, Instant::now());
            }
        }
        self.report_frames(link);
    }

    fn set_write_blocked(&mut self, link: &mut Link, blocked: bool) {
        if !blocked {
            link.pings_while_blocked = 0;
        }
        link.write_blocked = blocked;
    }

    fn flush_socket(&mut self, link: &mut Link) {
        if link.write_error.is_some() {
            return;
        }
        match link.ws.flush() {
            Ok(()) => self.set_write_blocked(link, false),
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.set_write_blocked(link, true);
            }
            // After the close handshake there is nothing left to flush.
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                self.set_write_blocked(link, false);
            }
            Err(e) => link.write_error = Some(describe_error(&e)),
        }
        self.report_frames(link);
    }

    /// Send our Close (once) and start waiting for the peer's: a few seconds
    /// normally, one after a signal, and never past the `--timeout` wall.
    fn begin_close(&mut self, link: &mut Link, cause: WhyClosed, code: u16, reason: &str) {
        if !matches!(link.phase, Phase::Open) {
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
        if link.write_error.is_none() {
            match link.ws.close(Some(frame)) {
                Ok(()) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.set_write_blocked(link, true);
                }
                Err(e) => link.write_error = Some(describe_error(&e)),
            }
            self.report_frames(link);
        }
        let now = Instant::now();
        let wait = match cause {
            // While stdout is stalled the answer cannot be read: do not pretend.
            _ if self.outlet.backed_up() => GRACE,
            WhyClosed::Interrupted => CLOSE_WAIT_INTERRUPTED,
            WhyClosed::Finished(Verdict::TimedOut) => GRACE,
            _ => CLOSE_WAIT,
        };
        link.phase = Phase::Closing {
            cause,
            deadline: self.walled(now + wait),
        };
    }

    /// `at`, but not past the `--timeout` wall.
    fn walled(&self, at: Instant) -> Instant {
        self.wall.map_or(at, |wall| wall.min(at))
    }

    // ---- receiving --------------------------------------------------------------

    /// Whether reading must wait this turn, and why not otherwise.
    fn read_paused(&self, link: &Link) -> bool {
        if self.outlet.backed_up() || self.exec_full(link) {
            return true;
        }
        if !link.write_blocked {
            return false;
        }
        // Echoing into a full socket would grow memory without bound, and so
        // would the pongs of a peer that pings without reading.
        ((self.opts.echo || !self.opts.replies.is_empty() || self.exec.is_some())
            && matches!(link.phase, Phase::Open))
            || link.pings_while_blocked >= PINGS_WHILE_BLOCKED
    }

    fn read_burst(&mut self, link: &mut Link) -> Result<ReadEnd> {
        if matches!(link.phase, Phase::PeerClosed { .. }) {
            return Ok(ReadEnd::Drained);
        }
        if self.read_paused(link) {
            // The socket's writability or stdout's writer wakes us.
            return Ok(ReadEnd::Drained);
        }
        link.ws.get_mut().refill(READ_BUDGET);
        for _ in 0..READ_BURST {
            let message = link.ws.read();
            self.report_frames(link);
            let end = match message {
                Ok(Message::Text(text)) => {
                    let payload = Bytes::from(text.clone());
                    let wire = link.ws.get_mut().take_wire();
                    self.on_data(link, payload, Some(text), wire)
                }
                Ok(Message::Binary(payload)) => {
                    let wire = link.ws.get_mut().take_wire();
                    self.on_data(link, payload, None, wire)
                }
                Ok(Message::Ping(payload)) => self.on_ping(link, &payload),
                Ok(Message::Pong(payload)) => {
                    // Any pong shows the peer is alive.
                    link.ping_outstanding = None;
                    self.stats.pong_received(&payload, Instant::now());
                    self.emit_in(Kind::Pong, &payload, SystemTime::now(), None);
                    None
                }
                Ok(Message::Close(frame)) => {
                    return self.close_received(link, frame, SystemTime::now())
                }
                Ok(Message::Frame(_)) => None,
                Err(e) => return self.read_error(link, e),
            };
            if let Some(end) = end {
                return Ok(end);
            }
        }
        Ok(ReadEnd::More)
    }

    /// A text message (`text` is its payload as checked UTF-8) or a binary one:
    /// count it, show it, echo it, and close once it meets the goal. `Some` when
    /// reading must stop for this turn.
    fn on_data(
        &mut self,
        link: &mut Link,
        payload: Bytes,
        text: Option<tungstenite::Utf8Bytes>,
        wire: Option<crate::event::Wire>,
    ) -> Option<ReadEnd> {
        self.silence.activity();
        let kind = if text.is_some() {
            Kind::Text
        } else {
            Kind::Binary
        };
        // Counted as read from the wire, shown or not.
        self.stats.received_data(payload.len());
        if self.goal_reached {
            // --count/--expect ended the run at an earlier message: what comes
            // after it is not part of the output.
            return None;
        }
        let script_looks = self.script.as_ref().is_some_and(Runner::wants_text);
        let lossy;
        let as_text = match &text {
            Some(text) => text.as_str(),
            None if self.policy.wants_text() || script_looks => {
                lossy = String::from_utf8_lossy(&payload);
                &lossy
            }
            None => "",
        };
        self.policy.on_received(as_text);
        let step_met = script_looks
            && self
                .script
                .as_mut()
                .is_some_and(|script| script.on_received(as_text));
        self.show_in(kind, &payload, wire);
        if let Some(failure) = self.policy.take_failure() {
            // The failing message is the last one shown.
            self.goal_reached = true;
            self.begin_close(link, WhyClosed::FailedOn(failure), 1000, "");
            return Some(ReadEnd::Drained);
        }
        if !self.opts.replies.is_empty() {
            self.auto_reply(link, text.as_ref().map(|t| t.as_str()), &payload);
        }
        if let Some(pool) = &mut self.exec {
            if matches!(link.phase, Phase::Open) {
                pool.submit(text.is_some(), payload.clone());
            }
        }
        if self.opts.echo {
            let message = match text {
                Some(text) => Message::Text(text),
                None => Message::Binary(payload),
            };
            self.echo(link, message);
        }
        if step_met {
            self.run_script(link);
        }
        if self.policy.explicit_goal_reached() {
            self.goal_reached = true;
        }
        if matches!(link.phase, Phase::Open) && self.policy.goal_met() {
            let reason = self.opts.close_reason.clone();
            self.begin_close(
                link,
                WhyClosed::Finished(Verdict::GoalMet),
                self.opts.close_code,
                &reason,
            );
        }
        (self.outlet.backed_up() || self.exec_full(link)).then_some(ReadEnd::Drained)
    }

    /// `--exec` has as many messages in flight as it takes: reading waits until
    /// a command finishes (a worker wakes us).
    fn exec_full(&self, link: &Link) -> bool {
        matches!(link.phase, Phase::Open) && self.exec.as_ref().is_some_and(|p| !p.has_room())
    }

    /// Send what `--exec`'s commands printed, in the order the messages came;
    /// a failed command is a warning, or the end of the run with --exec-strict.
    fn exec_reactions(&mut self, link: &mut Link) {
        let Some(pool) = &mut self.exec else {
            return;
        };
        let strict = pool.strict();
        for reaction in pool.take_ready() {
            if !matches!(link.phase, Phase::Open) || link.write_error.is_some() {
                return;
            }
            match reaction {
                Reaction::Send(message) => self.send_uncounted(link, message),
                Reaction::Nothing => {}
                Reaction::Failed(why) if strict => {
                    self.begin_close(link, WhyClosed::ExecFailed(why), 1000, "");
                }
                Reaction::Failed(why) => eprintln!("wsprobe: {why}"),
            }
        }
    }

    /// Show a received data message; with `--jq`, a JSON message is shown as the
    /// filter's outputs (each a text message), others as they are.
    fn show_in(&mut self, kind: Kind, payload: &Bytes, wire: Option<crate::event::Wire>) {
        let at = SystemTime::now();
        let outputs = self
            .opts
            .jq
            .as_ref()
            .and_then(|jq| crate::jq::parse(payload).map(|v| jq.outputs(&v)));
        match outputs {
            Some(outputs) => {
                for output in outputs {
                    self.emit_in(Kind::Text, &Bytes::from(output), at, wire);
                }
            }
            None => self.emit_in(kind, payload, at, wire),
        }
    }

    /// `--reply`: answer a matching message (binary ones are matched as lossy
    /// text). Replies are not replies awaited by the default goal.
    fn auto_reply(&mut self, link: &mut Link, text: Option<&str>, payload: &Bytes) {
        if !matches!(link.phase, Phase::Open) || link.write_error.is_some() {
            return;
        }
        let lossy;
        let text = match text {
            Some(t) => t,
            None => {
                lossy = String::from_utf8_lossy(payload);
                &lossy
            }
        };
        if let Some(answer) = reply_to(&self.opts.replies, text) {
            self.send_uncounted(link, Message::Text(answer.into()));
        }
    }

    /// A ping: tungstenite has queued the pong. `Some` when reading must stop.
    fn on_ping(&mut self, link: &mut Link, payload: &Bytes) -> Option<ReadEnd> {
        if link.write_blocked {
            link.pings_while_blocked += 1;
        }
        self.emit_in(Kind::Ping, payload, SystemTime::now(), None);
        if matches!(link.phase, Phase::Open) && self.outlet.wants_outgoing() {
            self.emit(&Event::Message {
                dir: Direction::Out,
                kind: Kind::Pong,
                payload,
                at: SystemTime::now(),
                wire: None,
            });
        }
        self.read_paused(link).then_some(ReadEnd::Drained)
    }

    /// The peer's Close: the end of the connection (or the answer to ours).
    fn close_received(
        &mut self,
        link: &mut Link,
        frame: Option<CloseFrame>,
        at: SystemTime,
    ) -> Result<ReadEnd> {
        // tungstenite replaces a code that may not be sent with 1002; the tap saw
        // what was on the wire.
        let (code, reason) = match link.ws.get_ref().last_close() {
            Some((code, reason)) => (*code, reason.clone()),
            None => match &frame {
                Some(f) => (Some(u16::from(f.code)), f.reason.as_str().to_string()),
                None => (None, String::new()),
            },
        };
        self.emit(&Event::Close {
            dir: Direction::In,
            code,
            reason: &reason,
            at,
        });
        if let Some(code) = code.filter(|c| !wsprobe::slash::is_sendable_close_code(*c)) {
            let peer = self.opts.peer;
            let message = format!(
                "the {peer} sent an invalid close code {code} (a code that may not appear on the wire, RFC 6455 §7.4)"
            );
            if matches!(link.phase, Phase::Open) {
                // tungstenite has queued Close 1002 as the answer.
                self.emit(&Event::Close {
                    dir: Direction::Out,
                    code: Some(1002),
                    reason: "Protocol violation",
                    at: SystemTime::now(),
                });
                self.flush_socket(link);
            }
            self.flush_output();
            return Err(Error::Runtime(message.into()));
        }
        if let Phase::Closing { cause, .. } = &link.phase {
            return Ok(ReadEnd::Done(EndedBy::ClosedByUs {
                cause: cause.clone(),
                answered: true,
            }));
        }
        // tungstenite has queued our answer (the same code); `turn` flushes it.
        self.emit(&Event::Close {
            dir: Direction::Out,
            code,
            reason: &reason,
            at: SystemTime::now(),
        });
        link.phase = Phase::PeerClosed {
            code,
            reason,
            deadline: self.walled(Instant::now() + CLOSE_WAIT),
        };
        Ok(ReadEnd::Drained)
    }

    /// Send back what came in, unless we are closing (a message that arrives after
    /// our Close must not be answered).
    fn echo(&mut self, link: &mut Link, message: Message) {
        if matches!(link.phase, Phase::Open) && link.write_error.is_none() {
            self.send(link, message);
        }
    }

    fn emit_in(
        &mut self,
        kind: Kind,
        payload: &Bytes,
        at: SystemTime,
        wire: Option<crate::event::Wire>,
    ) {
        self.emit(&Event::Message {
            dir: Direction::In,
            kind,
            payload,
            at,
            wire,
        });
    }

    fn read_error(&mut self, link: &mut Link, e: tungstenite::Error) -> Result<ReadEnd> {
        use tungstenite::error::ProtocolError as P;
        use tungstenite::Error as E;
        let closing_cause = match &link.phase {
            Phase::Closing { cause, .. } => Some(cause.clone()),
            _ => None,
        };
        let peer = self.opts.peer;
        if let Some(failure) = link.ws.get_ref().deflate_failure().cloned() {
            // The codec under tungstenite could not inflate what came in.
            let (code, reason) = match failure {
                Failure::TooBig { .. } => (1009, "message too big"),
                Failure::Corrupt(_) => (1007, "invalid compressed data"),
            };
            return Err(self.fail(link, code, reason, format!("the {peer} sent {failure}")));
        }
        match e {
            E::Io(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if link.ws.get_ref().exhausted() {
                    Ok(ReadEnd::More)
                } else {
                    Ok(ReadEnd::Drained)
                }
            }
            E::Io(e) if e.kind() == io::ErrorKind::Interrupted => Ok(ReadEnd::More),
            E::ConnectionClosed
            | E::AlreadyClosed
            | E::Protocol(P::ResetWithoutClosingHandshake) => {
                Ok(ReadEnd::Done(match closing_cause {
                    Some(cause) => EndedBy::ClosedByUs {
                        cause,
                        answered: false,
                    },
                    None => EndedBy::Dropped,
                }))
            }
            E::Utf8(_) => {
                // The frame was consumed whole, so the stream is still in step: close
                // properly and let the peer answer.
                let what = match link.ws.get_ref().last_close() {
                    Some((code, reason)) if reason.contains('\u{fffd}') => {
                        self.emit(&Event::Close {
                            dir: Direction::In,
                            code: *code,
                            reason,
                            at: SystemTime::now(),
                        });
                        format!("the {peer} sent a Close frame whose reason is not valid UTF-8")
                    }
                    _ => format!("the {peer} sent a text message that is not valid UTF-8"),
                };
                self.begin_close(link, WhyClosed::ProtocolError(what), 1007, "invalid UTF-8");
                Ok(ReadEnd::Drained)
            }
            E::Io(e) => match closing_cause {
                // A reset after we sent Close: the peer just did not bother to answer.
                Some(cause) => Ok(ReadEnd::Done(EndedBy::ClosedByUs {
                    cause,
                    answered: false,
                })),
                None => Ok(ReadEnd::Done(EndedBy::Lost(format!(
                    "connection lost: {}",
                    crate::connect::plain_io_message(&e)
                )))),
            },
            E::Capacity(c) => Err(self.fail(
                link,
                1009,
                "message too big",
                format!("{c} (see --max-message-size)"),
            )),
            E::Protocol(p) => Err(self.fail(
                link,
                1002,
                "protocol error",
                format!("protocol error from the {peer}: {}", escape(&p.to_string())),
            )),
            other => Err(Error::Runtime(describe_error(&other).into())),
        }
    }

    /// The stream can no longer be trusted: send a Close as a courtesy and stop.
    fn fail(&mut self, link: &mut Link, code: u16, reason: &str, message: String) -> Error {
        if matches!(link.phase, Phase::Open) && link.write_error.is_none() {
            let frame = CloseFrame {
                code: CloseCode::from(code),
                reason: reason.to_string().into(),
            };
            let _ = link.ws.close(Some(frame));
            let _ = link.ws.flush();
            self.report_frames(link);
        }
        self.flush_output();
        Error::Runtime(message.into())
    }

    // ---- output -----------------------------------------------------------------

    /// `-vv`: the frame headers the tap saw since the last call, as events.
    fn report_frames(&mut self, link: &mut Link) {
        if !link.ws.get_ref().tracing() {
            return;
        }
        let at = SystemTime::now();
        for (dir, frame) in link.ws.get_mut().take_traced() {
            self.emit(&Event::Frame {
                dir,
                frame: &frame,
                at,
            });
        }
    }

    fn emit(&mut self, event: &Event) {
        self.outlet.emit(event);
    }

    fn flush_output(&mut self) {
        self.outlet.flush();
    }
}

/// `--reply REGEX REPLY`: the first rule whose regex matches `text`, its
/// reply with `$1`-style references expanded.
pub fn reply_to(replies: &[(regex::Regex, String)], text: &str) -> Option<String> {
    replies.iter().find_map(|(regex, reply)| {
        let caps = regex.captures(text)?;
        let mut expanded = String::new();
        caps.expand(reply, &mut expanded);
        Some(expanded)
    })
}
