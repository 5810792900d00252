//! The frame tap under tungstenite: a `Read`/`Write` wrapper that, when `-vv` asks
//! for it, parses frame headers as the bytes pass (after TLS) and prints one trace
//! line per frame. Off, it is one branch per read or write.

use colored::Colorize;
use std::io::{self, Read, Write};
use std::net::TcpStream;

use super::NetStream;
use wsprobe::frame::{FrameInfo, FrameParser};

pub struct Tapped {
    inner: NetStream,
    tap: Option<Box<Tap>>,
}

struct Tap {
    inbound: FrameParser,
    outbound: FrameParser,
    frames: Vec<FrameInfo>,
}

impl Tapped {
    pub fn new(inner: NetStream, trace: bool) -> Self {
        let tap = trace.then(|| {
            Box::new(Tap {
                inbound: FrameParser::after_http(),
                outbound: FrameParser::after_http(),
                frames: Vec::new(),
            })
        });
        Tapped { inner, tap }
    }

    pub fn tcp(&self) -> &TcpStream {
        self.inner.tcp()
    }
}

impl Tap {
    fn report(&mut self, incoming: bool) {
        if self.frames.is_empty() {
            return;
        }
        let mut err = io::stderr().lock();
        for frame in self.frames.drain(..) {
            let _ = writeln!(err, "{}", trace_line(incoming, &frame).dimmed());
        }
    }
}

/// `<< frame text FIN=1 RSV=000 MASK=0 len=5`, and for close frames the code and reason.
pub fn trace_line(incoming: bool, f: &FrameInfo) -> String {
    let mut line = format!(
        "{} frame {:<12} FIN={} RSV={}{}{} MASK={} len={}",
        if incoming { "<<" } else { ">>" },
        f.opcode_name(),
        u8::from(f.fin),
        u8::from(f.rsv[0]),
        u8::from(f.rsv[1]),
        u8::from(f.rsv[2]),
        u8::from(f.masked),
        f.len
    );
    if let Some((code, reason)) = &f.close {
        match code {
            Some(code) => line.push_str(&format!(" code={code} reason={reason:?}")),
            None => line.push_str(" (no code)"),
        }
    }
    line
}

impl Read for Tapped {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(tap) = &mut self.tap {
            tap.inbound.feed(&buf[..n], &mut tap.frames);
            tap.report(true);
        }
        Ok(n)
    }
}

impl Write for Tapped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(tap) = &mut self.tap {
            tap.outbound.feed(&buf[..n], &mut tap.frames);
            tap.report(false);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
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
        };
        assert_eq!(
            trace_line(true, &f),
            "<< frame close        FIN=1 RSV=000 MASK=0 len=5 code=4001 reason=\"bye\""
        );
    }
}
