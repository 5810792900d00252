#!/usr/bin/env bash
# permessage-deflate figures: the pipe and 1MiB scenarios of bench/run.sh, each
# without and with --deflate, against Node's `ws` echo server with
# perMessageDeflate on (tests/peer/node_server.js, installed by
# tests/peer/setup-node.sh). Without --deflate nothing is negotiated, so the
# first row of each pair is the plain path against the same server. Prints one
# Markdown table; every run's output is checked byte for byte.
#
# Usage: bench/deflate.sh   (after cargo build --release)
# Environment: REPS (default 5), LINES (default 200000).
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

REPS=${REPS:-5}
LINES=${LINES:-200000}
WSPROBE=${WSPROBE:-$PWD/target/release/wsprobe}
[[ -x $WSPROBE ]] || { echo "missing $WSPROBE: cargo build --release" >&2; exit 1; }
MODULES=$(sh tests/peer/setup-node.sh | tail -1)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/wsprobe-deflate.XXXXXX")
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

coproc NODE { exec env NODE_PATH="$MODULES" node tests/peer/node_server.js --quiet 2>"$TMP/server.err"; }
SERVER_PID=$NODE_PID
if ! read -r -t 30 banner <&"${NODE[0]}" || [[ $banner != "listening on ws://"* ]]; then
    echo "node server did not start:" >&2
    cat "$TMP/server.err" >&2
    exit 1
fi
URL=${banner#listening on }

awk -v n="$LINES" 'BEGIN { pad = sprintf("%94s", ""); gsub(/ /, "x", pad)
    for (i = 0; i < n; i++) printf "%06d%s\n", i % 1000000, pad }' >"$TMP/lines.txt"
{ head -c 1048576 /dev/zero | tr '\0' y; echo; } >"$TMP/big-line.txt"
for ((i = 0; i < 64; i++)); do cat "$TMP/big-line.txt"; done >"$TMP/big.txt"

# measure NAME INPUT UNITS UNIT FLAGS...: median wall time over REPS runs, max RSS.
measure() {
    local name=$1 input=$2 units=$3 unit=$4
    shift 4
    local times=() rss=0
    for ((r = 0; r < REPS; r++)); do
        /usr/bin/time -f '%e %M' -o "$TMP/time" "$WSPROBE" "$URL" "$@" <"$input" >"$TMP/out" 2>"$TMP/err" || true
        if ! cmp -s "$input" "$TMP/out"; then
            echo "| $name | FAILED ($(head -c 200 "$TMP/err")) | | |"
            return
        fi
        read -r secs kb <"$TMP/time"
        times+=("$secs")
        ((kb > rss)) && rss=$kb
    done
    local median
    median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    awk -v n="$name" -v t="$median" -v u="$units" -v unit="$unit" -v kb="$rss" \
        'BEGIN { printf "| %s | %.0f ms | %.0f %s | %.1f MiB |\n", n, t*1000, u/t, unit, kb/1024 }'
}

echo "| scenario | wall time (median of $REPS) | rate | peak RSS |"
echo "|---|---:|---:|---:|"
measure "pipe, plain" "$TMP/lines.txt" "$LINES" "msg/s"
measure "pipe, --deflate" "$TMP/lines.txt" "$LINES" "msg/s" --deflate
measure "1MiB, plain" "$TMP/big.txt" 64 "MiB/s" --max-message-size 4194304
measure "1MiB, --deflate" "$TMP/big.txt" 64 "MiB/s" --max-message-size 4194304 --deflate
