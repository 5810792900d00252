//! Output sinks: where the session's events go. Each renderer turns `Event`s into
//! bytes on a buffered writer (stdout's writer thread, the REPL's printer, a
//! recording file); the session decides when to flush.

mod handshake;
pub mod human;
mod jsonl;
mod outlet;
mod plain;
mod printer;
mod repl_state;
pub mod stdout;
pub mod summary;
mod tee;
pub mod trace;

pub use handshake::{write_handshake, write_redirect, write_request};
pub use jsonl::Jsonl;
pub use outlet::Outlet;
pub use plain::Plain;
pub use printer::SharedPrinter;
pub use tee::Tee;
pub use trace::Trace;

use std::io::{self, Write};
use tungstenite::Bytes;

use crate::event::Event;

/// A buffered writer that can also take a whole payload without copying it (the
/// stdout writer thread queues large payloads as they are).
pub trait Out: Write {
    fn write_payload(&mut self, payload: Bytes) -> io::Result<()> {
        self.write_all(&payload)
    }
}

impl Out for Vec<u8> {}
impl Out for &mut Vec<u8> {}
impl<W: Write> Out for io::BufWriter<W> {}

pub trait Sink {
    /// Render one event. An error of kind `BrokenPipe` means the reader went away
    /// (`wsprobe … | head -1`): the session then ends quietly.
    fn event(&mut self, event: &Event) -> io::Result<()>;

    /// Whether this sink shows messages wsprobe sends; lets the session skip building
    /// those events in pipe mode at full speed.
    fn wants_outgoing(&self) -> bool {
        false
    }

    fn flush(&mut self) -> io::Result<()>;
}

/// A sink that shows nothing: the REPL's output before the REPL exists.
pub struct Nothing;

impl Sink for Nothing {
    fn event(&mut self, _: &Event) -> io::Result<()> {
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
