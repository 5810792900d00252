//! wsprobe in a pseudo-terminal ([`Pty`]): stdin, stdout and stderr are one
//! terminal of a known size, as for a person typing. What wsprobe draws is read
//! with poll(2) and a deadline on every wait (expectrl's own `expect` busy-polls),
//! and the exit code is collected with a deadline too.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use expectrl::session::OsSession;
use expectrl::Expect;

use super::Wsprobe;

/// How long any single wait on the terminal may take.
pub const PTY_TIMEOUT: Duration = Duration::from_secs(15);

/// The columns of the terminal: lines drawn to its width stay on one row.
pub const PTY_COLUMNS: u16 = 120;

/// Ctrl-C as a terminal sends it (the terminal turns it into SIGINT).
pub const CTRL_C: &str = "\x03";

pub struct Pty {
    session: OsSession,
    /// Everything wsprobe wrote to the terminal so far.
    out: Vec<u8>,
    /// How much of `out` earlier expectations have consumed.
    pos: usize,
    eof: bool,
    started: Instant,
}

impl Pty {
    /// Starts `wsprobe --color never ARGS` in a terminal of [`PTY_COLUMNS`] columns.
    pub fn spawn(args: &[&str]) -> Pty {
        let mut all = vec!["--color", "never"];
        all.extend_from_slice(args);
        let cmd = Wsprobe::new(&all).env("TERM", "xterm").command();
        let mut session = OsSession::spawn(cmd).expect("spawn wsprobe in a pseudo-terminal");
        session
            .get_process_mut()
            .set_window_size(PTY_COLUMNS, 30)
            .expect("set the terminal's size");
        Pty {
            session,
            out: Vec::new(),
            pos: 0,
            eof: false,
            started: Instant::now(),
        }
    }

    /// When wsprobe was started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Everything wsprobe wrote so far, escaped for a failure message.
    pub fn transcript(&self) -> String {
        format!("{:?}", String::from_utf8_lossy(&self.out))
    }

    /// Reads what is available, waiting at most until `deadline`. False at the
    /// deadline or at the end of output.
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

    /// Waits for `needle` in the output not consumed yet and consumes the output
    /// up to its end; returns the consumed text from where the wait started.
    #[track_caller]
    pub fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + PTY_TIMEOUT;
        loop {
            if let Some(i) = find(&self.out[self.pos..], needle.as_bytes()) {
                let end = self.pos + i + needle.len();
                let text = String::from_utf8_lossy(&self.out[self.pos..end]).into_owned();
                self.pos = end;
                return text;
            }
            if !self.fill(deadline) {
                let why = if self.eof {
                    "wsprobe's output ended"
                } else {
                    "timed out"
                };
                panic!(
                    "{why} waiting for {needle:?}\nwhole screen: {}",
                    self.transcript()
                );
            }
        }
    }

    /// Waits until `needle` has appeared `times` times in all the output so far
    /// (for things whose order is a race, such as a reply and the next prompt).
    #[track_caller]
    pub fn expect_times(&mut self, needle: &str, times: usize) {
        let deadline = Instant::now() + PTY_TIMEOUT;
        loop {
            let seen = self
                .out
                .windows(needle.len())
                .filter(|w| *w == needle.as_bytes())
                .count();
            if seen >= times {
                self.pos = self.out.len();
                return;
            }
            if !self.fill(deadline) {
                panic!(
                    "saw {needle:?} {seen} of {times} times\nwhole screen: {}",
                    self.transcript()
                );
            }
        }
    }

    /// Types `keys`.
    pub fn keys(&mut self, keys: &str) {
        self.session.send(keys).expect("write to the terminal");
    }

    /// Reads until wsprobe's output ends, then waits for it to exit; returns its
    /// exit code and everything it wrote after the last expectation. Kills it
    /// and panics if that takes too long.
    #[track_caller]
    pub fn finish(&mut self) -> (i32, String) {
        let deadline = Instant::now() + PTY_TIMEOUT;
        while self.fill(deadline) {}
        if !self.eof {
            panic!(
                "wsprobe did not end its output within {PTY_TIMEOUT:?}\nwhole screen: {}",
                self.transcript()
            );
        }
        let rest = String::from_utf8_lossy(&self.out[self.pos..]).into_owned();
        let pid = self.session.get_process().pid().as_raw();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut status = 0;
            // SAFETY: waitpid on our own child, with a valid status pointer.
            let r = unsafe { libc::waitpid(pid, &mut status, 0) };
            let _ = tx.send((r, status));
        });
        match rx.recv_timeout(PTY_TIMEOUT) {
            Ok((r, status)) if r == pid && libc::WIFEXITED(status) => {
                (libc::WEXITSTATUS(status), rest)
            }
            Ok((r, status)) => panic!(
                "wsprobe did not exit normally (waitpid {r}, status {status:#x})\nwhole screen: {}",
                self.transcript()
            ),
            Err(_) => {
                // SAFETY: kill(2) on our own child, not yet reaped.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                panic!(
                    "wsprobe closed its terminal but did not exit within {PTY_TIMEOUT:?}\nwhole screen: {}",
                    self.transcript()
                );
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}
