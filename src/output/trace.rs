//! `-vv`: the frame trace on stderr (dimmed), one line per frame header, whatever
//! the main output is; every other event passes through to the inner sink.

use colored::Colorize;
use std::io::{self, Write};

use super::Sink;
use crate::event::{Direction, Event};
use wsprobe::frame::FrameInfo;

pub struct Trace {
    inner: Box<dyn Sink>,
}

impl Trace {
    pub fn new(inner: Box<dyn Sink>) -> Self {
        Trace { inner }
    }
}

impl Sink for Trace {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        let (client, inner) = match event {
            Event::Client { id, event } => (Some(*id), *event),
            _ => (None, event),
        };
        if let Event::Frame { dir, frame, .. } = inner {
            let line = trace_line(*dir, frame);
            let line = match client {
                Some(id) => format!("[{id}] {line}"),
                None => line,
            };
            // stderr is not the output: a failure to write it must not end the run.
            let _ = writeln!(io::stderr().lock(), "{}", line.dimmed());
        }
        self.inner.event(event)
    }

    fn wants_outgoing(&self) -> bool {
        self.inner.wants_outgoing()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `<< frame text FIN=1 RSV=000 MASK=0 len=5`, and for close frames the code and
/// reason.
pub fn trace_line(dir: Direction, f: &FrameInfo) -> String {
    let mut line = format!(
        "{} frame {:<12} FIN={} RSV={}{}{} MASK={} len={}",
        if dir == Direction::In { "<<" } else { ">>" },
        f.opcode_name(),
        u8::from(f.fin),
        u8::from(f.rsv[0]),
        u8::from(f.rsv[1]),
        u8::from(f.rsv[2]),
        u8::from(f.masked),
        f.len
    );
    if let Some(size) = f.inflated {
        // permessage-deflate: the whole message's size uncompressed.
        line.push_str(&format!(" inflated={size}"));
    }
    if let Some((code, reason)) = &f.close {
        match code {
            Some(code) => line.push_str(&format!(" code={code} reason={reason:?}")),
            None => line.push_str(" (no code)"),
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_lines() {
        let f = FrameInfo {
            fin: true,
            rsv: [false, false, false],
            opcode: 0x8,
            masked: false,
            len: 5,
            close: Some((Some(4001), "bye".into())),
            inflated: None,
        };
        assert_eq!(
            trace_line(Direction::In, &f),
            "<< frame close        FIN=1 RSV=000 MASK=0 len=5 code=4001 reason=\"bye\""
        );
        let f = FrameInfo {
            fin: true,
            rsv: [true, false, false],
            opcode: 0x1,
            masked: true,
            len: 12,
            close: None,
            inflated: Some(100_000),
        };
        assert_eq!(
            trace_line(Direction::Out, &f),
            ">> frame text         FIN=1 RSV=100 MASK=1 len=12 inflated=100000"
        );
    }
}
