//! Usage errors as the README promises them: one line starting `wsprobe:` (plus
//! "try 'wsprobe --help'"), exit 2, with a hint where the user typed a habit from
//! a neighbouring tool (wscat's `-c URL`, websocat's `-1`) or an optional value
//! without `=` (`--reconnect 3 URL`). clap's own tips ("to pass '-c' as a value,
//! use '-- -c'") would send those users the wrong way.

use clap::error::ErrorKind;
use colored::Colorize;
use std::ffi::OsString;

/// Parse the command line, or print the usage error and exit 2 (help and
/// `--version`-like displays still go to stdout with exit 0).
pub fn matches(command: clap::Command) -> clap::ArgMatches {
    let args: Vec<OsString> = std::env::args_os().collect();
    match command.try_get_matches_from(&args) {
        Ok(matches) => matches,
        Err(e) => exit_with(&e, &args),
    }
}

fn exit_with(e: &clap::Error, args: &[OsString]) -> ! {
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit()
    }
    let args: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut line = first_line(e);
    if let Some(hint) = habit_hint(&args).or_else(|| similar_tip(e)) {
        line = format!("{line}: {hint}");
    }
    eprintln!("{} {line}", "wsprobe:".red().bold());
    eprintln!("try 'wsprobe --help'");
    std::process::exit(crate::error::exit::USAGE)
}

/// clap's message without its `error:` prefix, tips and usage block.
fn first_line(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let mut lines = rendered.lines();
    let first = lines.next().unwrap_or("invalid arguments");
    let first = first.trim_start_matches("error:").trim();
    // "the following required arguments were not provided:" lists them on
    // the indented lines below: bring them into the one line.
    match first.strip_suffix(':') {
        Some(head) => {
            let listed: Vec<&str> = lines
                .take_while(|l| l.starts_with(' ') && !l.trim().is_empty())
                .map(str::trim)
                .collect();
            format!("{head}: {}", listed.join(", "))
        }
        None => first.to_string(),
    }
}

/// clap's "a similar argument exists: '--expect'" (a typo), the one tip worth keeping.
fn similar_tip(e: &clap::Error) -> Option<String> {
    let rendered = e.render().to_string();
    rendered
        .lines()
        .filter_map(|l| l.trim().strip_prefix("tip:"))
        .find(|tip| tip.contains("similar"))
        .map(|tip| tip.trim().to_string())
}

/// What the user probably meant, from the words they typed.
pub fn habit_hint(args: &[String]) -> Option<String> {
    for (i, arg) in args.iter().enumerate() {
        let next = args.get(i + 1).map(String::as_str);
        match arg.as_str() {
            "-c" | "--connect" => {
                return Some(format!(
                    "{arg} is not needed (wscat's habit): the URL is the argument, as in 'wsprobe URL'"
                ))
            }
            "-1" | "--one-message" => {
                return Some(format!(
                    "wsprobe has no {arg} (websocat's habit): 'wsprobe URL -x MSG' sends one message and waits for one reply; --count 1 stops after one message"
                ))
            }
            "--reconnect" if next.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) => {
                return Some(format!(
                    "use --reconnect={} (an optional value is attached with '=')",
                    next.unwrap_or_default()
                ))
            }
            "--deflate" if next.is_some_and(|n| n.contains("window_bits") || n.contains("context_takeover")) => {
                return Some(format!(
                    "use --deflate='{}' (an optional value is attached with '=')",
                    next.unwrap_or_default()
                ))
            }
            "--timestamps" if next.is_some_and(|n| matches!(n, "local" | "relative")) => {
                return Some(format!(
                    "use --timestamps={} (an optional value is attached with '=')",
                    next.unwrap_or_default()
                ))
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::habit_hint;

    fn hint(args: &[&str]) -> Option<String> {
        habit_hint(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn neighbours_habits_get_the_wsprobe_way() {
        assert!(hint(&["-c", "ws://h/"]).unwrap().contains("wsprobe URL"));
        assert!(hint(&["-1", "ws://h/"]).unwrap().contains("-x MSG"));
        assert!(hint(&["--reconnect", "3", "ws://h/"])
            .unwrap()
            .contains("--reconnect=3"));
        assert!(hint(&["--timestamps", "relative", "ws://h/"])
            .unwrap()
            .contains("--timestamps=relative"));
        assert_eq!(hint(&["--reconnect", "ws://h/"]), None);
        assert_eq!(hint(&["ws://h/", "-x", "hi"]), None);
    }
}
