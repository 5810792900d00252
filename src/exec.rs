//! `--exec CMD`: a small pool of worker threads that run `sh -c CMD` for each
//! received data message, with the payload on the command's stdin, and hand the
//! session back what each command printed, in the order the messages arrived.
//!
//! Why threads and not the session's poll loop: a command is a blocking
//! write-stdin/read-stdout/wait sequence, and the session must keep looking at
//! the socket, the deadline and signals every few milliseconds. The workers talk
//! to the session only through two channels and its waker, so the session stays
//! the single owner of the connection.
//!
//! Memory and order: the session submits a message only while fewer than
//! [`Pool::capacity`] are in flight (submitted and not yet handed back); past
//! that it stops reading the socket, so a slow command slows the peer down
//! instead of queueing messages without bound. Results that finish out of order
//! (with `--exec-jobs` above 1) wait in a map until their turn.
//!
//! Every command runs in its own process group, so that when the run ends (the
//! peer closed, `--timeout`, Ctrl-C) the commands still running, and whatever
//! they started, are killed rather than left behind.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread;

use mio::Waker;
use tungstenite::{Bytes, Message};

/// What `--exec`, `--exec-jobs` and `--exec-strict` asked for.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub command: String,
    /// How many commands may run at once (at least 1).
    pub jobs: usize,
    /// A command that fails ends the run (exit 1).
    pub strict: bool,
    /// A command's output longer than this is not sent (`--max-message-size`).
    pub max_output: usize,
}

/// One received message, numbered from 1 in arrival order.
struct Job {
    seq: u64,
    text: bool,
    payload: Bytes,
}

/// What a command did with one message.
struct Finished {
    seq: u64,
    text: bool,
    output: Vec<u8>,
    result: Result<ExitStatus, String>,
}

/// What the session does with one message's command, in arrival order.
#[derive(Debug, PartialEq)]
pub enum Reaction {
    /// Send this back (the command printed something and succeeded).
    Send(Message),
    /// The command printed nothing and succeeded.
    Nothing,
    /// The command failed (its output, if any, is not sent).
    Failed(String),
}

/// Process groups of the commands running now, to kill when the run ends.
type Running = Arc<Mutex<Vec<i32>>>;

pub struct Pool {
    options: ExecOptions,
    jobs: Option<SyncSender<Job>>,
    finished: Receiver<Finished>,
    running: Running,
    stopping: Arc<AtomicBool>,
    /// The number the next submitted message gets.
    next_seq: u64,
    /// The number of the next message whose reaction is handed out.
    next_out: u64,
    /// Finished ahead of their turn.
    ready: BTreeMap<u64, Finished>,
}

impl Pool {
    pub fn start(options: ExecOptions, waker: Arc<Waker>) -> io::Result<Pool> {
        let workers = options.jobs.max(1);
        let (jobs_tx, jobs_rx) = mpsc::sync_channel::<Job>(workers * 2);
        let jobs_rx = Arc::new(Mutex::new(jobs_rx));
        let (done_tx, done_rx) = mpsc::channel();
        let running: Running = Arc::default();
        let stopping = Arc::new(AtomicBool::new(false));
        for n in 0..workers {
            let worker = Worker {
                command: options.command.clone(),
                max_output: options.max_output,
                jobs: Arc::clone(&jobs_rx),
                done: done_tx.clone(),
                waker: Arc::clone(&waker),
                running: Arc::clone(&running),
                stopping: Arc::clone(&stopping),
            };
            thread::Builder::new()
                .name(format!("exec-{n}"))
                .spawn(move || worker.run())?;
        }
        Ok(Pool {
            options,
            jobs: Some(jobs_tx),
            finished: done_rx,
            running,
            stopping,
            next_seq: 1,
            next_out: 1,
            ready: BTreeMap::new(),
        })
    }

    pub fn strict(&self) -> bool {
        self.options.strict
    }

    /// How many messages may be in flight before the session stops reading.
    pub fn capacity(&self) -> usize {
        self.options.jobs.max(1) * 2
    }

    /// Whether another message can be submitted now.
    pub fn has_room(&self) -> bool {
        self.in_flight() < self.capacity()
    }

    fn in_flight(&self) -> usize {
        (self.next_seq - self.next_out) as usize
    }

    /// Run the command for a received message. Call only when [`has_room`]
    /// (the channel holds `capacity` jobs, so this never blocks).
    pub fn submit(&mut self, text: bool, payload: Bytes) {
        let Some(jobs) = &self.jobs else {
            return;
        };
        let seq = self.next_seq;
        match jobs.try_send(Job { seq, text, payload }) {
            Ok(()) => self.next_seq += 1,
            // Unreachable while has_room holds; dropping the message is the
            // honest fallback (reading is paused meanwhile by has_room anyway).
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
        }
    }

    /// The reactions whose turn has come, in arrival order.
    pub fn take_ready(&mut self) -> Vec<Reaction> {
        while let Ok(finished) = self.finished.try_recv() {
            self.ready.insert(finished.seq, finished);
        }
        let mut out = Vec::new();
        while let Some(finished) = self.ready.remove(&self.next_out) {
            self.next_out += 1;
            out.push(react(&self.options.command, finished));
        }
        out
    }
}

impl Drop for Pool {
    /// The run is over: no more jobs, and the commands still running are killed
    /// with their process groups.
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.jobs = None;
        let running = match self.running.lock() {
            Ok(running) => running,
            Err(poisoned) => poisoned.into_inner(),
        };
        for &group in running.iter() {
            kill_group(group);
        }
    }
}

/// Kill a command and whatever it started. The shell's `kill` builtin does it:
/// the crate forbids `unsafe`, so libc::kill is out, and this runs only for
/// commands still running when the run ends.
fn kill_group(group: i32) {
    let _ = Command::new("sh")
        .args(["-c", "kill -s KILL -- \"-$1\" 2>/dev/null", "sh"])
        .arg(group.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// How a finished command becomes a reaction: its output is sent back as text
/// when the message was text and the output is UTF-8, else as binary.
fn react(command: &str, finished: Finished) -> Reaction {
    let status = match finished.result {
        Ok(status) => status,
        Err(e) => return Reaction::Failed(format!("--exec '{command}': {e}")),
    };
    if !status.success() {
        let how = match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(signal)) => format!("was killed by signal {signal}"),
            (None, None) => "failed".to_string(),
        };
        return Reaction::Failed(format!(
            "--exec '{command}' {how} for message {}",
            finished.seq
        ));
    }
    if finished.output.is_empty() {
        return Reaction::Nothing;
    }
    let message = match String::from_utf8(finished.output) {
        Ok(mut text) if finished.text => {
            // One trailing newline is the end of the command's line, not part
            // of the message (as with the shell's `$(…)`), so `echo` works.
            if text.ends_with('\n') {
                text.pop();
            }
            Message::Text(text.into())
        }
        Ok(text) => Message::Binary(Bytes::from(text.into_bytes())),
        Err(e) => Message::Binary(Bytes::from(e.into_bytes())),
    };
    Reaction::Send(message)
}

struct Worker {
    command: String,
    max_output: usize,
    jobs: Arc<Mutex<Receiver<Job>>>,
    done: mpsc::Sender<Finished>,
    waker: Arc<Waker>,
    running: Running,
    stopping: Arc<AtomicBool>,
}

impl Worker {
    fn run(self) {
        loop {
            let job = {
                let jobs = match self.jobs.lock() {
                    Ok(jobs) => jobs,
                    Err(_) => return,
                };
                match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                }
            };
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            let (output, result) = self.execute(&job);
            let finished = Finished {
                seq: job.seq,
                text: job.text,
                output,
                result,
            };
            if self.done.send(finished).is_err() {
                return;
            }
            let _ = self.waker.wake();
        }
    }

    /// Run the command with the payload on its stdin; its stdout is collected
    /// (up to `max_output`), its stderr goes to wsprobe's.
    fn execute(&self, job: &Job) -> (Vec<u8>, Result<ExitStatus, String>) {
        let kind = if job.text { "text" } else { "binary" };
        let spawned = Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .env("WSPROBE_TYPE", kind)
            .env("WSPROBE_SEQ", job.seq.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => return (Vec::new(), Err(format!("cannot run sh: {e}"))),
        };
        let group = child.id() as i32;
        self.track(group, true);
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let mut output = Vec::new();
        let mut too_long = false;
        thread::scope(|scope| {
            // Written from a second thread: a command that prints before it has
            // read all its input would otherwise deadlock with us.
            if let Some(mut stdin) = stdin {
                let payload = &job.payload;
                scope.spawn(move || {
                    // A command that does not read its input is not an error.
                    let _ = stdin.write_all(payload);
                });
            }
            if let Some(stdout) = stdout {
                let limit = self.max_output as u64 + 1;
                let mut taken = stdout.take(limit);
                let _ = taken.read_to_end(&mut output);
                if output.len() > self.max_output {
                    too_long = true;
                    output.clear();
                    // Drain the rest so the command is not stuck on a full pipe.
                    let _ = io::copy(&mut taken.into_inner(), &mut io::sink());
                }
            }
        });
        let status = child.wait();
        self.track(group, false);
        let result = match status {
            Ok(_) if too_long => Err(format!(
                "its output for message {} is longer than --max-message-size ({} bytes)",
                job.seq, self.max_output
            )),
            Ok(status) => Ok(status),
            Err(e) => Err(format!("cannot wait for the command: {e}")),
        };
        (output, result)
    }

    fn track(&self, group: i32, running: bool) {
        let mut list = match self.running.lock() {
            Ok(list) => list,
            Err(poisoned) => poisoned.into_inner(),
        };
        if running {
            list.push(group);
        } else {
            list.retain(|&g| g != group);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(seq: u64, text: bool, output: &[u8], code: i32) -> Finished {
        Finished {
            seq,
            text,
            output: output.to_vec(),
            result: Ok(ExitStatus::from_raw(code << 8)),
        }
    }

    #[test]
    fn text_in_and_utf8_out_is_text_without_one_trailing_newline() {
        let r = react("x", finished(1, true, b"HI", 0));
        assert_eq!(r, Reaction::Send(Message::Text("HI".into())));
        let r = react("x", finished(1, true, b"HI\n\n", 0));
        assert_eq!(r, Reaction::Send(Message::Text("HI\n".into())));
        let r = react("x", finished(1, true, b"\n", 0));
        assert_eq!(r, Reaction::Send(Message::Text("".into())));
    }

    #[test]
    fn binary_in_or_non_utf8_out_is_binary() {
        let r = react("x", finished(1, false, b"HI\n", 0));
        assert_eq!(
            r,
            Reaction::Send(Message::Binary(Bytes::from_static(b"HI\n")))
        );
        let r = react("x", finished(1, true, b"\xff", 0));
        assert_eq!(
            r,
            Reaction::Send(Message::Binary(Bytes::from_static(b"\xff")))
        );
    }

    #[test]
    fn empty_output_sends_nothing_and_failure_names_the_status() {
        assert_eq!(react("x", finished(1, true, b"", 0)), Reaction::Nothing);
        let r = react("false", finished(4, true, b"out", 3));
        assert_eq!(
            r,
            Reaction::Failed("--exec 'false' exited with status 3 for message 4".into())
        );
    }
}
