#!/usr/bin/env bash
# Build wsprobe, start the bundled echo server on a free local port, and talk to it
# the three ways wsprobe is used. Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

.ci/deps
cargo build --release --quiet --bins --examples
wsprobe=target/release/wsprobe

# Start the echo server and read its address from its first line: no sleeps.
coproc ECHO { exec target/release/examples/echo-server 127.0.0.1:0; }
trap 'kill "$ECHO_PID" 2>/dev/null || true' EXIT
read -r -t 10 _ _ url <&"${ECHO[0]}"

run() {
    printf '\n$ %s\n' "$1"
    local status=0
    bash -c "$1" || status=$?
    printf '(exit status %s)\n' "$status"
}

echo "echo server: $url"
run "echo hello | $wsprobe $url"
run "printf 'one\ntwo\nthree\n' | $wsprobe $url"
run "$wsprobe $url -x '{\"op\":\"ping\"}' --expect ping --timeout 2s"
run "$wsprobe $url -x hi --count 2 --timeout 500ms"
printf '\nTo keep a server running: cargo run --release --example echo-server\n'
printf 'and in another terminal:   cargo run --release -- ws://127.0.0.1:9001\n'
