#!/usr/bin/env bash
# Benchmark wsprobe against websocat and wscat (whichever are on PATH), all
# talking to bench/echo_server.rs on 127.0.0.1. Prints one Markdown table.
#
# Usage: bench/run.sh [--no-build]
# Environment: RUNS (one-shot repetitions, default 20), REPS (repetitions of the
# throughput scenarios, default 5), LINES (default 200000), TIMEOUT (seconds
# per run, default 120).
#
# Scenarios:
#   one-shot  connect, send "hello", get the echo, close; median wall time
#   pipe      LINES lines of 100 bytes through stdin -> echo -> stdout; msg/s
#   1MiB      64 lines of 1 MiB through stdin -> echo -> stdout; MiB/s
# Every run's output is checked; a wrong reply or line count makes the row
# FAILED instead of a number. Peak RSS is GNU time's %M, the maximum over runs.
set -euo pipefail
export LC_ALL=C # EPOCHREALTIME and printf must agree on the decimal point

cd "$(dirname "$0")/.."

RUNS=${RUNS:-20}
REPS=${REPS:-5}
LINES=${LINES:-200000}
TIMEOUT=${TIMEOUT:-120}
BIG_LINES=64
BIG_SIZE=$((1024 * 1024))

if [[ ! -x /usr/bin/time ]] || ! /usr/bin/time -f '%M' true >/dev/null 2>&1; then
    echo "bench/run.sh needs GNU time at /usr/bin/time for peak RSS." >&2
    echo "Install it with: apt-get install -y time" >&2
    exit 1
fi

if [[ ${1:-} != --no-build ]]; then
    echo "building (release)..." >&2
    cargo build --release --bins --examples >&2
fi
WSPROBE=${WSPROBE:-$PWD/target/release/wsprobe}
SERVER=$PWD/target/release/examples/echo-server
for bin in "$WSPROBE" "$SERVER"; do
    [[ -x $bin ]] || { echo "missing $bin: run without --no-build" >&2; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/wsprobe-bench.XXXXXX")
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# Start the echo server on a free port and read the port from its first line.
coproc ECHO_SERVER { exec "$SERVER" 127.0.0.1:0 2>"$TMP/server.err"; }
SERVER_PID=$ECHO_SERVER_PID
if ! read -r -t 30 banner <&"${ECHO_SERVER[0]}" || [[ $banner != "listening on ws://"* ]]; then
    echo "echo server did not start:" >&2
    cat "$TMP/server.err" >&2
    exit 1
fi
URL=${banner#listening on }
echo "echo server: $URL" >&2

# Inputs. Each pipe line is 100 bytes plus its newline (a 6-digit sequence number and 94 'x'),
# so a reordered or lost line also shows up in the byte comparison.
printf 'hello\n' >"$TMP/hello.txt"
awk -v n="$LINES" 'BEGIN { pad = sprintf("%94s", ""); gsub(/ /, "x", pad)
    for (i = 0; i < n; i++) printf "%06d%s\n", i % 1000000, pad }' >"$TMP/lines.txt"
{ head -c "$BIG_SIZE" /dev/zero | tr '\0' y; echo; } >"$TMP/big-line.txt"
for ((i = 0; i < BIG_LINES; i++)); do cat "$TMP/big-line.txt"; done >"$TMP/big.txt"
# wscat exits as soon as its stdin ends, even with -x, so it gets a FIFO that
# never reaches EOF (this shell keeps a read-write descriptor open on it).
mkfifo "$TMP/hold"
exec 3<>"$TMP/hold"

TOOLS=(wsprobe)
command -v websocat >/dev/null && TOOLS+=(websocat)
command -v wscat >/dev/null && TOOLS+=(wscat)

# run_once IN OUT CMD...: one timed run; sets SECS, RSS_KB and RC.
run_once() {
    local in=$1 out=$2 t0 t1
    shift 2
    RC=0
    t0=$EPOCHREALTIME
    /usr/bin/time -f '%M' -o "$TMP/rss" timeout "$TIMEOUT" "$@" <"$in" >"$out" 2>"$TMP/client.err" || RC=$?
    t1=$EPOCHREALTIME
    SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    RSS_KB=$(tail -n 1 "$TMP/rss")
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# check_lines OUT EXPECTED_FILE: empty if OUT is right, else why not.
check_lines() {
    local got want
    got=$(wc -l <"$1")
    want=$(wc -l <"$2")
    if ((got != want)); then
        echo "got $got of $want lines"
    elif ! cmp -s "$1" "$2"; then
        echo "content differs"
    fi
}

# check_base64 OUT: wsprobe --binary prints each reply as `base64:...`.
check_base64() {
    local want_len=$((7 + 4 * ((BIG_SIZE + 2) / 3)))
    awk -v n="$BIG_LINES" -v len="$want_len" '
        !/^base64:/ || length($0) != len { bad++ }
        END { if (NR != n) print "got " NR " of " n " lines"; else if (bad) print bad " malformed lines" }' "$1"
}

# The command line for TOOL in SCENARIO; sets CMD, IN, CHECK and EXPECT.
# Returns 1 when the tool has no way to do it.
command_for() {
    local tool=$1 scenario=$2
    case $tool/$scenario in
    wsprobe/one-shot) CMD=("$WSPROBE" "$URL" -x hello) IN=/dev/null ;;
    websocat/one-shot) CMD=(websocat "$URL") IN=$TMP/hello.txt ;;
    wscat/one-shot) CMD=(wscat -c "$URL" -x hello -w 0) IN=$TMP/hold ;;
    wsprobe/pipe) CMD=("$WSPROBE" "$URL") IN=$TMP/lines.txt ;;
    # websocat sends each line *with* its newline (101-byte messages) and
    # writes the echoes back verbatim; at stdin EOF it sends Close and keeps
    # reading until the server's Close, so no flag is needed to get every reply.
    websocat/pipe) CMD=(websocat "$URL") IN=$TMP/lines.txt ;;
    # wscat has no pipe mode: it reads stdin through readline, prints `> `
    # prompts among the replies and exits at stdin EOF without waiting.
    wscat/pipe) CMD=(wscat -c "$URL") IN=$TMP/lines.txt ;;
    wsprobe/1MiB) CMD=("$WSPROBE" "$URL") IN=$TMP/big.txt ;;
    wsprobe-binary/1MiB) CMD=("$WSPROBE" --binary "$URL") IN=$TMP/big.txt ;;
    # websocat splits messages longer than -B (default 64 KiB).
    websocat/1MiB) CMD=(websocat -B $((4 * BIG_SIZE)) "$URL") IN=$TMP/big.txt ;;
    wscat/1MiB) CMD=(wscat -c "$URL") IN=$TMP/big.txt ;;
    *) return 1 ;;
    esac
    case $scenario in
    one-shot) CHECK=check_lines EXPECT=$TMP/hello.txt ;;
    pipe) CHECK=check_lines EXPECT=$TMP/lines.txt ;;
    1MiB) CHECK=check_lines EXPECT=$TMP/big.txt ;;
    esac
    if [[ $tool == wsprobe-binary ]]; then CHECK=check_base64; fi
}

ROWS=()       # "scenario|tool|median seconds|peak KB|error"
declare -A BASE_SECS BASE_RSS
COMMANDS=()

bench() {
    local scenario=$1 tool=$2 reps=$3 i err="" peak=0
    command_for "$tool" "$scenario" || return 0
    local shown="${CMD[*]} < $IN"
    shown=${shown//$TMP\//}
    COMMANDS+=("$scenario, $tool: ${shown//$PWD\//}")
    echo "  $scenario: $tool" >&2
    : >"$TMP/times"
    for ((i = 0; i <= reps; i++)); do # run 0 is a warm-up
        run_once "$IN" "$TMP/out" "${CMD[@]}"
        if ((RC != 0)); then
            err="exit code $RC"
            if ((RC == 124)); then err="timed out after ${TIMEOUT}s"; fi
        fi
        local why
        why=$($CHECK "$TMP/out" "$EXPECT")
        if [[ -n $why ]]; then err=${err:+$err, }$why; fi
        if [[ -n $err ]]; then
            echo "    FAILED: $err; its stderr ends with:" >&2
            tail -n 3 "$TMP/client.err" | sed 's/^/      /' >&2
            break
        fi
        if ((RSS_KB > peak)); then peak=$RSS_KB; fi
        if ((i > 0)); then echo "$SECS" >>"$TMP/times"; fi
    done
    local secs=""
    if [[ -z $err ]]; then secs=$(median <"$TMP/times"); fi
    ROWS+=("$scenario|$tool|$secs|$peak|$err")
    if [[ $tool == wsprobe && -z $err ]]; then
        BASE_SECS[$scenario]=$secs
        BASE_RSS[$scenario]=$peak
    fi
}

# What starting a process costs in this harness (GNU time + timeout), to read
# the one-shot times against.
: >"$TMP/times"
for ((i = 0; i < RUNS; i++)); do
    run_once /dev/null /dev/null true
    echo "$SECS" >>"$TMP/times"
done
SPAWN_MS=$(median <"$TMP/times" | awk '{ printf "%.1f", $1 * 1000 }')

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
echo "running..." >&2
for tool in "${TOOLS[@]}"; do bench one-shot "$tool" "$RUNS"; done
for tool in "${TOOLS[@]}"; do bench pipe "$tool" "$REPS"; done
for tool in "${TOOLS[@]}" wsprobe-binary; do bench 1MiB "$tool" "$REPS"; done

ratio() { # ratio VALUE BASE
    [[ -n $1 && -n $2 ]] || { echo "-"; return; }
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'
}

echo
echo "| scenario | tool | wall time (median) | rate | peak RSS | time vs wsprobe | RSS vs wsprobe |"
echo "|---|---|---:|---:|---:|---:|---:|"
for row in "${ROWS[@]}"; do
    IFS='|' read -r scenario tool secs peak err <<<"$row"
    if [[ -n $err ]]; then
        echo "| $scenario | $tool | FAILED ($err) | | | | |"
        continue
    fi
    case $scenario in
    one-shot) rate=$(awk -v s="$secs" 'BEGIN { printf "%.0f runs/s", 1 / s }') ;;
    pipe) rate=$(awk -v s="$secs" -v n="$LINES" 'BEGIN { printf "%.0f msg/s", n / s }') ;;
    1MiB) rate=$(awk -v s="$secs" -v n="$BIG_LINES" 'BEGIN { printf "%.0f MiB/s", n / s }') ;;
    esac
    wall=$(awk -v s="$secs" 'BEGIN { printf "%.1f ms", s * 1000 }')
    rss=$(awk -v k="$peak" 'BEGIN { printf "%.1f MiB", k / 1024 }')
    echo "| $scenario | $tool | $wall | $rate | $rss | $(ratio "$secs" "${BASE_SECS[$scenario]:-}") | $(ratio "$peak" "${BASE_RSS[$scenario]:-}") |"
done
echo
echo "one-shot: median of $RUNS runs; pipe: $LINES x 100-byte lines, median of $REPS runs;"
echo "1MiB: $BIG_LINES x 1 MiB lines, median of $REPS runs; each after one warm-up run."
echo "Wall times include ${SPAWN_MS} ms of harness overhead (GNU time + timeout starting /bin/true)."
echo "Client and echo server share this machine's $(nproc) CPUs; load average before the runs: $LOAD_BEFORE."
echo
echo "Commands (files: lines.txt, big.txt, hello.txt; hold = a FIFO that never ends):"
for c in "${COMMANDS[@]}"; do echo "  $c"; done
