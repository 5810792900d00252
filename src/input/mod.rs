//! Input sources: they turn what the user provides into `Command`s for the session.
//! This file holds the `-x` messages and the start of pipe-mode input; the stdin
//! reader and the REPL have their own files.

pub mod lines;
pub mod repl;

use std::io::{self, IsTerminal, Read};
use std::thread;
use tungstenite::{Bytes, Message};

use crate::cli::Cli;
use crate::connect;
use crate::error::{Error, Result};
use crate::event::Command;
use crate::mailbox::Outbox;
use lines::LineOptions;

/// The `-x` messages: literal text, `@FILE` (the file's contents as one message),
/// `@-` (all of stdin as one message); `@@…` is a literal starting with `@`.
pub fn execute_messages(cli: &Cli) -> Result<Vec<Message>> {
    cli.execute
        .iter()
        .map(|arg| {
            let (bytes, source) = match arg.strip_prefix('@') {
                Some(rest) if rest.starts_with('@') => (rest.as_bytes().to_vec(), None),
                Some("-") => (read_all_stdin()?, Some("stdin".to_string())),
                Some(path) => (
                    std::fs::read(path).map_err(|e| {
                        Error::Usage(format!(
                            "cannot read '{path}' (-x @FILE): {}",
                            connect::plain_io_message(&e)
                        ))
                    })?,
                    Some(format!("'{path}'")),
                ),
                None => (arg.as_bytes().to_vec(), None),
            };
            if cli.binary {
                return Ok(Message::Binary(Bytes::from(bytes)));
            }
            String::from_utf8(bytes)
                .map(|text| Message::Text(text.into()))
                .map_err(|_| {
                    Error::Usage(format!(
                        "{} is not valid UTF-8; send it with --binary",
                        source.unwrap_or_else(|| "the message".into())
                    ))
                })
        })
        .collect()
}

fn read_all_stdin() -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    io::stdin()
        .lock()
        .read_to_end(&mut buf)
        .map_err(|e| Error::Usage(format!("cannot read stdin (-x @-): {e}")))?;
    Ok(buf)
}

/// Start reading stdin, when it is an input of this run. (The `-x` messages are
/// sent by the session itself, first on every connection.)
pub fn start_pipe(cli: &Cli, outbox: Outbox) -> Result<()> {
    // With -x, a terminal on stdin is not read (the messages are the input); with
    // -x @- stdin was the message; --echo has no input of its own.
    let read_stdin = !cli.execute.iter().any(|m| m == "@-")
        && !cli.echo
        && (!io::stdin().is_terminal() || cli.execute.is_empty());
    if !read_stdin {
        let _ = outbox.send(Command::InputEnded);
        return Ok(());
    }
    let opts = LineOptions {
        separator: if cli.null { 0 } else { b'\n' },
        binary: cli.binary,
    };
    thread::Builder::new()
        .name("stdin".into())
        .spawn(move || lines::pump(io::stdin().lock(), opts, &outbox))
        .map_err(|e| Error::Runtime(format!("cannot start the stdin reader: {e}")))?;
    Ok(())
}
