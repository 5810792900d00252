//! Feedback on stderr for a person at a terminal while wsprobe waits: what a dial
//! is waiting for, a hint when the server stays silent, the progress of a large
//! send. Never when stderr is not a terminal (pipes, CI logs) or with `-q`, and
//! nothing is drawn or started that costs a quick run anything.

pub mod dialing;
pub mod silence;
pub mod upload;

pub use dialing::Dialing;
pub use silence::SilenceHint;
pub use upload::{SendGauge, Upload};

use std::io::IsTerminal;

/// Whether this run may show feedback at all: stderr is a terminal and `-q` was
/// not given.
pub fn wanted(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}
