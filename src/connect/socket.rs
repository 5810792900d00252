//! The connection's socket (TCP, a Unix socket for `--unix-socket`, or the TLS
//! session with an `https://` proxy that carries the tunnel) that,
//! while connecting, enforces one absolute deadline on every read and write: a
//! peer that drips one byte at a time cannot stretch the wait, because each call
//! gets only the time that is left. In the session (no deadline) it is a plain
//! non-blocking socket.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use openssl::ssl::SslStream;

/// The kinds of stream a connection can run on. Each is one file descriptor to
/// the session's poll, so one enum is cheaper than a trait object.
#[derive(Debug)]
pub enum Transport {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// TLS to an `https://` proxy, over its TCP socket: the tunnel's bytes.
    ProxyTls(Box<SslStream<Socket>>),
}

impl Transport {
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.set_read_timeout(t),
            Transport::Unix(s) => s.set_read_timeout(t),
            Transport::ProxyTls(s) => s.get_ref().transport().set_read_timeout(t),
        }
    }

    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.set_write_timeout(t),
            Transport::Unix(s) => s.set_write_timeout(t),
            Transport::ProxyTls(s) => s.get_ref().transport().set_write_timeout(t),
        }
    }

    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.set_nonblocking(on),
            Transport::Unix(s) => s.set_nonblocking(on),
            Transport::ProxyTls(s) => s.get_ref().transport().set_nonblocking(on),
        }
    }
}

impl Transport {
    /// The peer as `-v` and the `open` event show it: `ADDR:PORT`, or
    /// `unix:PATH` (the path the server bound).
    pub fn peer(&self) -> Option<String> {
        match self {
            Transport::Tcp(s) => s.peer_addr().ok().map(|a| a.to_string()),
            Transport::Unix(s) => {
                let addr = s.peer_addr().ok()?;
                Some(format!("unix:{}", addr.as_pathname()?.display()))
            }
            Transport::ProxyTls(s) => s.get_ref().transport().peer(),
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.read(buf),
            Transport::Unix(s) => s.read(buf),
            Transport::ProxyTls(s) => s.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.write(buf),
            Transport::Unix(s) => s.write(buf),
            Transport::ProxyTls(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.write_vectored(bufs),
            Transport::Unix(s) => s.write_vectored(bufs),
            Transport::ProxyTls(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            // Sockets are unbuffered: nothing to flush.
            Transport::Tcp(_) | Transport::Unix(_) => Ok(()),
            Transport::ProxyTls(s) => s.flush(),
        }
    }
}

impl AsRawFd for Transport {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Transport::Tcp(s) => s.as_raw_fd(),
            Transport::Unix(s) => s.as_raw_fd(),
            Transport::ProxyTls(s) => s.get_ref().transport().as_raw_fd(),
        }
    }
}

#[derive(Debug)]
pub struct Socket {
    io: Transport,
    deadline: Option<Instant>,
}

impl Socket {
    pub fn new(tcp: TcpStream, deadline: Option<Instant>) -> Socket {
        Socket::over(Transport::Tcp(tcp), deadline)
    }

    pub fn over(io: Transport, deadline: Option<Instant>) -> Socket {
        Socket { io, deadline }
    }

    pub fn transport(&self) -> &Transport {
        &self.io
    }

    /// `None` ends the connecting phase: calls are no longer bounded (on the
    /// proxy's socket under a TLS tunnel too).
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
        if let Transport::ProxyTls(s) = &mut self.io {
            s.get_mut().set_deadline(deadline);
        }
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
            self.io.set_write_timeout(Some(left))
        } else {
            self.io.set_read_timeout(Some(left))
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
        self.io.read(buf).map_err(|e| self.timed_out(e))
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm(true)?;
        self.io.write(buf).map_err(|e| self.timed_out(e))
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.arm(true)?;
        self.io.write_vectored(bufs).map_err(|e| self.timed_out(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.io.flush()
    }
}
