//! What the way a session ended means for the user: success, or the error (and so
//! the exit code) that says what went wrong.

use crate::error::{Error, Result};
use crate::policy::Finish;
use crate::session::{CloseCause, Outcome, Report};

/// Turn how the session ended into success or the error that sets the exit code.
/// `peer` names the other side in messages: "server", or "client" with --listen.
pub fn conclude(report: Report, quiet: bool, peer: &str) -> Result<()> {
    let Report {
        outcome,
        unmet,
        timeout,
    } = report;
    match outcome {
        Outcome::ClosedByUs { cause, answered } => {
            match cause {
                CloseCause::Finished(Finish::GoalMet) => {}
                CloseCause::Finished(Finish::WaitOver) => {
                    if let Some(unmet) = unmet {
                        return Err(Error::Timeout(format!("--wait elapsed: {unmet}").into()));
                    }
                }
                // --timeout is a failure deadline (exit 6) even when nothing in
                // particular was awaited; `--wait D` is the way to end a run
                // successfully after D.
                CloseCause::Finished(Finish::TimedOut) => {
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
                CloseCause::Interrupted => {
                    return Err(Error::Interrupted(crate::signals::first_signal()))
                }
                CloseCause::OutputClosed | CloseCause::Requested => {}
                CloseCause::OutputFailed(m) | CloseCause::ProtocolError(m) => {
                    return Err(Error::Runtime(m.into()))
                }
                CloseCause::InputFailed(m) => return Err(Error::Usage(m.into())),
            }
            if !answered && !quiet {
                eprintln!("wsprobe: warning: the {peer} did not answer the Close frame");
            }
            Ok(())
        }
        Outcome::ClosedByServer { code, reason } => {
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
        Outcome::Lost(message) => match unmet {
            Some(unmet) => Err(Error::Timeout(
                format!("{message} before the goal was met: {unmet}").into(),
            )),
            None => Err(Error::Runtime(message.into())),
        },
        Outcome::Dropped => {
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
pub fn timeout_flag(timeout: Option<std::time::Duration>) -> String {
    match timeout {
        Some(t) => format!("--timeout {}", humantime::format_duration(t)),
        None => "--timeout".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit;

    fn code(outcome: Outcome, unmet: Option<&str>, unmet_at_timeout: Option<&str>) -> i32 {
        let report = Report {
            outcome,
            unmet: unmet.or(unmet_at_timeout).map(String::from),
            timeout: None,
        };
        match conclude(report, true, "server") {
            Ok(()) => exit::SUCCESS,
            Err(e) => e.exit_code(),
        }
    }

    fn by_us(cause: CloseCause) -> Outcome {
        Outcome::ClosedByUs {
            cause,
            answered: true,
        }
    }

    fn by_server(code: Option<u16>) -> Outcome {
        Outcome::ClosedByServer {
            code,
            reason: String::new(),
        }
    }

    #[test]
    fn every_ending_has_its_exit_code() {
        assert_eq!(
            code(by_us(CloseCause::Finished(Finish::GoalMet)), None, None),
            0
        );
        assert_eq!(
            code(by_us(CloseCause::Finished(Finish::WaitOver)), None, None),
            0
        );
        assert_eq!(
            code(
                by_us(CloseCause::Finished(Finish::WaitOver)),
                Some("x"),
                None
            ),
            6
        );
        assert_eq!(
            code(by_us(CloseCause::Finished(Finish::TimedOut)), None, None),
            6
        );
        assert_eq!(
            code(
                by_us(CloseCause::Finished(Finish::TimedOut)),
                None,
                Some("x")
            ),
            6
        );
        assert_eq!(code(by_us(CloseCause::Interrupted), None, None), 130);
        assert_eq!(code(by_us(CloseCause::OutputClosed), None, None), 0);
        assert_eq!(code(by_us(CloseCause::Requested), None, None), 0);
        assert_eq!(
            code(by_us(CloseCause::OutputFailed("x".into())), None, None),
            1
        );
        assert_eq!(
            code(by_us(CloseCause::ProtocolError("x".into())), None, None),
            1
        );
        assert_eq!(
            code(by_us(CloseCause::InputFailed("x".into())), None, None),
            2
        );
        assert_eq!(code(by_server(Some(1000)), None, None), 0);
        assert_eq!(code(by_server(Some(1001)), None, None), 0);
        assert_eq!(code(by_server(None), None, None), 0);
        assert_eq!(code(by_server(Some(1011)), None, None), 7);
        assert_eq!(code(by_server(Some(4000)), None, None), 7);
        assert_eq!(code(by_server(Some(1000)), Some("x"), None), 6);
        assert_eq!(code(Outcome::Dropped, None, None), 7);
        assert_eq!(code(Outcome::Dropped, Some("x"), None), 6);
        assert_eq!(code(Outcome::Lost("reset".into()), None, None), 1);
        assert_eq!(code(Outcome::Lost("reset".into()), Some("x"), None), 6);
    }

    #[test]
    fn close_descriptions() {
        assert_eq!(describe_close(Some(1011), "oops"), "1011 oops");
        assert_eq!(describe_close(Some(4000), ""), "4000");
        assert_eq!(describe_close(None, ""), "no close code");
        assert_eq!(describe_close(Some(4001), "a\nb\x1b"), "4001 a\\nb\\x1b");
    }
}
