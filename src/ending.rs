//! How a run ended, in one vocabulary: an [`Ending`] says what ended the
//! connection ([`EndedBy`]), why wsprobe closed it when it did ([`WhyClosed`], with
//! the policy's [`Verdict`]) and what goal was unmet; [`conclude`] turns it into
//! success or the error (and so the exit code) that says what went wrong.

use crate::error::{Error, Result};
use crate::policy::Verdict;
use std::time::Duration;

/// Why wsprobe started the close handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhyClosed {
    Finished(Verdict),
    Interrupted,
    /// stdout's reader went away (`| head -1`).
    OutputClosed,
    /// stdout could not be written for another reason.
    OutputFailed(String),
    InputFailed(String),
    /// The user asked for it (REPL `/close`, `/quit`, Ctrl-D).
    Requested,
    /// The peer broke the protocol; we sent the matching close code.
    ProtocolError(String),
    /// A message matched `--fail-on`/`--fail-on-jq` (exit 8).
    FailedOn(String),
    /// An `--exec` command failed and `--exec-strict` was given (exit 1).
    ExecFailed(String),
    /// A `--script` step was not met within its `within` (exit 6).
    StepUnmet(String),
}

/// How the connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndedBy {
    /// wsprobe sent Close; `answered` tells whether the peer's Close came back.
    ClosedByUs { cause: WhyClosed, answered: bool },
    /// The peer sent Close first (wsprobe answered it). The code is the one on the
    /// wire.
    ClosedByServer { code: Option<u16>, reason: String },
    /// The TCP connection ended without a Close frame.
    Dropped,
    /// The connection failed (reset, I/O error) while open.
    Lost(String),
}

/// What the app needs to pick the exit code.
#[derive(Debug)]
pub struct Ending {
    pub ended_by: EndedBy,
    /// The goal that was not met, if any (explicit, or one reply per message).
    pub unmet: Option<String>,
    /// `--timeout`, for messages.
    pub timeout: Option<Duration>,
}

/// Turn how the session ended into success or the error that sets the exit code.
/// `peer` names the other side in messages: "server", or "client" with --listen.
pub fn conclude(ending: Ending, quiet: bool, peer: &str) -> Result<()> {
    let Ending {
        ended_by,
        unmet,
        timeout,
    } = ending;
    match ended_by {
        EndedBy::ClosedByUs { cause, answered } => {
            match cause {
                WhyClosed::Finished(Verdict::GoalMet) => {}
                WhyClosed::Finished(Verdict::WaitOver) => {
                    if let Some(unmet) = unmet {
                        return Err(Error::Timeout(format!("--wait elapsed: {unmet}").into()));
                    }
                }
                // --timeout is a failure deadline (exit 6) even when nothing in
                // particular was awaited; `--wait D` is the way to end a run
                // successfully after D.
                WhyClosed::Finished(Verdict::TimedOut) => {
                    return Err(Error::Timeout(
                        match unmet {
                            Some(unmet) => {
                                format!("timed out ({}): {unmet}", timeout_flag(timeout))
                            }
                            None => format!(
                            "timed out ({}) (to end a run successfully after a while, use --wait)",
                            timeout_flag(timeout)
                        ),
                        }
                        .into(),
                    ));
                }
                WhyClosed::Interrupted => {
                    return Err(Error::Interrupted(crate::signals::first_signal()))
                }
                WhyClosed::OutputClosed | WhyClosed::Requested => {}
                WhyClosed::OutputFailed(m)
                | WhyClosed::ProtocolError(m)
                | WhyClosed::ExecFailed(m) => return Err(Error::Runtime(m.into())),
                WhyClosed::InputFailed(m) => return Err(Error::Usage(m.into())),
                WhyClosed::FailedOn(m) => return Err(Error::FailedOn(m.into())),
                WhyClosed::StepUnmet(m) => return Err(Error::Timeout(m.into())),
            }
            if !answered && !quiet {
                eprintln!("wsprobe: warning: the {peer} did not answer the Close frame");
            }
            Ok(())
        }
        EndedBy::ClosedByServer { code, reason } => {
            let described = describe_close(code, &reason);
            if let Some(unmet) = unmet {
                return Err(Error::Timeout(format!(
                    "the {peer} closed the connection ({described}) before the goal was met: {unmet}"
                ).into()));
            }
            match code {
                None | Some(1000) | Some(1001) => Ok(()),
                Some(_) => Err(Error::ServerClosed(
                    format!("the {peer} closed the connection: {described}").into(),
                )),
            }
        }
        EndedBy::Lost(message) => match unmet {
            Some(unmet) => Err(Error::Timeout(
                format!("{message} before the goal was met: {unmet}").into(),
            )),
            None => Err(Error::Runtime(message.into())),
        },
        EndedBy::Dropped => {
            let what = format!("the {peer} closed the connection without a Close frame");
            match unmet {
                Some(unmet) => Err(Error::Timeout(
                    format!("{what} before the goal was met: {unmet}").into(),
                )),
                None => Err(Error::ServerClosed(what.into())),
            }
        }
    }
}

/// `1011 oops`: the code and the reason, with control characters in the reason
/// (peer text) escaped so that the message stays one line.
pub fn describe_close(code: Option<u16>, reason: &str) -> String {
    match (code, reason.is_empty()) {
        (None, _) => "no close code".to_string(),
        (Some(code), true) => code.to_string(),
        (Some(code), false) => format!("{code} {}", crate::text::escape(reason)),
    }
}

/// `--timeout 2s`, as messages name the flag.
pub fn timeout_flag(timeout: Option<Duration>) -> String {
    match timeout {
        Some(t) => format!("--timeout {}", humantime::format_duration(t)),
        None => "--timeout".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit;

    fn code(ended_by: EndedBy, unmet: Option<&str>, unmet_at_timeout: Option<&str>) -> i32 {
        let report = Ending {
            ended_by,
            unmet: unmet.or(unmet_at_timeout).map(String::from),
            timeout: None,
        };
        match conclude(report, true, "server") {
            Ok(()) => exit::SUCCESS,
            Err(e) => e.exit_code(),
        }
    }

    fn by_us(cause: WhyClosed) -> EndedBy {
        EndedBy::ClosedByUs {
            cause,
            answered: true,
        }
    }

    fn by_server(code: Option<u16>) -> EndedBy {
        EndedBy::ClosedByServer {
            code,
            reason: String::new(),
        }
    }

    #[test]
    fn every_ending_has_its_exit_code() {
        assert_eq!(
            code(by_us(WhyClosed::Finished(Verdict::GoalMet)), None, None),
            0
        );
        assert_eq!(
            code(by_us(WhyClosed::Finished(Verdict::WaitOver)), None, None),
            0
        );
        assert_eq!(
            code(
                by_us(WhyClosed::Finished(Verdict::WaitOver)),
                Some("x"),
                None
            ),
            6
        );
        assert_eq!(
            code(by_us(WhyClosed::Finished(Verdict::TimedOut)), None, None),
            6
        );
        assert_eq!(
            code(
                by_us(WhyClosed::Finished(Verdict::TimedOut)),
                None,
                Some("x")
            ),
            6
        );
        assert_eq!(code(by_us(WhyClosed::Interrupted), None, None), 130);
        assert_eq!(code(by_us(WhyClosed::OutputClosed), None, None), 0);
        assert_eq!(code(by_us(WhyClosed::Requested), None, None), 0);
        assert_eq!(
            code(by_us(WhyClosed::OutputFailed("x".into())), None, None),
            1
        );
        assert_eq!(
            code(by_us(WhyClosed::ProtocolError("x".into())), None, None),
            1
        );
        assert_eq!(
            code(by_us(WhyClosed::InputFailed("x".into())), None, None),
            2
        );
        assert_eq!(code(by_us(WhyClosed::FailedOn("x".into())), None, None), 8);
        assert_eq!(code(by_us(WhyClosed::StepUnmet("x".into())), None, None), 6);
        assert_eq!(code(by_server(Some(1000)), None, None), 0);
        assert_eq!(code(by_server(Some(1001)), None, None), 0);
        assert_eq!(code(by_server(None), None, None), 0);
        assert_eq!(code(by_server(Some(1011)), None, None), 7);
        assert_eq!(code(by_server(Some(4000)), None, None), 7);
        assert_eq!(code(by_server(Some(1000)), Some("x"), None), 6);
        assert_eq!(code(EndedBy::Dropped, None, None), 7);
        assert_eq!(code(EndedBy::Dropped, Some("x"), None), 6);
        assert_eq!(code(EndedBy::Lost("reset".into()), None, None), 1);
        assert_eq!(code(EndedBy::Lost("reset".into()), Some("x"), None), 6);
    }

    #[test]
    fn close_descriptions() {
        assert_eq!(describe_close(Some(1011), "oops"), "1011 oops");
        assert_eq!(describe_close(Some(4000), ""), "4000");
        assert_eq!(describe_close(None, ""), "no close code");
        assert_eq!(describe_close(Some(4001), "a\nb\x1b"), "4001 a\\nb\\x1b");
    }
}
