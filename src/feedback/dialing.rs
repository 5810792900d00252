//! The "connecting…" line: when a dial takes longer than [`SHOW_AFTER`], a line on
//! stderr says what it is waiting for and is updated as the dial moves on (DNS,
//! TCP, proxy, TLS, upgrade); it is erased when the dial ends, before anything
//! else is written. A signal during the dial says what it interrupted.
//!
//! The dial blocks the main thread, so a small thread, started only when stderr
//! is a terminal, waits on a condition variable for a dial to outlast
//! [`SHOW_AFTER`]. A quick dial costs two uncontended locks per step and draws
//! nothing.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::connect::Stage;

/// A dial quicker than this shows nothing.
pub const SHOW_AFTER: Duration = Duration::from_millis(300);

/// The terminal's view of dials; [`Dialing::off`] in pipes and with `-q`.
pub struct Dialing(Option<Arc<Shared>>);

struct Shared {
    /// `host:port`, as dialed.
    endpoint: String,
    /// The proxy the dial goes through, as shown.
    proxy: Option<String>,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    attempt: Option<Attempt>,
    /// Dials are no longer shown: the REPL owns the terminal, or the run is over.
    retired: bool,
}

/// The dial under way.
struct Attempt {
    began: Instant,
    stage: Stage,
    /// The line on the terminal, once the dial has outlasted [`SHOW_AFTER`].
    line: Option<ProgressBar>,
}

impl Dialing {
    pub fn off() -> Dialing {
        Dialing(None)
    }

    /// Show dials to `endpoint` (through `proxy`) on the terminal, and say what a
    /// signal interrupted. Without a thread, nothing is shown.
    pub fn start(endpoint: String, proxy: Option<String>) -> Dialing {
        let shared = Arc::new(Shared {
            endpoint,
            proxy,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let watcher = shared.clone();
        let started = thread::Builder::new()
            .name("dialing".into())
            .spawn(move || watcher.watch());
        if started.is_err() {
            return Dialing::off();
        }
        let interrupted = shared.clone();
        crate::signals::on_signal_while_connecting(Box::new(move |signal| {
            interrupted.interrupted(signal)
        }));
        Dialing(Some(shared))
    }

    /// The dial has reached `stage` (the first stage starts an attempt).
    pub fn stage(&self, stage: Stage) {
        let Some(shared) = &self.0 else { return };
        let mut state = shared.lock();
        if state.retired {
            return;
        }
        match &mut state.attempt {
            Some(attempt) => {
                attempt.stage = stage;
                if let Some(line) = &attempt.line {
                    line.set_message(shared.doing(stage));
                }
            }
            None => {
                state.attempt = Some(Attempt {
                    began: Instant::now(),
                    stage,
                    line: None,
                });
                shared.changed.notify_one();
            }
        }
    }

    /// A `-v` note about the dial (`* trying [::1]:9001`) on stderr, above the
    /// "connecting…" line when it is drawn.
    pub fn note(&self, text: &str) {
        use colored::Colorize;
        let print = || eprintln!("{}", format!("* {text}").dimmed());
        let line = self
            .0
            .as_ref()
            .and_then(|shared| shared.lock().attempt.as_ref()?.line.clone());
        match line {
            Some(line) => line.suspend(print),
            None => print(),
        }
    }

    /// The dial is over (connected or failed): erase its line, if it was drawn.
    pub fn done(&self) {
        let Some(shared) = &self.0 else { return };
        let attempt = shared.lock().attempt.take();
        if let Some(line) = attempt.and_then(|a| a.line) {
            line.finish_and_clear();
        }
    }

    /// Show no more dials (the REPL has the terminal now).
    pub fn retire(&self) {
        let Some(shared) = &self.0 else { return };
        self.done();
        shared.lock().retired = true;
        shared.changed.notify_one();
    }
}

impl Drop for Dialing {
    fn drop(&mut self) {
        self.retire();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned one is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The watcher thread: draw the line of a dial that outlasts [`SHOW_AFTER`].
    fn watch(&self) {
        let mut state = self.lock();
        loop {
            if state.retired {
                return;
            }
            let due = match &state.attempt {
                Some(attempt) if attempt.line.is_none() => Some(attempt.began + SHOW_AFTER),
                _ => None,
            };
            let now = Instant::now();
            state = match due {
                None => self.changed.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(due) if now < due => {
                    self.changed
                        .wait_timeout(state, due - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                Some(_) => {
                    if let Some(attempt) = &mut state.attempt {
                        attempt.line = Some(self.draw(attempt));
                    }
                    state
                }
            };
        }
    }

    fn draw(&self, attempt: &Attempt) -> ProgressBar {
        let style =
            ProgressStyle::with_template("wsprobe: connecting to {prefix} ({msg})… {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let line = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
            .with_style(style)
            .with_prefix(self.endpoint.clone())
            .with_message(self.doing(attempt.stage))
            .with_elapsed(attempt.began.elapsed());
        // The elapsed time moves on by itself, from a thread of indicatif's.
        line.enable_steady_tick(Duration::from_millis(500));
        line.tick();
        line
    }

    /// What the dial is doing, for the line: `TLS handshake`.
    fn doing(&self, stage: Stage) -> String {
        match (stage, &self.proxy) {
            (Stage::Resolve, None) => "resolving the name".into(),
            (Stage::Resolve, Some(proxy)) => format!("resolving the proxy {proxy}"),
            (Stage::Connect, None) => "TCP connection".into(),
            (Stage::Connect, Some(proxy)) => format!("TCP connection to the proxy {proxy}"),
            (Stage::Tunnel, _) => format!("tunnel through {}", self.proxy_name()),
            (Stage::Tls, _) => "TLS handshake".into(),
            (Stage::Upgrade, _) => "waiting for the upgrade response".into(),
        }
    }

    /// What the dial is waiting for, for a sentence: `the TLS handshake with h:443`.
    fn waiting_for(&self, stage: Stage) -> String {
        let endpoint = &self.endpoint;
        match (stage, &self.proxy) {
            (Stage::Resolve, None) => format!("resolving the address of {endpoint}"),
            (Stage::Resolve, Some(proxy)) => format!("resolving the address of the proxy {proxy}"),
            (Stage::Connect, None) => {
                format!("waiting for the TCP connection to {endpoint}")
            }
            (Stage::Connect, Some(proxy)) => {
                format!("waiting for the TCP connection to the proxy {proxy}")
            }
            (Stage::Tunnel, _) => format!(
                "waiting for the proxy {} to open a tunnel to {endpoint}",
                self.proxy_name()
            ),
            (Stage::Tls, _) => format!("waiting for the TLS handshake with {endpoint}"),
            (Stage::Upgrade, _) => format!("waiting for the upgrade response from {endpoint}"),
        }
    }

    fn proxy_name(&self) -> &str {
        self.proxy.as_deref().unwrap_or("the proxy")
    }

    /// On the signal thread, just before wsprobe exits: erase the line and say
    /// what the signal interrupted.
    fn interrupted(&self, signal: i32) {
        let mut state = self.lock();
        if state.retired {
            return;
        }
        let attempt = state.attempt.take();
        let what = match &attempt {
            Some(attempt) => self.waiting_for(attempt.stage),
            None => format!("connecting to {}", self.endpoint),
        };
        if let Some(line) = attempt.and_then(|a| a.line) {
            line.finish_and_clear();
        }
        let by = if signal == signal_hook::consts::SIGTERM {
            "stopped by SIGTERM"
        } else {
            "interrupted"
        };
        eprintln!("wsprobe: {by} while {what}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(proxy: Option<&str>) -> Shared {
        Shared {
            endpoint: "example.com:443".into(),
            proxy: proxy.map(String::from),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    #[test]
    fn each_stage_says_what_it_waits_for() {
        let direct = shared(None);
        let proxied = shared(Some("http://p:3128"));
        assert_eq!(direct.doing(Stage::Tls), "TLS handshake");
        assert_eq!(
            proxied.doing(Stage::Connect),
            "TCP connection to the proxy http://p:3128"
        );
        for (dial, stage, said) in [
            (
                &direct,
                Stage::Tls,
                "waiting for the TLS handshake with example.com:443",
            ),
            (
                &direct,
                Stage::Upgrade,
                "waiting for the upgrade response from example.com:443",
            ),
            (
                &proxied,
                Stage::Tunnel,
                "waiting for the proxy http://p:3128 to open a tunnel to example.com:443",
            ),
        ] {
            assert_eq!(dial.waiting_for(stage), said);
        }
    }

    #[test]
    fn a_dial_that_is_off_does_nothing() {
        let off = Dialing::off();
        off.stage(Stage::Resolve);
        off.done();
        off.retire();
    }
}
