//! `SSLKEYLOGFILE`: when the variable names a file, every TLS context wsprobe builds
//! (dialing or listening) appends its secrets there in the NSS key log format, so that
//! Wireshark can decrypt a capture. The file is opened once per run (created with mode
//! 0600, appended to), and wsprobe says once on stderr that it is writing it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use openssl::ssl::SslContextBuilder;

use crate::error::{Error, Result};

/// The environment variable browsers, curl and Wireshark's documentation use (as
/// read below, for messages).
const VARIABLE: &str = "SSLKEYLOGFILE";

type Shared = Arc<Mutex<File>>;

/// The run's key log file, opened on first use: `None` when the variable is unset
/// or empty, the message when the file cannot be opened.
fn file() -> &'static std::result::Result<Option<Shared>, String> {
    static FILE: OnceLock<std::result::Result<Option<Shared>, String>> = OnceLock::new();
    FILE.get_or_init(|| {
        let Some(path) = std::env::var_os("SSLKEYLOGFILE").filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        let path = PathBuf::from(path);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| {
                format!(
                    "cannot open the TLS key log file '{}' ({VARIABLE}): {}",
                    path.display(),
                    super::tcp::plain_io_message(&e)
                )
            })?;
        // Said even with -q: secrets on disk are something the user must know of.
        eprintln!(
            "wsprobe: writing TLS secrets to {} ({VARIABLE} is set)",
            path.display()
        );
        Ok(Some(Arc::new(Mutex::new(file))))
    })
}

/// With `SSLKEYLOGFILE` set, have `builder`'s connections log their secrets. A file
/// that cannot be opened is a usage error (exit 2), reported before any connection.
pub fn install(builder: &mut SslContextBuilder) -> Result<()> {
    let file = match file() {
        Ok(Some(file)) => file.clone(),
        Ok(None) => return Ok(()),
        Err(message) => return Err(Error::Usage(message.clone().into())),
    };
    builder.set_keylog_callback(move |_, line| {
        // One write per line, so that concurrent connections do not interleave.
        let mut record = Vec::with_capacity(line.len() + 1);
        record.extend_from_slice(line.as_bytes());
        record.push(b'\n');
        if let Ok(mut file) = file.lock() {
            let _ = file.write_all(&record);
        }
    });
    Ok(())
}
