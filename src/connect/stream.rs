//! The byte stream under the WebSocket: the socket (TCP or Unix), plain or with TLS.

use std::io::{self, Read, Write};
use std::time::Instant;

use super::socket::{Socket, Transport};

#[derive(Debug)]
pub enum NetStream {
    Plain(Socket),
    Tls(Box<openssl::ssl::SslStream<Socket>>),
}

impl NetStream {
    /// The socket underneath, for readiness polling and socket options.
    pub fn transport(&self) -> &Transport {
        match self {
            NetStream::Plain(s) => s.transport(),
            NetStream::Tls(s) => s.get_ref().transport(),
        }
    }

    /// What the TLS handshake agreed on; `None` without TLS.
    pub fn tls_info(&self) -> Option<crate::event::TlsInfo> {
        match self {
            NetStream::Plain(_) => None,
            NetStream::Tls(s) => Some(super::tls::negotiated(s.ssl())),
        }
    }

    /// Bound every read and write by `deadline` (while connecting), or not (`None`).
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        match self {
            NetStream::Plain(s) => s.set_deadline(deadline),
            NetStream::Tls(s) => s.get_mut().set_deadline(deadline),
        }
    }
}

impl Read for NetStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            NetStream::Plain(s) => s.read(buf),
            NetStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for NetStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            NetStream::Plain(s) => s.write(buf),
            NetStream::Tls(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            NetStream::Plain(s) => s.write_vectored(bufs),
            NetStream::Tls(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            NetStream::Plain(s) => s.flush(),
            NetStream::Tls(s) => s.flush(),
        }
    }
}
