//! A `Write` that hands whole chunks of output to rustyline's external printer, so
//! that the REPL shows them above the line being typed (and notes them among what
//! is shown there, for redrawing after a resize).

use rustyline::ExternalPrinter;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use crate::input::repl::Shown;

#[derive(Clone)]
pub struct SharedPrinter {
    printer: Arc<Mutex<Box<dyn ExternalPrinter + Send>>>,
    buf: Vec<u8>,
    shown: Shown,
}

impl SharedPrinter {
    pub fn new(printer: Box<dyn ExternalPrinter + Send>, shown: Shown) -> Self {
        SharedPrinter {
            printer: Arc::new(Mutex::new(printer)),
            buf: Vec::new(),
            shown,
        }
    }

    pub fn print_now(&self, text: String) {
        if let Ok(mut printer) = self.printer.lock() {
            let _ = printer.print(text);
        }
    }
}

impl Write for SharedPrinter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.buf).into_owned();
        self.buf.clear();
        self.shown.record(&text);
        let mut printer = self
            .printer
            .lock()
            .map_err(|_| io::Error::other("the terminal printer is gone"))?;
        printer.print(text).map_err(io::Error::other)
    }
}
