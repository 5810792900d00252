//! The one error type of wsprobe: what went wrong, its one-line message and its exit code.

use std::fmt;

/// Exit codes, as documented in the README. Each variant of [`Error`] maps to exactly one.
pub mod exit {
    pub const SUCCESS: i32 = 0;
    pub const RUNTIME: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const CONNECT: i32 = 3;
    pub const TLS: i32 = 4;
    pub const HANDSHAKE: i32 = 5;
    pub const TIMEOUT: i32 = 6;
    pub const SERVER_CLOSE: i32 = 7;
}

/// Everything that can end a run unsuccessfully. Messages are complete sentences
/// without a trailing period; `main` prefixes them with `wsprobe: `.
#[derive(Debug)]
pub enum Error {
    /// Bad flag value, bad URL, unreadable file, invalid input (exit 2).
    Usage(String),
    /// DNS, refused, connect timeout (exit 3).
    Connect(String),
    /// Certificate, hostname or TLS handshake failure (exit 4).
    Tls(String),
    /// The server answered the upgrade with something other than a valid 101 (exit 5).
    Handshake(String),
    /// `--timeout` fired, or a `--count`/`--expect` goal was not met before the end (exit 6).
    Timeout(String),
    /// The server closed with an error code, or without a Close frame (exit 7).
    ServerClosed(String),
    /// A protocol or I/O error after the connection was established (exit 1).
    Runtime(String),
    /// Ctrl-C (SIGINT) or SIGTERM, carried here as the signal number; the close
    /// handshake has been done (exit 128 + signal: 130, 143).
    Interrupted(i32),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Connect(_) => exit::CONNECT,
            Error::Tls(_) => exit::TLS,
            Error::Handshake(_) => exit::HANDSHAKE,
            Error::Timeout(_) => exit::TIMEOUT,
            Error::ServerClosed(_) => exit::SERVER_CLOSE,
            Error::Runtime(_) => exit::RUNTIME,
            Error::Interrupted(signal) => 128 + signal,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m)
            | Error::Connect(m)
            | Error::Tls(m)
            | Error::Handshake(m)
            | Error::Timeout(m)
            | Error::ServerClosed(m)
            | Error::Runtime(m) => f.write_str(m),
            Error::Interrupted(_) => f.write_str("interrupted"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
