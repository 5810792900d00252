//! A TCP socket that, while connecting, enforces one absolute deadline on every
//! read and write: a peer that drips one byte at a time cannot stretch the wait,
//! because each call gets only the time that is left. In the session (no deadline)
//! it is a plain non-blocking socket.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

#[derive(Debug)]
pub struct Socket {
    tcp: TcpStream,
    deadline: Option<Instant>,
}

impl Socket {
    pub fn new(tcp: TcpStream, deadline: Option<Instant>) -> Socket {
        Socket { tcp, deadline }
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// `None` ends the connecting phase: calls are no longer bounded.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// Before a blocking call: give the socket what is left of the deadline as its
    /// timeout, or fail at once when nothing is left.
    fn arm(&self, write: bool) -> io::Result<()> {
        let Some(deadline) = self.deadline else {
            return Ok(());
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::from(io::ErrorKind::TimedOut));
        }
        if write {
            self.tcp.set_write_timeout(Some(left))
        } else {
            self.tcp.set_read_timeout(Some(left))
        }
    }

    /// A socket timeout is reported as WouldBlock on Unix: while connecting it
    /// means the deadline passed.
    fn timed_out(&self, e: io::Error) -> io::Error {
        if self.deadline.is_some() && e.kind() == io::ErrorKind::WouldBlock {
            io::Error::from(io::ErrorKind::TimedOut)
        } else {
            e
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm(false)?;
        self.tcp.read(buf).map_err(|e| self.timed_out(e))
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm(true)?;
        self.tcp.write(buf).map_err(|e| self.timed_out(e))
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.arm(true)?;
        self.tcp.write_vectored(bufs).map_err(|e| self.timed_out(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}
