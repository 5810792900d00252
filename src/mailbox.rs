//! The bounded channel that carries `Command`s from input threads to the session,
//! with a wake-up of the session's poller that fires only when it may be asleep.
//!
//! Bounded, so that a slow server slows the producer instead of growing memory;
//! wake-ups coalesced, because a wake-up is a system call and a fast producer
//! would otherwise pay one per batch.

use mio::Waker;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;

use crate::event::Command;

/// How many batches may wait in the channel. With batches of at most one stdin
/// read (64 KiB), this bounds queued input to about a quarter of a megabyte.
const CAPACITY: usize = 4;

/// The sending half, cloned into each input thread.
#[derive(Clone)]
pub struct Outbox {
    tx: SyncSender<Command>,
    waker: Arc<Waker>,
    notified: Arc<AtomicBool>,
}

/// The session's receiving half.
pub struct Inbox {
    rx: Receiver<Command>,
    notified: Arc<AtomicBool>,
}

/// The session is gone; the input thread should stop.
#[derive(Debug)]
pub struct Closed;

pub fn channel(waker: Arc<Waker>) -> (Outbox, Inbox) {
    let (tx, rx) = mpsc::sync_channel(CAPACITY);
    let notified = Arc::new(AtomicBool::new(false));
    (
        Outbox {
            tx,
            waker,
            notified: notified.clone(),
        },
        Inbox { rx, notified },
    )
}

impl Outbox {
    /// Queue a command, blocking while the channel is full (back-pressure).
    pub fn send(&self, command: Command) -> Result<(), Closed> {
        self.tx.send(command).map_err(|_| Closed)?;
        if !self.notified.swap(true, Ordering::AcqRel) {
            // Best effort: if the poller is gone the session has ended anyway.
            let _ = self.waker.wake();
        }
        Ok(())
    }
}

pub enum Received {
    Command(Command),
    Empty,
    /// Every sender is gone.
    Disconnected,
}

impl Inbox {
    /// Call before draining: a command sent after this point wakes the session again.
    pub fn arm(&self) {
        self.notified.store(false, Ordering::Release);
    }

    pub fn try_recv(&self) -> Received {
        match self.rx.try_recv() {
            Ok(command) => Received::Command(command),
            Err(TryRecvError::Empty) => Received::Empty,
            Err(TryRecvError::Disconnected) => Received::Disconnected,
        }
    }
}
