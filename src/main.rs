//! wsprobe's entry point: parse the command line, run, turn the result into an exit code.

#![forbid(unsafe_code)]

mod app;
mod cli;
mod connect;
mod ending;
mod error;
mod event;
mod exec;
mod feedback;
mod hub;
mod input;
mod jq;
mod mailbox;
#[cfg(test)]
mod manual;
mod output;
mod policy;
mod redact;
mod retry;
mod script;
mod session;
mod settings;
mod signals;
mod stats;
mod target;
mod text;
mod usage;

use clap::{CommandFactory, FromArgMatches};
use colored::Colorize;
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let matches = usage::matches(cli::Cli::command());
    let mut cli = match cli::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    cli.expect_order = cli::expect_order(&matches);
    match cli::parse_replies(&cli.reply) {
        Ok(replies) => cli.replies = replies,
        Err(e) => {
            eprintln!("{} {e}", "wsprobe:".red().bold());
            return ExitCode::from(2);
        }
    }
    configure_colors(cli.color);
    redact::configure(cli.show_secrets, &cli.redact);
    if cli.version {
        println!("wsprobe {}", env!("CARGO_PKG_VERSION"));
        if cli.verbose > 0 {
            println!("TLS: {}", connect::tls_library_version());
            println!("WebSocket: tungstenite 0.30");
        }
        return ExitCode::SUCCESS;
    }
    let finished = app::run(settings::Settings::from_cli(cli));
    let code = match finished.result {
        Ok(()) => error::exit::SUCCESS,
        Err(e) => {
            if !matches!(e, error::Error::Interrupted(_)) && !e.already_shown() {
                eprintln!("{} {e}", "wsprobe:".red().bold());
            }
            e.exit_code()
        }
    };
    for line in finished.summary {
        eprintln!("{line}");
    }
    // Every code is 0-255 (128 + SIGINT/SIGTERM at most).
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn configure_colors(choice: cli::ColorChoice) {
    let on = match choice {
        cli::ColorChoice::Always => true,
        cli::ColorChoice::Never => false,
        // https://no-color.org and the CLICOLOR_FORCE convention; otherwise only
        // when the output is a terminal.
        cli::ColorChoice::Auto => {
            let set =
                |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
            if set("NO_COLOR") {
                false
            } else if set("CLICOLOR_FORCE") {
                true
            } else {
                // Pipe mode writes no color to stdout; what is colored goes to
                // stderr, or to the REPL's terminal (stdout and stderr alike).
                std::io::stderr().is_terminal()
            }
        }
    };
    colored::control::set_override(on);
}
