//! Input sources: they turn what the user provides into `Command`s for the session.

pub mod lines;
pub mod repl;
