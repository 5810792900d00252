//! The interactive REPL: a rustyline editor on its own thread. Typed lines become
//! messages, slash commands become control frames or local views; incoming messages
//! are printed above the prompt by the session through rustyline's external printer.

use colored::Colorize;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{
    Cmd, ConditionalEventHandler, Config, Editor, EventContext, EventHandler, ExternalPrinter,
    KeyEvent, Movement, RepeatCount,
};
use std::borrow::Cow;
use std::cell::RefCell;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tungstenite::{Bytes, Message};

use super::{complete, resize};
use crate::event::Command;
use crate::mailbox::Outbox;
use crate::output::human::{fmt_rtt, visible, ReplState};
use crate::redact;
use crate::text;
pub use resize::Shown;
use wsprobe::slash::{self, Input, Slash, COMMANDS, HUB_COMMANDS};

pub struct ReplOptions {
    pub prompt: String,
    pub history: Option<PathBuf>,
    /// `--binary`: typed lines are sent as binary messages.
    pub binary: bool,
    pub show_secrets: bool,
    /// On a terminal: what the session has written, for the progress of a large `/file`.
    pub gauge: Option<Arc<crate::feedback::SendGauge>>,
    /// `--timestamps`: the session shows sent messages itself, stamped.
    pub timestamps: bool,
    /// Multi-client `--listen`: what is typed goes to every client, and
    /// `/clients`, `/to` and `/kick` work.
    pub hub: bool,
}

/// What the REPL thread hands back to the app: the printer the session's output
/// goes through, and a flag to tell the thread the session is over.
pub struct ReplHandle {
    pub printer: Box<dyn ExternalPrinter + Send>,
    pub ending: Arc<AtomicBool>,
    /// The editor thread is gone; true when it left a note under the prompt (a
    /// line that was being typed), which must then stay on the screen.
    pub done: std::sync::mpsc::Receiver<bool>,
}

/// The rustyline helper: completion (commands, paths after `/file`), `\` line
/// continuation, a colored prompt, and a copy of the line being typed.
struct ReplHelper {
    color: bool,
    /// The line as last drawn. rustyline drops it when `readline` is interrupted
    /// (the session ended while the user was typing); this copy lets the REPL keep
    /// it in history.
    typing: RefCell<String>,
    /// What was last drawn: the prompt and the text left of the cursor, and the
    /// terminal's width then (see `resize`).
    drawn: RefCell<Option<(String, usize)>>,
    /// The prompt being drawn, between `highlight_prompt` and `highlight`.
    prompt: RefCell<String>,
    shown: Shown,
}

impl ReplHelper {
    /// A new `readline` starts on a fresh row.
    fn start_line(&self) {
        self.drawn.replace(None);
        self.typing.borrow_mut().clear();
    }
}

/// The terminal's width, as rustyline reads it (0, unknown, is 80).
fn columns() -> usize {
    match terminal_size::terminal_size_of(io::stdout()) {
        Some((terminal_size::Width(w), _)) if w > 0 => usize::from(w),
        _ => 80,
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        Ok(complete::complete(line, pos))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;

    /// Called on every change of the line: no hint, but note the line.
    fn hint(&self, line: &str, _pos: usize, _: &rustyline::Context<'_>) -> Option<String> {
        if let Ok(mut typing) = self.typing.try_borrow_mut() {
            typing.clear();
            typing.push_str(line);
        }
        None
    }
}

/// Every redraw of the line goes through here: the prompt first (after
/// rustyline has cleared the rows of the previous drawing), then the line.
impl Highlighter for ReplHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        // After a resize the terminal has reflowed the line: go to its real
        // first row before rustyline draws it again.
        let fix = match &*self.drawn.borrow() {
            Some((before, cols)) => resize::correction(before, *cols, columns(), &self.shown),
            None => String::new(),
        };
        self.prompt.replace(prompt.to_string());
        let prompt = if self.color {
            prompt.blue().bold().to_string()
        } else {
            prompt.to_string()
        };
        Cow::Owned(fix + &prompt)
    }

    fn highlight<'l>(&self, line: &'l str, pos: usize) -> Cow<'l, str> {
        let before = format!("{}{}", self.prompt.borrow(), &line[..pos.min(line.len())]);
        self.drawn.replace(Some((before, columns())));
        Cow::Borrowed(line)
    }

    /// Redraw through `highlight` on every change, so that `drawn` is exact.
    fn highlight_char(
        &self,
        _line: &str,
        _pos: usize,
        _kind: rustyline::highlight::CmdKind,
    ) -> bool {
        true
    }
}

impl Validator for ReplHelper {
    /// A line ending in `\` continues on the next line (`\\` is a backslash).
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        if slash::continues(ctx.input()) {
            Ok(ValidationResult::Incomplete)
        } else {
            Ok(ValidationResult::Valid(None))
        }
    }
}

impl rustyline::Helper for ReplHelper {}

/// Ctrl-C clears a non-empty line; on an empty line it ends the session.
struct CtrlC;

impl ConditionalEventHandler for CtrlC {
    fn handle(
        &self,
        _: &rustyline::Event,
        _: RepeatCount,
        _: bool,
        ctx: &EventContext,
    ) -> Option<Cmd> {
        if ctx.line().is_empty() {
            None // the default: Interrupt
        } else {
            Some(Cmd::Kill(Movement::WholeBuffer))
        }
    }
}

/// Start the REPL thread. Fails when the terminal cannot be used for editing.
pub fn start(
    opts: ReplOptions,
    shared: Arc<ReplState>,
    outbox: Outbox,
    color: bool,
    shown: Shown,
) -> io::Result<ReplHandle> {
    let config = Config::builder()
        .history_ignore_space(true)
        .auto_add_history(false)
        .max_history_size(1000)
        .map_err(io::Error::other)?
        .bracketed_paste(true)
        // Every redraw goes through the helper's highlighter, which also puts the
        // prompt back after a resize; it adds colors only with `color` (NO_COLOR
        // and --color are wsprobe's to honour, not rustyline's).
        .color_mode(rustyline::ColorMode::Forced)
        .build();
    let mut editor: Editor<ReplHelper, FileHistory> =
        Editor::with_config(config).map_err(io::Error::other)?;
    editor.set_helper(Some(ReplHelper {
        color,
        typing: RefCell::default(),
        drawn: RefCell::default(),
        prompt: RefCell::default(),
        shown: shown.clone(),
    }));
    editor.bind_sequence(
        KeyEvent::ctrl('c'),
        EventHandler::Conditional(Box::new(CtrlC)),
    );
    let history = opts
        .history
        .as_deref()
        .and_then(|path| open_history(&mut editor, path));
    let printer = editor.create_external_printer().map_err(io::Error::other)?;
    let ending = Arc::new(AtomicBool::new(false));
    let (done_tx, done) = std::sync::mpsc::channel();
    let thread_ending = ending.clone();
    std::thread::Builder::new()
        .name("repl".into())
        .spawn(move || {
            let mut repl = Repl {
                editor,
                opts,
                shared,
                outbox,
                history,
                history_warned: false,
                shown,
            };
            let noted = repl.run(&thread_ending);
            let _ = done_tx.send(noted);
        })?;
    Ok(ReplHandle {
        printer: Box::new(printer),
        ending,
        done,
    })
}

/// Create the history file with mode 0600 (it may hold secrets typed by mistake)
/// and load it. Problems are warnings: a REPL without history still works.
fn open_history(editor: &mut Editor<ReplHelper, FileHistory>, path: &Path) -> Option<PathBuf> {
    let created = path
        .parent()
        .map_or(Ok(()), fs::create_dir_all)
        .and_then(|_| {
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .map(|_| ())
        });
    if let Err(e) = created {
        eprintln!(
            "wsprobe: warning: history disabled, cannot create '{}': {e}",
            path.display()
        );
        return None;
    }
    if let Err(e) = editor.load_history(path) {
        eprintln!(
            "wsprobe: warning: cannot read history '{}': {e}",
            path.display()
        );
    }
    Some(path.to_path_buf())
}

struct Repl {
    editor: Editor<ReplHelper, FileHistory>,
    opts: ReplOptions,
    shared: Arc<ReplState>,
    outbox: Outbox,
    history: Option<PathBuf>,
    history_warned: bool,
    /// What is on the screen above the prompt (see `resize`).
    shown: Shown,
}

impl Repl {
    /// Read lines until the user quits or the session ends; true when a note was
    /// left under the prompt.
    fn run(&mut self, ending: &AtomicBool) -> bool {
        loop {
            if ending.load(Ordering::SeqCst) {
                return false;
            }
            if let Some(helper) = self.editor.helper() {
                helper.start_line();
            }
            let line = match self.editor.readline(&self.opts.prompt) {
                Ok(line) => line,
                Err(ReadlineError::Interrupted | ReadlineError::Eof) => {
                    if ending.load(Ordering::SeqCst) {
                        return self.keep_unsent();
                    }
                    self.close(1000, "");
                    return false;
                }
                Err(e) => {
                    eprintln!("wsprobe: terminal error: {e}");
                    self.close(1000, "");
                    return false;
                }
            };
            self.typed().clear();
            // The line stays on the screen, under its prompt.
            self.shown.record(&format!("{}{line}", self.opts.prompt));
            self.remember(&line);
            // `\` + newline continues a line (the message holds the newline); a
            // paste's last newline is dropped; `\\` at a line's end is one `\`.
            let line = slash::join_lines(&line);
            match slash::parse(&line) {
                Ok(Input::Nothing) => {}
                Ok(Input::Text(text)) => {
                    let message = if self.opts.binary {
                        Message::Binary(Bytes::from(text.into_bytes()))
                    } else {
                        Message::Text(text.into())
                    };
                    self.send(vec![message]);
                }
                Ok(Input::Command(command)) => {
                    if !self.command(command) {
                        return false;
                    }
                }
                Err(e) => self.say_error(&e),
            }
        }
    }

    fn say(&self, text: &str) {
        write_shown(&self.shown, text.dimmed().to_string());
    }

    fn say_status(&self, text: &str) {
        write_shown(
            &self.shown,
            format!("{} {}", "*".yellow().bold(), text.yellow()),
        );
    }

    fn say_error(&self, text: &str) {
        write_shown(&self.shown, format!("{} {text}", "error:".red().bold()));
    }

    fn typed(&self) -> std::cell::RefMut<'_, String> {
        match self.editor.helper() {
            Some(helper) => helper.typing.borrow_mut(),
            None => unreachable!("the helper is set before the thread starts"),
        }
    }

    /// The session ended while a line was half typed: keep it in history (so that
    /// Up recalls it in the next session) and say so under it.
    fn keep_unsent(&mut self) -> bool {
        let line = std::mem::take(&mut *self.typed());
        if line.trim().is_empty() {
            return false;
        }
        self.remember(&line);
        let note = if self.history.is_some() && !line.starts_with(' ') {
            "the line you were typing was not sent; it is kept in history (Up to recall)"
        } else {
            "the line you were typing was not sent"
        };
        self.say_status(note);
        true
    }

    fn remember(&mut self, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        let _ = self.editor.add_history_entry(line);
        let Some(path) = &self.history else { return };
        let saved = self.editor.append_history(path).and_then(|_| {
            fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(Into::into)
        });
        if let Err(e) = saved {
            if !self.history_warned {
                self.history_warned = true;
                self.say_error(&format!(
                    "cannot save history to '{}': {e} (continuing without)",
                    path.display()
                ));
            }
        }
    }

    fn send(&self, messages: Vec<Message>) {
        if self.outbox.send(Command::Send(messages)).is_err() {
            self.say_error("the connection is closed");
        }
    }

    fn hub_command(&self, command: Command) {
        if self.outbox.send(command).is_err() {
            self.say_error("the server has stopped");
        }
    }

    fn close(&self, code: u16, reason: &str) {
        let _ = self.outbox.send(Command::Close {
            code,
            reason: reason.to_string(),
        });
    }

    /// Run a slash command; false when the REPL should end.
    fn command(&mut self, command: Slash) -> bool {
        match command {
            Slash::Help => {
                let mut text =
                    String::from("Type a line to send it as a text message. Commands:\n");
                text.push_str(&help_table(self.opts.hub));
                text.push_str("A line ending in \\ continues on the next line (\\\\ at the end sends one \\);\n");
                text.push_str(
                    "a pasted block is one message; an empty line sends nothing (/empty does).\n",
                );
                text.push_str("Ctrl-C clears the line (on an empty line: quit), Ctrl-D quits, Ctrl-R searches history.");
                self.say(&text);
            }
            Slash::Ping(payload) => self.send(vec![Message::Ping(Bytes::from(payload))]),
            Slash::Pong(payload) => self.send(vec![Message::Pong(Bytes::from(payload))]),
            Slash::Close { code, reason } => {
                self.close(code, &reason);
                return false;
            }
            Slash::Binary(bytes) => {
                if !self.opts.timestamps {
                    self.say(&format!(
                        "> binary, {}",
                        text::count(bytes.len() as u64, "byte")
                    ));
                }
                self.send(vec![Message::Binary(Bytes::from(bytes))]);
            }
            Slash::Empty => {
                let message = if self.opts.binary {
                    Message::Binary(Bytes::new())
                } else {
                    Message::Text("".into())
                };
                self.send(vec![message]);
            }
            Slash::File { path, force_binary } => match fs::read(expand(&path)) {
                Ok(bytes) => {
                    let len = bytes.len();
                    let message = match (force_binary, String::from_utf8(bytes)) {
                        (false, Ok(text)) => Message::Text(text.into()),
                        (_, Ok(text)) => Message::Binary(Bytes::from(text.into_bytes())),
                        (_, Err(e)) => Message::Binary(Bytes::from(e.into_bytes())),
                    };
                    let kind = if matches!(message, Message::Text(_)) {
                        "text"
                    } else {
                        "binary"
                    };
                    self.say(&format!(
                        "> {} ({}, sent as {kind})",
                        path.display(),
                        text::count(len as u64, "byte")
                    ));
                    // A large file's progress is shown before the next prompt.
                    let watch = self.opts.gauge.as_ref().map(|g| g.watch(len));
                    match self.outbox.send(Command::Send(vec![message])) {
                        Ok(()) => watch.into_iter().for_each(|w| w.follow()),
                        Err(_) => self.say_error("the connection is closed"),
                    }
                }
                Err(e) => self.say_error(&format!("cannot read '{}': {e}", path.display())),
            },
            Slash::Info => self.say(&self.info_text()),
            Slash::Stats => self.say(&self.stats_text()),
            Slash::Pretty(setting) => {
                let now = setting.unwrap_or(!self.shared.pretty.load(Ordering::Relaxed));
                self.shared.pretty.store(now, Ordering::Relaxed);
                self.say(&format!(
                    "JSON pretty-printing {}",
                    if now { "on" } else { "off" }
                ));
            }
            Slash::Quit => {
                self.close(1000, "");
                return false;
            }
            Slash::Clients | Slash::To { .. } | Slash::Kick { .. } if !self.opts.hub => {
                self.say_error("/clients, /to and /kick are for --listen serving many clients");
            }
            Slash::Clients => self.hub_command(Command::ListClients),
            Slash::To { client, text } => self.hub_command(Command::SendTo {
                client,
                messages: vec![Message::Text(text.into())],
            }),
            Slash::Kick {
                client,
                code,
                reason,
            } => self.hub_command(Command::Kick {
                client,
                code,
                reason,
            }),
        }
        true
    }

    fn info_text(&self) -> String {
        // The current connection's (it changes with --reconnect).
        let info = self
            .shared
            .info
            .lock()
            .map(|i| i.clone())
            .unwrap_or_default();
        let mut text = format!("URL:         {}\n", info.url);
        text.push_str(&format!(
            "subprotocol: {}\n",
            info.subprotocol.as_deref().unwrap_or("(none)")
        ));
        text.push_str(&format!(
            "uptime:      {}\n",
            humantime::format_duration(std::time::Duration::from_secs(
                self.shared.connected_at.elapsed().as_secs()
            ))
        ));
        if let Some(agreed) = &info.deflate {
            text.push_str(&format!("extension:   permessage-deflate: {agreed}\n"));
        }
        text.push_str(&format!("response:    {} {}", info.status, info.reason));
        for (name, value) in &info.response_headers {
            let value = redact::header_value(name, value, self.opts.show_secrets);
            text.push_str(&format!("\n  {name}: {}", visible(&value)));
        }
        text
    }

    fn stats_text(&self) -> String {
        let s = self.shared.stats();
        let mut text = format!(
            "sent:     {}, {}\nreceived: {}, {}\npings:    {} sent, {} pongs received, last round trip {}",
            text::count(s.sent.messages, "message"),
            text::count(s.sent.bytes, "byte"),
            text::count(s.received.messages, "message"),
            text::count(s.received.bytes, "byte"),
            s.pings_sent,
            s.pongs_received,
            s.last_rtt.map(fmt_rtt).unwrap_or_else(|| "-".into())
        );
        if let Some(rtt) = s.rtt() {
            text.push_str(&format!(
                "\nrtt:      {} ({})",
                crate::output::summary::rtt_text(&rtt),
                text::count(rtt.samples, "sample")
            ));
        }
        if self.shared.info.lock().is_ok_and(|i| i.deflate.is_some()) {
            text.push_str(&format!(
                "\ndeflate:  sent {}, received {}",
                deflate_ratio(s.deflated_out),
                deflate_ratio(s.deflated_in)
            ));
        }
        text
    }
}

/// `100000 bytes as 512 on the wire (0.5%)`: the compressed messages' data and
/// wire sizes.
fn deflate_ratio((data, wire): (u64, u64)) -> String {
    if data == 0 {
        return "nothing compressed".into();
    }
    format!(
        "{} as {} on the wire ({:.1}%)",
        text::count(data, "byte"),
        wire,
        wire as f64 * 100.0 / data as f64
    )
}

/// Local output of the REPL thread. It runs between two `readline` calls, when
/// the terminal is in its normal mode, so writing to stdout is safe.
/// The commands as two aligned columns: the command with its arguments, then what
/// it does (COMMANDS keeps both in one string, split at the first double space).
fn help_table(hub: bool) -> String {
    let hub_commands = if hub { HUB_COMMANDS } else { &[] };
    let rows: Vec<(String, &str)> = COMMANDS
        .iter()
        .chain(hub_commands)
        .map(|(name, help)| match (hub, *name) {
            // Serving many clients, these end the server, not one connection.
            (true, "/close") => (
                *name,
                "[code [reason]]  close every client and stop (default 1000)",
            ),
            (true, "/quit") => (*name, "close every client and exit (also /exit, Ctrl-D)"),
            _ => (*name, *help),
        })
        .map(|(name, help)| match help.split_once("  ") {
            Some((args, what)) => (format!("{name} {args}"), what),
            None => (name.to_string(), help),
        })
        .chain([("//text".to_string(), "send '/text' literally")])
        .collect();
    let width = rows.iter().map(|(usage, _)| usage.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(usage, what)| format!("  {usage:<width$}  {what}\n"))
        .collect()
}

/// Write a line under the prompt and note it among what is shown.
fn write_shown(shown: &Shown, line: String) {
    shown.record(&line);
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// `/file ~/x.json` reads `$HOME/x.json`, as a shell would.
fn expand(path: &Path) -> PathBuf {
    match path.to_str() {
        Some(text) => complete::expand_home(text),
        None => path.to_path_buf(),
    }
}

/// The history file: `$XDG_STATE_HOME/wsprobe/history`, else
/// `~/.local/state/wsprobe/history`.
pub fn default_history_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".local/state"))
        })?;
    Some(state.join("wsprobe").join("history"))
}

/// The prompt: `host[:port]/path> `.
pub fn prompt_for(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("");
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{host}{port}{}> ", u.path())
        }
        Err(_) => "> ".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_columns_are_aligned() {
        let table = help_table(false);
        let hub = help_table(true);
        assert!(hub.contains("/kick <id> [code [reason]]"), "{hub}");
        assert!(hub.contains("close every client and stop"), "{hub}");
        assert!(!table.contains("/kick"), "{table}");
        assert!(table.contains("/close [code [reason]]"), "{table}");
        // Where the description starts: after the usage's first double space.
        let column = |line: &str| {
            let usage_end = 2 + line[2..].find("  ").unwrap_or(0);
            usage_end + line[usage_end..].find(|c: char| c != ' ').unwrap_or(0)
        };
        let first = column(table.lines().next().unwrap_or_default());
        for line in table.lines() {
            assert_eq!(column(line), first, "{table}");
        }
    }

    #[test]
    fn prompt_shows_host_and_path() {
        assert_eq!(
            prompt_for("ws://localhost:9001/chat"),
            "localhost:9001/chat> "
        );
        assert_eq!(prompt_for("wss://example.com/"), "example.com/> ");
    }
}
