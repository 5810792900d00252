//! Shared helpers for wsprobe's integration tests, one file per concern.
//!
//! Every wait has a deadline; nothing sleeps for a fixed time. Servers only
//! ever listen on loopback addresses, port 0.

mod certs;
mod jsonl;
mod peer;
mod proxy;
mod pty;
mod raw;
mod redact;
mod run;
mod serve;
mod ws_client;
mod ws_server;

pub use certs::*;
pub use jsonl::*;
pub use peer::*;
pub use proxy::*;
pub use pty::*;
pub use raw::*;
pub use redact::*;
pub use run::*;
pub use serve::*;
pub use ws_client::*;
pub use ws_server::*;
