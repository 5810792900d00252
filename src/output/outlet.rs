//! The run's output as the event loop sees it: the sink, whether stdout's reader
//! keeps up (reading waits when it does not), and what happens when stdout fails.

use std::io;

use super::stdout::Gauge;
use super::Sink;
use crate::ending::WhyClosed;
use crate::event::Event;

/// Received output waiting for a slow stdout, in bytes, before the loop stops
/// reading its sockets.
pub const OUTPUT_BACKLOG: usize = 128 << 10;

pub struct Outlet {
    sink: Box<dyn Sink>,
    /// stdout's writer thread, when stdout is written by one (pipe mode).
    gauge: Option<Gauge>,
    wants_outgoing: bool,
    closed: bool,
    backed_up: bool,
    /// stdout failed: the connections are to be closed with this cause.
    failure: Option<WhyClosed>,
}

impl Outlet {
    pub fn new(sink: Box<dyn Sink>, gauge: Option<Gauge>) -> Outlet {
        Outlet {
            wants_outgoing: sink.wants_outgoing(),
            sink,
            gauge,
            closed: false,
            backed_up: false,
            failure: None,
        }
    }

    /// The sink so far (a `Nothing` in its place), to wrap into another.
    pub fn take_sink(&mut self) -> Box<dyn Sink> {
        std::mem::replace(&mut self.sink, Box::new(super::Nothing))
    }

    /// Show events through another sink from now on.
    pub fn set_sink(&mut self, sink: Box<dyn Sink>) {
        self.wants_outgoing = sink.wants_outgoing();
        self.sink = sink;
    }

    /// Whether the sink shows what wsprobe sends (building those events costs).
    pub fn wants_outgoing(&self) -> bool {
        self.wants_outgoing
    }

    pub fn emit(&mut self, event: &Event) {
        if self.closed {
            return;
        }
        if let Err(e) = self.sink.event(event) {
            self.failed(e);
        }
    }

    pub fn flush(&mut self) {
        if self.closed {
            return;
        }
        if let Err(e) = self.sink.flush() {
            self.failed(e);
        }
        self.check_backlog();
    }

    /// Reading must wait for stdout's reader.
    pub fn backed_up(&self) -> bool {
        self.backed_up
    }

    /// stdout failed since the last call: why the connections close.
    pub fn take_failure(&mut self) -> Option<WhyClosed> {
        self.failure.take()
    }

    /// Pause above the limit, resume below half of it (hysteresis: the writer
    /// wakes the loop once, not per buffer).
    pub fn check_backlog(&mut self) {
        let Some(gauge) = &self.gauge else {
            return;
        };
        self.backed_up = (self.backed_up || gauge.unwritten() > OUTPUT_BACKLOG)
            && gauge.wake_at(OUTPUT_BACKLOG / 2) > OUTPUT_BACKLOG / 2;
    }

    /// Whether everything has been taken by stdout's reader (or never will be).
    pub fn drained(&self) -> bool {
        self.closed || self.gauge.as_ref().is_none_or(|g| g.wake_at(0) == 0)
    }

    fn failed(&mut self, e: io::Error) {
        self.closed = true;
        self.backed_up = false;
        self.failure = Some(if e.kind() == io::ErrorKind::BrokenPipe {
            WhyClosed::OutputClosed
        } else {
            WhyClosed::OutputFailed(format!("cannot write to stdout: {e}"))
        });
    }
}
