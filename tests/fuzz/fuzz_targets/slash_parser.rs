//! Fuzz the REPL's slash-command parser: any text must parse or be refused, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &str| {
    let _ = wsprobe::slash::parse(line);
});
