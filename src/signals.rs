//! Ctrl-C and SIGTERM: the first asks the session to close cleanly (it sees the flag
//! when woken); the second exits at once.

use mio::Waker;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use crate::error::exit;

static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);
/// Set once the session is over: signals are then wsprobe's own way of stopping
/// the line editor and must not count as the user's Ctrl-C.
static ENDING: AtomicBool = AtomicBool::new(false);
/// Set while a (re)connection blocks: there is no session to close yet, so Ctrl-C
/// exits at once.
static CONNECTING: AtomicBool = AtomicBool::new(false);

/// Install the handlers; `waker` wakes the session so it notices the first signal.
pub fn install(waker: Arc<Waker>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for _ in signals.forever() {
                if ENDING.load(Ordering::SeqCst) {
                    continue;
                }
                if CONNECTING.load(Ordering::SeqCst) {
                    std::process::exit(exit::INTERRUPTED);
                }
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

pub fn set_ending() {
    ENDING.store(true, Ordering::SeqCst);
}

/// Interrupt the line editor's blocking read (it handles SIGINT while reading).
pub fn interrupt_self() {
    // SAFETY: kill(2) with our own pid and a valid signal has no memory effects.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGINT);
    }
}

pub fn set_connecting(connecting: bool) {
    CONNECTING.store(connecting, Ordering::SeqCst);
}
