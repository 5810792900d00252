//! The one error type of wsprobe: what went wrong, its one-line message, the
//! underlying cause (`source()`) and its exit code.

use std::error::Error as StdError;
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
    pub const FAILED_ON: i32 = 8;
}

/// A one-line message for the user and, where one exists, the error that caused
/// it (an `io::Error`, a TLS error…), for `source()`.
pub struct Message {
    text: String,
    cause: Option<Box<dyn StdError + Send + Sync + 'static>>,
    /// The user has seen this already (the REPL showed the server's Close): `main`
    /// does not print it again, but the exit code stays.
    shown: bool,
}

impl From<String> for Message {
    fn from(text: String) -> Message {
        Message {
            text,
            cause: None,
            shown: false,
        }
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Message {
        Message::from(text.to_string())
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("text", &self.text)
            .field("cause", &self.cause)
            .field("shown", &self.shown)
            .finish()
    }
}

/// Everything that can end a run unsuccessfully. Messages are complete sentences
/// without a trailing period; `main` prefixes them with `wsprobe: `.
#[derive(Debug)]
pub enum Error {
    /// Bad flag value, bad URL, unreadable file, invalid input (exit 2).
    Usage(Message),
    /// DNS, refused, connect timeout (exit 3).
    Connect(Message),
    /// Certificate, hostname or TLS handshake failure (exit 4).
    Tls(Message),
    /// The server answered the upgrade with something other than a valid 101 (exit 5).
    Handshake(Message),
    /// `--timeout` fired, or the goal was not met before the end (exit 6).
    Timeout(Message),
    /// The server closed with an error code, or without a Close frame (exit 7).
    ServerClosed(Message),
    /// A received message matched `--fail-on`/`--fail-on-jq` (exit 8).
    FailedOn(Message),
    /// A protocol or I/O error after the connection was established (exit 1).
    Runtime(Message),
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
            Error::FailedOn(_) => exit::FAILED_ON,
            Error::Runtime(_) => exit::RUNTIME,
            Error::Interrupted(signal) => 128 + signal,
        }
    }

    /// The same error, caused by `cause` (kept for `source()`).
    pub fn because(mut self, cause: impl StdError + Send + Sync + 'static) -> Error {
        if let Some(m) = self.message_mut() {
            m.cause = Some(Box::new(cause));
        }
        self
    }

    /// The same error, already shown to the user in another form: `main` keeps
    /// its exit code but does not print it.
    pub fn shown(mut self) -> Error {
        if let Some(m) = self.message_mut() {
            m.shown = true;
        }
        self
    }

    /// Whether the user has seen this error already (see [`Error::shown`]).
    pub fn already_shown(&self) -> bool {
        self.message().is_some_and(|m| m.shown)
    }

    fn message_mut(&mut self) -> Option<&mut Message> {
        match self {
            Error::Usage(m)
            | Error::Connect(m)
            | Error::Tls(m)
            | Error::Handshake(m)
            | Error::Timeout(m)
            | Error::ServerClosed(m)
            | Error::FailedOn(m)
            | Error::Runtime(m) => Some(m),
            Error::Interrupted(_) => None,
        }
    }

    fn message(&self) -> Option<&Message> {
        match self {
            Error::Usage(m)
            | Error::Connect(m)
            | Error::Tls(m)
            | Error::Handshake(m)
            | Error::Timeout(m)
            | Error::ServerClosed(m)
            | Error::FailedOn(m)
            | Error::Runtime(m) => Some(m),
            Error::Interrupted(_) => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message() {
            Some(m) => f.write_str(&m.text),
            None => f.write_str("interrupted"),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.message()?
            .cause
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_is_kept_and_the_message_is_unchanged() {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let e = Error::Connect("cannot connect to h: connection refused".into()).because(io);
        assert_eq!(e.to_string(), "cannot connect to h: connection refused");
        assert_eq!(e.exit_code(), exit::CONNECT);
        let cause = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(
            cause.map(|c| c.kind()),
            Some(std::io::ErrorKind::ConnectionRefused)
        );
        assert!(Error::Usage("x".into()).source().is_none());
    }
}
