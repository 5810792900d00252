#!/bin/sh
# Installs the independent WebSocket peer used by the integration tests: the
# Python `websockets` package, into target/peer-venv (a virtual environment;
# where `python3 -m venv` is unavailable, a `pip install --target` directory).
#
# Idempotent and safe to run from several processes at once (flock).
# On success the last line on stdout is the path of a launcher script that
# runs Python with `websockets` importable: "$launcher" server.py ...
set -eu

WEBSOCKETS_REQ="websockets==15.0.1"

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
venv=$target/peer-venv
launcher=$venv/run-python
stamp=$venv/.installed

mkdir -p "$target"
exec 9>"$target/peer-venv.lock"
flock 9

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$WEBSOCKETS_REQ" ] && [ -x "$launcher" ] \
    && "$launcher" -c 'import websockets' >/dev/null 2>&1; then
    echo "$launcher"
    exit 0
fi

command -v python3 >/dev/null 2>&1 || {
    echo "setup.sh: python3 not found; install it (Debian: apt-get install python3 python3-venv)" >&2
    exit 1
}

rm -rf "$venv"
log=$target/peer-venv-setup.log
: >"$log"

if python3 -m venv "$venv" >>"$log" 2>&1 && [ -x "$venv/bin/python" ] \
    && "$venv/bin/python" -m pip --version >>"$log" 2>&1; then
    if ! "$venv/bin/python" -m pip install --disable-pip-version-check --quiet "$WEBSOCKETS_REQ" >>"$log" 2>&1; then
        cat "$log" >&2
        echo "setup.sh: pip install $WEBSOCKETS_REQ into $venv failed" >&2
        exit 1
    fi
    cat >"$launcher" <<LAUNCH
#!/bin/sh
exec "$venv/bin/python" "\$@"
LAUNCH
else
    # No venv module (e.g. Debian without python3-venv): install into a plain
    # directory and put it on PYTHONPATH.
    echo "setup.sh: python3 -m venv unavailable, falling back to pip --target" >>"$log"
    rm -rf "$venv"
    mkdir -p "$venv/site"
    if ! python3 -m pip install --disable-pip-version-check --quiet --target "$venv/site" "$WEBSOCKETS_REQ" >>"$log" 2>&1; then
        cat "$log" >&2
        echo "setup.sh: neither 'python3 -m venv' nor 'python3 -m pip install --target' worked;" \
            "install python3-venv (Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
    py=$(command -v python3)
    cat >"$launcher" <<LAUNCH
#!/bin/sh
PYTHONPATH="$venv/site\${PYTHONPATH:+:\$PYTHONPATH}" exec "$py" "\$@"
LAUNCH
fi
chmod +x "$launcher"

if ! "$launcher" -c 'import websockets' >>"$log" 2>&1; then
    cat "$log" >&2
    echo "setup.sh: websockets installed but cannot be imported" >&2
    exit 1
fi
echo "$WEBSOCKETS_REQ" >"$stamp"
echo "$launcher"
