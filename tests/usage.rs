//! Usage errors (exit 2) for URLs and flag values that used to be misread:
//! a URL without a host, a bare number as URL (a local port), and the values
//! of --max-message-size, --subprotocol and --reconnect; and that the valid
//! forms next to them still work.

use crate::support::*;

// ---------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------

#[test]
fn url_with_scheme_and_empty_host_is_a_usage_error() {
    // The url crate reads `ws:///path` as `ws://path/`: wsprobe must not
    // resolve "path".
    for url in [
        "ws:///path",
        "ws:///x",
        "wss:///",
        "http:///a",
        "https:///a/b",
        "ws:////x",
        "http://:80/",
    ] {
        wsprobe(&[url, "-x", "hi"], "")
            .code(2)
            .no_panic()
            .one_error_line()
            .stdout("")
            .stderr_contains(&format!("invalid URL '{url}': no host"));
    }
}

#[test]
fn bare_number_is_a_local_port() {
    let srv = Server::start(echo);
    let port = srv.port().to_string();
    wsprobe(&[&port, "-x", "hi"], "")
        .code(0)
        .stdout("hi\n")
        .stderr_empty();
    let obs = srv.next();
    assert_eq!(obs.texts(), ["hi"], "{obs:?}");
    assert_eq!(obs.path, "/");
    assert_eq!(
        obs.header("host"),
        Some(&*format!("localhost:{port}")),
        "{obs:?}"
    );
    assert_eq!(obs.close, Some((1000, String::new())), "{obs:?}");
}

#[test]
fn bare_number_with_a_path_is_a_local_port() {
    let srv = Server::start(echo);
    let url = format!("{}/chat?room=7", srv.port());
    wsprobe(&[&url, "-x", "hi"], "").code(0).stdout("hi\n");
    let obs = srv.next();
    assert_eq!(obs.path, "/chat?room=7");
    assert_eq!(
        obs.header("host"),
        Some(&*format!("localhost:{}", srv.port()))
    );
}

#[test]
fn bare_number_that_is_not_a_port_is_a_usage_error() {
    for url in [
        "0",
        "65536",
        "99999",
        "4294967296",
        "123456789012345678901234",
    ] {
        wsprobe(&[url, "-x", "hi"], "")
            .code(2)
            .no_panic()
            .one_error_line()
            .stdout("")
            .stderr_contains(&format!(
                "invalid URL '{url}': a bare number means a local port (like :PORT), from 1 to 65535"
            ));
    }
}

// ---------------------------------------------------------------------------
// Flag values
// ---------------------------------------------------------------------------

#[test]
fn max_message_size_zero_is_a_usage_error() {
    let url = closed_url();
    for args in [
        &["--max-message-size", "0"][..],
        &["--max-message-size=0"][..],
    ] {
        let mut all = vec![url.as_str(), "-x", "hi"];
        all.extend_from_slice(args);
        wsprobe(&all, "")
            .code(2)
            .no_panic()
            .stdout("")
            .stderr_contains("must be at least 1");
    }
    wsprobe(&[&url, "-x", "hi", "--max-message-size", "lots"], "")
        .code(2)
        .no_panic()
        .stdout("")
        .stderr_contains("not a number of bytes");
}

#[test]
fn small_max_message_size_is_accepted() {
    let srv = Server::start(echo);
    wsprobe(&[&srv.url(), "-x", "hi", "--max-message-size", "2"], "")
        .code(0)
        .stdout("hi\n");
}

#[test]
fn subprotocol_that_is_not_a_token_is_a_usage_error() {
    let url = closed_url();
    wsprobe(&[&url, "-x", "hi", "-s", ""], "")
        .code(2)
        .no_panic()
        .stdout("")
        .stderr_contains("the subprotocol name is empty");
    wsprobe(&[&url, "-x", "hi", "--subprotocol="], "")
        .code(2)
        .no_panic()
        .stdout("")
        .stderr_contains("the subprotocol name is empty");
    for bad in [
        "chat v2",
        "chat,superchat",
        "chat, superchat",
        " chat",
        "a\tb",
        "a;b",
        "a/b",
    ] {
        wsprobe(&[&url, "-x", "hi", "-s", bad], "")
            .code(2)
            .no_panic()
            .stdout("")
            .stderr_contains("not a subprotocol name")
            .stderr_contains("repeat -s to offer several");
    }
}

#[test]
fn subprotocol_tokens_are_accepted() {
    let opts = ServerOpts {
        subprotocol: Subprotocol::FirstOffered,
        ..Default::default()
    };
    let srv = Server::start_with(opts, echo);
    wsprobe(
        &[
            &srv.url(),
            "-x",
            "hi",
            "-s",
            "v1.chat_x+y",
            "-s",
            "graphql-transport-ws",
        ],
        "",
    )
    .code(0)
    .stdout("hi\n");
    let obs = srv.next();
    assert_eq!(
        obs.header_list("sec-websocket-protocol"),
        ["v1.chat_x+y", "graphql-transport-ws"],
        "{obs:?}"
    );
}

#[test]
fn reconnect_zero_is_a_usage_error() {
    // Before the fix `--reconnect=0` meant "no limit"; --timeout keeps a
    // regression from retrying for a whole DEADLINE.
    wsprobe(
        &[
            &closed_url(),
            "-x",
            "hi",
            "--reconnect=0",
            "--timeout",
            "5s",
        ],
        "",
    )
    .code(2)
    .no_panic()
    .stdout("")
    .stderr_contains("--reconnect=N needs N of at least 1; use --reconnect alone for no limit");
    wsprobe(
        &[
            &closed_url(),
            "-x",
            "hi",
            "--reconnect=soon",
            "--timeout",
            "5s",
        ],
        "",
    )
    .code(2)
    .no_panic()
    .stdout("")
    .stderr_contains("not a number of attempts");
}

#[test]
fn reconnect_alone_and_with_a_limit_are_accepted() {
    let srv = Server::start(echo);
    for flag in ["--reconnect", "--reconnect=3"] {
        wsprobe(&[&srv.url(), "-x", "hi", flag, "--timeout", "20s"], "")
            .code(0)
            .stdout("hi\n");
        assert_eq!(srv.next().texts(), ["hi"]);
    }
}

#[test]
fn reconnect_limit_counts_attempts() {
    // --reconnect=2 against a port nothing listens on: two retries, then the
    // connection error (exit 3).
    let r = wsprobe(
        &[
            &closed_url(),
            "-x",
            "hi",
            "--reconnect=2",
            "--timeout",
            "20s",
        ],
        "",
    );
    r.code(3).no_panic().stdout("");
    let retries = r
        .stderr_str()
        .lines()
        .filter(|l| l.contains("(--reconnect)"))
        .count();
    assert_eq!(retries, 2, "{r}");
}

#[test]
fn reconnect_help_reads_well() {
    let r = wsprobe(&["--help"], "");
    r.code(0);
    let help = r.stdout_str();
    assert!(help.contains("--reconnect[=<N>]"), "{help}");
    assert!(help.contains("--reconnect alone: no limit"), "{help}");
    assert!(!help.contains("unlimited"), "{help}");
}

/// A usage error is one `wsprobe:` line (and "try 'wsprobe --help'"), exit 2,
/// with the wsprobe way for a neighbour's habit instead of clap's `-- -c` tip.
#[track_caller]
fn usage_hint(args: &[&str], hint: &str) {
    let r = wsprobe(args, "");
    r.code(2).no_panic().stdout("").stderr_contains(hint);
    let err = r.stderr_str();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with("wsprobe: "), "{err}");
    assert_eq!(lines[1], "try 'wsprobe --help'");
    assert!(!err.contains("'-- "), "clap's misleading tip: {err}");
}

#[test]
fn habits_from_wscat_and_websocat_get_the_wsprobe_way() {
    let url = closed_url();
    usage_hint(&["-c", &url], "-c is not needed (wscat's habit)");
    usage_hint(&["--connect", &url], "the URL is the argument");
    usage_hint(&["-1", &url], "'wsprobe URL -x MSG' sends one message");
}

#[test]
fn optional_values_without_equals_say_how_to_attach_them() {
    let url = closed_url();
    usage_hint(&["--reconnect", "3", &url], "use --reconnect=3");
    usage_hint(
        &["--timestamps", "relative", &url],
        "use --timestamps=relative",
    );
}

#[test]
fn usage_errors_are_one_line_and_keep_typo_suggestions() {
    let url = closed_url();
    usage_hint(
        &[&url, "--expct", "x"],
        "a similar argument exists: '--expect'",
    );
    usage_hint(
        &[&url, "--count", "x"],
        "invalid value 'x' for '--count <N>'",
    );
    usage_hint(&[&url, "--jq", ".["], "invalid jq filter at column 3");
}
