//! A `Write` that hands whole chunks of output to rustyline's external printer, so
//! that the REPL shows them above the line being typed.

use rustyline::ExternalPrinter;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct SharedPrinter {
    printer: Arc<Mutex<Box<dyn ExternalPrinter + Send>>>,
    buf: Vec<u8>,
}

impl SharedPrinter {
    pub fn new(printer: Box<dyn ExternalPrinter + Send>) -> Self {
        SharedPrinter {
            printer: Arc::new(Mutex::new(printer)),
            buf: Vec::new(),
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
        let mut printer = self
            .printer
            .lock()
            .map_err(|_| io::Error::other("the terminal printer is gone"))?;
        printer.print(text).map_err(io::Error::other)
    }
}
