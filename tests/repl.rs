//! The interactive REPL, driven in a real pseudo-terminal: the real binary is
//! spawned with expectrl (so stdin and stdout are a terminal and wsprobe opens
//! its line editor), keys are typed as bytes, and what wsprobe draws is read
//! back from the terminal. Each test checks both the screen and what the
//! scripted server observed.
//!
//! expectrl's own `expect` busy-polls the terminal (a full core per waiting
//! test), so [`Term`] waits with poll(2) on the terminal's file descriptor
//! instead, with a deadline on every wait; nothing sleeps for a fixed time.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::{test_tempdir, Conn, Msg, Observed, Server, Wsprobe, DEADLINE};
use expectrl::session::OsSession;
use expectrl::Expect;

/// How long any single wait on the terminal may take.
const EXPECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Keys, as a terminal sends them.
const ENTER: &str = "\r";
const CTRL_C: &str = "\x03";
const CTRL_D: &str = "\x04";
const UP: &str = "\x1b[A";

/// rustyline turns bracketed paste on when a `readline` starts, after it has put
/// the terminal in raw mode: seeing it means the editor is ready for keys.
const EDITOR_READY: &str = "\x1b[?2004h";

/// A wsprobe REPL running in a pseudo-terminal.
struct Term {
    session: OsSession,
    /// Everything wsprobe wrote to the terminal so far.
    out: Vec<u8>,
    /// How much of `out` earlier expectations have consumed.
    pos: usize,
    eof: bool,
    /// `127.0.0.1:PORT/> `
    prompt: String,
    _state: tempfile::TempDir,
}

impl Term {
    /// Starts `wsprobe --color never ARGS URL` in a terminal, with
    /// `XDG_STATE_HOME` in a fresh temporary directory.
    fn spawn(server: &Server, args: &[&str]) -> Term {
        let state = test_tempdir();
        Self::spawn_in(server, args, state)
    }

    /// Like [`Term::spawn`] with `state` as `XDG_STATE_HOME`.
    fn spawn_in(server: &Server, args: &[&str], state: tempfile::TempDir) -> Term {
        let url = server.url();
        let mut all = vec!["--color", "never"];
        all.extend_from_slice(args);
        all.push(&url);
        let state_dir = state.path().to_str().unwrap();
        // Every wait on the terminal has a deadline ([`EXPECT_TIMEOUT`]).
        let cmd = Wsprobe::new(&all)
            .env("TERM", "xterm")
            .env("XDG_STATE_HOME", state_dir)
            .env("HOME", state_dir)
            .command();
        let session = OsSession::spawn(cmd).expect("spawn wsprobe in a pseudo-terminal");
        Term {
            session,
            out: Vec::new(),
            pos: 0,
            eof: false,
            prompt: format!("127.0.0.1:{}/> ", server.port()),
            _state: state,
        }
    }

    fn transcript(&self) -> String {
        format!("{:?}", String::from_utf8_lossy(&self.out))
    }

    fn unread(&self) -> String {
        format!("{:?}", String::from_utf8_lossy(&self.out[self.pos..]))
    }

    /// Reads what is available, waiting at most until `deadline`. False at
    /// the deadline or at end of output.
    fn fill(&mut self, deadline: Instant) -> bool {
        if self.eof {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let mut pfd = libc::pollfd {
            fd: self.session.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let wait = (deadline - now).as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the terminal's file descriptor.
        let ready = unsafe { libc::poll(&mut pfd, 1, wait) };
        if ready < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return true;
            }
            panic!("poll on the terminal: {e}");
        }
        if ready == 0 {
            return false;
        }
        let mut buf = [0u8; 4096];
        match self.session.try_read(&mut buf) {
            Ok(0) => self.eof = true,
            Ok(n) => self.out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // EIO: every process holding the terminal has closed it.
            Err(_) => self.eof = true,
        }
        !self.eof
    }

    /// Waits until every needle is in the output not consumed yet, in any
    /// order, then consumes the output up to the end of the last one. A needle
    /// is a sequence of parts that must appear in that order (other output may
    /// come between them). Returns, for each needle, the text from the start
    /// of its first part to the end of its last.
    ///
    /// Any order, because rustyline prints an incoming message directly when
    /// it arrives between two `readline` calls and above the prompt during
    /// one: whether the reply to a line comes before or after the next prompt
    /// is a race that wsprobe cannot and need not control.
    #[track_caller]
    fn expect_all(&mut self, needles: &[&[&str]]) -> Vec<String> {
        let deadline = Instant::now() + EXPECT_TIMEOUT;
        loop {
            let unread = &self.out[self.pos..];
            let found: Vec<Option<(usize, usize)>> = needles
                .iter()
                .map(|parts| find_seq(unread, parts))
                .collect();
            if found.iter().all(Option::is_some) {
                let spans: Vec<String> = found
                    .iter()
                    .flatten()
                    .map(|&(a, b)| String::from_utf8_lossy(&unread[a..b]).into_owned())
                    .collect();
                self.pos += found.iter().flatten().map(|&(_, b)| b).max().unwrap_or(0);
                return spans;
            }
            if !self.fill(deadline) {
                let why = if self.eof {
                    "wsprobe's output ended"
                } else {
                    "timed out"
                };
                let missing: Vec<_> = needles
                    .iter()
                    .zip(&found)
                    .filter(|(_, f)| f.is_none())
                    .map(|(n, _)| n)
                    .collect();
                panic!(
                    "{why} waiting for {missing:?}\nunread: {}\nwhole screen: {}",
                    self.unread(),
                    self.transcript()
                );
            }
        }
    }

    /// Waits for `needle`; returns the output up to and including it.
    #[track_caller]
    fn expect(&mut self, needle: &str) -> String {
        let before = self.pos;
        self.expect_all(&[&[needle]]);
        String::from_utf8_lossy(&self.out[before..self.pos]).into_owned()
    }

    /// Waits for a fresh `readline`: the editor is in raw mode and has drawn
    /// the prompt.
    #[track_caller]
    fn wait_prompt(&mut self) {
        let prompt = self.prompt.clone();
        self.expect_all(&[&[EDITOR_READY, &prompt]]);
    }

    /// [`Term::spawn`] with `--no-history`, then waits for the first prompt.
    #[track_caller]
    fn ready(server: &Server) -> Term {
        let mut term = Self::spawn(server, &["--no-history"]);
        term.wait_prompt();
        term
    }

    /// Types Ctrl-D; wsprobe must exit 0.
    #[track_caller]
    fn quit(&mut self) {
        self.keys(CTRL_D);
        assert_eq!(self.exit_code(), 0, "{}", self.transcript());
    }

    /// Types `keys`.
    fn keys(&mut self, keys: &str) {
        self.session.send(keys).expect("write to the terminal");
    }

    /// Types `line` and Enter, then waits for the next prompt and for each
    /// of `shown` (in any order); returns what matched `shown`.
    #[track_caller]
    fn submit(&mut self, line: &str, shown: &[&[&str]]) -> Vec<String> {
        self.keys(line);
        self.keys(ENTER);
        let prompt = self.prompt.clone();
        let fresh: &[&str] = &[EDITOR_READY, &prompt];
        let mut needles = vec![fresh];
        needles.extend_from_slice(shown);
        let mut spans = self.expect_all(&needles);
        spans.remove(0);
        spans
    }

    /// Reads until wsprobe's output ends, then waits for it to exit; returns
    /// its exit code. Kills it and panics if that takes too long.
    #[track_caller]
    fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + EXPECT_TIMEOUT;
        while self.fill(deadline) {}
        if !self.eof {
            panic!(
                "wsprobe did not end its output within {EXPECT_TIMEOUT:?}\nunread: {}\nwhole screen: {}",
                self.unread(),
                self.transcript()
            );
        }
        let pid = self.session.get_process().pid().as_raw();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut status = 0;
            // SAFETY: waitpid on our own child, with a valid status pointer.
            let r = unsafe { libc::waitpid(pid, &mut status, 0) };
            let _ = tx.send((r, status));
        });
        match rx.recv_timeout(EXPECT_TIMEOUT) {
            Ok((r, status)) if r == pid => {
                if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status)
                } else {
                    panic!(
                        "wsprobe did not exit normally (wait status {status:#x})\nwhole screen: {}",
                        self.transcript()
                    )
                }
            }
            Ok((r, _)) => panic!("waitpid failed ({r}): {}", io::Error::last_os_error()),
            Err(_) => {
                // SAFETY: kill(2) on our own child, not yet reaped.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                panic!(
                    "wsprobe closed its terminal but did not exit within {EXPECT_TIMEOUT:?}\nwhole screen: {}",
                    self.transcript()
                );
            }
        }
    }

    /// Everything after the last consumed byte, once wsprobe has exited.
    fn rest(&self) -> String {
        String::from_utf8_lossy(&self.out[self.pos..]).into_owned()
    }

    /// Whether the terminal is back in canonical mode (as wsprobe found it).
    fn canonical_mode(&self) -> bool {
        // SAFETY: tcgetattr on the terminal's master side (still open), into
        // a zeroed termios.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::tcgetattr(self.session.as_raw_fd(), &mut t) };
        assert_eq!(
            r,
            0,
            "tcgetattr on the terminal: {}",
            io::Error::last_os_error()
        );
        t.c_lflag & libc::ICANON != 0
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Where `parts` occur in `hay` in that order: (start of the first, end of
/// the last).
fn find_seq(hay: &[u8], parts: &[&str]) -> Option<(usize, usize)> {
    let mut start = None;
    let mut at = 0;
    for part in parts {
        let i = at + find(&hay[at..], part.as_bytes())?;
        start.get_or_insert(i);
        at = i + part.len();
    }
    Some((start.unwrap_or(0), at))
}

fn text(s: &str) -> Msg {
    Msg::Text(s.to_string())
}

#[track_caller]
fn assert_closed_normally(obs: &Observed) {
    assert_eq!(
        obs.close,
        Some((1000, String::new())),
        "the server should have received Close 1000: {obs:?}"
    );
    assert_eq!(obs.error, None, "{obs:?}");
}

/// A server running `script`, and a [`Term::ready`] session against it.
#[track_caller]
fn ready(script: impl Fn(&mut Conn) + Send + Sync + 'static) -> (Server, Term) {
    let server = Server::start(script);
    let term = Term::ready(&server);
    (server, term)
}

/// [`Term::quit`]; returns what the server observed, which must end with a
/// normal close.
#[track_caller]
fn finish(term: &mut Term, server: &Server) -> Observed {
    term.quit();
    closed_normally(server)
}

/// What the server observed, which must end with a normal close.
#[track_caller]
fn closed_normally(server: &Server) -> Observed {
    let obs = server.next();
    assert_closed_normally(&obs);
    obs
}

/// A server that waits for the client's first message, then for the test's
/// signal, then does `then`; it records everything until the connection ends.
fn triggered_server(then: impl Fn(&mut Conn) + Send + Sync + 'static) -> (Server, Sender<()>) {
    let (tx, rx): (Sender<()>, Receiver<()>) = mpsc::channel();
    let rx = Mutex::new(rx);
    let server = Server::start(move |conn| {
        if conn.recv().is_none() {
            return;
        }
        if rx.lock().unwrap().recv_timeout(DEADLINE).is_err() {
            return;
        }
        then(conn);
        conn.drain();
    });
    (server, tx)
}

// ---------------------------------------------------------------------------

#[test]
fn typed_line_is_sent_and_the_echo_is_shown() {
    let server = Server::start(|conn| conn.echo());
    let mut term = Term::spawn(&server, &["--no-history"]);
    term.expect(&format!(
        "* connected to ws://127.0.0.1:{}/; /help for commands, Ctrl-D to quit\r\n",
        server.port()
    ));
    term.wait_prompt();
    term.submit("hello there", &[&["< hello there\r\n"]]);
    let obs = finish(&mut term, &server);
    assert_eq!(obs.messages, vec![text("hello there")]);
}

#[test]
fn pushed_message_keeps_the_half_typed_line() {
    let (server, push) = triggered_server(|conn| {
        conn.send_text("pushed");
    });
    let mut term = Term::ready(&server);
    term.submit("go", &[]);
    term.keys("half");
    term.expect("half");
    push.send(()).unwrap();
    // The message is printed above the prompt, then the prompt and the
    // half-typed line are drawn again.
    term.expect("< pushed\r\n");
    let redrawn = format!("{}half", term.prompt);
    term.expect(&redrawn);
    term.submit("", &[]);
    let obs = finish(&mut term, &server);
    assert_eq!(obs.messages, vec![text("go"), text("half")]);
}

#[test]
fn ping_shows_the_pong_with_its_round_trip_time() {
    let (server, mut term) = ready(|conn| conn.drain());
    let shown = term.submit("/ping hi", &[&["* pong 'hi' (round trip ", "\r\n"]]);
    let rtt = shown[0]
        .strip_prefix("* pong 'hi' (round trip ")
        .and_then(|r| r.strip_suffix(" ms)\r\n"))
        .unwrap_or_else(|| panic!("bad pong line {:?}\n{}", shown[0], term.transcript()));
    let (whole, frac) = rtt.split_once('.').expect("a decimal point");
    assert!(
        !whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && frac.len() == 2
            && frac.bytes().all(|b| b.is_ascii_digit()),
        "bad round trip {rtt:?}"
    );
    let obs = finish(&mut term, &server);
    assert!(obs.messages.is_empty(), "{obs:?}");
}

/// `/stats` shows the round trips of the pings sent, as `--stats` does.
#[test]
fn stats_shows_the_ping_round_trips() {
    let (server, mut term) = ready(|conn| conn.drain());
    let shown = term.submit("/stats", &[&["pings:", "\r\n"]]);
    assert!(
        !term.out.windows(4).any(|w| w == b"rtt:"),
        "no rtt line before a ping"
    );
    assert_eq!(
        shown[0],
        "pings:    0 sent, 0 pongs received, last round trip -\r\n"
    );
    term.submit("/ping a", &[&["* pong 'a' (round trip ", "\r\n"]]);
    term.submit("/ping b", &[&["* pong 'b' (round trip ", "\r\n"]]);
    let shown = term.submit("/stats", &[&["pings:", "\r\n"], &["rtt:", "\r\n"]]);
    assert!(
        shown[0].starts_with("pings:    2 sent, 2 pongs received, last round trip "),
        "{shown:?}"
    );
    let rtt = regex::Regex::new(
        r"^rtt:      min \d+\.\d\d ms, median \d+\.\d\d, p90 \d+\.\d\d, p99 \d+\.\d\d, max \d+\.\d\d \(2 samples\)\r\n$",
    )
    .unwrap();
    assert!(rtt.is_match(&shown[1]), "{shown:?}");
    let obs = finish(&mut term, &server);
    assert!(obs.messages.is_empty(), "{obs:?}");
}

#[test]
fn close_with_code_and_reason() {
    let (server, mut term) = ready(|conn| conn.drain());
    term.keys("/close 4000 bye");
    term.keys(ENTER);
    term.expect("* closing: 4000 bye\r\n");
    term.expect("* closed (the server answered 4000 bye)\r\n");
    assert_eq!(term.exit_code(), 0, "{}", term.transcript());
    let obs = server.next();
    assert_eq!(obs.close, Some((4000, "bye".to_string())), "{obs:?}");
    assert!(obs.messages.is_empty(), "{obs:?}");
    assert_eq!(obs.error, None, "{obs:?}");
}

#[test]
fn binary_command_sends_bytes_and_incoming_binary_is_a_hexdump() {
    let (server, mut term) = ready(|conn| conn.echo());
    // Offset, 16 hex columns with a gap after the eighth, then the bytes as
    // ASCII ('.' when not printable).
    let incoming = format!(
        "< binary, 2 bytes\r\n  00000000  00 ff {} {} |..|\r\n",
        "   ".repeat(6),
        "   ".repeat(8)
    );
    term.submit(
        "/binary 00ff",
        &[&["> binary, 2 bytes\r\n"], &[incoming.as_str()]],
    );
    let obs = finish(&mut term, &server);
    assert_eq!(obs.messages, vec![Msg::Binary(vec![0x00, 0xff])]);
}

#[test]
fn ctrl_d_closes_cleanly() {
    let (server, mut term) = ready(|conn| conn.drain());
    term.keys(CTRL_D);
    term.expect("* closing: 1000 normal closure\r\n");
    term.expect("* closed (the server answered 1000 normal closure)\r\n");
    assert_eq!(term.exit_code(), 0, "{}", term.transcript());
    assert!(
        term.canonical_mode(),
        "the terminal was left in raw mode: {}",
        term.transcript()
    );
    let obs = closed_normally(&server);
    assert!(obs.messages.is_empty(), "{obs:?}");
}

#[test]
fn ctrl_c_on_an_empty_line_closes_cleanly() {
    let (server, mut term) = ready(|conn| conn.drain());
    term.keys(CTRL_C);
    term.expect("* closing: 1000 normal closure\r\n");
    term.expect("* closed (the server answered 1000 normal closure)\r\n");
    assert_eq!(term.exit_code(), 0, "{}", term.transcript());
    let obs = closed_normally(&server);
    assert!(obs.messages.is_empty(), "{obs:?}");
}

#[test]
fn ctrl_c_clears_a_non_empty_line() {
    let (server, mut term) = ready(|conn| conn.drain());
    term.keys("abc");
    term.expect("abc");
    term.keys(CTRL_C);
    term.submit("def", &[]);
    let obs = finish(&mut term, &server);
    assert_eq!(obs.messages, vec![text("def")]);
}

#[test]
fn quit_command_closes_cleanly() {
    let (server, mut term) = ready(|conn| conn.drain());
    term.keys("/quit");
    term.keys(ENTER);
    term.expect("* closed (the server answered 1000 normal closure)\r\n");
    assert_eq!(term.exit_code(), 0, "{}", term.transcript());
    let obs = closed_normally(&server);
    assert!(obs.messages.is_empty(), "{obs:?}");
}

fn history_file(state: &Path) -> std::path::PathBuf {
    state.join("wsprobe").join("history")
}

#[test]
fn history_is_private_skips_space_prefixed_lines_and_persists() {
    let state = test_tempdir();
    let state_path = state.path().to_path_buf();
    let server = Server::start(|conn| conn.drain());

    let mut term = Term::spawn_in(&server, &[], state);
    term.wait_prompt();
    term.submit("kept", &[]);
    term.submit(" secret", &[]);
    let obs = finish(&mut term, &server);
    assert_eq!(obs.messages, vec![text("kept"), text(" secret")]);

    let path = history_file(&state_path);
    let meta = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("no history file at {}: {e}", path.display()));
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "history file mode is {:o}",
        meta.permissions().mode() & 0o777
    );
    let history = std::fs::read_to_string(&path).unwrap();
    assert!(history.starts_with("#V2\n"), "{history:?}");
    assert!(history.lines().any(|l| l == "kept"), "{history:?}");
    assert!(!history.contains("secret"), "{history:?}");
    drop(term); // removes the first state directory

    // The next session finds the line again with the Up arrow.
    let mut term = Term::spawn_in(&server, &[], state_dir_with(&history));
    term.wait_prompt();
    term.keys(UP);
    term.expect("kept");
    term.submit("", &[]);
    term.quit();
    let obs = server.next();
    assert_eq!(obs.messages, vec![text("kept")]);
}

/// A fresh state directory with a history file holding `history`.
fn state_dir_with(history: &str) -> tempfile::TempDir {
    let state = test_tempdir();
    let path = history_file(state.path());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, history).unwrap();
    state
}

#[test]
fn no_history_writes_no_file() {
    let state = test_tempdir();
    let state_path = state.path().to_path_buf();
    let server = Server::start(|conn| conn.drain());
    let mut term = Term::spawn_in(&server, &["--no-history"], state);
    term.wait_prompt();
    term.submit("not kept", &[]);
    term.quit();
    // (The directory lives as long as `term`.)
    assert!(
        !history_file(&state_path).exists(),
        "--no-history wrote {}",
        history_file(&state_path).display()
    );
    assert_eq!(server.next().messages, vec![text("not kept")]);
}

#[test]
fn unknown_command_is_an_error_and_sends_nothing() {
    let (server, mut term) = ready(|conn| conn.echo());
    let error = "error: unknown command /nope; type /help for the list \
                 (//nope sends '/nope' as text)\r\n";
    term.submit("/nope", &[&[error]]);
    term.submit("ok", &[&["< ok\r\n"]]);
    let obs = finish(&mut term, &server);
    assert_eq!(obs.messages, vec![text("ok")]);
}

#[test]
fn double_slash_sends_a_literal_slash() {
    let (server, mut term) = ready(|conn| conn.echo());
    term.submit("//nope", &[&["< /nope\r\n"]]);
    term.quit();
    assert_eq!(server.next().messages, vec![text("/nope")]);
}

/// The server closes with `code` and `reason` once it has a message: wsprobe
/// shows `shown`, answers the Close, exits with `exit` and leaves the
/// terminal in canonical mode.
#[track_caller]
fn server_closes(code: u16, reason: &'static str, shown: &str, exit: i32) {
    let server = Server::start(move |conn| {
        if conn.recv().is_some() {
            conn.close(code, reason);
        }
    });
    let mut term = Term::ready(&server);
    term.keys("bye please");
    term.keys(ENTER);
    let code = term.exit_code();
    let screen = term.rest();
    assert!(screen.contains(shown), "{screen:?}");
    assert_eq!(code, exit, "{screen:?}");
    assert!(
        term.canonical_mode(),
        "the terminal was left in raw mode: {screen:?}"
    );
    let obs = server.next();
    assert_eq!(obs.messages, vec![text("bye please")]);
    // wsprobe answered the server's Close (tungstenite records the answer).
    assert!(
        obs.close.is_some(),
        "wsprobe did not answer the Close: {obs:?}"
    );
    assert_eq!(obs.error, None, "{obs:?}");
}

#[test]
fn server_close_1001_ends_with_exit_0() {
    server_closes(1001, "", "* closed by server: 1001 going away\r\n", 0);
}

#[test]
fn server_close_with_an_error_code_ends_with_exit_7() {
    server_closes(4001, "custom", "* closed by server: 4001 custom\r\n", 7);
}

#[test]
fn incoming_json_is_pretty_printed() {
    let long = format!(r#"{{"a":[1,true],"b":"{}"}}"#, "x".repeat(80));
    let sent = long.clone();
    let (server, push) = triggered_server(move |conn| {
        conn.send_text(r#"{"type":"ping"}"#);
        conn.send_text(&sent);
    });
    let mut term = Term::ready(&server);
    term.submit("go", &[]);
    push.send(()).unwrap();
    // Short JSON stays on one line (spaced as formatters do), long JSON is spread,
    // its short parts kept on one line.
    term.expect("< {\"type\": \"ping\"}\r\n");
    term.expect(&format!(
        "< {{\r\n    \"a\": [1, true],\r\n    \"b\": \"{}\"\r\n  }}\r\n",
        "x".repeat(80)
    ));
    finish(&mut term, &server);
}

#[test]
fn no_pretty_shows_json_as_sent() {
    let (server, push) = triggered_server(|conn| {
        conn.send_text(r#"{"a":[1,true],"b":"x"}"#);
    });
    let mut term = Term::spawn(&server, &["--no-history", "--no-pretty"]);
    term.wait_prompt();
    term.submit("go", &[]);
    push.send(()).unwrap();
    term.expect("< {\"a\":[1,true],\"b\":\"x\"}\r\n");
    finish(&mut term, &server);
}

#[test]
fn control_characters_from_the_server_are_made_visible() {
    let (server, push) = triggered_server(|conn| {
        conn.send_text("hi\x1b[2J");
    });
    let mut term = Term::ready(&server);
    term.submit("go", &[]);
    push.send(()).unwrap();
    term.expect("< hi\\u{1b}[2J\r\n");
    term.quit();
    assert!(
        find(&term.out, b"\x1b[2J").is_none(),
        "the server's escape sequence reached the terminal: {}",
        term.transcript()
    );
    closed_normally(&server);
}

#[test]
fn pasted_block_is_one_message() {
    let (server, mut term) = ready(|conn| conn.drain());
    term.keys("\x1b[200~{\n  \"a\": 1\n}\n\x1b[201~");
    term.submit("", &[]);
    let obs = finish(&mut term, &server);
    assert_eq!(obs.messages, vec![text("{\n  \"a\": 1\n}")]);
}

#[test]
fn backslash_continues_the_line() {
    let (server, mut term) = ready(|conn| conn.drain());
    term.keys("one\\");
    term.keys(ENTER);
    term.keys("two");
    term.submit("", &[]);
    let obs = finish(&mut term, &server);
    assert_eq!(obs.messages, vec![text("one\ntwo")]);
}

#[test]
fn tab_completes_command_names() {
    let (server, mut term) = ready(|conn| conn.drain());
    term.keys("/pi\t");
    term.expect("/ping ");
    term.submit("x", &[&["* pong 'x' (round trip "]]);
    finish(&mut term, &server);
}

#[test]
fn reserved_close_code_is_refused_and_nothing_is_sent() {
    let (server, mut term) = ready(|conn| conn.drain());
    let shown = term.submit("/close 1005", &[&["error: ", "\r\n"]]);
    assert!(shown[0].contains("1005"), "{:?}", shown[0]);
    term.submit("still here", &[]);
    let obs = finish(&mut term, &server);
    assert_eq!(obs.messages, vec![text("still here")]);
}

#[test]
fn connection_dropped_without_close_ends_with_exit_7() {
    let server = Server::start(|conn| {
        // Return without a Close: the server drops the TCP connection.
        let _ = conn.recv();
    });
    let mut term = Term::ready(&server);
    term.keys("drop me");
    term.keys(ENTER);
    let code = term.exit_code();
    let screen = term.rest();
    assert_eq!(code, 7, "{screen:?}");
    assert!(
        term.canonical_mode(),
        "the terminal was left in raw mode: {screen:?}"
    );
    assert_eq!(server.next().messages, vec![text("drop me")]);
}

#[test]
fn unwritable_history_is_a_warning_not_a_failure() {
    let state = test_tempdir();
    // `wsprobe` under the state directory is a file, so no history directory
    // can be created there.
    std::fs::write(state.path().join("wsprobe"), "not a directory").unwrap();
    let server = Server::start(|conn| conn.echo());
    let mut term = Term::spawn_in(&server, &[], state);
    term.expect("warning: history disabled, cannot create '");
    term.wait_prompt();
    term.submit("still works", &[&["< still works\r\n"]]);
    term.quit();
    assert_eq!(server.next().messages, vec![text("still works")]);
}

/// Lines typed (or pasted) faster than the prompt is redrawn are all sent: keys
/// that arrive with the Enter of an earlier line are kept for the next one.
#[test]
fn typeahead_after_enter_is_not_lost() {
    let (server, mut term) = ready(|conn| conn.echo());
    term.keys("one\rtwo\rthree\r");
    term.expect_all(&[&["< one\r\n"], &["< two\r\n"], &["< three\r\n"]]);
    term.quit();
    let obs = server.next();
    assert_eq!(obs.messages, vec![text("one"), text("two"), text("three")]);
}

/// The server closes while a line is half typed: the line is kept in history
/// (and the screen says so under it), and the close is shown once: the
/// `* closed by server` line, with no `wsprobe:` repeat of it.
#[test]
fn half_typed_line_is_kept_when_the_server_closes() {
    let state = test_tempdir();
    let state_path = state.path().to_path_buf();
    let (server, push) = triggered_server(|conn| conn.close(4001, "custom"));
    let started = Instant::now();
    let mut term = Term::spawn_in(&server, &[], state);
    term.wait_prompt();
    term.submit("go", &[]);
    term.keys("half typed");
    term.expect("half typed");
    push.send(()).unwrap();
    term.expect("* closed by server: 4001 custom\r\n");
    term.expect(
        "* the line you were typing was not sent; it is kept in history (Up to recall)\r\n",
    );
    let code = term.exit_code();
    let screen = term.transcript();
    assert_eq!(code, 7, "{screen}");
    assert!(
        !screen.contains("wsprobe: the server closed"),
        "the close was reported twice: {screen}"
    );
    assert_eq!(
        screen.matches("4001 custom").count(),
        1,
        "the close was reported twice: {screen}"
    );
    assert!(term.canonical_mode(), "raw mode left on: {screen}");
    assert!(
        started.elapsed() < EXPECT_TIMEOUT,
        "{:?}",
        started.elapsed()
    );
    let history = std::fs::read_to_string(history_file(&state_path)).unwrap();
    assert!(history.lines().any(|l| l == "half typed"), "{history:?}");
    assert_eq!(server.next().messages, vec![text("go")]);
}

/// An empty prompt when the server closes leaves no note (and no prompt).
#[test]
fn server_close_at_an_empty_prompt_leaves_no_note() {
    let (server, push) = triggered_server(|conn| conn.close(1001, ""));
    let mut term = Term::ready(&server);
    term.submit("go", &[]);
    push.send(()).unwrap();
    assert_eq!(term.exit_code(), 0, "{}", term.transcript());
    let screen = term.transcript();
    assert!(
        screen.contains("* closed by server: 1001 going away"),
        "{screen}"
    );
    assert!(!screen.contains("the line you were typing"), "{screen}");
}

/// With --reconnect, the REPL says when the connection is back, and Ctrl-D on
/// the new connection is our close ("closing"), not the server's.
#[test]
fn reconnect_is_announced_and_ctrl_d_then_closes() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let first = AtomicUsize::new(0);
    let server = Server::start(move |conn| {
        if first.fetch_add(1, Ordering::SeqCst) == 0 {
            if conn.recv().is_some() {
                conn.close(1012, "");
            }
        } else {
            conn.echo();
        }
    });
    let started = Instant::now();
    let mut term = Term::spawn(&server, &["--no-history", "--reconnect"]);
    term.wait_prompt();
    term.keys("one");
    term.keys(ENTER);
    term.expect("* closed by server: 1012 service restart\r\n");
    term.expect("reconnecting in 500ms (attempt 1)\r\n");
    term.expect(&format!(
        "* connected again to ws://127.0.0.1:{}/ (attempt 1)\r\n",
        server.port()
    ));
    term.submit("two", &[&["< two\r\n"]]);
    term.keys(CTRL_D);
    term.expect("* closing: 1000 normal closure\r\n");
    term.expect("* closed (the server answered 1000 normal closure)\r\n");
    assert_eq!(term.exit_code(), 0, "{}", term.transcript());
    let screen = term.transcript();
    assert_eq!(
        screen.matches("closed by server").count(),
        1,
        "only the first connection was closed by the server: {screen}"
    );
    assert!(
        started.elapsed() < EXPECT_TIMEOUT,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.next().messages, vec![text("one")]);
    let obs = closed_normally(&server);
    assert_eq!(obs.messages, vec![text("two")]);
}

/// `--timestamps` stamps what is sent too: `HH:MM:SS.mmm > hello` above the
/// prompt, like the `<` line of the echo.
#[test]
fn timestamps_stamp_sent_messages_too() {
    let server = Server::start(|conn| conn.echo());
    let mut term = Term::spawn(&server, &["--no-history", "--timestamps"]);
    term.wait_prompt();
    let shown = term.submit("hello", &[&[" > hello\r\n"], &[" < hello\r\n"]]);
    assert_eq!(shown.len(), 2);
    // Each line starts with a stamp: the 12 characters before the marker.
    let screen = String::from_utf8_lossy(&term.out).into_owned();
    for marker in [" > hello\r\n", " < hello\r\n"] {
        let at = screen.find(marker).unwrap();
        let stamp = &screen[at.saturating_sub(12)..at];
        let digits = stamp.replace([':', '.'], "");
        assert!(
            stamp.len() == 12
                && stamp.as_bytes()[2] == b':'
                && stamp.as_bytes()[8] == b'.'
                && digits.bytes().all(|b| b.is_ascii_digit()),
            "no HH:MM:SS.mmm stamp before {marker:?}: {stamp:?}\n{}",
            term.transcript()
        );
    }
    // A binary message is shown once, stamped, by its size.
    term.submit("/binary 00ff", &[&[" > binary, 2 bytes\r\n"]]);
    finish(&mut term, &server);
    let screen = term.transcript();
    assert_eq!(screen.matches("> binary, 2 bytes").count(), 1, "{screen}");
}

/// Tab after `/file ` completes a path, `~` being the home directory, and
/// the completed path is sent.
#[test]
fn tab_completes_file_paths_with_home_expanded() {
    let state = test_tempdir();
    std::fs::write(state.path().join("payload.json"), r#"{"k": 1}"#).unwrap();
    std::fs::create_dir(state.path().join("dir")).unwrap();
    let server = Server::start(|conn| conn.drain());
    let mut term = Term::spawn_in(&server, &["--no-history"], state);
    term.wait_prompt();
    term.keys("/file ~/pay\t");
    term.expect("/file ~/payload.json");
    term.submit("", &[&["> ~/payload.json (8 bytes, sent as text)\r\n"]]);
    let obs = finish(&mut term, &server);
    assert_eq!(obs.messages, vec![text(r#"{"k": 1}"#)]);
}

/// A message ending in a backslash (`\\` at the end) and an empty message
/// (`/empty`) can be sent; an empty line sends nothing.
#[test]
fn trailing_backslash_and_empty_messages() {
    let (server, mut term) = ready(|conn| conn.drain());
    term.submit("ends in \\\\", &[]);
    term.submit("", &[]);
    term.submit("/empty", &[]);
    term.keys("two\\");
    term.keys(ENTER);
    term.submit("lines", &[]);
    let obs = finish(&mut term, &server);
    assert_eq!(
        obs.messages,
        vec![text("ends in \\"), text(""), text("two\nlines")]
    );
}

impl Term {
    /// Reads what wsprobe has written so far (what a terminal would have shown
    /// before it is resized).
    fn drain(&mut self) {
        while self.fill(Instant::now() + Duration::from_millis(20)) {}
    }

    /// Resizes the terminal (wsprobe gets SIGWINCH); `resizes` notes where in
    /// the output it happened, to replay the output in an emulator.
    fn resize(&mut self, cols: u16, rows: u16, resizes: &mut Vec<(usize, u16, u16)>) {
        self.drain();
        // What comes next is drawn at the new size.
        self.pos = self.out.len();
        resizes.push((self.out.len(), cols, rows));
        self.session
            .get_process_mut()
            .set_window_size(cols, rows)
            .expect("resize the terminal");
    }

    /// The screen and scrollback as logical lines (wrapped rows joined), in a
    /// terminal that reflows on resize, as most do.
    fn rendered(&self, resizes: &[(usize, u16, u16)]) -> Vec<String> {
        let (mut cols, mut rows) = (80, 24);
        let mut vt = avt::Vt::builder()
            .size(cols, rows)
            .scrollback_limit(1000)
            .build();
        let mut at = 0;
        for &(offset, c, r) in resizes {
            vt.feed_str(&String::from_utf8_lossy(&self.out[at..offset]));
            (cols, rows) = (usize::from(c), usize::from(r));
            vt.resize(cols, rows);
            at = offset;
        }
        vt.feed_str(&String::from_utf8_lossy(&self.out[at..]));
        vt.text()
    }
}

/// Resizing the terminal while the typed line wraps and messages arrive: every
/// received line stays on the screen, once, and the prompt with the line is
/// drawn once (no stale copies of its first rows, no rows cleared above it).
#[test]
fn resize_while_the_line_wraps_keeps_received_lines_and_one_prompt() {
    let (tx, rx): (Sender<u32>, Receiver<u32>) = mpsc::channel();
    let rx = Mutex::new(rx);
    let server = Server::start(move |conn| {
        if conn.recv().is_none() {
            return;
        }
        while let Ok(n) = rx.lock().unwrap().recv_timeout(DEADLINE) {
            if n == 0 {
                break;
            }
            conn.send_text(&format!("line {n}"));
        }
        conn.drain();
    });
    let started = Instant::now();
    let mut term = Term::spawn(&server, &["--no-history"]);
    // 40 columns from the start (before anything is drawn).
    term.session
        .get_process_mut()
        .set_window_size(40, 24)
        .expect("resize the terminal");
    let mut resizes = vec![(0, 40, 24)];
    term.wait_prompt();
    term.submit("go", &[]);
    let typed = "this is a long line typed while the window changes its size, END";
    term.keys(typed);
    let mut n = 0;
    for (cols, rows) in [(40, 24), (25, 24), (60, 24), (30, 24), (80, 24)] {
        if (cols, rows) != (40, 24) {
            term.resize(cols, rows, &mut resizes);
            // The editor draws the line again at the new width. (A message
            // that arrives before the editor has handled the resize is drawn
            // by it at the old width: see src/input/resize.rs.)
            term.expect("size, END");
        }
        for _ in 0..2 {
            n += 1;
            tx.send(n).unwrap();
            // The message, then the prompt and the line drawn again under it.
            term.expect_all(&[&[&format!("< line {n}\r\n"), "size, END"]]);
        }
    }
    let lines = term.rendered(&resizes);
    let screen = lines.join("\n");
    for i in 1..=n {
        let wanted = format!("< line {i}");
        assert_eq!(
            lines.iter().filter(|l| **l == wanted).count(),
            1,
            "{wanted:?} should be on the screen once:\n{screen}\n{}",
            term.transcript()
        );
    }
    let prompts: Vec<&String> = lines.iter().filter(|l| l.contains("this is")).collect();
    assert_eq!(
        prompts,
        [&format!("{}{typed}", term.prompt)],
        "the prompt and its line should be drawn once:\n{screen}\n{}",
        term.transcript()
    );
    assert!(
        !lines
            .iter()
            .rev()
            .skip_while(|l| l.is_empty())
            .any(|l| l.is_empty()),
        "rows were cleared between the lines:\n{screen}"
    );
    tx.send(0).unwrap();
    term.submit("", &[]);
    let obs = finish(&mut term, &server);
    assert_eq!(obs.messages, vec![text("go"), text(typed)]);
    assert!(
        started.elapsed() < EXPECT_TIMEOUT * 2,
        "{:?}",
        started.elapsed()
    );
}
