//! Input sources: they turn what the user provides into `Command`s for the session.
//! This file holds the `-x` messages and the start of pipe-mode input; the stdin
//! reader and the REPL have their own files.

mod complete;
pub mod lines;
pub mod repl;
mod resize;

use std::io::{self, Read};
use std::thread;
use tungstenite::{Bytes, Message};

use crate::connect;
use crate::error::{Error, Result};
use crate::event::Command;
use crate::mailbox::Outbox;
use lines::LineOptions;

/// What the input sources of pipe mode and `-x` need to know.
#[derive(Debug, Clone, Default)]
pub struct InputOptions {
    /// The `-x` arguments, as typed.
    pub execute: Vec<String>,
    /// `--binary`: send binary messages.
    pub binary: bool,
    /// Split stdin at this byte (`\n`, or NUL with `-0`).
    pub separator: u8,
    /// Whether stdin is an input of this run (not with `-x @-`, `--echo`, or `-x`
    /// with a terminal on stdin).
    pub read_stdin: bool,
    /// `--script FILE` (`-`: stdin), loaded by the app before connecting.
    pub script: Option<std::path::PathBuf>,
}

/// The `-x` messages: literal text, `@FILE` (the file's contents as one message),
/// `@-` (all of stdin as one message); `@@…` is a literal starting with `@`.
pub fn execute_messages(opts: &InputOptions) -> Result<Vec<Message>> {
    opts.execute
        .iter()
        .map(|arg| {
            let (bytes, source) = match arg.strip_prefix('@') {
                Some(rest) if rest.starts_with('@') => (rest.as_bytes().to_vec(), None),
                Some("-") => (read_all_stdin()?, Some("stdin".to_string())),
                Some(path) => (
                    std::fs::read(path).map_err(|e| {
                        Error::Usage(
                            format!(
                                "cannot read '{path}' (-x @FILE): {}",
                                connect::plain_io_message(&e)
                            )
                            .into(),
                        )
                    })?,
                    Some(format!("'{path}'")),
                ),
                None => (arg.as_bytes().to_vec(), None),
            };
            if opts.binary {
                return Ok(Message::Binary(Bytes::from(bytes)));
            }
            String::from_utf8(bytes)
                .map(|text| Message::Text(text.into()))
                .map_err(|_| {
                    Error::Usage(
                        format!(
                            "{} is not valid UTF-8; send it with --binary",
                            source.unwrap_or_else(|| "the message".into())
                        )
                        .into(),
                    )
                })
        })
        .collect()
}

fn read_all_stdin() -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    io::stdin()
        .lock()
        .read_to_end(&mut buf)
        .map_err(|e| Error::Usage(format!("cannot read stdin (-x @-): {e}").into()))?;
    Ok(buf)
}

/// Start reading stdin, when it is an input of this run. (The `-x` messages are
/// sent by the session itself, first on every connection.)
pub fn start_pipe(opts: &InputOptions, outbox: Outbox) -> Result<()> {
    if !opts.read_stdin {
        let _ = outbox.send(Command::InputEnded);
        return Ok(());
    }
    let opts = LineOptions {
        separator: opts.separator,
        binary: opts.binary,
    };
    thread::Builder::new()
        .name("stdin".into())
        .spawn(move || lines::pump(io::stdin().lock(), opts, &outbox))
        .map_err(|e| Error::Runtime(format!("cannot start the stdin reader: {e}").into()))?;
    Ok(())
}
