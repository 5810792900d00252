//! Ctrl-C and SIGTERM: the first asks the session to close cleanly (it sees the flag
//! when woken); the second exits at once.

use mio::Waker;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use crate::error::exit;

static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

/// Install the handlers; `waker` wakes the session so it notices the first signal.
pub fn install(waker: Arc<Waker>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for _ in signals.forever() {
                if INTERRUPTS.fetch_add(1, Ordering::SeqCst) >= 1 {
                    // A second Ctrl-C: the user does not want to wait for the close.
                    std::process::exit(exit::INTERRUPTED);
                }
                let _ = waker.wake();
            }
        })?;
    Ok(())
}

pub fn interrupted() -> bool {
    INTERRUPTS.load(Ordering::SeqCst) > 0
}
