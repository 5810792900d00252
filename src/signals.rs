//! Ctrl-C and SIGTERM: the first asks the session to close cleanly (it sees the flag
//! when woken); the second exits at once.

use mio::Waker;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;

static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);
/// The first signal received, for the exit status (128 + signal, as shells report).
static FIRST_SIGNAL: AtomicI32 = AtomicI32::new(SIGINT);
/// Set once the session is over: signals are then wsprobe's own way of stopping
/// the line editor and must not count as the user's Ctrl-C.
static ENDING: AtomicBool = AtomicBool::new(false);
/// Set while a (re)connection blocks: there is no session to close yet, so Ctrl-C
/// exits at once.
static CONNECTING: AtomicBool = AtomicBool::new(false);
/// Says what a signal interrupted while connecting (the terminal's feedback sets
/// it; in pipes wsprobe exits silently).
type Notice = Box<dyn Fn(i32) + Send + Sync>;
static WHILE_CONNECTING: OnceLock<Notice> = OnceLock::new();

/// Install the handlers; `waker` wakes the session so it notices the first signal.
pub fn install(waker: Arc<Waker>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if ENDING.load(Ordering::SeqCst) {
                    continue;
                }
                if CONNECTING.load(Ordering::SeqCst) {
                    if let Some(notice) = WHILE_CONNECTING.get() {
                        notice(signal);
                    }
                    std::process::exit(128 + signal);
                }
                if INTERRUPTS.fetch_add(1, Ordering::SeqCst) >= 1 {
                    // A second Ctrl-C: the user does not want to wait for the close.
                    std::process::exit(128 + FIRST_SIGNAL.load(Ordering::SeqCst));
                }
                FIRST_SIGNAL.store(signal, Ordering::SeqCst);
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
    let _ = signal_hook::low_level::raise(SIGINT);
}

pub fn set_connecting(connecting: bool) {
    CONNECTING.store(connecting, Ordering::SeqCst);
}

/// What to say when a signal interrupts a dial (set once per run).
pub fn on_signal_while_connecting(notice: Notice) {
    let _ = WHILE_CONNECTING.set(notice);
}

/// The signal that interrupted the run (SIGINT unless SIGTERM came first).
pub fn first_signal() -> i32 {
    FIRST_SIGNAL.load(Ordering::SeqCst)
}
