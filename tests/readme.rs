//! The README's examples are tested: every ```console block is run (`$ ` lines are
//! commands, the lines after them their expected output, stdout and stderr
//! together) against a local echo server standing in for ws://127.0.0.1:9001.
//! A block preceded by `<!-- readme-test: skip … -->` is not run (the REPL's block
//! is interactive and covered by tests/repl.rs).

use std::path::Path;

use crate::support::{test_tempdir, Conn, Server, Stdin, Wsprobe};

struct Example {
    command: String,
    expected: Vec<String>,
    line: usize,
}

fn examples(readme: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut skip = false;
    let mut previous = "";
    for (i, line) in readme.lines().enumerate() {
        if !in_block {
            if line.trim() == "```console" {
                in_block = true;
                skip = previous.starts_with("<!-- readme-test: skip");
            }
            if !line.trim().is_empty() {
                previous = line;
            }
            continue;
        }
        if line.trim() == "```" {
            in_block = false;
            continue;
        }
        if skip {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            out.push(Example {
                command: command.to_string(),
                expected: Vec::new(),
                line: i + 1,
            });
        } else if let Some(example) = out.last_mut() {
            example.expected.push(line.to_string());
        }
    }
    out
}

/// Make run-specific details comparable: times, accept keys, round-trip times.
fn normalise(text: &str) -> String {
    let time = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z").unwrap();
    let accept = regex::Regex::new(r#""sec-websocket-accept":"[^"]*""#).unwrap();
    let text = time.replace_all(text, "TIME");
    accept
        .replace_all(&text, r#""sec-websocket-accept":"KEY""#)
        .into_owned()
}

#[test]
fn readme_examples_do_what_the_readme_says() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let examples = examples(&readme);
    assert!(
        examples.len() >= 5,
        "expected the README's console examples, found {}",
        examples.len()
    );
    let server = Server::start(|c: &mut Conn| c.echo());
    let address = format!("127.0.0.1:{}", server.port());
    let workdir = test_tempdir();
    let mut failures = Vec::new();
    for example in &examples {
        let command = example.command.replace("127.0.0.1:9001", &address);
        let output = Wsprobe::shell(&command)
            .current_dir(workdir.path())
            .stdin_from(Stdin::Null)
            .run();
        let actual = normalise(&String::from_utf8_lossy(&output.stdout));
        let expected = normalise(
            &example
                .expected
                .iter()
                .map(|l| format!("{}\n", l.replace("127.0.0.1:9001", &address)))
                .collect::<String>(),
        );
        if actual != expected {
            failures.push(format!(
                "README.md:{}: $ {}\n--- expected\n{expected}--- actual\n{actual}",
                example.line, example.command
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
