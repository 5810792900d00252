//! Parsing what the user typed in the REPL: a message to send, or a slash command.
//! Pure: no I/O, so every command and every error is unit-tested here.

use base64::Engine as _;
use std::path::PathBuf;

/// What a typed line means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Send this text message.
    Text(String),
    Command(Slash),
    /// Nothing to do (an empty line).
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slash {
    Help,
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close {
        code: u16,
        reason: String,
    },
    Binary(Vec<u8>),
    File {
        path: PathBuf,
        force_binary: bool,
    },
    /// An empty message (an empty line sends nothing).
    Empty,
    Info,
    Stats,
    /// Toggle (None) or set pretty-printing of JSON.
    Pretty(Option<bool>),
    Quit,
    /// Multi-client `--listen`: list the clients.
    Clients,
    /// Multi-client `--listen`: send a text message to one client.
    To {
        client: u32,
        text: String,
    },
    /// Multi-client `--listen`: close one client's connection.
    Kick {
        client: u32,
        code: u16,
        reason: String,
    },
}

/// Every command with its one-line help, in the order `/help` shows them; also
/// what Tab completes.
pub const COMMANDS: &[(&str, &str)] = &[
    ("/help", "show this list"),
    (
        "/ping",
        "[payload]  send a ping; the pong shows the round-trip time",
    ),
    ("/pong", "[payload]  send an unsolicited pong"),
    (
        "/close",
        "[code [reason]]  close the connection (default 1000)",
    ),
    (
        "/binary",
        "<hex>  send a binary message, e.g. /binary 00ff 1a",
    ),
    ("/base64", "<data>  send a binary message given in base64"),
    (
        "/file",
        "[--binary] <path>  send a file (text if valid UTF-8, else binary)",
    ),
    (
        "/empty",
        "send an empty message (an empty line sends nothing)",
    ),
    ("/info", "URL, subprotocol, response headers, uptime"),
    (
        "/stats",
        "messages and bytes each way, pings, last round-trip time",
    ),
    (
        "/pretty",
        "[on|off]  pretty-print JSON messages (toggles without argument)",
    ),
    (
        "/quit",
        "close the connection and exit (also /exit, Ctrl-D)",
    ),
];

/// The commands of the multi-client listener, shown by `/help` there (typed
/// lines and the commands above go to every client).
pub const HUB_COMMANDS: &[(&str, &str)] = &[
    (
        "/clients",
        "list the clients: id, address, path, uptime, messages each way",
    ),
    ("/to", "<id> <message>  send a text message to one client"),
    (
        "/kick",
        "<id> [code [reason]]  close one client (default 1000)",
    ),
];

/// Close codes a client may send (RFC 6455 §7.4): 1000-1003, 1007-1014 and
/// 3000-4999. 1004-1006 and 1015 are reserved for reporting, never sent.
pub fn is_sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Control frames carry at most 125 bytes of payload (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

pub fn parse(line: &str) -> Result<Input, String> {
    if line.is_empty() {
        return Ok(Input::Nothing);
    }
    if let Some(rest) = line.strip_prefix("//") {
        return Ok(Input::Text(format!("/{rest}")));
    }
    let Some(body) = line.strip_prefix('/') else {
        return Ok(Input::Text(line.to_string()));
    };
    let (name, args) = match body.split_once(char::is_whitespace) {
        Some((name, args)) => (name, args.trim()),
        None => (body, ""),
    };
    let no_args = |command: Slash| {
        if args.is_empty() {
            Ok(Input::Command(command))
        } else {
            Err(format!("/{name} takes no arguments"))
        }
    };
    match name {
        "help" | "?" => no_args(Slash::Help),
        "ping" => control_payload("ping", args).map(|p| Input::Command(Slash::Ping(p))),
        "pong" => control_payload("pong", args).map(|p| Input::Command(Slash::Pong(p))),
        "close" => parse_close(args).map(Input::Command),
        "binary" | "bin" | "hex" => parse_hex(args).map(|b| Input::Command(Slash::Binary(b))),
        "base64" | "b64" => parse_base64(args).map(|b| Input::Command(Slash::Binary(b))),
        "file" => parse_file(args).map(Input::Command),
        "empty" => no_args(Slash::Empty),
        "info" => no_args(Slash::Info),
        "stats" => no_args(Slash::Stats),
        "pretty" => match args {
            "" => Ok(Input::Command(Slash::Pretty(None))),
            "on" => Ok(Input::Command(Slash::Pretty(Some(true)))),
            "off" => Ok(Input::Command(Slash::Pretty(Some(false)))),
            other => Err(format!("/pretty takes on or off, not '{other}'")),
        },
        "quit" | "exit" | "q" => no_args(Slash::Quit),
        "clients" => no_args(Slash::Clients),
        "to" => parse_to(args).map(Input::Command),
        "kick" => parse_kick(args).map(Input::Command),
        "" => Err("empty command; type /help for the list (// sends a literal /)".into()),
        other => Err(format!(
            "unknown command /{other}; type /help for the list (//{other} sends '/{other}' as text)"
        )),
    }
}

/// Whether a typed line goes on on the next one: it ends in an odd number of
/// backslashes (`\\` at the end is one backslash, sent).
pub fn continues(input: &str) -> bool {
    trailing_backslashes(input) % 2 == 1
}

/// The message a (possibly continued) line holds. At the end of each line,
/// backslashes pair up: `\\` stands for one `\`, and a single one left over
/// continued the line (the message keeps the newline). A newline at the very
/// end (the tail of a paste) is dropped.
pub fn join_lines(input: &str) -> String {
    let input = input.strip_suffix('\n').unwrap_or(input);
    input
        .split('\n')
        .map(|line| {
            let run = trailing_backslashes(line);
            format!("{}{}", &line[..line.len() - run], "\\".repeat(run / 2))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn trailing_backslashes(line: &str) -> usize {
    line.len() - line.trim_end_matches('\\').len()
}

fn control_payload(name: &str, args: &str) -> Result<Vec<u8>, String> {
    if args.len() > MAX_CONTROL_PAYLOAD {
        return Err(format!(
            "a {name} payload is at most {MAX_CONTROL_PAYLOAD} bytes; this one is {}",
            args.len()
        ));
    }
    Ok(args.as_bytes().to_vec())
}

/// `/to ID MESSAGE`: everything after the id (spaces kept) is the message.
fn parse_to(args: &str) -> Result<Slash, String> {
    let usage = "/to needs a client id and a message, e.g. /to 2 hello";
    let (id, text) = args.split_once(char::is_whitespace).ok_or(usage)?;
    Ok(Slash::To {
        client: parse_client(id)?,
        text: text.trim_start().to_string(),
    })
}

/// `/kick ID [CODE [REASON]]`, the code and reason as `/close` takes them.
fn parse_kick(args: &str) -> Result<Slash, String> {
    if args.is_empty() {
        return Err("/kick needs a client id, e.g. /kick 2 or /kick 2 4000 bye".into());
    }
    let (id, rest) = match args.split_once(char::is_whitespace) {
        Some((id, rest)) => (id, rest.trim()),
        None => (args, ""),
    };
    let client = parse_client(id)?;
    match parse_close(rest)? {
        Slash::Close { code, reason } => Ok(Slash::Kick {
            client,
            code,
            reason,
        }),
        _ => Err("/kick: unexpected arguments".into()),
    }
}

fn parse_client(id: &str) -> Result<u32, String> {
    id.parse::<u32>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("'{id}' is not a client id (see /clients)"))
}

fn parse_close(args: &str) -> Result<Slash, String> {
    if args.is_empty() {
        return Ok(Slash::Close {
            code: 1000,
            reason: String::new(),
        });
    }
    let (code_text, reason) = match args.split_once(char::is_whitespace) {
        Some((c, r)) => (c, r.trim()),
        None => (args, ""),
    };
    let code: u16 = code_text
        .parse()
        .map_err(|_| format!("'{code_text}' is not a close code (1000-4999)"))?;
    if !is_sendable_close_code(code) {
        return Err(format!(
            "{code} cannot be sent as a close code (use 1000-1003, 1007-1014 or 3000-4999)"
        ));
    }
    if reason.len() > 123 {
        return Err(format!(
            "the close reason is {} bytes; at most 123 fit in a Close frame",
            reason.len()
        ));
    }
    Ok(Slash::Close {
        code,
        reason: reason.to_string(),
    })
}

/// Hex digits, with optional spaces, colons or `0x` prefixes between bytes.
fn parse_hex(args: &str) -> Result<Vec<u8>, String> {
    if args.is_empty() {
        return Err("/binary needs hex bytes, e.g. /binary 00ff".into());
    }
    let mut digits = String::new();
    for token in args.split(|c: char| c.is_whitespace() || c == ':' || c == ',') {
        let token = token.strip_prefix("0x").unwrap_or(token);
        digits.push_str(token);
    }
    if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("'{bad}' is not a hex digit"));
    }
    if digits.len() % 2 == 1 {
        return Err("odd number of hex digits: each byte needs two".into());
    }
    Ok((0..digits.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&digits[i..i + 2], 16).ok())
        .collect())
}

fn parse_base64(args: &str) -> Result<Vec<u8>, String> {
    if args.is_empty() {
        return Err("/base64 needs data, e.g. /base64 AP8=".into());
    }
    let compact: String = args.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| format!("not valid base64: {e}"))
}

fn parse_file(args: &str) -> Result<Slash, String> {
    let (force_binary, path) = match args.strip_prefix("--binary") {
        Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
            (true, rest.trim())
        }
        _ => (false, args),
    };
    if path.is_empty() {
        return Err("/file needs a path, e.g. /file request.json".into());
    }
    Ok(Slash::File {
        path: PathBuf::from(path),
        force_binary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_commands() {
        assert_eq!(cmd("/clients"), Slash::Clients);
        assert_eq!(
            cmd("/to 2  hello there"),
            Slash::To {
                client: 2,
                text: "hello there".into()
            }
        );
        assert_eq!(
            cmd("/kick 3"),
            Slash::Kick {
                client: 3,
                code: 1000,
                reason: String::new()
            }
        );
        assert_eq!(
            cmd("/kick 3 4000 go away"),
            Slash::Kick {
                client: 3,
                code: 4000,
                reason: "go away".into()
            }
        );
        assert!(parse("/to 2").is_err());
        assert!(parse("/to x hi").is_err());
        assert!(parse("/kick").is_err());
        assert!(parse("/kick 0").is_err());
        assert!(parse("/kick 2 1005").is_err());
    }

    fn cmd(line: &str) -> Slash {
        match parse(line) {
            Ok(Input::Command(c)) => c,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    fn err(line: &str) -> String {
        match parse(line) {
            Err(e) => e,
            other => panic!("{line:?} should fail, gave {other:?}"),
        }
    }

    #[test]
    fn plain_text_and_escapes() {
        assert_eq!(parse("hello"), Ok(Input::Text("hello".into())));
        assert_eq!(
            parse(" /not a command"),
            Ok(Input::Text(" /not a command".into()))
        );
        assert_eq!(parse("//ping"), Ok(Input::Text("/ping".into())));
        assert_eq!(parse("//"), Ok(Input::Text("/".into())));
        assert_eq!(parse(""), Ok(Input::Nothing));
    }

    #[test]
    fn help_info_stats_quit() {
        assert_eq!(cmd("/help"), Slash::Help);
        assert_eq!(cmd("/?"), Slash::Help);
        assert_eq!(cmd("/info"), Slash::Info);
        assert_eq!(cmd("/stats"), Slash::Stats);
        assert_eq!(cmd("/quit"), Slash::Quit);
        assert_eq!(cmd("/exit"), Slash::Quit);
        assert!(err("/quit now").contains("takes no arguments"));
        assert!(err("/info x").contains("takes no arguments"));
    }

    #[test]
    fn ping_and_pong() {
        assert_eq!(cmd("/ping"), Slash::Ping(vec![]));
        assert_eq!(
            cmd("/ping hello there"),
            Slash::Ping(b"hello there".to_vec())
        );
        assert_eq!(cmd("/pong x"), Slash::Pong(b"x".to_vec()));
        assert!(err(&format!("/ping {}", "x".repeat(126))).contains("at most 125 bytes"));
        assert_eq!(
            cmd(&format!("/ping {}", "x".repeat(125))),
            Slash::Ping(vec![b'x'; 125])
        );
    }

    #[test]
    fn close() {
        assert_eq!(
            cmd("/close"),
            Slash::Close {
                code: 1000,
                reason: String::new()
            }
        );
        assert_eq!(
            cmd("/close 4000 bye now"),
            Slash::Close {
                code: 4000,
                reason: "bye now".into()
            }
        );
        assert_eq!(
            cmd("/close 1001"),
            Slash::Close {
                code: 1001,
                reason: String::new()
            }
        );
        assert!(err("/close abc").contains("not a close code"));
        assert!(err("/close 1005").contains("cannot be sent"));
        assert!(err("/close 999").contains("cannot be sent"));
        assert!(err("/close 5000").contains("cannot be sent"));
        assert!(err(&format!("/close 1000 {}", "r".repeat(124))).contains("at most 123"));
    }

    #[test]
    fn binary_forms() {
        assert_eq!(cmd("/binary 00ff"), Slash::Binary(vec![0, 255]));
        assert_eq!(cmd("/binary 00 ff 1A"), Slash::Binary(vec![0, 255, 26]));
        assert_eq!(cmd("/binary 0x00:0xff"), Slash::Binary(vec![0, 255]));
        assert_eq!(cmd("/hex 41"), Slash::Binary(vec![0x41]));
        assert!(err("/binary").contains("needs hex bytes"));
        assert!(err("/binary 0g").contains("'g' is not a hex digit"));
        assert!(err("/binary 123").contains("odd number"));
        assert_eq!(cmd("/base64 AP8="), Slash::Binary(vec![0, 255]));
        assert!(err("/base64").contains("needs data"));
        assert!(err("/base64 !!").contains("not valid base64"));
    }

    #[test]
    fn file() {
        assert_eq!(
            cmd("/file a b.json"),
            Slash::File {
                path: "a b.json".into(),
                force_binary: false
            }
        );
        assert_eq!(
            cmd("/file --binary x.bin"),
            Slash::File {
                path: "x.bin".into(),
                force_binary: true
            }
        );
        assert_eq!(
            cmd("/file --binaryish"),
            Slash::File {
                path: "--binaryish".into(),
                force_binary: false
            }
        );
        assert!(err("/file").contains("needs a path"));
        assert!(err("/file --binary").contains("needs a path"));
    }

    #[test]
    fn backslashes_at_line_ends() {
        assert!(continues("one\\"));
        assert!(!continues("one\\\\"));
        assert!(continues("one\\\\\\"));
        assert!(!continues("a\\b"));
        assert_eq!(join_lines("one\\\ntwo"), "one\ntwo");
        assert_eq!(join_lines("ends in \\\\"), "ends in \\");
        assert_eq!(join_lines("two \\\\\\\\"), "two \\\\");
        assert_eq!(join_lines("a \\\\\\\nb"), "a \\\nb");
        assert_eq!(join_lines("in \\ the middle"), "in \\ the middle");
        assert_eq!(join_lines("{\n  \"a\": 1\n}\n"), "{\n  \"a\": 1\n}");
        assert_eq!(join_lines(""), "");
    }

    #[test]
    fn empty_message() {
        assert_eq!(cmd("/empty"), Slash::Empty);
        assert_eq!(parse(""), Ok(Input::Nothing));
        assert!(err("/empty x").contains("no arguments"));
    }

    #[test]
    fn pretty() {
        assert_eq!(cmd("/pretty"), Slash::Pretty(None));
        assert_eq!(cmd("/pretty on"), Slash::Pretty(Some(true)));
        assert_eq!(cmd("/pretty off"), Slash::Pretty(Some(false)));
        assert!(err("/pretty maybe").contains("on or off"));
    }

    #[test]
    fn unknown_commands() {
        assert!(err("/frobnicate").contains("unknown command /frobnicate"));
        assert!(err("/").contains("empty command"));
    }

    #[test]
    fn every_listed_command_parses() {
        for (name, _) in COMMANDS {
            let line = match *name {
                "/binary" => "/binary 00".to_string(),
                "/base64" => "/base64 AA==".to_string(),
                "/file" => "/file x".to_string(),
                other => other.to_string(),
            };
            assert!(matches!(parse(&line), Ok(Input::Command(_))), "{line}");
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        for line in [
            "/\u{e9}",
            "/close \u{e9}",
            "/binary \u{e9}\u{e9}",
            "/ping \u{1F600}",
            "/file  ",
            "/\t",
        ] {
            let _ = parse(line);
        }
    }
}
