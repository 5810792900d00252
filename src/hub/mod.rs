//! The multi-client listener (`--listen` without `--once`): one loop on one
//! thread owns the listening socket, every client's upgrade and every client's
//! WebSocket, driven by readiness like the client session.
//!
//! What stdin (or `-x`) gives is broadcast to every connected client; what each
//! client sends is written out, named by its id in the JSON forms (`--jsonl`,
//! `--record`) and with `--tag`. `--echo`, `--reply` and `--exec` answer each
//! client on its own connection.
//!
//! Memory is bounded by configuration, not by the clients:
//! - each client's send queue (what its socket has not taken) may grow to
//!   [`QUEUE_LIMIT`]; while any client's queue is over it, no input is taken, so
//!   the others are held up, not flooded, and nothing is dropped;
//! - a client whose queue stays over the limit for [`STALL_LIMIT`] is closed with
//!   1008 and reported, and input flows again;
//! - clients are read only while stdout keeps up (as in the client session).

mod client;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};
use tungstenite::{Bytes, Message};

use crate::connect::{ListenOptions, Listener, Upgrade, Upgrading};
use crate::ending::{EndedBy, Ending, WhyClosed};
use crate::error::{Error, Result};
use crate::event::{data_len, payload_of, Command, Direction, Event, Kind};
use crate::exec::{Pool, Reaction};
use crate::mailbox::{Inbox, Received};
use crate::output::Outlet;
use crate::policy::{Policy, Verdict};
use crate::signals;
use crate::stats::RunStats;
use client::{Client, Incoming, Phase, ReadEnd};

/// A client's send queue may hold this many bytes its socket has not taken…
pub const QUEUE_LIMIT: u64 = 1 << 20;
/// …and a client whose queue stays over it this long is closed with 1008.
pub const STALL_LIMIT: Duration = Duration::from_secs(2);

/// Read at most this many messages and bytes per client per turn.
const READ_BURST: usize = 1024;
const READ_BUDGET: usize = 256 << 10;
/// Take at most this many input batches per turn.
const COMMAND_BURST: usize = 64;
/// Accept at most this many connections per turn.
const ACCEPT_BURST: usize = 64;
/// While a client's send buffer is full, read at most this many of its pings.
const PINGS_WHILE_BLOCKED: usize = 1024;
/// How long a client has to answer our Close…
const CLOSE_WAIT: Duration = Duration::from_secs(3);
/// …after a signal…
const CLOSE_WAIT_INTERRUPTED: Duration = Duration::from_secs(1);
/// …and past the `--timeout` deadline.
const GRACE: Duration = Duration::from_millis(250);

const LISTENER: Token = Token(2);
/// Connections' tokens start here (the waker is `session::WAKER`).
const FIRST_CONNECTION: usize = 16;

/// What the hub does for each client, as plain data.
#[derive(Debug, Clone, Default)]
pub struct HubOptions {
    /// `--echo`: send each client's data messages back to it.
    pub echo: bool,
    /// `--reply REGEX REPLY`, per client.
    pub replies: Vec<(regex::Regex, String)>,
    /// `-x`: sent to each client when it connects.
    pub greeting: Vec<Message>,
    pub close_code: u16,
    pub close_reason: String,
    /// `--max-clients`: clients beyond this many are refused with 1013.
    pub max_clients: Option<usize>,
    /// `-q`: no notes on stderr about clients coming and going.
    pub quiet: bool,
    /// The REPL drives the hub: notes go above its prompt (through the sink),
    /// and what is typed while no client is connected is refused, not held.
    pub repl: bool,
    /// `-v` (pipe mode): each client's upgrade request and our 101 on stderr.
    pub verbose: bool,
    pub show_secrets: bool,
}

enum Conn {
    Upgrading(Box<Upgrading>),
    Client(Box<Client>),
}

pub struct Hub {
    poll: Poll,
    events: Events,
    listener: Listener,
    listen: Rc<ListenOptions>,
    /// `ws://ADDR:PORT`, without the path.
    base: String,
    conns: BTreeMap<usize, Conn>,
    next_key: usize,
    next_id: u32,
    inbox: Inbox,
    inbox_open: bool,
    outlet: Outlet,
    policy: Policy,
    opts: HubOptions,
    stats: RunStats,
    /// An explicit goal was met: later messages are not shown.
    goal_reached: bool,
    /// Every client is being closed, for this reason, until this moment.
    ending: Option<(WhyClosed, Instant)>,
    /// Connections with more to read than one turn took, or that were ready.
    ready: BTreeSet<usize>,
    scratch: Vec<Incoming>,
    /// `--exec`: one pool for every client; its reactions come back in the
    /// order the messages were submitted, so `exec_for` says whose each is.
    exec: Option<Pool>,
    exec_for: VecDeque<u32>,
}

impl Hub {
    pub fn new(
        poll: Poll,
        listener: Listener,
        listen: ListenOptions,
        inbox: Inbox,
        outlet: Outlet,
        mut policy: Policy,
        opts: HubOptions,
    ) -> Result<Hub> {
        let cannot =
            |e: io::Error| Error::Runtime(format!("cannot watch the listener: {e}").into());
        listener.set_nonblocking(true).map_err(cannot)?;
        poll.registry()
            .register(
                &mut SourceFd(&listener.as_raw_fd()),
                LISTENER,
                Interest::READABLE,
            )
            .map_err(cannot)?;
        // There is no "after the input" for a server: goals count from the start.
        policy.on_input_end(Instant::now());
        let base = listener.base(false);
        Ok(Hub {
            poll,
            events: Events::with_capacity(256),
            listener,
            listen: Rc::new(listen),
            base,
            conns: BTreeMap::new(),
            next_key: FIRST_CONNECTION,
            next_id: 1,
            inbox,
            inbox_open: true,
            outlet,
            policy,
            opts,
            stats: RunStats::default(),
            goal_reached: false,
            ending: None,
            ready: BTreeSet::new(),
            scratch: Vec::new(),
            exec: None,
            exec_for: VecDeque::new(),
        })
    }

    /// `--exec`: run the command for every data message of every client, and
    /// send what it prints back to that client.
    pub fn set_exec(&mut self, pool: Pool) {
        self.exec = Some(pool);
    }

    /// Serve until a signal, `--timeout`, a goal, or stdout failing ends the run.
    pub fn serve(&mut self) -> Result<Ending> {
        loop {
            let now = Instant::now();
            if signals::interrupted() {
                self.end(WhyClosed::Interrupted, now);
            }
            if self.ending.is_none() {
                self.accept_new();
            }
            self.advance_upgrades(now);
            let backlog = self.take_commands();
            self.exec_reactions();
            let more = self.read_clients();
            self.flush_clients(now);
            if let Some(verdict) = self.policy.verdict(now) {
                self.end(WhyClosed::Finished(verdict), now);
            }
            self.retire_finished(now, false);
            // After the departures, so that they are shown at once.
            self.outlet.flush();
            if let Some(cause) = self.outlet.take_failure() {
                self.end(cause, now);
            }
            if let Some((cause, deadline)) = &self.ending {
                if self.conns.is_empty() || now >= *deadline {
                    let cause = cause.clone();
                    // Whoever has not finished its close handshake is cut off,
                    // and reported as every client is.
                    self.retire_finished(now, true);
                    self.outlet.flush();
                    self.drop_all();
                    return Ok(Ending {
                        ended_by: EndedBy::ClosedByUs {
                            cause,
                            answered: true,
                        },
                        unmet: self.policy.unmet(),
                        timeout: self.policy.timeout(),
                    });
                }
            }
            self.update_interests()?;
            let timeout = if more || backlog {
                Some(Duration::ZERO)
            } else {
                self.next_deadline()
                    .map(|d| d.saturating_duration_since(Instant::now()))
            };
            self.wait(timeout)?;
        }
    }

    /// The run's statistics (`--stats`).
    pub fn stats(&self) -> &RunStats {
        &self.stats
    }

    /// An event that does not come from a client (the run's error, its statistics).
    pub fn report(&mut self, event: &Event) {
        self.outlet.emit(event);
        self.outlet.flush();
    }

    /// Once the run is over: wait until stdout's reader has taken everything,
    /// but not past the `--timeout` wall, and only briefly after a signal.
    pub fn drain_output(&mut self) {
        self.outlet.flush();
        let wall = self.policy.deadline().map(|d| d + GRACE);
        loop {
            if self.outlet.drained() {
                return;
            }
            let now = Instant::now();
            let until = if signals::interrupted() {
                Some(wall.map_or(now + GRACE, |w| w.min(now + GRACE)))
            } else {
                wall
            };
            if until.is_some_and(|u| now >= u) {
                return;
            }
            let timeout = until.map_or(GRACE, |u| u.saturating_duration_since(now).min(GRACE));
            if self.wait(Some(timeout)).is_err() {
                return;
            }
            self.outlet.flush();
        }
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Result<()> {
        match self.poll.poll(&mut self.events, timeout) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(Error::Runtime(
                format!("cannot wait for the clients: {e}").into(),
            )),
            _ => {
                for event in self.events.iter() {
                    if event.token().0 >= FIRST_CONNECTION {
                        self.ready.insert(event.token().0);
                    }
                }
                Ok(())
            }
        }
    }

    /// Start closing every client (once): the run is over.
    fn end(&mut self, cause: WhyClosed, now: Instant) {
        if self.ending.is_some() {
            return;
        }
        let wait = match cause {
            WhyClosed::Interrupted => CLOSE_WAIT_INTERRUPTED,
            WhyClosed::Finished(Verdict::TimedOut) => GRACE,
            WhyClosed::OutputClosed | WhyClosed::OutputFailed(_) => GRACE,
            _ => CLOSE_WAIT,
        };
        let deadline = self.walled(now + wait);
        let (code, reason) = match cause {
            // The server is going away (RFC 6455 §7.4.1).
            WhyClosed::Interrupted => (1001, "going away".to_string()),
            _ => (self.opts.close_code, self.opts.close_reason.clone()),
        };
        self.ending = Some((cause, deadline));
        let keys: Vec<usize> = self.conns.keys().copied().collect();
        for key in keys {
            self.close_client(key, code, &reason, deadline);
        }
    }

    fn walled(&self, at: Instant) -> Instant {
        self.policy
            .deadline()
            .map_or(at, |d| at.min((d + GRACE).max(Instant::now())))
    }

    // ---- connections coming in ------------------------------------------------

    fn accept_new(&mut self) {
        for _ in 0..ACCEPT_BURST {
            let (tcp, peer) = match self.listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of file descriptors, say: the next turn tries again.
                    self.note(&format!(
                        "cannot accept a client: {}",
                        crate::connect::plain_io_message(&e)
                    ));
                    return;
                }
            };
            let upgrading = match Upgrading::start(tcp, peer, &self.listen, &self.base) {
                Ok(upgrading) => upgrading,
                Err(e) => {
                    self.note(&e.to_string());
                    continue;
                }
            };
            let key = self.next_key;
            self.next_key += 1;
            let registered = self.poll.registry().register(
                &mut SourceFd(&upgrading.fd),
                Token(key),
                Interest::READABLE | Interest::WRITABLE,
            );
            if registered.is_ok() {
                self.conns.insert(key, Conn::Upgrading(Box::new(upgrading)));
                self.ready.insert(key);
            }
        }
    }

    fn advance_upgrades(&mut self, now: Instant) {
        let keys: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| matches!(c, Conn::Upgrading(_)))
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            let Some(Conn::Upgrading(upgrading)) = self.conns.get_mut(&key) else {
                continue;
            };
            if now >= upgrading.deadline {
                let peer = upgrading.peer.clone();
                self.forget(key);
                self.note(&format!(
                    "the client at {peer} did not complete a WebSocket upgrade: timed out"
                ));
                continue;
            }
            if !self.ready.remove(&key) {
                continue;
            }
            match upgrading.advance() {
                Upgrade::Waiting => {}
                Upgrade::Failed(e) => {
                    self.forget(key);
                    self.note(&e.to_string());
                }
                Upgrade::Done(connection) => self.welcome(key, *connection, now),
            }
        }
    }

    /// A client finished its upgrade: give it an id and its greeting, or refuse
    /// it when `--max-clients` are connected.
    fn welcome(&mut self, key: usize, connection: crate::connect::Connection, now: Instant) {
        let open = self.open_clients();
        let full = self.opts.max_clients.is_some_and(|max| open >= max);
        if full || self.ending.is_some() {
            let peer = connection.info.peer.clone().unwrap_or_default();
            let mut client = Client::new(0, connection);
            client.refused = true;
            client.close(1013, "try again later", now + CLOSE_WAIT);
            client.flush();
            self.conns.insert(key, Conn::Client(Box::new(client)));
            if let (false, Some(max)) = (self.ending.is_some(), self.opts.max_clients) {
                self.note(&format!(
                    "client from {peer} refused with 1013: --max-clients {max} reached"
                ));
            }
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut client = Client::new(id, connection);
        self.stats.opened(&client.info, now);
        if !self.opts.quiet && !self.opts.repl {
            eprintln!(
                "wsprobe: {}",
                crate::output::human::client_connected(id, &client.info)
            );
        }
        if self.opts.verbose && !self.opts.repl {
            let _ = crate::output::write_handshake(
                &mut io::stderr().lock(),
                &client.info,
                self.opts.show_secrets,
            );
        }
        self.emit(id, &Event::Open(&client.info));
        for message in self.opts.greeting.clone() {
            self.send_to(&mut client, message);
        }
        client.flush();
        self.conns.insert(key, Conn::Client(Box::new(client)));
        self.ready.insert(key);
    }

    fn open_clients(&self) -> usize {
        self.clients().filter(|c| c.is_open()).count()
    }

    fn clients(&self) -> impl Iterator<Item = &Client> {
        self.conns.values().filter_map(|c| match c {
            Conn::Client(client) if !client.refused => Some(client.as_ref()),
            _ => None,
        })
    }

    // ---- input: broadcast -----------------------------------------------------

    /// Take input while some client is connected and no client's queue is full;
    /// returns whether input is left that the next turn should take at once.
    fn take_commands(&mut self) -> bool {
        if !self.inbox_open || self.ending.is_some() {
            return false;
        }
        let blocked = |hub: &Hub| {
            (hub.open_clients() == 0 && !hub.opts.repl)
                || hub
                    .clients()
                    .any(|c| c.is_open() && c.queued() > QUEUE_LIMIT)
        };
        if blocked(self) {
            return false;
        }
        self.inbox.arm();
        for _ in 0..COMMAND_BURST {
            if self.ending.is_some() {
                return false;
            }
            match self.inbox.try_recv() {
                Received::Command(Command::Send(batch)) => {
                    for message in batch {
                        self.broadcast(message);
                    }
                    if blocked(self) {
                        // The producers wait on the full channel: look again once
                        // the queues drain (the sockets wake us).
                        return false;
                    }
                }
                Received::Command(Command::SendTo { client, messages }) => {
                    self.send_to_one(client, messages);
                }
                Received::Command(Command::Kick {
                    client,
                    code,
                    reason,
                }) => match self.key_of(client) {
                    Some(key) => self.close_client(key, code, &reason, Instant::now() + CLOSE_WAIT),
                    None => self.note(&format!("no client {client} (see /clients)")),
                },
                Received::Command(Command::ListClients) => {
                    let table = self.client_table();
                    self.note(&table);
                }
                Received::Command(Command::InputEnded) => {}
                Received::Command(Command::InputFailed(e)) => {
                    self.end(WhyClosed::InputFailed(e), Instant::now());
                }
                Received::Command(Command::Close { code, reason }) => {
                    self.opts.close_code = code;
                    self.opts.close_reason = reason;
                    self.end(WhyClosed::Requested, Instant::now());
                }
                Received::Empty => return false,
                Received::Disconnected => {
                    self.inbox_open = false;
                    return false;
                }
            }
        }
        true
    }

    /// The key of client `id`, if it is still open.
    fn key_of(&self, id: u32) -> Option<usize> {
        self.conns.iter().find_map(|(key, conn)| match conn {
            Conn::Client(c) if c.id == id && !c.refused && c.is_open() => Some(*key),
            _ => None,
        })
    }

    /// `/to`: messages for one client.
    fn send_to_one(&mut self, id: u32, messages: Vec<Message>) {
        let Some(key) = self.key_of(id) else {
            self.note(&format!("no client {id} (see /clients): not sent"));
            return;
        };
        if let Some(Conn::Client(mut client)) = self.conns.remove(&key) {
            for message in messages {
                self.send_to(&mut client, message);
            }
            client.flush();
            self.conns.insert(key, Conn::Client(client));
        }
    }

    /// `/clients`: one line per client.
    fn client_table(&self) -> String {
        let clients: Vec<&Client> = self.clients().filter(|c| c.is_open()).collect();
        if clients.is_empty() {
            return format!("no client connected; clients connect to {}/", self.base);
        }
        let mut table = format!(
            "{} connected:",
            crate::text::count(clients.len() as u64, "client")
        );
        for c in clients {
            let path = crate::output::human::request_path(&c.info);
            table.push_str(&format!(
                "\n  {:>3}  {:<21}  {:<12}  up {:<8}  in {} ({} B)  out {} ({} B)",
                c.id,
                c.info.peer.as_deref().unwrap_or("?"),
                path,
                humantime::format_duration(Duration::from_secs(c.connected_at.elapsed().as_secs()))
                    .to_string(),
                c.messages_in,
                c.bytes_in,
                c.messages_out,
                c.bytes_out
            ));
        }
        table
    }

    /// One message to every open client, shown once (without a client id).
    fn broadcast(&mut self, message: Message) {
        if self.opts.repl && self.open_clients() == 0 {
            self.note("no client is connected: not sent");
            return;
        }
        let mut wire = None;
        for conn in self.conns.values_mut() {
            let Conn::Client(client) = conn else { continue };
            if client.refused || !client.is_open() {
                continue;
            }
            if let Some(w) = client.send(message.clone()) {
                wire = Some(w);
            }
            if let Some(len) = data_len(&message) {
                self.stats.sent_data(len);
            }
        }
        if self.outlet.wants_outgoing() {
            if let Some(kind) = Kind::of(&message) {
                let payload = payload_of(&message);
                self.outlet.emit(&Event::Message {
                    dir: Direction::Out,
                    kind,
                    payload: &payload,
                    at: SystemTime::now(),
                    wire,
                });
            }
        }
    }

    /// A message to one client (its greeting, its echo, its reply), shown with
    /// its id.
    fn send_to(&mut self, client: &mut Client, message: Message) {
        let shown = self
            .outlet
            .wants_outgoing()
            .then(|| Kind::of(&message).map(|k| (k, payload_of(&message))))
            .flatten();
        if let Some(len) = data_len(&message) {
            self.stats.sent_data(len);
        }
        let wire = client.send(message);
        if let Some((kind, payload)) = shown {
            self.emit(
                client.id,
                &Event::Message {
                    dir: Direction::Out,
                    kind,
                    payload: &payload,
                    at: SystemTime::now(),
                    wire,
                },
            );
        }
    }

    // ---- clients' messages ----------------------------------------------------

    /// Read every client that may have something; returns whether one has more.
    fn read_clients(&mut self) -> bool {
        if self.outlet.backed_up() || self.exec.as_ref().is_some_and(|p| !p.has_room()) {
            // stdout's writer, or a finished command, wakes us.
            return false;
        }
        let mut more = false;
        let keys: Vec<usize> = std::mem::take(&mut self.ready).into_iter().collect();
        for key in keys {
            let Some(Conn::Client(mut client)) = self.conns.remove(&key) else {
                continue;
            };
            if self.read_paused(&client) {
                self.conns.insert(key, Conn::Client(client));
                continue;
            }
            let mut incoming = std::mem::take(&mut self.scratch);
            let end = client.read(&mut incoming, READ_BURST, READ_BUDGET);
            for item in incoming.drain(..) {
                self.on_incoming(&mut client, item);
            }
            let exec_full = self.exec.as_ref().is_some_and(|p| !p.has_room());
            self.scratch = incoming;
            if matches!(end, ReadEnd::More)
                && !matches!(client.phase, Phase::PeerClosed { .. } | Phase::Over(_))
            {
                more = true;
                self.ready.insert(key);
            }
            self.conns.insert(key, Conn::Client(client));
            if self.outlet.backed_up() || exec_full {
                // The rest wait; they stay marked as ready.
                more = false;
                self.ready.extend(self.conns.keys().copied());
                break;
            }
        }
        more
    }

    /// Whether a client's socket must not be read this turn: echoing into a
    /// full send buffer, or queueing pongs to a client that does not read,
    /// would grow memory.
    fn read_paused(&self, client: &Client) -> bool {
        if matches!(client.phase, Phase::PeerClosed { .. } | Phase::Over(_)) {
            return true;
        }
        if !client.write_blocked {
            return false;
        }
        ((self.opts.echo || !self.opts.replies.is_empty() || self.exec.is_some())
            && client.is_open())
            || client.pings_while_blocked >= PINGS_WHILE_BLOCKED
    }

    fn on_incoming(&mut self, client: &mut Client, item: Incoming) {
        let now = Instant::now();
        let at = SystemTime::now();
        let id = client.id;
        if client.refused {
            // Only its answer to our 1013 matters.
            if let Incoming::Close { .. } | Incoming::Gone(_) | Incoming::Broke { .. } = item {
                client.phase = Phase::Over(String::new());
            }
            return;
        }
        match item {
            Incoming::Data {
                payload,
                text,
                wire,
            } => self.on_data(client, payload, text, wire),
            Incoming::Ping(payload) => {
                self.emit_in(id, Kind::Ping, &payload, None, at);
                if client.is_open() && self.outlet.wants_outgoing() {
                    self.emit(
                        id,
                        &Event::Message {
                            dir: Direction::Out,
                            kind: Kind::Pong,
                            payload: &payload,
                            at,
                            wire: None,
                        },
                    );
                }
            }
            Incoming::Pong(payload) => self.emit_in(id, Kind::Pong, &payload, None, at),
            Incoming::Close { code, reason } => {
                self.emit(
                    id,
                    &Event::Close {
                        dir: Direction::In,
                        code,
                        reason: &reason,
                        at,
                    },
                );
                match client.phase {
                    Phase::Open => {
                        // tungstenite has queued our answer (the same code).
                        self.emit(
                            id,
                            &Event::Close {
                                dir: Direction::Out,
                                code,
                                reason: &reason,
                                at,
                            },
                        );
                        client.phase = Phase::PeerClosed {
                            code,
                            reason,
                            deadline: self.walled(now + CLOSE_WAIT),
                        };
                    }
                    Phase::Closing { code: ours, .. } => {
                        // The answer to ours: the connection is over.
                        client.phase = Phase::Over(format!("closed by wsprobe with {ours}"));
                    }
                    Phase::PeerClosed { .. } | Phase::Over(_) => {}
                }
            }
            Incoming::Gone(how) => {
                self.gone(client, &how);
            }
            Incoming::Broke { code, reason, why } => {
                self.note(&format!("client {id} {why}; closing it with {code}"));
                self.close_one(client, code, reason, now + CLOSE_WAIT);
            }
        }
    }

    fn on_data(
        &mut self,
        client: &mut Client,
        payload: Bytes,
        text: Option<tungstenite::Utf8Bytes>,
        wire: Option<crate::event::Wire>,
    ) {
        self.stats.received_data(payload.len());
        if self.goal_reached {
            return;
        }
        let lossy;
        let as_text = match &text {
            Some(text) => text.as_str(),
            None if self.policy.wants_text() || !self.opts.replies.is_empty() => {
                lossy = String::from_utf8_lossy(&payload);
                &lossy
            }
            None => "",
        };
        self.policy.on_received(as_text);
        let kind = if text.is_some() {
            Kind::Text
        } else {
            Kind::Binary
        };
        self.emit_in(client.id, kind, &payload, wire, SystemTime::now());
        if let Some(failure) = self.policy.take_failure() {
            self.goal_reached = true;
            self.end(WhyClosed::FailedOn(failure), Instant::now());
            return;
        }
        if client.is_open() {
            if let Some(answer) = crate::session::reply_to(&self.opts.replies, as_text) {
                self.send_to(client, Message::Text(answer.into()));
            }
            if let Some(pool) = &mut self.exec {
                pool.submit(text.is_some(), payload.clone());
                self.exec_for.push_back(client.id);
            }
            if self.opts.echo {
                let message = match text {
                    Some(text) => Message::Text(text),
                    None => Message::Binary(payload),
                };
                self.send_to(client, message);
            }
        }
        if self.policy.explicit_goal_reached() {
            self.goal_reached = true;
        }
    }

    /// Send what `--exec`'s commands printed to the clients whose messages they
    /// ran for; a failed command is a note, or the end of the run with
    /// `--exec-strict`.
    fn exec_reactions(&mut self) {
        let Some(pool) = &mut self.exec else {
            return;
        };
        let strict = pool.strict();
        let reactions = pool.take_ready();
        for reaction in reactions {
            let Some(id) = self.exec_for.pop_front() else {
                break;
            };
            match reaction {
                Reaction::Send(message) => self.send_to_one(id, vec![message]),
                Reaction::Nothing => {}
                Reaction::Failed(why) if strict => {
                    self.end(WhyClosed::ExecFailed(why), Instant::now());
                }
                Reaction::Failed(why) => self.note(&format!("client {id}: {why}")),
            }
        }
    }

    // ---- writing, slow clients, endings ---------------------------------------

    /// Flush every client; close one whose queue has stayed full too long.
    fn flush_clients(&mut self, now: Instant) {
        let keys: Vec<usize> = self.conns.keys().copied().collect();
        for key in keys {
            let Some(Conn::Client(client)) = self.conns.get_mut(&key) else {
                continue;
            };
            client.flush();
            let queued = client.queued();
            if queued > QUEUE_LIMIT {
                client.full_since.get_or_insert(now);
            } else if queued < QUEUE_LIMIT / 2 {
                client.full_since = None;
            }
            let stalled = client.is_open()
                && client
                    .full_since
                    .is_some_and(|since| now >= since + STALL_LIMIT);
            if stalled {
                let id = client.id;
                let mut client = match self.conns.remove(&key) {
                    Some(Conn::Client(client)) => client,
                    _ => continue,
                };
                self.note(&format!(
                    "client {id} is too slow: its send queue stayed over {} KiB for {}; closing it with 1008",
                    QUEUE_LIMIT >> 10,
                    humantime::format_duration(STALL_LIMIT)
                ));
                // Its Close waits behind what it does not read: give it little time.
                self.close_one(&mut client, 1008, "too slow: send queue full", now + GRACE);
                client.flush();
                self.conns.insert(key, Conn::Client(client));
            }
        }
    }

    fn close_client(&mut self, key: usize, code: u16, reason: &str, deadline: Instant) {
        match self.conns.remove(&key) {
            Some(Conn::Client(mut client)) => {
                self.close_one(&mut client, code, reason, deadline);
                client.flush();
                self.conns.insert(key, Conn::Client(client));
            }
            Some(Conn::Upgrading(upgrading)) => {
                let _ = self
                    .poll
                    .registry()
                    .deregister(&mut SourceFd(&upgrading.fd));
            }
            None => {}
        }
    }

    fn close_one(&mut self, client: &mut Client, code: u16, reason: &str, deadline: Instant) {
        if !matches!(client.phase, Phase::Open) {
            return;
        }
        if !client.refused {
            self.emit(
                client.id,
                &Event::Close {
                    dir: Direction::Out,
                    code: Some(code),
                    reason,
                    at: SystemTime::now(),
                },
            );
        }
        client.close(code, reason, deadline);
    }

    /// Remove the clients whose connection is over, and say how it ended;
    /// `all`: the run is over, every client goes now.
    fn retire_finished(&mut self, now: Instant, all: bool) {
        let mut over = Vec::new();
        for (key, conn) in &self.conns {
            let Conn::Client(client) = conn else { continue };
            let how = match &client.phase {
                Phase::Open => client
                    .write_error
                    .as_ref()
                    .map(|e| format!("connection lost while sending: {e}"))
                    .or_else(|| all.then(|| "dropped: the server stopped".to_string())),
                Phase::Closing { code, deadline } => {
                    (all || now >= *deadline || client.write_error.is_some())
                        .then(|| format!("closed by wsprobe with {code}, not answered"))
                }
                Phase::Over(how) => Some(how.clone()),
                Phase::PeerClosed {
                    code,
                    reason,
                    deadline,
                } => {
                    let answered = !client.write_blocked || client.write_error.is_some();
                    (all || answered || now >= *deadline).then(|| {
                        format!(
                            "closed by the client ({})",
                            crate::ending::describe_close(*code, reason)
                        )
                    })
                }
            };
            if let Some(how) = how {
                over.push((*key, how));
            }
        }
        for (key, how) in over {
            if let Some(Conn::Client(client)) = self.conns.get(&key) {
                if !client.refused {
                    let id = client.id;
                    let line = disconnected_line(client, &how);
                    self.emit(
                        id,
                        &Event::Disconnected {
                            reason: &how,
                            at: SystemTime::now(),
                        },
                    );
                    if !self.opts.quiet && !self.opts.repl {
                        eprintln!("wsprobe: {line}");
                    }
                }
            }
            self.forget(key);
        }
    }

    /// A client's connection ended without a close handshake.
    fn gone(&mut self, client: &mut Client, how: &str) {
        client.phase = Phase::Over(how.to_string());
    }

    fn forget(&mut self, key: usize) {
        if let Some(conn) = self.conns.remove(&key) {
            let fd = match &conn {
                Conn::Upgrading(u) => u.fd,
                Conn::Client(c) => c.fd,
            };
            let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
        }
        self.ready.remove(&key);
    }

    fn drop_all(&mut self) {
        let keys: Vec<usize> = self.conns.keys().copied().collect();
        for key in keys {
            self.forget(key);
        }
    }

    fn update_interests(&mut self) -> Result<()> {
        for (key, conn) in &mut self.conns {
            let Conn::Client(client) = conn else { continue };
            let wanted = if client.write_blocked {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if wanted != client.interest {
                self.poll
                    .registry()
                    .reregister(&mut SourceFd(&client.fd), Token(*key), wanted)
                    .map_err(|e| {
                        Error::Runtime(format!("cannot watch a client's socket: {e}").into())
                    })?;
                client.interest = wanted;
            }
        }
        Ok(())
    }

    fn next_deadline(&self) -> Option<Instant> {
        let conns = self.conns.values().filter_map(|conn| match conn {
            Conn::Upgrading(u) => Some(u.deadline),
            Conn::Client(c) => match &c.phase {
                Phase::Open => c.full_since.map(|since| since + STALL_LIMIT),
                Phase::Closing { deadline, .. } | Phase::PeerClosed { deadline, .. } => {
                    Some(*deadline)
                }
                Phase::Over(_) => Some(Instant::now()),
            },
        });
        conns
            .chain(self.policy.next_deadline())
            .chain(self.ending.as_ref().map(|(_, d)| *d))
            .min()
    }

    // ---- output ---------------------------------------------------------------

    fn emit(&mut self, id: u32, event: &Event) {
        self.outlet.emit(&Event::Client { id, event });
    }

    fn emit_in(
        &mut self,
        id: u32,
        kind: Kind,
        payload: &Bytes,
        wire: Option<crate::event::Wire>,
        at: SystemTime,
    ) {
        self.emit(
            id,
            &Event::Message {
                dir: Direction::In,
                kind,
                payload,
                at,
                wire,
            },
        );
    }

    fn note(&mut self, line: &str) {
        if self.opts.repl {
            self.outlet.emit(&Event::Note {
                text: line,
                at: SystemTime::now(),
            });
        } else if !self.opts.quiet {
            eprintln!("wsprobe: {line}");
        }
    }
}

/// `client 3 disconnected: closed by the client (1000 bye); 2 messages in, 5 out`
fn disconnected_line(client: &Client, how: &str) -> String {
    format!(
        "client {} disconnected after {}: {how}; {} in, {} out",
        client.id,
        humantime::format_duration(Duration::from_secs(client.connected_at.elapsed().as_secs())),
        crate::text::count(client.messages_in, "message"),
        client.messages_out
    )
}
