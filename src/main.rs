//! wsprobe's entry point: parse the command line, run, turn the result into an exit code.

mod app;
mod cli;
mod connect;
mod error;
mod event;
mod frame;
mod input;
mod mailbox;
mod output;
mod policy;
mod redact;
mod session;
mod signals;
mod slash;
mod target;

use clap::Parser;
use colored::Colorize;
use std::io::IsTerminal;

fn main() {
    let cli = cli::Cli::parse();
    configure_colors(cli.color);
    let code = match app::run(cli) {
        Ok(()) => error::exit::SUCCESS,
        Err(e) => {
            if !matches!(e, error::Error::Interrupted) {
                eprintln!("{} {e}", "wsprobe:".red().bold());
            }
            e.exit_code()
        }
    };
    std::process::exit(code);
}

fn configure_colors(choice: cli::ColorChoice) {
    let on = match choice {
        cli::ColorChoice::Always => true,
        cli::ColorChoice::Never => false,
        cli::ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stderr().is_terminal()
        }
    };
    colored::control::set_override(on);
}
