//! The runner: every test starts wsprobe through [`Wsprobe`], with a cleaned
//! environment and a time limit. A finished run is a [`Run`] (with its
//! assertions); a process driven step by step is a [`Live`] (stdin, stdout
//! and stderr line by line, signals, peak memory). Also scratch directories.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// Upper bound for anything a test waits for (a run of the binary, a server
/// observation, a line of output). Generous, because CI machines are slow;
/// a hang fails the test after this long instead of hanging the suite.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The version wsprobe reports in its default User-Agent.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How long output still being written is collected after the process has
/// exited (a child it left behind may hold the pipe open).
const DRAIN: Duration = Duration::from_secs(5);

/// Environment variables that could change how wsprobe behaves (every
/// variable it reads to choose a proxy, the TLS key log, and colors); removed so that the
/// tests do not depend on the caller's shell.
const SCRUBBED_ENV: &[&str] = &[
    "ws_proxy",
    "WS_PROXY",
    "wss_proxy",
    "WSS_PROXY",
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "CLICOLOR_FORCE",
    "SSLKEYLOGFILE",
];

/// Path of the wsprobe binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_wsprobe")
}

/// A temporary directory under Cargo's `target/tmp` (removed on drop).
pub fn test_tempdir() -> tempfile::TempDir {
    let base = env!("CARGO_TARGET_TMPDIR");
    std::fs::create_dir_all(base).unwrap();
    tempfile::tempdir_in(base).unwrap()
}

/// Runs wsprobe with `args` and `stdin` as its whole standard input (a pipe,
/// so wsprobe is in pipe mode), killing it after [`DEADLINE`].
pub fn wsprobe(args: &[&str], stdin: impl Into<Vec<u8>>) -> Run {
    Wsprobe::new(args).stdin(stdin).run()
}

/// Like [`wsprobe`], with exactly the variables of `env` set on top of the
/// cleaned environment (e.g. `TZ`, or the proxy variables).
pub fn wsprobe_env(args: &[&str], stdin: impl Into<Vec<u8>>, env: &[(&str, &str)]) -> Run {
    Wsprobe::new(args).stdin(stdin).envs(env).run()
}

/// What the process reads on stdin.
pub enum Stdin {
    /// These bytes through a pipe, which is then closed.
    Bytes(Vec<u8>),
    /// A pipe the test writes to ([`Live::send_stdin`]) and closes.
    Piped,
    /// /dev/null.
    Null,
    /// This file.
    File(File),
}

/// Where the process's stdout goes.
pub enum Stdout {
    /// Collected whole, for [`Run::stdout`].
    Capture,
    /// Read line by line (terminator included) by [`Live::line`]; the lines
    /// not read end up in [`Run::stdout`].
    Lines,
    /// Read this many lines, then close the read end of the pipe (like
    /// `| head -N`).
    LinesThenClose(usize),
    /// A pipe that is held open and never read: stdout stalls once the pipe
    /// buffer is full.
    Unread,
    /// Written to this file.
    File(File),
}

/// One run of wsprobe (or of a shell command using it) to set up: the
/// environment is cleaned (see [`SCRUBBED_ENV`]; `NO_COLOR=1`), and the run
/// is killed after its time limit ([`DEADLINE`] unless set).
pub struct Wsprobe {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    dir: Option<PathBuf>,
    stdin: Stdin,
    stdout: Stdout,
    limit: Duration,
    measure_memory: bool,
}

impl Wsprobe {
    pub fn new(args: &[&str]) -> Wsprobe {
        Wsprobe {
            program: bin().to_string(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            dir: None,
            stdin: Stdin::Bytes(Vec::new()),
            stdout: Stdout::Capture,
            limit: DEADLINE,
            measure_memory: false,
        }
    }

    /// `bash -c '{ COMMAND ; } 2>&1'` with wsprobe's directory first on
    /// `PATH` (stdout and stderr together, in [`Run::stdout`]).
    pub fn shell(command: &str) -> Wsprobe {
        let bin_dir = Path::new(bin()).parent().unwrap();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut w = Wsprobe::new(&["-c", &format!("{{ {command} ; }} 2>&1")]);
        w.program = "bash".into();
        w.env("PATH", &path)
    }

    pub fn env(mut self, name: &str, value: &str) -> Wsprobe {
        self.env.push((name.into(), value.into()));
        self
    }

    pub fn envs(self, env: &[(&str, &str)]) -> Wsprobe {
        env.iter().fold(self, |w, (k, v)| w.env(k, v))
    }

    pub fn current_dir(mut self, dir: &Path) -> Wsprobe {
        self.dir = Some(dir.to_path_buf());
        self
    }

    /// `data` as the whole of stdin.
    pub fn stdin(self, data: impl Into<Vec<u8>>) -> Wsprobe {
        self.stdin_from(Stdin::Bytes(data.into()))
    }

    pub fn stdin_from(mut self, stdin: Stdin) -> Wsprobe {
        self.stdin = stdin;
        self
    }

    pub fn stdout(mut self, stdout: Stdout) -> Wsprobe {
        self.stdout = stdout;
        self
    }

    /// Kill the run after `limit` instead of [`DEADLINE`].
    pub fn time_limit(mut self, limit: Duration) -> Wsprobe {
        self.limit = limit;
        self
    }

    /// Sample the peak resident memory while the process runs
    /// ([`Run::peak_rss_kb`]).
    pub fn measure_memory(mut self) -> Wsprobe {
        self.measure_memory = true;
        self
    }

    /// The command with its cleaned environment, for a caller that runs it
    /// itself (in a pseudo-terminal) and bounds every wait on it.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        for var in SCRUBBED_ENV {
            cmd.env_remove(var);
        }
        cmd.env("NO_COLOR", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        cmd
    }

    /// Runs to the end (killed at the time limit) and returns the outcome.
    pub fn run(self) -> Run {
        let limit = self.limit;
        self.spawn().finish(limit)
    }

    /// Starts the process, to be driven by the test.
    pub fn spawn(self) -> Live {
        let mut cmd = self.command();
        let mut stdin_bytes = None;
        match self.stdin {
            Stdin::Bytes(b) => {
                cmd.stdin(Stdio::piped());
                stdin_bytes = Some(b);
            }
            Stdin::Piped => {
                cmd.stdin(Stdio::piped());
            }
            Stdin::Null => {
                cmd.stdin(Stdio::null());
            }
            Stdin::File(f) => {
                cmd.stdin(f);
            }
        }
        let mut max_lines = None;
        let mut capture = false;
        let unread = matches!(self.stdout, Stdout::Unread);
        match self.stdout {
            Stdout::Capture => {
                capture = true;
                cmd.stdout(Stdio::piped());
            }
            Stdout::Lines | Stdout::Unread => {
                cmd.stdout(Stdio::piped());
            }
            Stdout::LinesThenClose(n) => {
                max_lines = Some(n);
                cmd.stdout(Stdio::piped());
            }
            Stdout::File(f) => {
                cmd.stdout(f);
            }
        }
        cmd.stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", self.program));
        let pid = child.id() as i32;

        let mut stdin = child.stdin.take();
        if let Some(bytes) = stdin_bytes {
            let mut pipe = stdin.take().unwrap();
            // Fails with EPIPE when wsprobe exits without reading it all.
            thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
        }
        let mut held_stdout = None;
        let mut stdout_lines = None;
        let mut stdout_bytes = None;
        if let Some(out) = child.stdout.take() {
            if capture {
                stdout_bytes = Some(read_all(out));
            } else if unread {
                held_stdout = Some(out);
            } else {
                stdout_lines = Some(line_reader(out, max_lines));
            }
        }
        let stderr_lines = line_reader(child.stderr.take().unwrap(), None);
        // The child is reaped by waitpid(2) in this thread. With
        // `measure_memory` it polls instead, sampling the peak resident
        // memory (VmHWM) until the exit. (The rusage of wait4(2) would count
        // this test process's memory too: the child shares it until exec.)
        drop(child);
        let (tx, exit) = mpsc::channel();
        let measure = self.measure_memory;
        thread::spawn(move || {
            let mut peak = None;
            let mut status = 0;
            let mut pause = Duration::from_millis(1);
            loop {
                let flags = if measure { libc::WNOHANG } else { 0 };
                // SAFETY: waitpid on our own child, reaped only here.
                let r = unsafe { libc::waitpid(pid, &mut status, flags) };
                if r == pid {
                    break;
                }
                if r < 0
                    && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                {
                    continue;
                }
                if r != 0 {
                    return;
                }
                if let Some(kb) = vm_hwm_kb(pid) {
                    peak = Some(peak.unwrap_or(0).max(kb));
                }
                // Sampling, not waiting for anything: the child may exit at
                // any time.
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            let _ = tx.send(Exit {
                status: ExitStatus::from_raw(status),
                at: Instant::now(),
                peak_rss_kb: peak,
            });
        });
        let mut args = self.args;
        if self.program != bin() {
            args.insert(0, self.program);
        }
        Live {
            pid,
            args,
            started,
            stdin,
            _held_stdout: held_stdout,
            stdout_lines,
            stdout_bytes,
            stderr_lines,
            stderr_seen: Vec::new(),
            exit,
            exited: None,
        }
    }
}

/// Reads `r` line by line (terminators included) into a channel; stops
/// after `max` lines, closing `r`.
fn line_reader(r: impl Read + Send + 'static, max: Option<usize>) -> Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut read = 0;
        while max.is_none_or(|m| read < m) {
            let mut line = Vec::new();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    read += 1;
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

fn read_all(mut r: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

#[derive(Clone, Copy)]
struct Exit {
    status: ExitStatus,
    at: Instant,
    peak_rss_kb: Option<u64>,
}

/// The peak resident memory of process `pid` so far, in KiB.
fn vm_hwm_kb(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// A running process started by [`Wsprobe::spawn`]. Killed on drop if still
/// running.
pub struct Live {
    pid: i32,
    args: Vec<String>,
    started: Instant,
    stdin: Option<ChildStdin>,
    _held_stdout: Option<ChildStdout>,
    stdout_lines: Option<Receiver<Vec<u8>>>,
    stdout_bytes: Option<Receiver<Vec<u8>>>,
    stderr_lines: Receiver<Vec<u8>>,
    stderr_seen: Vec<u8>,
    exit: Receiver<Exit>,
    exited: Option<Exit>,
}

impl Live {
    /// Writes to the process's stdin ([`Stdin::Piped`]) and flushes.
    pub fn send_stdin(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin is not a pipe held open");
        stdin.write_all(data).expect("write to wsprobe's stdin");
        stdin.flush().expect("flush wsprobe's stdin");
    }

    /// The next line written to stdout ([`Stdout::Lines`]), with its `\n`,
    /// or `None` at the end of output. Panics after [`DEADLINE`].
    #[track_caller]
    pub fn line(&mut self) -> Option<Vec<u8>> {
        let rx = self
            .stdout_lines
            .as_ref()
            .expect("stdout is not read as lines");
        match rx.recv_timeout(DEADLINE) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => {
                panic!("no line from {:?} within {DEADLINE:?}", self.args)
            }
        }
    }

    /// The next line written to stderr, or `None` at its end. Panics after
    /// [`DEADLINE`].
    #[track_caller]
    pub fn stderr_line(&mut self) -> Option<String> {
        match self.stderr_lines.recv_timeout(DEADLINE) {
            Ok(line) => {
                self.stderr_seen.extend_from_slice(&line);
                Some(String::from_utf8_lossy(&line).into_owned())
            }
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => {
                panic!("no stderr line from {:?} within {DEADLINE:?}", self.args)
            }
        }
    }

    /// The URL of `wsprobe: listening on URL`, the first line of `--listen`.
    #[track_caller]
    pub fn listening_url(&mut self) -> String {
        let first = self.stderr_line().unwrap_or_default();
        match first.trim().strip_prefix("wsprobe: listening on ") {
            Some(url) => url.to_string(),
            None => panic!("unexpected first stderr line {first:?}"),
        }
    }

    /// Everything written to stderr so far.
    pub fn stderr_so_far(&mut self) -> String {
        while let Ok(line) = self.stderr_lines.try_recv() {
            self.stderr_seen.extend_from_slice(&line);
        }
        String::from_utf8_lossy(&self.stderr_seen).into_owned()
    }

    pub fn signal(&self, sig: i32) {
        if self.exited.is_none() {
            // SAFETY: plain kill(2) on our own child, which has not been reaped
            // (the waiter thread only reaps it after it exits).
            unsafe {
                libc::kill(self.pid, sig);
            }
        }
    }

    /// Waits up to `limit` for the process to exit; its status if it did.
    pub fn try_wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.exit.recv_timeout(limit).ok();
        }
        self.exited.map(|e| e.status)
    }

    /// Waits up to `limit` for the process to exit; kills it and panics,
    /// showing its stderr, if it did not.
    #[track_caller]
    pub fn wait(&mut self, limit: Duration) -> Run {
        let run = self.finish_inner(limit);
        if run.killed.is_some() {
            panic!("{run}");
        }
        run
    }

    /// Like [`Live::wait`], but a run killed at `limit` is returned (with
    /// [`Run::code`] `None`) instead of panicking.
    pub fn finish(mut self, limit: Duration) -> Run {
        self.finish_inner(limit)
    }

    fn finish_inner(&mut self, limit: Duration) -> Run {
        let killed = match self.try_wait(limit) {
            Some(_) => None,
            None => {
                self.signal(libc::SIGKILL);
                self.exited = self.exit.recv_timeout(DRAIN).ok();
                Some(limit)
            }
        };
        let exit = self.exited.unwrap_or(Exit {
            status: ExitStatus::from_raw(libc::SIGKILL),
            at: Instant::now(),
            peak_rss_kb: None,
        });
        self.stdin = None;
        let mut stdout = Vec::new();
        if let Some(rx) = &self.stdout_bytes {
            stdout = rx.recv_timeout(DRAIN).unwrap_or_default();
        } else if let Some(rx) = &self.stdout_lines {
            while let Ok(line) = rx.recv_timeout(DRAIN) {
                stdout.extend_from_slice(&line);
            }
        }
        while let Ok(line) = self.stderr_lines.recv_timeout(DRAIN) {
            self.stderr_seen.extend_from_slice(&line);
        }
        let run = Run {
            args: self.args.clone(),
            code: exit.status.code(),
            status: exit.status,
            stdout,
            stderr: self.stderr_seen.clone(),
            elapsed: exit.at - self.started,
            peak_rss_kb: exit.peak_rss_kb,
            killed,
        };
        // Every --jsonl or --record output of every test meets the published schema.
        super::check_machine_output(&run);
        run
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if self.exited.is_none() && self.exit.try_recv().is_err() {
            self.signal(libc::SIGKILL);
        }
    }
}

/// The outcome of one finished run.
pub struct Run {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// From the start to the exit.
    pub elapsed: Duration,
    /// Peak resident memory, in KiB, with [`Wsprobe::measure_memory`].
    pub peak_rss_kb: Option<u64>,
    /// The time limit, when the run was killed for reaching it.
    pub killed: Option<Duration>,
}

fn clip(bytes: &[u8]) -> String {
    const MAX: usize = 2000;
    let s = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]).into_owned();
    if bytes.len() > MAX {
        format!("{s}... ({} bytes in all)", bytes.len())
    } else {
        s
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "wsprobe {:?}", self.args)?;
        write!(f, "  status: {} (after {:?})", self.status, self.elapsed)?;
        if let Some(limit) = self.killed {
            write!(f, ", killed: still running after {limit:?}")?;
        }
        writeln!(f)?;
        writeln!(f, "  stdout: {:?}", clip(&self.stdout))?;
        write!(f, "  stderr: {:?}", clip(&self.stderr))
    }
}

impl Run {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(expected),
            "expected exit code {expected}\n{self}"
        );
        self
    }

    #[track_caller]
    pub fn stdout(&self, expected: impl AsRef<[u8]>) -> &Self {
        let expected = expected.as_ref();
        assert!(
            self.stdout == expected,
            "expected stdout {:?}\n{self}",
            clip(expected)
        );
        self
    }

    #[track_caller]
    pub fn stderr_empty(&self) -> &Self {
        assert!(self.stderr.is_empty(), "expected empty stderr\n{self}");
        self
    }

    /// stderr contains `needle`, ignoring ASCII case.
    #[track_caller]
    pub fn stderr_contains(&self, needle: &str) -> &Self {
        let hay = self.stderr_str().to_ascii_lowercase();
        assert!(
            hay.contains(&needle.to_ascii_lowercase()),
            "expected stderr to contain {needle:?}\n{self}"
        );
        self
    }

    /// stderr contains at least one of `needles`, ignoring ASCII case.
    #[track_caller]
    pub fn stderr_contains_any(&self, needles: &[&str]) -> &Self {
        let hay = self.stderr_str().to_ascii_lowercase();
        assert!(
            needles
                .iter()
                .any(|n| hay.contains(&n.to_ascii_lowercase())),
            "expected stderr to contain one of {needles:?}\n{self}"
        );
        self
    }

    /// stderr contains `needle`, case-sensitive.
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr_str().contains(needle),
            "expected stderr to contain {needle:?} (case-sensitive)\n{self}"
        );
        self
    }

    /// stderr does not contain `needle`.
    #[track_caller]
    pub fn stderr_lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.stderr_str().contains(needle),
            "expected stderr not to contain {needle:?}\n{self}"
        );
        self
    }

    /// stderr is exactly one line, starting with `wsprobe: `.
    #[track_caller]
    pub fn one_error_line(&self) -> &Self {
        let err = self.stderr_str();
        let body = err.strip_suffix('\n').unwrap_or(&err);
        assert!(
            body.starts_with("wsprobe: ") && !body.contains('\n'),
            "expected one stderr line starting with `wsprobe: `\n{self}"
        );
        self
    }

    /// No panic message or backtrace on stderr.
    #[track_caller]
    pub fn no_panic(&self) -> &Self {
        let err = self.stderr_str();
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
            "wsprobe panicked\n{self}"
        );
        self
    }

    /// The run ended before `bound`.
    #[track_caller]
    pub fn finished_within(&self, bound: Duration) -> &Self {
        assert!(
            self.elapsed < bound,
            "expected wsprobe to finish within {bound:?}\n{self}"
        );
        self
    }

    /// The run took at least `min` and less than `max`.
    #[track_caller]
    pub fn took_between(&self, min: Duration, max: Duration) -> &Self {
        assert!(
            self.elapsed >= min && self.elapsed < max,
            "expected wsprobe to take from {min:?} to {max:?}\n{self}"
        );
        self
    }
}
