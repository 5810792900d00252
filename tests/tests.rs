//! wsprobe's integration tests, one crate (so the shared helpers in
//! `support/` are compiled once and every one of them is used): each module
//! runs the real binary against servers the tests start on 127.0.0.1.

mod support;

mod backpressure;
mod close;
mod connect;
mod debugger;
mod deflate;
mod exec;
mod eyeballs;
mod feedback;
mod hostile;
mod hub;
mod keepalive;
mod listen;
mod network;
mod peer;
mod pipe;
mod proxy;
mod reactions;
mod readme;
mod reconnect;
mod redirect;
mod repl;
mod schema;
mod script;
mod scripting;
mod stats;
mod tls;
mod unix;
mod usage;
