//! stdout through a writer thread, so that the session never blocks on a reader
//! that has stopped reading (`wsprobe URL | { sleep 60; }`): its deadlines and
//! signals keep working, and it stops reading from the socket instead of growing
//! memory once a bounded backlog is waiting for the reader.
//!
//! The session's side ([`Stdout`]) only appends to a buffer and hands full buffers
//! over; the thread writes them in order. [`Gauge`] tells the session how much is
//! still unwritten and wakes it when the backlog falls.

use mio::Waker;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use tungstenite::Bytes;

/// Hand a buffer to the thread once it holds this much, so that large outputs
/// stream while the session works.
const CHUNK: usize = 32 * 1024;
/// Empty buffers kept for reuse.
const SPARE: usize = 2;
/// Payloads at least this large are handed over as they are, not copied.
const SHARE_FROM: usize = 16 * 1024;

/// What waits to be written: a buffer of small writes, or one large payload
/// shared with the session (no copy).
enum Chunk {
    Owned(Vec<u8>),
    Shared(Bytes),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) => v,
            Chunk::Shared(b) => b,
        }
    }
}

struct State {
    queue: VecDeque<Chunk>,
    /// Bytes handed over and not yet written (queued or being written).
    unwritten: usize,
    spare: Vec<Vec<u8>>,
    /// The write that failed (the reader went away, or another error): the kind
    /// and message, reported to the session on its next write or flush.
    failed: Option<(io::ErrorKind, String)>,
    /// Wake the session once `unwritten` is at most this.
    wake_at: Option<usize>,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    waker: Arc<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic on the writer thread cannot leave the state half-changed in a
        // way that matters here: keep going with what is there.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The session's end: a `Write` that never blocks.
pub struct Stdout {
    shared: Arc<Shared>,
    buf: Vec<u8>,
}

/// How much output waits for the reader.
#[derive(Clone)]
pub struct Gauge {
    shared: Arc<Shared>,
}

/// Start the writer thread on `file` (stdout); `waker` wakes the session.
pub fn spawn(file: File, waker: Arc<Waker>) -> io::Result<(Stdout, Gauge)> {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            // Allocated here, so that the writer thread never allocates (glibc
            // would give it an arena of its own).
            queue: VecDeque::with_capacity(64),
            unwritten: 0,
            spare: Vec::with_capacity(SPARE),
            failed: None,
            wake_at: None,
        }),
        work: Condvar::new(),
        waker,
    });
    let writer = shared.clone();
    thread::Builder::new()
        .name("stdout".into())
        .spawn(move || write_out(file, &writer))?;
    Ok((
        Stdout {
            shared: shared.clone(),
            buf: Vec::with_capacity(CHUNK),
        },
        Gauge { shared },
    ))
}

/// The writer thread: write each buffer in order until a write fails.
fn write_out(mut file: File, shared: &Shared) {
    loop {
        let chunk = {
            let mut state = shared.lock();
            loop {
                if let Some(chunk) = state.queue.pop_front() {
                    break chunk;
                }
                state = shared
                    .work
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        let result = file.write_all(chunk.bytes());
        let mut state = shared.lock();
        state.unwritten -= chunk.bytes().len();
        if let Err(e) = result {
            // Nothing more can be written: drop what waits, and tell the session.
            state.failed = Some((e.kind(), e.to_string()));
            state.queue.clear();
            state.unwritten = 0;
            drop(state);
            let _ = shared.waker.wake();
            return;
        }
        if let (Chunk::Owned(mut buf), true) = (chunk, state.spare.len() < SPARE) {
            buf.clear();
            state.spare.push(buf);
        }
        if state.wake_at.is_some_and(|at| state.unwritten <= at) {
            state.wake_at = None;
            drop(state);
            let _ = shared.waker.wake();
        }
    }
}

impl Stdout {
    /// Queue the buffer (and then `payload`, if any) for the writer thread.
    fn hand_over(&mut self, payload: Option<Bytes>) -> io::Result<()> {
        let mut state = self.shared.lock();
        if let Some((kind, message)) = &state.failed {
            return Err(io::Error::new(*kind, message.clone()));
        }
        if self.buf.is_empty() && payload.is_none() {
            return Ok(());
        }
        if !self.buf.is_empty() {
            let next = state
                .spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(CHUNK));
            let full = std::mem::replace(&mut self.buf, next);
            state.unwritten += full.len();
            state.queue.push_back(Chunk::Owned(full));
        }
        if let Some(payload) = payload {
            state.unwritten += payload.len();
            state.queue.push_back(Chunk::Shared(payload));
        }
        drop(state);
        self.shared.work.notify_one();
        Ok(())
    }
}

impl super::Out for Stdout {
    fn write_payload(&mut self, payload: Bytes) -> io::Result<()> {
        if payload.len() < SHARE_FROM {
            return self.write_all(&payload);
        }
        self.hand_over(Some(payload))
    }
}

impl Write for Stdout {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // Hand the buffer over before it would have to grow: buffers stay CHUNK
        // bytes, so the ones kept for reuse stay small too.
        if !self.buf.is_empty() && self.buf.len() + data.len() > CHUNK {
            self.hand_over(None)?;
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.hand_over(None)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.hand_over(None)
    }
}

impl Gauge {
    /// Bytes handed over and not yet written.
    pub fn unwritten(&self) -> usize {
        self.shared.lock().unwritten
    }

    /// Ask to be woken once at most `bytes` are unwritten (or a write failed);
    /// returns what is unwritten now, so that the caller does not wait for a wake
    /// that will not come.
    pub fn wake_at(&self, bytes: usize) -> usize {
        let mut state = self.shared.lock();
        if state.failed.is_some() {
            return 0;
        }
        state.wake_at = Some(bytes);
        state.unwritten
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::{Duration, Instant};

    #[test]
    fn writes_everything_in_order_and_reports_a_closed_reader() {
        let mut poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(9)).unwrap());
        // A socket pair stands in for a pipe: a write after the reader is gone
        // fails with BrokenPipe just the same.
        let (mut reader, writer) = std::os::unix::net::UnixStream::pair().unwrap();
        let file = File::from(std::os::fd::OwnedFd::from(writer));
        let (mut out, gauge) = spawn(file, waker).unwrap();
        let mut expected = Vec::new();
        for i in 0..20_000 {
            let line = format!("line {i}\n");
            out.write_all(line.as_bytes()).unwrap();
            expected.extend_from_slice(line.as_bytes());
        }
        out.flush().unwrap();
        let mut got = vec![0; expected.len()];
        reader.read_exact(&mut got).unwrap();
        assert_eq!(got, expected);
        let until = Instant::now() + Duration::from_secs(5);
        while gauge.unwritten() > 0 && Instant::now() < until {
            thread::yield_now();
        }
        assert_eq!(gauge.unwritten(), 0);
        drop(reader);
        out.write_all(b"after the reader left\n").unwrap();
        out.flush().unwrap();
        let mut events = mio::Events::with_capacity(4);
        let mut failed = None;
        while failed.is_none() && Instant::now() < until {
            let _ = poll.poll(&mut events, Some(Duration::from_millis(50)));
            failed = out.flush().err();
        }
        assert_eq!(failed.map(|e| e.kind()), Some(io::ErrorKind::BrokenPipe));
    }
}
