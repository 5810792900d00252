#!/bin/sh
# Installs the second independent WebSocket peer used by the integration tests:
# Node's `ws` package (pinned), into target/node-peer, for tests/peer/node_server.js.
#
# Idempotent and safe to run from several processes at once (flock).
# Exit 0 with the node_modules path as the last line on stdout; exit 3 when
# node or npm is not installed (the tests then skip, saying so); 1 on failure.
set -eu

WS_REQ="ws@8.18.3"

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
dir=$target/node-peer
stamp=$dir/.installed

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "setup-node.sh: node and npm are not installed (Debian: apt-get install nodejs npm)" >&2
    exit 3
fi

mkdir -p "$target"
exec 9>"$target/node-peer.lock"
flock 9

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$WS_REQ" ] && [ -d "$dir/node_modules/ws" ]; then
    echo "$dir/node_modules"
    exit 0
fi

rm -rf "$dir"
mkdir -p "$dir"
log=$target/node-peer-setup.log
if ! npm install --prefix "$dir" --no-audit --no-fund --no-save --silent "$WS_REQ" >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup-node.sh: npm install $WS_REQ into $dir failed" >&2
    exit 1
fi
echo "$WS_REQ" >"$stamp"
echo "$dir/node_modules"
