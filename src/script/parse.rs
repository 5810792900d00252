//! Script text to [`Step`]s: one step per line, blank lines and `#` comments
//! skipped. Everything that can be checked is checked here, before connecting
//! (regexes, jq filters, hex, durations, close codes, the files `send-file`
//! sends), and an error names `FILE:LINE` and what is wrong.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tungstenite::{Bytes, Message};

use super::{Action, Step};
use crate::cli;
use crate::error::{Error, Result};
use crate::policy::Pattern;

/// The step names, for the message about an unknown one.
const STEPS: &str = "send, send-binary, send-file, expect, expect-jq, wait, ping, close";

/// A ping payload is at most this long (a control frame's limit).
const MAX_PING_PAYLOAD: usize = 125;

/// Steps shown in messages are cut to this many characters.
const SHOWN: usize = 80;

/// Read and parse the script at `path` (`-`: stdin). `binary` is `--binary`:
/// `send` and `send-file` then send binary messages.
pub fn load(path: &Path, binary: bool) -> Result<Vec<Step>> {
    let (source, name, dir) = if path == Path::new("-") {
        let mut source = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut source)
            .map_err(|e| Error::Usage(format!("cannot read the script from stdin: {e}").into()))?;
        (source, "stdin".to_string(), PathBuf::new())
    } else {
        let source = std::fs::read(path).map_err(|e| {
            Error::Usage(
                format!(
                    "cannot read '{}' (--script): {}",
                    path.display(),
                    crate::connect::plain_io_message(&e)
                )
                .into(),
            )
        })?;
        // `send-file` paths are relative to the script, which travels with them.
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        (source, path.display().to_string(), dir)
    };
    parse(&source, &name, &dir, binary).map_err(|m| Error::Usage(m.into()))
}

/// Parse a whole script; `name` is how messages call the file, `dir` is where
/// relative `send-file` paths start.
pub fn parse(
    source: &[u8],
    name: &str,
    dir: &Path,
    binary: bool,
) -> std::result::Result<Vec<Step>, String> {
    let source = std::str::from_utf8(source).map_err(|e| {
        let line = source[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        format!(
            "{name}:{line}: not valid UTF-8 (a script is text; send bytes with send-binary HEX)"
        )
    })?;
    let mut steps: Vec<Step> = Vec::new();
    for (index, raw) in source.split('\n').enumerate() {
        let line = index + 1;
        let text = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = text.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(close) = steps
            .iter()
            .find(|s| matches!(s.action, Action::Close { .. }))
        {
            return Err(format!(
                "{name}:{line}: nothing can follow the 'close' step of line {}",
                close.line
            ));
        }
        let step =
            parse_step(trimmed, line, dir, binary).map_err(|m| format!("{name}:{line}: {m}"))?;
        steps.push(step);
    }
    Ok(steps)
}

/// One non-blank, non-comment line, without its indentation.
fn parse_step(
    line_text: &str,
    line: usize,
    dir: &Path,
    binary: bool,
) -> std::result::Result<Step, String> {
    let (word, rest) = line_text.split_once([' ', '\t']).unwrap_or((line_text, ""));
    let args = rest.trim();
    let mut text = line_text.trim_end().to_string();
    let action = match word {
        // The text is everything after `send `, spaces included.
        "send" => {
            let payload = unescape(rest)?;
            Action::Send(if binary {
                Message::Binary(Bytes::from(payload.into_bytes()))
            } else {
                Message::Text(payload.into())
            })
        }
        "send-binary" => Action::Send(Message::Binary(Bytes::from(hex(args)?))),
        "send-file" => Action::Send(read_file(args, dir, binary)?),
        "expect" | "expect-jq" => {
            let (source, within) = split_within(args)?;
            if source.is_empty() {
                return Err(format!(
                    "{word} needs a {}",
                    if word == "expect" { "REGEX" } else { "FILTER" }
                ));
            }
            let pattern = if word == "expect" {
                Pattern::Regex(cli::parse_regex(source)?)
            } else {
                Pattern::Jq(cli::parse_jq(source)?)
            };
            text = format!("{word} {source}");
            Action::Expect { pattern, within }
        }
        "wait" => {
            if args.is_empty() {
                return Err("wait needs a DURATION, e.g. wait 500ms".to_string());
            }
            Action::Wait(duration(args)?)
        }
        "ping" => {
            if args.len() > MAX_PING_PAYLOAD {
                return Err(format!(
                    "a ping payload is at most {MAX_PING_PAYLOAD} bytes; this one is {}",
                    args.len()
                ));
            }
            Action::Ping(Bytes::from(args.as_bytes().to_vec()))
        }
        "close" => parse_close(args)?,
        other => {
            return Err(format!(
                "unknown step '{}' (steps: {STEPS})",
                crate::text::escape(other)
            ))
        }
    };
    Ok(Step {
        line,
        text: shown(&text),
        action,
    })
}

/// `^ack within 2s` → (`^ack`, 2s). The last ` within ` starts the suffix, so a
/// pattern may contain the word; what follows it must be a duration.
fn split_within(args: &str) -> std::result::Result<(&str, Option<Duration>), String> {
    const WITHIN: &str = " within ";
    // Padded, so that `expect within 2s` is found too (and lacks its pattern).
    let padded = format!(" {args}");
    match padded.rfind(WITHIN) {
        Some(at) => {
            let within = duration(padded[at + WITHIN.len()..].trim())?;
            Ok((args[..at.saturating_sub(1)].trim_end(), Some(within)))
        }
        None => Ok((args, None)),
    }
}

fn duration(s: &str) -> std::result::Result<Duration, String> {
    cli::parse_duration(s)
}

fn parse_close(args: &str) -> std::result::Result<Action, String> {
    if args.is_empty() {
        return Ok(Action::Close {
            code: None,
            reason: None,
        });
    }
    let (code, reason) = match args.split_once([' ', '\t']) {
        Some((code, reason)) => (code, Some(reason.trim())),
        None => (args, None),
    };
    Ok(Action::Close {
        code: Some(cli::parse_close_code(code)?),
        reason: reason.map(cli::parse_close_reason).transpose()?,
    })
}

/// `de ad be ef` or `deadbeef`: whitespace between digits is ignored.
fn hex(args: &str) -> std::result::Result<Vec<u8>, String> {
    let digits: Vec<u8> = args.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return Err(format!(
            "'{}' is not hex bytes: an odd number of digits",
            crate::text::escape(args)
        ));
    }
    digits
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| {
                    format!(
                        "'{}' is not hex bytes (e.g. send-binary 01 ff or 01ff)",
                        crate::text::escape(args)
                    )
                })
        })
        .collect()
}

/// `send-file PATH`: the file's contents as one message, read now; text when it
/// is UTF-8 (and not `--binary`), binary otherwise.
fn read_file(args: &str, dir: &Path, binary: bool) -> std::result::Result<Message, String> {
    if args.is_empty() {
        return Err("send-file needs a PATH".to_string());
    }
    let path = dir.join(args);
    let bytes = std::fs::read(&path).map_err(|e| {
        format!(
            "cannot read '{}': {}",
            path.display(),
            crate::connect::plain_io_message(&e)
        )
    })?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) if !binary => Message::Text(text.into()),
        Ok(text) => Message::Binary(Bytes::from(text.into_bytes())),
        Err(e) => Message::Binary(Bytes::from(e.into_bytes())),
    })
}

/// `send` text: `\n`, `\r`, `\t`, `\0` and `\\` are escapes; any other backslash
/// is an error (so that more escapes can be added later without changing what
/// existing scripts send).
fn unescape(s: &str) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            other => {
                return Err(format!(
                    "unknown escape '\\{}' in send (escapes: \\n \\r \\t \\0 \\\\)",
                    other
                        .map(|c| crate::text::escape(&c.to_string()))
                        .unwrap_or_default()
                ))
            }
        }
    }
    Ok(out)
}

/// A step as messages show it: control characters escaped, long ones cut.
fn shown(text: &str) -> String {
    let text = crate::text::escape(text);
    match text.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(script: &str) -> Vec<Step> {
        parse(script.as_bytes(), "s.ws", Path::new(""), false).unwrap()
    }

    fn one(script: &str) -> Step {
        let mut all = steps(script);
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    fn error(script: &str) -> String {
        parse(script.as_bytes(), "s.ws", Path::new(""), false).unwrap_err()
    }

    fn sent(step: Step) -> Message {
        match step.action {
            Action::Send(m) => m,
            other => panic!("expected a send, got {other:?}"),
        }
    }

    #[test]
    fn send_takes_everything_after_the_space_with_escapes() {
        assert_eq!(sent(one("send hello")), Message::text("hello"));
        assert_eq!(
            sent(one("send   two  spaces ")),
            Message::text("  two  spaces ")
        );
        assert_eq!(
            sent(one(r"send a\nb\tc\\n\r\0")),
            Message::text("a\nb\tc\\n\r\0")
        );
        assert_eq!(sent(one("send")), Message::text(""));
        assert_eq!(sent(one("  send indented\r")), Message::text("indented"));
        let binary = parse(b"send hi", "s.ws", Path::new(""), true).unwrap();
        assert_eq!(sent(binary[0].clone()), Message::binary(b"hi".to_vec()));
        assert!(error(r"send a\q").starts_with(r"s.ws:1: unknown escape '\q'"));
        assert!(error("send a\\").contains("unknown escape"));
    }

    #[test]
    fn send_binary_takes_hex_with_or_without_spaces() {
        assert_eq!(
            sent(one("send-binary de ad BE ef")),
            Message::binary(vec![0xde, 0xad, 0xbe, 0xef])
        );
        assert_eq!(
            sent(one("send-binary 00ff")),
            Message::binary(vec![0, 0xff])
        );
        assert!(error("send-binary abc").contains("odd number of digits"));
        assert!(error("\nsend-binary zz").starts_with("s.ws:2: 'zz' is not hex bytes"));
    }

    #[test]
    fn send_file_reads_the_file_relative_to_the_script() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.json"), "{\"a\":1}\n").unwrap();
        std::fs::write(dir.path().join("b.bin"), [0xff, 0]).unwrap();
        let all = parse(
            b"send-file a.json\nsend-file b.bin",
            "s.ws",
            dir.path(),
            false,
        )
        .unwrap();
        assert_eq!(sent(all[0].clone()), Message::text("{\"a\":1}\n"));
        assert_eq!(sent(all[1].clone()), Message::binary(vec![0xff, 0]));
        let e = parse(b"# x\nsend-file missing.txt", "s.ws", dir.path(), false).unwrap_err();
        assert!(
            e.starts_with("s.ws:2: cannot read '") && e.contains("missing.txt"),
            "{e}"
        );
        assert!(error("send-file").contains("needs a PATH"));
    }

    #[test]
    fn expect_steps_take_a_within_suffix() {
        let step = one("expect ^ack within 2s");
        assert_eq!(step.text, "expect ^ack");
        match step.action {
            Action::Expect {
                pattern: Pattern::Regex(r),
                within,
            } => {
                assert_eq!(r.as_str(), "^ack");
                assert_eq!(within, Some(Duration::from_secs(2)));
            }
            other => panic!("{other:?}"),
        }
        let step = one("expect-jq .type == \"done\" within 1m 30s");
        assert_eq!(step.text, "expect-jq .type == \"done\"");
        assert!(matches!(
            step.action,
            Action::Expect { pattern: Pattern::Jq(_), within: Some(w) } if w == Duration::from_secs(90)
        ));
        // Without the suffix: the whole rest is the pattern.
        assert!(matches!(
            one("expect a within").action,
            Action::Expect { within: None, .. }
        ));
        assert!(error("expect [").starts_with("s.ws:1: invalid regular expression"));
        assert!(error("expect-jq .a |").starts_with("s.ws:1: invalid jq filter at column"));
        assert!(error("expect ok within soon").contains("'soon' is not a duration"));
        assert!(error("expect within 2s").contains("expect needs a REGEX"));
        assert!(error("expect-jq").contains("expect-jq needs a FILTER"));
    }

    #[test]
    fn wait_ping_and_close() {
        assert!(
            matches!(one("wait 250ms").action, Action::Wait(d) if d == Duration::from_millis(250))
        );
        assert!(error("wait").contains("wait needs a DURATION"));
        assert!(error("wait later").contains("'later' is not a duration"));
        assert!(matches!(one("ping").action, Action::Ping(p) if p.is_empty()));
        assert!(matches!(one("ping hi there").action, Action::Ping(p) if &p[..] == b"hi there"));
        assert!(error(&format!("ping {}", "x".repeat(126))).contains("at most 125 bytes"));
        assert!(matches!(
            one("close").action,
            Action::Close {
                code: None,
                reason: None
            }
        ));
        assert!(matches!(
            one("close 4000 see you").action,
            Action::Close { code: Some(4000), reason: Some(r) } if r == "see you"
        ));
        assert!(error("close 1005").contains("cannot be sent as a close code"));
        assert!(error("close x").contains("'x' is not a close code"));
        assert!(error(&format!("close 1000 {}", "r".repeat(124))).contains("at most 123"));
    }

    #[test]
    fn comments_blank_lines_and_errors_name_the_line() {
        let all = steps("# login\n\n   \nsend a\n  # indented comment\nwait 1s\n");
        assert_eq!(all.iter().map(|s| s.line).collect::<Vec<_>>(), [4, 6]);
        assert_eq!(all[1].text, "wait 1s");
        assert_eq!(
            error("send a\nsned b"),
            format!("s.ws:2: unknown step 'sned' (steps: {STEPS})")
        );
        assert_eq!(
            error("close\n\nsend late"),
            "s.ws:3: nothing can follow the 'close' step of line 1"
        );
        let e = parse(b"send a\nsend \xff", "s.ws", Path::new(""), false).unwrap_err();
        assert!(e.starts_with("s.ws:2: not valid UTF-8"), "{e}");
        assert!(steps("").is_empty());
    }

    #[test]
    fn long_steps_are_cut_in_messages() {
        let step = one(&format!("send {}", "y".repeat(200)));
        assert_eq!(step.text.chars().count(), 81);
        assert!(step.text.ends_with('…'));
        assert_eq!(one("send a\\tb").text, "send a\\tb");
    }
}
