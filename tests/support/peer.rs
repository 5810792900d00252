//! The independent peer: the Python `websockets` server (tests/peer/),
//! installed once per test process, started per test, and the JSON events
//! it prints about what it observed.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;

use super::DEADLINE;

fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a setup script of tests/peer/ (path from the crate root).
fn run_setup(path: &str) -> Result<(PathBuf, std::process::Output), String> {
    let script = crate_root().join(path);
    let out = Command::new("sh")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run {}: {e}", script.display()))?;
    Ok((script, out))
}

/// Runs tests/peer/setup.sh once per process; returns the launcher that runs
/// Python with `websockets` importable. Panics (fails the test) with the
/// script's stderr if the setup fails.
pub fn peer_python() -> &'static Path {
    static LAUNCHER: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let r = LAUNCHER.get_or_init(|| {
        let (script, out) = run_setup("tests/peer/setup.sh")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}):\n{}{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr),
                stdout
            ));
        }
        stdout
            .lines()
            .last()
            .map(PathBuf::from)
            .filter(|p| p.is_file())
            .ok_or_else(|| format!("{} printed no launcher path: {stdout:?}", script.display()))
    });
    match r {
        Ok(p) => p,
        Err(e) => panic!("peer setup failed: {e}"),
    }
}

/// Runs tests/peer/setup-node.sh once per process: the node_modules holding
/// `ws`, or `None` when node or npm is missing (the script exits 3). Panics on
/// any other failure.
fn node_modules() -> Option<&'static Path> {
    static MODULES: OnceLock<Result<Option<PathBuf>, String>> = OnceLock::new();
    let r = MODULES.get_or_init(|| {
        let (script, out) = run_setup("tests/peer/setup-node.sh")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        match out.status.code() {
            Some(0) => Ok(stdout.lines().last().map(PathBuf::from)),
            Some(3) => {
                eprintln!(
                    "skipping the Node `ws` peer: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                Ok(None)
            }
            _ => Err(format!(
                "{} failed ({}):\n{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )),
        }
    });
    match r {
        Ok(p) => p.as_deref(),
        Err(e) => panic!("node peer setup failed: {e}"),
    }
}

/// One line of JSON the Python peer printed about what it observed.
pub type PeerEvent = String;

/// The Python `websockets` server (tests/peer/server.py), killed on drop.
pub struct PeerServer {
    child: Child,
    pub url: String,
    events: Receiver<PeerEvent>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl PeerServer {
    /// Starts server.py with `args` (e.g. `["echo"]`,
    /// `["--subprotocol", "chat", "push", "3", "1000"]`), waiting for its
    /// `listening on ...` line.
    #[track_caller]
    pub fn start(args: &[&str]) -> PeerServer {
        let mut command = Command::new(peer_python());
        command
            .arg(crate_root().join("tests/peer/server.py"))
            .args(args);
        Self::spawn(command, true)
    }

    /// Starts server.py on the Unix socket `path` (`--unix PATH`); `url` is then
    /// `unix:PATH`.
    #[track_caller]
    pub fn start_unix(path: &Path, args: &[&str]) -> PeerServer {
        let path = path.to_str().expect("a UTF-8 socket path");
        let mut all = vec!["--unix", path];
        all.extend_from_slice(args);
        Self::start(&all)
    }

    /// Runs server.py's `client URL ITEM...` mode (the Python client, for
    /// listen mode): its events as for the server; `url` stays empty.
    #[track_caller]
    pub fn start_client(args: &[&str]) -> PeerServer {
        Self::start_client_with(&[], args)
    }

    /// [`PeerServer::start_client`] with server.py's own options first (e.g.
    /// `["--subprotocol", "chat"]`, the subprotocols the client offers).
    #[track_caller]
    pub fn start_client_with(options: &[&str], args: &[&str]) -> PeerServer {
        let mut command = Command::new(peer_python());
        command
            .arg(crate_root().join("tests/peer/server.py"))
            .args(options)
            .arg("client")
            .args(args);
        Self::spawn(command, false)
    }

    /// Starts Node's `ws` server (tests/peer/node_server.js) with `args`;
    /// `None` (after saying so on stderr) when node or npm is not installed.
    #[track_caller]
    pub fn start_node(args: &[&str]) -> Option<PeerServer> {
        let modules = node_modules()?;
        let mut command = Command::new("node");
        command
            .env("NODE_PATH", modules)
            .arg(crate_root().join("tests/peer/node_server.js"))
            .args(args);
        Some(Self::spawn(command, true))
    }

    #[track_caller]
    fn spawn(mut command: Command, server: bool) -> PeerServer {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the peer");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        {
            let stderr = stderr.clone();
            let mut err = child.stderr.take().unwrap();
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    stderr.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
        let (tx, rx): (Sender<String>, _) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut peer = PeerServer {
            child,
            url: String::new(),
            events: rx,
            stderr,
        };
        if !server {
            return peer;
        }
        match peer.events.recv_timeout(DEADLINE) {
            Ok(line)
                if line.starts_with("listening on ws://127.0.0.1:")
                    || line.starts_with("listening on wss://127.0.0.1:")
                    || line.starts_with("listening on unix:") =>
            {
                peer.url = line["listening on ".len()..].to_string();
            }
            other => panic!(
                "server.py did not report its port: {other:?}; stderr: {}",
                peer.stderr_str()
            ),
        }
        peer
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// The next JSON event line. Panics after [`DEADLINE`].
    #[track_caller]
    pub fn event(&self) -> PeerEvent {
        match self.events.recv_timeout(DEADLINE) {
            Ok(e) => e,
            Err(e) => panic!(
                "no event from server.py within {DEADLINE:?} ({e}); stderr: {}",
                self.stderr_str()
            ),
        }
    }

    /// Events up to and including the next `closed` event.
    #[track_caller]
    pub fn events_until_closed(&self) -> Vec<PeerEvent> {
        let mut out = Vec::new();
        loop {
            let e = self.event();
            let done = e.contains(r#""event": "closed""#);
            out.push(e);
            if done {
                return out;
            }
        }
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Minimal JSON string encoder, to compare with the peer's `json.dumps`
/// output (ASCII-only escaping, as Python does by default).
fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The event the peer prints for a text message `s` it received.
pub fn peer_text(s: &str) -> PeerEvent {
    format!(
        r#"{{"event": "message", "type": "text", "data": {}}}"#,
        json_str(s)
    )
}

/// The event the peer prints for the close code and reason it received.
pub fn peer_closed(code: u16, reason: &str) -> PeerEvent {
    format!(
        r#"{{"event": "closed", "code": {code}, "reason": {}}}"#,
        json_str(reason)
    )
}
