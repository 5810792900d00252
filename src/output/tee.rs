//! `--record FILE`: every event goes to the normal output and, as JSON lines, to a
//! file.

use std::io;

use super::Sink;
use crate::event::Event;

pub struct Tee {
    primary: Box<dyn Sink>,
    record: Box<dyn Sink>,
}

impl Tee {
    pub fn new(primary: Box<dyn Sink>, record: Box<dyn Sink>) -> Self {
        Tee { primary, record }
    }
}

impl Sink for Tee {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        // The recording must be complete even when stdout's reader went away.
        let recorded = self.record.event(event);
        let shown = if outgoing(event) && !self.primary.wants_outgoing() {
            Ok(())
        } else {
            self.primary.event(event)
        };
        recorded.and(shown)
    }

    fn wants_outgoing(&self) -> bool {
        true
    }

    fn flush(&mut self) -> io::Result<()> {
        let recorded = self.record.flush();
        self.primary.flush().and(recorded)
    }
}

/// A message or Close that wsprobe sent (to any client).
fn outgoing(event: &Event) -> bool {
    match event {
        Event::Message { dir, .. } | Event::Close { dir, .. } => {
            *dir == crate::event::Direction::Out
        }
        Event::Client { event, .. } => outgoing(event),
        _ => false,
    }
}
