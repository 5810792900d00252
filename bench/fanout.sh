#!/usr/bin/env bash
# Broadcast fan-out: a server sends MESSAGES lines of 100 bytes, read from its
# stdin, to CLIENTS connected clients (bench/fanout_clients.rs, one thread per
# client, which checks that every client gets every message in order). Compares
# `wsprobe --listen` with websocat's `broadcast:` mode when websocat is on PATH.
# Prints one Markdown table: messages delivered per second (from the first
# message any client got to the last one the last client got; the median of
# REPS runs) and the server's peak RSS (GNU time's %M, the maximum over runs).
#
# Usage: bench/fanout.sh [--no-build]
# Environment: CLIENTS (default 100), MESSAGES (default 20000), REPS (default 3).
set -euo pipefail
export LC_ALL=C

cd "$(dirname "$0")/.."

CLIENTS=${CLIENTS:-100}
MESSAGES=${MESSAGES:-20000}
REPS=${REPS:-3}

if [[ ! -x /usr/bin/time ]]; then
    echo "bench/fanout.sh needs GNU time at /usr/bin/time (apt-get install -y time)." >&2
    exit 1
fi
if [[ ${1:-} != --no-build ]]; then
    cargo build --release --bins --examples >&2
fi
WSPROBE=${WSPROBE:-$PWD/target/release/wsprobe}
CLIENT_BIN=$PWD/target/release/examples/fanout-clients

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -c "
import sys
for n in range($MESSAGES):
    sys.stdout.write('%06d %s\n' % (n, 'x' * 93))" > "$work/lines"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# One run of server command "$@" (PORT in it is replaced); prints "RATE RSS_KB".
run_once() {
    local port fifo server clients rate rss
    port=$(free_port)
    fifo=$work/stdin.$RANDOM
    mkfifo "$fifo"
    local args=("${@//PORT/$port}")
    # The server's stdin and our end are opened apart: a server that makes its
    # stdin non-blocking must not make our writes fail.
    /usr/bin/time -f '%M' -o "$work/rss" "${args[@]}" <"$fifo" >/dev/null 2>"$work/server.err" &
    server=$!
    exec 3>"$fifo"
    "$CLIENT_BIN" "ws://127.0.0.1:$port/" "$CLIENTS" "$MESSAGES" >"$work/clients.out" 2>&1 &
    clients=$!
    for _ in $(seq 200); do
        grep -q '^ready' "$work/clients.out" && break
        sleep 0.05
    done
    cat "$work/lines" >&3
    if ! wait "$clients"; then
        echo "FAILED: $(tail -2 "$work/clients.out" | tr '\n' ' ')" >&2
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
        exec 3>&-
        rm -f "$fifo"
        echo "FAILED -"
        return
    fi
    # time(1) passes the signal on to the server and still reports its RSS.
    kill -INT "$(pgrep -P "$server" | head -1)" 2>/dev/null || kill "$server"
    wait "$server" 2>/dev/null || true
    exec 3>&-
    rm -f "$fifo"
    rate=$(sed -n 's/.*: \([0-9]*\) msg\/s/\1/p' "$work/clients.out")
    rss=$(tail -1 "$work/rss")
    echo "$rate $rss"
}

measure() {
    local name=$1
    shift
    local rates=() max_rss=0 out rate rss
    for _ in $(seq "$REPS"); do
        out=$(run_once "$@")
        rate=${out% *}
        rss=${out#* }
        if [[ $rate == FAILED ]]; then
            printf '| %s | FAILED | |\n' "$name"
            return
        fi
        rates+=("$rate")
        [[ $rss =~ ^[0-9]+$ ]] && ((rss > max_rss)) && max_rss=$rss
    done
    local median
    median=$(printf '%s\n' "${rates[@]}" | sort -n | sed -n "$(((REPS + 1) / 2))p")
    printf '| %s | %s | %.1f MiB |\n' "$name" "$median" "$(echo "$max_rss / 1024" | bc -l)"
}

echo "Broadcast of $MESSAGES messages of 100 bytes to $CLIENTS clients, median of $REPS runs"
echo
echo "| server | messages delivered/s | peak RSS |"
echo "|---|---|---|"
measure "wsprobe --listen" "$WSPROBE" --listen 127.0.0.1:PORT -q
if command -v websocat >/dev/null; then
    # Its broadcast queue holds 16 messages by default; a client that falls
    # further behind stops getting any (seen here: 16 of 2000, then nothing).
    # A queue as long as the whole run makes it deliver everything.
    measure "websocat broadcast: (--queue-len $MESSAGES)" \
        websocat -t -E --queue-len "$MESSAGES" ws-l:127.0.0.1:PORT broadcast:-
fi
