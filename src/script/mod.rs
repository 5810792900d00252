//! `--script FILE`: conversation scripts. A script is a list of steps, one per
//! line (`send`, `send-binary`, `send-file`, `expect`, `expect-jq`, `wait`, `ping`,
//! `close`); [`parse`] turns the file into [`Step`]s once, before connecting, and
//! [`run::Runner`] is the state machine the session consults while it runs them.

pub mod parse;
pub mod run;

use std::time::Duration;
use tungstenite::{Bytes, Message};

use crate::policy::Pattern;

pub use parse::load;
pub use run::{Next, Runner};

/// One line of a script, ready to run.
#[derive(Debug, Clone)]
pub struct Step {
    /// 1-based line number in the script file, for messages.
    pub line: usize,
    /// The step as messages show it (`expect ^ack`, without its `within`).
    pub text: String,
    pub action: Action,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// `send`, `send-binary`, `send-file`: one data message.
    Send(Message),
    /// `expect REGEX`, `expect-jq FILTER`: wait for a matching message, at most
    /// `within` (and never past `--timeout`).
    Expect {
        pattern: Pattern,
        within: Option<Duration>,
    },
    /// `wait DURATION`: keep receiving (and showing) for this long.
    Wait(Duration),
    /// `ping [PAYLOAD]`: send a ping (its pong is not awaited).
    Ping(Bytes),
    /// `close [CODE [REASON]]`: end the run; `None` takes `--close-code` /
    /// `--close-reason`.
    Close {
        code: Option<u16>,
        reason: Option<String>,
    },
}
